"""CP-CAL normalisation: Gmail API Message/Thread/Label JSON -> warehouse-friendly records.

Pure functions, no I/O. ``full``/``metadata``/``minimal`` messages are read straight from the
JSON tree Gmail already parsed (building ``email.message`` objects would cost more than the
rest of the record); only ``raw`` goes through ``email.parser``. Both paths feed the same part
walk (``mime_parts``) and header, address and charset helpers (``mime_text``), so a message
yields the same record whichever format fetched it.
"""

from __future__ import annotations

import email.message
import re
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime

from .mime_parts import json_bodies, parse_raw, raw_bodies
from .mime_text import _FOLD, _address_list, _b64url, decode_text, unescape
from .mime_text import decode_header as decode_header

_UTC = timezone.utc
_NAIVE_EPOCH = datetime(1970, 1, 1)
_Z = "+00:00"  # what isoformat() appends for UTC
_WANTED = frozenset(
    ("subject", "from", "to", "cc", "bcc", "reply-to", "message-id", "in-reply-to")
    + ("references", "date")
)
_MSG_ID = re.compile(r"<[^<>]*>")
# The Date header as nearly every mailer writes it (RFC 5322 3.3, no comment, 4-digit year).
_DATE = re.compile(
    r"(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), )?([0-9]{1,2}) "
    r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) ([1-9][0-9]{3}) "
    r"([0-9]{2}):([0-9]{2}):([0-9]{2}) ([+-])([0-9]{2})([0-9]{2})"
)
_MONTHS = {
    "Jan": 1, "Feb": 2, "Mar": 3, "Apr": 4, "May": 5, "Jun": 6,
    "Jul": 7, "Aug": 8, "Sep": 9, "Oct": 10, "Nov": 11, "Dec": 12,
}  # fmt: skip
MESSAGE_FIELDS = (
    "id", "mailbox", "subject", "body", "from", "timestamp", "metadata", "thread_id",
    "history_id", "internal_date", "from_address", "to", "cc", "bcc", "reply_to",
    "message_id_header", "in_reply_to", "references", "snippet", "body_text", "body_html",
    "attachments", "label_ids", "label_names", "size_estimate", "date_header", "_sdc_deleted_at",
)  # fmt: skip
THREAD_FIELDS = (
    "id", "mailbox", "history_id", "snippet", "message_ids", "message_count", "label_ids",
    "label_names", "first_message_at", "last_message_at", "subject", "_sdc_deleted_at",
)  # fmt: skip
LABEL_FIELDS = (
    "id", "mailbox", "name", "type", "message_list_visibility", "label_list_visibility",
    "color_text", "color_background", "messages_total", "messages_unread", "threads_total",
    "threads_unread", "parent_name", "_sdc_deleted_at",
)  # fmt: skip


# --- scalars --------------------------------------------------------------------------------


def _int(value) -> int | None:
    """Gmail sends int64 fields (historyId, internalDate) as JSON strings."""
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _iso_ms(epoch_ms) -> str | None:
    """Epoch milliseconds as ISO-8601 UTC; timedelta keeps the milliseconds exact.

    Naive arithmetic plus a literal "+00:00": the same text as an aware UTC datetime's
    ``isoformat``, at half the cost (two of these per message and thread record).
    """
    ms = _int(epoch_ms)
    if ms is None:
        return None
    try:
        return (_NAIVE_EPOCH + timedelta(0, 0, 0, ms)).isoformat(timespec="microseconds") + _Z
    except OverflowError:
        return None


def _usual_date_in_utc(found: re.Match) -> str:
    """A ``_DATE`` match in UTC: what ``parsedate_to_datetime`` and ``astimezone`` give.

    Naive arithmetic, with the same refusals: ValueError for a day, hour or second out of
    range or an offset of 24 h or more (``timezone`` refuses it), OverflowError past year
    1 or 9999. -0000 (zone unknown) reads as UTC, as RFC 5322 says.
    """
    day, month, year, hour, minute, second, sign, tz_h, tz_m = found.groups()
    offset = int(tz_h) * 3600 + int(tz_m) * 60
    if offset >= 86400:
        raise ValueError("offset must be strictly between -24 h and 24 h")
    local = datetime(int(year), _MONTHS[month], int(day), int(hour), int(minute), int(second))
    utc = local - timedelta(0, offset) if sign == "+" else local + timedelta(0, offset)
    return utc.isoformat(timespec="microseconds") + _Z


def _iso_date_header(value: str | None) -> str | None:
    """The Date header in UTC; senders write garbage here, so unparseable means null.

    The usual RFC 5322 form is read by one regex (4x faster than ``parsedate_to_datetime``,
    which reads anything else).
    """
    if not value:
        return None
    try:
        found = _DATE.fullmatch(value)
        if found is not None:
            return _usual_date_in_utc(found)
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed.tzinfo is None:  # "-0000": zone unknown, RFC 5322 says treat as UTC
        parsed = parsed.replace(tzinfo=_UTC)
    try:
        return parsed.astimezone(_UTC).isoformat(timespec="microseconds")
    except (OverflowError, ValueError):
        return None


def _raw_headers(msg: email.message.Message) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in msg.raw_items():
        key = name.lower()
        if key in _WANTED and key not in headers:
            if not value.isascii():  # the email package keeps 8-bit bytes as surrogates
                raw = value.encode("ascii", "surrogateescape")
                value = decode_text(raw, None)
            headers[key] = _FOLD.sub("", value)
    return headers


# --- records --------------------------------------------------------------------------------


def _json_headers(payload: dict) -> dict[str, str]:
    headers: dict[str, str] = {}
    for header in payload.get("headers") or ():
        key = header.get("name", "").lower()
        if key in _WANTED and key not in headers:
            headers[key] = header.get("value") or ""
    return headers


def normalize_message(
    message: dict,
    mailbox: str,
    label_names: dict[str, str],
    *,
    deleted_at: str | None = None,
) -> dict:
    """One messages record from a users.messages.get response in any format."""
    payload = message.get("payload")
    headers: dict[str, str] | None = None
    bodies = None
    if message.get("raw") is not None:
        parsed = parse_raw(_b64url(message["raw"]))
        headers, bodies = _raw_headers(parsed), raw_bodies(parsed)
    elif payload is not None:
        headers = _json_headers(payload)
        body = payload.get("body") or {}
        if payload.get("parts") or body.get("data") or body.get("attachmentId") or body.get("size"):
            bodies = json_bodies(payload)  # format=metadata has no body at all
    known = headers is not None
    headers = headers or {}
    markup = bodies.html if bodies else None
    text = bodies.body_text() if bodies else None
    label_ids = list(message.get("labelIds") or ())
    thread_id = message.get("threadId")
    internal_date = _iso_ms(message.get("internalDate"))
    senders = _address_list(headers.get("from"), known)
    snippet = message.get("snippet")
    refs = headers.get("references") or ""
    return {
        "id": message["id"],
        "mailbox": mailbox,
        "subject": decode_header(headers.get("subject")),
        "body": text,
        "from": decode_header(headers.get("from")),
        "timestamp": internal_date,
        "metadata": {
            "threadId": thread_id,
            "labelIds": list(label_ids),
            "historyId": message.get("historyId"),
        },
        "thread_id": thread_id,
        "history_id": _int(message.get("historyId")),
        "internal_date": internal_date,
        "from_address": senders[0] if senders else None,
        "to": _address_list(headers.get("to"), known),
        "cc": _address_list(headers.get("cc"), known),
        "bcc": _address_list(headers.get("bcc"), known),
        "reply_to": _address_list(headers.get("reply-to"), known),
        "message_id_header": (headers.get("message-id") or "").strip() or None,
        "in_reply_to": (headers.get("in-reply-to") or "").strip() or None,
        "references": (_MSG_ID.findall(refs) or refs.split()) if known else None,
        "snippet": unescape(snippet) if snippet else snippet,
        "body_text": text,
        "body_html": markup,
        "attachments": bodies.attachments if bodies else None,
        "label_ids": label_ids,
        "label_names": [label_names.get(i, i) for i in label_ids],
        "size_estimate": _int(message.get("sizeEstimate")),
        "date_header": _iso_date_header(headers.get("date")),
        "_sdc_deleted_at": deleted_at,
    }


def tombstone(
    message_id: str,
    thread_id: str | None,
    mailbox: str,
    deleted_at: str,
    history_id: int | None = None,
) -> dict:
    """A messages record for a message history reports deleted: keys only, the rest null."""
    record = dict.fromkeys(MESSAGE_FIELDS)
    record.update(
        id=message_id,
        mailbox=mailbox,
        thread_id=thread_id,
        history_id=history_id,
        _sdc_deleted_at=deleted_at,
    )
    return record


def normalize_thread(thread: dict, mailbox: str, label_names: dict[str, str]) -> dict:
    """One threads record; subject only when the first message came with headers."""
    messages = thread.get("messages")
    msgs = messages or []
    label_ids = sorted({label for m in msgs for label in m.get("labelIds") or ()})
    dates = [ms for ms in (_int(m.get("internalDate")) for m in msgs) if ms is not None]
    snippet = thread.get("snippet")
    if snippet is None and msgs:
        snippet = msgs[-1].get("snippet")
    subject = None
    if msgs and msgs[0].get("payload"):
        subject = decode_header(_json_headers(msgs[0]["payload"]).get("subject"))
    return {
        "id": thread["id"],
        "mailbox": mailbox,
        "history_id": _int(thread.get("historyId")),
        "snippet": unescape(snippet) if snippet else snippet,
        "message_ids": [m["id"] for m in msgs] if messages is not None else None,
        "message_count": len(msgs) if messages is not None else None,
        "label_ids": label_ids,
        "label_names": [label_names.get(i, i) for i in label_ids],
        "first_message_at": _iso_ms(min(dates)) if dates else None,
        "last_message_at": _iso_ms(max(dates)) if dates else None,
        "subject": subject,
        "_sdc_deleted_at": None,
    }


def normalize_label(label: dict, mailbox: str) -> dict:
    """One labels record; ``parent_name`` follows Gmail's "A/B/C" nesting convention."""
    name = label.get("name")
    color = label.get("color") or {}
    parent = name.rpartition("/")[0] if name else ""
    return {
        "id": label["id"],
        "mailbox": mailbox,
        "name": name,
        "type": label.get("type"),
        "message_list_visibility": label.get("messageListVisibility"),
        "label_list_visibility": label.get("labelListVisibility"),
        "color_text": color.get("textColor"),
        "color_background": color.get("backgroundColor"),
        "messages_total": _int(label.get("messagesTotal")),
        "messages_unread": _int(label.get("messagesUnread")),
        "threads_total": _int(label.get("threadsTotal")),
        "threads_unread": _int(label.get("threadsUnread")),
        "parent_name": parent or None,
        "_sdc_deleted_at": None,
    }


def _deleted(fields: tuple[str, ...], record_id: str, mailbox: str, deleted_at: str) -> dict:
    record = dict.fromkeys(fields)
    record.update(id=record_id, mailbox=mailbox, _sdc_deleted_at=deleted_at)
    return record


def thread_tombstone(thread_id: str, mailbox: str, deleted_at: str) -> dict:
    """A threads record for a thread that no longer exists (every message deleted)."""
    return _deleted(THREAD_FIELDS, thread_id, mailbox, deleted_at)


def label_tombstone(label_id: str, mailbox: str, deleted_at: str) -> dict:
    """A labels record for a label deleted since the last run."""
    return _deleted(LABEL_FIELDS, label_id, mailbox, deleted_at)
