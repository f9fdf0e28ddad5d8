"""Call accounting for ``GET /_emulator/stats``: what clients did, so tests can assert on it."""

from __future__ import annotations

import threading
from collections import Counter, defaultdict


class Stats:
    """Thread-safe counters of calls, quota units, statuses, faults and sends."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.calls_by_method: Counter[str] = Counter()
            self.units_by_method: Counter[str] = Counter()
            self.calls_by_user: Counter[str] = Counter()
            self.units_by_user: Counter[str] = Counter()
            self.status_by_method: dict[str, Counter[str]] = defaultdict(Counter)
            self.faults: Counter[str] = Counter()
            self.sends_by_user: Counter[str] = Counter()
            self.batch_requests = 0
            self.batch_parts = 0
            self.token_grants: Counter[str] = Counter()
            self.token_status: Counter[str] = Counter()  # every answer of POST /token
            self.http_requests = 0

    def http_request(self) -> None:
        with self._lock:
            self.http_requests += 1

    def call(self, method_id: str, user: str | None, status: int, units: int) -> None:
        with self._lock:
            self.calls_by_method[method_id] += 1
            self.status_by_method[method_id][str(status)] += 1
            self.units_by_method[method_id] += units
            if user:
                self.calls_by_user[user] += 1
                self.units_by_user[user] += units

    def fault(self, method_id: str, kind: str) -> None:
        with self._lock:
            self.faults[f"{method_id}:{kind}"] += 1

    def sent(self, user: str) -> None:
        with self._lock:
            self.sends_by_user[user] += 1

    def batch(self, parts: int) -> None:
        with self._lock:
            self.batch_requests += 1
            self.batch_parts += parts

    def token(self, grant_type: str) -> None:
        with self._lock:
            self.token_grants[grant_type] += 1

    def token_answer(self, status: int | str) -> None:
        """One POST /token answered with ``status`` ("reset" for a dropped connection)."""
        with self._lock:
            self.token_status[str(status)] += 1

    def snapshot(self) -> dict:
        with self._lock:
            return {
                "http_requests": self.http_requests,
                "calls": {
                    "by_method": dict(self.calls_by_method),
                    "by_user": dict(self.calls_by_user),
                    "status_by_method": {k: dict(v) for k, v in self.status_by_method.items()},
                    "total": sum(self.calls_by_method.values()),
                },
                "quota_units": {
                    "by_method": dict(self.units_by_method),
                    "by_user": dict(self.units_by_user),
                    "total": sum(self.units_by_method.values()),
                },
                "faults": {
                    "by_method_and_kind": dict(self.faults),
                    "total": sum(self.faults.values()),
                },
                "sends": {
                    "by_user": dict(self.sends_by_user),
                    "total": sum(self.sends_by_user.values()),
                },
                "batch": {"requests": self.batch_requests, "parts": self.batch_parts},
                "token_grants": dict(self.token_grants),
                "token_requests": {
                    "by_status": dict(self.token_status),
                    "total": sum(self.token_status.values()),
                },
            }
