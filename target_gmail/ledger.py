"""The durable send ledger: what we meant to send, and what Gmail confirmed, per key.

Exactly-once needs a record that survives kill -9 between "about to send" and "Gmail said
200". An intent row is committed (WAL, ``synchronous=FULL``) *before* the send call; the
result is committed right after. A row still at ``intent`` on the next run means the outcome
is unknown, and the sender reconciles it against Gmail (``rfc822msgid:`` search) before it
may send again. SQLite because it is transactional, in the standard library, and one file.

One run at a time per ledger: an exclusive ``flock`` on ``<ledger>.lock`` makes a second,
concurrent run fail fast instead of racing the first one on the same keys.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

from gmail_core.errors import ConfigError

INTENT = "intent"  # committed before the send call; outcome unknown until reconciled
SENT = "sent"  # Gmail holds the message; post-send labels may still be pending
DONE = "done"  # sent and labelled: nothing left to do for this key
FAILED = "failed"  # Gmail refused it (4xx): not sent; a rerun may try again

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sends (
    mailbox      TEXT NOT NULL,
    key          TEXT NOT NULL,
    message_id   TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    state        TEXT NOT NULL,
    gmail_id     TEXT,
    thread_id    TEXT,
    attempts     INTEGER NOT NULL DEFAULT 0,
    note         TEXT,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    PRIMARY KEY (mailbox, key)
)
"""


class KeyReused(Exception):
    """The key is in the ledger (not as ``failed``) with other content: never send it."""


@dataclass(frozen=True)
class Entry:
    mailbox: str
    key: str
    message_id: str
    content_hash: str
    state: str
    gmail_id: str | None
    thread_id: str | None
    attempts: int
    note: str | None


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")


class Ledger:
    """Thread-safe; every write is its own committed transaction."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._lock_file = open(f"{self.path}.lock", "a+")  # noqa: SIM115 (held for life)
        except OSError as problem:
            raise ConfigError(
                "ledger_path", f"cannot create {self.path}: {problem.strerror}"
            ) from None
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock_file.close()
            raise ConfigError(
                "ledger_path",
                f"another target-gmail run is using {self.path}",
                "wait for it to finish; two runs on one ledger could race on the same keys.",
            ) from None
        self._mutex = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(_SCHEMA)

    def close(self) -> None:
        with self._mutex:
            self._db.close()
            self._lock_file.close()

    def get(self, mailbox: str, key: str) -> Entry | None:
        with self._mutex:
            row = self._db.execute(
                "SELECT mailbox, key, message_id, content_hash, state, gmail_id, thread_id,"
                " attempts, note FROM sends WHERE mailbox = ? AND key = ?",
                (mailbox.lower(), key),
            ).fetchone()
        return Entry(*row) if row else None

    def record_intent(self, mailbox: str, key: str, message_id: str, content_hash: str) -> None:
        """Committed before the send call: from here on a crash leaves a row to reconcile.

        A key Gmail refused (``failed``: nothing was sent) may come back with corrected
        content: the row then takes the new content hash, so a rerun of the corrected
        input is recognised as the same message. Any other row keeps its content, and a
        different one raises ``KeyReused`` instead of being recorded.
        """
        now = _now()
        with self._mutex:
            cursor = self._db.execute(
                "INSERT INTO sends (mailbox, key, message_id, content_hash, state, attempts,"
                " created_at, updated_at) VALUES (?, ?, ?, ?, ?, 1, ?, ?)"
                " ON CONFLICT (mailbox, key) DO UPDATE SET state = excluded.state,"
                " message_id = excluded.message_id, content_hash = excluded.content_hash,"
                " gmail_id = NULL, thread_id = NULL,"
                " attempts = sends.attempts + 1, note = NULL, updated_at = excluded.updated_at"
                " WHERE sends.state = ? OR sends.content_hash = excluded.content_hash",
                (mailbox.lower(), key, message_id, content_hash, INTENT, now, now, FAILED),
            )
            if cursor.rowcount == 0:
                raise KeyReused(key)

    def record_sent(self, mailbox: str, key: str, gmail_id: str, thread_id: str | None) -> None:
        self._set(mailbox, key, SENT, gmail_id=gmail_id, thread_id=thread_id)

    def record_done(self, mailbox: str, key: str) -> None:
        self._set(mailbox, key, DONE)

    def record_failed(self, mailbox: str, key: str, note: str) -> None:
        self._set(mailbox, key, FAILED, note=note)

    def _set(self, mailbox: str, key: str, state: str, **fields) -> None:
        columns = ", ".join(f"{name} = ?" for name in fields)
        assignments = f"state = ?, updated_at = ?{', ' + columns if columns else ''}"
        with self._mutex:
            self._db.execute(
                f"UPDATE sends SET {assignments} WHERE mailbox = ? AND key = ?",
                (state, _now(), *fields.values(), mailbox.lower(), key),
            )
