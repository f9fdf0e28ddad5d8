"""users.getProfile, users.watch, users.stop and users.history.list.

A watch is recorded in the emulator's push hub (``push.py``), which posts signed Pub/Sub
push envelopes to the configured endpoint after each change the watch's label filter admits.
"""

from __future__ import annotations

import re

from .. import errors

_TOPIC = re.compile(r"^projects/[^/]+/topics/[^/]+$")


def get_profile(call):
    mailbox = call.mailbox
    return 200, {
        "emailAddress": mailbox.email,
        "messagesTotal": len(mailbox.messages),
        "threadsTotal": len(mailbox.threads),
        "historyId": str(mailbox.history.current),
    }


def watch(call):
    topic = call.body.get("topicName")
    if not isinstance(topic, str) or not _TOPIC.match(topic):
        raise errors.bad_request("Invalid topicName does not match projects/*/topics/*")
    mailbox = call.mailbox
    with mailbox.lock:
        watch = call.emulator.push.watch(mailbox, call.body)
        history_id = mailbox.history.current
    return 200, {"historyId": str(history_id), "expiration": str(watch.expiration_ms)}


def stop(call):
    call.emulator.push.stop(call.mailbox.email)
    return 204, None


def history_list(call):
    start = call.query.get("startHistoryId")
    if not start:
        raise errors.bad_request("Missing required parameter: startHistoryId")
    try:
        start_id = int(start)
    except ValueError:
        raise errors.bad_request(
            f"Invalid value at 'start_history_id' (TYPE_UINT64), \"{start}\""
        ) from None
    mailbox = call.mailbox
    with mailbox.lock:
        return 200, mailbox.history.list(
            start_id,
            call.query.get("historyTypes") or [],
            call.query.get("labelId"),
            call.query.get("pageToken"),
            call.query["maxResults"] or 100,
        )
