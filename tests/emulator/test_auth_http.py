"""OAuth over HTTP: refresh, auth code, service-account JWT with sub, expiry, revocation."""

from __future__ import annotations

import time

import pytest
import requests
from google.auth.exceptions import RefreshError
from google.auth.transport.requests import Request as GoogleRequest
from google.oauth2 import service_account

from tests.conftest import Api, admin, service_account_info

pytestmark = pytest.mark.timeout(120)


def _refresh(server, refresh_token: str, **extra) -> requests.Response:
    form = {
        "grant_type": "refresh_token",
        "client_id": "c",
        "client_secret": "s",
        "refresh_token": refresh_token,
        **extra,
    }
    return requests.post(server.token_url, data=form, timeout=30)


def test_demo_mode_accepts_any_refresh_token(server):
    response = _refresh(server, "whatever")
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] > 0
    api = Api(server.url, body["access_token"])
    assert api.ok("GET", "/profile")["emailAddress"] == "alice@example.com"


def test_missing_and_unknown_tokens_get_gmail_401(server):
    assert requests.get(f"{server.url}/gmail/v1/users/me/profile").status_code == 401
    response = Api(server.url, "ya29.not-a-token").call("GET", "/profile")
    assert response.status_code == 401
    assert response.json()["error"]["status"] == "UNAUTHENTICATED"


def test_access_token_expires_after_ttl(server):
    admin(server, "config", {"token_ttl": 1})
    api = Api(server.url, _refresh(server, "r").json()["access_token"])
    assert api.call("GET", "/profile").status_code == 200
    time.sleep(1.3)
    assert api.call("GET", "/profile").status_code == 401


def test_revoked_refresh_token_gets_invalid_grant(server):
    assert _refresh(server, "to-revoke").status_code == 200
    admin(server, "auth/revoke", {"refresh_token": "to-revoke"})
    response = _refresh(server, "to-revoke")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"
    assert "to-revoke" not in response.text


def test_strict_mode_checks_client_and_token(server):
    admin(
        server,
        "auth",
        {
            "clients": [{"client_id": "cid", "client_secret": "sec"}],
            "refresh_tokens": [{"refresh_token": "rt-bob", "user": "bob@example.com"}],
        },
    )
    ok = requests.post(
        server.token_url,
        data={
            "grant_type": "refresh_token",
            "client_id": "cid",
            "client_secret": "sec",
            "refresh_token": "rt-bob",
        },
    ).json()
    assert Api(server.url, ok["access_token"]).ok("GET", "/profile")["emailAddress"] == (
        "bob@example.com"
    )
    wrong_secret = requests.post(
        server.token_url,
        data={
            "grant_type": "refresh_token",
            "client_id": "cid",
            "client_secret": "nope",
            "refresh_token": "rt-bob",
        },
    )
    assert wrong_secret.status_code == 401 and wrong_secret.json()["error"] == "invalid_client"
    unknown = requests.post(
        server.token_url,
        data={
            "grant_type": "refresh_token",
            "client_id": "cid",
            "client_secret": "sec",
            "refresh_token": "rt-unknown",
        },
    )
    assert unknown.status_code == 400 and unknown.json()["error"] == "invalid_grant"


def test_service_account_with_domain_wide_delegation(server):
    info = service_account_info(server.token_url)
    admin(server, "auth", {"service_accounts": [info]})
    for user in ("alice@example.com", "bob@example.com"):
        creds = service_account.Credentials.from_service_account_info(
            info, scopes=["https://www.googleapis.com/auth/gmail.readonly"], subject=user
        )
        creds.refresh(GoogleRequest())
        api = Api(server.url, creds.token)
        assert api.ok("GET", "/profile")["emailAddress"] == user
        assert api.call("POST", "/labels", json={"name": "x"}).status_code == 403
    # delegation to a mailbox that does not exist is refused at the token endpoint
    stranger = service_account.Credentials.from_service_account_info(
        info, scopes=["https://mail.google.com/"], subject="mallory@example.com"
    )
    with pytest.raises(RefreshError) as caught:
        stranger.refresh(GoogleRequest())
    assert "invalid_grant" in str(caught.value)
    # a key the emulator was never told about fails signature checks
    forged = dict(info, private_key=service_account_info()["private_key"])
    creds = service_account.Credentials.from_service_account_info(
        forged, scopes=["https://mail.google.com/"], subject="alice@example.com"
    )
    with pytest.raises(RefreshError) as caught:
        creds.refresh(GoogleRequest())
    assert "invalid_grant" in str(caught.value)
    assert forged["private_key"][100:140] not in str(caught.value)


def test_user_id_other_than_me_is_delegation_denied(server, alice):
    assert alice.call("GET", "/profile").status_code == 200
    response = alice.call("GET", f"{server.url}/gmail/v1/users/bob@example.com/profile")
    assert response.status_code == 403


def test_authorization_code_grant_issues_refresh_token(server):
    body = requests.post(
        server.token_url,
        data={
            "grant_type": "authorization_code",
            "code": "user:bob@example.com",
            "client_id": "c",
            "client_secret": "s",
            "redirect_uri": "http://127.0.0.1:9/",
        },
    ).json()
    assert body["refresh_token"]
    again = _refresh(server, body["refresh_token"]).json()
    assert Api(server.url, again["access_token"]).ok("GET", "/profile")["emailAddress"] == (
        "bob@example.com"
    )
