"""The singer-sdk sinks: one per action. They validate, route and hand batches to appliers.

Records are checked against the action's own schema (``records.RecordValidator``) instead of
the SDK's per-stream jsonschema validation: the upstream stream's schema says nothing about
what Gmail needs, and the compiled check is ~10x faster. A batch is applied per mailbox, in
parallel across mailboxes; one mailbox failing never stops the others (``Target.failures``).
"""

from __future__ import annotations

import threading
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor

from singer_sdk.sinks import BatchSink

from gmail_core.errors import GmailConnectorError

from .compose import compose, content_hash
from .label_apply import Outcome
from .labels import LabelSpec
from .records import RecordValidator, label_change
from .rejection import Rejected
from .sender import UnresolvedSend
from .settings import LABEL_CHANGES, LABELS, OUTBOUND_MESSAGES


class ActionSink(BatchSink):
    """Validate each record as it arrives; apply a batch in two phases.

    1. *Check*, for every mailbox of the batch: role, scopes, label names, the ledger. No
       call that changes anything is made. With ``on_invalid_record: fail`` a rejection
       here stops the run before anything of the batch is applied.
    2. *Apply*, per mailbox in parallel. Only Gmail itself can still refuse a record now
       (say a 400 for one send); with ``fail`` no further call of the batch is started then.
    """

    action: str = ""
    MAX_SIZE_DEFAULT = 10000

    def __init__(self, target, stream_name, schema, key_properties):
        super().__init__(target, stream_name, schema, key_properties)
        self._target = target
        self.validator = RecordValidator(self.action)

    def get_validator(self):
        return None  # records are checked against the action's schema in process_record

    def _parse_timestamps_in_record(self, record, schema, treatment) -> None:
        """Our inputs carry no timestamps Gmail needs; skip the SDK's per-record pass."""

    def process_record(self, record: dict, context: dict) -> None:
        try:
            self.validator.check(record)
            mailbox = self._target.mailboxes().for_record(record)
            parsed = self.parse(record, mailbox)
        except Rejected as rejected:
            self._target.rejects.reject(self.stream_name, record, rejected.reason, rejected.field)
            return
        context.setdefault("records", []).append((mailbox, parsed, self.keep(record)))

    def parse(self, record: dict, mailbox):
        return record

    def keep(self, record: dict) -> dict | None:
        """What of the record to hold until its batch is applied (for a reject line)."""
        return record

    def shown(self, kept: dict | None, parsed) -> dict:
        return kept if kept is not None else {}

    def process_batch(self, context: dict) -> None:
        by_mailbox = defaultdict(list)
        for index, (mailbox, parsed, kept) in enumerate(context.pop("records", [])):
            by_mailbox[mailbox].append((index, mailbox, parsed, kept))
        checked = self._each_mailbox(self._check_mailbox, list(by_mailbox.values()))
        self._target.raise_if_rejected_in_batch()  # fail: stops before any change is made
        self._each_mailbox(self._apply_mailbox, [items for items in checked if items])
        self._target.raise_if_rejected_in_batch()

    def _each_mailbox(self, work, groups: list) -> list:
        workers = max(1, min(len(groups), self._target.parallel_mailboxes))
        with ThreadPoolExecutor(workers, thread_name_prefix="mailbox") as pool:
            jobs = [pool.submit(work, items) for items in groups]
            return [job.result() for job in jobs]

    def _check_mailbox(self, items: list) -> list:
        """The items that passed every check; the others are rejected (or failed)."""
        mailbox = items[0][1]
        if self._target.is_down(mailbox.name):
            self._target.skip_down(mailbox.name, self.stream_name, len(items))
            return []
        try:
            mailbox.check(self.action)
            outcomes = self.check(mailbox, [(index, parsed) for index, _, parsed, _ in items])
        except GmailConnectorError as problem:
            self._target.mailbox_down(mailbox.name, self.stream_name, problem, len(items))
            return []
        passed = []
        for item in items:
            outcome = outcomes.get(item[0])
            if outcome is None:
                passed.append(item)
            else:
                self._target.count(self.action, outcome.status)
                self._target.reject_later(self.stream_name, self.shown(item[3], item[2]),
                                          outcome.reason)  # fmt: skip
        return passed

    def _apply_mailbox(self, items: list) -> None:
        mailbox = items[0][1]
        try:
            outcomes = self.apply(mailbox, [(index, parsed) for index, _, parsed, _ in items])
        except GmailConnectorError as problem:
            self._target.mailbox_down(mailbox.name, self.stream_name, problem, len(items))
            return
        for index, _, parsed, kept in items:
            outcome = outcomes.get(index) or Outcome("rejected", "no outcome (internal error)")
            if outcome.status != "failed":  # failures are counted by mailbox_failed
                self._target.count(self.action, outcome.status)
            if outcome.status == "rejected":
                self._target.reject_later(self.stream_name, self.shown(kept, parsed),
                                          outcome.reason)  # fmt: skip
            elif outcome.status == "failed":
                self._target.mailbox_failed(mailbox.name, self.stream_name, outcome.reason, 1)

    def check(self, mailbox, items: list) -> dict[int, Outcome]:
        """Rejections found without changing anything; keyed by item index."""
        return {}

    def apply(self, mailbox, items: list) -> dict[int, Outcome]:
        raise NotImplementedError


class LabelChangeSink(ActionSink):
    action = LABEL_CHANGES
    MAX_SIZE_DEFAULT = 50000  # a bigger batch groups better; changes are idempotent

    def parse(self, record: dict, mailbox):
        return label_change(record)

    def _remove_sdc_metadata_from_record(self, record: dict) -> None:
        """Keep ``_sdc_deleted_at``: a deleted message's record has nothing to apply."""
        deleted = record.get("_sdc_deleted_at")
        super()._remove_sdc_metadata_from_record(record)
        if deleted:
            record["_sdc_deleted_at"] = deleted

    def keep(self, record: dict) -> None:
        return None  # a CP-CAL record carries its body: keep only the parsed change

    def shown(self, kept, parsed) -> dict:
        return parsed.as_record()

    def check(self, mailbox, items):
        return mailbox.labels.check(items)

    def apply(self, mailbox, items):
        return mailbox.labels.apply(items, all_or_nothing=self._target.fail_on_invalid)


class LabelSink(ActionSink):
    action = LABELS
    MAX_SIZE_DEFAULT = 500

    def parse(self, record: dict, mailbox):
        return LabelSpec.from_record(record)

    def apply(self, mailbox, items):
        outcomes: dict[int, Outcome] = {}
        stop = None
        for index, spec in items:
            if stop is not None:
                outcomes[index] = Outcome("skipped", stop)
                continue
            try:
                done = mailbox.directory.upsert(spec)
            except Rejected as rejected:
                outcomes[index] = Outcome("rejected", rejected.reason)
                if self._target.fail_on_invalid:
                    stop = "not applied: another record of its batch was rejected"
                continue
            outcomes[index] = Outcome("unchanged" if done == "unchanged" else "applied", done)
        return outcomes


class OutboundMessageSink(ActionSink):
    """Sends, a few at a time per mailbox: Gmail's quota, not latency, should be the limit.

    The same key twice in a batch is sent by the first record; the second waits for it and
    then finds it in the ledger.
    """

    action = OUTBOUND_MESSAGES
    MAX_SIZE_DEFAULT = 100

    def parse(self, record: dict, mailbox):
        """Build the message now: a bad one is rejected before anything in its batch is sent."""
        return record, compose(record, mailbox.address)

    def check(self, mailbox, items):
        sender = mailbox.sender(self._target.ledger, self._target.reconcile_delays)
        outcomes: dict[int, Outcome] = {}
        digests: dict[str, str] = {}
        for index, (record, _) in items:
            key, digest = str(record["id"]), content_hash(record)
            try:
                sender.check(record)
                if digests.setdefault(key, digest) != digest:
                    raise Rejected(
                        f"`id` {key!r} is used for two different messages in this input; "
                        "an idempotency key must not be reused",
                        "id",
                    )
            except Rejected as rejected:
                outcomes[index] = Outcome("rejected", rejected.reason)
        return outcomes

    def apply(self, mailbox, items):
        sender = mailbox.sender(self._target.ledger, self._target.reconcile_delays)
        stop = _Stop(self._target.fail_on_invalid)
        waves: list[list] = []
        seen: dict[str, int] = {}
        for index, (record, composed) in items:
            wave = seen.get(record["id"], -1) + 1
            seen[record["id"]] = wave
            if wave == len(waves):
                waves.append([])
            waves[wave].append((index, (record, composed)))
        outcomes: dict[int, Outcome] = {}
        workers = max(1, mailbox.client.settings.max_concurrency)
        with ThreadPoolExecutor(workers, thread_name_prefix="send") as pool:
            for wave in waves:
                jobs = {index: pool.submit(self._send_one, sender, rec, stop)
                        for index, rec in wave}  # fmt: skip
                outcomes.update({index: job.result() for index, job in jobs.items()})
        if stop.error is not None:  # the rest of this mailbox's batch was not started
            self._target.mailbox_down(mailbox.name, self.stream_name, stop.error, 0)
        return outcomes

    @staticmethod
    def _send_one(sender, item, stop: _Stop) -> Outcome:
        """One send; after a mailbox-wide error, or a rejection with ``fail``, none starts."""
        if stop.reason is not None:
            return Outcome("failed" if stop.error else "skipped", stop.reason)
        record, composed = item
        try:
            return sender.send(record, composed)
        except Rejected as rejected:
            stop.rejected()
            return Outcome("rejected", rejected.reason)
        except UnresolvedSend as unresolved:
            return Outcome("failed", str(unresolved))
        except GmailConnectorError as error:  # a send at intent is reconciled by a rerun
            stop.failed(error)
            return Outcome("failed", str(error))


class _Stop:
    """Shared by one mailbox's sends of one batch: whether to start any more of them."""

    def __init__(self, on_rejection: bool):
        self.on_rejection = on_rejection
        self.reason: str | None = None
        self.error: GmailConnectorError | None = None
        self._lock = threading.Lock()

    def rejected(self) -> None:
        if self.on_rejection:
            with self._lock:
                self.reason = self.reason or "not sent: another record of its batch was rejected"

    def failed(self, error: GmailConnectorError) -> None:
        with self._lock:
            self.error = self.error or error
            self.reason = f"not sent: the mailbox failed ({error})"


class IgnoredStreamSink(BatchSink):
    """``actions: {stream: ignore}`` or ``unmapped_streams: ignore``: counted, not applied."""

    def __init__(self, target, stream_name, schema, key_properties):
        super().__init__(target, stream_name, schema, key_properties)
        self._target = target

    def get_validator(self):
        return None

    def process_record(self, record: dict, context: dict) -> None:
        self._target.count("ignored", self.stream_name)

    def process_batch(self, context: dict) -> None:
        pass


SINKS = {LABEL_CHANGES: LabelChangeSink, OUTBOUND_MESSAGES: OutboundMessageSink, LABELS: LabelSink}
