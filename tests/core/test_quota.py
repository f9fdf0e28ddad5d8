"""The quota governor: Gmail's moving window is never exceeded, yet the budget is used."""

from __future__ import annotations

import random
import threading
import time

import pytest

from gmail_core.quota import DEFAULT_COSTS, QuotaGovernor, RatePolicy
from gmail_emulator.errors import GmailError
from gmail_emulator.quota import QuotaLimiter


class FakeTime:
    """A clock that only moves when someone sleeps (or the test advances it)."""

    def __init__(self, start: float = 1000.0):
        self.now = start
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds > 0, "the governor must never sleep for nothing (busy-wait)"
        self.slept.append(seconds)
        self.now += seconds


def governor(fake: FakeTime, **kwargs) -> QuotaGovernor:
    return QuotaGovernor(clock=fake.clock, sleep=fake.sleep, **kwargs)


def max_in_window(events: list[tuple[float, int]], window: float = 1.0) -> int:
    """Largest sum of units over any half-open window (t - window, t] ending at an event."""
    events = sorted(events)
    best = total = start = 0
    for end, (t, units) in enumerate(events):
        total += units
        while events[start][0] <= t - window:
            total -= events[start][1]
            start += 1
        best = max(best, total)
        assert end >= start
    return best


def test_costs_defaults_overrides_and_batches():
    gov = QuotaGovernor(costs={"messages.get": 20, "gmail.users.threads.get": 40})
    assert gov.cost("messages.get") == 20
    assert gov.cost("users.threads.get") == 40
    assert gov.cost("gmail.users.messages.list") == 5
    assert gov.cost("labels.list") == 1
    assert gov.cost("messages.send") == 100
    assert gov.cost("settings.somethingNew") == 5
    assert DEFAULT_COSTS["messages.get"] == 5, "overrides must not leak into the defaults"
    assert QuotaGovernor().cost("messages.get") == 5
    assert gov.units_for_batch(["messages.get"] * 3 + ["labels.get"]) == 61


def test_randomized_sequence_never_exceeds_the_servers_window():
    """Sends with up to 40 ms of network jitter, replayed into the emulator's own limiter."""
    rng = random.Random(20261124)
    fake = FakeTime()
    gov = governor(fake, units_per_second=250)
    methods = ["messages.get", "messages.list", "history.list", "labels.list", "threads.get"]
    sent: list[tuple[float, str]] = []
    for _ in range(6000):
        if rng.random() < 0.3:
            fake.now += rng.uniform(0, 0.05)
        method = rng.choice(methods)
        gov.acquire(gov.cost(method))
        sent.append((fake.now, method))
    assert gov.units_spent == sum(gov.cost(m) for _, m in sent)
    assert max_in_window([(t, gov.cost(m)) for t, m in sent]) <= 250 * 0.96

    arrivals = sorted((t + rng.uniform(0.0, 0.04), m) for t, m in sent)
    server_now = [0.0]
    server = QuotaLimiter(units_per_second=250, clock=lambda: server_now[0])
    rejected = 0
    for arrival, method in arrivals:
        server_now[0] = arrival
        try:
            server.charge("alice@example.com", method)
        except GmailError:
            rejected += 1
    assert rejected == 0


def test_saturation_uses_the_budget():
    fake = FakeTime()
    gov = governor(fake, units_per_second=250)
    start = fake.now
    sent = []
    while fake.now - start < 60:
        gov.acquire(5)
        sent.append((fake.now, 5))
    elapsed = fake.now - start
    peak = max_in_window(sent)
    assert 0.95 * 250 <= peak <= 250
    assert sum(u for _, u in sent) / elapsed >= 0.90 * 250
    snap = gov.snapshot()
    assert snap["waits"] > 0 and snap["wait_s"] == pytest.approx(sum(fake.slept))


def test_acquire_reports_the_seconds_waited():
    fake = FakeTime()
    gov = governor(fake, units_per_second=100, safety=1.0)
    assert gov.acquire(60) == 0.0
    assert gov.acquire(40) == 0.0
    waited = gov.acquire(10)
    assert waited == pytest.approx(1.05, abs=1e-3)
    assert fake.slept and sum(fake.slept) == pytest.approx(waited)


def test_oversize_request_runs_on_an_empty_window_and_later_calls_wait():
    fake = FakeTime()
    gov = governor(fake, units_per_second=250)
    assert gov.acquire(500) == 0.0
    assert gov.acquire(5) == pytest.approx(1.05, abs=1e-3)

    gov.acquire(5)  # window holds 10 units; an oversize call waits for it to empty entirely
    before = fake.now
    gov.acquire(1000)
    assert fake.now - before == pytest.approx(1.05, abs=1e-3)


def test_throttled_decreases_pauses_and_succeeded_recovers():
    fake = FakeTime()
    gov = governor(fake, units_per_second=250)
    gov.throttled(retry_after_s=2.0)
    assert gov.effective_rate == pytest.approx(175)
    assert gov.acquire(5) == pytest.approx(2.0, abs=1e-6)

    for _ in range(20):
        gov.throttled(retry_after_s=0)
    assert gov.effective_rate == pytest.approx(25), "floored at 10% of the configured rate"

    gov.succeeded()
    assert gov.effective_rate == pytest.approx(30)
    for _ in range(100):
        gov.succeeded()
    assert gov.effective_rate == pytest.approx(250), "capped at the configured rate"
    assert gov.snapshot()["throttle_events"] == 21


def test_throttled_without_retry_after_pauses_one_window():
    fake = FakeTime()
    gov = governor(fake, policy=RatePolicy(default_pause_s=1.0))
    gov.throttled()
    assert gov.acquire(1) == pytest.approx(1.0)


def test_throttled_rate_is_what_acquire_enforces():
    fake = FakeTime()
    gov = governor(fake, units_per_second=100, safety=1.0)
    gov.throttled(retry_after_s=0)  # 70 u/s
    sent = []
    while fake.now < 1030:
        gov.acquire(10)
        sent.append((fake.now, 10))
    assert max_in_window(sent) <= 70


def test_zero_rate_disables_limiting_but_still_counts():
    fake = FakeTime()
    gov = governor(fake, units_per_second=0)
    for _ in range(1000):
        assert gov.acquire(100) == 0.0
    assert fake.slept == []
    assert gov.units_spent == 100_000


def test_slot_caps_concurrency():
    gov = QuotaGovernor(max_concurrency=2)
    lock = threading.Lock()
    in_flight = peak = 0

    def work():
        nonlocal in_flight, peak
        with gov.slot():
            with lock:
                in_flight += 1
                peak = max(peak, in_flight)
            time.sleep(0.02)
            with lock:
                in_flight -= 1

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert peak == 2


def test_real_threads_stay_inside_a_one_second_window():
    gov = QuotaGovernor(units_per_second=200, max_concurrency=8)
    lock = threading.Lock()
    granted: list[tuple[float, int]] = []
    deadline = time.monotonic() + 1.5
    rng = random.Random(3)
    costs = [rng.choice([1, 2, 5, 10]) for _ in range(10_000)]

    def worker(offset: int):
        i = offset
        while time.monotonic() < deadline:
            units = costs[i % len(costs)]
            with gov.slot():
                gov.acquire(units)
                with lock:
                    granted.append((time.monotonic(), units))
            i += 8

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert max_in_window(granted) <= 200
    assert sum(u for _, u in granted) >= 300, "two windows' worth in 1.5 s"


def test_oversize_request_is_not_starved_by_small_ones():
    """FIFO service: without it, small calls would grab every freed unit forever."""
    gov = QuotaGovernor(units_per_second=200, policy=RatePolicy(window_s=0.3))
    stop = threading.Event()

    def nibble():
        while not stop.is_set():
            gov.acquire(2)

    threads = [threading.Thread(target=nibble) for _ in range(4)]
    for thread in threads:
        thread.start()
    time.sleep(0.05)
    big = threading.Thread(target=gov.acquire, args=(300,), daemon=True)
    started = time.monotonic()
    big.start()
    big.join(timeout=2.0)
    took = time.monotonic() - started
    stop.set()
    for thread in threads:
        thread.join(timeout=5)
    assert not big.is_alive(), "the oversize request was starved"
    assert took < 1.0


def test_uncontended_grant_reports_no_wait_on_the_real_clock():
    gov = QuotaGovernor(units_per_second=1000)
    assert [gov.acquire(5) for _ in range(10)] == [0.0] * 10
    assert gov.snapshot()["waits"] == 0


def test_longer_gmail_window_lets_100_unit_sends_reach_the_average_rate():
    """In a strict 1 s window only two 100-unit sends fit; a 10 s moving average allows
    ~2.4/s, and the emulator with the same window never refuses one of them."""
    for window, low, high in ((1.0, 1.8, 2.0), (10.0, 2.3, 2.5)):
        fake = FakeTime()
        gov = governor(fake, units_per_second=250, window_s=window)
        limiter = QuotaLimiter(units_per_second=250, window_s=window, clock=fake.clock)
        for _ in range(200):
            gov.acquire(100)
            limiter.charge("alice@example.com", "messages.send")  # raises on a 403
        rate = 200 / (fake.now - 1000.0)
        assert low <= rate <= high, (window, rate)


def test_emulator_window_allows_a_burst_of_its_whole_budget_then_refuses():
    fake = FakeTime()
    limiter = QuotaLimiter(units_per_second=250, window_s=10, clock=fake.clock)
    for _ in range(25):
        limiter.charge("alice@example.com", "messages.send")
    with pytest.raises(GmailError) as refused:
        limiter.charge("alice@example.com", "messages.send")
    assert refused.value.code == 403
    fake.now += 10.001
    limiter.charge("alice@example.com", "messages.send")


def test_window_budget_is_what_the_governor_lets_through():
    fake = FakeTime()
    gov = governor(fake, units_per_second=250, window_s=2.0, safety=0.9)
    assert gov.window_budget() == pytest.approx(250 * 2.0 * 0.9)
    assert gov.acquire(450) == 0.0  # exactly the budget fits in one window
    assert gov.acquire(1) > 0  # one more unit waits
    gov.throttled(0)
    assert gov.window_budget() == pytest.approx(250 * 0.7 * 2.0 * 0.9)
    gov.congested()  # a 429 is counted but cuts nothing
    assert gov.window_budget() == pytest.approx(250 * 0.7 * 2.0 * 0.9)
    assert gov.snapshot()["congestion_events"] == 1 and gov.snapshot()["throttle_events"] == 1
    assert QuotaGovernor(units_per_second=0).window_budget() == float("inf")
