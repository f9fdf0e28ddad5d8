"""users.drafts.*: a draft is a message carrying the DRAFT label, plus a stable draft id."""

from __future__ import annotations

import time

from .. import errors, search
from . import outgoing
from .render import (
    decode_key,
    decode_raw,
    encode_key,
    message_bytes,
    message_json,
    minimal_ref,
)


def _draft_message(call) -> tuple[bytes, str | None]:
    message = call.body.get("message")
    if call.media is not None:
        raw, thread_id = message_bytes(call), (message or {}).get("threadId")
    elif not isinstance(message, dict):
        raise errors.bad_request("Missing draft message")
    else:
        raw, thread_id = decode_raw(message.get("raw")), message.get("threadId")
    outgoing.check_thread_id(call.mailbox, thread_id)
    return raw, thread_id or None


def _draft_json(draft_id, message) -> dict:
    return {"id": draft_id, "message": minimal_ref(message)}


def _get(mailbox, draft_id: str):
    msg_id = mailbox.drafts.get(draft_id)
    if msg_id is None or msg_id not in mailbox.messages:
        raise errors.not_found()
    return mailbox.messages[msg_id]


def drafts_create(call):
    raw, thread_id = _draft_message(call)
    mailbox = call.mailbox
    with mailbox.lock:
        message = mailbox.add_message(raw, {"DRAFT"}, use_date_header=False, thread_id=thread_id)
        draft_id = mailbox.register_draft(message)
    return 200, _draft_json(draft_id, message)


def drafts_update(call):
    raw, thread_id = _draft_message(call)
    mailbox = call.mailbox
    with mailbox.lock:
        old = _get(mailbox, call.path["id"])
        message = mailbox.add_message(raw, {"DRAFT"}, use_date_header=False, thread_id=thread_id)
        mailbox.delete_message(old)
        mailbox.register_draft(message, call.path["id"])
    return 200, _draft_json(call.path["id"], message)


def drafts_get(call):
    mailbox = call.mailbox
    message = _get(mailbox, call.path["id"])
    return 200, {
        "id": call.path["id"],
        "message": message_json(mailbox, message, call.query["format"]),
    }


def drafts_delete(call):
    mailbox = call.mailbox
    with mailbox.lock:
        message = _get(mailbox, call.path["id"])
        mailbox.delete_message(message)
        del mailbox.drafts[call.path["id"]]
    return 204, None


def drafts_send(call):
    draft_id = call.body.get("id")
    mailbox = call.mailbox
    if not draft_id:
        raise errors.bad_request("Missing draft id")
    with mailbox.lock:
        draft = _get(mailbox, draft_id)
        replaced = bool(call.body.get("message")) or call.media is not None
        if replaced:
            raw, thread_id = _draft_message(call)
        else:
            raw, thread_id = draft.raw, None
        # Checked before the draft is consumed: a refused send leaves the draft in place.
        checked = outgoing.check(call.emulator, mailbox, raw, thread_id)
        own_thread = mailbox.threads.get(draft.thread_id)
        if not replaced and own_thread is not None and len(own_thread.message_ids) > 1:
            checked.thread_id = draft.thread_id  # the draft's thread outlives the draft
        mailbox.delete_message(draft)
        del mailbox.drafts[draft_id]
    sent = outgoing.deliver(call.emulator, mailbox, checked)
    return 200, minimal_ref(sent)


def drafts_list(call):
    mailbox = call.mailbox
    limit = call.query["maxResults"] or 100
    compiled = None
    if call.query.get("q"):
        compiled = search.compile_query(
            call.query["q"],
            resolve_label=mailbox.labels.resolve,
            now_ms=int(time.time() * 1000),
            user_email=mailbox.email,
        )
    with mailbox.lock:
        by_message = {mid: did for did, mid in mailbox.drafts.items()}
        candidates = mailbox.ordered(after=decode_key(call.query.get("pageToken")))
    page, more, last_key = [], False, None
    for message in candidates:
        draft_id = by_message.get(message.id)
        if draft_id is None or (compiled is not None and not compiled.matches(message)):
            continue
        if not call.query.get("includeSpamTrash") and "TRASH" in message.label_ids:
            continue
        if len(page) == limit:
            more = True
            break
        page.append({"id": draft_id, "message": {"id": message.id, "threadId": message.thread_id}})
        last_key = message.sort_key
    body: dict = {}
    if page:
        body["drafts"] = page
    if more:
        body["nextPageToken"] = encode_key(last_key)
    body["resultSizeEstimate"] = len(page) + (1 if more else 0)
    return 200, body
