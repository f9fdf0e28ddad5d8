"""A mailbox's change log, with Gmail's history-id semantics.

Ids increase with random gaps (clients must never assume contiguity), and records older than
the retention window are dropped: a ``startHistoryId`` from before the oldest kept record
gets 404, which is what tells a client to fall back to a full sync.
"""

from __future__ import annotations

import itertools
import random
from collections import deque
from dataclasses import dataclass

from . import errors

HISTORY_TYPES = ("messageAdded", "messageDeleted", "labelAdded", "labelRemoved")
_JSON_KEY = {
    "messageAdded": "messagesAdded",
    "messageDeleted": "messagesDeleted",
    "labelAdded": "labelsAdded",
    "labelRemoved": "labelsRemoved",
}


@dataclass(frozen=True)
class HistoryRecord:
    id: int
    kind: str
    message_id: str
    thread_id: str
    message_label_ids: tuple[str, ...]  # the message's labels after the change
    changed_label_ids: tuple[str, ...] = ()  # for labelAdded / labelRemoved

    def to_json(self) -> dict:
        message = {"id": self.message_id, "threadId": self.thread_id}
        if self.message_label_ids:
            message["labelIds"] = list(self.message_label_ids)
        entry: dict = {"message": message}
        if self.kind in ("labelAdded", "labelRemoved"):
            entry["labelIds"] = list(self.changed_label_ids)
        return {
            "id": str(self.id),
            "messages": [{"id": self.message_id, "threadId": self.thread_id}],
            _JSON_KEY[self.kind]: [entry],
        }

    def touches_label(self, label_id: str) -> bool:
        return label_id in self.message_label_ids or label_id in self.changed_label_ids


class HistoryLog:
    """Append-only records plus the id counter; ``retention`` caps how many are kept."""

    def __init__(self, seed: int, retention: int = 0, start: int = 1000):
        self._rng = random.Random(seed)
        self.current = start
        self.retention = retention  # 0 keeps everything
        self.records: deque[HistoryRecord] = deque()
        self.oldest_valid = start  # a startHistoryId below this is out of date

    def next_id(self) -> int:
        self.current += self._rng.randint(1, 7)
        return self.current

    def append(self, record: HistoryRecord) -> None:
        self.records.append(record)
        if self.retention and len(self.records) > self.retention:
            dropped = self.records.popleft()
            self.oldest_valid = dropped.id

    def expire_all(self) -> None:
        """Forget every record, as Gmail does after its retention period."""
        self.records.clear()
        self.oldest_valid = self.current

    def set_retention(self, retention: int) -> None:
        self.retention = retention
        while retention and len(self.records) > retention:
            self.oldest_valid = self.records.popleft().id

    def list(
        self,
        start_history_id: int,
        history_types: list[str],
        label_id: str | None,
        page_token: str | None,
        max_results: int,
    ) -> dict:
        if start_history_id < self.oldest_valid:
            raise errors.not_found()
        after = start_history_id
        if page_token:
            try:
                after = int(page_token)
            except ValueError:
                raise errors.bad_request("Invalid pageToken") from None
        wanted = set(history_types or HISTORY_TYPES)
        page: list[dict] = []
        next_token = None
        for record in self._records_after(after):
            if record.kind not in wanted:
                continue
            if label_id and not record.touches_label(label_id):
                continue
            if len(page) == max_results:
                next_token = page[-1]["id"]
                break
            page.append(record.to_json())
        body: dict = {"historyId": str(self.current)}
        if page:
            body["history"] = page
        if next_token:
            body["nextPageToken"] = next_token
        return body

    def _records_after(self, history_id: int):
        return itertools.dropwhile(lambda record: record.id <= history_id, self.records)
