"""Broken answers never escape as raw requests/JSON exceptions, and are retried only when safe.

Every test talks HTTP to the emulator with the answer-spoiling faults (close_mid_body,
truncated_json, garbled_batch, stall) on plain calls, on batch parts and on the outer batch
request.
"""

from __future__ import annotations

import base64
import socket

import pytest

from gmail_core.batch import MALFORMED, BatchPart
from gmail_core.client import MailboxClient, clients_from_config
from gmail_core.errors import (
    ApiError,
    GmailConnectorError,
    MalformedResponse,
    NotSent,
    TransientNetworkError,
)
from gmail_core.metrics import Metrics
from gmail_core.transport import RetryPolicy
from tests.conftest import admin
from tests.core.clients import fast_client

pytestmark = pytest.mark.timeout(120)

SPOILERS = ["close_mid_body", "truncated_json", "garbled_batch"]
GET = "gmail.users.messages.get"
SEND = "gmail.users.messages.send"


def _client(server, tries: int = 8, **settings) -> MailboxClient:
    return fast_client(server, tries=tries, max_wait_s=0.05, timeout_s=10, **settings)


def _faults(server, rate: float, kinds: list[str], methods: list[str], seed: int = 3) -> None:
    admin(
        server,
        "config",
        {"fault_rate": rate, "fault_kinds": kinds, "fault_methods": methods, "fault_seed": seed},
    )


def _clean(server) -> None:
    admin(server, "config", {"fault_rate": 0, "fault_methods": []})


def _expected(client: MailboxClient, n: int) -> dict[str, dict]:
    refs = client.call("messages.list", "GET", "messages", params={"maxResults": n})["messages"]
    return {r["id"]: client.call("messages.get", "GET", f"messages/{r['id']}") for r in refs}


def _retries(client: MailboxClient, operation: str) -> int:
    summary = client.metrics.summary()["operations"].get(operation, {})
    return sum(summary.get("retries", {}).values())


def test_call_recovers_from_spoiled_answers(server):
    client = _client(server)
    expected = _expected(client, 12)
    _faults(server, 0.5, SPOILERS, ["messages.get"])
    for mid, message in expected.items():
        assert client.call("messages.get", "GET", f"messages/{mid}") == message
    _clean(server)
    injected = admin(server, "stats")["faults"]["injector"]["by_kind"]
    assert set(injected) == set(SPOILERS)
    assert _retries(client, "messages.get") == sum(injected.values())


@pytest.mark.parametrize("kind", SPOILERS)
def test_call_gives_up_with_a_connector_error(server, kind):
    client = _client(server, tries=3)
    _faults(server, 1.0, [kind], ["getProfile"])
    with pytest.raises(MalformedResponse) as caught:
        client.call("getProfile", "GET", "profile")
    assert isinstance(caught.value, TransientNetworkError) and "getProfile" in str(caught.value)
    assert caught.value.__cause__ is None  # no raw requests/JSON exception chained
    stats = admin(server, "stats")
    assert stats["calls"]["by_method"]["gmail.users.getProfile"] == 3  # max_tries, no more


@pytest.mark.parametrize("kind", ["close_mid_body", "truncated_json", "lost_response"])
def test_send_with_a_broken_answer_is_not_repeated(server, kind):
    client = _client(server)
    raw = base64.urlsafe_b64encode(b"To: bob@example.com\r\nSubject: once\r\n\r\nhi").decode()
    _faults(server, 1.0, [kind], ["messages.send"])
    with pytest.raises(TransientNetworkError) as caught:  # "may have run": reconcile
        client.call("messages.send", "POST", "messages/send", body={"raw": raw}, idempotent=False)
    assert not isinstance(caught.value, NotSent)
    stats = admin(server, "stats")
    assert stats["sends"]["total"] == 1 and stats["calls"]["by_method"][SEND] == 1


def test_send_refused_unexecuted_is_still_retried(server):
    client = _client(server)
    raw = base64.urlsafe_b64encode(b"To: bob@example.com\r\nSubject: 429\r\n\r\nhi").decode()
    _faults(server, 0.5, ["429"], ["messages.send"], seed=1)
    answer = client.call(
        "messages.send", "POST", "messages/send", body={"raw": raw}, idempotent=False
    )
    assert answer["id"]
    stats = admin(server, "stats")
    assert stats["faults"]["total"] >= 1 and stats["sends"]["total"] == 1


def test_send_that_never_connected_is_retried_as_not_sent():
    with socket.socket() as sock:  # a port nobody listens on: connection refused
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = {
        "oauth_credentials": {"client_id": "c", "client_secret": "s", "refresh_token": "r"},
        "api_url": f"http://127.0.0.1:{port}",
        "quota_units_per_second": 0,
    }
    (client,) = clients_from_config(config, ["https://mail.google.com/"], Metrics())
    client.auth.token = lambda: "token"  # no token endpoint either: only the API call matters
    client.transport.policy = RetryPolicy(max_tries=3, max_time_s=30, base_s=0.01, max_wait_s=0.02)
    with pytest.raises(NotSent):
        client.call("messages.send", "POST", "messages/send", body={"raw": ""}, idempotent=False)
    assert _retries(client, "messages.send") == 2  # refused before running: safe to repeat


def test_batch_recovers_from_spoiled_parts_and_outer_answers(server):
    client = _client(server, batch_size=10)
    expected = _expected(client, 25)
    parts = [BatchPart("messages.get", "GET", f"messages/{mid}", key=mid) for mid in expected]
    _faults(server, 0.3, SPOILERS, ["messages.get", "batch"], seed=7)
    results = client.batch(parts)
    _clean(server)
    assert [r.status for r in results] == [200] * len(parts)
    assert {r.part.key: r.body for r in results} == expected
    faults = admin(server, "stats")["faults"]["by_method_and_kind"]
    assert any(key.startswith("batch:") for key in faults)  # the outer request was hit
    assert any(key.startswith(GET) for key in faults)  # and so were parts


def test_batch_with_every_part_garbled_retries_the_chunk_then_fails(server):
    client = _client(server, tries=3)
    mid = next(iter(_expected(client, 1)))
    parts = [BatchPart("messages.get", "GET", f"messages/{mid}")] * 2
    _faults(server, 1.0, ["garbled_batch"], ["batch"])
    results = client.batch(parts)
    assert [(r.status, r.error.reason) for r in results] == [(502, MALFORMED)] * 2
    assert all(isinstance(r.error, ApiError) and r.error.retryable for r in results)
    assert admin(server, "stats")["batch"]["requests"] == 3  # the whole chunk, max_tries times


def test_batch_answer_that_is_not_multipart_is_retried_whole(server):
    client = _client(server, tries=3)
    mid = next(iter(_expected(client, 1)))
    _faults(server, 1.0, ["garbled_batch"], ["messages.get"])
    # a plain call's garbled answer is not multipart: the transport retries it, then gives up
    with pytest.raises(MalformedResponse):
        client.call("messages.get", "GET", f"messages/{mid}")
    assert admin(server, "stats")["calls"]["by_method"][GET] == 4


@pytest.mark.parametrize("kind", ["close_mid_body", "truncated_json"])
def test_outer_batch_cut_short_fails_with_a_connector_error(server, kind):
    client = _client(server, tries=3)
    mid = next(iter(_expected(client, 1)))
    _faults(server, 1.0, [kind], ["batch"])
    parts = [BatchPart("messages.get", "GET", f"messages/{mid}")] * 3
    try:
        results = client.batch(parts)
    except GmailConnectorError as error:  # cut off mid-body: the request failed 3 times
        assert kind == "close_mid_body" and isinstance(error, MalformedResponse)
    else:  # truncated: the parts before the cut were read, the rest were retried and failed
        assert kind == "truncated_json" and results[0].ok
        assert [r.error.reason for r in results[1:]] == [MALFORMED, MALFORMED]
    assert admin(server, "stats")["batch"]["requests"] == 3


@pytest.mark.parametrize("kind", SPOILERS)
def test_batch_part_that_never_reads_ends_as_a_part_error(server, kind):
    client = _client(server, tries=3)
    mid = next(iter(_expected(client, 1)))
    admin(server, "stats/reset", {})
    _faults(server, 1.0, [kind], ["messages.get"])
    broken, fine = client.batch(
        [
            BatchPart("messages.get", "GET", f"messages/{mid}"),
            BatchPart("getProfile", "GET", "profile"),
        ]
    )
    assert fine.ok and fine.body["emailAddress"] == "alice@example.com"
    assert not broken.ok and isinstance(broken.error, ApiError)
    assert broken.status == 502 and broken.error.reason == MALFORMED and broken.error.retryable
    stats = admin(server, "stats")
    assert stats["calls"]["by_method"][GET] == 3  # the broken part alone was retried
    assert stats["calls"]["by_method"]["gmail.users.getProfile"] == 1


def test_stall_becomes_a_retry_not_a_hang(server):
    client = _client(server, tries=4)
    client.transport.policy = RetryPolicy(
        max_tries=4, max_time_s=60, base_s=0.01, max_wait_s=0.05, timeout_s=0.5
    )
    _faults(server, 0.5, ["stall"], ["getProfile"], seed=2)  # 30 s stalls (the default)
    for _ in range(4):
        assert client.call("getProfile", "GET", "profile")["emailAddress"] == "alice@example.com"
    stalls = admin(server, "stats")["faults"]["injector"]["by_kind"].get("stall", 0)
    assert stalls >= 1 and _retries(client, "getProfile") == stalls
