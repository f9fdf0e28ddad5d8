"""gmail_core.auth against the emulator's real token endpoint: refresh, expiry, revocation,
service-account delegation, and the settings errors a user sees."""

from __future__ import annotations

import json
import logging
import threading
import time

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from gmail_core import auth
from gmail_core.errors import AuthError, ConfigError, TransientNetworkError
from gmail_emulator import EmulatorConfig, start_emulator

pytestmark = pytest.mark.timeout(120)

CLIENT_SECRET = "client-secret-value-xyz"
USERS = ["alice@example.com", "bob@example.com"]


@pytest.fixture
def server():
    server = start_emulator(EmulatorConfig(users=USERS, messages=5, quota_units_per_second=0))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def sa_info() -> dict:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return {
        "type": "service_account",
        "project_id": "demo",
        "private_key_id": "kid-1",
        "private_key": pem,
        "client_email": "tap@demo.iam.gserviceaccount.com",
        "client_id": "1234567890",
        "token_uri": auth.DEFAULT_TOKEN_URL,
    }


def _admin(server, path: str, payload: dict) -> None:
    requests.post(f"{server.url}/_emulator/{path}", json=payload, timeout=30).raise_for_status()


def _profile(server, token: str) -> requests.Response:
    return requests.get(
        f"{server.url}/gmail/v1/users/me/profile",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )


def _oauth(server, refresh_token: str = "1//refresh-secret-abc", **kwargs) -> auth.MailboxAuth:
    return auth.oauth_user_auth(
        "client-id",
        CLIENT_SECRET,
        refresh_token,
        token_url=server.token_url,
        scopes=[auth.SCOPE_READONLY],
        **kwargs,
    )


def _oauth_config(server, **extra) -> dict:
    return {
        "oauth_credentials": {
            "client_id": "client-id",
            "client_secret": CLIENT_SECRET,
            "refresh_token": "1//refresh-secret-abc",
        },
        "token_url": server.token_url,
        **extra,
    }


# -- OAuth refresh token ------------------------------------------------------------------


def test_refresh_obtains_a_working_token_and_caches_it(server, caplog):
    caplog.set_level(logging.DEBUG)
    credential = _oauth(server)
    token = credential.token()
    assert _profile(server, token).json()["emailAddress"] == "alice@example.com"
    assert credential.token() == token and credential.refreshes == 1
    assert credential.granted_scopes() == {auth.SCOPE_READONLY}
    assert credential.mailbox is None and credential.user_id == "me"
    for text in (repr(credential), caplog.text):
        assert "refresh-secret" not in text and CLIENT_SECRET not in text and token not in text


def test_proactive_refresh_before_and_after_expiry(server):
    _admin(server, "config", {"token_ttl": 2})
    credential = _oauth(server)
    first = credential.token()
    assert credential.token() == first  # fresh: no refresh
    time.sleep(1.1)  # past half the lifetime: refreshed before Gmail would refuse it
    second = credential.token()
    assert second != first and credential.refreshes == 2
    time.sleep(2.2)
    assert _profile(server, second).status_code == 401  # the old one really expired
    third = credential.token()
    assert third != second
    assert _profile(server, third).status_code == 200


def test_force_refresh_replaces_the_token_once(server):
    credential = _oauth(server)
    first = credential.token()
    second = credential.force_refresh()
    assert second != first and credential.refreshes == 2
    assert _profile(server, second).status_code == 200
    # a thread reporting the 401 of an already-replaced token does not refresh again
    assert credential.force_refresh(rejected=first) == second and credential.refreshes == 2
    assert credential.force_refresh(rejected=second) != second and credential.refreshes == 3


def test_concurrent_callers_share_one_refresh(server):
    credential = _oauth(server)
    barrier = threading.Barrier(8)
    tokens: list[str] = []

    def worker():
        barrier.wait()
        tokens.append(credential.token())

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(tokens)) == 1 and credential.refreshes == 1


def test_revoked_refresh_token_names_the_setting_and_hides_the_token(server, caplog):
    caplog.set_level(logging.DEBUG)
    refresh_token = "1//to-be-revoked-secret"
    credential = _oauth(server, refresh_token)
    credential.token()
    _admin(server, "auth/revoke", {"refresh_token": refresh_token})
    with pytest.raises(AuthError) as caught:
        credential.force_refresh()
    error = caught.value
    assert error.setting == "oauth_credentials.refresh_token"
    text = str(error)
    assert "expired or revoked" in text and "gmail-auth" in text
    assert error.__cause__ is None and error.__suppress_context__
    for shown in (text, repr(error), caplog.text):
        assert refresh_token not in shown and CLIENT_SECRET not in shown


def test_wrong_client_secret_names_the_client_settings(server):
    _admin(
        server,
        "auth",
        {
            "clients": [{"client_id": "client-id", "client_secret": "the-right-one"}],
            "refresh_tokens": [
                {"refresh_token": "rt-bob", "user": "bob@example.com", "client_id": "client-id"}
            ],
        },
    )
    with pytest.raises(AuthError) as caught:
        _oauth(server, "rt-bob").token()
    assert caught.value.setting == "oauth_credentials.client_id"
    assert CLIENT_SECRET not in str(caught.value) and "rt-bob" not in str(caught.value)
    good = auth.oauth_user_auth("client-id", "the-right-one", "rt-bob", server.token_url)
    assert _profile(server, good.token()).json()["emailAddress"] == "bob@example.com"


def test_unreachable_token_endpoint_is_transient(server):
    credential = auth.oauth_user_auth(
        "client-id", CLIENT_SECRET, "1//refresh-secret-abc", "http://127.0.0.1:9/token"
    )
    with pytest.raises(TransientNetworkError) as caught:
        credential.token()
    assert "refresh-secret" not in str(caught.value) and CLIENT_SECRET not in str(caught.value)


def test_wrong_token_url_names_token_url(server):
    credential = auth.oauth_user_auth(
        "client-id", CLIENT_SECRET, "1//refresh-secret-abc", f"{server.url}/not-a-token-url"
    )
    with pytest.raises(AuthError) as caught:
        credential.token()
    assert caught.value.setting == "token_url"


# -- service account with domain-wide delegation ---------------------------------------------


def test_service_account_reads_each_subjects_mailbox(server, sa_info):
    _admin(server, "auth", {"service_accounts": [sa_info]})
    config = {"service_account_info": sa_info, "user_ids": USERS, "token_url": server.token_url}
    credentials = auth.auths_from_config(config, [auth.SCOPE_READONLY])
    assert [c.mailbox for c in credentials] == USERS
    for credential in credentials:
        token = credential.token()
        assert _profile(server, token).json()["emailAddress"] == credential.mailbox
        assert credential.granted_scopes() == {auth.SCOPE_READONLY}
        assert sa_info["private_key"] not in repr(credential)


def test_service_account_from_json_string_file_and_escaped_newlines(server, sa_info, tmp_path):
    _admin(server, "auth", {"service_accounts": [sa_info]})
    path = tmp_path / "key.json"
    path.write_text(json.dumps(sa_info))
    escaped = dict(sa_info, private_key=sa_info["private_key"].replace("\n", "\\n"))
    forms = [
        {"service_account_info": json.dumps(sa_info)},
        {"service_account_info": str(path)},
        {"service_account_file": str(path)},
        {"service_account_info": escaped},
    ]
    for form in forms:
        config = {**form, "user_ids": "bob@example.com, ", "token_url": server.token_url}
        (credential,) = auth.auths_from_config(config, [auth.SCOPE_READONLY])
        assert _profile(server, credential.token()).json()["emailAddress"] == "bob@example.com"


def test_service_account_unknown_subject_points_at_delegation(server, sa_info):
    _admin(server, "auth", {"service_accounts": [sa_info]})
    credential = auth.service_account_auth(
        sa_info, "carol@example.com", [auth.SCOPE_READONLY], token_url=server.token_url
    )
    with pytest.raises(AuthError) as caught:
        credential.token()
    text = str(caught.value)
    assert caught.value.setting == "service_account_info"
    assert "domain-wide delegation for carol@example.com" in text and "Admin console" in text
    assert "PRIVATE KEY" not in text


def test_unregistered_service_account_key_is_an_auth_error(server, sa_info):
    credential = auth.service_account_auth(
        sa_info, "alice@example.com", [auth.SCOPE_READONLY], token_url=server.token_url
    )
    with pytest.raises(AuthError) as caught:
        credential.token()
    assert caught.value.setting == "service_account_info" and "new key" in str(caught.value)


# -- settings -------------------------------------------------------------------------------


def test_nested_and_flat_oauth_settings_and_user_id(server):
    flat = {
        "oauth_credentials.client_id": "client-id",
        "oauth_credentials.client_secret": CLIENT_SECRET,
        "oauth_credentials.refresh_token": "1//refresh-secret-abc",
        "token_url": server.token_url,
        "user_id": "alice@example.com",
    }
    for config in (_oauth_config(server), flat):
        (credential,) = auth.auths_from_config(config, [auth.SCOPE_READONLY])
        assert _profile(server, credential.token()).status_code == 200
    assert auth.auths_from_config(flat, [auth.SCOPE_READONLY])[0].mailbox == "alice@example.com"


def test_config_keeps_the_consented_scopes(server):
    """A full-scope grant asked for gmail.readonly would get invalid_scope: do not narrow."""
    _admin(server, "auth", {"refresh_tokens": [{"refresh_token": "rt-full", "user": USERS[1]}]})
    config = _oauth_config(server)
    config["oauth_credentials"]["refresh_token"] = "rt-full"
    (credential,) = auth.auths_from_config(config, [auth.SCOPE_READONLY])
    assert _profile(server, credential.token()).json()["emailAddress"] == USERS[1]
    assert credential.granted_scopes() == {auth.SCOPE_FULL}
    narrowed = _oauth(server, "rt-full")
    with pytest.raises(AuthError) as caught:
        narrowed.token()
    assert "scopes" in str(caught.value) and "rt-full" not in str(caught.value)


@pytest.mark.parametrize("field", ["client_id", "client_secret", "refresh_token"])
@pytest.mark.parametrize("form", ["nested", "flat"])
def test_missing_oauth_field_is_named(field, form):
    values = {"client_id": "id", "client_secret": CLIENT_SECRET, "refresh_token": "1//rt-secret"}
    del values[field]
    if form == "nested":
        config = {"oauth_credentials": values}
    else:
        config = {f"oauth_credentials.{k}": v for k, v in values.items()}
    with pytest.raises(ConfigError) as caught:
        auth.auths_from_config(config, [auth.SCOPE_READONLY])
    assert caught.value.setting == f"oauth_credentials.{field}"
    assert CLIENT_SECRET not in str(caught.value) and "rt-secret" not in str(caught.value)
    if field == "refresh_token":
        assert "gmail-auth --client-id" in str(caught.value)


def test_blank_value_counts_as_missing():
    config = {"oauth_credentials": {"client_id": "id", "client_secret": "s", "refresh_token": " "}}
    with pytest.raises(ConfigError) as caught:
        auth.auths_from_config(config, [auth.SCOPE_READONLY])
    assert caught.value.setting == "oauth_credentials.refresh_token"


def test_no_credentials_or_both_explain_the_choice(sa_info):
    with pytest.raises(ConfigError) as neither:
        auth.auths_from_config({"user_id": "me"}, [auth.SCOPE_READONLY])
    assert "service_account_info" in str(neither.value) and "oauth_credentials" in str(
        neither.value
    )
    both = {
        "oauth_credentials.refresh_token": "1//rt-secret",
        "service_account_info": sa_info,
        "user_ids": USERS,
    }
    with pytest.raises(ConfigError) as caught:
        auth.auths_from_config(both, [auth.SCOPE_READONLY])
    assert "both" in str(caught.value) and "rt-secret" not in str(caught.value)


def test_service_account_needs_user_ids(sa_info):
    for user_ids in (None, [], ""):
        config = {"service_account_info": sa_info, "user_ids": user_ids}
        with pytest.raises(ConfigError) as caught:
            auth.auths_from_config(config, [auth.SCOPE_READONLY])
        assert caught.value.setting == "user_ids"
        assert "domain-wide delegation needs the mailboxes to read" in str(caught.value)


def test_user_ids_with_oauth_is_refused(server):
    with pytest.raises(ConfigError) as caught:
        auth.auths_from_config(_oauth_config(server, user_ids=USERS), [auth.SCOPE_READONLY])
    assert caught.value.setting == "user_ids"


def test_bad_service_account_json_does_not_echo_the_key(sa_info):
    broken = json.dumps(sa_info)[:-20]  # truncated: the private key is in there
    with pytest.raises(ConfigError) as caught:
        auth.load_service_account_info(broken, None)
    text = str(caught.value)
    assert caught.value.setting == "service_account_info" and "not valid JSON" in text
    assert "PRIVATE KEY" not in text and sa_info["private_key"][40:80] not in text


@pytest.mark.parametrize(
    ("value", "file", "setting", "fragment"),
    [
        ('{"type": "authorized_user"}', None, "service_account_info", "OAuth user credentials"),
        ('{"client_email": "x@y"}', None, "service_account_info", "missing private_key"),
        ("not json and no such file", None, "service_account_info", "neither"),
        (None, "/nonexistent/key.json", "service_account_file", "cannot read"),
        ({"a": 1}, "/some/file.json", "service_account_info", "only one"),
        (42, None, "service_account_info", "JSON object or string"),
        (None, None, "service_account_info", "no service-account key"),
        ("[1, 2]", None, "service_account_info", "JSON object"),
    ],
)
def test_service_account_info_errors(value, file, setting, fragment):
    with pytest.raises(ConfigError) as caught:
        auth.load_service_account_info(value, file)
    assert caught.value.setting == setting and fragment in str(caught.value)


def test_unloadable_private_key_is_a_config_error(sa_info):
    broken = dict(
        sa_info, private_key="-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----"
    )
    with pytest.raises(ConfigError) as caught:
        auth.service_account_auth(broken, "alice@example.com", [auth.SCOPE_READONLY])
    assert "AAAA" not in str(caught.value) and caught.value.__cause__ is None
