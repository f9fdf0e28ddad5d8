"""The Gmail batch protocol: up to 100 calls in one multipart/mixed HTTP request.

Written here rather than taken from google-api-python-client because its batch object is
bound to httplib2 and its own retry loop; ours must charge the quota governor per part, go
through the same breaker and retry only the parts that failed (the outer response is 200
even when parts fail with 429/403/5xx).
"""

from __future__ import annotations

import json
import random
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import msgspec
import requests

from .errors import ApiError, HistoryExpired, MalformedResponse
from .transport import GmailTransport, retry_after_seconds

MALFORMED = "malformedResponse"  # reason of a part whose answer could not be read

_FAST_DECODE = msgspec.json.Decoder().decode

MAX_BATCH_SIZE = 100
DEFAULT_BATCH_SIZE = 50


@dataclass
class BatchPart:
    """One call inside a batch; ``key`` is the caller's handle for the answer."""

    method: str  # short method name, e.g. "messages.get" (quota cost lookup)
    http_method: str
    path: str  # relative to users/{userId}/, e.g. "messages/18c2f"
    params: dict[str, Any] | None = None
    body: dict | None = None
    key: Any = None


@dataclass
class PartResult:
    part: BatchPart
    status: int
    body: dict | None = None
    error: ApiError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class GmailBatch:
    """Execute many calls for one mailbox in batches of ``batch_size``."""

    def __init__(self, transport: GmailTransport, batch_size: int = DEFAULT_BATCH_SIZE):
        if not 1 <= batch_size <= MAX_BATCH_SIZE:
            raise ValueError(f"batch_size must be between 1 and {MAX_BATCH_SIZE}")
        self.transport = transport
        self.batch_size = batch_size

    def execute(self, parts: list[BatchPart]) -> list[PartResult]:
        """Results in the order of ``parts``. Non-retryable part errors come back as results."""
        results: list[PartResult] = []
        for chunk in self.chunks(parts):
            results.extend(self._execute_chunk(chunk))
        return results

    def chunks(self, parts: list[BatchPart]) -> list[list[BatchPart]]:
        """At most ``batch_size`` parts, and no more units than the governor's window budget.

        Gmail charges every part, so a batch dearer than what the governor lets through per
        window (its current adaptive rate, window and safety factor) would have its tail
        rejected with 403s however well it was paced.
        """
        governor = self.transport.governor
        budget = governor.window_budget()
        chunks: list[list[BatchPart]] = []
        current: list[BatchPart] = []
        units = 0
        for part in parts:
            cost = governor.cost(part.method)
            if current and (len(current) == self.batch_size or units + cost > budget):
                chunks.append(current)
                current, units = [], 0
            current.append(part)
            units += cost
        if current:
            chunks.append(current)
        return chunks

    def _execute_chunk(self, parts: list[BatchPart]) -> list[PartResult]:
        policy = self.transport.policy
        done: dict[int, PartResult] = {}
        pending = list(enumerate(parts))
        deadline = time.monotonic() + policy.max_time_s
        refreshed = False
        for attempt in range(policy.max_tries):
            answers, token = self._send([part for _, part in pending])
            retry: list[tuple[int, BatchPart]] = []
            hint = 0.0
            expired = False
            for (index, part), result in zip(pending, answers, strict=True):
                if result.status == 401 and not refreshed:
                    # The token died between the outer request and its parts: refresh once.
                    expired = True
                    retry.append((index, part))
                elif result.error is not None and result.error.retryable:
                    retry.append((index, part))
                    hint = max(hint, result.error.retry_after_s or 0.0)
                    self.transport.metrics.retry(part.method, result.error.reason or "batch-part")
                done[index] = result
            if not retry:
                break
            if expired:
                # No request here: the next batch request refreshes inside its own retry, so
                # a failing token endpoint is retried like any call instead of ending the run.
                if token is not None:
                    self.transport.auth.expire(rejected=token)
                refreshed = True
            errors = [done[i].error for i, _ in retry if done[i].error is not None]
            if any(error.rate_limited for error in errors):
                self.transport.governor.throttled(hint or None)
            elif any(error.status == 429 for error in errors):
                self.transport.governor.congested()  # back off, but keep the units rate
            wait = max(random.uniform(0, min(policy.max_wait_s, policy.base_s * 2**attempt)), hint)
            if attempt == policy.max_tries - 1 or time.monotonic() + wait > deadline:
                break
            time.sleep(wait)
            pending = retry
        return [done[index] for index in range(len(parts))]

    def _send(self, parts: list[BatchPart]) -> tuple[list[PartResult], str | None]:
        """One batch request; also returns the access token its parts carried."""
        transport = self.transport
        boundary = "batch_" + uuid.uuid4().hex
        units = sum(transport.governor.cost(part.method) for part in parts)
        url = f"{transport.api_url}/batch/gmail/v1"
        used: list[str] = []

        def send(headers: dict) -> requests.Response:
            used.append(headers["Authorization"].partition(" ")[2])
            body = _encode(parts, boundary, transport.user_id, headers["Authorization"])
            return transport.session.post(
                url,
                data=body,
                headers={
                    **headers,
                    "Content-Type": f"multipart/mixed; boundary={boundary}",
                },
                timeout=transport.policy.timeout_s,
            )

        # Decoded inside the transport's retry: an answer that is not multipart at all is
        # retried as a whole (batches carry reads and idempotent label changes).
        def decode(response: requests.Response) -> list[PartResult]:
            return _decode(response, parts, transport.mailbox)

        results = transport.send("batch", units, send, decode=decode)
        return results, (used[-1] if used else None)


def _encode(parts: list[BatchPart], boundary: str, user_id: str, authorization: str) -> bytes:
    opening = f"--{boundary}\r\nContent-Type: application/http\r\nContent-ID: <part-"
    root = f"/gmail/v1/users/{user_id}/"
    credentials = f" HTTP/1.1\r\nAuthorization: {authorization}\r\n"
    queries: dict[str, str] = {}  # the parts of a chunk nearly always share their query
    chunks = []
    for index, part in enumerate(parts):
        target = root + part.path
        if part.params:
            target += "?" + _query(part.params, queries)
        payload = b""
        headers = ""
        if part.body is not None:
            payload = json.dumps(part.body, separators=(",", ":")).encode()
            headers = f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
        head = f"{opening}{index}>\r\n\r\n{part.http_method} {target}{credentials}{headers}\r\n"
        chunks.append(head.encode() + payload + b"\r\n")
    chunks.append(f"--{boundary}--\r\n".encode())
    return b"".join(chunks)


def _query(params: dict[str, Any], seen: dict[str, str]) -> str:
    """``urlencode(params, doseq=True)``, once per distinct ``params`` (by repr: the
    parameters are strings, numbers and lists of them, whose repr fixes their text)."""
    key = repr(params)
    query = seen.get(key)
    if query is None:
        query = seen[key] = urlencode(params, doseq=True)
    return query


def _decode(response: requests.Response, parts: list[BatchPart], mailbox: str) -> list[PartResult]:
    """Parse a batch answer into one result per part.

    A part whose status line or 2xx body cannot be read (garbled, cut off) or that is missing
    becomes a retryable 502 ``malformedResponse`` result, so ``_execute_chunk`` sends it again
    (all of them when nothing was readable: the whole chunk is retried) while keeping the
    parts that were read. An answer that is not multipart at all raises ``MalformedResponse``:
    the transport retries the request as a whole.
    """
    boundary = _boundary(response.headers.get("Content-Type", ""))
    if boundary is None:
        raise MalformedResponse("batch answer is not multipart/mixed with a boundary")
    by_index: dict[int, PartResult] = {}
    for chunk in response.content.split(b"--" + boundary.encode()):
        if not chunk.strip() or chunk.startswith(b"--"):
            continue
        outer, _, http = chunk.strip(b"\r\n").partition(b"\r\n\r\n")
        index = _content_index(outer)
        if index is None or index >= len(parts):
            continue
        result = _parse_part(parts[index], http, mailbox)
        if result is not None:
            by_index[index] = result
    results = []
    for index, part in enumerate(parts):
        result = by_index.get(index)
        if result is None:  # a part the server did not answer, or not readably: retry it
            problem = "batch part missing or unreadable"
            error = ApiError(502, problem, MALFORMED, part.method, mailbox)
            result = PartResult(part, 502, error=error)
        results.append(result)
    return results


def _boundary(content_type: str) -> str | None:
    if not content_type.lower().startswith("multipart/") or "boundary=" not in content_type:
        return None
    boundary = content_type.split("boundary=", 1)[1].split(";")[0].strip().strip('"')
    return boundary or None


def _parse_part(part: BatchPart, http: bytes, mailbox: str) -> PartResult | None:
    """One part's answer, or None when its status line or its 2xx JSON body is broken."""
    status_line, _, rest = http.partition(b"\r\n")
    fields = status_line.split()
    if len(fields) < 2 or not fields[0].startswith(b"HTTP/") or not fields[1].isdigit():
        return None
    status = int(fields[1])
    if not 100 <= status <= 599:
        return None
    head, _, body = rest.partition(b"\r\n\r\n")
    body = body.strip()
    if status < 400 and not body and part.http_method == "GET":
        return None  # a read always answers with a resource: this answer was cut short
    if status < 400 and body:
        try:
            data = loads(body)
        except ValueError:
            return None  # cut off mid-body: the part ran, its answer is lost
        if not isinstance(data, dict):
            return None
        return PartResult(part, status, data)
    return _result(part, status, _headers(head), body, mailbox)


def loads(body: bytes) -> Any:
    """``json.loads``, through msgspec's decoder (1.6x as fast on Gmail's messages).

    Whatever msgspec refuses (NaN, lone surrogates, a BOM, UTF-16) goes to ``json.loads``, so
    what is accepted and what it decodes to are exactly ``json.loads``'s.
    """
    try:
        return _FAST_DECODE(body)
    except msgspec.DecodeError:
        return json.loads(body)


def _content_index(outer: bytes) -> int | None:
    for line in outer.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-id":
            text = value.strip().strip(b"<>").decode("latin-1")
            _, _, number = text.rpartition("part-")
            return int(number) if number.isdigit() else None
    return None


def _headers(head: bytes) -> dict[str, str]:
    out = {}
    for line in head.decode("latin-1").split("\r\n"):
        name, sep, value = line.partition(":")
        if sep:
            out[name.strip()] = value.strip()
    return out


def _result(part: BatchPart, status: int, headers: dict, body: bytes, mailbox: str) -> PartResult:
    data = None
    if body:
        try:
            data = loads(body)
        except ValueError:
            data = None
    if status < 400:
        return PartResult(part, status, data)
    error = (data or {}).get("error", {}) if isinstance(data, dict) else {}
    message = error.get("message", "") if isinstance(error, dict) else str(error)
    reason = ""
    if isinstance(error, dict):
        reason = (error.get("errors") or [{}])[0].get("reason", "") or error.get("status", "")
    kind = HistoryExpired if (status == 404 and part.method == "history.list") else ApiError
    return PartResult(
        part,
        status,
        data,
        kind(status, message, reason, part.method, mailbox, retry_after_seconds(headers, message)),
    )
