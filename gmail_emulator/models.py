"""Mailbox state: messages stored as RFC 5322 bytes, threads, labels and history.

Plain objects, no HTTP (moto's ``models.py`` pattern). Every mutation goes through a method
here so that it always writes its history record and bumps the message's ``historyId``.
"""

from __future__ import annotations

import hashlib
import threading
import time
from bisect import bisect_right
from collections import OrderedDict
from dataclasses import dataclass, field

from . import errors, mime
from .history import HistoryLog, HistoryRecord
from .labels import LabelSet

_PARSED_CACHE_SIZE = 4096


class Message:
    """One stored message. ``parsed`` is built lazily and kept in a bounded cache."""

    __slots__ = (
        "id",
        "thread_id",
        "raw",
        "label_ids",
        "internal_date_ms",
        "history_id",
        "seq",
        "message_id_header",
        "_mailbox",
    )

    def __init__(self, mailbox, msg_id, thread_id, raw, label_ids, internal_date_ms, seq, header):
        self.id = msg_id
        self.thread_id = thread_id
        self.raw = raw
        self.label_ids: set[str] = label_ids
        self.internal_date_ms = internal_date_ms
        self.history_id = 0
        self.seq = seq
        self.message_id_header = header
        self._mailbox = mailbox

    @property
    def parsed(self) -> mime.ParsedMessage:
        return self._mailbox.parsed(self)

    @property
    def sort_key(self) -> tuple[int, int]:
        # messages.list is newest first; seq breaks ties between equal dates.
        return (-self.internal_date_ms, -self.seq)


@dataclass
class Thread:
    id: str
    subject_key: str
    message_ids: list[str] = field(default_factory=list)


class Mailbox:
    """One user's mailbox. All public methods take the mailbox lock."""

    def __init__(self, email: str, seed: int = 0, history_retention: int = 0):
        self.email = email
        self.lock = threading.RLock()
        self.labels = LabelSet()
        self.history = HistoryLog(seed=_stable_int(email, seed), retention=history_retention)
        self.messages: dict[str, Message] = {}
        self.threads: dict[str, Thread] = {}
        self.by_message_id_header: dict[str, str] = {}  # Message-ID -> our message id
        self._order: list[tuple[tuple[int, int], str]] = []
        self._order_dirty = False
        self._seq = 0
        self._id_base = _stable_int(email, seed) % (1 << 20)
        self._parsed_cache: OrderedDict[str, mime.ParsedMessage] = OrderedDict()
        self.drafts: dict[str, str] = {}  # draft id -> message id
        # called with (email, HistoryRecord) after each recorded change, under the lock;
        # the emulator's push hub sets it (it only filters and queues, never blocks)
        self.listener = None

    # ---- reading -------------------------------------------------------------------------

    def parsed(self, message: Message) -> mime.ParsedMessage:
        cache = self._parsed_cache
        with self.lock:
            hit = cache.get(message.id)
            if hit is not None:
                cache.move_to_end(message.id)
                return hit
        parsed = mime.parse_message(message.raw)
        with self.lock:
            cache[message.id] = parsed
            if len(cache) > _PARSED_CACHE_SIZE:
                cache.popitem(last=False)
        return parsed

    def get(self, msg_id: str) -> Message:
        message = self.messages.get(msg_id)
        if message is None:
            if not _looks_like_id(msg_id):
                raise errors.bad_request("Invalid id value")
            raise errors.not_found()
        return message

    def get_thread(self, thread_id: str) -> Thread:
        thread = self.threads.get(thread_id)
        if thread is None:
            if not _looks_like_id(thread_id):
                raise errors.bad_request("Invalid id value")
            raise errors.not_found()
        return thread

    def ordered(self, after: tuple[int, int] | None = None):
        """Messages newest first (Gmail's list order), optionally after a page-token key."""
        with self.lock:
            if self._order_dirty:
                self._order.sort()
                self._order_dirty = False
            order = self._order
            start = bisect_right(order, (after, "\uffff")) if after is not None else 0
            snapshot = order[start:]
        messages = self.messages
        for _, mid in snapshot:
            message = messages.get(mid)
            if message is not None:
                yield message

    def thread_messages(self, thread: Thread) -> list[Message]:
        found = [self.messages[m] for m in thread.message_ids if m in self.messages]
        return sorted(found, key=lambda m: (m.internal_date_ms, m.seq))

    def label_counts(self, label_id: str) -> dict:
        with self.lock:
            total = unread = 0
            threads: set[str] = set()
            unread_threads: set[str] = set()
            for message in self.messages.values():
                if label_id in message.label_ids:
                    total += 1
                    threads.add(message.thread_id)
                    if "UNREAD" in message.label_ids:
                        unread += 1
                        unread_threads.add(message.thread_id)
        return {
            "messagesTotal": total,
            "messagesUnread": unread,
            "threadsTotal": len(threads),
            "threadsUnread": len(unread_threads),
        }

    # ---- writing -------------------------------------------------------------------------

    def add_message(
        self,
        raw: bytes,
        label_ids: set[str],
        received_ms: int | None = None,
        use_date_header: bool = True,
        thread_id: str | None = None,
        record_history: bool = True,
        headers: list[tuple[str, str]] | None = None,
    ) -> Message:
        """Store a message, thread it as Gmail does, and log ``messageAdded``."""
        if headers is None:
            headers = mime.parse_headers_only(raw)
        found = _header_lookup(headers)
        received_ms = int(time.time() * 1000) if received_ms is None else received_ms
        internal = mime.date_header_ms(found("date")) if use_date_header else None
        with self.lock:
            self._seq += 1
            # Gmail ids are 64-bit hex that grow with time; keep that shape.
            msg_id = f"{(received_ms << 20) | ((self._id_base + self._seq) & 0xFFFFF):016x}"
            subject_key = mime.normalize_subject(found("subject"))
            tid = self._thread_for(found, subject_key, thread_id) or msg_id
            message = Message(
                self,
                msg_id,
                tid,
                raw,
                set(label_ids),
                internal if internal is not None else received_ms,
                self._seq,
                (found("message-id") or "").strip(),
            )
            self.messages[msg_id] = message
            thread = self.threads.get(tid)
            if thread is None:
                thread = self.threads[tid] = Thread(tid, subject_key)
            thread.message_ids.append(msg_id)
            if message.message_id_header:
                self.by_message_id_header.setdefault(message.message_id_header, msg_id)
            self._order.append((message.sort_key, msg_id))
            self._order_dirty = True
            self._log(message, "messageAdded", record=record_history)
            return message

    def modify(self, message: Message, add: list[str], remove: list[str]) -> Message:
        with self.lock:
            added = [lid for lid in dict.fromkeys(add) if lid not in message.label_ids]
            removed = [
                lid
                for lid in dict.fromkeys(remove)
                if lid in message.label_ids and lid not in added
            ]
            message.label_ids.update(added)
            message.label_ids.difference_update(removed)
            if added:
                self._log(message, "labelAdded", tuple(added))
            if removed:
                self._log(message, "labelRemoved", tuple(removed))
            return message

    def delete_message(self, message: Message) -> None:
        with self.lock:
            if self.messages.pop(message.id, None) is None:
                return
            self._parsed_cache.pop(message.id, None)
            thread = self.threads.get(message.thread_id)
            if thread is not None:
                thread.message_ids.remove(message.id)
                if not thread.message_ids:
                    del self.threads[thread.id]
            if self.by_message_id_header.get(message.message_id_header) == message.id:
                del self.by_message_id_header[message.message_id_header]
            self._order = [entry for entry in self._order if entry[1] != message.id]
            self._log(message, "messageDeleted")

    def register_draft(self, message: Message, draft_id: str | None = None) -> str:
        """Give a DRAFT-labelled message a draft id (Gmail's look: "r" and 19 digits)."""
        with self.lock:
            if draft_id is None:
                draft_id = f"r{_stable_int(message.id, len(self.drafts)) % 10**19:019d}"
            self.drafts[draft_id] = message.id
            return draft_id

    def remove_label_everywhere(self, label_id: str) -> None:
        with self.lock:
            for message in list(self.messages.values()):
                if label_id in message.label_ids:
                    self.modify(message, [], [label_id])

    # ---- internals -----------------------------------------------------------------------

    def _thread_for(self, found, subject_key: str, explicit: str | None) -> str | None:
        """Gmail threads a message with an earlier one it references when subjects agree."""
        refs = (found("in-reply-to") or "").split() + (found("references") or "").split()
        candidates = []
        for ref in refs:
            mid = self.by_message_id_header.get(ref.strip())
            if mid is not None and mid in self.messages:
                candidates.append(self.messages[mid].thread_id)
        if explicit is not None:
            thread = self.threads.get(explicit)
            if thread is None or thread.subject_key != subject_key:
                return None
            return explicit if explicit in candidates or not refs else None
        for tid in reversed(candidates):
            thread = self.threads.get(tid)
            if thread is not None and thread.subject_key == subject_key:
                return tid
        return None

    def _log(self, message: Message, kind: str, changed=(), record: bool = True) -> None:
        history_id = self.history.next_id()
        message.history_id = history_id
        if record:
            entry = HistoryRecord(
                history_id,
                kind,
                message.id,
                message.thread_id,
                tuple(sorted(message.label_ids)),
                tuple(changed),
            )
            self.history.append(entry)
            if self.listener is not None:
                self.listener(self.email, entry)
        else:
            self.history.oldest_valid = history_id


def _header_lookup(headers: list[tuple[str, str]]):
    index: dict[str, str] = {}
    for name, value in headers:
        index.setdefault(name.lower(), value)
    return index.get


def _looks_like_id(value: str) -> bool:
    return bool(value) and all(c in "0123456789abcdef" for c in value)


def _stable_int(text: str, seed: int) -> int:
    digest = hashlib.sha256(f"{seed}:{text}".encode()).digest()
    return int.from_bytes(digest[:8], "big")
