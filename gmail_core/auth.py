"""Access tokens for one mailbox: OAuth refresh token or service account with delegation.

google-auth does the token protocol; this module adds what a long-running tap needs on top:
proactive refresh under a lock, one refresh at a time, error messages that name the setting
to fix, and the guarantee that no secret reaches a log line, exception message or repr.
"""

from __future__ import annotations

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
from .errors import AuthError, ConfigError, TransientNetworkError

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
_GMAIL_AUTH_FIX = (
    "run `gmail-auth --client-id ... --client-secret ...` to obtain one and set it as "
    "`oauth_credentials.refresh_token`."
)

log = logging.getLogger(__name__)


class _TokenRequest(google_requests.Request):
    """google-auth's requests transport, remembering the ``scope`` of the last token answer."""

    last_scope: str | None = None

    def __call__(self, *args, **kwargs):
        response = super().__call__(*args, **kwargs)
        if response.status == 200:
            try:
                body = json.loads(response.data)
            except (TypeError, ValueError):
                return response
            if isinstance(body, dict) and isinstance(body.get("scope"), str):
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

    def __repr__(self) -> str:
        return (
            f"MailboxAuth(kind={self.kind!r}, mailbox={self.mailbox!r}, refreshes={self.refreshes})"
        )

    @property
    def user_id(self) -> str:
        """The ``userId`` path segment for Gmail calls: the mailbox, or ``me``."""
        return self.mailbox or "me"

    def token(self) -> str:
        """A valid access token, refreshed before it gets close to expiry."""
        with self._lock:
            if self._credentials.token is None or time.monotonic() >= self._refresh_at:
                self._refresh()
            return self._credentials.token

    def force_refresh(self, rejected: str | None = None) -> str:
        """Refresh after a 401. Pass the rejected token so that many threads hitting the same
        401 cause one refresh: if another thread already replaced it, that token is returned."""
        with self._lock:
            current = self._credentials.token
            fresh = current is not None and time.monotonic() < self._refresh_at
            if rejected is None or current == rejected or not fresh:
                self._refresh()
            return self._credentials.token

    def granted_scopes(self) -> set[str]:
        """Scopes the token holds: the token answer's ``scope`` if it had one, else those asked."""
        with self._lock:
            if self._request.last_scope is not None:
                return set(self._request.last_scope.split())
            return set(self._scopes)

    def _refresh(self) -> None:
        try:
            self._credentials.refresh(self._request)
        except google_exceptions.RefreshError as error:
            raise self._explain(error) from None
        except google_exceptions.TransportError as error:
            raise TransientNetworkError(
                f"could not reach the token endpoint {self._token_url} "
                f"(for {self.user_id}): {self._scrub(str(error))}"
            ) from None
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

    def _explain(self, error: google_exceptions.RefreshError) -> Exception:
        """Turn google-auth's refusal into an error that names the setting to fix."""
        data = error.args[1] if len(error.args) > 1 else None
        code = data.get("error") if isinstance(data, dict) else None
        detail = self._scrub(str(error.args[0]) if error.args else "")[:300]
        if getattr(error, "retryable", False):
            return TransientNetworkError(
                f"the token endpoint {self._token_url} failed for {self.user_id}: {detail}"
            )
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
