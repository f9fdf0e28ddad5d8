"""Thread records derived from what the messages stream fetched, instead of ``threads.get``.

``threads.get`` costs 10 units a thread, so reading threads on their own nearly doubles a
sync's quota. When both streams are selected, the messages stream feeds this store and the
threads stream reads it instead of Gmail:

- after a full messages sync, every thread of the selection is aggregated from its message
  records (its ``message_ids`` are exactly its rows of the messages table);
- after an incremental run over a *thread index* (this store kept between runs, see
  ``thread_index``), every changed thread is aggregated from its rows: the index holds every
  message of the selection, as fresh as the history applied to it;
- after an incremental run without one, a thread is known when it is new (its first
  message, whose id is the thread id, was added in the window) or when the messages stream
  fetched it whole with ``threads.get`` (one 10-unit call serves both streams).

Rows live in SQLite, so memory stays flat however big the mailbox. The run's own lists (the
threads touched, whole threads fetched) are TEMP tables: never kept in an index file.
"""

from __future__ import annotations

import json
import sqlite3
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

_KEPT = """
CREATE TABLE IF NOT EXISTS messages (thread_id TEXT, id TEXT PRIMARY KEY, internal_date TEXT,
                       history_id INTEGER, label_ids TEXT, snippet TEXT, subject TEXT);
CREATE INDEX IF NOT EXISTS messages_thread ON messages (thread_id, internal_date, id);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
"""
_RUN = """
CREATE TEMP TABLE threads (id TEXT PRIMARY KEY, record TEXT);
CREATE TEMP TABLE touched (id TEXT PRIMARY KEY, seq INTEGER);
"""


class DerivedThreads:
    """One mailbox's store; written by the messages reader, read by the threads reader.

    Without ``path`` it is a temporary file, gone with the run. With one it is a thread
    index file, opened exclusively (``sqlite3.OperationalError`` when another run holds it).
    """

    def __init__(
        self, keeps_record=lambda record: True, path: Path | None = None, create: bool = True
    ):
        self._keeps = keeps_record  # the selection (spam/trash, start_date) a thread shows
        self.path = path
        self._lock = threading.Lock()
        self.full_h0: int | None = None  # set when a full messages sync finished
        self.window: tuple[int, int] | None = None  # (start, end) of a finished incremental
        self.new_threads: set[str] = set()  # incremental: threads whose first message is new
        self.indexed = False  # every message of the selection is here: every thread known
        self.lineage: str | None = None  # an index file's id (see thread_index)
        self.broken: str | None = None  # why a write failed (disk full, I/O error)
        self._seq = 0
        self._file = None
        if path is None:  # closed (and so deleted) by close() or at exit
            self._file = tempfile.NamedTemporaryFile(prefix="tap-gmail-threads-", suffix=".db")  # noqa: SIM115
        self._db = sqlite3.connect(str(path or self._file.name), timeout=0, check_same_thread=False)
        if path is None:
            pragmas = "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;"
        else:  # a kill -9 loses no committed page; a power cut leaves a consistent file
            pragmas = "PRAGMA locking_mode=EXCLUSIVE; PRAGMA journal_mode=WAL;"
            pragmas += "PRAGMA synchronous=NORMAL;"
        try:
            self._db.executescript(pragmas)
            if not create:  # a saved index: never made up anew (an empty table is no index)
                self._check_kept_tables()
            self._db.executescript(_KEPT + _RUN)
        except sqlite3.Error as problem:
            self.broken = str(problem)
            self.close()
            raise

    def _check_kept_tables(self) -> None:
        tables = {
            row[0] for row in self._db.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
        missing = sorted({"messages", "meta"} - tables)
        if missing:
            raise sqlite3.DatabaseError(f"no table {', '.join(missing)}: not a whole index")

    def _write(self, sql: str, params=(), many: bool = False) -> list | None:
        """One statement for the messages stream's side. A failure (disk full, I/O error)
        marks the store broken instead of raising: it is a cache, and the sync then reads
        threads from Gmail rather than failing a run whose records are fine."""
        if self.broken:
            return None
        with self._lock:
            try:
                if sql == "COMMIT":
                    self._db.commit()
                    return []
                run = self._db.executemany if many else self._db.execute
                return run(sql, params).fetchall()
            except sqlite3.Error as problem:
                self.broken = f"{type(problem).__name__}: {problem}"
                return None

    # ---- what an index file says about itself ----------------------------------------

    def meta(self) -> dict[str, str]:
        with self._lock:
            return dict(self._db.execute("SELECT key, value FROM meta").fetchall())

    def set_meta(self, **values) -> None:
        rows = [(key, str(value)) for key, value in values.items()]
        self._write("INSERT OR REPLACE INTO meta VALUES (?, ?)", rows, many=True)

    def commit(self) -> None:
        """Make what was written so far durable (an index file; a no-op cost otherwise)."""
        self._write("COMMIT")

    # ---- written by the messages stream ----------------------------------------------

    def add_message(self, record: dict) -> str | None:
        """A message record as emitted; returns the thread it changes, if any.

        A tombstone, or a message no longer in the selection (e.g. moved to trash), leaves
        its thread.
        """
        if record.get("_sdc_deleted_at") or not self._keeps(record):
            return self.remove_message(record["id"]) or record.get("thread_id")
        if not record.get("thread_id"):
            return None
        row = (
            record["thread_id"],
            record["id"],
            record.get("internal_date") or "",
            record.get("history_id"),
            "\x1f".join(record.get("label_ids") or ()),
            record.get("snippet"),
            record.get("subject"),
        )
        self._write("INSERT OR REPLACE INTO messages VALUES (?,?,?,?,?,?,?)", row)
        return record["thread_id"]

    def remove_message(self, message_id: str) -> str | None:
        """Forget a message; returns the thread it was in, when it was here."""
        rows = self._write("SELECT thread_id FROM messages WHERE id = ?", (message_id,))
        if rows:  # (no DELETE ... RETURNING: SQLite before 3.35 lacks it)
            self._write("DELETE FROM messages WHERE id = ?", (message_id,))
        return rows[0][0] if rows else None

    def put_thread(self, thread_id: str, record: dict | None) -> None:
        """A thread the messages stream fetched whole (None: it no longer exists)."""
        stored = None if record is None else json.dumps(record)
        self._write("INSERT OR REPLACE INTO threads VALUES (?, ?)", (thread_id, stored))

    def forget_thread(self, thread_id: str) -> None:
        """A whole copy fetched on an earlier page is stale (a message of it was deleted)."""
        self._write("DELETE FROM threads WHERE id = ?", (thread_id,))

    def touch(self, thread_id: str) -> None:
        """A thread an incremental run changed, in the order the threads stream will emit."""
        self._seq += 1
        self._write("INSERT OR IGNORE INTO touched VALUES (?, ?)", (thread_id, self._seq))

    # ---- read by the threads stream ----------------------------------------------------

    def known(self, thread_id: str) -> bool:
        if self.indexed or thread_id in self.new_threads:
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
            if not self.indexed and thread_id not in self.new_threads:
                stored = self._db.execute(
                    "SELECT record FROM threads WHERE id = ?", (thread_id,)
                ).fetchone()
                if stored is not None:
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
        """Close the store: an index file is committed first; a temporary one is deleted."""
        try:
            if self.path is not None and not self.broken:
                self._db.commit()
            self._db.close()
        except sqlite3.Error:
            self.broken = self.broken or "closing failed"
        finally:
            if self._file is not None:
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
