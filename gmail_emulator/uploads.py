"""Request bodies: JSON, and Google's media upload protocols (``uploadType=media|multipart``).

Gmail accepts a message either as JSON ``{"raw": base64url}`` or as ``message/rfc822`` bytes
posted to the ``/upload/`` twin of the method's path; google-api-python-client uses the latter
whenever a ``media_body`` is given.
"""

from __future__ import annotations

import json

from . import errors, multipart

# Gmail's limit on an uploaded message (the documented 35 MB, counted after decoding).
MAX_UPLOAD_BYTES = 35 * 1024 * 1024


def parse_body(route, request) -> tuple[dict, bytes | None]:
    if not route.has_body:
        return {}, None
    if request.path.startswith("/upload/"):
        return _upload(request)
    return _json(request.body), None


def _json(raw: bytes) -> dict:
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise errors.bad_request(
            "Invalid JSON payload received. Unexpected token.", reason="parseError"
        ) from None
    if not isinstance(body, dict):
        raise errors.bad_request("Invalid JSON payload received. Expected an object.")
    return body


def _upload(request) -> tuple[dict, bytes | None]:
    upload_type = (request.query.get("uploadType") or [""])[-1]
    if len(request.body) > MAX_UPLOAD_BYTES + 1024 * 1024:
        raise errors.GmailError(
            413,
            "Request payload size exceeds the limit: 36700160 bytes.",
            "uploadTooLarge",
            "FAILED_PRECONDITION",
        )
    if upload_type == "media":
        return {}, request.body
    if upload_type == "multipart":
        return _multipart(request)
    if upload_type == "resumable":
        raise errors.bad_request("Resumable uploads are not supported by the emulator.")
    raise errors.bad_request("Invalid upload type. uploadType must be media or multipart.")


def _multipart(request) -> tuple[dict, bytes | None]:
    boundary = multipart.boundary_of(request.headers.get("content-type", ""), "multipart/related")
    parts = multipart.split(request.body, boundary)
    if not parts:
        raise errors.bad_request("Multipart upload has no parts.")
    return _json(parts[0][1]), (parts[1][1] if len(parts) > 1 else None)
