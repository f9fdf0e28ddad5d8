"""The three streams. Each declares its schema and keys; ``sync.MailboxSync`` does the reading.

messages and threads are INCREMENTAL on ``history_id``: the bookmark is Gmail's historyId,
kept per mailbox by ``sync`` checkpoints (not the SDK's max-of-records, which would skip
changes made during a full sync). labels are read whole each run. No stream ever emits
ACTIVATE_VERSION: a table version spans every mailbox, so one mailbox failing (or a shard
not in this run) would have a target delete rows that still exist. Deletions arrive as
records with ``_sdc_deleted_at`` instead.

Records are already JSON-native and schema-shaped by ``gmail_core.cpcal`` (the schema tests
prove it), so conformance is off: the SDK's recursive pass costs more than the rest of the
per-record work.
"""

from __future__ import annotations

from singer_sdk import Stream
from singer_sdk.helpers.conform import TypeConformanceLevel

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
