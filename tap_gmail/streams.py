"""The three streams. Each declares its schema and keys; ``sync.MailboxSync`` does the reading.

Records are already JSON-native and schema-shaped by ``gmail_core.cpcal`` (the schema tests
prove it), so conformance is off: the SDK's recursive pass costs more than the rest of the
per-record work.
"""

from __future__ import annotations

from singer_sdk import Stream
from singer_sdk.helpers.conform import TypeConformanceLevel

from gmail_core.schemas import load_schema

from .prefetch import Prefetcher
from .sync import Checkpoint


class MailboxStream(Stream):
    """A stream partitioned by mailbox, with one state partition (bookmark) per mailbox."""

    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE
    STATE_MSG_FREQUENCY = 500
    primary_keys = ("mailbox", "id")
    replication_key = None
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
                    for key in ("history_id", "full_sync"):
                        state.pop(key, None)
                    state.update(item.state)
                    continue
                yield item

    def _produce(self, mailbox: str):
        """Runs in a reader thread, from the bookmark the SDK loaded for this mailbox."""
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

    def read(self, sync, bookmarks):
        return sync.labels()
