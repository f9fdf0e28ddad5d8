"""Unit tests for the emulator's OAuth token endpoint and bearer checks."""

from __future__ import annotations

import json
import time
import urllib.parse

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth import exceptions as gauth_exceptions
from google.auth.transport import Request, Response
from google.oauth2 import credentials as user_credentials
from google.oauth2 import service_account

from gmail_emulator import auth
from gmail_emulator.auth import FULL_SCOPE, AuthRegistry, Grant, TokenError, check_scopes
from gmail_emulator.errors import GmailError

ALICE = "alice@example.com"
BOB = "bob@example.com"
READONLY = "https://www.googleapis.com/auth/gmail.readonly"
MODIFY = "https://www.googleapis.com/auth/gmail.modify"
TOKEN_URL = "http://127.0.0.1:8080/token"
SA_EMAIL = "robot@project.iam.gserviceaccount.com"


class FakeClock:
    def __init__(self, now: float = 1_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def refresh_form(token: str = "rt", **extra) -> dict:
    form = {"grant_type": "refresh_token", "client_id": "cid", "client_secret": "cs"}
    form["refresh_token"] = token
    form.update(extra)
    return form


def token_error(registry: AuthRegistry, form: dict) -> TokenError:
    with pytest.raises(TokenError) as caught:
        registry.token_endpoint(form, TOKEN_URL)
    return caught.value


class _Resp(Response):
    def __init__(self, status: int, body: dict):
        self._status, self._data = status, json.dumps(body).encode()

    @property
    def status(self):
        return self._status

    @property
    def headers(self):
        return {"content-type": "application/json"}

    @property
    def data(self):
        return self._data


class RegistryTransport(Request):
    """google-auth transport that posts straight into the registry's token endpoint."""

    def __init__(self, registry: AuthRegistry):
        self.registry = registry

    def __call__(self, url, method="GET", body=None, headers=None, timeout=None, **kwargs):
        form = dict(urllib.parse.parse_qsl(body.decode() if isinstance(body, bytes) else body))
        try:
            return _Resp(200, self.registry.token_endpoint(form, url))
        except TokenError as err:
            return _Resp(err.http_status, err.body())


@pytest.fixture(scope="module")
def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def sa_info(rsa_key):
    pem = rsa_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return {
        "type": "service_account",
        "client_email": SA_EMAIL,
        "private_key": pem,
        "private_key_id": "kid-1",
        "token_uri": TOKEN_URL,
    }


def sa_registry(sa_info) -> AuthRegistry:
    registry = AuthRegistry([ALICE, BOB])
    registry.add_service_account_info(sa_info)
    return registry


def assertion(key, **overrides) -> str:
    now = int(time.time())
    claims = {"iss": SA_EMAIL, "scope": READONLY, "aud": auth.GOOGLE_TOKEN_URLS[0]}
    claims.update(iat=now, exp=now + 3600)
    claims.update(overrides)
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": "kid-1"})


def jwt_form(token: str) -> dict:
    return {"grant_type": auth.JWT_BEARER, "assertion": token}


# -- refresh_token grant ------------------------------------------------------------------


def test_demo_refresh_accepts_anything_and_maps_to_first_user():
    registry = AuthRegistry([ALICE, BOB])
    assert not registry.strict
    body = registry.token_endpoint(refresh_form("whatever"), TOKEN_URL)
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["scope"] == FULL_SCOPE
    assert body["access_token"].startswith("ya29.")
    grant = registry.authenticate("Bearer " + body["access_token"])
    assert grant.user == ALICE and grant.scopes == {FULL_SCOPE} and grant.client_id == "cid"


def test_demo_refresh_with_scope_param_gets_those_scopes():
    registry = AuthRegistry([ALICE])
    body = registry.token_endpoint(refresh_form(scope=f"{READONLY} {MODIFY}"), TOKEN_URL)
    assert set(body["scope"].split()) == {READONLY, MODIFY}
    assert registry.authenticate(f"Bearer {body['access_token']}").scopes == {READONLY, MODIFY}


def test_registered_refresh_token_maps_to_its_user_and_scopes():
    registry = AuthRegistry([ALICE, BOB])
    registry.add_refresh_token("bob-rt", BOB, [READONLY, MODIFY])
    body = registry.token_endpoint(refresh_form("bob-rt"), TOKEN_URL)
    grant = registry.authenticate("Bearer " + body["access_token"])
    assert grant.user == BOB and grant.scopes == {READONLY, MODIFY}


def test_scope_narrowing_and_invalid_scope():
    registry = AuthRegistry([ALICE])
    registry.add_refresh_token("rt", ALICE, [READONLY, MODIFY])
    body = registry.token_endpoint(refresh_form(scope=READONLY), TOKEN_URL)
    assert body["scope"] == READONLY
    err = token_error(registry, refresh_form(scope=f"{READONLY} {FULL_SCOPE}"))
    assert (err.http_status, err.error) == (400, "invalid_scope")


def test_revoked_refresh_token_is_invalid_grant_and_kills_its_access_tokens():
    registry = AuthRegistry([ALICE])
    registry.add_refresh_token("rt", ALICE)
    access = registry.token_endpoint(refresh_form(), TOKEN_URL)["access_token"]
    assert registry.revoke("rt") is True
    err = token_error(registry, refresh_form())
    assert err.http_status == 400
    assert err.body() == {
        "error": "invalid_grant",
        "error_description": "Token has been expired or revoked.",
    }
    with pytest.raises(GmailError) as caught:
        registry.authenticate("Bearer " + access)
    assert caught.value.code == 401


def test_demo_token_stays_dead_after_revoke():
    registry = AuthRegistry([ALICE])
    registry.token_endpoint(refresh_form("demo"), TOKEN_URL)
    assert registry.revoke("demo") is True
    assert token_error(registry, refresh_form("demo")).error == "invalid_grant"


def test_strict_mode_checks_client_and_refresh_token():
    registry = AuthRegistry([ALICE])
    registry.add_client("cid", "cs")
    registry.add_refresh_token("rt", ALICE, client_id="cid")
    assert registry.strict
    assert registry.token_endpoint(refresh_form(), TOKEN_URL)["access_token"]

    err = token_error(registry, refresh_form(client_id="other"))
    assert (err.http_status, err.error, err.description) == (
        401,
        "invalid_client",
        "The OAuth client was not found.",
    )
    err = token_error(registry, refresh_form(client_secret="wrong"))
    assert (err.http_status, err.error, err.description) == (401, "invalid_client", "Unauthorized")
    assert "wrong" not in str(err)
    err = token_error(registry, refresh_form("unknown-rt"))
    assert (err.http_status, err.error, err.description) == (400, "invalid_grant", "Bad Request")
    assert "unknown-rt" not in str(err)


def test_missing_params_and_bad_grant_type():
    registry = AuthRegistry([ALICE])
    err = token_error(registry, {"grant_type": "refresh_token", "client_id": "cid"})
    assert (err.http_status, err.error) == (400, "invalid_request")
    err = token_error(registry, {"grant_type": "password"})
    assert (err.http_status, err.error) == (400, "unsupported_grant_type")


def test_google_auth_user_credentials_refresh_against_registry():
    registry = AuthRegistry([ALICE])
    creds = user_credentials.Credentials(
        None, refresh_token="rt", token_uri=TOKEN_URL, client_id="cid", client_secret="cs"
    )
    creds.refresh(RegistryTransport(registry))
    assert registry.authenticate(f"Bearer {creds.token}").user == ALICE
    registry.revoke("rt")
    with pytest.raises(gauth_exceptions.RefreshError, match="invalid_grant"):
        creds.refresh(RegistryTransport(registry))


# -- authorization_code grant -------------------------------------------------------------


def code_form(code: str) -> dict:
    return {
        "grant_type": "authorization_code",
        "code": code,
        "client_id": "cid",
        "client_secret": "cs",
        "redirect_uri": "http://localhost:1234/",
        "code_verifier": "v" * 43,
    }


def test_auth_code_issues_refresh_token_once():
    registry = AuthRegistry([ALICE, BOB])
    body = registry.token_endpoint(code_form("4/abc"), TOKEN_URL)
    assert {"access_token", "refresh_token", "scope", "expires_in", "token_type"} <= set(body)
    assert registry.authenticate("Bearer " + body["access_token"]).user == ALICE
    refreshed = registry.token_endpoint(refresh_form(body["refresh_token"]), TOKEN_URL)
    assert registry.authenticate("Bearer " + refreshed["access_token"]).user == ALICE
    err = token_error(registry, code_form("4/abc"))
    assert (err.http_status, err.error) == (400, "invalid_grant")


def test_auth_code_can_name_the_user():
    registry = AuthRegistry([ALICE, BOB])
    body = registry.token_endpoint(code_form(f"user:{BOB}"), TOKEN_URL)
    assert registry.authenticate("Bearer " + body["access_token"]).user == BOB
    assert token_error(registry, code_form("user:nobody@example.com")).error == "invalid_grant"


# -- JWT bearer grant ---------------------------------------------------------------------


def test_google_auth_service_account_with_subject(sa_info):
    registry = sa_registry(sa_info)
    creds = service_account.Credentials.from_service_account_info(
        sa_info, scopes=[READONLY], subject=BOB
    )
    creds.refresh(RegistryTransport(registry))
    grant = registry.authenticate("Bearer " + creds.token)
    assert grant.user == BOB and grant.scopes == {READONLY} and grant.client_id == SA_EMAIL


def test_service_account_without_subject_is_itself(sa_info, rsa_key):
    registry = sa_registry(sa_info)
    body = registry.token_endpoint(jwt_form(assertion(rsa_key, aud=TOKEN_URL)), TOKEN_URL)
    assert set(body) == {"access_token", "expires_in", "token_type"}
    assert registry.authenticate("Bearer " + body["access_token"]).user == SA_EMAIL


def test_service_account_public_key_registration(rsa_key):
    registry = AuthRegistry([ALICE])
    public_pem = rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    registry.add_service_account(SA_EMAIL, public_pem.decode(), "kid-1")
    body = registry.token_endpoint(jwt_form(assertion(rsa_key, sub=ALICE)), TOKEN_URL)
    assert registry.authenticate("Bearer " + body["access_token"]).user == ALICE


def test_jwt_bad_signature(sa_info):
    registry = sa_registry(sa_info)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    err = token_error(registry, jwt_form(assertion(other, sub=ALICE)))
    assert (err.http_status, err.error, err.description) == (
        400,
        "invalid_grant",
        "Invalid JWT Signature.",
    )
    assert token_error(registry, jwt_form("not.a.jwt")).error == "invalid_grant"


@pytest.mark.parametrize(
    "offsets",
    [(-7200, -3600), (0, 7200), (600, 1200)],
    ids=["expired", "too-long-lived", "issued-in-future"],
)
def test_jwt_time_problems(sa_info, rsa_key, offsets):
    registry = sa_registry(sa_info)
    now = int(time.time())
    token = assertion(rsa_key, iat=now + offsets[0], exp=now + offsets[1])
    err = token_error(registry, jwt_form(token))
    assert (err.http_status, err.error) == (400, "invalid_grant")
    assert err.description.startswith("Invalid JWT: Token must be a short-lived token")


def test_jwt_leeway_allows_just_expired(sa_info, rsa_key):
    registry = sa_registry(sa_info)
    now = int(time.time())
    token = assertion(rsa_key, iat=now - 3630, exp=now - 30)
    assert registry.token_endpoint(jwt_form(token), TOKEN_URL)["access_token"]


def test_jwt_unknown_issuer_sub_scope_and_audience(sa_info, rsa_key):
    registry = sa_registry(sa_info)
    err = token_error(
        registry, jwt_form(assertion(rsa_key, iss="stranger@x.iam.gserviceaccount.com"))
    )
    assert (err.error, err.description) == ("invalid_client", "The OAuth client was not found.")
    err = token_error(registry, jwt_form(assertion(rsa_key, sub="mallory@example.com")))
    assert (err.http_status, err.error, err.description) == (
        400,
        "invalid_grant",
        "Invalid email or User ID",
    )
    err = token_error(registry, jwt_form(assertion(rsa_key, scope=None)))
    assert (err.http_status, err.error) == (400, "invalid_scope")
    err = token_error(registry, jwt_form(assertion(rsa_key, aud="https://evil.example/token")))
    assert err.error == "invalid_grant"
    alt = assertion(rsa_key, aud=auth.GOOGLE_TOKEN_URLS[1], sub=ALICE)
    assert registry.token_endpoint(jwt_form(alt), TOKEN_URL)["access_token"]


# -- access tokens ------------------------------------------------------------------------


def test_access_token_expiry_with_fake_clock():
    clock = FakeClock()
    registry = AuthRegistry([ALICE], token_ttl=100, clock=clock)
    token = registry.issue(ALICE, [READONLY])
    grant = registry.authenticate(f"Bearer {token}")
    assert grant == Grant(ALICE, frozenset({READONLY}), "emulator", clock.now + 100)
    clock.now += 99.9
    assert registry.authenticate(f"bearer {token}").user == ALICE
    clock.now += 0.1
    with pytest.raises(GmailError) as caught:
        registry.authenticate(f"Bearer {token}")
    assert (caught.value.code, caught.value.reason) == (401, "authError")

    registry.set_ttl(5)
    body = registry.token_endpoint(refresh_form(), TOKEN_URL)
    assert body["expires_in"] == 5
    clock.now += 5
    with pytest.raises(GmailError):
        registry.authenticate("Bearer " + body["access_token"])


@pytest.mark.parametrize("header", [None, "", "   ", "Bearer", "Bearer   ", "Basic abc"])
def test_missing_credentials(header):
    registry = AuthRegistry([ALICE])
    with pytest.raises(GmailError) as caught:
        registry.authenticate(header)
    err = caught.value
    assert (err.code, err.status, err.reason) == (401, "UNAUTHENTICATED", "required")
    assert "WWW-Authenticate" in err.headers


def test_unknown_token_is_invalid_credentials():
    registry = AuthRegistry([ALICE])
    with pytest.raises(GmailError) as caught:
        registry.authenticate("Bearer ya29.nope")
    assert caught.value.code == 401 and caught.value.reason == "authError"
    assert "ya29.nope" not in str(caught.value)


def test_check_scopes():
    grant = Grant(ALICE, frozenset({READONLY}), "cid", 0)
    check_scopes(grant, [FULL_SCOPE, MODIFY, READONLY])
    with pytest.raises(GmailError) as caught:
        check_scopes(grant, [FULL_SCOPE, MODIFY])
    err = caught.value
    assert (err.code, err.reason, err.status) == (
        403,
        "insufficientPermissions",
        "PERMISSION_DENIED",
    )
    check_scopes(Grant(ALICE, frozenset({FULL_SCOPE}), "cid", 0), [FULL_SCOPE])
