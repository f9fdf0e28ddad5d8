"""Sending: what Gmail does to an outgoing message, and local delivery to other users.

Gmail adds the headers a client left out (Message-ID, Date, From), files the message under
SENT, threads it, and delivers it. Here delivery is real for recipients that are emulator
users, so a test can send from alice and read the message in bob's INBOX.

Everything that can refuse a send (size, recipients, refused domains, threadId) is checked
by ``check`` before anything is stored or a draft is consumed, as Gmail does.
"""

from __future__ import annotations

import re
import secrets
import time
from datetime import datetime, timezone
from email.utils import format_datetime, getaddresses, parseaddr

from .. import errors, mime

MAX_MESSAGE_BYTES = 35 * 1024 * 1024
_ADDRESS_HEADERS = {"to": "To", "cc": "Cc", "bcc": "Bcc"}
# An addr-spec as Gmail accepts it: dot-atom or quoted local part, a domain name (no literals).
_ADDR_SPEC = re.compile(
    r'(?:[^\s<>()\[\]\\,;:@"]+|"(?:[^"\\\r\n]|\\.)*")@[^\s<>()\[\]\\,;:@".]'
    r'[^\s<>()\[\]\\,;:@"]*'
)
_QUOTED_OR_COMMENT = re.compile(r'"(?:[^"\\]|\\.)*"|\((?:[^()\\]|\\.)*\)')


def too_large() -> errors.GmailError:
    return errors.GmailError(
        400, "Message too large. The limit is 35 MB.", "invalidArgument", "INVALID_ARGUMENT"
    )


def invalid_thread_id() -> errors.GmailError:
    return errors.bad_request("Invalid thread_id value")


class Outgoing:
    """A send that passed every check: the bytes, their headers and the recipients."""

    __slots__ = ("raw", "headers", "recipients", "thread_id")

    def __init__(self, raw: bytes, headers, recipients, thread_id: str | None):
        self.raw = raw
        self.headers = headers  # decoded (name, value) pairs
        self.recipients = recipients  # (display name, address), display names decoded
        self.thread_id = thread_id


def check(emulator, mailbox, raw: bytes, thread_id: str | None) -> Outgoing:
    """Refuse the send as Gmail would (400s), or return what ``deliver`` needs."""
    if len(raw) > MAX_MESSAGE_BYTES:
        raise too_large()
    raw_headers = mime.raw_headers_only(raw)
    recipients = _recipients(raw_headers)
    if not recipients:
        raise errors.bad_request("Recipient address required", reason="invalidArgument")
    _refuse_domains(emulator.config.refuse_recipient_domains, recipients)
    check_thread_id(mailbox, thread_id)
    headers = [(name, mime.decode_words(value)) for name, value in raw_headers]
    return Outgoing(raw, headers, [(n, a) for _, n, a in recipients], thread_id or None)


def check_thread_id(mailbox, thread_id) -> None:
    """A threadId the client names must be one of this mailbox's threads.

    Gmail answers 400 ``invalidArgument`` "Invalid thread_id value" for one it does not know
    (a thread of another mailbox, a deleted thread, a malformed id); an empty one is unset.
    """
    if thread_id in (None, ""):
        return
    if not isinstance(thread_id, str) or thread_id not in mailbox.threads:
        raise invalid_thread_id()


def send(emulator, mailbox, raw: bytes, thread_id: str | None):
    return deliver(emulator, mailbox, check(emulator, mailbox, raw, thread_id))


def deliver(emulator, mailbox, outgoing: Outgoing):
    recipients = outgoing.recipients
    raw = _complete_headers(outgoing.raw, outgoing.headers, mailbox.email)
    now = int(time.time() * 1000)
    labels = {"SENT"}
    if any(addr.lower() == mailbox.email.lower() for _, addr in recipients):
        labels |= {"INBOX", "UNREAD"}
    with mailbox.lock:
        sent = mailbox.add_message(
            raw, labels, received_ms=now, use_date_header=False, thread_id=outgoing.thread_id
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


def _recipients(raw_headers: list[tuple[str, str]]) -> list[tuple[str, str, str]]:
    """(header, display name, address) of every To/Cc/Bcc recipient.

    Parsed from the undecoded header value, as Gmail does: the address structure first, then
    RFC 2047 words inside display names (an encoded word may hide a comma, ``@`` or ``<``).
    A value that is not an address list is a 400 "Invalid To header" (or Cc, Bcc).
    """
    found = []
    for name, value in raw_headers:
        header = _ADDRESS_HEADERS.get(name.lower())
        if header is None:
            continue
        addresses = _address_list(value)
        if addresses is None:
            raise errors.bad_request(f"Invalid {header} header")
        found.extend((header, display, address) for display, address in addresses)
    return found


def _address_list(value: str) -> list[tuple[str, str]] | None:
    """(decoded display name, address) pairs of one header value; None if it is malformed."""
    pairs = getaddresses([value])
    # getaddresses is lenient (it glues or splits junk into "addresses"): an address list has
    # one entry per comma outside quoted strings and comments, or it was not one.
    if len(pairs) != 1 + _QUOTED_OR_COMMENT.sub("", value).count(","):
        return None
    out = []
    for display, address in pairs:
        if not address:
            if display:  # "Name <>"
                return None
            continue  # an empty list element or an empty group ("undisclosed-recipients:;")
        if not _ADDR_SPEC.fullmatch(address):
            return None
        out.append((mime.decode_words(display), address))
    if not out and value.strip() and ":" not in value:
        return None  # text, but no address and no group: "a@", ","
    return out


def _refuse_domains(domains, recipients) -> None:
    """The ``refuse_recipient_domains`` test control: Gmail's 400 for those recipients."""
    if not domains:
        return
    refused = {d.lower().lstrip("@") for d in domains}
    for header, _, address in recipients:
        if address.rpartition("@")[2].lower() in refused:
            raise errors.bad_request(f"Invalid {header} header")


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
