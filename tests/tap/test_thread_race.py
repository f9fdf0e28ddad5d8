"""Without a thread index, an older thread is fetched whole on the history page that touches
it. A message of it deleted *during* the run comes on a later page: the copy fetched
earlier must not be emitted, or the thread keeps a message Gmail no longer has."""

from __future__ import annotations

import logging

from gmail_core import cpcal
from tap_gmail.derived_threads import DerivedThreads
from tap_gmail.history import HistoryPage
from tap_gmail.query import MessageQuery
from tap_gmail.sync import MailboxSync
from tests.conftest import Api, issue_token
from tests.core.clients import fast_client


def test_message_deleted_between_history_pages_leaves_no_stale_thread(emulator):
    alice = Api(emulator.url, issue_token(emulator, "alice@example.com"))
    listed = alice.ok("GET", "/threads", params={"maxResults": 100})["threads"]
    thread = next(
        t
        for t in (alice.ok("GET", f"/threads/{x['id']}") for x in listed)
        if len(t["messages"]) >= 3 and not {"SPAM", "TRASH"} & set(t["messages"][0]["labelIds"])
    )
    kept, gone = thread["messages"][0]["id"], thread["messages"][-1]["id"]
    sync = MailboxSync(fast_client(emulator), MessageQuery(), logging.getLogger("race"), True)
    store = DerivedThreads(sync.query.keeps_record)
    sync.derived = store

    first = HistoryPage(touched={kept: thread["id"]}, resume_after=1)
    list(sync._page_with_threads(first, store))  # fetches the whole thread, gone included
    alice.ok("DELETE", f"/messages/{gone}")  # meanwhile, in Gmail
    second = HistoryPage(deleted={gone: thread["id"]}, resume_after=2)
    list(sync._page_with_threads(second, store))
    store.window = (0, 2)

    emitted = [r for r in sync._derived_incremental_threads(store) if isinstance(r, dict)]
    (record,) = [r for r in emitted if r["id"] == thread["id"]]
    now = alice.ok("GET", f"/threads/{thread['id']}", params={"format": "metadata"})
    expected = cpcal.normalize_thread(
        sync.query.thread_in_selection(now), "alice@example.com", sync.label_names()
    )
    assert gone not in record["message_ids"]
    assert record == expected
    store.close()
