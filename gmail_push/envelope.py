"""Decoding a Pub/Sub push envelope from Gmail and normalising it into the connector event.

Envelope: ``{"message": {"data": base64(json{"emailAddress", "historyId"}), "messageId",
"publishTime", "attributes"?}, "subscription"}``. Pub/Sub also sends snake_case copies
(``message_id``, ``publish_time``); either is accepted. ``historyId`` arrives as a number or a
string. Anything else raises ``BadEnvelope`` with a reason fit for a 400 and a log line.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import re
from dataclasses import dataclass

EVENT_TYPE = "mailbox.history_changed"
_TIME = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$")


class BadEnvelope(Exception):
    def __init__(self, reason: str, status: int = 400):
        super().__init__(reason)
        self.reason = reason
        self.status = status


@dataclass(frozen=True)
class Notification:
    email: str
    history_id: int
    message_id: str
    subscription: str
    publish_time: str  # ISO-8601 UTC
    raw: dict


def parse(body: bytes, received: dt.datetime) -> Notification:
    try:
        envelope = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise BadEnvelope("body is not JSON") from None
    if not isinstance(envelope, dict):
        raise BadEnvelope("envelope is not a JSON object")
    message = envelope.get("message")
    if not isinstance(message, dict):
        raise BadEnvelope("envelope has no `message` object")
    subscription = envelope.get("subscription")
    if not isinstance(subscription, str) or not subscription:
        raise BadEnvelope("envelope has no `subscription`")
    message_id = message.get("messageId") or message.get("message_id")
    if not isinstance(message_id, str) or not message_id:
        raise BadEnvelope("message has no `messageId`")
    payload = _payload(message.get("data"))
    email = payload.get("emailAddress")
    if not isinstance(email, str) or "@" not in email:
        raise BadEnvelope("message data has no `emailAddress`")
    published = message.get("publishTime") or message.get("publish_time")
    return Notification(
        email=email.strip(),
        history_id=_history_id(payload.get("historyId")),
        message_id=message_id,
        subscription=subscription,
        publish_time=_iso(published) or _iso_dt(received),
        raw=envelope,
    )


def _payload(data) -> dict:
    if not isinstance(data, str) or not data.strip():
        raise BadEnvelope("message has no `data`")
    text = data.strip()
    altchars = b"-_" if ("-" in text or "_" in text) else None
    try:
        decoded = base64.b64decode(text + "=" * (-len(text) % 4), altchars, validate=True)
    except (binascii.Error, ValueError):
        raise BadEnvelope("message data is not base64") from None
    try:
        payload = json.loads(decoded)
    except (ValueError, UnicodeDecodeError):
        raise BadEnvelope("message data is not JSON") from None
    if not isinstance(payload, dict):
        raise BadEnvelope("message data is not a JSON object")
    return payload


def _history_id(value) -> int:
    if isinstance(value, bool):
        value = None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    # ASCII digits only: str.isdigit() also accepts "²" (which int() refuses, once a 503
    # that Pub/Sub redelivered forever) and other scripts' digits Gmail never sends.
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        value = int(value.strip())
    if not isinstance(value, int) or value <= 0:
        raise BadEnvelope("message data has no valid `historyId` (a positive integer)")
    return value


def _iso(value) -> str | None:
    """Pub/Sub's RFC 3339 time (up to nanoseconds) as ISO-8601 UTC; None if unreadable."""
    found = _TIME.match(value) if isinstance(value, str) else None
    if not found:
        return None
    fraction = (found.group(2) or "0")[:6].ljust(6, "0")
    offset = "+00:00" if found.group(3) == "Z" else found.group(3)
    try:
        moment = dt.datetime.fromisoformat(f"{found.group(1)}.{fraction}{offset}")
    except ValueError:
        return None
    return _iso_dt(moment)


def _iso_dt(moment: dt.datetime) -> str:
    utc = moment.astimezone(dt.timezone.utc)
    return utc.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def normalise(note: Notification, received: dt.datetime) -> dict:
    """The connector event, in the shape the original connector emitted."""
    return {
        "connector_type": "gmail",
        "event_type": EVENT_TYPE,
        "resource_type": "mailbox",
        "resource_id": note.email,
        "timestamp": note.publish_time,
        "received_at": _iso_dt(received),
        "data": {
            "historyId": note.history_id,
            "emailAddress": note.email,
            "messageId": note.message_id,
            "subscription": note.subscription,
        },
        "raw_payload": note.raw,
    }
