"""The threads stream of one mailbox: derived from the messages stream when it can be,
read from Gmail (``threads.list`` + ``threads.get``) when it cannot.

A mixin of ``sync.MailboxSync``, kept apart so each file reads in one sitting; it uses the
bookmark, fallback and fetch helpers defined there.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone

from gmail_core import cpcal
from gmail_core.batch import BatchPart
from gmail_core.errors import ApiError

from .checkpoint import Checkpoint
from .derived_threads import DerivedThreads
from .fetch import execute_bounded
from .history import history_pages


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


class ThreadsSync:
    def threads(self, state: dict) -> Iterator[dict | Checkpoint]:
        derived = self.derived
        try:
            if derived and derived.full_h0 is not None:
                yield from self._derived_full_threads(derived)
                return
            bookmark, _ = self._start_point(state, "threads")
            if derived and derived.window and bookmark == derived.window[0]:
                yield from self._derived_incremental_threads(derived)
                return
            yield from self._with_fallback(
                "threads", state, self._incremental_threads, self._full_threads
            )
        finally:  # the threads stream is the store's last reader this run
            self._replace_store(None)

    def _derived_full_threads(self, derived: DerivedThreads) -> Iterator[dict | Checkpoint]:
        """Every thread, aggregated from this run's full messages sync: no Gmail call."""
        yield from derived.all_threads(self.client.mailbox, self.label_names())
        yield self._bookmark(derived.full_h0)

    def _derived_incremental_threads(self, derived: DerivedThreads) -> Iterator[dict | Checkpoint]:
        """The threads this run's messages changed; only those it could not derive are read."""
        mailbox, labels = self.client.mailbox, self.label_names()
        unknown: list[str] = []
        for thread_id in derived.touched():
            if not derived.known(thread_id):
                unknown.append(thread_id)
                continue
            record = derived.thread(thread_id, mailbox, labels)
            yield record or cpcal.thread_tombstone(thread_id, mailbox, _now())
            if len(unknown) >= 500:
                yield from self._fetch_threads(unknown, missing_is_deleted=True)
                unknown = []
        yield from self._fetch_threads(unknown, missing_is_deleted=True)
        yield self._bookmark(derived.window[1])

    def _incremental_threads(self, start: int) -> Iterator[dict | Checkpoint]:
        for page in history_pages(self.client, start):
            # A thread whose every message was deleted answers 404: it is gone.
            yield from self._fetch_threads(page.thread_ids(), missing_is_deleted=True)
            yield self._bookmark(page.resume_after)

    def _full_threads(self, resume: dict | None) -> Iterator[dict | Checkpoint]:
        profile = self.client.call("getProfile", "GET", "profile")
        if resume:
            h0, token = int(resume["h0"]), resume.get("page_token")
        else:
            h0, token = int(profile["historyId"]), None
        fingerprint = self.query.fingerprint()
        while True:
            page = self._list_page("threads.list", "threads", token)
            yield Checkpoint({"full_sync": {"h0": h0, "page_token": token, "query": fingerprint}})
            yield from self._fetch_threads([t["id"] for t in page.get("threads", [])])
            token = page.get("nextPageToken")
            if not token:
                break
        yield self._bookmark(h0)

    def _fetch_threads(
        self, thread_ids: list[str], missing_is_deleted: bool = False
    ) -> Iterator[dict]:
        labels = self.label_names()
        mailbox = self.client.mailbox
        parts = [
            BatchPart(
                "threads.get",
                "GET",
                f"threads/{tid}",
                {"format": "metadata", "metadataHeaders": ["Subject"]},
                key=tid,
            )
            for tid in thread_ids
        ]
        for result in execute_bounded(self.client, parts):
            if result.ok:
                record = self._thread_record(result.body, labels)
                if record is not None:
                    yield record
                    continue
            elif result.status != 404:
                raise result.error or ApiError(result.status, "threads.get failed")
            if missing_is_deleted:  # gone, or no message of it is in the selection any more
                yield cpcal.thread_tombstone(result.part.key, mailbox, _now())

    def _thread_record(self, thread: dict, labels: dict[str, str]) -> dict | None:
        """The threads record of the thread's selected messages; None when it has none."""
        selected = self.query.thread_in_selection(thread)
        if not selected["messages"]:
            return None
        return cpcal.normalize_thread(selected, self.client.mailbox, labels)
