"""The exception types every caller of the core sees.

Each carries enough to act on: which setting to fix, which Gmail reason came back, whether
retrying can help. Messages never include tokens, secrets or message bodies.
"""

from __future__ import annotations


class GmailConnectorError(Exception):
    """Base of every error raised by gmail_core."""


class ConfigError(GmailConnectorError):
    """A setting is missing or wrong; names the setting and how to fix it."""

    def __init__(self, setting: str, problem: str, fix: str = ""):
        self.setting = setting
        self.problem = problem
        self.fix = fix
        text = f"setting `{setting}`: {problem}"
        if fix:
            text += f" To fix: {fix}"
        super().__init__(text)


class AuthError(GmailConnectorError):
    """Credentials were refused (e.g. ``invalid_grant``); retrying cannot help."""

    def __init__(self, message: str, setting: str | None = None):
        self.setting = setting
        super().__init__(message)


class ApiError(GmailConnectorError):
    """Gmail answered with an error. ``reason`` is Gmail's ``errors[0].reason``."""

    def __init__(
        self,
        status: int,
        message: str,
        reason: str = "",
        method: str = "",
        mailbox: str = "",
        retry_after_s: float | None = None,
    ):
        self.status = status
        self.reason = reason
        self.method = method
        self.mailbox = mailbox
        self.retry_after_s = retry_after_s
        where = f" ({method} for {mailbox})" if method or mailbox else ""
        super().__init__(f"Gmail API {status} {reason or 'error'}{where}: {message}")
        self.gmail_message = message

    @property
    def retryable(self) -> bool:
        if self.status == 429 or self.status >= 500:
            return True
        return self.status == 403 and self.reason in ("rateLimitExceeded", "userRateLimitExceeded")

    @property
    def rate_limited(self) -> bool:
        """Gmail's per-user units quota (403 rateLimitExceeded): the only answer that means
        "send fewer units per second" and so the only one that cuts the governor's rate."""
        return self.status == 403 and self.retryable

    @property
    def quota_exceeded(self) -> bool:
        """Refused before running: the 403 units quota, or 429 "too many concurrent requests"
        (RESOURCE_EXHAUSTED). A 429 asks to back off, not to spend fewer units per second."""
        return self.status in (403, 429) and self.retryable


class HistoryExpired(ApiError):
    """history.list answered 404: the bookmark is older than Gmail keeps; run a full sync."""


class TransientNetworkError(GmailConnectorError):
    """Connection reset, refused or timed out: retryable.

    For a call that is not idempotent (messages.send) this means "outcome unknown": the
    request may have reached Gmail and run. Only ``NotSent`` says it certainly did not.
    """


class NotSent(TransientNetworkError):
    """The connection could not be opened (refused, DNS, connect timeout): the request never
    left this process, so even a send may be repeated."""


class TokenUnavailable(NotSent):
    """Google's token endpoint failed in a way that can pass: 5xx, 429, a reset or timed-out
    connection, an answer that is not JSON. No access token, so the Gmail request it was for
    was never sent: retryable, even for a send."""


class MalformedResponse(TransientNetworkError):
    """Gmail's answer could not be read: the connection closed mid-body, a 2xx body that is
    not the JSON promised, or a batch answer that cannot be parsed. Retryable for an
    idempotent call; for a send it means the call may have run (reconcile before resending).
    """


class InvalidRequest(GmailConnectorError):
    """The request could not be built or sent as given (bad ``api_url``, an invalid header,
    a body that is not JSON-serialisable): retrying cannot help, nothing reached Gmail."""


class CircuitOpenError(GmailConnectorError):
    """The circuit breaker is open for a mailbox: failing fast instead of hammering Gmail."""
