"""Seeded fault injection and added latency.

Retry and backoff code is only trustworthy if it has seen Gmail's transient failures; this
module produces them at a chosen rate, reproducibly: the same seed and the same sequence of
calls give the same faults, so a failing run can be replayed from ``replay_key()``.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from . import errors
from .quota import iso_utc

# What each kind does (``FAULT_HELP``). Kinds in ``AFTER_RUN`` let the call run first, so a
# change really happens while the client cannot tell (a blindly retried send duplicates).
FAULT_HELP = {
    "429": "429 RESOURCE_EXHAUSTED (too many concurrent requests), call not run",
    "403": "403 rateLimitExceeded with Gmail's 'Retry after <time>' message, call not run",
    "500": "500 backendError, call not run",
    "503": "503 backendError, call not run",
    "reset": "connection reset (RST) before any answer, call not run",
    "slow": "call runs after an extra delay of slow_ms (fault_slow_ms, default 2000)",
    "stall": "call runs, its answer is held back stall_ms (fault_stall_ms, default 30000): "
    "the client's read timeout must turn it into a retry",
    "lost_response": "call runs, then the connection is reset: the answer is lost",
    "close_mid_body": "call runs; status line and headers with the full Content-Length, half "
    "the body, then the connection closes (an empty body is cut in the headers)",
    "truncated_json": "call runs; its answer (200 for a success) is cut in half under a matching "
    "Content-Length: HTTP is fine, the JSON is not",
    "garbled_batch": "call runs; in a batch the part's status line is malformed "
    "('HTTP/1.1 abc'), on the outer batch request every part's is; a plain call's body "
    "is replaced by non-JSON",
}
FAULT_KINDS = tuple(FAULT_HELP)
AFTER_RUN = ("stall", "lost_response", "close_mid_body", "truncated_json", "garbled_batch")
DEFAULT_KINDS = ("429", "403", "500", "503")
RATE_LIMIT_RETRY_S = 1.0
DEFAULT_SLOW_MS = 2000.0
DEFAULT_STALL_MS = 30000.0
# The outer request of a batch is faulted under this method name ("batch" in fault_methods or
# per_method_rate targets it alone), from its own random stream: adding or removing batch
# requests never shifts the faults the calls themselves see under the same seed.
BATCH_METHOD = "batch"

# The OAuth token endpoint (POST /token) has its own faults, drawn by a TokenFaultInjector
# from a random stream of its own: token requests never shift the faults API calls see under
# the same seed, and the other way round. The answers are Google's token-endpoint shapes
# (``{"error": ..., "error_description": ...}``), built by ``auth.injected_token_error``.
TOKEN_FAULT_HELP = {
    "500": "500 internal_failure, no token issued",
    "503": "503 temporarily_unavailable, no token issued",
    "429": "429 rate_limit_exceeded with Retry-After: 1, no token issued",
    "html_502": "502 with Google's HTML error page (not JSON), no token issued",
    "reset": "connection reset (RST) before any answer, no token issued",
    "stall": "a token is issued, its answer held back stall_ms (fault_stall_ms)",
    "truncated_json": "a token is issued; the 200 answer is cut in half: HTTP is fine, the "
    "JSON is not",
    "invalid_grant": "400 invalid_grant worded for the grant: a refresh token 'Token has been "
    "expired or revoked.', a service-account JWT 'Invalid JWT: Token must be a short-lived "
    "token ...' (the clock-skew refusal), an auth code 'Malformed auth code.'",
    "invalid_client": "401 invalid_client 'Unauthorized' (wrong, deleted or rotated client "
    "secret or key)",
}
TOKEN_FAULT_KINDS = tuple(TOKEN_FAULT_HELP)
TOKEN_AFTER_RUN = ("stall", "truncated_json")
TOKEN_DEFAULT_KINDS = ("500", "503")
# Short names of the grant types, what token_fault_grants filters on
TOKEN_GRANTS = {
    "refresh_token": "refresh_token",
    "authorization_code": "authorization_code",
    "urn:ietf:params:oauth:grant-type:jwt-bearer": "jwt_bearer",
}
TOKEN_STREAM = "token"


@dataclass
class Fault:
    """One injected failure; ``delay_s`` is how long a "slow" or "stall" fault waits."""

    kind: str
    delay_s: float = 0.0


def matches(method_id: str, pattern: str) -> bool:
    """Full discovery ids match exactly; short names ("messages.get") match as a suffix."""
    return method_id == pattern or method_id.endswith("." + pattern)


class FaultInjector:
    """Decides, per call, whether to fail it and how; thread-safe and deterministic."""

    ALLOWED: tuple[str, ...] = FAULT_KINDS  # the kinds this injector can produce
    STREAM = ""  # a named stream seeds its own RNG with f"{seed}:{STREAM}"

    def __init__(
        self,
        rate: float = 0.0,
        kinds: Sequence[str] = DEFAULT_KINDS,
        methods: Iterable[str] | None = None,
        seed: int = 0,
        latency_ms: float = 0.0,
        slow_ms: float = DEFAULT_SLOW_MS,
        stall_ms: float = DEFAULT_STALL_MS,
        per_method_rate: dict[str, float] | None = None,
        wall_clock: Callable[[], float] = time.time,
    ):
        self._lock = threading.Lock()
        self._wall_clock = wall_clock
        self._settings: dict = {}
        self._by_kind: Counter[str] = Counter()
        self._by_method: Counter[str] = Counter()
        self._picks = 0
        self.reconfigure(
            rate=rate,
            kinds=kinds,
            methods=methods,
            seed=seed,
            latency_ms=latency_ms,
            slow_ms=slow_ms,
            stall_ms=stall_ms,
            per_method_rate=per_method_rate,
        )

    def reconfigure(self, **settings) -> None:
        """Change any constructor setting; a new ``seed`` restarts the random sequence."""
        unknown = set(settings) - {
            "rate",
            "kinds",
            "methods",
            "seed",
            "latency_ms",
            "slow_ms",
            "stall_ms",
            "per_method_rate",
        }
        if unknown:
            raise TypeError(f"unknown fault settings: {sorted(unknown)}")
        merged = {**self._settings, **settings}
        merged["rate"] = _rate(merged["rate"], "rate")
        merged["kinds"] = list(merged["kinds"])
        bad = [k for k in merged["kinds"] if k not in self.ALLOWED]
        if bad or not merged["kinds"]:
            raise ValueError(f"fault kinds must be a non-empty subset of {self.ALLOWED}")
        if merged["methods"] is not None:
            merged["methods"] = list(merged["methods"])
        merged["per_method_rate"] = {
            m: _rate(r, f"rate for {m}") for m, r in (merged["per_method_rate"] or {}).items()
        }
        merged["seed"] = int(merged["seed"])
        merged["latency_ms"] = max(0.0, float(merged["latency_ms"]))
        merged["slow_ms"] = max(0.0, float(merged["slow_ms"]))
        merged["stall_ms"] = max(0.0, float(merged["stall_ms"]))
        with self._lock:
            if "seed" in settings:
                seed = merged["seed"]
                self._rng = random.Random(f"{seed}:{self.STREAM}" if self.STREAM else seed)
                self._batch_rng = random.Random(f"{merged['seed']}:{BATCH_METHOD}")
            self._settings = merged

    def _rate_for(self, method_id: str) -> float:
        overrides = [p for p in self._settings["per_method_rate"] if matches(method_id, p)]
        if overrides:
            return self._settings["per_method_rate"][max(overrides, key=len)]
        methods = self._settings["methods"]
        if methods is not None and not any(matches(method_id, p) for p in methods):
            return 0.0
        return self._settings["rate"]

    def pick(self, method_id: str) -> Fault | None:
        """The fault to inject into this call, if any.

        Every call draws exactly two numbers, whatever the outcome, so one method's settings
        never shift the faults another method sees under the same seed. The outer request of
        a batch (``BATCH_METHOD``) draws from a stream of its own.
        """
        with self._lock:
            self._picks += 1
            rng = self._batch_rng if method_id == BATCH_METHOD else self._rng
            roll, choice = rng.random(), rng.random()
            if roll >= self._rate_for(method_id):
                return None
            kinds = self._settings["kinds"]
            kind = kinds[min(int(choice * len(kinds)), len(kinds) - 1)]
            self._by_kind[kind] += 1
            self._by_method[method_id] += 1
            delay = 0.0
            if kind in ("slow", "stall"):
                delay = self._settings[f"{kind}_ms"] / 1000.0
            return Fault(kind, delay)

    def latency_s(self) -> float:
        """Latency added to every response."""
        return self._settings["latency_ms"] / 1000.0

    def error_for(self, fault: Fault) -> errors.GmailError | None:
        """The Gmail error a fault stands for; None for faults the server acts out."""
        if fault.kind == "429":
            return errors.too_many_concurrent()
        if fault.kind == "403":
            return errors.rate_limited(iso_utc(self._wall_clock() + RATE_LIMIT_RETRY_S))
        if fault.kind in ("500", "503"):
            return errors.backend_error(int(fault.kind))
        return None

    def snapshot(self) -> dict:
        with self._lock:
            return {
                "picks": self._picks,
                "injected": sum(self._by_kind.values()),
                "by_kind": dict(self._by_kind),
                "by_method": dict(self._by_method),
            }

    def replay_key(self) -> dict:
        """Constructor arguments that reproduce this run: ``FaultInjector(**key)``."""
        with self._lock:
            settings = self._settings
            return {
                "rate": settings["rate"],
                "kinds": list(settings["kinds"]),
                "methods": None if settings["methods"] is None else list(settings["methods"]),
                "seed": settings["seed"],
                "latency_ms": settings["latency_ms"],
                "slow_ms": settings["slow_ms"],
                "stall_ms": settings["stall_ms"],
                "per_method_rate": dict(settings["per_method_rate"]),
            }


class TokenFaultInjector(FaultInjector):
    """Faults of the OAuth token endpoint, by grant (``TOKEN_GRANTS`` short names).

    ``methods`` limits faults to some grants (e.g. ``["refresh_token"]``); the random stream
    is the seed's "token" stream, independent of the API calls' one.
    """

    ALLOWED = TOKEN_FAULT_KINDS
    STREAM = TOKEN_STREAM

    def __init__(self, rate: float = 0.0, kinds: Sequence[str] = TOKEN_DEFAULT_KINDS, **settings):
        super().__init__(rate, kinds, **settings)

    def error_for(self, fault: Fault) -> errors.GmailError | None:
        return None  # the token endpoint's answers are not Gmail errors: see auth.py


def grant_name(grant_type: str) -> str:
    """The short name of a token request's ``grant_type`` (what faults are filtered on)."""
    return TOKEN_GRANTS.get(grant_type, grant_type or "none")


def truncated(body: bytes) -> bytes:
    """The first half of a body (what ``truncated_json`` and ``close_mid_body`` send)."""
    return body[: len(body) // 2]


GARBLED_BODY = b"<html><body>garbled</body></html>"  # a plain call's ``garbled_batch`` answer
GARBLED_STATUS = "HTTP/1.1 abc Garbled"  # a batch part's ``garbled_batch`` status line


def _rate(value: float, what: str) -> float:
    rate = float(value)
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"{what} must be between 0 and 1")
    return rate
