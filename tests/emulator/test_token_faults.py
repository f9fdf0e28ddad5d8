"""Faults of the OAuth token endpoint (POST /token): what each looks like on the wire, seeded,
configured like the API faults, counted in /_emulator/stats.

Raw HTTP to the emulator (no gmail_core): the answers must keep Google's documented shape,
``{"error": ..., "error_description": ...}``, except the kinds that are not JSON by design.
"""

from __future__ import annotations

import time

import jwt
import pytest
import requests

from gmail_emulator.cli import build_parser, config_from_args
from gmail_emulator.faults import (
    FAULT_KINDS,
    TOKEN_DEFAULT_KINDS,
    TOKEN_FAULT_KINDS,
    FaultInjector,
    TokenFaultInjector,
)
from tests.conftest import admin, service_account_info

pytestmark = pytest.mark.timeout(120)

REFRESH = {"grant_type": "refresh_token", "client_id": "c", "client_secret": "s",
           "refresh_token": "r"}  # fmt: skip
JSON_ERRORS = {
    "500": (500, "internal_failure"),
    "503": (503, "temporarily_unavailable"),
    "429": (429, "rate_limit_exceeded"),
    "invalid_grant": (400, "invalid_grant"),
    "invalid_client": (401, "invalid_client"),
}


def _token_faults(server, kinds, rate: float = 1.0, **extra) -> dict:
    return admin(server, "config", {"token_fault_rate": rate, "token_fault_kinds": kinds, **extra})


def _post(server, form: dict, timeout: float = 10) -> requests.Response:
    return requests.post(server.token_url, data=form, timeout=timeout)


def _assertion(info: dict, subject: str, audience: str) -> str:
    now = int(time.time())
    claims = {"iss": info["client_email"], "sub": subject, "aud": audience,
              "scope": "https://mail.google.com/", "iat": now, "exp": now + 3600}  # fmt: skip
    return jwt.encode(claims, info["private_key"], algorithm="RS256",
                      headers={"kid": info["private_key_id"]})  # fmt: skip


@pytest.mark.parametrize("kind", sorted(JSON_ERRORS))
def test_error_kinds_answer_googles_json_shape_and_issue_no_token(server, kind):
    _token_faults(server, [kind])
    answer = _post(server, REFRESH)
    status, error = JSON_ERRORS[kind]
    assert answer.status_code == status
    assert answer.headers["Content-Type"].startswith("application/json")
    body = answer.json()
    assert set(body) == {"error", "error_description"} and body["error"] == error
    assert body["error_description"]
    assert (answer.headers.get("Retry-After") == "1") == (kind == "429")
    stats = admin(server, "stats")
    assert stats["token_grants"] == {}  # nothing was issued
    assert stats["token_requests"] == {"by_status": {str(status): 1}, "total": 1}
    assert stats["faults"]["by_method_and_kind"] == {f"token:{kind}": 1}
    assert stats["faults"]["token_injector"]["by_method"] == {"refresh_token": 1}


def test_invalid_grant_is_worded_for_the_grant(server):
    """A refresh token is 'expired or revoked'; a service-account assertion gets Google's
    clock-skew refusal, the one a machine with a wrong clock sees."""
    info = service_account_info(token_uri=server.token_url)
    admin(server, "auth", {"service_accounts": [info]})
    _token_faults(server, ["invalid_grant"])
    assert _post(server, REFRESH).json()["error_description"] == (
        "Token has been expired or revoked."
    )
    assertion = _assertion(info, "alice@example.com", server.token_url)
    answer = _post(server, {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
                            "assertion": assertion})  # fmt: skip
    assert answer.status_code == 400
    assert answer.json()["error_description"].startswith(
        "Invalid JWT: Token must be a short-lived token"
    )
    code = {"grant_type": "authorization_code", "code": "user:alice@example.com",
            "client_id": "c", "redirect_uri": "http://localhost"}  # fmt: skip
    assert _post(server, code).json() == {
        "error": "invalid_grant",
        "error_description": "Malformed auth code.",
    }


def test_not_json_and_connection_kinds(server):
    _token_faults(server, ["html_502"])
    answer = _post(server, REFRESH)
    assert answer.status_code == 502 and answer.headers["Content-Type"].startswith("text/html")
    with pytest.raises(ValueError):
        answer.json()

    _token_faults(server, ["truncated_json"])
    answer = _post(server, REFRESH)
    assert answer.status_code == 200 and len(answer.content) == int(
        answer.headers["Content-Length"]
    )
    with pytest.raises(ValueError):
        answer.json()

    _token_faults(server, ["reset"])
    with pytest.raises(requests.ConnectionError):
        _post(server, REFRESH)

    _token_faults(server, ["stall"], fault_stall_ms=3000)
    with pytest.raises(requests.exceptions.ReadTimeout):
        _post(server, REFRESH, timeout=0.3)
    _token_faults(server, ["stall"], fault_stall_ms=50)
    assert "access_token" in _post(server, REFRESH).json()  # held back, then answered

    stats = admin(server, "stats")
    assert stats["faults"]["token_injector"]["by_kind"] == {
        "html_502": 1, "truncated_json": 1, "reset": 1, "stall": 2}  # fmt: skip
    assert stats["token_requests"]["by_status"]["reset"] == 1
    # truncated_json and stall ran the grant: a token was issued, its answer spoilt
    assert stats["token_grants"] == {"refresh_token": 3}


def test_grants_filter_and_api_calls_are_untouched(server, alice):
    info = service_account_info(token_uri=server.token_url)
    admin(server, "auth", {"service_accounts": [info]})
    _token_faults(server, ["503"], token_fault_grants=["jwt_bearer"])
    assert _post(server, REFRESH).status_code == 200
    assertion = _assertion(info, "alice@example.com", server.token_url)
    jwt_form = {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
                "assertion": assertion}  # fmt: skip
    assert _post(server, jwt_form).status_code == 503
    assert alice.call("GET", "/profile").status_code == 200  # API calls have their own faults
    assert admin(server, "stats")["faults"]["injector"]["injected"] == 0


def test_token_faults_are_seeded_and_never_shift_the_api_faults():
    def sequence(tokens_between: bool) -> tuple[list, list]:
        api = FaultInjector(rate=0.3, kinds=FAULT_KINDS, seed=5)
        token = TokenFaultInjector(rate=0.3, kinds=TOKEN_FAULT_KINDS, seed=5)
        api_faults, token_faults = [], []
        for n in range(80):
            if tokens_between or n % 4 == 0:
                token_faults.append(token.pick("refresh_token"))
            api_faults.append(api.pick("gmail.users.messages.get"))
        return api_faults, token_faults

    api_a, token_a = sequence(True)
    api_b, token_b = sequence(False)
    assert api_a == api_b  # token requests draw from their own stream
    assert token_a == sequence(True)[1]  # same seed, same token faults
    assert token_b == token_a[: len(token_b)]
    assert any(token_a) and {f.kind for f in token_a if f} <= set(TOKEN_FAULT_KINDS)
    # the token stream is not the API stream replayed
    assert [f and f.kind for f in token_a] != [f and f.kind for f in api_a]
    key = TokenFaultInjector(rate=0.25, kinds=["reset"], seed=9, stall_ms=10).replay_key()
    assert TokenFaultInjector(**key).replay_key() == key


def test_config_and_cli_set_token_faults_all_or_nothing(server):
    replay = _token_faults(server, ["reset", "html_502"], rate=0.25, fault_seed=4)["token_replay"]
    assert (replay["rate"], replay["kinds"], replay["seed"]) == (0.25, ["reset", "html_502"], 4)
    url = f"{server.url}/_emulator/config"
    for bad in ({"token_fault_kinds": ["stall", "bogus"]}, {"token_fault_kinds": ["403"]},
                {"token_fault_rate": 1.5}, {"token_fault_kinds": []}):  # fmt: skip
        refused = requests.post(url, json={**bad, "fault_rate": 0.5}, timeout=10)
        assert refused.status_code == 400, bad
    after = admin(server, "config", {"latency_ms": 0})  # the refused changes did not stay
    assert after["token_replay"]["kinds"] == ["reset", "html_502"]
    assert after["replay"]["rate"] == 0.0

    args = build_parser().parse_args(
        ["--token-fault-rate", "0.3", "--token-fault-kinds", "503,reset,invalid_grant",
         "--token-fault-grants", "refresh_token"]
    )  # fmt: skip
    config = config_from_args(args)
    assert config.token_fault_rate == 0.3
    assert config.token_fault_kinds == ("503", "reset", "invalid_grant")
    assert config.token_fault_grants == ("refresh_token",)
    assert config_from_args(build_parser().parse_args([])).token_fault_kinds == TOKEN_DEFAULT_KINDS
    for argv in (["--token-fault-kinds", "bogus"], ["--token-fault-rate", "2"]):
        with pytest.raises(SystemExit):
            config_from_args(build_parser().parse_args(argv))
