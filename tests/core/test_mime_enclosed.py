"""Enclosed messages: a message whose own parts hold no text takes the enclosed message's.

Full format: Gmail nests the enclosed message's parts under the message/rfc822 part. Raw
format: the same message as bytes, parsed by ``email``. Both must give the same bodies."""

from __future__ import annotations

import pytest

from gmail_core.cpcal import normalize_message
from tests.core.test_cpcal import BOX, b64, check, container, hdrs, leaf, message

INNER_HEADERS = hdrs(subject="Original", from_="Ann <ann@example.com>")
OUTER = hdrs(subject="Fwd: Original", from_="Bob <bob@example.com>")


def rfc822(part_id: str, inner: dict, filename: str = "", **body) -> dict:
    return {"partId": part_id, "mimeType": "message/rfc822", "filename": filename,
            "headers": [{"name": "Content-Type", "value": "message/rfc822"}],
            "body": {"size": 321, **body}, "parts": [inner]}  # fmt: skip


def inner_alternative(prefix: str, text: str = "inner text") -> dict:
    pre = f"{prefix}." if prefix else ""
    alt = container(prefix, "multipart/alternative", [
        leaf(f"{pre}0", "text/plain", text.encode(), "utf-8"),
        leaf(f"{pre}1", "text/html", f"<p>{text}</p>".encode(), "utf-8"),
    ])  # fmt: skip
    alt["headers"] = INNER_HEADERS + alt["headers"]
    return alt


INNER_RAW = (
    "From: Ann <ann@example.com>\r\nSubject: Original\r\n"
    'Content-Type: multipart/alternative; boundary="in"\r\n\r\n'
    "--in\r\nContent-Type: text/plain; charset=utf-8\r\n\r\ninner text\r\n"
    "--in\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>inner text</p>\r\n--in--\r\n"
)


def raw_record(ctype: str, body: str) -> dict:
    raw = "From: Bob <bob@example.com>\r\nSubject: Fwd: Original\r\nMIME-Version: 1.0\r\n"
    raw += f"Content-Type: {ctype}\r\n\r\n{body}"
    return check(normalize_message(message(raw=b64(raw.encode())), BOX, {}))


def full_record(payload: dict) -> dict:
    msg = message({**payload, "headers": OUTER + payload["headers"]})
    return check(normalize_message(msg, BOX, {}))


def test_top_level_message_rfc822_full_and_raw():
    full = full_record(rfc822("", inner_alternative("0")))
    raw = raw_record("message/rfc822", INNER_RAW)
    for rec in (full, raw):
        assert rec["subject"] == "Fwd: Original"  # the outer message's headers
        assert rec["body_text"] == rec["body"] == "inner text"
        assert rec["body_html"] == "<p>inner text</p>"
        assert [a["mime_type"] for a in rec["attachments"]] == ["message/rfc822"]


def test_multipart_digest_full_and_raw():
    digest = container("", "multipart/digest", [
        rfc822("0", inner_alternative("0.0", "first")),
        rfc822("1", inner_alternative("1.0", "second")),
    ])  # fmt: skip
    full = full_record(digest)
    second = INNER_RAW.replace("inner text", "second")
    raw = raw_record(
        'multipart/digest; boundary="d"',
        # digest parts default to message/rfc822, so the first carries no Content-Type
        f"--d\r\n\r\n{INNER_RAW.replace('inner text', 'first')}\r\n"
        f"--d\r\nContent-Type: message/rfc822\r\n\r\n{second}\r\n--d--\r\n",
    )
    for rec in (full, raw):
        assert rec["body_text"] == "first" and rec["body_html"] == "<p>first</p>"
        assert [a["part_id"] for a in rec["attachments"]] == ["0", "1"]


def test_forward_as_attachment_is_the_only_content_full_and_raw():
    forwarded = rfc822("0", inner_alternative("0.0"), "fwd.eml", attachmentId="ANG0")
    mixed = container("", "multipart/mixed", [forwarded])
    full = full_record(mixed)
    raw = raw_record(
        'multipart/mixed; boundary="m"',
        "--m\r\nContent-Type: message/rfc822\r\n"
        'Content-Disposition: attachment; filename="fwd.eml"\r\n\r\n'
        f"{INNER_RAW}\r\n--m--\r\n",
    )
    for rec in (full, raw):
        assert rec["body_text"] == "inner text"
        assert [(a["part_id"], a["filename"]) for a in rec["attachments"]] == [("0", "fwd.eml")]
    assert full["attachments"][0]["attachment_id"] == "ANG0"


def test_own_text_wins_over_the_enclosed_message():
    mixed = container("", "multipart/mixed", [
        leaf("0", "text/plain", b"see below", "utf-8"),
        rfc822("1", inner_alternative("1.0")),
    ])  # fmt: skip
    rec = full_record(mixed)
    assert rec["body_text"] == "see below" and rec["body_html"] is None
    raw = raw_record(
        'multipart/mixed; boundary="m"',
        "--m\r\nContent-Type: text/plain\r\n\r\nsee below\r\n"
        f"--m\r\nContent-Type: message/rfc822\r\n\r\n{INNER_RAW}\r\n--m--\r\n",
    )
    assert raw["body_text"] == "see below" and raw["body_html"] is None


def test_attachments_inside_the_enclosed_message_are_not_listed():
    inner = container("0", "multipart/mixed", [
        leaf("0.0", "text/plain", b"inner", "utf-8"),
        leaf("0.1", "application/pdf", None, filename="inner.pdf", attachmentId="ANGx"),
    ])  # fmt: skip
    rec = full_record(rfc822("", inner))
    assert rec["body_text"] == "inner"
    assert [a["mime_type"] for a in rec["attachments"]] == ["message/rfc822"]


@pytest.mark.parametrize("parts", [None, []])
def test_enclosed_message_without_nested_parts_leaves_body_empty(parts):
    part = rfc822("0", {}, "fwd.eml", attachmentId="ANG0")
    part["parts"] = parts
    rec = full_record(container("", "multipart/mixed", [part]))
    assert rec["body_text"] is None and rec["body_html"] is None
    assert rec["attachments"][0]["attachment_id"] == "ANG0"


def test_html_only_enclosed_message_gives_derived_text():
    inner = leaf("0", "text/html", b"<table><tr><td>a</td><td>b</td></tr></table>", "utf-8")
    rec = full_record(rfc822("", inner))
    assert rec["body_text"] == "a\tb" and rec["body_html"].startswith("<table>")
