"""Quota and faults over HTTP: Gmail's exact error shapes, per user, seeded and replayable."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
import requests

from tests.conftest import Api, admin, issue_token

pytestmark = pytest.mark.timeout(120)


def test_quota_exceeded_is_403_rate_limit_with_retry_after_time(server, alice):
    admin(server, "config", {"quota_units_per_second": 12})
    statuses = [alice.call("GET", "/messages", params={"maxResults": 1}) for _ in range(4)]
    assert [r.status_code for r in statuses[:2]] == [200, 200]  # 5 + 5 units
    rejected = statuses[2]
    assert rejected.status_code == 403
    error = rejected.json()["error"]
    assert error["errors"][0]["reason"] == "rateLimitExceeded"
    assert error["errors"][0]["domain"] == "usageLimits"
    prefix = "User-rate limit exceeded.  Retry after "
    assert error["message"].startswith(prefix)
    when = dt.datetime.fromisoformat(error["message"][len(prefix) :].replace("Z", "+00:00"))
    assert when > dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1)
    assert "Retry-After" not in rejected.headers


def test_quota_is_per_user(server, alice):
    admin(server, "config", {"quota_units_per_second": 10})
    bob = Api(server.url, issue_token(server, "bob@example.com"))
    assert alice.call("GET", "/messages").status_code == 200
    assert alice.call("GET", "/messages").status_code == 200
    assert alice.call("GET", "/messages").status_code == 403
    assert bob.call("GET", "/messages").status_code == 200
    stats = admin(server, "stats")
    assert stats["quota_units"]["by_user"]["alice@example.com"] == 10
    assert stats["quota_units"]["by_user"]["bob@example.com"] == 5


def test_method_costs_are_counted(server, alice):
    admin(server, "stats/reset", {})
    alice.ok("GET", "/profile")
    alice.ok("GET", "/labels")
    msg = alice.ok("GET", "/messages", params={"maxResults": 1})["messages"][0]
    alice.ok("GET", f"/messages/{msg['id']}")
    alice.ok("GET", f"/threads/{msg['threadId']}")
    units = admin(server, "stats")["quota_units"]["by_method"]
    assert units == {
        "gmail.users.getProfile": 1,
        "gmail.users.labels.list": 1,
        "gmail.users.messages.list": 5,
        "gmail.users.messages.get": 5,
        "gmail.users.threads.get": 10,
    }


def test_too_many_concurrent_requests_is_429(server, alice):
    admin(server, "config", {"max_concurrent_per_user": 2, "latency_ms": 300})
    results: list[int] = []

    def one():
        results.append(alice.call("GET", "/profile").status_code)

    threads = [threading.Thread(target=one) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count(200) >= 2 and 429 in results
    admin(server, "config", {"latency_ms": 0})
    assert set(results) == {200, 429}  # nothing else: no 5xx, no quota 403


def test_injected_faults_are_seeded_and_replayable(server, alice):
    def run() -> list[int]:
        admin(
            server,
            "config",
            {"fault_rate": 0.5, "fault_seed": 42, "fault_kinds": ["429", "403", "500", "503"]},
        )
        return [alice.call("GET", "/profile").status_code for _ in range(30)]

    first, second = run(), run()
    assert first == second
    assert set(first) - {200} and 200 in first
    admin(server, "config", {"fault_rate": 0})
    stats = admin(server, "stats")
    assert stats["faults"]["total"] == sum(1 for s in first + second if s != 200)


def test_connection_reset_fault(server, alice):
    admin(
        server,
        "config",
        {"fault_rate": 1.0, "fault_kinds": ["reset"], "fault_methods": ["getProfile"]},
    )
    with pytest.raises(requests.ConnectionError):
        alice.call("GET", "/profile")
    assert alice.call("GET", "/labels").status_code == 200
