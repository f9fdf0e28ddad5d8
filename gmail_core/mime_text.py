"""Decoding what Gmail returns into text: the helpers cpcal builds its records from.

Gmail hands back header values that may still hold RFC 2047 encoded words, address lists
whose display names it has decoded but not re-quoted, body parts as base64url bytes in
whatever charset the sender declared (often wrongly), and html-only bodies. The functions
here turn each of those into plain ``str`` without ever raising on malformed input: a
mangled header or body must not fail a sync. Pure functions, no I/O; header values,
addresses and Content-Type parameters repeat across a mailbox and are cached.
"""

from __future__ import annotations

import binascii
import codecs
import email.message
import email.policy
import html
import re
from email.utils import getaddresses
from functools import lru_cache

from .html_text import html_to_text as html_to_text

_FOLD = re.compile(r"\r?\n(?=[ \t])")
_HEADER_FACTORY = email.policy.default.header_factory
_CACHE_MAX = 2048  # longer values are decoded uncached: the caches must not pin megabytes


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
    if "=?" not in value:
        return value
    return _decode_words(value) if len(value) <= _CACHE_MAX else _decode_words.__wrapped__(value)


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
    pairs = _addresses(value) if len(value) <= _CACHE_MAX else _addresses.__wrapped__(value)
    return [{"name": name, "email": addr} for name, addr in pairs]


# --- body text ------------------------------------------------------------------------------


@lru_cache(maxsize=1024)
def _params_cached(content_type: str, disposition: str) -> tuple[str | None, str | None]:
    msg = email.message.Message()
    msg["Content-Type"] = content_type
    if disposition:
        msg["Content-Disposition"] = disposition
    return msg.get_content_charset(), msg.get_content_disposition()


def _params(content_type: str, disposition: str) -> tuple[str | None, str | None]:
    """(charset, disposition) via email.message; cached since a mailbox has few variants."""
    if len(content_type) < _CACHE_MAX > len(disposition):
        return _params_cached(content_type, disposition)
    return _params_cached.__wrapped__(content_type, disposition)


def _whatwg_c1(error: UnicodeDecodeError) -> tuple[str, int]:
    # The 5 bytes cp1252 leaves undefined (0x81 0x8D 0x8F 0x90 0x9D) map to U+0081.. as WHATWG's
    # windows-1252 does, so that decoder never fails and never drops a byte.
    return error.object[error.start : error.end].decode("latin-1"), error.end


codecs.register_error("gmail_core.whatwg_c1", _whatwg_c1)
# Labels that WHATWG (what every browser and Gmail's own web client follow) decodes as
# windows-1252: mail labelled latin-1 or us-ascii is really written by Windows clients, and
# its smart quotes and euro signs (0x80-0x9F) would otherwise become C1 control characters.
_AS_CP1252 = frozenset(("ascii", "iso8859-1", "cp1252"))


@lru_cache(maxsize=256)
def _codec(charset: str) -> str | None:
    """Python's codec name for a declared charset; None when unknown, bogus or not text."""
    try:
        name = codecs.lookup(charset.strip(" \t\r\n\"'\x00")).name
    except (LookupError, ValueError, TypeError):  # ValueError: an embedded NUL
        return None
    try:
        b"a".decode(name)
    except LookupError:  # a bytes-to-bytes or str-to-str codec: charset=base64, zlib, rot13
        return None
    except (UnicodeError, ValueError):  # a text codec that just can't decode b"a" (utf-16)
        pass
    return name


def _decode(data: bytes, codec: str, final: bool, errors: str = "strict") -> str:
    if final:
        return data.decode(codec, errors)
    # Cut off mid-part: an incremental decoder leaves a split multibyte sequence out instead of
    # failing on it (which would send correct text down the fallback path).
    return codecs.getincrementaldecoder(codec)(errors).decode(data, final=False)


def decode_text(data: bytes, charset: str | None, final: bool = True) -> str:
    """Bytes of a text part as ``str``; never raises. ``final=False``: ``data`` is a prefix.

    Declared charset first (latin-1 and us-ascii as windows-1252, see ``_AS_CP1252``; 8-bit
    data labelled us-ascii is tried as UTF-8 first), else UTF-8, else the declared charset with
    replacement characters, else windows-1252: declarations are often wrong or unknown.
    """
    codec = _codec(charset) if charset else None
    if codec in _AS_CP1252:
        if data.isascii():
            return data.decode("ascii")
        if codec == "ascii":
            try:
                return _decode(data, "utf-8", final)
            except UnicodeDecodeError:
                pass
        return _decode(data, "cp1252", final, "gmail_core.whatwg_c1")
    if codec:
        try:
            return data.decode(codec) if final else _decode(data, codec, final)
        except (UnicodeError, ValueError):  # UnicodeError: idna and punycode raise it bare
            pass
    try:
        return _decode(data, "utf-8", final)
    except UnicodeDecodeError:
        pass
    if codec:  # a stray bad byte, keep the rest
        try:
            return _decode(data, codec, final, "replace")
        except (UnicodeError, ValueError):
            pass
    return _decode(data, "cp1252", final, "gmail_core.whatwg_c1")


_B64_JUNK = re.compile(rb"[^A-Za-z0-9+/_-]+")
_URLSAFE = bytes.maketrans(b"-_", b"+/")


def _b64url(data: str | None, max_chars: int | None = None) -> bytes:
    """Gmail's base64url body data, only its first ``max_chars`` characters; never raises.

    The padding is sometimes missing. Broken data (stray characters, a cut-off tail) keeps
    what decodes. Decoding a prefix keeps a capped 30 MB part from costing 30 MB.
    """
    if not data:
        return b""
    if max_chars is not None and len(data) > max_chars:
        data = data[: max_chars - max_chars % 4]
    try:  # base64.urlsafe_b64decode without its layers: the same bytes and errors
        padded = data + "=" * (-len(data) % 4)
        return binascii.a2b_base64(padded.encode("ascii").translate(_URLSAFE))
    except (binascii.Error, ValueError):  # ValueError: UnicodeEncodeError, not ASCII
        pass
    clean = _B64_JUNK.sub(b"", data.encode("ascii", "ignore"))
    if len(clean) % 4 == 1:  # one dangling character carries no whole byte
        clean = clean[:-1]
    try:
        return binascii.a2b_base64((clean + b"=" * (-len(clean) % 4)).translate(_URLSAFE))
    except (binascii.Error, ValueError):
        return b""


# The entities Gmail writes in snippets; "&amp;" last, so that "&amp;lt;" stays "&lt;".
_SNIPPET_ENTITIES = (("&#39;", "'"), ("&quot;", '"'), ("&lt;", "<"), ("&gt;", ">"), ("&amp;", "&"))


def unescape(text: str) -> str:
    """``html.unescape(text)``, by ``str.replace`` when every "&" starts one of the entities
    Gmail writes in snippets: 4x faster than html.unescape's regex and per-entity callback.

    Each of those entities begins with the only "&" it holds and none becomes one, so when
    they account for every "&" the replacements give exactly html.unescape's text.
    """
    if "&" not in text:
        return text
    if sum(text.count(entity) for entity, _ in _SNIPPET_ENTITIES) != text.count("&"):
        return html.unescape(text)
    for entity, char in _SNIPPET_ENTITIES:
        text = text.replace(entity, char)
    return text
