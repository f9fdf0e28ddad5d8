"""users.threads.*: a thread is the set of messages Gmail grouped by references and subject."""

from __future__ import annotations

from .. import errors
from .messages import _label_changes, message_filter
from .render import decode_key, encode_key, message_json


def threads_list(call):
    mailbox = call.mailbox
    matches, _ = message_filter(call, mailbox)
    limit = call.query["maxResults"] or 100
    after = decode_key(call.query.get("pageToken"))
    with mailbox.lock:
        # A thread sorts by its newest message; it is listed if any message matches.
        newest: dict[str, tuple[int, int]] = {}
        for message in mailbox.ordered():
            newest.setdefault(message.thread_id, message.sort_key)
        order = sorted((key, tid) for tid, key in newest.items())
        page: list[dict] = []
        more = False
        last_key = None
        for key, tid in order:
            if after is not None and key <= after:
                continue
            thread = mailbox.threads.get(tid)
            if thread is None:
                continue
            messages = mailbox.thread_messages(thread)
            if not any(matches(m) for m in messages):
                continue
            if len(page) == limit:
                more = True
                break
            page.append(
                {
                    "id": tid,
                    "snippet": messages[-1].parsed.snippet,
                    "historyId": str(max(m.history_id for m in messages)),
                }
            )
            last_key = key
    body: dict = {}
    if page:
        body["threads"] = page
    if more:
        body["nextPageToken"] = encode_key(last_key)
    body["resultSizeEstimate"] = len(page) + (1 if more else 0)
    return 200, body


def threads_get(call):
    mailbox = call.mailbox
    with mailbox.lock:
        thread = mailbox.get_thread(call.path["id"])
        messages = mailbox.thread_messages(thread)
        fmt = call.query["format"]
        headers = call.query.get("metadataHeaders")
        rendered = [message_json(mailbox, m, fmt, headers) for m in messages]
    out = {"id": thread.id, "historyId": str(max(m.history_id for m in messages))}
    if rendered:
        out["messages"] = rendered
    return 200, out


def threads_modify(call):
    add, remove = _label_changes(call)
    return _apply(call, lambda mailbox, message: mailbox.modify(message, add, remove))


def threads_trash(call):
    return _apply(call, lambda mailbox, message: mailbox.modify(message, ["TRASH"], []))


def threads_untrash(call):
    return _apply(call, lambda mailbox, message: mailbox.modify(message, [], ["TRASH"]))


def threads_delete(call):
    mailbox = call.mailbox
    with mailbox.lock:
        thread = mailbox.get_thread(call.path["id"])
        for message in mailbox.thread_messages(thread):
            mailbox.delete_message(message)
    return 204, None


def _apply(call, change):
    mailbox = call.mailbox
    with mailbox.lock:
        thread = mailbox.get_thread(call.path["id"])
        messages = mailbox.thread_messages(thread)
        if not messages:
            raise errors.not_found()
        for message in messages:
            change(mailbox, message)
        out = {"id": thread.id, "historyId": str(max(m.history_id for m in messages))}
        out["messages"] = [
            {"id": m.id, "threadId": m.thread_id, "labelIds": sorted(m.label_ids)} for m in messages
        ]
    return 200, out
