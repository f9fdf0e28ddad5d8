"""Turn one outbound-message record into the RFC 5322 bytes Gmail's ``messages.send`` takes.

The standard library's ``email`` package builds the MIME tree (alternative/mixed parts,
base64 attachments, RFC 2231 filenames), so no MIME is hand-rolled here. The Message-ID is
derived from (mailbox, idempotency key) instead of being random: after a crash between
"about to send" and "Gmail said 200", the sender asks Gmail ``rfc822msgid:<id>`` whether
the message went out, which is what makes exactly-once sends reconcilable.

Header *folding* is done here, not by the email package: on Python 3.11 its folder
RFC 2047-encodes long In-Reply-To/References msg-ids (cpython gh-100991), which breaks
threading, and it can drop the space between two encoded words (gh-144156). Text is
encoded with the long-standing ``email.header.Header`` encoder and folded only at spaces.
"""

from __future__ import annotations

import base64
import hashlib
import json
import mimetypes
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from email import policy as email_policy
from email.errors import HeaderParseError
from email.header import Header
from email.headerregistry import (
    Address,
    HeaderRegistry,
    UniqueAddressHeader,
    UniqueUnstructuredHeader,
)
from email.message import EmailMessage
from email.utils import format_datetime, formataddr

from target_gmail.rejection import Rejected, check_no_line_breaks

MAX_MESSAGE_BYTES = 35 * 1024 * 1024  # Gmail's send limit, on the RFC 5322 bytes
CONTENT_FIELDS = ("to", "cc", "bcc", "reply_to", "subject", "body", "body_html",
                  "attachments", "thread_id", "in_reply_to", "references", "labels")  # fmt: skip

_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DOMAIN = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
_ADDR_SPEC = re.compile(rf"{_ATOM}(?:\.{_ATOM})*@{_DOMAIN.pattern}")
_NAMED = re.compile(r"(.*?)\s*<([^<>]*)>")  # 'Name <addr>' or '"Name" <addr>'
_MIME_TYPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*")
_THREAD_ID = re.compile(r"[0-9A-Za-z_-]+")
_MSG_ID = re.compile(r"<([\x21-\x3b\x3d\x3f-\x7e]+)>|([\x21-\x3b\x3d\x3f-\x7e]+)")  # ASCII
_URLSAFE = str.maketrans("-_", "+/")


def _fold(name: str, value: str, policy: email_policy.EmailPolicy) -> str:
    """Fold an ASCII header value at spaces only: unfolding restores it exactly."""
    words = re.split(r" (?=\S)", value)
    lines = [f"{name}: {words[0]}"]
    for word in words[1:]:
        if len(lines[-1]) + 1 + len(word) <= policy.max_line_length:
            lines[-1] += " " + word
        else:
            lines.append(" " + word)
    return policy.linesep.join(lines) + policy.linesep


def _encode_words(text: str) -> str:
    """Non-ASCII text as RFC 2047 encoded-words short enough to fit a 78-char line."""
    return text if text.isascii() else Header(text, "utf-8", maxlinelen=68).encode(linesep="")


class _TextHeader(UniqueUnstructuredHeader):
    def fold(self, *, policy: email_policy.EmailPolicy) -> str:
        return _fold(self.name, _encode_words(str(self)), policy)


class _AddressHeader(UniqueAddressHeader):
    def fold(self, *, policy: email_policy.EmailPolicy) -> str:
        rendered = [
            f"{_encode_words(a.display_name)} <{a.addr_spec}>"
            if a.display_name and not a.display_name.isascii()
            else formataddr((a.display_name, a.addr_spec))
            for a in self.addresses
        ]
        return _fold(self.name, ", ".join(rendered), policy)


_HEADERS = HeaderRegistry()
for _name in ("from", "to", "cc", "bcc", "reply-to"):
    _HEADERS.map_to_type(_name, _AddressHeader)
for _name in ("subject", "message-id", "in-reply-to", "references"):
    _HEADERS.map_to_type(_name, _TextHeader)
POLICY = email_policy.SMTP.clone(cte_type="7bit", header_factory=_HEADERS)  # ASCII-only, CRLF


@dataclass(frozen=True)
class Composed:
    raw: bytes  # RFC 5322 message, CRLF line endings
    message_id: str  # the Message-ID header value incl. angle brackets
    recipients: tuple[str, ...]  # bare addr-specs of to+cc+bcc, lower-cased, de-duplicated
    thread_id: str | None
    size: int  # len(raw)


def message_id_for(mailbox: str, key: str) -> str:
    """Deterministic Message-ID for (mailbox, idempotency key); mailbox case does not matter."""
    domain = mailbox.rpartition("@")[2].strip().lower() if "@" in mailbox else ""
    if not _DOMAIN.fullmatch(domain):
        domain = "target-gmail.invalid"
    seed = f"{mailbox.lower()}\x00{key}".encode("utf-8", "surrogatepass")
    return f"<tg.{hashlib.sha256(seed).hexdigest()[:40]}@{domain}>"


def content_hash(record: dict) -> str:
    """sha256 of the record's content fields (absent == null), to catch a key re-sent changed."""
    content = {field: record.get(field) for field in CONTENT_FIELDS}
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _address(addr: str, name: str | None, field: str) -> Address:
    local, at, domain = addr.strip().rpartition("@")
    if domain and not domain.isascii():
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError:
            domain = ""
    spec = f"{local}@{domain}"
    try:
        parsed = Address(display_name=name or "", addr_spec=spec)
    except (ValueError, IndexError, HeaderParseError):
        parsed = None
    if not at or parsed is None or not _ADDR_SPEC.fullmatch(spec):
        raise Rejected(f"`{field}`: {addr!r} is not a valid email address", field)
    return parsed


def _split_list(text: str) -> list[str]:
    """Split an address list on commas outside quoted strings and <...>."""
    parts, current, quoted, angle, escaped = [], [], False, False, False
    for ch in text:
        if escaped:
            escaped = False
        elif ch == "\\" and quoted:
            escaped = True
        elif ch == '"' and not angle:
            quoted = not quoted
        elif ch in "<>" and not quoted:
            angle = ch == "<"
        elif ch == "," and not quoted and not angle:
            parts.append("".join(current))
            current = []
            continue
        current.append(ch)
    parts.append("".join(current))
    return [part.strip() for part in parts if part.strip()]


def _addresses(record: dict, key: str) -> list[Address]:
    value = record.get(key)
    if value is None:
        return []
    if not isinstance(value, (str, list)):
        raise Rejected(f"`{key}` must be an address string, a list or null", key)
    found = []
    for i, item in enumerate([value] if isinstance(value, str) else value):
        field = key if isinstance(value, str) else f"{key}[{i}]"
        if isinstance(item, dict) and isinstance(item.get("email"), str):
            check_no_line_breaks(item["email"], f"{field}.email")
            name = _string(item.get("name"), f"{field}.name")
            found.append(_address(item["email"], name, f"{field}.email"))
        elif isinstance(item, str):
            check_no_line_breaks(item, field)
            for piece in _split_list(item):
                named = _NAMED.fullmatch(piece)
                name = named and named[1].strip()
                if name and len(name) > 1 and name[0] == name[-1] == '"':
                    name = re.sub(r"\\(.)", r"\1", name[1:-1])
                found.append(_address(named[2] if named else piece, name or None, field))
        else:
            raise Rejected(f"`{field}` must be an address string or an {{email, name}}", field)
    return found


def _string(value: object, field: str, header: bool = True) -> str | None:
    """A string-or-null field; one that becomes a header must not carry CR/LF."""
    if value is not None and not isinstance(value, str):
        raise Rejected(f"`{field}` must be a string or null", field)
    if header:
        check_no_line_breaks(value, field)
    return value


def _msg_ids(value: object, field: str) -> list[str]:
    if isinstance(value, list):
        pairs = [(_string(v, f"{field}[{i}]") or "", f"{field}[{i}]") for i, v in enumerate(value)]
    else:
        pairs = [(v, field) for v in (_string(value, field) or "").split()]
    ids = []
    for item, name in pairs:
        match = _MSG_ID.fullmatch(item.strip())
        if not match:
            raise Rejected(f"`{name}`: {item!r} is not a message id like <id@host>", name)
        ids.append(f"<{match[1] or match[2]}>")
    return ids


def _too_big(size: str) -> Rejected:
    limit = f"Gmail's send limit is 35 MB ({MAX_MESSAGE_BYTES} bytes)"
    return Rejected(f"message {size} bytes; {limit}", "attachments")


def _attachments(record: dict) -> list[tuple[str, str, bytes]]:
    """Validate and decode attachments; reject early when their size alone is over the limit."""
    items = record.get("attachments") or []
    if not isinstance(items, list):
        raise Rejected("`attachments` must be a list or null", "attachments")
    prepared = []
    for i, item in enumerate(items):
        field = f"attachments[{i}]"
        if not isinstance(item, dict):
            raise Rejected(f"`{field}` must be an object", field)
        filename = _string(item.get("filename"), f"{field}.filename")
        if not filename or not filename.strip():
            raise Rejected(f"`{field}.filename` is missing", f"{field}.filename")
        mime = _string(item.get("mime_type"), f"{field}.mime_type")
        if not mime:
            guessed, encoding = mimetypes.guess_type(filename)
            mime = guessed if guessed and not encoding else "application/octet-stream"
        if not _MIME_TYPE.fullmatch(mime) or mime.lower().startswith("multipart/"):
            reason = f"`{field}.mime_type`: {mime!r} is not a type/subtype for a file"
            raise Rejected(reason, f"{field}.mime_type")
        data = item.get("content_base64")
        if not isinstance(data, str):
            raise Rejected(f"`{field}.content_base64` must be a string", f"{field}.content_base64")
        text = "".join(data.split()).rstrip("=").translate(_URLSAFE)
        prepared.append((field, filename, mime, text + "=" * (-len(text) % 4)))
    # MIME base64 is the padded text in 76-char lines + CRLF: a lower bound on the message size.
    estimate = sum(len(text) for *_, text in prepared) * 78 // 76
    if estimate > MAX_MESSAGE_BYTES:
        raise _too_big(f"would be at least {estimate}")
    decoded = []
    for field, filename, mime, text in prepared:
        try:
            decoded.append((filename, mime, base64.b64decode(text, validate=True)))
        except ValueError:
            reason = f"`{field}.content_base64` is not valid base64"
            raise Rejected(reason, f"{field}.content_base64") from None
    return decoded


def compose(record: dict, mailbox: str, now: datetime | None = None) -> Composed:
    """Build the message for one record; raises Rejected naming the field on invalid input."""
    key = record.get("id")
    if key is None or (isinstance(key, str) and not key.strip()):
        raise Rejected("missing idempotency key `id`", "id")
    if not isinstance(key, str):
        raise Rejected("idempotency key `id` must be a string", "id")
    if not _string(mailbox, "mailbox"):
        raise Rejected("no mailbox to send from", "mailbox")
    sender = _address(mailbox, None, "mailbox")
    to, cc, bcc, reply_to = (_addresses(record, k) for k in ("to", "cc", "bcc", "reply_to"))
    if not (to or cc or bcc):
        raise Rejected("no recipient: set `to`, `cc` or `bcc`", "to")
    subject = _string(record.get("subject"), "subject")
    thread_id = _string(record.get("thread_id"), "thread_id")
    if thread_id is not None and not _THREAD_ID.fullmatch(thread_id):
        raise Rejected(f"`thread_id`: {thread_id!r} is not a Gmail thread id", "thread_id")
    in_reply_to = _msg_ids(record.get("in_reply_to"), "in_reply_to")
    references = _msg_ids(record.get("references"), "references") or in_reply_to
    text = _string(record.get("body"), "body", header=False) or None
    html = _string(record.get("body_html"), "body_html", header=False) or None
    attachments = _attachments(record)

    message_id = message_id_for(mailbox, key)
    now = now or datetime.now(timezone.utc)
    msg = EmailMessage(policy=POLICY)
    msg["From"] = sender
    for header, addresses in (("To", to), ("Cc", cc), ("Bcc", bcc), ("Reply-To", reply_to)):
        if addresses:
            msg[header] = addresses
    if subject:
        msg["Subject"] = subject
    msg["Date"] = format_datetime(now if now.tzinfo else now.replace(tzinfo=timezone.utc))
    msg["Message-ID"] = message_id
    if in_reply_to:
        msg["In-Reply-To"] = " ".join(in_reply_to)
    if references:
        msg["References"] = " ".join(references)
    msg["MIME-Version"] = "1.0"
    if html is not None and text is None:
        msg.set_content(html, subtype="html")
    elif text is not None or not attachments:
        msg.set_content(text or "")
        if html is not None:
            msg.add_alternative(html, subtype="html")
    for filename, mime, data in attachments:
        maintype, subtype = mime.split("/", 1)
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    raw = msg.as_bytes()
    if len(raw) > MAX_MESSAGE_BYTES:
        raise _too_big(f"is {len(raw)}")
    recipients = tuple(dict.fromkeys(a.addr_spec.lower() for a in (*to, *cc, *bcc)))
    return Composed(raw, message_id, recipients, thread_id, len(raw))
