"""Byte-faithful splitting of multipart bodies (batch requests and multipart uploads).

The ``email`` package re-serialises ``message/rfc822`` and ``application/http`` payloads, which
would change the very bytes we must store or replay, so parts are cut at the boundary here.
"""

from __future__ import annotations

from email.parser import HeaderParser
from email.policy import compat32

from . import errors


def boundary_of(content_type: str, expected: str) -> str:
    header = HeaderParser(policy=compat32).parsestr(f"Content-Type: {content_type}\r\n\r\n")
    boundary = header.get_boundary()
    if header.get_content_type() != expected or not boundary:
        raise errors.bad_request(f"Content-Type must be {expected} with a boundary.")
    return boundary


def split(body: bytes, boundary: str) -> list[tuple[dict[str, str], bytes]]:
    """Parts as (lower-cased headers, content bytes), in order."""
    delimiter = b"--" + boundary.encode("latin-1")
    chunks = body.split(delimiter)[1:]
    parts = []
    for chunk in chunks:
        if chunk.startswith(b"--"):
            break
        chunk = chunk[2:] if chunk.startswith(b"\r\n") else chunk.lstrip(b"\n")
        head, content = split_head(chunk)
        if content.endswith(b"\r\n"):
            content = content[:-2]
        elif content.endswith(b"\n"):
            content = content[:-1]
        parts.append((parse_headers(head), content))
    return parts


def split_head(data: bytes) -> tuple[bytes, bytes]:
    """Split header block from content at the first blank line (CRLF or bare LF)."""
    crlf = data.find(b"\r\n\r\n")
    lf = data.find(b"\n\n")
    if crlf != -1 and (lf == -1 or crlf <= lf):
        return data[:crlf], data[crlf + 4 :]
    if lf != -1:
        return data[:lf], data[lf + 2 :]
    return data, b""


def parse_headers(head: bytes) -> dict[str, str]:
    headers: dict[str, str] = {}
    last = None
    for line in head.decode("latin-1").splitlines():
        if not line:
            continue
        if line[0] in " \t" and last:
            headers[last] += " " + line.strip()
            continue
        name, _, value = line.partition(":")
        last = name.strip().lower()
        headers[last] = value.strip()
    return headers
