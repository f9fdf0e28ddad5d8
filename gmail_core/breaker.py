"""Per-mailbox circuit breaker: stop hammering Gmail when it is down, probe when it may be back.

The state machine is pybreaker's. What this module adds is policy: which failures mean
"Gmail or the network is in trouble" (``counts_as_outage``), and an error that says which
mailbox is blocked, after how many failures and until when.

pybreaker's ``CircuitBreaker.call`` holds the breaker's lock while the guarded function runs,
which would serialise every request of a mailbox. So we run the function ourselves and feed
only its outcome through pybreaker: concurrent calls stay concurrent, and pybreaker still
does the counting, tripping, half-opening and closing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pybreaker
import requests

from .errors import ApiError, CircuitOpenError, TransientNetworkError

# Exceptions that always mean the network or Gmail is unhealthy. ApiError counts only when
# it is retryable (429, 5xx, 403 rate limit): by the time it reaches the breaker, the
# transport's retries are exhausted.
OUTAGE_EXCEPTIONS: tuple[type[BaseException], ...] = (
    TransientNetworkError,
    requests.ConnectionError,
    requests.Timeout,
)


def counts_as_outage(exc: BaseException) -> bool:
    """True for failures that say Gmail or the network is in trouble; 400/401/404 do not."""
    if isinstance(exc, ApiError):
        return exc.retryable
    return isinstance(exc, OUTAGE_EXCEPTIONS)


def _not_outage(exc: BaseException) -> bool:
    return not counts_as_outage(exc)


def _replay(exc: BaseException | None) -> None:
    """Stands in for the guarded call when its outcome is fed to pybreaker."""
    if exc is not None:
        raise exc


class _Transitions(pybreaker.CircuitBreakerListener):
    def __init__(self, owner: MailboxBreaker):
        self._owner = owner

    def state_change(self, cb, old_state, new_state) -> None:
        old = old_state.name if old_state is not None else "closed"
        if old != new_state.name and self._owner.on_transition is not None:
            self._owner.on_transition(self._owner.mailbox, old, new_state.name)

    def failure(self, cb, exc) -> None:
        self._owner.last_failure = f"{type(exc).__name__}: {exc}"


class MailboxBreaker:
    """One breaker per mailbox: ``call(fn)`` runs fn, or raises CircuitOpenError when open."""

    def __init__(
        self,
        mailbox: str,
        fail_max: int = 5,
        reset_timeout_s: float = 30.0,
        on_transition: Callable[[str, str, str], None] | None = None,
    ):
        self.mailbox = mailbox
        self.on_transition = on_transition
        self.last_failure = ""
        self._storage = pybreaker.CircuitMemoryStorage(pybreaker.STATE_CLOSED)
        self._cb = pybreaker.CircuitBreaker(
            fail_max=fail_max,
            reset_timeout=reset_timeout_s,
            exclude=[_not_outage],
            listeners=[_Transitions(self)],
            state_storage=self._storage,
            name=mailbox,
        )
        self._lock = threading.RLock()
        self._probing = False

    @property
    def state(self) -> str:
        """``closed``, ``open`` or ``half-open`` (open stays open until a call probes)."""
        return self._cb.current_state

    @property
    def failures(self) -> int:
        """Consecutive failures that counted as outages."""
        return self._cb.fail_counter

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run ``fn(*args, **kwargs)`` unless the circuit is open; failures are re-raised."""
        probe = self._admit()
        try:
            result = fn(*args, **kwargs)
        except BaseException as exc:
            self._record(exc, probe)
            raise
        self._record(None, probe)
        return result

    def _admit(self) -> bool:
        """Let a call through (True if it is the half-open probe) or raise CircuitOpenError."""
        with self._lock:
            state = self.state
            if state == pybreaker.STATE_CLOSED:
                return False
            if self._probing or self._until_probe() > 0:
                raise self._open_error()
            self._probing = True
        if state == pybreaker.STATE_OPEN:
            self._cb.half_open()
        return True

    def _record(self, exc: BaseException | None, probe: bool) -> None:
        """Feed one outcome to pybreaker, which counts it, trips or closes."""
        with self._lock:
            if probe:
                self._probing = False
            elif self.state != pybreaker.STATE_CLOSED:
                return  # a call that started before the trip: its outcome is stale
            if exc is not None and not isinstance(exc, ApiError) and _not_outage(exc):
                return  # our own bug or an auth problem says nothing about Gmail's health
            try:
                self._cb.call(_replay, exc)
            except pybreaker.CircuitBreakerError:
                pass  # pybreaker's way of saying it just opened; the caller sees exc
            except BaseException as replayed:
                if replayed is not exc:
                    raise

    def _until_probe(self) -> float:
        opened_at = self._storage.opened_at
        if opened_at is None:
            return 0.0
        probe_at = opened_at + timedelta(seconds=self._cb.reset_timeout)
        return (probe_at - datetime.now(timezone.utc)).total_seconds()

    def _open_error(self) -> CircuitOpenError:
        wait = self._until_probe()
        if self._probing:
            when = "a probe call is in flight; retry when it completes"
        else:
            when = f"it will half-open to probe Gmail in {max(wait, 0):.1f} s"
        last = f" Last failure: {self.last_failure.rstrip('.')}." if self.last_failure else ""
        error = CircuitOpenError(
            f"Circuit open for mailbox {self.mailbox}: {self.failures} consecutive failures "
            f"(Gmail errors or network trouble); failing fast, {when}.{last}"
        )
        error.mailbox = self.mailbox  # type: ignore[attr-defined]
        error.retry_after_s = max(wait, 0.0)  # type: ignore[attr-defined]
        return error
