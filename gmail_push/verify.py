"""Checking the OIDC token Pub/Sub's authenticated push attaches, with google-auth.

``id_token.verify_token`` checks the signature against the certs URL, ``aud`` and ``exp``;
this module adds ``iss``, the expected service-account ``email`` and ``email_verified``, and
turns every failure into a short reason that is safe to log (never the token itself).
google-auth fetches the certs on every call, so ``CachedCertsRequest`` keeps them for their
``max-age`` and refetches at most every 30 s when a token names a key it has not seen
(Google rotates its keys).
"""

from __future__ import annotations

import re
import threading
import time

import google.auth.exceptions
import google.auth.transport.requests
import jwt as pyjwt
from google.oauth2 import id_token

from .settings import ReceiverSettings

_MAX_AGE = re.compile(r"max-age=(\d+)")
_DEFAULT_TTL_S = 300
_REFETCH_EVERY_S = 30.0


class Rejected(Exception):
    """The token is not acceptable; ``status`` is 401 (who are you?) or 403 (not allowed)."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason


class CertsUnavailable(Exception):
    """The certs could not be fetched: answer 503 so Pub/Sub delivers again later."""


class CachedCertsRequest:
    """A google-auth transport ``Request`` that caches GET answers (the certs)."""

    def __init__(self, timeout_s: float = 10.0):
        self._inner = google.auth.transport.requests.Request()
        self._timeout = timeout_s
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, object]] = {}
        self._last_forced = 0.0

    def __call__(self, url, method="GET", body=None, headers=None, timeout=None, **kwargs):
        if method != "GET":
            return self._inner(url, method, body, headers, timeout or self._timeout, **kwargs)
        with self._lock:
            hit = self._cache.get(url)
            if hit and hit[0] > time.monotonic():
                return hit[1]
            response = self._inner(url, "GET", None, headers, timeout or self._timeout, **kwargs)
            if response.status == 200:
                found = _MAX_AGE.search(response.headers.get("cache-control", "") or "")
                ttl = int(found.group(1)) if found else _DEFAULT_TTL_S
                self._cache[url] = (time.monotonic() + min(max(ttl, 1), 86400), response)
            return response

    def forget(self, url: str) -> bool:
        """Drop the cached certs (a key was rotated in); rate-limited; True if dropped."""
        with self._lock:
            if time.monotonic() - self._last_forced < _REFETCH_EVERY_S:
                return False
            self._last_forced = time.monotonic()
            return self._cache.pop(url, None) is not None


class TokenVerifier:
    def __init__(self, settings: ReceiverSettings, request: CachedCertsRequest | None = None):
        self.settings = settings
        self.request = request or CachedCertsRequest()

    def verify(self, authorization: str | None) -> dict:
        """The token's claims when every check passes; ``Rejected`` with a reason otherwise."""
        scheme, _, token = (authorization or "").strip().partition(" ")
        if not authorization:
            raise Rejected(401, "no Authorization header (is the subscription authenticated?)")
        if scheme.lower() != "bearer" or not token.strip():
            raise Rejected(401, "Authorization is not a Bearer token")
        token = token.strip()
        try:
            claims = self._decode(token)
        except Rejected as first:
            if first.reason != "unknown signing key" or not self.request.forget(
                self.settings.certs_url
            ):
                raise
            claims = self._decode(token)  # the certs were stale: once more with fresh ones
        return self._check_claims(claims)

    def _decode(self, token: str) -> dict:
        settings = self.settings
        try:
            return dict(
                id_token.verify_token(
                    token,
                    self.request,
                    audience=settings.audience,
                    certs_url=settings.certs_url,
                    clock_skew_in_seconds=settings.clock_skew_s,
                )
            )
        except google.auth.exceptions.TransportError as problem:
            raise CertsUnavailable(f"cannot fetch certs from {settings.certs_url}") from problem
        except (ValueError, pyjwt.PyJWTError, google.auth.exceptions.GoogleAuthError) as error:
            raise Rejected(401, _reason(error, token)) from None

    def _check_claims(self, claims: dict) -> dict:
        settings = self.settings
        if "exp" not in claims:
            raise Rejected(401, "token has no exp claim")
        if claims.get("iss") not in settings.issuers:
            raise Rejected(401, f"wrong issuer {_show(claims.get('iss'))}")
        email = claims.get("email")
        if not isinstance(email, str) or email.lower() != settings.service_account:
            raise Rejected(
                403,
                f"token is for service account {_show(email)}, "
                f"not push_service_account {settings.service_account}",
            )
        if claims.get("email_verified") is not True:
            raise Rejected(403, "token's email is not verified (email_verified is not true)")
        return claims


def _reason(error: Exception, token: str) -> str:
    """A short, token-free reason for a failed verification."""
    text = str(error)
    lowered = text.lower()
    if isinstance(error, pyjwt.ExpiredSignatureError) or "expired" in lowered:
        return "token expired"
    if isinstance(error, pyjwt.InvalidAudienceError) or "audience" in lowered:
        return f"wrong audience {_show(_unverified(token).get('aud'))}"
    if isinstance(error, pyjwt.ImmatureSignatureError) or "too early" in lowered:
        return "token not yet valid (iat/nbf in the future)"
    if "key id" in lowered or "signing key" in lowered:
        return "unknown signing key"
    if isinstance(error, pyjwt.InvalidSignatureError) or "signature" in lowered:
        return "bad signature"
    if isinstance(error, pyjwt.DecodeError) or "segments" in lowered or "decode" in lowered:
        return "malformed token"
    return f"invalid token ({type(error).__name__})"


def _unverified(token: str) -> dict:
    try:
        return pyjwt.decode(token, options={"verify_signature": False})
    except pyjwt.PyJWTError:
        return {}


def _show(value) -> str:
    """A claim value for a log line: attacker-controlled, so quoted and cut short."""
    return repr(str(value)[:80]) if value is not None else "(none)"
