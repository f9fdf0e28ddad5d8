"""gmail_core against a failing token endpoint (the emulator's token faults): what is retried,
what is not, and what the error says.

Transient failures (5xx, 429, an HTML 502, a reset, a stalled or cut-off answer) are
``TokenUnavailable``: a ``NotSent``, retried by the transport even for a send, since no Gmail
request left without a token. Refusals (invalid_grant, invalid_client) are ``AuthError``,
never retried, and name what to fix.
"""

from __future__ import annotations

import threading
import time

import pytest

from gmail_core import auth
from gmail_core.client import MailboxClient, clients_from_config
from gmail_core.errors import AuthError, NotSent, TokenUnavailable
from gmail_core.metrics import Metrics
from gmail_core.transport import RetryPolicy, is_refused_before_running, is_retryable
from tests.conftest import admin, service_account_info

pytestmark = pytest.mark.timeout(120)

CLIENT_SECRET = "token-faults-client-secret"
REFRESH_TOKEN = "1//token-faults-refresh-secret"
ALICE = "alice@example.com"
TRANSIENT = ("500", "503", "429", "html_502", "reset", "truncated_json", "stall")


def _config(server, **extra) -> dict:
    return {
        "oauth_credentials": {
            "client_id": "c",
            "client_secret": CLIENT_SECRET,
            "refresh_token": REFRESH_TOKEN,
        },  # fmt: skip
        "api_url": server.url,
        "token_url": server.token_url,
        "quota_units_per_second": 0,
        "user_id": ALICE,
        **extra,
    }


def _client(server, tries: int = 4, **extra) -> MailboxClient:
    (client,) = clients_from_config(_config(server, **extra), [auth.SCOPE_READONLY], Metrics())
    client.transport.policy = RetryPolicy(max_tries=tries, base_s=0.01, max_wait_s=0.05,
                                          timeout_s=10)  # fmt: skip
    client.auth.timeout_s = 0.5  # a stalled token answer costs half a second
    return client


def _token_faults(server, kinds, rate: float = 1.0, **extra) -> None:
    admin(server, "config", {"token_fault_rate": rate, "token_fault_kinds": list(kinds),
                             "fault_stall_ms": 3000, **extra})  # fmt: skip


def _token_requests(server) -> int:
    return admin(server, "stats")["token_requests"]["total"]


def _no_secret(text: str) -> None:
    assert CLIENT_SECRET not in text and REFRESH_TOKEN not in text and "ya29." not in text


@pytest.mark.parametrize("kind", TRANSIENT)
def test_a_transient_token_failure_is_token_unavailable_naming_the_mailbox(server, kind):
    _token_faults(server, [kind])
    client = _client(server)
    with pytest.raises(TokenUnavailable) as caught:
        client.auth.token()
    error = caught.value
    assert isinstance(error, NotSent) and is_retryable(error) and is_refused_before_running(error)
    text = str(error)
    assert ALICE in text and "rerun later" in text and "`token_url`" in text
    _no_secret(text)
    assert error.__cause__ is None and error.__suppress_context__


@pytest.mark.parametrize("kind", TRANSIENT)
def test_a_call_rides_out_transient_token_failures(server, kind):
    """Every kind once in a row (seeded, 50%): the call succeeds after retries."""
    _token_faults(server, [kind], rate=0.5, fault_seed=3)
    client = _client(server, tries=8)
    assert client.call("getProfile", "GET", "profile")["emailAddress"] == ALICE
    stats = admin(server, "stats")
    assert stats["token_grants"]["refresh_token"] >= 1
    assert stats["faults"]["token_injector"]["injected"] >= 1, "seed 3 must fault the first"


def test_a_send_is_retried_after_a_token_failure_and_sent_once(server):
    """A send cannot be repeated after a broken answer, but no request left without a
    token: it used to give up at once with TransientNetworkError (outcome "unknown")."""
    _token_faults(server, ["reset"], rate=0.5, fault_seed=3)
    client = _client(server, tries=8)
    raw = "RnJvbTogYWxpY2VAZXhhbXBsZS5jb20NClRvOiBib2JAZXhhbXBsZS5jb20NClN1YmplY3Q6IHgNCg0KeA"
    answer = client.call("messages.send", "POST", "messages/send", body={"raw": raw},
                         idempotent=False)  # fmt: skip
    assert answer["id"]
    stats = admin(server, "stats")
    assert stats["sends"]["total"] == 1
    assert stats["faults"]["token_injector"]["by_kind"]["reset"] >= 1


@pytest.mark.parametrize(
    ("kind", "fragment", "setting"),
    [
        ("invalid_grant", "was expired or revoked", "oauth_credentials.refresh_token"),
        ("invalid_client", "Google refused the OAuth client", "oauth_credentials.client_id"),
    ],
)
def test_refusals_are_not_retried_and_name_the_setting(server, kind, fragment, setting):
    _token_faults(server, [kind])
    client = _client(server, tries=8)
    with pytest.raises(AuthError) as caught:
        client.call("getProfile", "GET", "profile")
    assert fragment in str(caught.value) and caught.value.setting == setting
    _no_secret(str(caught.value))
    assert _token_requests(server) == 1  # asked once: retrying cannot help


def test_permanent_503_gives_up_within_the_retry_policy(server):
    """google-auth retries a 5xx twice itself (1 s, then 2 s); the transport's policy then
    bounds the whole: tries x 3 token requests."""
    _token_faults(server, ["503"])
    client = _client(server, tries=3)
    started = time.monotonic()
    with pytest.raises(TokenUnavailable) as caught:
        client.call("getProfile", "GET", "profile")
    elapsed = time.monotonic() - started
    assert "HTTP 503 temporarily_unavailable" in str(caught.value)
    assert _token_requests(server) == 3 * 3
    assert elapsed < 3 * 3.5 + 10, elapsed  # generous: a shared machine


def test_stalled_token_answer_times_out_like_a_call(server):
    """google-auth's own token timeout is 120 s; the connection's request_timeout_s used
    not to reach token requests, so a stalled token endpoint held a run that long."""
    (client,) = clients_from_config(
        _config(server, request_timeout_s=1), [auth.SCOPE_READONLY], Metrics()
    )
    assert client.auth.timeout_s == 1
    _token_faults(server, ["stall"], fault_stall_ms=30000)
    started = time.monotonic()
    with pytest.raises(TokenUnavailable) as caught:
        client.auth.token()
    assert time.monotonic() - started < 15
    assert "no answer within 1 s" in str(caught.value)


def test_threads_queued_behind_a_failing_refresh_share_its_failure(server):
    """Without sharing, each of the queued threads asked the failing endpoint again the
    moment the previous one gave up: no backoff, one request per thread."""
    _token_faults(server, ["stall"], fault_stall_ms=30000)
    client = _client(server)
    client.auth.timeout_s = 1.5
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def worker() -> None:
        barrier.wait()
        try:
            client.auth.token()
        except TokenUnavailable as error:
            errors.append(error)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(errors) == 8 and all(ALICE in str(e) for e in errors)
    assert _token_requests(server) <= 2  # one, or two if a thread was slow to queue
    _token_faults(server, ["503"], rate=0.0)
    assert client.auth.token()  # the next attempt asks again


def test_a_batch_part_401_refreshes_inside_the_retry(server):
    """A 401 on batch parts used to refresh outside any retry: a failing token endpoint at
    that moment ended the run. Now the token is marked stale and the retried batch
    refreshes it under the retry policy."""
    from gmail_core.batch import BatchPart

    client = _client(server, tries=8)
    listed = client.call("messages.list", "GET", "messages", params={"maxResults": 2})
    ids = [m["id"] for m in listed["messages"]]
    admin(server, "auth/revoke", {"refresh_token": client.auth.token()})  # kills the access
    _token_faults(server, ["reset", "503"], rate=0.5, fault_seed=3)
    results = client.batch([BatchPart("messages.get", "GET", f"messages/{i}") for i in ids])
    assert [r.body["id"] for r in results] == ids
    assert admin(server, "stats")["faults"]["token_injector"]["injected"] >= 1


# -- service account -------------------------------------------------------------------------


def _sa_client(server) -> MailboxClient:
    info = service_account_info(token_uri=server.token_url)
    admin(server, "auth", {"service_accounts": [info]})
    config = {"service_account_info": info, "user_ids": [ALICE], "api_url": server.url,
              "token_url": server.token_url, "quota_units_per_second": 0}  # fmt: skip
    (client,) = clients_from_config(config, [auth.SCOPE_READONLY], Metrics())
    return client


def test_service_account_clock_skew_says_fix_the_clock(server):
    """Google's "Invalid JWT: Token must be a short-lived token" means this machine's clock
    is off; it used to be explained as a delegation problem (check the Admin console)."""
    client = _sa_client(server)
    _token_faults(server, ["invalid_grant"], token_fault_grants=["jwt_bearer"])
    with pytest.raises(AuthError) as caught:
        client.call("getProfile", "GET", "profile")
    text = str(caught.value)
    assert ALICE in text and "clock" in text and "NTP" in text and "UTC" in text
    assert "delegation for" not in text and "private_key" not in text
    assert _token_requests(server) == 1


def test_service_account_assertion_really_skewed(server, monkeypatch):
    """Not an injected fault: the assertion is signed 2 hours in the future, as on a machine
    whose clock is ahead, and the emulator refuses it as Google does."""
    import datetime

    from google.auth import _helpers

    real = _helpers.utcnow
    monkeypatch.setattr(_helpers, "utcnow", lambda: real() + datetime.timedelta(hours=2))
    client = _sa_client(server)
    with pytest.raises(AuthError) as caught:
        client.auth.token()
    assert "synchronise the clock" in str(caught.value)


def test_service_account_transient_failure_is_retried(server):
    client = _sa_client(server)
    client.transport.policy = RetryPolicy(max_tries=8, base_s=0.01, max_wait_s=0.05)
    _token_faults(server, ["html_502", "reset"], rate=0.5, fault_seed=3)
    assert client.call("getProfile", "GET", "profile")["emailAddress"] == ALICE
    assert admin(server, "stats")["faults"]["token_injector"]["by_method"]["jwt_bearer"] >= 1
