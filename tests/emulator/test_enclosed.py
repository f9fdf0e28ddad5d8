"""Enclosed messages (message/rfc822 parts) in format=full: Gmail nests the enclosed message.

The message/rfc822 part stays an attachment (``body.attachmentId``, ``body.size`` = the
enclosed message's bytes) and gets one child, ``<partId>.0``: the enclosed message's top part,
whose headers are the enclosed message's headers, with its own parts below it.
"""

from __future__ import annotations

import base64

import pytest

from gmail_core.cpcal import normalize_message
from gmail_emulator import mime
from tests.conftest import Api

pytestmark = pytest.mark.timeout(120)

INNER = (
    b"From: Ann <ann@example.com>\r\n"
    b"Subject: =?utf-8?q?Caf=C3=A9_plans?=\r\n"
    b"Message-ID: <inner@example.com>\r\n"
    b'Content-Type: multipart/mixed; boundary="in"\r\n'
    b"\r\n"
    b"--in\r\n"
    b'Content-Type: multipart/alternative; boundary="alt"\r\n'
    b"\r\n"
    b"--alt\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nthe enclosed text\r\n"
    b"--alt\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>the enclosed text</p>\r\n"
    b"--alt--\r\n"
    b"--in\r\n"
    b'Content-Type: text/csv; name="numbers.csv"\r\n'
    b'Content-Disposition: attachment; filename="numbers.csv"\r\n'
    b"Content-Transfer-Encoding: base64\r\n"
    b"\r\n"
    b"YSxiCjEsMgo=\r\n"
    b"--in--\r\n"
)

FORWARD = (
    b"From: Bob <bob@example.com>\r\n"
    b"To: alice@example.com\r\n"
    b"Subject: Fwd: Cafe plans\r\n"
    b"MIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="out"\r\n'
    b"\r\n"
    b"--out\r\n"
    b"Content-Type: message/rfc822\r\n"
    b'Content-Disposition: attachment; filename="Cafe plans.eml"\r\n'
    b"\r\n" + INNER + b"--out--\r\n"
)


def _data(body: dict) -> bytes:
    return base64.urlsafe_b64decode(body["data"])


def _full(raw: bytes, message_id: str = "18e0a1b2c3d4e5f6") -> dict:
    return mime.render_payload(mime.parse_message(raw), message_id, "full")


def test_forwarded_message_is_nested_under_its_part():
    payload = _full(FORWARD)
    [forwarded] = payload["parts"]
    assert forwarded["partId"] == "0" and forwarded["mimeType"] == "message/rfc822"
    assert forwarded["filename"] == "Cafe plans.eml"
    assert set(forwarded["body"]) == {"attachmentId", "size"}
    enclosed_bytes = INNER  # the chunk's line break before the delimiter is the delimiter's
    assert forwarded["body"]["size"] == len(enclosed_bytes.rstrip(b"\r\n"))
    [top] = forwarded["parts"]
    assert top["partId"] == "0.0" and top["mimeType"] == "multipart/mixed"
    assert top["filename"] == "" and top["body"] == {"size": 0}
    headers = {h["name"]: h["value"] for h in top["headers"]}
    assert headers["Subject"] == "Café plans" and headers["From"] == "Ann <ann@example.com>"
    alternative, csv = top["parts"]
    assert [p["partId"] for p in alternative["parts"]] == ["0.0.0.0", "0.0.0.1"]
    assert _data(alternative["parts"][0]["body"]) == b"the enclosed text"
    assert csv["partId"] == "0.0.1" and csv["filename"] == "numbers.csv"
    assert set(csv["body"]) == {"attachmentId", "size"} and csv["body"]["size"] == 8


def test_attachments_inside_and_of_the_enclosed_message_can_be_fetched():
    parsed = mime.parse_message(FORWARD)
    payload = mime.render_payload(parsed, "m1", "full")
    forwarded = payload["parts"][0]
    csv = forwarded["parts"][0]["parts"][1]
    got = mime.get_attachment(parsed, "m1", csv["body"]["attachmentId"])
    assert base64.urlsafe_b64decode(got["data"]) == b"a,b\n1,2\n"
    whole = mime.get_attachment(parsed, "m1", forwarded["body"]["attachmentId"])
    assert base64.urlsafe_b64decode(whole["data"]).startswith(b"From: Ann <ann@example.com>")
    assert whole["size"] == forwarded["body"]["size"]


def test_own_text_attachments_and_snippet_ignore_the_enclosed_message():
    parsed = mime.parse_message(FORWARD)
    assert parsed.attachment_filenames == ["Cafe plans.eml"]  # not numbers.csv
    assert parsed.has_attachment and parsed.snippet == ""
    assert "the enclosed text" not in parsed.plain_text


def test_top_level_rfc822_and_digest_parts_nest_too():
    top = _full(b"Subject: Fwd\r\nContent-Type: message/rfc822\r\n\r\n" + INNER)
    assert top["partId"] == "" and top["parts"][0]["partId"] == "0"
    assert top["parts"][0]["mimeType"] == "multipart/mixed"
    digest = _full(
        b'Subject: Digest\r\nContent-Type: multipart/digest; boundary="d"\r\n\r\n'
        b"--d\r\n\r\nSubject: one\r\n\r\nfirst\r\n"
        b"--d\r\n\r\nSubject: two\r\n\r\nsecond\r\n--d--\r\n"
    )
    for index, (part, text) in enumerate(zip(digest["parts"], (b"first", b"second"), strict=True)):
        assert part["mimeType"] == "message/rfc822"  # a digest's default part type
        [inner] = part["parts"]
        assert inner["partId"] == f"{index}.0" and inner["mimeType"] == "text/plain"
        assert _data(inner["body"]) == text


def test_an_empty_enclosed_message_has_no_parts():
    payload = _full(
        b'Content-Type: multipart/mixed; boundary="o"\r\n\r\n--o\r\n'
        b"Content-Type: message/rfc822\r\n\r\n\r\n--o--\r\n"
    )
    assert "parts" not in payload["parts"][0]


def test_nesting_stops_at_the_depth_limit():
    raw = b"Subject: bottom\r\n\r\nbottom text\r\n"
    for level in range(200):
        raw = f"Subject: level {level}\r\nContent-Type: message/rfc822\r\n\r\n".encode() + raw
    payload = _full(raw)
    depth, part = 0, payload
    while "parts" in part:
        [part] = part["parts"]
        depth += 1
    assert depth == mime._MAX_DEPTH
    assert part["mimeType"] == "message/rfc822" and "attachmentId" in part["body"]


def test_normalize_message_takes_the_enclosed_text_in_full_and_raw(alice: Api):
    inserted = alice.ok(
        "POST",
        "/messages",
        json={"raw": base64.urlsafe_b64encode(FORWARD).decode(), "labelIds": ["INBOX"]},
    )
    records = {}
    for fmt in ("full", "raw"):
        message = alice.ok("GET", f"/messages/{inserted['id']}", params={"format": fmt})
        records[fmt] = normalize_message(message, "alice@example.com", {})
    full, raw = records["full"], records["raw"]
    assert full["body"] == full["body_text"] == "the enclosed text"
    assert full["body_html"] == "<p>the enclosed text</p>"
    assert full["subject"] == "Fwd: Cafe plans"  # the outer message's headers
    for key in ("body", "body_text", "body_html", "subject"):
        assert full[key] == raw[key], key
    [attachment] = full["attachments"]  # the enclosed message; its csv belongs to it
    assert attachment["mime_type"] == "message/rfc822" and attachment["part_id"] == "0"
    assert attachment["filename"] == "Cafe plans.eml" and attachment["attachment_id"]
    assert [a["part_id"] for a in raw["attachments"]] == ["0"]
