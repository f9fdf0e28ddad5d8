"""How the messages stream feeds derived threads (``derived_threads``), run by run.

A mixin of ``sync.MailboxSync``, kept apart so each file reads in one sitting. It picks the
store a messages pass writes to (a thread index kept between runs, see ``thread_index``, or
a temporary one) and applies each history page to it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import datetime, timezone

from gmail_core import cpcal
from gmail_core.batch import BatchPart
from gmail_core.errors import ApiError

from .derived_threads import DerivedThreads
from .fetch import execute_bounded
from .history import HistoryPage


class ThreadFeed:
    # ---- which store a pass writes to ---------------------------------------------------

    def _store_for_full(self, resume: dict | None, h0: int) -> DerivedThreads | None:
        """A full pass: a new index (or a temporary store) from its first page; a resumed
        one continues its index, or derives nothing when that index is gone."""
        self._replace_store(None)
        if not self.derive_threads:
            return None
        mailbox, selection = self.client.mailbox, self.query.fingerprint()
        keeps = self.query.keeps_record
        if resume:
            lineage = resume.get("thread_index")
            store = None
            if lineage and self.index_dir:
                store = self.index_dir.open(mailbox, lineage, keeps, selection)
            if store and store.meta().get("full_h0") != str(h0):
                store.close()
                store = None
                self.index_dir.discard(mailbox, lineage)  # another full sync's index
        else:
            store = self.index_dir.create(mailbox, keeps, selection, h0) if self.index_dir else None
            store = store or self._temporary_store()
        self._replace_store(store)
        return store

    def _store_for_incremental(self, start: int) -> DerivedThreads | None:
        """The saved index when it covers ``start``; else a temporary store for this run."""
        self._replace_store(None)
        saved = self.saved_index
        if not self.derive_threads:
            if saved and self.index_dir:  # not kept up to date by this run: no longer valid
                self.index_dir.discard(self.client.mailbox, saved)
            return None
        store = None
        if saved and self.index_dir:
            store = self.index_dir.open(
                self.client.mailbox, saved, self.query.keeps_record, self.query.fingerprint()
            )
            meta = store.meta() if store else {}
            applied = _number(meta.get("applied"))
            if store and (meta.get("complete") != "1" or applied is None or applied < start):
                self.logger.warning(
                    "mailbox %s: the thread index has applied history up to %s, not %d; "
                    "threads changed in this run are read from Gmail",
                    self.client.mailbox,
                    meta.get("applied"),
                    start,
                )
                store.close()
                store = None
                self.index_dir.discard(self.client.mailbox, saved)  # it cannot catch up
        if store is not None:
            store.indexed = True
        self._replace_store(store or self._temporary_store())
        return self.derived

    def _temporary_store(self) -> DerivedThreads | None:
        """A store for this run only; None (threads read from Gmail) if none can be made."""
        try:
            return DerivedThreads(self.query.keeps_record)
        except (OSError, sqlite3.Error) as problem:
            self.logger.warning(
                "mailbox %s: no temporary thread store (%s: %s); threads are read from Gmail",
                self.client.mailbox,
                type(problem).__name__,
                problem,
            )
            return None

    def _drop_if_broken(self, store: DerivedThreads | None) -> DerivedThreads | None:
        """The store, or None once a write to it failed: this run's threads then come from
        Gmail (the threads stream's own fallback), and a broken index file is deleted."""
        if store is None or not store.broken:
            return store
        self.logger.warning(
            "mailbox %s: the thread store could not be written (%s); threads of this run are "
            "read from Gmail. Check free space in %s.",
            self.client.mailbox,
            store.broken,
            store.path.parent if store.path else "the temporary directory",
        )
        self._replace_store(None)
        if store.lineage and self.index_dir:
            self.index_dir.discard(self.client.mailbox, store.lineage)
        return None

    def _replace_store(self, store: DerivedThreads | None) -> None:
        if self.derived is not None and self.derived is not store:
            self.derived.close()
        self.derived = store

    def _finish_full_store(self, store: DerivedThreads, h0: int) -> None:
        """The full pass is complete: the store now holds every thread of the selection."""
        if store.lineage:
            store.set_meta(complete=1, applied=h0)
            store.commit()
            if self.saved_index and self.saved_index != store.lineage:
                self.index_dir.discard(self.client.mailbox, self.saved_index)
        store.full_h0 = h0

    # ---- one history page ------------------------------------------------------------

    def _page_into_index(self, page: HistoryPage, store: DerivedThreads) -> Iterator[dict]:
        """One history page over a thread index: messages fetched one by one (5 units each,
        as with the messages stream alone); their threads are aggregated from the index."""
        for message_id, thread_id in page.deleted.items():
            thread_id = store.remove_message(message_id) or thread_id
            if thread_id:
                store.touch(thread_id)
        refs = [{"id": mid, "threadId": tid} for mid, tid in page.touched.items()]
        for record in self._fetch_messages(refs, allow_threads=False, missing_is_deleted=True):
            thread_id = store.add_message(record)
            if thread_id:
                store.touch(thread_id)
            yield record
        store.set_meta(applied=page.resume_after)
        store.commit()  # before the bookmark that covers this page is emitted

    def _page_with_threads(self, page: HistoryPage, store: DerivedThreads) -> Iterator[dict]:
        """One history page without an index.

        A new thread's messages are fetched one by one and aggregated later; an older
        thread is fetched whole once (``threads.get``, 10 units) and serves both streams.
        """
        mailbox = self.client.mailbox
        store.new_threads |= page.new_threads
        for message_id, thread_id in page.deleted.items():
            thread_id = store.remove_message(message_id) or thread_id
            if thread_id:  # deleted during the run: a copy from an earlier page is stale
                store.forget_thread(thread_id)
        for thread_id in page.thread_ids():
            store.touch(thread_id)
        single, whole = [], {}
        for message_id, thread_id in page.touched.items():
            if thread_id and thread_id not in store.new_threads and self.query.fmt != "raw":
                whole.setdefault(thread_id, set()).add(message_id)
            else:
                single.append({"id": message_id, "threadId": thread_id})
        for record in self._fetch_messages(single, allow_threads=False, missing_is_deleted=True):
            store.add_message(record)
            yield record
        parts = [
            BatchPart("threads.get", "GET", f"threads/{tid}", {"format": self.query.fmt}, key=tid)
            for tid in whole
        ]
        labels = self.label_names()
        for result in execute_bounded(self.client, parts):
            thread_id = result.part.key
            if result.ok:
                store.put_thread(thread_id, self._thread_record(result.body, labels))
                for message in result.body.get("messages", []):
                    if message["id"] in whole[thread_id]:
                        yield cpcal.normalize_message(message, mailbox, labels)
                continue
            if result.status != 404:
                raise result.error or ApiError(result.status, "threads.get failed")
            store.put_thread(thread_id, None)  # the whole thread is gone
            now = datetime.now(timezone.utc).isoformat()
            for message_id in sorted(whole[thread_id]):
                yield cpcal.tombstone(message_id, thread_id, mailbox, now)


def _number(value) -> int | None:
    """A number the index file says about itself; None when it is not one (a damaged file)."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
