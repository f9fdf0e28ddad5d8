"""Bytes and header text to str: charsets, RFC 2047 words, RFC 2231 parameters, header blocks.

Split from ``mime.py`` (which re-exports the public names) so the lenient decoding rules can be
read apart from the MIME tree. Hand-written rather than ``email.header.make_header`` because Gmail
decodes more leniently (adjacent words sharing a multi-byte character, words inside quotes),
and nothing here may raise: stored bytes are whatever a client inserted.
"""

from __future__ import annotations

import binascii
import re
import urllib.parse

_FOLD = re.compile(r"\n[ \t]+")
_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")
_PARAM = re.compile(r'(?:[^;"]|"(?:\\.|[^"\\])*"?)+')
_CHARSET_ALIASES = {"gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030", "cp-850": "cp850"}


def decode_bytes(data: bytes, charset: str | None) -> str:
    """Decode text whose declared charset may be missing, wrong or unknown; never raises."""
    cs = (charset or "").strip().strip('"').lower()
    cs = _CHARSET_ALIASES.get(cs, cs)
    if cs and cs not in ("us-ascii", "ascii"):
        try:
            return data.decode(cs)
        except LookupError:
            pass
        except UnicodeDecodeError:
            return data.decode(cs, "replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _decode_word(charset: str, encoding: str, text: str) -> bytes | None:
    try:
        if encoding in "bB":
            return binascii.a2b_base64(text + "=" * (-len(text) % 4))
        return binascii.a2b_qp(text.encode("ascii", "replace"), header=True)
    except (binascii.Error, ValueError):
        return None


def decode_words(value: str) -> str:
    """RFC 2047-decode a header value, joining adjacent words of one charset byte-wise."""
    if "=?" not in value:
        return value
    out: list[str] = []
    pending = bytearray()
    pending_cs: str | None = None
    pos = 0
    for m in _ENCODED_WORD.finditer(value):
        gap = value[pos : m.start()]
        charset = m.group(1).split("*", 1)[0].lower()
        data = _decode_word(charset, m.group(2), m.group(3))
        if data is None:
            continue  # leave the undecodable word in place as literal text
        adjacent = pending_cs is not None and (not gap or gap.isspace())  # the gap is dropped
        if pending_cs is not None and (not adjacent or charset != pending_cs):
            out.append(decode_bytes(bytes(pending), pending_cs))
            pending.clear()
        if not adjacent:
            out.append(gap)
        pending_cs = charset
        pending += data
        pos = m.end()
    if pending_cs is not None:
        out.append(decode_bytes(bytes(pending), pending_cs))
    out.append(value[pos:])
    return "".join(out)


def _params(value: str) -> tuple[str, dict[str, str]]:
    """Main value and parameters of a Content-Type/-Disposition header (RFC 2045 + 2231)."""
    pieces = value.split(";") if '"' not in value else _PARAM.findall(value)
    params: dict[str, str] = {}
    extended: dict[str, list[tuple[int, bool, str]]] = {}
    for piece in pieces[1:]:
        name, eq, val = piece.partition("=")
        name, val = name.strip().lower(), val.strip()
        if not eq or not name:
            continue
        if len(val) >= 2 and val[0] == '"' and val[-1] == '"':
            val = val[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        if "*" not in name:
            params.setdefault(name, val)
            continue
        base, _, index = name.partition("*")
        index = index.rstrip("*")
        extended.setdefault(base, []).append(
            (int(index) if index.isdigit() else 0, name.endswith("*"), val)
        )
    for base, segments in extended.items():  # RFC 2231: charset'lang'%XX, maybe continued
        segments.sort(key=lambda seg: seg[0])
        charset, data = None, b""
        for i, (_, encoded, val) in enumerate(segments):
            if encoded and i == 0 and val.count("'") >= 2:
                charset, _, val = val.split("'", 2)
            data += urllib.parse.unquote_to_bytes(val) if encoded else val.encode()
        params[base] = decode_bytes(data, charset)
    return pieces[0].strip().lower(), params


def _head_end(raw: bytes) -> tuple[int, int]:
    """(end of headers, start of body): the first empty line; none at all means no headers."""
    if raw[:1] == b"\n":
        return 0, 1
    if raw[:2] == b"\r\n":
        return 0, 2
    crlf, lf = raw.find(b"\n\r\n"), raw.find(b"\n\n")  # two finds beat one regex 10x
    if crlf >= 0 and (lf < 0 or crlf < lf):
        return crlf, crlf + 3
    if lf >= 0:
        return lf, lf + 2
    return len(raw), len(raw)


def _split_head(raw: bytes) -> tuple[bytes, bytes]:
    head_end, body_start = _head_end(raw)
    return raw[:head_end], raw[body_start:]


def _raw_header_pairs(head: bytes) -> list[tuple[str, str]]:
    """Unfolded but still RFC 2047-encoded headers; junk lines (e.g. an mbox From_) skipped."""
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        text = head.decode("latin-1")
    pairs: list[tuple[str, str]] = []
    text = text.replace("\r\n", "\n")
    if "\n " in text or "\n\t" in text:
        text = _FOLD.sub(" ", text)
    for line in text.split("\n"):
        name, colon, value = line.partition(":")
        name = name.rstrip()
        if colon and name and " " not in name and "\t" not in name:
            pairs.append((name, value.strip()))
    return pairs


def _decoded(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(n, decode_words(v)) for n, v in pairs]


def raw_headers_only(raw: bytes) -> list[tuple[str, str]]:
    """Top-level headers, unfolded but still RFC 2047-encoded (address headers must be split
    into addresses before their display names are decoded: an encoded word may hide a comma)."""
    return _raw_header_pairs(raw[: _head_end(raw)[0]])


def parse_headers_only(raw: bytes) -> list[tuple[str, str]]:
    """Top-level headers, unfolded and decoded, without touching the body (the insert path)."""
    return _decoded(raw_headers_only(raw))
