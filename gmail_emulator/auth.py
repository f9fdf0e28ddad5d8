"""OAuth token endpoint and bearer-token checks, shaped like Google's.

Clients (google-auth, the tap and target) must be able to run their real credential code
against the emulator: refresh tokens, installed-app auth codes and service-account JWT
assertions all go through ``token_endpoint``; every API call goes through ``authenticate``.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from . import errors

FULL_SCOPE = "https://mail.google.com/"
GOOGLE_TOKEN_URLS = (
    "https://oauth2.googleapis.com/token",
    "https://www.googleapis.com/oauth2/v4/token",
)
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
JWT_LEEWAY_S = 60
JWT_MAX_LIFETIME_S = 3600

_BAD_SIGNATURE = "Invalid JWT Signature."
_BAD_TIMEFRAME = (
    "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable "
    "timeframe. Check your iat and exp values in the JWT claim."
)
_SWEEP_EVERY = 1024


class TokenError(Exception):
    """An OAuth error; the server renders it as Google's token-endpoint JSON."""

    def __init__(self, http_status: int, error: str, description: str, headers: dict | None = None):
        super().__init__(f"{error}: {description}")
        self.http_status = http_status
        self.error = error
        self.description = description
        self.headers = dict(headers or {})

    def body(self) -> dict:
        return {"error": self.error, "error_description": self.description}


@dataclass(frozen=True)
class Grant:
    """What an access token stands for."""

    user: str
    scopes: frozenset[str]
    client_id: str
    expires_at: float


@dataclass
class _RefreshToken:
    user: str
    scopes: frozenset[str] | None  # None: a demo-mode token, any requested scope is fine
    client_id: str | None
    access_tokens: set[str]


def _bad_request(error: str, description: str = "Bad Request") -> TokenError:
    return TokenError(400, error, description)


def _param(form: Mapping, name: str) -> str:
    """One form value; tolerates parse_qs-style lists."""
    value = form.get(name)
    if isinstance(value, (list, tuple)):
        value = value[0] if value else None
    return value or ""


def _require(form: Mapping, *names: str) -> list[str]:
    values = [_param(form, n) for n in names]
    for name, value in zip(names, values, strict=True):
        if not value:
            raise _bad_request("invalid_request", f"Missing required parameter: {name}")
    return values


def _load_public_key(pem: str):
    data = pem.encode() if isinstance(pem, str) else pem
    if b"BEGIN CERTIFICATE" in data:
        return x509.load_pem_x509_certificate(data).public_key()
    return serialization.load_pem_public_key(data)


class AuthRegistry:
    """Clients, refresh tokens, service accounts and live access tokens; thread-safe."""

    def __init__(
        self, users: list[str], token_ttl: float = 3600, clock: Callable[[], float] = time.time
    ):
        self.users = list(users)
        self._by_lower = {u.lower(): u for u in self.users}
        self.strict = False
        self._ttl = float(token_ttl)
        self._clock = clock
        self._lock = threading.RLock()
        self._clients: dict[str, str] = {}
        self._refresh: dict[str, _RefreshToken] = {}
        self._revoked: set[str] = set()
        self._used_codes: set[str] = set()
        self._service_accounts: dict[str, dict[str | None, object]] = {}
        self._access: dict[str, Grant] = {}
        self._issued = 0

    # -- registration -------------------------------------------------------------------

    def add_client(self, client_id: str, client_secret: str) -> None:
        """Register an OAuth client; from now on unknown clients are refused."""
        with self._lock:
            self._clients[client_id] = client_secret
            self.strict = True

    def add_refresh_token(
        self,
        token: str,
        user: str,
        scopes: Iterable[str] = (FULL_SCOPE,),
        client_id: str | None = None,
    ) -> None:
        with self._lock:
            self._refresh[token] = _RefreshToken(user, frozenset(scopes), client_id, set())
            self._revoked.discard(token)

    def revoke(self, refresh_token: str) -> bool:
        """Revoke a refresh token (and the access tokens it minted) or an access token.

        Returns whether the token was known. Unknown tokens are remembered as revoked too, so
        a demo-mode token cannot come back to life.
        """
        with self._lock:
            record = self._refresh.pop(refresh_token, None)
            if record is not None:
                for access in record.access_tokens:
                    self._access.pop(access, None)
            elif self._access.pop(refresh_token, None) is not None:
                return True
            self._revoked.add(refresh_token)
            return record is not None

    def add_service_account(
        self, client_email: str, public_key_pem: str, key_id: str | None = None
    ) -> None:
        """Register a public key (PEM key or X.509 certificate) for JWT-bearer grants."""
        key = _load_public_key(public_key_pem)
        with self._lock:
            self._service_accounts.setdefault(client_email, {})[key_id] = key

    def add_service_account_info(self, info: dict) -> None:
        """Register a service-account JSON key file; only its public half is kept."""
        private = serialization.load_pem_private_key(info["private_key"].encode(), None)
        public_pem = private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.add_service_account(
            info["client_email"], public_pem.decode(), info.get("private_key_id")
        )

    def set_ttl(self, seconds: float) -> None:
        """Lifetime of access tokens issued from now on (existing ones keep theirs)."""
        with self._lock:
            self._ttl = float(seconds)

    # -- access tokens ------------------------------------------------------------------

    def issue(self, user: str, scopes: Iterable[str], client_id: str = "emulator") -> str:
        """Mint an access token directly (tests, admin endpoints)."""
        with self._lock:
            return self._mint(user, frozenset(scopes), client_id)

    def _mint(self, user: str, scopes: frozenset[str], client_id: str) -> str:
        now = self._clock()
        self._issued += 1
        if self._issued % _SWEEP_EVERY == 0:
            self._access = {t: g for t, g in self._access.items() if g.expires_at > now}
        token = "ya29.emu-" + secrets.token_urlsafe(32)
        self._access[token] = Grant(user, scopes, client_id, now + self._ttl)
        return token

    def authenticate(self, authorization: str | None) -> Grant:
        """The grant behind an ``Authorization: Bearer`` header, or Gmail's 401."""
        scheme, _, token = (authorization or "").strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise errors.unauthenticated(missing=True)
        with self._lock:
            grant = self._access.get(token)
            if grant is None:
                raise errors.unauthenticated()
            if grant.expires_at <= self._clock():
                del self._access[token]
                raise errors.unauthenticated()
            return grant

    # -- token endpoint -----------------------------------------------------------------

    def token_endpoint(self, form: Mapping[str, str], token_url: str) -> dict:
        """Answer a POST to the token URL: success JSON, or raise TokenError."""
        grant_type = _param(form, "grant_type")
        with self._lock:
            if grant_type == "refresh_token":
                return self._refresh_grant(form)
            if grant_type == "authorization_code":
                return self._code_grant(form)
            if grant_type == JWT_BEARER:
                return self._jwt_grant(form, token_url)
        raise _bad_request("unsupported_grant_type", f"Invalid grant_type: {grant_type}")

    def _check_client(self, client_id: str, client_secret: str) -> None:
        if not self.strict:
            return
        if client_id not in self._clients:
            raise TokenError(401, "invalid_client", "The OAuth client was not found.")
        if not secrets.compare_digest(self._clients[client_id].encode(), client_secret.encode()):
            raise TokenError(401, "invalid_client", "Unauthorized")

    def _response(self, user: str, scopes: frozenset[str], client_id: str, **extra) -> dict:
        token = self._mint(user, scopes, client_id)
        body = {
            "access_token": token,
            "expires_in": int(self._ttl),
            "scope": " ".join(sorted(scopes)),
            "token_type": "Bearer",
        }
        body.update(extra)
        return body

    def _refresh_grant(self, form: Mapping) -> dict:
        client_id, refresh_token = _require(form, "client_id", "refresh_token")
        self._check_client(client_id, _param(form, "client_secret"))
        if refresh_token in self._revoked:
            raise _bad_request("invalid_grant", "Token has been expired or revoked.")
        record = self._refresh.get(refresh_token)
        if record is None:
            if self.strict or not self.users:
                raise _bad_request("invalid_grant")
            record = _RefreshToken(self.users[0], None, None, set())
            self._refresh[refresh_token] = record
        if record.client_id is not None and record.client_id != client_id:
            raise _bad_request("unauthorized_client", "Unauthorized")
        requested = frozenset(_param(form, "scope").split())
        granted = record.scopes if record.scopes is not None else frozenset({FULL_SCOPE})
        if requested:
            beyond = requested - granted if record.scopes is not None else frozenset()
            if beyond:
                raise _bad_request(
                    "invalid_scope",
                    "Some requested scopes were invalid. "
                    f"{{invalid=[{', '.join(sorted(beyond))}]}}",
                )
            granted = requested
        body = self._response(record.user, granted, client_id)
        record.access_tokens = {t for t in record.access_tokens if t in self._access}
        record.access_tokens.add(body["access_token"])
        return body

    def _code_grant(self, form: Mapping) -> dict:
        code, client_id, _ = _require(form, "code", "client_id", "redirect_uri")
        self._check_client(client_id, _param(form, "client_secret"))
        if code in self._used_codes:
            raise _bad_request("invalid_grant", "Malformed auth code.")
        user = self.users[0] if self.users else None
        if code.startswith("user:"):
            user = self._by_lower.get(code[len("user:") :].strip().lower())
        if user is None:
            raise _bad_request("invalid_grant", "Malformed auth code.")
        self._used_codes.add(code)
        scopes = frozenset(_param(form, "scope").split()) or frozenset({FULL_SCOPE})
        refresh_token = "1//emu-" + secrets.token_urlsafe(32)
        record = _RefreshToken(user, scopes, client_id if self.strict else None, set())
        self._refresh[refresh_token] = record
        body = self._response(user, scopes, client_id, refresh_token=refresh_token)
        record.access_tokens.add(body["access_token"])
        return body

    def _jwt_grant(self, form: Mapping, token_url: str) -> dict:
        (assertion,) = _require(form, "assertion")
        claims = self._verified_claims(assertion)
        now = self._clock()
        exp, iat = claims.get("exp"), claims.get("iat")
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (exp, iat)):
            raise _bad_request("invalid_grant", _BAD_TIMEFRAME)
        if (
            exp + JWT_LEEWAY_S < now
            or iat - JWT_LEEWAY_S > now
            or exp <= iat
            or exp - iat > JWT_MAX_LIFETIME_S
        ):
            raise _bad_request("invalid_grant", _BAD_TIMEFRAME)
        audiences = claims.get("aud")
        audiences = audiences if isinstance(audiences, list) else [audiences]
        if not any(a == token_url or a in GOOGLE_TOKEN_URLS for a in audiences):
            raise _bad_request(
                "invalid_grant",
                f"Invalid JWT: Failed audience check. The right audience is {GOOGLE_TOKEN_URLS[0]}",
            )
        scope = claims.get("scope")
        scopes = frozenset(scope.split()) if isinstance(scope, str) else frozenset()
        if not scopes:
            raise _bad_request(
                "invalid_scope", "Invalid OAuth scope or ID token audience provided."
            )
        user = claims["iss"]
        subject = claims.get("sub")
        if subject is not None and subject != user:
            user = self._by_lower.get(str(subject).lower())
            if user is None:
                raise _bad_request("invalid_grant", "Invalid email or User ID")
        token = self._mint(user, scopes, claims["iss"])
        return {"access_token": token, "expires_in": int(self._ttl), "token_type": "Bearer"}

    def _verified_claims(self, assertion: str) -> dict:
        """Claims of an RS256 assertion whose signature matches a key of its issuer."""
        try:
            header = jwt.get_unverified_header(assertion)
            claims = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise _bad_request("invalid_grant", _BAD_SIGNATURE) from None
        issuer = claims.get("iss")
        keys = self._service_accounts.get(issuer) if isinstance(issuer, str) else None
        if not keys:
            raise TokenError(401, "invalid_client", "The OAuth client was not found.")
        if header.get("alg") != "RS256":
            raise _bad_request("invalid_grant", _BAD_SIGNATURE)
        kid = header.get("kid") if isinstance(header.get("kid"), str) else None
        candidates = [keys[kid]] if kid in keys else list(keys.values())
        options = {
            "verify_signature": True,
            **{f"verify_{c}": False for c in ("exp", "nbf", "iat", "aud", "iss", "sub", "jti")},
        }
        for key in candidates:
            try:
                return jwt.decode(assertion, key, algorithms=["RS256"], options=options)
            except jwt.PyJWTError:
                continue
        raise _bad_request("invalid_grant", _BAD_SIGNATURE)


# Injected token-endpoint failures (faults.TOKEN_FAULT_HELP): status, error, description.
# 5xx and 429 use the error codes google-auth (and RFC 6749) treat as temporary.
_INJECTED = {
    "500": (500, "internal_failure", "Backend Error"),
    "503": (503, "temporarily_unavailable", "The service is currently unavailable."),
    "429": (429, "rate_limit_exceeded", "Rate Limit Exceeded"),
    "invalid_client": (401, "invalid_client", "Unauthorized"),
}
# What Google says for invalid_grant, per grant (faults.TOKEN_GRANTS short names): a dead
# refresh token; a service-account assertion outside its time window (the machine's clock
# is off); a used or made-up auth code.
_INVALID_GRANT = {
    "refresh_token": "Token has been expired or revoked.",
    "jwt_bearer": _BAD_TIMEFRAME,
    "authorization_code": "Malformed auth code.",
}


def injected_token_error(kind: str, grant: str) -> TokenError:
    """The token endpoint's answer for an injected fault ``kind`` on a ``grant`` request."""
    if kind == "invalid_grant":
        return _bad_request("invalid_grant", _INVALID_GRANT.get(grant, "Bad Request"))
    status, error, description = _INJECTED[kind]
    headers = {"Retry-After": "1"} if status == 429 else None
    return TokenError(status, error, description, headers)


def check_scopes(grant: Grant, allowed: Iterable[str]) -> None:
    """Gmail's 403 unless the token holds at least one scope the method accepts."""
    if grant.scopes.isdisjoint(allowed):
        raise errors.insufficient_scopes()
