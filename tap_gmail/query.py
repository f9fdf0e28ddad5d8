"""What to read from a mailbox: the tap's message settings, normalised, and their fingerprint.

The fingerprint is stored with every bookmark. A bookmark taken under another selection
(a changed ``messages.q``, ``start_date`` or ``include_spam_trash``) describes other rows, so
the tap starts a fresh full sync instead of resuming or continuing from it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

HIDDEN = frozenset({"SPAM", "TRASH"})

LIST_PAGE_SIZE = 500


@dataclass
class MessageQuery:
    fmt: str = "full"
    q: str | None = None
    include_spam_trash: bool = False
    start_date: datetime | None = None

    def list_params(self) -> dict:
        """Parameters of ``messages.list`` and ``threads.list`` (both take q and spam/trash)."""
        params: dict = {"maxResults": LIST_PAGE_SIZE}
        terms = [self.q] if self.q else []
        if self.start_date is not None:
            terms.append(f"after:{int(self.start_date.timestamp())}")
        if terms:
            params["q"] = " ".join(terms)
        if self.include_spam_trash:
            params["includeSpamTrash"] = "true"
        return params

    def fingerprint(self) -> str:
        """A short stable digest of the selection (not the format: it changes no row set)."""
        selection = {k: v for k, v in self.list_params().items() if k != "maxResults"}
        digest = hashlib.sha256(json.dumps(selection, sort_keys=True).encode()).hexdigest()
        return digest[:16]

    def derives_threads(self) -> bool:
        """Whether the messages stream's records can give Gmail's thread records.

        Not with ``messages.q``: the messages stream holds only the messages matching it,
        while a thread record holds every message of the thread (``threads.get``). Not with
        ``message_format: minimal``: those records have no headers, so no thread subject.
        """
        return not self.q and self.fmt != "minimal"

    def keeps(self, label_ids, internal_ms: int | None) -> bool:
        """Whether a message is in the selection, judged from its labels and date.

        ``messages.q`` cannot be judged locally; threads built from a history window or a
        ``threads.get`` therefore follow only spam/trash and ``start_date``.
        """
        if not self.include_spam_trash and not HIDDEN.isdisjoint(label_ids or ()):
            return False
        if self.start_date is not None and internal_ms is not None:
            return internal_ms >= int(self.start_date.timestamp() * 1000)
        return True

    def keeps_record(self, record: dict) -> bool:
        """``keeps`` for a messages record; its date is read only when ``start_date`` is set."""
        when = record.get("internal_date") if self.start_date is not None else None
        ms = int(datetime.fromisoformat(when).timestamp() * 1000) if when else None
        return self.keeps(record.get("label_ids"), ms)

    def thread_in_selection(self, thread: dict) -> dict:
        """A ``threads.get`` answer cut to the selected messages, oldest first, so that it
        aggregates exactly like a thread derived from message records (see derived_threads)."""
        kept = [
            m
            for m in thread.get("messages") or ()
            if self.keeps(m.get("labelIds"), _int(m.get("internalDate")))
        ]
        kept.sort(key=lambda m: (_int(m.get("internalDate")) or 0, m["id"]))
        histories = [h for h in (_int(m.get("historyId")) for m in kept) if h is not None]
        return {
            "id": thread["id"],
            "historyId": str(max(histories)) if histories else None,
            "messages": kept,
        }


def _int(value) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None
