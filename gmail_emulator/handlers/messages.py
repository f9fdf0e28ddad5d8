"""users.messages.* and users.messages.attachments.get."""

from __future__ import annotations

import time

from .. import errors, mime, search
from ..models import Mailbox
from . import outgoing
from .render import (
    check_label_ids,
    decode_key,
    encode_key,
    message_bytes,
    message_json,
    minimal_ref,
)

MAX_BATCH_IDS = 1000


def message_filter(call, mailbox: Mailbox):
    """Predicate for list calls: labelIds (all must match), spam/trash exclusion and ``q``."""
    query = call.query
    label_ids = set(query.get("labelIds") or [])
    include_spam_trash = bool(query.get("includeSpamTrash"))
    compiled = None
    if query.get("q"):
        compiled = search.compile_query(
            query["q"],
            resolve_label=mailbox.labels.resolve,
            now_ms=int(time.time() * 1000),
            user_email=mailbox.email,
        )
        include_spam_trash = include_spam_trash or compiled.includes_spam_trash
    # An explicit SPAM/TRASH label filter also reaches into spam and trash.
    include_spam_trash = include_spam_trash or bool(label_ids & {"SPAM", "TRASH"})
    hidden = frozenset() if include_spam_trash else frozenset({"SPAM", "TRASH"})

    def matches(message) -> bool:
        labels = message.label_ids
        if hidden and not hidden.isdisjoint(labels):
            return False
        if label_ids and not label_ids <= labels:
            return False
        return compiled is None or compiled.matches(message)

    return matches, compiled is None


def messages_list(call):
    mailbox = call.mailbox
    matches, cheap = message_filter(call, mailbox)
    limit = call.query["maxResults"] or 100
    page: list[dict] = []
    last_key = None
    more = False
    with mailbox.lock:
        candidates = mailbox.ordered(after=decode_key(call.query.get("pageToken")))
    for message in candidates:
        if not matches(message):
            continue
        if len(page) == limit:
            more = True
            break
        page.append({"id": message.id, "threadId": message.thread_id})
        last_key = message.sort_key
    body: dict = {}
    if page:
        body["messages"] = page
    if more:
        body["nextPageToken"] = encode_key(last_key)
    if cheap:
        # Label-only filters are cheap to count exactly; Gmail's figure is an estimate anyway.
        body["resultSizeEstimate"] = sum(1 for m in list(mailbox.messages.values()) if matches(m))
    else:
        body["resultSizeEstimate"] = len(page) + (1 if more else 0)
    return 200, body


def messages_get(call):
    message = call.mailbox.get(call.path["id"])
    return 200, message_json(
        call.mailbox, message, call.query["format"], call.query.get("metadataHeaders")
    )


def messages_send(call):
    raw = message_bytes(call)
    message = outgoing.send(call.emulator, call.mailbox, raw, call.body.get("threadId"))
    return 200, minimal_ref(message)


def messages_insert(call):
    return 200, minimal_ref(_store(call, default_date_header=False))


def messages_import(call):
    return 200, minimal_ref(_store(call, default_date_header=True))


def _store(call, default_date_header: bool):
    raw = message_bytes(call)
    if len(raw) > outgoing.MAX_MESSAGE_BYTES:
        raise outgoing.too_large()
    labels = check_label_ids(call.mailbox, call.body.get("labelIds") or [])
    outgoing.check_thread_id(call.mailbox, call.body.get("threadId"))
    source = call.query.get("internalDateSource")
    use_date = (source == "dateHeader") if source else default_date_header
    return call.mailbox.add_message(
        raw,
        set(labels),
        use_date_header=use_date,
        thread_id=call.body.get("threadId") or None,
    )


def messages_modify(call):
    mailbox = call.mailbox
    add, remove = _label_changes(call)
    with mailbox.lock:
        message = mailbox.get(call.path["id"])
        mailbox.modify(message, add, remove)
        return 200, minimal_ref(message)


def messages_batch_modify(call):
    mailbox = call.mailbox
    ids = _ids(call)
    add, remove = _label_changes(call)
    with mailbox.lock:
        for msg_id in ids:
            message = mailbox.messages.get(msg_id)
            if message is not None:
                mailbox.modify(message, add, remove)
    return 204, None


def messages_trash(call):
    return _set_trash(call, trashed=True)


def messages_untrash(call):
    return _set_trash(call, trashed=False)


def _set_trash(call, trashed: bool):
    mailbox = call.mailbox
    with mailbox.lock:
        message = mailbox.get(call.path["id"])
        if trashed:
            mailbox.modify(message, ["TRASH"], [])
        else:
            mailbox.modify(message, [], ["TRASH"])
        return 200, minimal_ref(message)


def messages_delete(call):
    mailbox = call.mailbox
    with mailbox.lock:
        mailbox.delete_message(mailbox.get(call.path["id"]))
    return 204, None


def messages_batch_delete(call):
    mailbox = call.mailbox
    ids = _ids(call)
    with mailbox.lock:
        for msg_id in ids:
            message = mailbox.messages.get(msg_id)
            if message is not None:
                mailbox.delete_message(message)
    return 204, None


def attachments_get(call):
    message = call.mailbox.get(call.path["messageId"])
    body = mime.get_attachment(message.parsed, message.id, call.path["id"])
    if body is None:
        raise errors.bad_request("Invalid attachment token")
    return 200, body


def _ids(call) -> list[str]:
    ids = call.body.get("ids")
    if not isinstance(ids, list) or not ids or not all(isinstance(x, str) for x in ids):
        raise errors.bad_request("ids must be a non-empty list of message ids")
    if len(ids) > MAX_BATCH_IDS:
        raise errors.bad_request(f"Too many ids: at most {MAX_BATCH_IDS} are allowed")
    return ids


def _label_changes(call) -> tuple[list[str], list[str]]:
    mailbox = call.mailbox
    add = check_label_ids(mailbox, call.body.get("addLabelIds") or [])
    remove = check_label_ids(mailbox, call.body.get("removeLabelIds") or [])
    if set(add) & set(remove):
        raise errors.bad_request("Cannot both add and remove the same label")
    return add, remove
