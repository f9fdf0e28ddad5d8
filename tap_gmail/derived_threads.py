"""Thread records derived from what the messages stream already fetched in this run.

``threads.get`` costs 10 units a thread, so reading threads on their own nearly doubles a
sync's quota. When both streams are selected, the messages stream feeds this store and the
threads stream reads it instead of Gmail:

- after a fresh full messages sync, every thread of the selection is aggregated from its
  message records (the thread as seen through ``messages.q``/``start_date``/spam-trash: its
  ``message_ids`` are exactly the rows of the messages table);
- after an incremental messages run, a thread is known when it is new (its first message,
  whose id is the thread id, was added in the window, so every message of it was fetched)
  or when the messages stream fetched it whole with ``threads.get`` (for a change to an
  older thread, one 10-unit call serves both streams instead of 5 per message plus 10).

The aggregates live in a temporary SQLite file, so memory stays flat however big the mailbox.
"""

from __future__ import annotations

import json
import sqlite3
import tempfile
import threading
from collections.abc import Iterator

_SCHEMA = """
CREATE TABLE messages (thread_id TEXT, id TEXT PRIMARY KEY, internal_date TEXT,
                       history_id INTEGER, label_ids TEXT, snippet TEXT, subject TEXT);
CREATE INDEX messages_thread ON messages (thread_id, internal_date, id);
CREATE TABLE threads (id TEXT PRIMARY KEY, record TEXT);
CREATE TABLE touched (id TEXT PRIMARY KEY, seq INTEGER);
"""


class DerivedThreads:
    """One mailbox's store; written by the messages reader, read by the threads reader."""

    def __init__(self, keeps_record=lambda record: True):
        self._keeps = keeps_record  # the selection (spam/trash, start_date) a thread shows
        # Lives as long as the run; closed (and so deleted) by close() or at exit.
        self._file = tempfile.NamedTemporaryFile(prefix="tap-gmail-threads-", suffix=".db")  # noqa: SIM115
        self._db = sqlite3.connect(self._file.name, check_same_thread=False)
        self._db.executescript("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;" + _SCHEMA)
        self._lock = threading.Lock()
        self.full_h0: int | None = None  # set when a fresh full messages sync finished
        self.window: tuple[int, int] | None = None  # (start, end) of a finished incremental
        self.new_threads: set[str] = set()  # incremental: threads whose first message is new
        self._seq = 0

    # ---- written by the messages stream ----------------------------------------------

    def add_message(self, record: dict) -> None:
        """A message record as emitted (tombstones carry no thread data and are skipped)."""
        if record.get("_sdc_deleted_at") or not record.get("thread_id"):
            return
        if not self._keeps(record):
            with self._lock:  # e.g. moved to trash: no longer part of its thread here
                self._db.execute("DELETE FROM messages WHERE id = ?", (record["id"],))
            return
        row = (
            record["thread_id"],
            record["id"],
            record.get("internal_date") or "",
            record.get("history_id"),
            "\x1f".join(record.get("label_ids") or ()),
            record.get("snippet"),
            record.get("subject"),
        )
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO messages VALUES (?,?,?,?,?,?,?)", row)

    def put_thread(self, thread_id: str, record: dict | None) -> None:
        """A thread the messages stream fetched whole (None: it no longer exists)."""
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO threads VALUES (?, ?)",
                (thread_id, None if record is None else json.dumps(record)),
            )

    def touch(self, thread_id: str) -> None:
        """A thread an incremental run changed, in the order the threads stream will emit."""
        with self._lock:
            self._seq += 1
            self._db.execute("INSERT OR IGNORE INTO touched VALUES (?, ?)", (thread_id, self._seq))

    def begin(self) -> None:
        """Forget an earlier pass (a fallback from incremental to full starts over)."""
        with self._lock:
            self._db.executescript(
                "DELETE FROM messages; DELETE FROM threads; DELETE FROM touched;"
            )
        self.full_h0, self.window, self.new_threads = None, None, set()

    # ---- read by the threads stream ----------------------------------------------------

    def known(self, thread_id: str) -> bool:
        if thread_id in self.new_threads:
            return True
        with self._lock:
            row = self._db.execute("SELECT 1 FROM threads WHERE id = ?", (thread_id,)).fetchone()
        return row is not None

    def touched(self) -> Iterator[str]:
        offset = 0
        while True:
            with self._lock:
                rows = self._db.execute(
                    "SELECT id FROM touched ORDER BY seq LIMIT 500 OFFSET ?", (offset,)
                ).fetchall()
            if not rows:
                return
            offset += len(rows)
            yield from (row[0] for row in rows)

    def thread(self, thread_id: str, mailbox: str, label_names: dict[str, str]) -> dict | None:
        """The thread's record, or None when it has no message left (deleted)."""
        with self._lock:
            stored = self._db.execute(
                "SELECT record FROM threads WHERE id = ?", (thread_id,)
            ).fetchone()
            if stored is not None and thread_id not in self.new_threads:
                return None if stored[0] is None else json.loads(stored[0])
            rows = self._db.execute(
                "SELECT id, internal_date, history_id, label_ids, snippet, subject "
                "FROM messages WHERE thread_id = ? ORDER BY internal_date, id",
                (thread_id,),
            ).fetchall()
        return aggregate(thread_id, rows, mailbox, label_names) if rows else None

    def all_threads(self, mailbox: str, label_names: dict[str, str]) -> Iterator[dict]:
        """Every thread of a full sync, aggregated in one ordered pass over the store."""
        last, group = None, []
        cursor = self._db.cursor()  # reads only: the messages stream has finished writing
        cursor.execute(
            "SELECT thread_id, id, internal_date, history_id, label_ids, snippet, subject "
            "FROM messages ORDER BY thread_id, internal_date, id"
        )
        for thread_id, *row in cursor:
            if thread_id != last and group:
                yield aggregate(last, group, mailbox, label_names)
                group = []
            last = thread_id
            group.append(row)
        if group:
            yield aggregate(last, group, mailbox, label_names)

    def close(self) -> None:
        self._db.close()
        self._file.close()


def aggregate(thread_id: str, rows: list, mailbox: str, label_names: dict[str, str]) -> dict:
    """The threads record of ``rows`` (id, date, history, labels, snippet, subject), oldest
    first, in the same shape ``cpcal.normalize_thread`` gives from ``threads.get``."""
    labels = sorted({label for row in rows for label in row[3].split("\x1f") if label})
    dates = [row[1] for row in rows if row[1]]
    histories = [row[2] for row in rows if row[2] is not None]
    return {
        "id": thread_id,
        "mailbox": mailbox,
        "history_id": max(histories) if histories else None,
        "snippet": rows[-1][4],
        "message_ids": [row[0] for row in rows],
        "message_count": len(rows),
        "label_ids": labels,
        "label_names": [label_names.get(label, label) for label in labels],
        "first_message_at": min(dates) if dates else None,
        "last_message_at": max(dates) if dates else None,
        "subject": rows[0][5],
        "_sdc_deleted_at": None,
    }
