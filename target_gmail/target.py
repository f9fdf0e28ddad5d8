"""target-gmail: settings, stream -> action routing, and the run's shared state.

Shared across sinks: the mailboxes (clients, label directories), the send ledger, the
dry-run plan, rejects and counters. State is emitted only when everything before it was
applied: if any mailbox failed, the run ends non-zero without moving the state, so a rerun
applies the same records again (label changes are idempotent; sends are deduplicated).
"""

from __future__ import annotations

import logging
import sys
import threading
from collections import Counter

import msgspec
from singer_sdk import Target
from singer_sdk.contrib.msgspec import MsgSpecReader
from singer_sdk.contrib.msgspec import decoder as _DECODER  # the SDK's own settings
from singer_sdk.exceptions import RecordsWithoutSchemaException
from singer_sdk.singerlib.exceptions import InvalidInputLine

from gmail_core.errors import ConfigError, GmailConnectorError
from gmail_core.json_args import flag_values, json_object_problem
from gmail_core.metrics import Metrics

from .ledger import Ledger
from .mailboxes import Mailboxes
from .plan import Plan
from .rejects import InvalidRecordError, Rejects
from .settings import CONFIG_SCHEMA, IGNORE, TargetSettings
from .sinks import SINKS, IgnoredStreamSink


class InputError(Exception):
    """A Singer line the target cannot use: nothing of the batch it arrived in is applied."""


class _Reader(MsgSpecReader):
    """msgspec decoding (~3x faster than json), minus the SDK's traceback and full-line
    dump on a malformed line: the run stops with one line saying what is wrong."""

    def deserialize_json(self, line):
        try:
            return _DECODER.decode(line)
        except msgspec.DecodeError as problem:
            shown = line if len(line) <= 80 else line[:80] + "..."
            raise InvalidInputLine(f"not a JSON line ({problem}): {shown!r}") from None

    def _process_unknown_message(self, message_dict: dict) -> None:
        kind = str(message_dict.get("type"))[:40]
        raise InputError(f"unknown Singer message type {kind!r}")


class _GiveUpIsNotTheEnd(logging.Filter):
    """``backoff`` logs each call it gives up on at ERROR. For the target that is not the
    run's verdict: a send is reconciled, a mailbox fails alone, and the run's one ERROR line
    says what happened. So those lines are passed on as WARNING."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR:
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


logging.getLogger("backoff").addFilter(_GiveUpIsNotTheEnd())


class TargetGmail(Target):
    """Apply label changes, label upserts and exactly-once sends to Gmail mailboxes."""

    name = "target-gmail"
    package_name = "gmail-connector"  # the distribution whose version --version prints
    config_jsonschema = CONFIG_SCHEMA
    message_reader_class = _Reader
    default_sink_class = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        try:
            self.settings = TargetSettings.from_config(self.config)
        except ConfigError as problem:
            self._exit(f"target-gmail: configuration error: {problem}")
        self.metrics = Metrics()
        self.plan = Plan() if self.settings.dry_run else None
        self.rejects = Rejects(self.settings.rejects_path, self.settings.on_invalid_record)
        self.counts: Counter[tuple[str, str]] = Counter()
        self.failures: dict[str, str] = {}
        self._down: dict[str, str] = {}  # mailbox -> why it failed for the rest of the run
        self._lock = threading.Lock()
        self._mailboxes: Mailboxes | None = None
        self._ledger: Ledger | None = None
        self._late_rejects: list[tuple[str, dict, str]] = []
        self.reconcile_delays = self.settings.reconcile_delays_s

    # ---- routing ---------------------------------------------------------------------

    def get_sink_class(self, stream_name: str):
        action = self.settings.action_for(stream_name)
        if action is None and self.settings.unmapped_streams == "ignore":
            self.logger.warning("stream %r has no action; its records are ignored", stream_name)
            return IgnoredStreamSink
        if action is None:
            self._exit(
                f"target-gmail: configuration error: `actions`: stream {stream_name!r} has no "
                f"action. Map it, e.g. actions: {{{stream_name}: label_changes}}, or set "
                "unmapped_streams: ignore."
            )
        if action == IGNORE:
            return IgnoredStreamSink
        return SINKS[action]

    @property
    def fail_on_invalid(self) -> bool:
        return self.settings.on_invalid_record == "fail"

    @property
    def parallel_mailboxes(self) -> int:
        return self.settings.max_parallel_mailboxes

    def mailboxes(self) -> Mailboxes:
        with self._lock:
            if self._mailboxes is None:
                try:
                    self._mailboxes = Mailboxes(self.config, self.settings, self.metrics, self.plan)
                except ConfigError as problem:
                    self._exit(f"target-gmail: configuration error: {problem}")
                except GmailConnectorError as problem:
                    self._exit(f"target-gmail: {problem}")
            return self._mailboxes

    def ledger(self) -> Ledger:
        with self._lock:
            if self._ledger is None:
                try:
                    self._ledger = Ledger(self.settings.ledger_path)
                except ConfigError as problem:
                    self._exit(f"target-gmail: configuration error: {problem}")
            return self._ledger

    # ---- outcomes --------------------------------------------------------------------

    def count(self, action: str, status: str, n: int = 1) -> None:
        with self._lock:
            self.counts[(action, status)] += n

    def reject_later(self, stream: str, record: dict, reason: str) -> None:
        """Rejections found while applying (worker threads) are reported after the batch."""
        with self._lock:
            self._late_rejects.append((stream, record, reason))

    def raise_if_rejected_in_batch(self) -> None:
        with self._lock:
            late, self._late_rejects = self._late_rejects, []
        for stream, record, reason in late:
            self.rejects.reject(stream, record, reason)

    def mailbox_failed(self, mailbox: str, stream: str, problem, records: int) -> None:
        """Records that failed (not rejected): the run ends non-zero without new state."""
        with self._lock:
            first = f"{mailbox}/{stream}" not in self.failures
            self.failures.setdefault(f"{mailbox}/{stream}", str(problem))
            self.counts[(stream, "failed")] += records
        if first:
            self.logger.warning("mailbox %s, stream %s failed: %s", mailbox, stream, problem)

    def mailbox_down(self, mailbox: str, stream: str, problem, records: int) -> None:
        """A mailbox-wide failure (Gmail down, breaker open, access revoked): the mailbox
        gets no further call in this run; its later batches are counted as failed."""
        with self._lock:
            self._down.setdefault(mailbox, str(problem))
        self.mailbox_failed(mailbox, stream, problem, records)

    def is_down(self, mailbox: str) -> bool:
        with self._lock:
            return mailbox in self._down

    def skip_down(self, mailbox: str, stream: str, records: int) -> None:
        with self._lock:
            self.failures.setdefault(f"{mailbox}/{stream}", self._down[mailbox])
            self.counts[(stream, "failed")] += records

    def _write_state_message(self, state: dict) -> None:
        if self.failures:
            self.logger.warning(
                "state not emitted: %d mailbox stream(s) failed", len(self.failures)
            )
            return
        super()._write_state_message(state)

    # ---- the run ---------------------------------------------------------------------

    def _process_record_message(self, message_dict: dict) -> None:
        if not isinstance(message_dict.get("record"), dict):
            stream = message_dict.get("stream")
            raise InputError(f"a RECORD of stream {stream!r} whose `record` is not an object")
        super()._process_record_message(message_dict)

    def listen(self, file_input=None) -> None:
        try:
            super().listen(file_input)
        except (InputError, InvalidInputLine, RecordsWithoutSchemaException) as problem:
            self._finish()
            text = str(problem)
            text = text if len(text) <= 300 else text[:300] + "..."
            self._exit(
                f"target-gmail: invalid input: {text}. Nothing of the batch it arrived in "
                "was applied; fix the input (is the tap's output valid Singer?) and rerun."
            )
        except InvalidRecordError as problem:
            self._finish()
            self._exit(f"target-gmail: {problem}")
        except ConfigError as problem:  # found on first use, e.g. the mailbox address
            self._finish()
            self._exit(f"target-gmail: configuration error: {problem}")
        self._finish()
        if self.failures:
            lines = "; ".join(f"{where}: {why}" for where, why in sorted(self.failures.items()))
            self._exit(
                f"target-gmail: {len(self.failures)} mailbox stream(s) failed ({lines}). "
                "State was not advanced; rerun to retry (sends are never duplicated)."
            )

    def _finish(self) -> None:
        self.rejects.close()
        summary = {f"{action}.{status}": n for (action, status), n in sorted(self.counts.items())}
        summary["rejected"] = self.rejects.total
        self.logger.info("target-gmail summary: %s", summary)
        if self.plan is not None:
            sys.stderr.write(self.plan.render() + "\n")  # first: shown even if unwritable
            try:
                self.plan.write(self.settings.plan_path)
            except OSError as problem:
                self._exit(
                    f"target-gmail: configuration error: setting `plan_path`: cannot write "
                    f"{self.settings.plan_path}: {problem.strerror or problem}. To fix: point "
                    "it at a writable file path (the plan above was not saved)."
                )
            sys.stderr.write(f"plan written to {self.settings.plan_path}\n")
        if self.rejects.total and self.settings.on_invalid_record == "skip":
            self.logger.warning(
                "%d record(s) rejected; see %s", self.rejects.total, self.settings.rejects_path
            )
        self.metrics.log_summary(self.logger)
        if self._ledger is not None:
            self._ledger.close()

    def _exit(self, message: str):
        """One error line (logged, no traceback), then exit status 1."""
        logging.getLogger(self.name).error(message)
        sys.stdout.flush()
        raise SystemExit(1)


def _check_config_files(argv: list[str]) -> None:
    """The SDK reads ``--config`` files with a traceback for a broken one: say it plainly."""
    for value in flag_values(argv, "--config"):
        problem = json_object_problem(value)
        if problem is None:
            continue
        sys.stderr.write(
            f"target-gmail: configuration error: --config {value}: {problem}. "
            'Pass a JSON object of settings, e.g. {"oauth_credentials": {...}}.\n'
        )
        raise SystemExit(1)


def main() -> None:
    _check_config_files(sys.argv[1:])
    TargetGmail.cli()
