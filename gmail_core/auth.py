"""Access tokens for one mailbox: OAuth refresh token or service account with delegation.

google-auth does the token protocol; this module adds what a long-running tap needs on top:
proactive refresh under a lock, one refresh at a time, error messages that name the setting
to fix, and the guarantee that no secret reaches a log line, exception message or repr.
"""

from __future__ import annotations

import copy
import datetime
import json
import logging
import math
import threading
import time

import requests
from google.auth import exceptions as google_exceptions
from google.auth.transport import requests as google_requests
from google.oauth2 import credentials as oauth2_credentials
from google.oauth2 import service_account

# auths_from_config and load_service_account_info moved to auth_config; re-exported so
# `from gmail_core.auth import auths_from_config` keeps working.
from .auth_config import auths_from_config as auths_from_config
from .auth_config import load_service_account_info as load_service_account_info
from .errors import AuthError, ConfigError, TokenUnavailable

SCOPE_READONLY = "https://www.googleapis.com/auth/gmail.readonly"
SCOPE_MODIFY = "https://www.googleapis.com/auth/gmail.modify"
SCOPE_SEND = "https://www.googleapis.com/auth/gmail.send"
SCOPE_LABELS = "https://www.googleapis.com/auth/gmail.labels"
SCOPE_METADATA = "https://www.googleapis.com/auth/gmail.metadata"
SCOPE_FULL = "https://mail.google.com/"
DEFAULT_TOKEN_URL = "https://oauth2.googleapis.com/token"

# google-auth's REFRESH_THRESHOLD (3 min 45 s). Short-lived tokens (the emulator's) refresh
# at half their lifetime instead, so they are not refreshed on every call.
REFRESH_MARGIN_S = 225.0
# Per token request; google-auth's own default is 120 s. MailboxClient sets the connection's
# `request_timeout_s` instead.
TOKEN_TIMEOUT_S = 60.0
# Token endpoint statuses that say "try again later" even when the body is not Google's JSON
# (a front end's HTML 502, say). google-auth retries some of them itself, then gives up with
# RefreshError(retryable=True); the others it reports as permanent.
_TRANSIENT_STATUSES = (408, 429)
_STATUS_DASHBOARD = "https://www.google.com/appsstatus/dashboard/"
_GMAIL_AUTH_FIX = (
    "run `gmail-auth --client-id ... --client-secret ...` to obtain one and set it as "
    "`oauth_credentials.refresh_token`."
)

log = logging.getLogger(__name__)


class _UnreadableAnswer(google_exceptions.TransportError):
    """A 200 from the token endpoint whose body is not a JSON object (cut off, an HTML page):
    google-auth would fail on it with a TypeError; as a transport error it is retried."""


class _TokenRequest(google_requests.Request):
    """google-auth's requests transport for token requests: our timeout, the status and
    ``scope`` of the last answer, and a 200 that is not JSON turned into a transport error."""

    last_scope: str | None = None
    last_status: int | None = None
    timeout_s: float = TOKEN_TIMEOUT_S

    def __call__(self, *args, **kwargs):
        kwargs.setdefault("timeout", self.timeout_s)
        self.last_status = None
        response = super().__call__(*args, **kwargs)
        self.last_status = response.status
        if response.status == 200:
            try:
                body = json.loads(response.data)
            except (TypeError, ValueError):
                body = None
            if not isinstance(body, dict):
                kind = response.headers.get("content-type", "no content type")
                raise _UnreadableAnswer(
                    f"HTTP 200 answer is not a JSON object ({len(response.data or b'')} bytes, "
                    f"{kind}; cut off?)"
                )
            if isinstance(body.get("scope"), str):
                self.last_scope = body["scope"]
        return response


class MailboxAuth:
    """A credential acting for one mailbox; ``token()`` is safe to call from many threads."""

    def __init__(
        self,
        credentials,
        *,
        kind: str,
        mailbox: str | None,
        scopes: list[str] | None,
        token_url: str,
        setting: str,
        session: requests.Session | None = None,
        redact: tuple[str, ...] = (),
    ):
        self._credentials = credentials
        self.kind = kind
        self.mailbox = mailbox
        self.refreshes = 0
        self._scopes = list(scopes or [])
        self._token_url = token_url
        self._setting = setting
        self._request = _TokenRequest(session or requests.Session())
        self._redact = tuple(s for s in redact if s)
        self._lock = threading.Lock()
        self._refresh_at = -math.inf  # monotonic time from which the token counts as stale
        self._attempts = 0  # refresh attempts so far
        self._failure: Exception | None = None  # how the last attempt failed, if it did

    def __repr__(self) -> str:
        return (
            f"MailboxAuth(kind={self.kind!r}, mailbox={self.mailbox!r}, refreshes={self.refreshes})"
        )

    @property
    def user_id(self) -> str:
        """The ``userId`` path segment for Gmail calls: the mailbox, or ``me``."""
        return self.mailbox or "me"

    @property
    def timeout_s(self) -> float:
        """Connect and read timeout of each token request."""
        return self._request.timeout_s

    @timeout_s.setter
    def timeout_s(self, seconds: float) -> None:
        self._request.timeout_s = float(seconds)

    def token(self) -> str:
        """A valid access token, refreshed before it gets close to expiry.

        Raises ``TokenUnavailable`` when the token endpoint failed in a way that can pass
        (the caller retries: ``GmailTransport`` does), ``AuthError`` when Google refused the
        credentials (retrying cannot help).
        """
        queued_at = self._attempts
        with self._lock:
            if self._credentials.token is None or time.monotonic() >= self._refresh_at:
                self._refresh(queued_at)
            return self._credentials.token

    def force_refresh(self, rejected: str | None = None) -> str:
        """Refresh after a 401. Pass the rejected token so that many threads hitting the same
        401 cause one refresh: if another thread already replaced it, that token is returned."""
        queued_at = self._attempts
        with self._lock:
            current = self._credentials.token
            fresh = current is not None and time.monotonic() < self._refresh_at
            if rejected is None or current == rejected or not fresh:
                self._refresh(queued_at)
            return self._credentials.token

    def expire(self, rejected: str) -> None:
        """Gmail refused ``rejected`` (a 401): unless it was already replaced, the next
        ``token()`` refreshes. No request is made here, so the refresh happens inside the
        caller's retry (a batch's parts, whose outer request carries the token)."""
        with self._lock:
            if self._credentials.token == rejected:
                self._refresh_at = -math.inf

    def granted_scopes(self) -> set[str]:
        """Scopes the token holds: the token answer's ``scope`` if it had one, else those asked."""
        with self._lock:
            if self._request.last_scope is not None:
                return set(self._request.last_scope.split())
            return set(self._scopes)

    def _refresh(self, queued_at: int | None = None) -> None:
        """Ask the token endpoint (under ``self._lock``).

        ``queued_at`` is the attempt count a caller saw before it waited for the lock. If an
        attempt made meanwhile failed, the caller gets that failure instead of asking again
        at once: threads that queued behind a failing refresh each back off in their own
        retry, rather than hitting a failing endpoint one after another with no wait.
        """
        if queued_at is not None and queued_at != self._attempts and self._failure is not None:
            raise copy.copy(self._failure) from None
        self._attempts += 1
        try:
            self._credentials.refresh(self._request)
        except google_exceptions.RefreshError as error:
            self._failure = self._explain(error)
            raise copy.copy(self._failure) from None
        except google_exceptions.TransportError as error:
            self._failure = self._unavailable(self._transport_detail(error))
            raise copy.copy(self._failure) from None
        self._failure = None
        self.refreshes += 1
        lifetime = _seconds_left(self._credentials.expiry)
        if lifetime is None:
            self._refresh_at = math.inf
        else:
            self._refresh_at = time.monotonic() + lifetime - min(REFRESH_MARGIN_S, lifetime / 2)
        log.debug(
            "refreshed %s access token for %s (expires in %s s)",
            self.kind,
            self.user_id,
            "?" if lifetime is None else int(lifetime),
        )

    def _who(self) -> str:
        if self.mailbox:
            return self.mailbox
        return "the mailbox of `oauth_credentials.refresh_token` (user_id unset)"

    def _unavailable(self, detail: str) -> TokenUnavailable:
        return TokenUnavailable(
            f"Google's token endpoint {self._token_url} failed for {self._who()} ({detail}), "
            "so no Gmail call was sent. This usually passes: rerun later; if it persists, "
            "check the network path (proxy, firewall, DNS) to `token_url` and "
            f"{_STATUS_DASHBOARD}"
        )

    def _transport_detail(self, error: google_exceptions.TransportError) -> str:
        if isinstance(error, _UnreadableAnswer):
            return self._scrub(str(error))
        cause = error.args[0] if error.args else error
        name = type(cause).__name__ if isinstance(cause, BaseException) else "TransportError"
        if "timed out" in str(error).lower() or "timeout" in name.lower():
            return f"{name}: no answer within {self.timeout_s:g} s"
        return f"{name}: {self._scrub(str(cause))}"[:300]

    def _explain(self, error: google_exceptions.RefreshError) -> Exception:
        """Turn google-auth's refusal into an error that names the setting to fix."""
        data = error.args[1] if len(error.args) > 1 else None
        code = data.get("error") if isinstance(data, dict) else None
        detail = self._scrub(str(error.args[0]) if error.args else "")[:300]
        status = self._request.last_status
        transient = status is not None and (status >= 500 or status in _TRANSIENT_STATUSES)
        if getattr(error, "retryable", False) or transient:
            if isinstance(code, str):
                return self._unavailable(f"HTTP {status} {detail}")
            # an HTML error page, say: its status says enough
            return self._unavailable(f"HTTP {status}, not Google's JSON error")
        if not isinstance(code, str):
            return AuthError(
                f"the token endpoint {self._token_url} answered unexpectedly ({detail}). "
                "Check `token_url`.",
                setting="token_url",
            )
        if self.kind == "service_account":
            return self._service_account_error(code, detail)
        return self._oauth_error(code, detail)

    def _oauth_error(self, code: str, detail: str) -> AuthError:
        if code == "invalid_client":
            return AuthError(
                f"Google refused the OAuth client ({detail}). Check "
                "`oauth_credentials.client_id` and `oauth_credentials.client_secret`.",
                setting="oauth_credentials.client_id",
            )
        if code == "invalid_grant":
            problem = "was expired or revoked"
        elif code == "unauthorized_client":
            problem = "was issued to a different OAuth client than `oauth_credentials.client_id`"
        elif code == "invalid_scope":
            problem = f"does not grant the scopes requested ({' '.join(self._scopes)})"
        else:
            problem = "was refused"
        return AuthError(
            f"The OAuth refresh token in `oauth_credentials.refresh_token` {problem} ({detail}). "
            f"To fix: {_GMAIL_AUTH_FIX}",
            setting="oauth_credentials.refresh_token",
        )

    def _service_account_error(self, code: str, detail: str) -> AuthError:
        email = getattr(self._credentials, "service_account_email", "the service account")
        if code == "invalid_grant" and _is_time_refusal(detail):
            now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
            return AuthError(
                f"Google refused the service-account assertion for {self.mailbox} ({detail}): "
                f"its issue and expiry times are signed with this machine's clock, which says "
                f"{now} UTC and is probably off by more than a minute. To fix: synchronise "
                "the clock (NTP, e.g. `timedatectl set-ntp true`; in a container, the host's "
                "clock) and rerun; the key and delegation need no change."
            )
        if code == "invalid_grant" and "Invalid JWT Signature" in detail:
            return AuthError(
                f"Google refused the service-account assertion for {self.mailbox} ({detail}): "
                f"the key in `{self._setting}` is not a current key of {email} (deleted or "
                "rotated). To fix: create a new key in the Cloud console and configure it.",
                setting=self._setting,
            )
        if code == "invalid_client":
            hint = (
                f"the key of {email} in `{self._setting}` is unknown, deleted or disabled; "
                "create a new key in the Cloud console"
            )
        else:
            hint = (
                f"check domain-wide delegation for {self.mailbox} in the Admin console "
                f"(client of {email}, scopes {' '.join(self._scopes)}), that the mailbox "
                f"exists, and that the key in `{self._setting}` is still active"
            )
        return AuthError(
            f"Google refused a service-account token for {self.mailbox} ({detail}): {hint}.",
            setting=self._setting,
        )

    def _scrub(self, text: str) -> str:
        for secret in self._redact:
            text = text.replace(secret, "[redacted]")
        return text


def _is_time_refusal(detail: str) -> bool:
    """Google's invalid_grant for an assertion whose iat/exp it does not accept: "Invalid
    JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe.
    Check your iat and exp values in the JWT claim." A wrong clock is the usual cause."""
    text = detail.lower()
    return "invalid jwt" in text and any(
        word in text for word in ("short-lived", "timeframe", "iat", "exp ")
    )


def _seconds_left(expiry: datetime.datetime | None) -> float | None:
    if expiry is None:
        return None
    if expiry.tzinfo is not None:
        expiry = expiry.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    return max(0.0, (expiry - now).total_seconds())


def oauth_user_auth(
    client_id: str,
    client_secret: str,
    refresh_token: str,
    token_url: str = DEFAULT_TOKEN_URL,
    scopes: list[str] | None = None,
    mailbox: str | None = None,
    session: requests.Session | None = None,
) -> MailboxAuth:
    """Credentials of an installed-app OAuth client (what ``gmail-auth`` produces).

    ``scopes`` narrows each refresh to those scopes; ``None`` (what ``auths_from_config``
    uses) takes whatever the user consented to, since Google answers ``invalid_scope`` when
    a refresh asks for a scope not literally in the grant (gmail.readonly of a full grant).
    """
    credentials = oauth2_credentials.Credentials(
        token=None,
        refresh_token=refresh_token,
        token_uri=token_url,
        client_id=client_id,
        client_secret=client_secret,
        scopes=list(scopes) if scopes else None,
    )
    return MailboxAuth(
        credentials,
        kind="oauth",
        mailbox=mailbox,
        scopes=scopes,
        token_url=token_url,
        setting="oauth_credentials.refresh_token",
        session=session,
        redact=(refresh_token, client_secret),
    )


def service_account_auth(
    info: dict,
    subject: str,
    scopes: list[str],
    token_url: str | None = None,
    session: requests.Session | None = None,
    setting: str = "service_account_info",
) -> MailboxAuth:
    """Domain-wide delegation: the service account acts as ``subject`` (one per mailbox)."""
    info = dict(info)
    if token_url:
        info["token_uri"] = token_url
    info.setdefault("token_uri", DEFAULT_TOKEN_URL)
    try:
        base = service_account.Credentials.from_service_account_info(info, scopes=list(scopes))
    except (ValueError, TypeError, KeyError):
        raise ConfigError(
            setting,
            "is not a usable service-account key (missing fields or an unreadable private_key).",
            "download a new JSON key for the service account from the Cloud console.",
        ) from None
    return MailboxAuth(
        base.with_subject(subject),
        kind="service_account",
        mailbox=subject,
        scopes=scopes,
        token_url=info["token_uri"],
        setting=setting,
        session=session,
    )
