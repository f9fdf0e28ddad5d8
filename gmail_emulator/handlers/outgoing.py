"""Sending: what Gmail does to an outgoing message, and local delivery to other users.

Gmail adds the headers a client left out (Message-ID, Date, From), files the message under
SENT, threads it, and delivers it. Here delivery is real for recipients that are emulator
users, so a test can send from alice and read the message in bob's INBOX.
"""

from __future__ import annotations

import secrets
import time
from datetime import datetime, timezone
from email.utils import format_datetime, getaddresses, parseaddr

from .. import errors, mime

MAX_MESSAGE_BYTES = 35 * 1024 * 1024


def too_large() -> errors.GmailError:
    return errors.GmailError(
        400, "Message too large. The limit is 35 MB.", "invalidArgument", "INVALID_ARGUMENT"
    )


def send(emulator, mailbox, raw: bytes, thread_id: str | None):
    if len(raw) > MAX_MESSAGE_BYTES:
        raise too_large()
    headers = mime.parse_headers_only(raw)
    recipients = _recipients(headers)
    if not recipients:
        raise errors.bad_request("Recipient address required", reason="invalidArgument")
    for _, address in recipients:
        if "@" not in address or any(c in address for c in " \r\n<>"):
            raise errors.bad_request(f"Invalid To header: {address}")
    raw = _complete_headers(raw, headers, mailbox.email)
    now = int(time.time() * 1000)
    labels = {"SENT"}
    if any(addr.lower() == mailbox.email.lower() for _, addr in recipients):
        labels |= {"INBOX", "UNREAD"}
    with mailbox.lock:
        sent = mailbox.add_message(
            raw, labels, received_ms=now, use_date_header=False, thread_id=thread_id
        )
    emulator.stats.sent(mailbox.email)
    delivered = {mailbox.email.lower()}
    for _, address in recipients:
        target = emulator.mailbox_for(address)
        if target is None or address.lower() in delivered:
            continue
        delivered.add(address.lower())
        with target.lock:
            target.add_message(
                _without_bcc(raw),
                {"INBOX", "UNREAD", "CATEGORY_PERSONAL"},
                received_ms=now,
                use_date_header=False,
            )
    return sent


def _recipients(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    values = [v for name, v in headers if name.lower() in ("to", "cc", "bcc")]
    return [(n, a) for n, a in getaddresses(values) if a]


def _complete_headers(raw: bytes, headers: list[tuple[str, str]], user: str) -> bytes:
    present = {name.lower() for name, _ in headers}
    extra = []
    if "from" not in present or not parseaddr(_first(headers, "from"))[1]:
        extra.append(f"From: {user}")
    if "date" not in present:
        extra.append("Date: " + format_datetime(datetime.now(timezone.utc)))
    if "message-id" not in present:
        extra.append(f"Message-ID: <emu.{secrets.token_hex(12)}@mail.gmail.com>")
    if "mime-version" not in present:
        extra.append("MIME-Version: 1.0")
    if not extra:
        return raw
    newline = b"\r\n" if b"\r\n" in raw[:2000] else b"\n"
    return newline.join(line.encode() for line in extra) + newline + raw


def _first(headers, name: str) -> str:
    for key, value in headers:
        if key.lower() == name:
            return value
    return ""


def _without_bcc(raw: bytes) -> bytes:
    """Recipients never see the Bcc header; only the sender's SENT copy keeps it."""
    head, sep, body = raw.partition(b"\r\n\r\n")
    newline = b"\r\n"
    if not sep:
        head, sep, body = raw.partition(b"\n\n")
        newline = b"\n"
    kept, skipping = [], False
    for line in head.split(newline):
        if line[:1] in (b" ", b"\t"):
            if not skipping:
                kept.append(line)
            continue
        skipping = line.lower().startswith(b"bcc:")
        if not skipping:
            kept.append(line)
    return newline.join(kept) + sep + body
