"""Run metrics: what a sync cost in calls, errors, retries, quota units, waits and latency.

One ``Metrics`` per run, shared by every mailbox's transport, so the closing summary answers
"why was this run slow?" without a profiler. Memory stays flat however long the run: latency
keeps only the most recent ``reservoir`` samples per operation.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field

RESERVOIR = 10_000


@dataclass
class _Operation:
    calls: int = 0
    units: int = 0
    errors: Counter = field(default_factory=Counter)
    retries: Counter = field(default_factory=Counter)
    latencies: deque = field(default_factory=lambda: deque(maxlen=RESERVOIR))


def _percentile(sorted_values: list[float], pct: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(pct / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def _is_error(status: int) -> bool:
    """Status 0 means no HTTP answer at all (connection failed or timed out)."""
    return status >= 400 or status <= 0


class Metrics:
    """Thread-safe counters for one run; ``summary()`` for code, ``log_summary()`` for people."""

    def __init__(self, reservoir: int = RESERVOIR, clock: Callable[[], float] = time.monotonic):
        self._reservoir = reservoir
        self._clock = clock
        self._started = clock()
        self._lock = threading.Lock()
        self._ops: dict[str, _Operation] = {}
        self._mailbox_calls: Counter[str] = Counter()
        self._mailbox_units: Counter[str] = Counter()
        self._transitions: deque[dict] = deque(maxlen=1000)
        self._transition_count = 0
        self._waits: Counter[str] = Counter()
        self._wait_s: Counter[str] = Counter()
        self._counters: Counter[str] = Counter()

    def _op(self, method: str) -> _Operation:
        op = self._ops.get(method)
        if op is None:
            op = self._ops[method] = _Operation(latencies=deque(maxlen=self._reservoir))
        return op

    # -- recording -----------------------------------------------------------------------------

    def call(self, method: str, mailbox: str, status: int, latency_s: float, units: int) -> None:
        """One HTTP attempt (retries included), whatever its outcome."""
        with self._lock:
            op = self._op(method)
            op.calls += 1
            op.units += units
            op.latencies.append(latency_s)
            if _is_error(status):
                op.errors[str(status)] += 1
            self._mailbox_calls[mailbox] += 1
            self._mailbox_units[mailbox] += units

    def retry(self, method: str, reason: str) -> None:
        """A retry was scheduled; ``reason`` is a status, a Gmail reason or an exception name."""
        with self._lock:
            self._op(method).retries[reason] += 1

    def breaker_transition(self, mailbox: str, old: str, new: str) -> None:
        with self._lock:
            self._transition_count += 1
            at = round(self._clock() - self._started, 3)
            self._transitions.append({"mailbox": mailbox, "from": old, "to": new, "at_s": at})

    def quota_wait(self, mailbox: str, seconds: float) -> None:
        """The governor held a call back for ``seconds`` to stay inside Gmail's quota."""
        with self._lock:
            self._waits[mailbox] += 1
            self._wait_s[mailbox] += seconds

    def count(self, name: str, n: int = 1) -> None:
        """Free-form counter, e.g. ``records.messages``."""
        with self._lock:
            self._counters[name] += n

    # -- reporting -----------------------------------------------------------------------------

    def summary(self) -> dict:
        with self._lock:
            elapsed = self._clock() - self._started
            operations = {name: self._op_summary(op) for name, op in sorted(self._ops.items())}
            totals = {
                "calls": sum(op["calls"] for op in operations.values()),
                "errors": sum(sum(op["errors"].values()) for op in operations.values()),
                "retries": sum(sum(op["retries"].values()) for op in operations.values()),
                "units": sum(op["units"] for op in operations.values()),
                "quota_waits": sum(self._waits.values()),
                "quota_wait_s": round(sum(self._wait_s.values()), 3),
                "breaker_transitions": self._transition_count,
                "elapsed_s": round(elapsed, 3),
            }
            totals["calls_per_s"] = round(totals["calls"] / elapsed, 1) if elapsed > 0 else 0.0
            return {
                "operations": operations,
                "totals": totals,
                "mailboxes": {
                    mailbox: {"calls": calls, "units": self._mailbox_units[mailbox]}
                    for mailbox, calls in sorted(self._mailbox_calls.items())
                },
                "breaker_transitions": list(self._transitions),
                "quota_waits": {
                    mailbox: {"count": count, "seconds": round(self._wait_s[mailbox], 3)}
                    for mailbox, count in sorted(self._waits.items())
                },
                "counters": dict(sorted(self._counters.items())),
            }

    @staticmethod
    def _op_summary(op: _Operation) -> dict:
        ordered = sorted(op.latencies)
        return {
            "calls": op.calls,
            "errors": dict(sorted(op.errors.items())),
            "retries": dict(sorted(op.retries.items())),
            "units": op.units,
            "latency_ms": {
                "p50": round(_percentile(ordered, 50) * 1000, 1),
                "p95": round(_percentile(ordered, 95) * 1000, 1),
                "max": round((ordered[-1] if ordered else 0.0) * 1000, 1),
            },
        }

    def log_summary(self, logger: logging.Logger) -> None:
        """One readable line per operation and a totals line, plus singer-sdk METRIC lines."""
        report = self.summary()
        for name, op in report["operations"].items():
            latency = op["latency_ms"]
            logger.info(
                "gmail %s: %d calls, %s, %s, %d units, latency p50 %.1f ms p95 %.1f ms max %.1f ms",
                name,
                op["calls"],
                _tally("errors", op["errors"]),
                _tally("retries", op["retries"]),
                op["units"],
                latency["p50"],
                latency["p95"],
                latency["max"],
            )
        totals = report["totals"]
        counters = ", ".join(f"{k}={v}" for k, v in report["counters"].items()) or "none"
        logger.info(
            "gmail totals: %d calls (%.1f/s), %d errors, %d retries, %d units, "
            "%d quota waits (%.3f s), %d breaker transitions, %.3f s elapsed; counters: %s",
            totals["calls"],
            totals["calls_per_s"],
            totals["errors"],
            totals["retries"],
            totals["units"],
            totals["quota_waits"],
            totals["quota_wait_s"],
            totals["breaker_transitions"],
            totals["elapsed_s"],
            counters,
        )
        for name, op in report["operations"].items():
            point = {
                "type": "counter",
                "metric": "gmail_api_calls",
                "value": op["calls"],
                "tags": {
                    "endpoint": name,
                    "errors": op["errors"],
                    "retries": op["retries"],
                    "units": op["units"],
                    "latency_ms": op["latency_ms"],
                },
            }
            logger.info("METRIC: %s", json.dumps(point, sort_keys=True))


def _tally(label: str, counts: dict[str, int]) -> str:
    """``3 errors (429x2, 503x1)`` or ``0 errors``."""
    total = sum(counts.values())
    if not total:
        return f"0 {label}"
    parts = ", ".join(f"{key}x{n}" for key, n in counts.items())
    return f"{total} {label} ({parts})"
