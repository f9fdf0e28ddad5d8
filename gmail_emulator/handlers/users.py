"""users.getProfile, users.watch, users.stop and users.history.list."""

from __future__ import annotations

import re
import time

from .. import errors

_TOPIC = re.compile(r"^projects/[^/]+/topics/[^/]+$")
WATCH_DAYS = 7


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
    behavior = call.body.get("labelFilterBehavior") or call.body.get("labelFilterAction")
    if behavior and behavior.lower() not in ("include", "exclude"):
        raise errors.bad_request(f"Invalid value for labelFilterBehavior: {behavior}")
    expiration = int(time.time() * 1000) + WATCH_DAYS * 86400 * 1000
    return 200, {"historyId": str(call.mailbox.history.current), "expiration": str(expiration)}


def stop(call):
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
