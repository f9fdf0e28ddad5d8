"""Full and historyId-incremental sync of one mailbox, as Google recommends.

Full sync: read ``getProfile.historyId`` (H0) first, then list and fetch; the resume point
while listing is the page token; when the listing ends the bookmark becomes H0, so the next
incremental run catches whatever changed during the full sync.
Incremental: page through ``history.list`` from the bookmark, fetch the touched messages in
batches, emit tombstones for deleted ones; the new bookmark is the last page's historyId.
A 404 (bookmark older than Gmail keeps) falls back to one full sync.

The engine yields ``Emit`` events (records) and ``Checkpoint`` events (state to persist
*after* the records before it are written), so the stream decides how state is written.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone

from gmail_core import cpcal
from gmail_core.batch import BatchPart
from gmail_core.client import MailboxClient
from gmail_core.errors import ApiError, HistoryExpired

from .progress import Progress

LIST_PAGE_SIZE = 500
HISTORY_PAGE_SIZE = 500
# threads.get costs 10 units, messages.get 5: a thread is cheaper from 3 listed messages on.
THREAD_FETCH_MIN_MESSAGES = 3


@dataclass
class Checkpoint:
    state: dict  # the mailbox partition's bookmark keys, replaced wholesale


@dataclass
class MessageQuery:
    """What to read: the tap's message settings, normalised."""

    fmt: str = "full"
    q: str | None = None
    include_spam_trash: bool = False
    start_date: datetime | None = None

    def list_params(self) -> dict:
        params: dict = {"maxResults": LIST_PAGE_SIZE}
        terms = [self.q] if self.q else []
        if self.start_date is not None:
            terms.append(f"after:{int(self.start_date.timestamp())}")
        if terms:
            params["q"] = " ".join(terms)
        if self.include_spam_trash:
            params["includeSpamTrash"] = "true"
        return params


class MailboxSync:
    """Reads one mailbox; shared by the messages and threads streams."""

    def __init__(self, client: MailboxClient, query: MessageQuery, logger: logging.Logger):
        self.client = client
        self.query = query
        self.logger = logger
        self._label_names: dict[str, str] | None = None

    # ---- labels ----------------------------------------------------------------------

    def label_names(self) -> dict[str, str]:
        if self._label_names is None:
            labels = self.client.call("labels.list", "GET", "labels") or {}
            self._label_names = {lab["id"]: lab["name"] for lab in labels.get("labels", [])}
        return self._label_names

    def labels(self) -> Iterator[dict]:
        listed = self.client.call("labels.list", "GET", "labels") or {}
        parts = [
            BatchPart("labels.get", "GET", f"labels/{label['id']}", key=label)
            for label in listed.get("labels", [])
        ]
        for result in self.client.batch(parts):
            label = result.body if result.ok else result.part.key
            yield cpcal.normalize_label(label, self.client.mailbox)

    # ---- messages --------------------------------------------------------------------

    def messages(self, state: dict) -> Iterator[dict | Checkpoint]:
        bookmark = state.get("history_id")
        if bookmark is not None and "full_sync" not in state:
            try:
                yield from self._incremental_messages(int(bookmark))
                return
            except HistoryExpired:
                self.logger.warning(
                    "mailbox %s: historyId %s is older than Gmail keeps (404); "
                    "running one full sync instead",
                    self.client.mailbox,
                    bookmark,
                )
                state = {}
        yield from self._full_messages(state.get("full_sync"))

    def _full_messages(self, resume: dict | None) -> Iterator[dict | Checkpoint]:
        mailbox = self.client.mailbox
        profile = self.client.call("getProfile", "GET", "profile")
        if resume:
            h0, token, done = int(resume["h0"]), resume.get("page_token"), resume.get("done", 0)
            self.logger.info("mailbox %s: resuming full sync after %d messages", mailbox, done)
        else:
            h0, token, done = int(profile["historyId"]), None, 0
        progress = Progress(self.logger, mailbox, profile["messagesTotal"], done)
        params = self.query.list_params()
        while True:
            page = (
                self.client.call(
                    "messages.list",
                    "GET",
                    "messages",
                    params={**params, **({"pageToken": token} if token else {})},
                )
                or {}
            )
            refs = page.get("messages", [])
            # State says "resume at this page" while its records are being written.
            yield Checkpoint({"full_sync": {"h0": h0, "page_token": token, "done": done}})
            yield from self._fetch_messages(refs)
            done += len(refs)
            progress.update(done)
            token = page.get("nextPageToken")
            if not token:
                break
        progress.finish(done)
        yield Checkpoint({"history_id": h0})

    def _incremental_messages(self, start: int) -> Iterator[dict | Checkpoint]:
        touched, deleted, latest = self._read_history(start)
        mailbox = self.client.mailbox
        now = datetime.now(timezone.utc).isoformat()
        for message_id, thread_id in deleted.items():
            yield cpcal.tombstone(message_id, thread_id, mailbox, now)
        refs = [{"id": mid, "threadId": tid} for mid, tid in touched.items()]
        yield from self._fetch_messages(refs, allow_threads=False, missing_is_deleted=True)
        self.logger.info(
            "mailbox %s: incremental from historyId %d: %d changed, %d deleted",
            mailbox,
            start,
            len(touched),
            len(deleted),
        )
        yield Checkpoint({"history_id": latest})

    def _read_history(self, start: int) -> tuple[dict, dict, int]:
        touched: dict[str, str] = {}
        deleted: dict[str, str] = {}
        token, latest = None, start
        while True:
            params = {"startHistoryId": str(start), "maxResults": HISTORY_PAGE_SIZE}
            if token:
                params["pageToken"] = token
            page = self.client.call("history.list", "GET", "history", params=params) or {}
            latest = int(page.get("historyId", latest))
            for record in page.get("history", []):
                for entry in record.get("messagesDeleted", []):
                    msg = entry["message"]
                    deleted[msg["id"]] = msg.get("threadId")
                    touched.pop(msg["id"], None)
                for key in ("messagesAdded", "labelsAdded", "labelsRemoved"):
                    for entry in record.get(key, []):
                        msg = entry["message"]
                        if msg["id"] not in deleted:
                            touched[msg["id"]] = msg.get("threadId")
            token = page.get("nextPageToken")
            if not token:
                return touched, deleted, latest

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
        chunks = self.client.batcher.chunks(parts)
        workers = max(1, min(self.client.settings.max_concurrency, len(chunks)))
        with ThreadPoolExecutor(workers, thread_name_prefix=f"gmail-{mailbox}") as pool:
            for results in pool.map(self.client.batcher.execute, chunks):
                for result in results:
                    yield from self._records(result, wanted, labels, mailbox, missing_is_deleted)

    def _records(self, result, wanted, labels, mailbox, missing_is_deleted) -> Iterator[dict]:
        if not result.ok:
            if result.status == 404 and missing_is_deleted and result.part.key:
                yield cpcal.tombstone(
                    result.part.key, None, mailbox, datetime.now(timezone.utc).isoformat()
                )
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

    # ---- threads ---------------------------------------------------------------------

    def threads(self, state: dict) -> Iterator[dict | Checkpoint]:
        bookmark = state.get("history_id")
        if bookmark is not None:
            try:
                touched, deleted, latest = self._read_history(int(bookmark))
                thread_ids = set(touched.values()) | {t for t in deleted.values() if t}
                yield from self._fetch_threads(sorted(thread_ids))
                yield Checkpoint({"history_id": latest})
                return
            except HistoryExpired:
                self.logger.warning(
                    "mailbox %s: thread bookmark expired (404); full thread sync",
                    self.client.mailbox,
                )
        profile = self.client.call("getProfile", "GET", "profile")
        h0 = int(profile["historyId"])
        token = None
        params = {"maxResults": LIST_PAGE_SIZE}
        if self.query.include_spam_trash:
            params["includeSpamTrash"] = "true"
        while True:
            page = (
                self.client.call(
                    "threads.list",
                    "GET",
                    "threads",
                    params={**params, **({"pageToken": token} if token else {})},
                )
                or {}
            )
            yield from self._fetch_threads([t["id"] for t in page.get("threads", [])])
            token = page.get("nextPageToken")
            if not token:
                break
        yield Checkpoint({"history_id": h0})

    def _fetch_threads(self, thread_ids: list[str]) -> Iterator[dict]:
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
        for result in self.client.batch(parts):
            if result.ok:
                yield cpcal.normalize_thread(result.body, mailbox, labels)
            elif result.status != 404:
                raise result.error
