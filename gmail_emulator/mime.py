"""Turn stored RFC 5322 bytes into the shapes Gmail returns (MessagePart trees, snippets, dates).

Stored messages are whatever a client inserted or a seed produced, so nothing here may raise on
malformed MIME: a broken part degrades to text/plain, an unknown charset to UTF-8/latin-1.
The MIME walker is hand-written rather than ``email.parser`` because seeding 10k+ messages must
stay fast; charset, RFC 2047/2231 and header decoding live in ``mime_decode.py``.
"""

from __future__ import annotations

import base64
import binascii
import calendar
import html
import re
from email.utils import parsedate_tz
from functools import cached_property

from . import errors
from .mime_decode import _decoded, _head_end, _params, _raw_header_pairs, _split_head
from .mime_decode import decode_bytes as decode_bytes
from .mime_decode import decode_words as decode_words
from .mime_decode import parse_headers_only as parse_headers_only
from .mime_decode import raw_headers_only as raw_headers_only

_WS = re.compile(r"\s+")
_SUBJECT_PREFIX = re.compile(r"^(?:\s*(?:re|fwd?|aw|wg|sv)\s*(?:\[\d+\]|\(\d+\))?\s*:)+", re.I)
_HTML_DROP = re.compile(r"<(script|style|head|title)\b.*?</\1\s*>|<!--.*?-->", re.I | re.S)
_HTML_BLOCK = re.compile(
    r"</?(?:p|br|div|tr|td|th|li|ul|ol|h[1-6]|table|blockquote|hr|pre)\b[^>]*>", re.I
)
_HTML_TAG = re.compile(r"<[^>]*>", re.S)
_ATTACHMENT_ID_PREFIX = "ANGjd"
_SNIPPET_CHARS = 200
_MAX_DEPTH = 64


# --- the MIME tree ------------------------------------------------------------------------


def _first(pairs: list[tuple[str, str]], name: str) -> str | None:
    """First value of a lower-cased header ``name``."""
    for n, v in pairs:
        if n.lower() == name:
            return v
    return None


def _b64decode(data: bytes) -> bytes:
    try:
        return binascii.a2b_base64(data)
    except binascii.Error:
        clean = re.sub(rb"[^A-Za-z0-9+/]", b"", data)
        clean = clean[: len(clean) - (len(clean) % 4 == 1)]
        try:
            return binascii.a2b_base64(clean + b"=" * (-len(clean) % 4))
        except binascii.Error:
            return b""


class _Part:
    """One MIME entity; containers have ``children``, leaves a transfer-encoded ``body``."""

    __slots__ = (
        "part_id", "raw_headers", "mime_type", "charset", "filename", "disposition", "cte",
        "content_id", "boundary", "body", "children", "enclosed", "_decoded_body",
    )  # fmt: skip

    def __init__(self, part_id: str, raw_headers: list[tuple[str, str]], default_type: str):
        self.part_id = part_id
        self.raw_headers = raw_headers
        first: dict[str, str] = {}
        for name, value in raw_headers:
            first.setdefault(name.lower(), value)
        self.cte = first.get("content-transfer-encoding", "").strip().lower()
        self.content_id = first.get("content-id")
        self.mime_type, ctype = default_type, {}
        if "content-type" in first:
            mime_type, ctype = _params(first["content-type"])
            if mime_type.count("/") == 1 and " " not in mime_type:
                self.mime_type = mime_type
        self.disposition, disp = None, {}
        if "content-disposition" in first:
            self.disposition, disp = _params(first["content-disposition"])
        self.charset = ctype.get("charset")
        self.filename = decode_words(disp.get("filename") or ctype.get("name") or "").strip()
        self.boundary = ctype.get("boundary", "").rstrip()
        self.body = b""
        self.children: list[_Part] | None = None
        self.enclosed: _Part | None = None  # a message/rfc822 part's message, as its top part
        self._decoded_body: bytes | None = None

    @property
    def is_attachment(self) -> bool:
        return self.children is None and (bool(self.filename) or self.mime_type == "message/rfc822")

    def decoded(self) -> bytes:
        if self._decoded_body is None:
            if self.cte == "base64":
                self._decoded_body = _b64decode(self.body)
            elif self.cte == "quoted-printable":
                self._decoded_body = binascii.a2b_qp(self.body)
            else:
                self._decoded_body = self.body
        return self._decoded_body

    def walk(self):
        """This part and its descendants, not descending into enclosed messages."""
        yield self
        for child in self.children or ():
            yield from child.walk()

    def walk_all(self):
        """Every part, enclosed messages' parts too (what ``partId``/``attachmentId`` reach)."""
        stack = [self]
        while stack:
            part = stack.pop()
            yield part
            below = [*(part.children or ()), *((part.enclosed,) if part.enclosed else ())]
            stack.extend(reversed(below))


def _split_multipart(body: bytes, boundary: str) -> list[bytes] | None:
    """Body chunks between delimiter lines; None when the boundary never appears."""
    marker = b"--" + boundary.encode("utf-8", "replace")
    chunks: list[bytes] = []
    start: int | None = None
    pos = body.find(marker)
    while pos >= 0:
        line_end = body.find(b"\n", pos)
        line_end = len(body) if line_end < 0 else line_end
        tail = body[pos + len(marker) : line_end].rstrip(b" \t\r")
        at_line_start = pos == 0 or body[pos - 1 : pos] == b"\n"
        if at_line_start and tail in (b"", b"--"):
            if start is not None:
                end = pos - 1  # the line break before a delimiter belongs to it
                end -= body[end - 1 : end] == b"\r"
                chunks.append(body[start : max(end, start)])
            if tail == b"--":
                return chunks
            start = line_end + 1
        pos = body.find(marker, pos + len(marker))
    if start is None:
        return None
    chunks.append(body[start:].rstrip(b"\r\n"))
    return chunks


def _build(part_id: str, raw_headers, body: bytes, default_type: str, depth: int) -> _Part:
    part = _Part(part_id, raw_headers, default_type)
    if part.mime_type.startswith("multipart/"):
        boundary = part.boundary
        chunks = _split_multipart(body, boundary) if boundary and depth < _MAX_DEPTH else None
        if chunks is None:
            part.mime_type = "text/plain"  # Gmail shows an unsplittable multipart as text
        else:
            child_type = "message/rfc822" if part.mime_type == "multipart/digest" else "text/plain"
            part.children = []
            for index, chunk in enumerate(chunks):
                head, child_body = _split_head(chunk)
                child_id = f"{part_id}.{index}" if part_id else str(index)
                part.children.append(
                    _build(child_id, _raw_header_pairs(head), child_body, child_type, depth + 1)
                )
            return part
    part.body = body
    if part.mime_type == "message/rfc822" and depth < _MAX_DEPTH:
        # Gmail nests the enclosed message under its part: one child, "<partId>.0", whose
        # headers are the enclosed message's headers. The part stays an attachment.
        inner = part.decoded()
        if inner.strip():
            head, inner_body = _split_head(inner)
            part.enclosed = _build(
                f"{part_id}.0" if part_id else "0",
                _raw_header_pairs(head),
                inner_body,
                "text/plain",
                depth + 1,
            )
    return part


# --- the parsed message -------------------------------------------------------------------


def html_to_text(markup: str) -> str:
    """Visible text of an HTML body, good enough for snippets and full-text search."""
    text = _HTML_DROP.sub(" ", markup)
    text = _HTML_TAG.sub("", _HTML_BLOCK.sub("\n", text))
    return html.unescape(text)


def _gmail_escape(text: str) -> str:
    """Gmail escapes snippets like this (``&#39;``, not Python's ``&#x27;``)."""
    return (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("'", "&#39;")
    )


class ParsedMessage:
    """A stored message: headers parsed eagerly, the MIME tree and text only when asked for."""

    def __init__(self, raw: bytes):
        self.raw = raw
        head_end, self._body_start = _head_end(raw)
        self._raw_headers = _raw_header_pairs(raw[:head_end])
        self.headers: list[tuple[str, str]] = _decoded(self._raw_headers)
        self.size_estimate = len(raw)

    def header(self, name: str) -> str | None:
        return _first(self.headers, name.lower())

    def header_all(self, name: str) -> list[str]:
        lname = name.lower()
        return [v for n, v in self.headers if n.lower() == lname]

    @cached_property
    def root(self) -> _Part:
        return _build("", self._raw_headers, self.raw[self._body_start :], "text/plain", 0)

    def part(self, part_id: str) -> _Part | None:
        for p in self.root.walk_all():
            if p.part_id == part_id:
                return p
        return None

    def _text_leaves(self) -> list[_Part]:
        return [
            p
            for p in self.root.walk()
            if p.children is None
            and not p.is_attachment
            and p.disposition != "attachment"
            and p.mime_type in ("text/plain", "text/html")
        ]

    def _leaf_text(self, part: _Part) -> str:
        text = decode_bytes(part.decoded(), part.charset)
        return html_to_text(text) if part.mime_type == "text/html" else text

    @cached_property
    def snippet(self) -> str:
        leaves = self._text_leaves()
        chosen = next((p for p in leaves if p.mime_type == "text/plain"), None)
        chosen = chosen or next(iter(leaves), None)
        if chosen is None:
            return ""
        text = _WS.sub(" ", self._leaf_text(chosen)).strip()
        return _gmail_escape(text[:_SNIPPET_CHARS].rstrip())

    @cached_property
    def plain_text(self) -> str:
        skip: set[str] = set()  # an HTML alternative repeats its text/plain sibling
        for part in self.root.walk():
            kids = part.children or ()
            if part.mime_type == "multipart/alternative" and any(
                c.mime_type == "text/plain" for c in kids
            ):
                skip.update(c.part_id for c in part.children if c.mime_type == "text/html")
        leaves = [p for p in self._text_leaves() if p.part_id not in skip]
        return "\n".join(self._leaf_text(p) for p in leaves)

    def _attachments(self) -> list[_Part]:
        return [
            p
            for p in self.root.walk()
            if p.is_attachment and not (p.disposition == "inline" and p.content_id)
        ]

    @cached_property
    def has_attachment(self) -> bool:
        return bool(self._attachments())

    @cached_property
    def attachment_filenames(self) -> list[str]:
        return [p.filename for p in self._attachments() if p.filename]


def parse_message(raw: bytes) -> ParsedMessage:
    return ParsedMessage(raw)


# --- rendering (users.messages.get payloads) ----------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii")


def attachment_id_for(message_id: str, part_id: str) -> str:
    """Deterministic, opaque-looking id that ``get_attachment`` can map back to the part."""
    token = base64.urlsafe_b64encode(f"{message_id}:{part_id}".encode()).rstrip(b"=")
    return _ATTACHMENT_ID_PREFIX + token.decode("ascii")


def _render_part(part: _Part, message_id: str) -> dict:
    out: dict = {
        "partId": part.part_id,
        "mimeType": part.mime_type,
        "filename": part.filename,
        "headers": [{"name": n, "value": decode_words(v)} for n, v in part.raw_headers],
    }
    if part.children is not None:
        out["body"] = {"size": 0}
        out["parts"] = [_render_part(child, message_id) for child in part.children]
        return out
    data = part.decoded()
    if part.is_attachment:
        out["body"] = {
            "attachmentId": attachment_id_for(message_id, part.part_id),
            "size": len(data),
        }
        if part.enclosed is not None:
            out["parts"] = [_render_part(part.enclosed, message_id)]
    elif data:
        out["body"] = {"size": len(data), "data": _b64url(data)}
    else:
        out["body"] = {"size": 0}
    return out


def render_payload(
    parsed: ParsedMessage, message_id: str, fmt: str, metadata_headers: list[str] | None = None
) -> dict:
    """The Message.payload for format=full or format=metadata (minimal/raw have no payload)."""
    if fmt == "full":
        return _render_part(parsed.root, message_id)
    if fmt == "metadata":
        wanted = {h.lower() for h in metadata_headers or () if h}
        headers = [
            {"name": n, "value": v} for n, v in parsed.headers if not wanted or n.lower() in wanted
        ]
        return {"mimeType": parsed.root.mime_type, "headers": headers}
    if fmt in ("minimal", "raw"):
        raise ValueError(f"format={fmt} has no payload")
    raise errors.bad_request(
        f"Invalid value at 'format' (type.googleapis.com/google.apps.gmail.v1.Format), \"{fmt}\""
    )


def get_attachment(parsed: ParsedMessage, message_id: str, attachment_id: str) -> dict | None:
    """users.messages.attachments.get: the MessagePartBody, or None for a foreign/stale id."""
    if not attachment_id.startswith(_ATTACHMENT_ID_PREFIX):
        return None
    token = attachment_id[len(_ATTACHMENT_ID_PREFIX) :]
    try:
        decoded = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    owner, sep, part_id = decoded.rpartition(":")
    if not sep or owner != message_id:
        return None
    part = parsed.part(part_id)
    if part is None or part.children is not None:
        return None
    data = part.decoded()
    return {"attachmentId": attachment_id, "size": len(data), "data": _b64url(data)}


# --- dates and subjects -------------------------------------------------------------------


def date_header_ms(value: str | None) -> int | None:
    """Epoch milliseconds of an RFC 5322 Date (no zone means UTC); None if unparseable."""
    if not value:
        return None
    try:
        tt = parsedate_tz(value)
    except (TypeError, ValueError, IndexError):
        return None
    if tt is None:
        return None
    year, month, day, hour, minute, second = tt[:6]
    if not (1 <= month <= 12 and 1 <= day <= 31 and 0 <= hour <= 23 and 0 <= minute <= 59):
        return None
    if not (0 <= second <= 60 and 1000 <= year <= 9999):
        return None
    try:
        seconds = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))
    except (OverflowError, ValueError):
        return None
    return (seconds - (tt[9] or 0)) * 1000


def normalize_subject(subject: str | None) -> str:
    """Subject as Gmail compares it for threading: reply/forward prefixes gone, case folded."""
    if not subject:
        return ""
    return _WS.sub(" ", _SUBJECT_PREFIX.sub("", subject)).strip().lower()
