"""``history.list`` read one page at a time, as the changes it names.

A page is processed and checkpointed before the next is read, so memory stays flat in the
number of changes and a killed incremental run resumes after its last finished page:
Gmail returns the records *after* ``startHistoryId``, so the id of the last record of a
finished page is a valid bookmark.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field

from gmail_core.client import MailboxClient
from gmail_core.errors import HistoryExpired

HISTORY_PAGE_SIZE = 500


@dataclass
class HistoryPage:
    """The changes in one page: message id -> thread id (None when Gmail did not say)."""

    touched: dict[str, str | None] = field(default_factory=dict)
    deleted: dict[str, str | None] = field(default_factory=dict)
    new_threads: set[str] = field(default_factory=set)  # first message added in this window
    resume_after: int = 0  # the bookmark once this page is written
    last: bool = False

    def thread_ids(self) -> list[str]:
        ids = {tid for tid in self.touched.values() if tid}
        ids |= {tid for tid in self.deleted.values() if tid}
        return sorted(ids)


def history_pages(client: MailboxClient, start: int) -> Iterator[HistoryPage]:
    """Pages of changes after ``start``; raises ``HistoryExpired`` when Gmail answers 404."""
    token = None
    while True:
        params = {"startHistoryId": str(start), "maxResults": HISTORY_PAGE_SIZE}
        if token:
            params["pageToken"] = token
        answer = client.call("history.list", "GET", "history", params=params) or {}
        current = _int(answer.get("historyId"))
        if current is not None and current < start:
            # Gmail's historyIds only grow, so a bookmark past the mailbox's current one was
            # not taken from this mailbox (another mailbox's state, a restored or recreated
            # account). Gmail answers it with no changes, forever: continuing would never
            # see a change again. Treated like an expired bookmark: one fresh full sync.
            logging.getLogger("tap-gmail").warning(
                "mailbox %s: saved historyId %d is ahead of the mailbox's current historyId "
                "%d, so it was not taken from this mailbox (state of another mailbox, or a "
                "restored or recreated account); it cannot be continued",
                client.mailbox,
                start,
                current,
            )
            raise HistoryExpired(
                404,
                f"bookmark {start} is ahead of the mailbox's current historyId {current}",
                "bookmarkAhead",
                "history.list",
                client.mailbox,
            )
        page = HistoryPage(resume_after=start)
        for record in answer.get("history", []):
            for entry in record.get("messagesDeleted", []):
                message = entry["message"]
                page.deleted[message["id"]] = message.get("threadId")
                page.touched.pop(message["id"], None)
            for key in ("messagesAdded", "labelsAdded", "labelsRemoved"):
                for entry in record.get(key, []):
                    message = entry["message"]
                    if message["id"] not in page.deleted:
                        page.touched[message["id"]] = message.get("threadId")
                    if key == "messagesAdded" and message["id"] == message.get("threadId"):
                        page.new_threads.add(message["id"])
            page.resume_after = max(page.resume_after, int(record["id"]))
        token = answer.get("nextPageToken")
        if not token:
            # The mailbox's current historyId: nothing between it and our last record.
            page.resume_after = max(page.resume_after, int(answer.get("historyId", start)))
            page.last = True
        yield page
        if page.last:
            return


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
