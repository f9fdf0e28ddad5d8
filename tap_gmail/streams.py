"""The three streams. Each declares its schema and keys; ``sync.MailboxSync`` does the reading.

messages and threads are INCREMENTAL on ``history_id``: the bookmark is Gmail's historyId,
kept per mailbox by ``sync`` checkpoints (not the SDK's max-of-records, which would skip
changes made during a full sync). labels are read whole each run. No stream ever emits
ACTIVATE_VERSION: a table version spans every mailbox, so one mailbox failing (or a shard
not in this run) would have a target delete rows that still exist. Deletions arrive as
records with ``_sdc_deleted_at`` instead.

Records are already JSON-native and schema-shaped by ``gmail_core.cpcal`` (the schema tests
prove it), so conformance is off: the SDK's recursive pass costs more than the rest of the
per-record work. For the same reason ``_generate_record_messages`` skips the SDK's per-record
walk for deselected properties when the catalog deselects none (the usual case): the walk
copies every record and looks each key up in the selection mask, to remove nothing.
"""

from __future__ import annotations

from singer_sdk import Stream
from singer_sdk.helpers._util import utc_now
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.singerlib import RecordMessage

from gmail_core.schemas import load_schema

from .checkpoint import Checkpoint
from .prefetch import Prefetcher


class MailboxStream(Stream):
    """A stream partitioned by mailbox, with one state partition (bookmark) per mailbox."""

    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE
    STATE_MSG_FREQUENCY = 500
    primary_keys = ("mailbox", "id")
    replication_key = "history_id"
    state_partitioning_keys = ("mailbox",)

    def __init__(self, tap):
        super().__init__(tap, schema=load_schema(self.name))
        self._prefetcher: Prefetcher | None = None
        self._bookmarks: dict[str, dict] = {}
        self._prunes: bool | None = None  # does the catalog deselect any property?

    def _generate_record_messages(self, record):
        """The SDK's RECORD messages, without its no-op passes (see the module docstring).

        Same messages as ``Stream._generate_record_messages`` (singer-sdk 0.54): with a
        property deselected, or a conformance level other than NONE, it is called as is.
        """
        if self._prunes is None:
            self._prunes = any(not selected for crumb, selected in self.mask.items() if crumb)
        if self._prunes or self.TYPE_CONFORMANCE_LEVEL != TypeConformanceLevel.NONE:
            yield from super()._generate_record_messages(record)
            return
        for stream_map in self.stream_maps:
            mapped_record = stream_map.transform(record)
            if mapped_record is not None:
                yield RecordMessage(
                    stream=stream_map.stream_alias,
                    record=mapped_record,
                    version=self._stream_version,
                    time_extracted=utc_now(),
                )

    @property
    def partitions(self) -> list[dict]:
        return [{"mailbox": mailbox} for mailbox in self._tap.mailboxes()]

    def get_records(self, context):
        mailbox = context["mailbox"]
        state = self.get_context_state(context)
        if self._prefetcher is None:
            mailboxes = self._tap.mailboxes()
            # Bookmarks are read here, on the SDK's thread; readers only get copies.
            self._bookmarks = {
                name: {
                    k: v
                    for k, v in self.get_context_state({"mailbox": name}).items()
                    if k != "context"
                }
                for name in mailboxes
            }
            self._prefetcher = Prefetcher(
                mailboxes, self._produce, parallel=self._tap.parallel_mailboxes
            )
        with self._tap.isolated(mailbox, self.name):
            for item in self._prefetcher.items(mailbox):
                if isinstance(item, Checkpoint):
                    for key in [key for key in state if key != "context"]:
                        del state[key]
                    state.update(item.state)
                    continue
                yield item

    @property
    def emit_activate_version_messages(self) -> bool:
        return False

    def _increment_stream_state(self, latest_record, *, context=None) -> None:
        """Bookmarks come from ``sync`` checkpoints only (see the module docstring)."""

    def _produce(self, mailbox: str):
        """Runs in a reader thread, from the bookmark the SDK loaded for this mailbox."""
        self._tap.check_available(mailbox)
        return self.read(self._tap.mailbox_sync(mailbox), self._bookmarks[mailbox])

    def read(self, sync, bookmarks: dict):
        raise NotImplementedError


class MessagesStream(MailboxStream):
    name = "messages"

    def read(self, sync, bookmarks):
        return sync.messages(bookmarks)


class ThreadsStream(MailboxStream):
    name = "threads"

    def read(self, sync, bookmarks):
        return sync.threads(bookmarks)


class LabelsStream(MailboxStream):
    """Labels are few and cheap (1 unit each): read whole every run."""

    name = "labels"
    replication_key = None

    def read(self, sync, bookmarks):
        return sync.labels(bookmarks)
