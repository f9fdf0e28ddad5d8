"""Circuit breaker policy (over pybreaker) and run metrics."""

from __future__ import annotations

import json
import logging
import threading
import time

import pytest
import requests

from gmail_core.breaker import MailboxBreaker, counts_as_outage
from gmail_core.errors import ApiError, AuthError, CircuitOpenError, TransientNetworkError
from gmail_core.metrics import Metrics

MAILBOX = "alice@example.com"


def raiser(exc: BaseException):
    def fn():
        raise exc

    return fn


def recording_breaker(**kwargs) -> tuple[MailboxBreaker, list[tuple[str, str, str]]]:
    transitions: list[tuple[str, str, str]] = []
    breaker = MailboxBreaker(MAILBOX, on_transition=lambda *t: transitions.append(t), **kwargs)
    return breaker, transitions


def trip(breaker: MailboxBreaker, times: int) -> None:
    for _ in range(times):
        with pytest.raises(ApiError):
            breaker.call(raiser(ApiError(503, "backend error", "backendError")))


# -- breaker ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("exc", "counts"),
    [
        (ApiError(429, "too many", "rateLimitExceeded"), True),
        (ApiError(500, "oops", "backendError"), True),
        (ApiError(503, "unavailable"), True),
        (ApiError(403, "User-rate limit exceeded.", "rateLimitExceeded"), True),
        (ApiError(403, "Insufficient Permission", "insufficientPermissions"), False),
        (ApiError(404, "Not Found", "notFound"), False),
        (ApiError(400, "Invalid id", "invalidArgument"), False),
        (ApiError(401, "Invalid Credentials", "authError"), False),
        (TransientNetworkError("connection reset"), True),
        (requests.ConnectionError("refused"), True),
        (requests.Timeout("read timed out"), True),
        (AuthError("invalid_grant"), False),
        (ValueError("bug"), False),
    ],
)
def test_outage_policy(exc, counts):
    assert counts_as_outage(exc) is counts


def test_opens_after_fail_max_and_fails_fast_with_a_clear_message():
    breaker, transitions = recording_breaker(fail_max=3, reset_timeout_s=30)
    assert breaker.call(lambda a, b=0: a + b, 1, b=2) == 3
    trip(breaker, 3)  # the caller sees Gmail's error, never pybreaker's
    assert breaker.state == "open"
    assert transitions == [(MAILBOX, "closed", "open")]

    calls = []
    with pytest.raises(CircuitOpenError) as info:
        breaker.call(lambda: calls.append(1))
    assert calls == [], "an open circuit must not reach Gmail"
    message = str(info.value)
    assert MAILBOX in message
    assert "3 consecutive failures" in message
    assert "half-open" in message and "s" in message
    assert "backendError" in message
    assert info.value.mailbox == MAILBOX
    assert 29 < info.value.retry_after_s <= 30


def test_client_errors_never_trip_it():
    breaker, transitions = recording_breaker(fail_max=2)
    for status, reason in [(404, "notFound"), (400, "invalidArgument"), (401, "authError")]:
        for _ in range(5):
            with pytest.raises(ApiError):
                breaker.call(raiser(ApiError(status, "no", reason)))
    assert breaker.state == "closed" and transitions == []


def test_failures_must_be_consecutive_but_our_own_bugs_are_neutral():
    breaker, _ = recording_breaker(fail_max=3)
    trip(breaker, 2)
    with pytest.raises(ValueError):
        breaker.call(raiser(ValueError("a bug in our code says nothing about Gmail")))
    assert breaker.failures == 2
    breaker.call(lambda: None)  # Gmail answered: the streak is over
    assert breaker.failures == 0
    trip(breaker, 2)
    assert breaker.state == "closed"


def test_network_errors_trip_it():
    breaker, _ = recording_breaker(fail_max=2)
    for exc in (requests.ConnectionError("refused"), TransientNetworkError("reset")):
        with pytest.raises(type(exc)):
            breaker.call(raiser(exc))
    assert breaker.state == "open"


def test_half_opens_after_the_timeout_and_a_good_probe_closes():
    breaker, transitions = recording_breaker(fail_max=2, reset_timeout_s=0.2)
    trip(breaker, 2)
    with pytest.raises(CircuitOpenError):
        breaker.call(lambda: "too early")
    time.sleep(0.25)
    assert breaker.call(lambda: "probe ok") == "probe ok"
    assert breaker.state == "closed"
    assert transitions == [
        (MAILBOX, "closed", "open"),
        (MAILBOX, "open", "half-open"),
        (MAILBOX, "half-open", "closed"),
    ]


def test_a_failed_probe_reopens():
    breaker, transitions = recording_breaker(fail_max=2, reset_timeout_s=0.2)
    trip(breaker, 2)
    time.sleep(0.25)
    trip(breaker, 1)
    assert breaker.state == "open"
    assert transitions[-2:] == [(MAILBOX, "open", "half-open"), (MAILBOX, "half-open", "open")]
    with pytest.raises(CircuitOpenError):
        breaker.call(lambda: None)


def test_only_one_probe_at_a_time():
    breaker, _ = recording_breaker(fail_max=1, reset_timeout_s=0.1)
    trip(breaker, 1)
    time.sleep(0.15)
    entered, release = threading.Event(), threading.Event()

    def slow_probe():
        entered.set()
        release.wait(5)
        return "ok"

    probe = threading.Thread(target=breaker.call, args=(slow_probe,))
    probe.start()
    assert entered.wait(5)
    with pytest.raises(CircuitOpenError, match="probe"):
        breaker.call(lambda: None)
    release.set()
    probe.join(5)
    assert breaker.state == "closed"


def test_calls_through_one_breaker_run_concurrently():
    """pybreaker.call would hold its lock across fn; ours must not serialise a mailbox."""
    breaker = MailboxBreaker(MAILBOX)
    barrier = threading.Barrier(4, timeout=5)
    results = []

    def work():
        results.append(breaker.call(barrier.wait))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sorted(results) == [0, 1, 2, 3]


# -- metrics ------------------------------------------------------------------------------------


class Ticker:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def sample_metrics() -> tuple[Metrics, Ticker]:
    ticker = Ticker()
    metrics = Metrics(clock=ticker)
    for i in range(1, 101):
        metrics.call("messages.get", MAILBOX, 200, i / 1000, 5)
    metrics.call("messages.get", MAILBOX, 429, 0.5, 5)
    metrics.call("messages.get", "bob@example.com", 503, 0.2, 5)
    metrics.call("history.list", MAILBOX, 404, 0.01, 2)
    metrics.call("messages.list", MAILBOX, 0, 30.0, 5)
    metrics.retry("messages.get", "429")
    metrics.retry("messages.get", "429")
    metrics.retry("messages.get", "rateLimitExceeded")
    metrics.retry("messages.list", "ConnectionError")
    metrics.breaker_transition(MAILBOX, "closed", "open")
    metrics.quota_wait(MAILBOX, 0.25)
    metrics.quota_wait(MAILBOX, 0.5)
    metrics.count("records.messages", 100)
    metrics.count("records.messages")
    ticker.now += 10
    return metrics, ticker


def test_metrics_summary_numbers():
    summary = sample_metrics()[0].summary()
    get = summary["operations"]["messages.get"]
    assert get["calls"] == 102
    assert get["units"] == 510
    assert get["errors"] == {"429": 1, "503": 1}
    assert get["retries"] == {"429": 2, "rateLimitExceeded": 1}
    assert get["latency_ms"] == {"p50": 51.0, "p95": 97.0, "max": 500.0}
    assert summary["operations"]["messages.list"]["errors"] == {"0": 1}
    totals = summary["totals"]
    assert totals["calls"] == 104 and totals["units"] == 517
    assert totals["errors"] == 4 and totals["retries"] == 4
    assert totals["quota_waits"] == 2 and totals["quota_wait_s"] == 0.75
    assert totals["breaker_transitions"] == 1
    assert totals["elapsed_s"] == 10.0 and totals["calls_per_s"] == 10.4
    assert summary["mailboxes"]["bob@example.com"] == {"calls": 1, "units": 5}
    assert summary["breaker_transitions"] == [
        {"mailbox": MAILBOX, "from": "closed", "to": "open", "at_s": 0.0}
    ]
    assert summary["quota_waits"][MAILBOX] == {"count": 2, "seconds": 0.75}
    assert summary["counters"] == {"records.messages": 101}


def test_latency_reservoir_is_bounded():
    metrics = Metrics(reservoir=100)
    for i in range(10_000):
        metrics.call("messages.get", MAILBOX, 200, i / 1000, 5)
    op = metrics.summary()["operations"]["messages.get"]
    assert op["calls"] == 10_000
    assert op["latency_ms"]["p50"] >= 9900.0, "percentiles describe the most recent samples"
    assert len(metrics._ops["messages.get"].latencies) == 100


def test_metrics_are_thread_safe():
    metrics = Metrics()

    def work():
        for _ in range(2000):
            metrics.call("messages.get", MAILBOX, 200, 0.001, 5)
            metrics.count("records.messages")

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    summary = metrics.summary()
    assert summary["totals"]["calls"] == 16_000 and summary["totals"]["units"] == 80_000
    assert summary["counters"]["records.messages"] == 16_000


def test_log_summary_lines(caplog):
    metrics, _ = sample_metrics()
    logger = logging.getLogger("tap_gmail.test")
    with caplog.at_level(logging.INFO, logger="tap_gmail.test"):
        metrics.log_summary(logger)
    lines = [record.getMessage() for record in caplog.records]
    assert all(record.levelno == logging.INFO for record in caplog.records)
    human = [line for line in lines if not line.startswith("METRIC: ")]
    assert human[0].startswith("gmail history.list: 1 calls, 1 errors (404x1), 0 retries")
    get_line = next(line for line in human if line.startswith("gmail messages.get:"))
    assert "102 calls, 2 errors (429x1, 503x1), 3 retries (429x2, rateLimitExceededx1)" in get_line
    assert "510 units, latency p50 51.0 ms p95 97.0 ms max 500.0 ms" in get_line
    assert human[-1].startswith("gmail totals: 104 calls (10.4/s), 4 errors, 4 retries, 517 units")
    assert "2 quota waits (0.750 s), 1 breaker transitions" in human[-1]
    assert "counters: records.messages=101" in human[-1]

    points = [json.loads(line[len("METRIC: ") :]) for line in lines if line.startswith("METRIC: ")]
    assert len(points) == 3
    get = next(p for p in points if p["tags"]["endpoint"] == "messages.get")
    assert get["type"] == "counter" and get["metric"] == "gmail_api_calls"
    assert get["value"] == 102
    assert get["tags"]["errors"] == {"429": 1, "503": 1}
    assert get["tags"]["units"] == 510
