"""The thread index: a mailbox's derived-threads store kept between runs.

An incremental run sees only the messages that changed, but a thread's record depends on
all of its messages. Without the index a change to an older thread costs ``threads.get``
(10 units); with it the thread is aggregated from rows kept since the full sync, so the
three streams cost what the messages stream alone costs.

The index is a cache, never the source of truth:
- each fresh full sync starts a new *lineage* (a random id) and a new file; the messages
  bookmark names it (``thread_index`` in the state partition);
- the file records the selection it holds and the history it has applied (``applied``),
  committed before the bookmark that covers it is emitted;
- a run uses it only when the bookmark names it, it finished its full sync, and it has
  applied at least up to the bookmark. Being ahead is harmless (a rerun refetches the same
  messages); being behind, missing, or held by another run means the run reads threads from
  Gmail as it would without an index, and drops it from the state.

Files are named by a hash of the mailbox (no address on disk), private to the user, and a
file no run has touched for ``STALE_AFTER`` (e.g. left by a cleared state) is removed.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import sqlite3
import time
import uuid
from pathlib import Path

from .derived_threads import DerivedThreads

STALE_AFTER = 30 * 24 * 3600  # seconds without a run before an index file is swept
LINEAGE = re.compile(r"[0-9a-f]{16}")  # what create() makes; anything else is not ours


def default_dir() -> Path:
    """Meltano's per-plugin run dir when run by Meltano, else ``./.tap-gmail``."""
    root = os.environ.get("MELTANO_PROJECT_ROOT")
    base = Path(root) / ".meltano" / "run" / "tap-gmail" if root else Path(".tap-gmail")
    return base / "thread-index"


class ThreadIndexDir:
    """Where one tap's thread indexes live; hands out opened, exclusively held stores."""

    def __init__(self, root: Path, logger: logging.Logger):
        self.root = Path(root)
        self.logger = logger

    def _prefix(self, mailbox: str) -> str:
        return hashlib.sha256(mailbox.lower().encode()).hexdigest()[:16]

    def path(self, mailbox: str, lineage: str) -> Path:
        if not LINEAGE.fullmatch(str(lineage)):  # from the state: never a path of its own
            raise ValueError(f"{lineage!r} is not a thread index id")
        return self.root / f"{self._prefix(mailbox)}-{lineage}.sqlite"

    def create(self, mailbox: str, keeps, selection: str, h0: int) -> DerivedThreads | None:
        """A new, empty index for a fresh full sync; None when the directory is unusable."""
        lineage = uuid.uuid4().hex[:16]
        try:
            self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
            self._sweep(mailbox)
            path = self.path(mailbox, lineage)
            path.touch(mode=0o600)
            store = DerivedThreads(keeps, path)
        except (OSError, sqlite3.Error) as problem:
            self.logger.warning(
                "mailbox %s: no thread index (%s: %s); set `thread_index_dir` to a writable "
                "directory. Threads changed in incremental runs are read from Gmail instead.",
                mailbox,
                type(problem).__name__,
                problem,
            )
            return None
        store.set_meta(lineage=lineage, selection=selection, full_h0=h0, complete=0, applied=0)
        store.commit()
        if store.broken:
            store.close()
            self.discard(mailbox, lineage)
            self.logger.warning("mailbox %s: no thread index (%s)", mailbox, store.broken)
            return None
        store.lineage = lineage
        return store

    def open(self, mailbox: str, lineage: str, keeps, selection: str) -> DerivedThreads | None:
        """The saved index ``lineage`` of this selection, or None (with why) if unusable."""
        if not LINEAGE.fullmatch(str(lineage)):
            self._note(mailbox, f"the state's `thread_index` {str(lineage)[:40]!r} is not an id")
            return None
        path = self.path(mailbox, lineage)
        if not path.is_file():
            self._note(mailbox, f"it is not in {self.root} (a new machine, or a cleared directory)")
            return None
        try:
            store = DerivedThreads(keeps, path)
            meta = store.meta()
        except sqlite3.Error as problem:
            self._note(mailbox, f"it cannot be opened ({problem}); another run may hold it")
            return None
        if meta.get("lineage") != lineage or meta.get("selection") != selection:
            store.close()
            self.discard(mailbox, lineage)
            self._note(mailbox, "it belongs to another selection")
            return None
        store.lineage = lineage
        with contextlib.suppress(OSError):
            os.utime(path)  # in use: not stale
        return store

    def discard(self, mailbox: str, lineage: str | None) -> None:
        """Delete an index the state no longer names (superseded, or fallen behind)."""
        if not lineage or not LINEAGE.fullmatch(str(lineage)):
            return
        base = self.path(mailbox, lineage)
        for path in (base, base.with_name(base.name + "-wal"), base.with_name(base.name + "-shm")):
            path.unlink(missing_ok=True)

    def _sweep(self, mailbox: str) -> None:
        """Remove this mailbox's index files that no run has used for ``STALE_AFTER``."""
        cutoff = time.time() - STALE_AFTER
        for path in self.root.glob(f"{self._prefix(mailbox)}-*.sqlite*"):
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink()
            except OSError:
                continue

    def _note(self, mailbox: str, why: str) -> None:
        self.logger.warning(
            "mailbox %s: the thread index the state names is not used: %s. Threads changed "
            "in this run are read from Gmail; the next full sync builds a new index.",
            mailbox,
            why,
        )
