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
    def quota_exceeded(self) -> bool:
        return self.status in (403, 429) and self.retryable


class HistoryExpired(ApiError):
    """history.list answered 404: the bookmark is older than Gmail keeps; run a full sync."""


class TransientNetworkError(GmailConnectorError):
    """Connection reset, refused or timed out: retryable."""


class CircuitOpenError(GmailConnectorError):
    """The circuit breaker is open for a mailbox: failing fast instead of hammering Gmail."""
