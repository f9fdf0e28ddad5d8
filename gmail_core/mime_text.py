"""Decoding what Gmail returns into text: the helpers cpcal builds its records from.

Gmail hands back header values that may still hold RFC 2047 encoded words, address lists
whose display names it has decoded but not re-quoted, body parts as base64url bytes in
whatever charset the sender declared (often wrongly), and html-only bodies. The functions
here turn each of those into plain ``str`` without ever raising on malformed input: a
mangled header or body must not fail a sync. Pure functions, no I/O; header values,
addresses and Content-Type parameters repeat across a mailbox and are cached.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import email.message
import email.policy
import re
from email.utils import getaddresses
from functools import lru_cache
from html.parser import HTMLParser

_FOLD = re.compile(r"\r?\n(?=[ \t])")
_HTML_WS = re.compile(r"[ \t\r\n\f]+")
_BLANK_RUNS = re.compile(r"\n{3,}")
_HEADER_FACTORY = email.policy.default.header_factory


# --- headers and addresses ------------------------------------------------------------------


@lru_cache(maxsize=8192)
def _decode_words(value: str) -> str:
    # policy.default's parser, unlike decode_header/make_header, copes with decoded text mixed
    # with encoded words, words split inside a character and unknown charsets. It has raised
    # odd exceptions on malformed input in past releases: a bad header must not fail a sync.
    try:
        return str(_HEADER_FACTORY("subject", value))
    except Exception:  # noqa: BLE001
        return value


def decode_header(value: str | None) -> str | None:
    """RFC 2047-decode a header value; idempotent on text Gmail has already decoded."""
    if value is None:
        return None
    if "\n" in value:
        value = _FOLD.sub("", value)
    return _decode_words(value) if "=?" in value else value


def _split_loose(value: str) -> list[tuple[str, str]]:
    # Hand-rolled on purpose: Gmail hands back display names already decoded but not re-quoted
    # ("Müller, Jürgen <j@x.de>"), and every email.* parser splits that at the comma and drops
    # words. Split at top-level commas and glue pieces until one carries an address.
    pieces, depth, quoted, start = [], 0, False, 0
    for i, ch in enumerate(value):
        if ch == '"' and (i == 0 or value[i - 1] != "\\"):
            quoted = not quoted
        elif not quoted and ch in "<(":
            depth += 1
        elif not quoted and ch in ">)" and depth:
            depth -= 1
        elif ch == "," and not quoted and not depth:
            pieces.append(value[start:i])
            start = i + 1
    pieces.append(value[start:])
    out, pending = [], []
    for piece in pieces:
        if not piece.strip():
            continue
        pending.append(piece)
        if "@" in piece or "<" in piece:
            chunk = ",".join(pending).strip()
            pending = []
            name, bracket, rest = chunk.rpartition("<")
            if bracket:
                out.append((name.strip().strip('"').strip(), rest.partition(">")[0].strip()))
            else:
                out.append(("", chunk))
    out.extend(("", piece.strip()) for piece in pending)
    return out


@lru_cache(maxsize=8192)
def _addresses(value: str) -> tuple[tuple[str | None, str], ...]:
    """(name, email) pairs; empty entries (e.g. ``undisclosed-recipients:;``) skipped."""
    pairs = None
    if "=?" in value:  # parse structure first: an encoded word may hide a comma or a quote
        try:
            header = _HEADER_FACTORY("to", value)
            pairs = [(a.display_name, a.addr_spec) for a in header.addresses]
        except Exception:  # noqa: BLE001 - see _decode_words
            pairs = None
        if pairs is not None and any("@" not in addr for _, addr in pairs):
            pairs = None
        if pairs is None:
            value = decode_header(value)
    if pairs is None:
        pairs = getaddresses([value])
        if any("@" not in addr for name, addr in pairs if name or addr):
            pairs = _split_loose(value)
    return tuple((name or None, addr) for name, addr in pairs if addr)


def _address_list(value: str | None, known: bool) -> list[dict] | None:
    if not value:
        return [] if known else None
    if "\n" in value:
        value = _FOLD.sub("", value)
    return [{"name": name, "email": addr} for name, addr in _addresses(value)]


# --- body text ------------------------------------------------------------------------------


@lru_cache(maxsize=1024)
def _params(content_type: str, disposition: str) -> tuple[str | None, str | None]:
    """(charset, disposition) via email.message; cached since a mailbox has few variants."""
    msg = email.message.Message()
    msg["Content-Type"] = content_type
    if disposition:
        msg["Content-Disposition"] = disposition
    return msg.get_content_charset(), msg.get_content_disposition()


def decode_text(data: bytes, charset: str | None) -> str:
    """Declared charset, else UTF-8, else latin-1: declarations are often wrong or unknown."""
    if charset:
        try:
            return data.decode(charset)
        except LookupError:
            charset = None
        except UnicodeDecodeError:
            pass
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    if charset and codecs.lookup(charset).name != "ascii":  # a stray bad byte, keep the rest
        return data.decode(charset, "replace")
    return data.decode("latin-1")


def _b64url(data: str | None) -> bytes:
    """Gmail's base64url body data; the padding is sometimes missing."""
    if not data:
        return b""
    try:
        return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))
    except (binascii.Error, ValueError):
        return b""


class _HtmlText(HTMLParser):
    """Visible text of an HTML body, for html-only messages (stdlib parser, not regexes)."""

    _SKIP = frozenset(("script", "style", "title", "template"))
    _LINE = frozenset(("br", "li", "tr", "hr"))  # a line break before
    _BLOCK = frozenset(
        ("p", "div", "table", "ul", "ol", "blockquote", "pre", "h1", "h2", "h3", "h4", "h5", "h6")
    )  # a line break before and after

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag, attrs) -> None:
        if tag in self._SKIP:
            self.skipping += 1
        elif tag in self._LINE or tag in self._BLOCK:
            self.chunks.append("\n")

    def handle_endtag(self, tag) -> None:
        if tag in self._SKIP:
            self.skipping = max(0, self.skipping - 1)
        elif tag in self._BLOCK:
            self.chunks.append("\n")

    def handle_data(self, data) -> None:
        if not self.skipping:
            self.chunks.append(_HTML_WS.sub(" ", data))


def html_to_text(markup: str) -> str:
    parser = _HtmlText()
    parser.feed(markup)
    parser.close()
    lines = (line.strip() for line in "".join(parser.chunks).split("\n"))
    return _BLANK_RUNS.sub("\n\n", "\n".join(lines)).strip()
