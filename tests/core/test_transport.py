"""The shared transport and batch client against the emulator: retries, hints, breaker."""

from __future__ import annotations

import json
import time

import pytest

from gmail_core.batch import BatchPart
from gmail_core.batch import loads as batch_loads
from gmail_core.breaker import MailboxBreaker
from gmail_core.client import MailboxClient
from gmail_core.errors import ApiError, CircuitOpenError
from gmail_core.transport import RetryPolicy, retry_after_seconds
from tests.conftest import admin
from tests.core.clients import fast_client

pytestmark = pytest.mark.timeout(120)


def _client(server, **settings) -> MailboxClient:
    return fast_client(server, max_time_s=30, max_wait_s=0.2, **settings)


def test_retries_transient_failures_then_succeeds(server):
    client = _client(server)
    client.transport.policy = RetryPolicy(max_tries=8, max_time_s=30, base_s=0.01, max_wait_s=0.2)
    admin(
        server,
        "config",
        {"fault_rate": 0.3, "fault_seed": 8, "fault_kinds": ["429", "500", "503", "reset"]},
    )
    for _ in range(20):
        assert client.call("getProfile", "GET", "profile")["emailAddress"] == "alice@example.com"
    admin(server, "config", {"fault_rate": 0})
    summary = client.metrics.summary()
    assert sum(summary["operations"]["getProfile"]["retries"].values()) > 0


def test_other_4xx_fail_at_once_with_gmails_message(server):
    client = _client(server)
    admin(server, "stats/reset", {})
    with pytest.raises(ApiError) as caught:
        client.call("messages.get", "GET", "messages/ffffffffffffffff")
    assert caught.value.status == 404 and "Requested entity was not found." in str(caught.value)
    assert admin(server, "stats")["calls"]["by_method"]["gmail.users.messages.get"] == 1


def test_rate_limit_message_time_is_honoured(server):
    client = _client(server)
    admin(server, "config", {"quota_units_per_second": 6})
    started = time.monotonic()
    for _ in range(3):
        client.call("messages.list", "GET", "messages", params={"maxResults": 1})
    # 3 x 5 units at 6 units/s server-side: the client had to wait out two windows
    assert time.monotonic() - started >= 1.5
    admin(server, "config", {"quota_units_per_second": 0})


def test_retry_after_parsing():
    assert retry_after_seconds({"Retry-After": "7"}, "") == 7
    message = "User-rate limit exceeded.  Retry after 2030-01-01T00:00:10.000Z"
    now = 1893456000.0  # 2030-01-01T00:00:00Z
    assert retry_after_seconds({}, message, now=now) == pytest.approx(10)
    assert retry_after_seconds({}, "no hint") is None


def test_breaker_opens_fails_fast_and_half_opens(server):
    client = _client(server)
    client.transport.policy = RetryPolicy(max_tries=2, max_time_s=5, base_s=0.01, max_wait_s=0.02)
    client.breaker = client.transport.breaker = MailboxBreaker(
        "alice@example.com", reset_timeout_s=0.5
    )
    admin(
        server,
        "config",
        {"fault_rate": 1.0, "fault_kinds": ["503"], "fault_methods": ["getProfile"]},
    )
    for _ in range(5):
        with pytest.raises(ApiError):
            client.call("getProfile", "GET", "profile")
    calls_before = admin(server, "stats")["calls"]["by_method"]["gmail.users.getProfile"]
    with pytest.raises(CircuitOpenError) as caught:
        client.call("getProfile", "GET", "profile")
    assert "alice@example.com" in str(caught.value)
    assert admin(server, "stats")["calls"]["by_method"]["gmail.users.getProfile"] == calls_before
    admin(server, "config", {"fault_rate": 0})
    time.sleep(0.6)
    assert client.call("getProfile", "GET", "profile")["emailAddress"] == "alice@example.com"
    assert client.breaker.state == "closed"


def test_batch_retries_only_failed_parts(server):
    client = _client(server)
    ids = [
        m["id"]
        for m in client.call("messages.list", "GET", "messages", params={"maxResults": 30})[
            "messages"
        ]
    ]
    admin(server, "stats/reset", {})
    admin(
        server,
        "config",
        {
            "fault_rate": 0.3,
            "fault_seed": 4,
            "fault_kinds": ["429", "503"],
            "fault_methods": ["messages.get"],
        },
    )
    parts = [
        BatchPart("messages.get", "GET", f"messages/{i}", {"format": "minimal"}, key=i) for i in ids
    ]
    parts.append(BatchPart("messages.get", "GET", "messages/ffffffffffffffff", key="gone"))
    results = client.batch(parts)
    admin(server, "config", {"fault_rate": 0})
    assert [r.body["id"] for r in results[:-1]] == ids
    assert results[-1].status == 404 and not results[-1].ok
    stats = admin(server, "stats")
    faults = stats["faults"]["total"]
    assert faults > 0
    # every part succeeded once; only faulted parts were sent again
    assert stats["batch"]["parts"] == len(parts) + faults


def test_batch_chunks_respect_size_and_quota_budget(server):
    client = _client(server, quota_units_per_second=100, batch_size=50)
    parts = [BatchPart("messages.get", "GET", f"messages/{n:016x}") for n in range(45)]
    chunks = client.batcher.chunks(parts)
    # the governor's real budget: 100 u/s x 1 s window x 0.96 safety = 96 units = 19 gets
    assert client.governor.window_budget() == pytest.approx(96)
    assert [len(c) for c in chunks] == [19, 19, 7]
    client.governor.throttled(0)  # Gmail said "rate limit": the effective rate drops to 70%
    assert client.governor.window_budget() == pytest.approx(96 * 0.7)
    assert [len(c) for c in client.batcher.chunks(parts)] == [13, 13, 13, 6]


@pytest.mark.parametrize(
    "body",
    [
        b'{"id": "a", "n": 123456789012345678901234567890, "x": [1.5, -0, "\\u00e9"]}',
        b'{"a": NaN, "b": Infinity}',  # json.loads reads these; msgspec does not
        b'{"s": "\\ud800"}',  # a lone surrogate
        b'\xef\xbb\xbf{"bom": 1}',
        '{"utf16": 1}'.encode("utf-16"),
        b'{"a": 1, "a": 2}',
    ],
)
def test_batch_part_json_is_read_exactly_as_json_loads(body):
    want = json.loads(body)
    got = batch_loads(body)
    assert repr(got) == repr(want)  # repr: NaN != NaN


@pytest.mark.parametrize("body", [b'{"cut": "off', b"", b"[1,", b"\xff"])
def test_batch_part_json_errors_are_value_errors(body):
    with pytest.raises(ValueError):
        batch_loads(body)
