"""Unit tests for per-user quota charging, concurrency caps and seeded fault injection."""

from __future__ import annotations

import threading
from datetime import datetime, timezone

import pytest

from gmail_emulator import quota
from gmail_emulator.errors import GmailError
from gmail_emulator.faults import FAULT_KINDS, Fault, FaultInjector
from gmail_emulator.quota import QuotaLimiter, cost_of

USER = "alice@example.com"
WALL = 1_800_000_000.0  # a fixed wall-clock epoch for predictable retry times
RETRY_PREFIX = "User-rate limit exceeded.  Retry after "


class FakeClock:
    def __init__(self, now: float = 0.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def make_limiter(units: float = 250, concurrent: int = 10):
    clock = FakeClock(100.0)
    wall = FakeClock(WALL)
    limiter = QuotaLimiter(units, concurrent, clock=clock, wall_clock=wall)
    return limiter, clock, wall


def parse_retry(err: GmailError) -> datetime:
    assert err.message.startswith(RETRY_PREFIX)
    iso = err.message[len(RETRY_PREFIX) :]
    assert iso.endswith("Z")
    return datetime.strptime(iso, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)


# -- costs --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "units"),
    [
        ("gmail.users.getProfile", 1),
        ("gmail.users.watch", 100),
        ("gmail.users.stop", 50),
        ("gmail.users.messages.get", 5),
        ("gmail.users.messages.send", 100),
        ("gmail.users.messages.import", 25),
        ("gmail.users.messages.batchModify", 50),
        ("gmail.users.messages.attachments.get", 5),
        ("gmail.users.drafts.update", 15),
        ("gmail.users.history.list", 2),
        ("gmail.users.labels.list", 1),
        ("gmail.users.threads.delete", 20),
        ("gmail.users.threads.get", 10),
        ("gmail.users.settings.getVacation", 1),
        ("gmail.users.settings.updateImap", 5),
        ("gmail.users.settings.sendAs.create", 100),
        ("gmail.users.settings.delegates.create", 100),
        ("gmail.users.settings.filters.delete", 5),
        ("messages.list", 5),
        ("users.getProfile", 1),
        ("gmail.users.somethingNew", quota.DEFAULT_COST),
    ],
)
def test_documented_costs(method, units):
    assert cost_of(method) == units


# -- moving window ------------------------------------------------------------------------


def test_window_rejects_then_allows_after_it_passes():
    limiter, clock, _ = make_limiter(units=20)
    for _ in range(4):
        assert limiter.charge(USER, "gmail.users.messages.get") == 5
        clock.now += 0.1
    # window holds 20 units charged at t=100.0..100.3
    with pytest.raises(GmailError) as caught:
        limiter.charge(USER, "gmail.users.messages.get")
    err = caught.value
    assert (err.code, err.reason, err.status) == (403, "rateLimitExceeded", "PERMISSION_DENIED")
    retry_at = parse_retry(err)
    now_wall = datetime.fromtimestamp(WALL, tz=timezone.utc)
    assert retry_at > now_wall
    # the oldest 5 units (t=100.0) leave the window at t=101.0, 0.6 s from now (t=100.4)
    assert abs((retry_at - now_wall).total_seconds() - 0.6) < 0.002

    # a rejected call consumed nothing: other users are unaffected, and once the window has
    # moved past the first charge exactly one more call fits
    assert limiter.charge("bob@example.com", "gmail.users.messages.get") == 5
    clock.now = 101.0
    assert limiter.charge(USER, "gmail.users.messages.get") == 5
    with pytest.raises(GmailError):
        limiter.charge(USER, "gmail.users.messages.get")
    clock.now = 102.5
    for _ in range(4):
        limiter.charge(USER, "gmail.users.messages.get")

    snap = limiter.snapshot()
    assert snap["units_by_user"] == {USER: 45, "bob@example.com": 5}
    assert snap["units_by_method"] == {"gmail.users.messages.get": 50}
    assert snap["rejections"] == {"rate_limited": 2, "concurrent": 0}


def test_retry_time_accounts_for_the_cost_of_the_call():
    limiter, clock, _ = make_limiter(units=100)
    for method in ("messages.batchDelete", "messages.import", "drafts.update"):
        limiter.charge(USER, method)  # 50 at t=100.0, 25 at t=100.2, 15 at t=100.4
        clock.now = round(clock.now + 0.2, 6)
    now_wall = datetime.fromtimestamp(WALL, tz=timezone.utc)
    # now t=100.6: 100 units need the whole window gone, 50 units only the first charge
    expected = {"messages.send": 0.8, "messages.batchModify": 0.4}
    for method, wait in expected.items():
        with pytest.raises(GmailError) as caught:
            limiter.charge(USER, method)
        assert abs((parse_retry(caught.value) - now_wall).total_seconds() - wait) < 0.002
    assert limiter.charge(USER, "messages.get") == 5  # 95 of 100 still fits


def test_expensive_call_waits_for_enough_units():
    limiter, clock, _ = make_limiter(units=250)
    limiter.charge(USER, "gmail.users.messages.send")  # 100 at t=100.0
    clock.now = 100.2
    limiter.charge(USER, "gmail.users.messages.send")  # 100 at t=100.2
    clock.now = 100.4
    with pytest.raises(GmailError) as caught:
        limiter.charge(USER, "gmail.users.messages.send")  # would be 300
    delta = parse_retry(caught.value) - datetime.fromtimestamp(WALL, tz=timezone.utc)
    assert abs(delta.total_seconds() - 0.6) < 0.002
    limiter.charge(USER, "gmail.users.getProfile")  # 1 unit still fits
    clock.now = 101.0
    limiter.charge(USER, "gmail.users.messages.send")


def test_zero_limit_disables_and_lone_expensive_call_passes():
    limiter, _, _ = make_limiter(units=0)
    for _ in range(1000):
        limiter.charge(USER, "gmail.users.messages.send")
    limiter, _, _ = make_limiter(units=50)
    assert limiter.charge(USER, "gmail.users.watch") == 100  # empty window: let it through
    with pytest.raises(GmailError):
        limiter.charge(USER, "gmail.users.getProfile")


def test_reconfigure_limits_and_costs():
    limiter, clock, _ = make_limiter(units=10)
    limiter.charge(USER, "gmail.users.messages.get")
    limiter.charge(USER, "gmail.users.messages.get")
    with pytest.raises(GmailError):
        limiter.charge(USER, "gmail.users.messages.get")
    limiter.reconfigure(units_per_second=1000)
    limiter.charge(USER, "gmail.users.messages.get")
    limiter.reconfigure(costs={"messages.get": 7, "gmail.users.labels.list": 3})
    assert limiter.charge(USER, "gmail.users.messages.get") == 7
    assert limiter.charge(USER, "labels.list") == 3
    assert cost_of("gmail.users.messages.get") == 5  # the module table is untouched
    assert limiter.snapshot()["units_per_second"] == 1000


# -- concurrency --------------------------------------------------------------------------


def test_concurrency_cap_is_per_user_and_released():
    limiter, _, _ = make_limiter(concurrent=2)
    with limiter.concurrent(USER), limiter.concurrent(USER):
        with pytest.raises(GmailError) as caught, limiter.concurrent(USER):
            pass
        err = caught.value
        assert (err.code, err.status, err.reason) == (
            429,
            "RESOURCE_EXHAUSTED",
            "rateLimitExceeded",
        )
        with limiter.concurrent("bob@example.com"):
            assert limiter.snapshot()["in_flight"] == {USER: 2, "bob@example.com": 1}
    with limiter.concurrent(USER):
        pass
    snap = limiter.snapshot()
    assert snap["in_flight"] == {}
    assert snap["rejections"]["concurrent"] == 1


def test_concurrency_slot_released_on_error_and_reconfigured():
    limiter, _, _ = make_limiter(concurrent=1)
    with pytest.raises(RuntimeError), limiter.concurrent(USER):
        raise RuntimeError("handler failed")
    with limiter.concurrent(USER):
        limiter.reconfigure(max_concurrent_per_user=0)  # disabled
        with limiter.concurrent(USER), limiter.concurrent(USER):
            pass


def test_concurrency_under_threads():
    limiter = QuotaLimiter(units_per_second=0, max_concurrent_per_user=3)
    inside, release = threading.Barrier(4), threading.Event()
    outcomes: list[str] = []

    def worker():
        try:
            with limiter.concurrent(USER):
                inside.wait(timeout=5)
                release.wait(timeout=5)
                outcomes.append("ok")
        except GmailError:
            outcomes.append("429")

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    inside.wait(timeout=5)
    with pytest.raises(GmailError):
        limiter.concurrent(USER).__enter__()
    release.set()
    for t in threads:
        t.join(timeout=5)
    assert outcomes == ["ok"] * 3


# -- faults -------------------------------------------------------------------------------

METHODS = ["gmail.users.messages.get", "gmail.users.messages.list", "gmail.users.labels.list"]


def run(injector: FaultInjector, calls: int = 300) -> list:
    return [injector.pick(METHODS[i % len(METHODS)]) for i in range(calls)]


def test_same_seed_same_faults():
    kinds = list(FAULT_KINDS)
    first = run(FaultInjector(rate=0.3, kinds=kinds, seed=42))
    second = run(FaultInjector(rate=0.3, kinds=kinds, seed=42))
    assert first == second
    assert {f.kind for f in first if f} == set(FAULT_KINDS)
    assert first != run(FaultInjector(rate=0.3, kinds=kinds, seed=43))


def test_replay_key_reproduces_the_run():
    injector = FaultInjector(rate=0.5, seed=7, methods=["messages.get"], latency_ms=5)
    key = injector.replay_key()
    assert key["seed"] == 7 and key["methods"] == ["messages.get"]
    assert run(injector) == run(FaultInjector(**key))


def test_rate_zero_never_and_rate_one_always():
    assert all(f is None for f in run(FaultInjector(rate=0.0, seed=1)))
    faults = run(FaultInjector(rate=1.0, seed=1))
    assert all(isinstance(f, Fault) for f in faults)
    assert {f.kind for f in faults} == {"429", "403", "500", "503"}


def test_method_filter_full_and_short_names():
    injector = FaultInjector(rate=1.0, methods=["messages.get", "gmail.users.labels.list"])
    assert injector.pick("gmail.users.messages.get") is not None
    assert injector.pick("gmail.users.labels.list") is not None
    assert injector.pick("gmail.users.messages.list") is None
    assert injector.pick("gmail.users.messages.attachments.get") is None
    snap = injector.snapshot()
    assert snap["picks"] == 4 and snap["injected"] == 2
    assert snap["by_method"] == {"gmail.users.messages.get": 1, "gmail.users.labels.list": 1}


def test_per_method_rate_overrides():
    injector = FaultInjector(rate=0.0, per_method_rate={"messages.list": 1.0}, seed=3)
    assert injector.pick("gmail.users.messages.list") is not None
    assert injector.pick("gmail.users.messages.get") is None


def test_slow_fault_latency_and_errors():
    injector = FaultInjector(
        rate=1.0, kinds=["slow"], latency_ms=250, slow_ms=1500, wall_clock=lambda: WALL
    )
    fault = injector.pick("gmail.users.messages.get")
    assert fault == Fault("slow", 1.5)
    assert injector.error_for(fault) is None
    assert injector.error_for(Fault("reset")) is None
    assert injector.latency_s() == 0.25

    err = injector.error_for(Fault("429"))
    assert (err.code, err.status) == (429, "RESOURCE_EXHAUSTED")
    err = injector.error_for(Fault("403"))
    assert (err.code, err.reason) == (403, "rateLimitExceeded")
    assert parse_retry(err) == datetime.fromtimestamp(WALL + 1, tz=timezone.utc)
    assert injector.error_for(Fault("500")).code == 500
    err = injector.error_for(Fault("503"))
    assert (err.code, err.status) == (503, "UNAVAILABLE")


def test_reconfigure_faults():
    injector = FaultInjector(rate=0.0, seed=5)
    assert injector.pick("gmail.users.messages.get") is None
    injector.reconfigure(rate=1.0, kinds=["500"])
    assert injector.pick("gmail.users.messages.get") == Fault("500")
    assert injector.snapshot()["by_kind"] == {"500": 1}
    injector.reconfigure(seed=9, rate=0.4)
    assert run(injector) == run(FaultInjector(rate=0.4, kinds=["500"], seed=9))
    with pytest.raises(ValueError):
        injector.reconfigure(kinds=["teapot"])
    with pytest.raises(ValueError):
        injector.reconfigure(rate=2)
    with pytest.raises(TypeError):
        injector.reconfigure(colour="red")
