"""Per-user quota units and concurrency caps, charged the way Gmail charges them.

Clients must learn to pace themselves against Gmail's moving-window limit (a 403
``rateLimitExceeded`` with a "Retry after" time) and its concurrency cap (a 429); this
module makes both reproducible without touching Google.
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone

from . import errors

WINDOW_S = 1.0
DEFAULT_COST = 5


def _costs(prefix: str, **costs: int) -> dict[str, int]:
    return {f"gmail.users.{prefix}{name}": units for name, units in costs.items()}


# Gmail's documented per-method quota units; settings methods the table omits (language,
# S/MIME, CSE) follow its pattern: reads 1, writes 5.
METHOD_COSTS: dict[str, int] = {
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
    **_costs(
        "settings.",
        getAutoForwarding=1,
        getImap=1,
        getLanguage=1,
        getPop=1,
        getVacation=1,
        updateAutoForwarding=5,
        updateImap=5,
        updateLanguage=5,
        updatePop=5,
        updateVacation=5,
    ),
    **_costs("settings.delegates.", create=100, delete=5, get=1, list=1),
    **_costs("settings.filters.", create=5, delete=5, get=1, list=1),
    **_costs("settings.forwardingAddresses.", create=100, delete=5, get=1, list=1),
    **_costs(
        "settings.sendAs.", create=100, delete=5, get=1, list=1, patch=100, update=100, verify=100
    ),
    **_costs("settings.sendAs.smimeInfo.", delete=5, get=1, insert=5, list=1, setDefault=5),
    **_costs("settings.cse.identities.", create=5, delete=5, get=1, list=1, patch=5),
    **_costs(
        "settings.cse.keypairs.",
        create=5,
        disable=5,
        enable=5,
        get=1,
        list=1,
        obliterate=5,
    ),
}


def method_id(name: str) -> str:
    """Full discovery id for a full or short name ("messages.get", "users.getProfile")."""
    if name.startswith("gmail."):
        return name
    if name.startswith("users."):
        return "gmail." + name
    return "gmail.users." + name


def cost_of(method: str, costs: dict[str, int] | None = None) -> int:
    """Quota units for a method; undocumented methods cost a typical read's 5 units."""
    table = METHOD_COSTS if costs is None else costs
    return table.get(method_id(method), DEFAULT_COST)


def iso_utc(epoch_s: float) -> str:
    """Gmail's timestamp style: 2026-11-24T03:04:05.123Z (rounded up to the millisecond)."""
    millis = math.ceil(epoch_s * 1000)
    moment = datetime.fromtimestamp(millis // 1000, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{millis % 1000:03d}Z"


class QuotaLimiter:
    """A moving window of units per user, plus an in-flight cap; thread-safe.

    Gmail documents its per-user limit as "250 quota units per second, moving average
    (allows short bursts)" without saying over how long. ``window_s`` is that span: the
    default 1 s is the strictest reading (no more than 250 units in any one second); a
    longer window allows bursts of ``units_per_second * window_s`` at the same average.
    """

    def __init__(
        self,
        units_per_second: float = 250,
        max_concurrent_per_user: int = 10,
        window_s: float = WINDOW_S,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ):
        self.units_per_second = float(units_per_second)
        self.max_concurrent_per_user = int(max_concurrent_per_user)
        self.window_s = float(window_s)
        self.costs = dict(METHOD_COSTS)
        self._clock = clock
        self._wall_clock = wall_clock
        self._lock = threading.Lock()
        self._windows: dict[str, deque[tuple[float, int]]] = defaultdict(deque)
        self._window_units: Counter[str] = Counter()
        self._in_flight: Counter[str] = Counter()
        self._units_by_user: Counter[str] = Counter()
        self._units_by_method: Counter[str] = Counter()
        self._calls_by_method: Counter[str] = Counter()
        self._rejections: Counter[str] = Counter()

    def cost_of(self, method: str) -> int:
        return cost_of(method, self.costs)

    def _prune(self, user: str, now: float) -> deque[tuple[float, int]]:
        window = self._windows[user]
        horizon = now - self.window_s
        while window and window[0][0] <= horizon:
            self._window_units[user] -= window.popleft()[1]
        return window

    def charge(self, user: str, method: str) -> int:
        """Record the call's units and return them, or raise Gmail's per-user 403.

        A rejected call costs nothing. A single call dearer than the whole limit is let
        through when the window is empty, so it cannot be refused forever.
        """
        method = method_id(method)
        with self._lock:
            cost = self.cost_of(method)
            limit = self.units_per_second * self.window_s
            now = self._clock()
            window = self._prune(user, now)
            used = self._window_units[user]
            if limit > 0 and window and used + cost > limit:
                self._rejections["rate_limited"] += 1
                retry_at = self._wall_clock() + self._wait(window, used, cost, limit, now)
                raise errors.rate_limited(iso_utc(retry_at))
            window.append((now, cost))
            self._window_units[user] += cost
            self._units_by_user[user] += cost
            self._units_by_method[method] += cost
            self._calls_by_method[method] += 1
            return cost

    def _wait(self, window: deque, used: int, cost: int, limit: float, now: float) -> float:
        """Seconds until enough of the window has expired for ``cost`` more units."""
        for t, units in window:
            used -= units
            if used + cost <= limit:
                return t + self.window_s - now
        return window[-1][0] + self.window_s - now

    @contextmanager
    def concurrent(self, user: str) -> Iterator[None]:
        """Hold one in-flight slot for ``user`` or raise Gmail's 429."""
        with self._lock:
            cap = self.max_concurrent_per_user
            if cap > 0 and self._in_flight[user] >= cap:
                self._rejections["concurrent"] += 1
                raise errors.too_many_concurrent()
            self._in_flight[user] += 1
        try:
            yield
        finally:
            with self._lock:
                self._in_flight[user] -= 1
                if self._in_flight[user] <= 0:
                    del self._in_flight[user]

    def reconfigure(
        self,
        units_per_second: float | None = None,
        max_concurrent_per_user: int | None = None,
        costs: dict[str, int] | None = None,
        window_s: float | None = None,
    ) -> None:
        """Change limits or override per-method costs (full or short method names)."""
        with self._lock:
            if units_per_second is not None:
                self.units_per_second = float(units_per_second)
            if window_s is not None:
                self.window_s = float(window_s)
            if max_concurrent_per_user is not None:
                self.max_concurrent_per_user = int(max_concurrent_per_user)
            for name, units in (costs or {}).items():
                self.costs[method_id(name)] = int(units)

    def reset(self) -> None:
        """Forget windows and counters (between test scenarios)."""
        with self._lock:
            for counter in (
                self._window_units,
                self._units_by_user,
                self._units_by_method,
                self._calls_by_method,
                self._rejections,
            ):
                counter.clear()
            self._windows.clear()

    def snapshot(self) -> dict:
        with self._lock:
            return {
                "units_per_second": self.units_per_second,
                "max_concurrent_per_user": self.max_concurrent_per_user,
                "units_by_user": dict(self._units_by_user),
                "units_by_method": dict(self._units_by_method),
                "calls_by_method": dict(self._calls_by_method),
                "in_flight": dict(self._in_flight),
                "rejections": {
                    "rate_limited": self._rejections["rate_limited"],
                    "concurrent": self._rejections["concurrent"],
                },
            }
