"""Shared rendering for handlers: Message JSON in each format, raw decoding, page tokens."""

from __future__ import annotations

import base64
import binascii

from .. import errors, mime
from ..models import Mailbox, Message


def message_json(
    mailbox: Mailbox, message: Message, fmt: str = "full", metadata_headers=None
) -> dict:
    out: dict = {"id": message.id, "threadId": message.thread_id}
    if message.label_ids:
        out["labelIds"] = sorted(message.label_ids)
    parsed = message.parsed
    out["snippet"] = parsed.snippet
    if fmt in ("full", "metadata"):
        out["payload"] = mime.render_payload(parsed, message.id, fmt, metadata_headers or None)
    out["sizeEstimate"] = parsed.size_estimate
    out["historyId"] = str(message.history_id)
    out["internalDate"] = str(message.internal_date_ms)
    if fmt == "raw":
        out["raw"] = base64.urlsafe_b64encode(message.raw).decode("ascii")
    return out


def minimal_ref(message: Message) -> dict:
    """What modify/trash/insert return: id, threadId and labels only."""
    out: dict = {"id": message.id, "threadId": message.thread_id}
    if message.label_ids:
        out["labelIds"] = sorted(message.label_ids)
    return out


def decode_raw(value: object) -> bytes:
    """Decode Gmail's ``raw`` field: base64url, padding optional (standard alphabet tolerated)."""
    if not isinstance(value, str) or not value:
        raise errors.bad_request(
            "'raw' RFC822 payload message string or uploading message via /upload/* URL required"
        )
    text = value.strip().replace("+", "-").replace("/", "_")
    text += "=" * (-len(text) % 4)
    try:
        return base64.urlsafe_b64decode(text)
    except (binascii.Error, ValueError):
        raise errors.bad_request("Invalid value for ByteString: raw") from None


def message_bytes(call) -> bytes:
    """The RFC 822 bytes of a send/insert/import call, from media upload or ``raw``."""
    if call.media is not None:
        if not call.media.strip():
            raise errors.bad_request("Media upload is empty.")
        return call.media
    return decode_raw(call.body.get("raw"))


def encode_key(key: tuple[int, int]) -> str:
    return base64.urlsafe_b64encode(f"{key[0]}:{key[1]}".encode()).decode().rstrip("=")


def decode_key(token: str | None) -> tuple[int, int] | None:
    if not token:
        return None
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        first, second = text.split(":")
        return int(first), int(second)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise errors.bad_request("Invalid pageToken") from None


def check_label_ids(mailbox: Mailbox, label_ids: list) -> list[str]:
    if not isinstance(label_ids, list) or not all(isinstance(x, str) for x in label_ids):
        raise errors.bad_request("Invalid label list")
    mailbox.labels.check_modifiable(label_ids)
    return label_ids
