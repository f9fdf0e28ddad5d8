"""The Gmail batch endpoint: many calls in one multipart/mixed HTTP request.

Each ``application/http`` part is an ordinary HTTP request; it is dispatched exactly like a
standalone call (own auth, quota and faults) and answered in a part carrying its own status
and ``Content-ID: <response-…>``. The outer response is 200 even when inner parts fail.
"""

from __future__ import annotations

import secrets
from http import HTTPStatus

from . import errors, multipart
from .dispatch import Request, Response, break_answer, error_response
from .faults import AFTER_RUN, BATCH_METHOD, GARBLED_STATUS, truncated

BATCH_PATHS = ("/batch", "/batch/gmail/v1")


def handle(dispatcher, request: Request, max_parts: int) -> Response:
    try:
        boundary = multipart.boundary_of(request.headers.get("content-type", ""), "multipart/mixed")
        parts = multipart.split(request.body, boundary)
        if not parts:
            raise errors.bad_request("A batch request must contain at least one part.")
        if len(parts) > max_parts:
            raise errors.bad_request(
                f"A batch request cannot contain more than {max_parts} requests."
            )
    except errors.GmailError as error:
        return error_response(error)
    emulator = dispatcher.emulator
    # The outer request can be faulted too (fault_methods / per_method_rate "batch").
    fault = emulator.faults.pick(BATCH_METHOD)
    if fault is not None:
        emulator.stats.fault(BATCH_METHOD, fault.kind)
        if fault.kind == "reset":
            return Response(0, reset=True)
        error = emulator.faults.error_for(fault)
        if error is not None:  # refused as a whole: no part runs
            return error_response(error)
    emulator.stats.batch(len(parts))
    garble_all = fault is not None and fault.kind == "garbled_batch"
    out_boundary = "batch_" + secrets.token_hex(12)
    chunks: list[bytes] = []
    slowest = 0.0
    for headers, content in parts:
        inner = _inner_request(content, request.headers)
        if inner is None:
            response = error_response(errors.bad_request("Malformed batch part."))
        else:
            response = dispatcher.handle(inner, inline_delay=False)
        if response.reset:
            # A connection reset cannot happen inside a part; Gmail reports a 503 there.
            response = error_response(errors.backend_error(503))
        slowest = max(slowest, response.delay_s)
        if garble_all:
            response.mangle = "garbled_batch"
        chunks.append(_render_part(out_boundary, headers.get("content-id"), response))
    body = b"".join(chunks) + f"--{out_boundary}--\r\n".encode()
    # Parts run concurrently at Google, so the batch takes as long as its slowest part.
    answer = Response(
        200,
        body,
        {"Content-Type": f"multipart/mixed; boundary={out_boundary}"},
        delay_s=slowest,
    )
    if fault is not None and fault.kind == "slow":
        answer.delay_s += fault.delay_s
    elif fault is not None and fault.kind in AFTER_RUN and not garble_all:
        break_answer(answer, fault)  # the socket server cuts, truncates or resets it
    return answer


def _inner_request(content: bytes, outer_headers: dict[str, str]) -> Request | None:
    head, body = multipart.split_head(content)
    lines = head.decode("latin-1").splitlines()
    if not lines:
        return None
    request_line = lines[0].split()
    if len(request_line) < 2:
        return None
    method, target = request_line[0], request_line[1]
    if target.startswith("http://") or target.startswith("https://"):
        target = "/" + target.split("/", 3)[3] if target.count("/") >= 3 else "/"
    headers = multipart.parse_headers("\r\n".join(lines[1:]).encode("latin-1"))
    if "authorization" not in headers and "authorization" in outer_headers:
        headers["authorization"] = outer_headers["authorization"]
    if "content-length" in headers:
        try:
            body = body[: int(headers["content-length"])]
        except ValueError:
            return None
    return Request.from_target(method, target, headers, body)


def _render_part(boundary: str, content_id: str | None, response: Response) -> bytes:
    """One answer part. A part cannot lose its connection, so ``close_mid_body`` cuts the
    part's body under its full Content-Length, ``truncated_json`` cuts it under a matching
    one, and ``garbled_batch`` breaks its status line."""
    reason = (
        HTTPStatus(response.status).phrase
        if response.status in HTTPStatus._value2member_map_
        else ""
    )
    lines = [f"--{boundary}", "Content-Type: application/http"]
    if content_id:
        inner_id = content_id.strip().strip("<>")
        lines.append(f"Content-ID: <response-{inner_id}>")
    lines.append("")
    status_line = f"HTTP/1.1 {response.status} {reason}"
    lines.append(GARBLED_STATUS if response.mangle == "garbled_batch" else status_line)
    body = response.body
    if response.mangle in ("close_mid_body", "truncated_json"):
        body = truncated(body)
    for name, value in response.headers.items():
        lines.append(f"{name}: {value}")
    length = len(response.body) if response.mangle == "close_mid_body" else len(body)
    lines.append(f"Content-Length: {length}")
    lines.append("")
    lines.append("")
    return "\r\n".join(lines).encode("latin-1") + body + b"\r\n"
