"""Client-side quota governor: spend Gmail's per-mailbox units without ever being refused.

Gmail refuses a call (403 ``rateLimitExceeded``) when the units that *arrived* in its moving
one-second window would exceed the per-user limit. We only know when we *send*, and arrival
lags sending by a varying network delay. So the governor keeps a log of (send time, units)
over a window slightly longer than Gmail's (``RatePolicy.jitter_s``) and aims a little
under the limit (``safety``). Any burst Gmail can see inside its 1.0 s window was sent inside
our longer window, as long as the jitter stays under the difference. At the defaults
(250 u/s, 1.05 s, 0.96) the long-run rate is 240 / 1.05 = 228 u/s, about 91% of the limit.

A request dearer than the whole budget (a batch of 100 ``messages.get`` is 500 units) is let
through when the window is empty. Later callers then wait until it has aged out, so such
batches are spread over time instead of refused forever. Gmail still charges each part of a
batch separately, so parts beyond its limit may fail and have to be retried: size batches
to fit ``units_for_batch(...) <= window_budget()`` when you can (``GmailBatch.chunks`` does).

Waiting callers are served in arrival order (FIFO), so a large batch cannot be starved by a
stream of small calls. Only the head of the queue sleeps, and it sleeps outside the lock.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

DEFAULT_COST = 5


def _costs(prefix: str, **costs: int) -> dict[str, int]:
    return {f"{prefix}{name}": units for name, units in costs.items()}


# Gmail's documented per-method quota units, keyed by short method name. These are defaults,
# not constants: since 2026 some projects are charged differently (messages.get = 20).
DEFAULT_COSTS: dict[str, int] = {
    **_costs("", getProfile=1, watch=100, stop=50),
    **_costs("drafts.", create=10, delete=10, get=5, list=5, send=100, update=15),
    **_costs("history.", list=2),
    **_costs("labels.", create=5, delete=5, get=1, list=1, update=5, patch=5),
    **_costs("messages.attachments.", get=5),
    **_costs(
        "messages.",
        batchDelete=50,
        batchModify=50,
        delete=10,
        get=5,
        list=5,
        modify=5,
        send=100,
        trash=5,
        untrash=5,
        **{"import": 25, "insert": 25},
    ),
    **_costs("threads.", delete=20, get=10, list=10, modify=10, trash=10, untrash=10),
}


def short_method(name: str) -> str:
    """``gmail.users.messages.get`` and ``users.messages.get`` -> ``messages.get``."""
    for prefix in ("gmail.", "users."):
        if name.startswith(prefix):
            name = name[len(prefix) :]
    return name


@dataclass(frozen=True)
class RatePolicy:
    """How the governor paces and adapts; data, so it can be tuned without touching code."""

    jitter_s: float = 0.05  # our window is Gmail's plus this: absorbs send/arrival jitter
    window_s: float | None = None  # explicit tracking window (tests); default Gmail's + jitter
    decrease: float = 0.7  # effective rate multiplier when Gmail still says "quota exceeded"
    floor: float = 0.1  # never below this fraction of the configured rate
    increase: float = 0.02  # fraction of the configured rate regained per success
    default_pause_s: float = 1.0  # pause when Gmail gives no Retry-After: its window drains


class QuotaGovernor:
    """Per-mailbox quota units and concurrency; thread-safe, one per mailbox."""

    def __init__(
        self,
        units_per_second: float = 250,
        max_concurrency: int = 8,
        costs: dict[str, int] | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        safety: float = 0.96,
        policy: RatePolicy | None = None,
        window_s: float = 1.0,
    ):
        self.units_per_second = float(units_per_second)
        # Gmail's moving window ("moving average, allows short bursts"): its budget is
        # units_per_second * window_s. Only a window longer than 1 s lets 100-unit sends
        # approach 2.5/s; in a strict 1 s window at most two fit (80%).
        self.window_s = float(window_s)
        self.policy = policy or RatePolicy()
        self._tracking_s = self.policy.window_s or (self.window_s + self.policy.jitter_s)
        self.max_concurrency = int(max_concurrency)
        self.safety = float(safety)
        overrides = {short_method(name): int(units) for name, units in (costs or {}).items()}
        self.costs = {**DEFAULT_COSTS, **overrides}
        self._clock = clock
        self._sleep = sleep
        self._cond = threading.Condition(threading.Lock())
        self._log: deque[tuple[float, int]] = deque()
        self._in_window = 0
        self._queue: deque[int] = deque()
        self._tickets = itertools.count()
        self._rate = self.units_per_second
        self._paused_until = float("-inf")
        self._slots: AbstractContextManager = (
            threading.BoundedSemaphore(self.max_concurrency)
            if self.max_concurrency > 0
            else nullcontext()
        )
        self.units_spent = 0
        self._waits = 0
        self._wait_s = 0.0
        self._throttles = 0
        self._congestions = 0

    # -- costs ---------------------------------------------------------------------------------

    def cost(self, method: str) -> int:
        """Units one call of ``method`` costs; undocumented methods cost a typical read's 5."""
        return self.costs.get(short_method(method), DEFAULT_COST)

    def units_for_batch(self, methods: list[str]) -> int:
        """Units a batch request costs: Gmail charges every part as its own call."""
        return sum(self.cost(method) for method in methods)

    # -- pacing --------------------------------------------------------------------------------

    def acquire(self, units: int) -> float:
        """Block until ``units`` fit in the window; returns the seconds waited (queue + pacing)."""
        units = int(units)
        if self.units_per_second <= 0:
            with self._cond:
                self.units_spent += units
            return 0.0
        with self._cond:
            ticket = next(self._tickets)
            self._queue.append(ticket)
            started = self._clock()
        blocked = False  # an uncontended grant reports exactly 0, not clock noise
        try:
            while True:
                with self._cond:
                    while self._queue[0] != ticket:
                        blocked = True
                        self._cond.wait()
                    now = self._clock()
                    delay = self._delay(units, now)
                    if delay <= 0:
                        return self._spend(units, now, now - started if blocked else 0.0)
                blocked = True
                self._sleep(delay)
        finally:
            with self._cond:
                self._queue.remove(ticket)
                self._cond.notify_all()

    def _delay(self, units: int, now: float) -> float:
        """Seconds until ``units`` fit: 0 when they fit now. Caller holds the lock."""
        if now < self._paused_until:
            return self._paused_until - now
        horizon = now - self._tracking_s
        while self._log and self._log[0][0] <= horizon:
            self._in_window -= self._log.popleft()[1]
        budget = self._budget()
        if not self._log or self._in_window + units <= budget:
            return 0.0
        used = self._in_window
        for sent_at, spent in self._log:
            used -= spent
            if used == 0 or used + units <= budget:
                # A microsecond past expiry, so float rounding cannot leave the entry in.
                return sent_at + self._tracking_s - now + 1e-6
        return 0.0  # unreachable: the loop always ends with used == 0

    def _budget(self) -> float:
        return self._rate * self.window_s * self.safety

    def window_budget(self) -> float:
        """Units the governor lets through per window right now: the current (adaptive)
        rate x Gmail's window x the safety factor; infinite when pacing is off. A batch
        dearer than this is sent alone into an empty window and Gmail may refuse its tail."""
        if self.units_per_second <= 0:
            return float("inf")
        with self._cond:
            return self._budget()

    def _spend(self, units: int, now: float, waited: float) -> float:
        self._log.append((now, units))
        self._in_window += units
        self.units_spent += units
        if waited > 0:
            self._waits += 1
            self._wait_s += waited
        return max(waited, 0.0)

    def slot(self) -> AbstractContextManager:
        """Hold one of ``max_concurrency`` in-flight slots (Gmail answers 429 beyond its cap)."""
        return self._slots

    # -- adapting to Gmail's answers -----------------------------------------------------------

    def throttled(self, retry_after_s: float | None = None) -> None:
        """Gmail still said quota exceeded: slow down (multiplicative) and pause new spending."""
        policy = self.policy
        pause = policy.default_pause_s if retry_after_s is None else max(0.0, retry_after_s)
        with self._cond:
            self._throttles += 1
            floor = self.units_per_second * policy.floor
            self._rate = max(floor, self._rate * policy.decrease)
            self._paused_until = max(self._paused_until, self._clock() + pause)

    def congested(self) -> None:
        """Gmail said 429 "too many concurrent requests": the caller backs off and retries,
        but the units rate is not cut, since units were not the problem. Concurrency stays
        capped by ``max_concurrency``; this only counts the event."""
        with self._cond:
            self._congestions += 1

    def succeeded(self) -> None:
        """A call went through: recover additively toward the configured rate."""
        with self._cond:
            step = self.units_per_second * self.policy.increase
            self._rate = min(self.units_per_second, self._rate + step)

    @property
    def effective_rate(self) -> float:
        return self._rate

    def snapshot(self) -> dict:
        with self._cond:
            return {
                "units_spent": self.units_spent,
                "waits": self._waits,
                "wait_s": round(self._wait_s, 6),
                "throttle_events": self._throttles,
                "congestion_events": self._congestions,
                "effective_rate": self._rate,
                "configured_rate": self.units_per_second,
            }
