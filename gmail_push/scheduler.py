"""Turning a stream of notifications into sync runs: debounced, serialised, retried.

Per key (the mailbox with ``sync_per_mailbox``, else one key for the whole pipeline, since one
``meltano run`` syncs every mailbox and two at once would fight over state and the loader):

- the first notification opens a debounce window; everything arriving in it joins one run;
- at most one run at a time, and at most one queued behind it: a notification during a run
  queues the next run, so no change is missed (the tap reads history from its bookmark, so a
  later run covers every earlier notification);
- a failed run is retried with exponential backoff, up to ``sync_retries`` times.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass

from .settings import SyncSettings

ALL = "*"
log = logging.getLogger("gmail_push.sync")


@dataclass
class _Slot:
    key: str
    requested: bool = False
    requested_at: float = 0.0
    not_before: float = 0.0
    running: bool = False
    failures: int = 0
    notifications: int = 0
    pending_notes: int = 0
    runs: int = 0
    succeeded: int = 0
    failed: int = 0
    last_started: float | None = None
    last_finished: float | None = None
    last_ok: bool | None = None
    process: subprocess.Popen | None = None

    def status(self) -> dict:
        return {
            "running": self.running,
            "queued": self.requested,
            "notifications": self.notifications,
            "runs": self.runs,
            "succeeded": self.succeeded,
            "failed": self.failed,
            "last_started": self.last_started,
            "last_finished": self.last_finished,
            "last_ok": self.last_ok,
        }


class SyncScheduler:
    def __init__(self, settings: SyncSettings):
        self.settings = settings
        self._cond = threading.Condition()
        self._slots: dict[str, _Slot] = {}
        self._threads: list[threading.Thread] = []
        self._stopping = False

    def key_for(self, mailbox: str) -> str:
        return mailbox.lower() if self.settings.per_mailbox else ALL

    def notify(self, mailbox: str) -> None:
        """A change happened in ``mailbox``: make sure a run will start after it."""
        key = self.key_for(mailbox)
        with self._cond:
            if self._stopping:
                return
            slot = self._slots.get(key)
            if slot is None:
                slot = self._slots[key] = _Slot(key)
                thread = threading.Thread(
                    target=self._loop, args=(slot,), name=f"sync-{key}", daemon=True
                )
                self._threads.append(thread)
                thread.start()
            slot.notifications += 1
            slot.pending_notes += 1
            if not slot.requested:
                slot.requested = True
                slot.requested_at = time.monotonic()
            self._cond.notify_all()

    def status(self) -> dict:
        with self._cond:
            return {key: slot.status() for key, slot in self._slots.items()}

    def _loop(self, slot: _Slot) -> None:
        while True:
            with self._cond:
                while not self._stopping and not slot.requested:
                    self._cond.wait()
                due = max(slot.requested_at + self.settings.debounce_s, slot.not_before)
                while not self._stopping and time.monotonic() < due:
                    self._cond.wait(due - time.monotonic())
                if self._stopping:
                    return
                slot.requested = False
                slot.running = True
                notes, slot.pending_notes = slot.pending_notes, 0
            ok = self._run(slot, notes)
            with self._cond:
                slot.running = False
                slot.process = None
                self._after(slot, ok)
                self._cond.notify_all()

    def _after(self, slot: _Slot, ok: bool) -> None:
        settings = self.settings
        if ok:
            slot.failures = 0
            slot.not_before = 0.0
            return
        slot.failures += 1
        if slot.failures > settings.retries:
            log.error(
                "sync[%s] failed %d times in a row; giving up until the next notification",
                slot.key,
                slot.failures,
            )
            slot.failures = 0
            return
        wait = min(settings.retry_max_s, settings.retry_base_s * 2 ** (slot.failures - 1))
        slot.not_before = time.monotonic() + wait
        if not slot.requested:
            slot.requested = True
            slot.requested_at = time.monotonic()
        log.warning(
            "sync[%s] will be retried (%d/%d) in %.1f s",
            slot.key,
            slot.failures,
            settings.retries,
            wait,
        )

    def _command(self, slot: _Slot) -> list[str]:
        mailbox = "" if slot.key == ALL else slot.key
        return [part.replace("{mailbox}", mailbox) for part in self.settings.command]

    def _run(self, slot: _Slot, notes: int) -> bool:
        settings = self.settings
        env = dict(os.environ, GMAIL_PUSH_MAILBOX="" if slot.key == ALL else slot.key)
        started = time.monotonic()
        slot.runs += 1
        slot.last_started = time.time()
        log.info("sync[%s] started for %d notification(s)", slot.key, notes)
        try:
            process = subprocess.Popen(
                self._command(slot),
                cwd=settings.cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=2,  # the receiver's stderr: its stdout stays for its own messages
                start_new_session=True,  # a timeout or shutdown ends the whole process tree
            )
        except OSError as problem:
            log.error(
                "sync[%s] cannot start %r: %s; fix `sync_command` (or `loader`)",
                slot.key,
                settings.command[0],
                problem.strerror or problem,
            )
            return self._finished(slot, False)
        with self._cond:
            slot.process = process
        try:
            code = process.wait(timeout=settings.timeout_s)
        except subprocess.TimeoutExpired:
            log.error(
                "sync[%s] ran longer than sync_timeout_s=%g; killed", slot.key, settings.timeout_s
            )
            _kill(process)
            return self._finished(slot, False)
        elapsed = time.monotonic() - started
        if code == 0:
            log.info("sync[%s] finished ok in %.1f s", slot.key, elapsed)
        else:
            log.error("sync[%s] failed with exit code %d after %.1f s", slot.key, code, elapsed)
        return self._finished(slot, code == 0)

    def _finished(self, slot: _Slot, ok: bool) -> bool:
        slot.last_finished = time.time()
        slot.last_ok = ok
        if ok:
            slot.succeeded += 1
        else:
            slot.failed += 1
        return ok

    def stop(self, grace_s: float = 30.0) -> None:
        """Start nothing new; give a running sync ``grace_s`` to finish, then end it."""
        with self._cond:
            self._stopping = True
            queued = [slot.key for slot in self._slots.values() if slot.requested]
            running = [slot.process for slot in self._slots.values() if slot.process]
            self._cond.notify_all()
        if queued:
            log.warning(
                "stopping with a sync queued for %s; the next notification or scheduled run "
                "will catch up",
                ", ".join(queued),
            )
        deadline = time.monotonic() + grace_s
        for process in running:
            try:
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _kill(process)
        for thread in self._threads:
            thread.join(timeout=5)


def _kill(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
