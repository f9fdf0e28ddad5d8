"""Full and historyId-incremental sync of one mailbox, as Google recommends.

Full sync: read ``getProfile.historyId`` (H0) first, then list and fetch; the resume point
while listing is the page token; when the listing ends the bookmark becomes H0, so the next
incremental run catches whatever changed during the full sync.
Incremental: page through ``history.list`` from the bookmark; per page, emit tombstones for
deleted messages, fetch the touched ones in batches, then checkpoint. The final bookmark is
the mailbox's current historyId.

A bookmark that cannot be continued starts one fresh full sync, never a wedged mailbox:
history older than Gmail keeps (404), a page token Gmail no longer accepts (400), a
selection that changed since the bookmark was taken, or a bookmark that is not a number.

The engine yields ``Emit`` records and ``Checkpoint`` events (the partition's whole state,
to persist *after* the records before it are written), so the stream decides how state is
written. Bookmarks use the SDK's ``replication_key``/``replication_key_value`` keys.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime, timezone

from gmail_core import cpcal
from gmail_core.batch import BatchPart, PartResult
from gmail_core.client import MailboxClient
from gmail_core.errors import ApiError, GmailConnectorError, HistoryExpired

from .checkpoint import Checkpoint
from .derived_threads import DerivedThreads
from .fetch import execute_bounded
from .history import history_pages
from .progress import Progress
from .query import MessageQuery
from .thread_feed import ThreadFeed
from .thread_index import ThreadIndexDir
from .thread_sync import ThreadsSync

# threads.get costs 10 units, messages.get 5: a thread is cheaper from 3 listed messages on.
THREAD_FETCH_MIN_MESSAGES = 3
REPLICATION_KEY = "history_id"


class _Restart(GmailConnectorError):
    """The saved position cannot be continued; start a fresh full sync (reason inside)."""


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


class MailboxSync(ThreadsSync, ThreadFeed):
    """Reads one mailbox; shared by the messages, threads and labels streams."""

    def __init__(
        self,
        client: MailboxClient,
        query: MessageQuery,
        logger: logging.Logger,
        derive_threads: bool = False,
        index_dir: ThreadIndexDir | None = None,
    ):
        self.client = client
        self.query = query
        self.logger = logger
        self._label_names: dict[str, str] | None = None
        # Both streams selected: the threads stream reads what the messages stream fetched,
        # from the store the messages pass wrote (thread_feed), kept in `index_dir` if set.
        self.derive_threads = derive_threads
        self.index_dir = index_dir
        self.derived: DerivedThreads | None = None
        self.saved_index: str | None = None  # the thread index the messages state names

    # ---- bookmarks -------------------------------------------------------------------

    def _bookmark(self, history_id: int, index: DerivedThreads | None = None) -> Checkpoint:
        state = {
            "replication_key": REPLICATION_KEY,
            "replication_key_value": history_id,
            "query": self.query.fingerprint(),
        }
        if index is not None and index.lineage:
            state["thread_index"] = index.lineage  # see thread_index
        return Checkpoint(state)

    def _start_point(self, state: dict, stream: str) -> tuple[int | None, dict | None]:
        """(history bookmark, full-sync resume) from saved state, or why it cannot be used."""
        mailbox = self.client.mailbox
        fingerprint = self.query.fingerprint()
        resume = state.get("full_sync")
        if resume:
            if resume.get("query", fingerprint) != fingerprint:
                self._restart_note(stream, "the selection changed since this full sync began")
                return None, None
            return None, resume
        value = state.get("replication_key_value", state.get("history_id"))
        if value is None:
            return None, None
        if state.get("query", fingerprint) != fingerprint:
            self._restart_note(stream, "the selection (messages.q, start_date) changed")
            return None, None
        try:
            return int(value), None
        except (TypeError, ValueError):
            self.logger.warning(
                "mailbox %s, stream %s: saved bookmark %r is not a historyId; full sync",
                mailbox,
                stream,
                value,
            )
            return None, None

    def _restart_note(self, stream: str, why: str) -> None:
        self.logger.warning(
            "mailbox %s, stream %s: %s; running a fresh full sync",
            self.client.mailbox,
            stream,
            why,
        )

    def _with_fallback(self, stream: str, state: dict, incremental, full):
        """Run incremental from the bookmark, else full; a dead position restarts full once."""
        bookmark, resume = self._start_point(state, stream)
        if bookmark is not None:
            try:
                yield from incremental(bookmark)
                return
            except HistoryExpired as expired:
                if expired.reason == "bookmarkAhead":
                    why = f"historyId {bookmark} is ahead of the mailbox's current historyId"
                else:
                    why = f"historyId {bookmark} is older than Gmail keeps (404)"
                self._restart_note(stream, why)
                resume = None
        try:
            yield from full(resume)
        except _Restart as why:
            self._restart_note(stream, str(why))
            yield from full(None)

    def _list_page(self, method: str, path: str, token: str | None) -> dict:
        """One listing page; a page token Gmail refuses (400) means the listing restarts."""
        params = self.query.list_params()
        if token:
            params["pageToken"] = token
        try:
            return self.client.call(method, "GET", path, params=params) or {}
        except ApiError as error:
            if token and error.status == 400:
                raise _Restart(
                    f"Gmail refused the saved page token ({error.gmail_message})"
                ) from None
            raise

    # ---- labels ----------------------------------------------------------------------

    def label_names(self) -> dict[str, str]:
        if self._label_names is None:
            labels = self.client.call("labels.list", "GET", "labels") or {}
            self._label_names = {lab["id"]: lab["name"] for lab in labels.get("labels", [])}
        return self._label_names

    def labels(self, state: dict) -> Iterator[dict | Checkpoint]:
        """Every label, with counts; labels gone since the last run come as tombstones."""
        mailbox = self.client.mailbox
        listed = self.client.call("labels.list", "GET", "labels") or {}
        parts = [
            BatchPart("labels.get", "GET", f"labels/{label['id']}", key=label["id"])
            for label in listed.get("labels", [])
        ]
        seen: list[str] = []
        for result in self.client.batch(parts):
            if result.ok:
                seen.append(result.body["id"])
                yield cpcal.normalize_label(result.body, mailbox)
            elif result.status != 404:  # a 404 is a label deleted since the listing
                raise result.error or ApiError(result.status, "labels.get failed")
        now = _now()
        for label_id in sorted(set(state.get("label_ids") or ()) - set(seen)):
            yield cpcal.label_tombstone(label_id, mailbox, now)
        yield Checkpoint({"label_ids": sorted(seen)})

    # ---- messages --------------------------------------------------------------------

    def messages(self, state: dict) -> Iterator[dict | Checkpoint]:
        resume = state.get("full_sync") or {}
        self.saved_index = state.get("thread_index") or resume.get("thread_index")
        yield from self._with_fallback(
            "messages", state, self._incremental_messages, self._full_messages
        )

    def _full_messages(self, resume: dict | None) -> Iterator[dict | Checkpoint]:
        mailbox = self.client.mailbox
        profile = self.client.call("getProfile", "GET", "profile")
        if resume:
            h0, token, done = int(resume["h0"]), resume.get("page_token"), resume.get("done", 0)
            self.logger.info("mailbox %s: resuming full sync after %d messages", mailbox, done)
        else:
            h0, token, done = int(profile["historyId"]), None, 0
        # Threads are derived only from a store that saw every page of this full sync.
        track = self._store_for_full(resume, h0)
        progress = Progress(self.logger, mailbox, profile.get("messagesTotal", 0), done)
        position = {"h0": h0, "query": self.query.fingerprint()}
        if track is not None and track.lineage:
            position["thread_index"] = track.lineage
        while True:
            page = self._list_page("messages.list", "messages", token)
            refs = page.get("messages", [])
            # State says "resume at this page" while its records are being written.
            yield Checkpoint({"full_sync": {**position, "page_token": token, "done": done}})
            for record in self._fetch_messages(refs):
                if track:
                    track.add_message(record)
                yield record
            if track:
                track.commit()
                track = self._drop_if_broken(track)
                if track is None:
                    position.pop("thread_index", None)
            done += len(refs)
            progress.update(done)
            token = page.get("nextPageToken")
            if not token:
                break
        progress.finish(done)
        if track:
            self._finish_full_store(track, h0)
        yield self._bookmark(h0, track)

    def _incremental_messages(self, start: int) -> Iterator[dict | Checkpoint]:
        mailbox = self.client.mailbox
        changed = deleted = 0
        derived = self._store_for_incremental(start)
        index = derived if derived is not None and derived.indexed else None
        end = start
        for page in history_pages(self.client, start):
            now = _now()
            for message_id, thread_id in page.deleted.items():
                yield cpcal.tombstone(message_id, thread_id, mailbox, now)
            if index is not None:
                yield from self._page_into_index(page, index)
            elif derived is not None:
                yield from self._page_with_threads(page, derived)
            else:
                refs = [{"id": mid, "threadId": tid} for mid, tid in page.touched.items()]
                yield from self._fetch_messages(refs, allow_threads=False, missing_is_deleted=True)
            derived = self._drop_if_broken(derived)
            index = index if derived is not None else None
            changed += len(page.touched)
            deleted += len(page.deleted)
            end = page.resume_after
            yield self._bookmark(page.resume_after, index)
        if derived:
            derived.window = (start, end)
        self.logger.info(
            "mailbox %s: incremental from historyId %d: %d changed, %d deleted",
            mailbox,
            start,
            changed,
            deleted,
        )

    def _fetch_messages(
        self, refs: list[dict], allow_threads: bool = True, missing_is_deleted: bool = False
    ) -> Iterator[dict]:
        """Fetch listed messages in concurrent batches; threads.get where it is cheaper."""
        if not refs:
            return
        fmt = self.query.fmt
        wanted = {ref["id"] for ref in refs}
        by_thread: dict[str, list[str]] = {}
        for ref in refs:
            by_thread.setdefault(ref.get("threadId") or ref["id"], []).append(ref["id"])
        parts: list[BatchPart] = []
        for thread_id, ids in by_thread.items():
            if allow_threads and fmt != "raw" and len(ids) >= THREAD_FETCH_MIN_MESSAGES:
                parts.append(
                    BatchPart("threads.get", "GET", f"threads/{thread_id}", {"format": fmt})
                )
            else:
                parts += [
                    BatchPart("messages.get", "GET", f"messages/{mid}", {"format": fmt}, key=mid)
                    for mid in ids
                ]
        labels = self.label_names()
        mailbox = self.client.mailbox
        for result in execute_bounded(self.client, parts):
            yield from self._records(result, wanted, labels, mailbox, missing_is_deleted)

    def _records(
        self, result: PartResult, wanted, labels, mailbox, missing_is_deleted
    ) -> Iterator[dict]:
        if not result.ok:
            if result.status == 404 and missing_is_deleted and result.part.key:
                yield cpcal.tombstone(result.part.key, None, mailbox, _now())
                return
            if result.status == 404:
                return  # deleted between listing and fetching: the next run's history says so
            raise result.error or ApiError(result.status, "batch part failed")
        if result.part.method == "threads.get":
            for message in result.body.get("messages", []):
                if message["id"] in wanted:
                    yield cpcal.normalize_message(message, mailbox, labels)
            return
        yield cpcal.normalize_message(result.body, mailbox, labels)
