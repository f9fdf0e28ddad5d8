"""compose(): one outbound-message record -> RFC 5322 bytes, parsed back to check each field."""

from __future__ import annotations

import base64
import email
import email.policy
import hashlib
import re
from datetime import datetime, timezone
from email.header import decode_header, make_header
from email.message import EmailMessage
from email.utils import format_datetime

import pytest

from target_gmail import compose as compose_module
from target_gmail.compose import (
    MAX_MESSAGE_BYTES,
    Composed,
    compose,
    content_hash,
    message_id_for,
)
from target_gmail.rejection import Rejected

MAILBOX = "me@example.com"
NOW = datetime(2024, 5, 6, 7, 8, 9, tzinfo=timezone.utc)


def record(**fields) -> dict:
    base = {"id": "key-1", "to": "alice@example.org", "subject": "Hello", "body": "Hi there\n"}
    base.update(fields)
    return {k: v for k, v in base.items() if v is not ...}


def build(**fields) -> tuple[Composed, EmailMessage]:
    composed = compose(record(**fields), MAILBOX, now=NOW)
    return composed, email.message_from_bytes(composed.raw, policy=email.policy.default)


def header_block(raw: bytes) -> str:
    return raw.split(b"\r\n\r\n", 1)[0].decode("ascii")


def unfolded_headers(raw: bytes) -> dict[str, str]:
    """Header values exactly as on the wire, with folding (CRLF before a space) removed."""
    unfolded = header_block(raw).replace("\r\n ", " ")
    return dict(line.split(": ", 1) for line in unfolded.split("\r\n"))


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def rejection(**fields) -> Rejected:
    with pytest.raises(Rejected) as info:
        compose(record(**fields), MAILBOX, now=NOW)
    return info.value


# --- round trip -------------------------------------------------------------------------


def test_plain_message_round_trips_headers_and_body():
    composed, msg = build(
        to=["Alice Smith <Alice@Example.org>", "bob@example.org"],
        cc=[{"email": "carol@example.net", "name": "Carol"}],
        bcc="dave@example.net, ALICE@example.org",
        reply_to=["replies@example.com"],
        thread_id="18f2a3b4c5d6e7f8",
    )
    assert msg["From"] == MAILBOX
    assert [(a.display_name, a.addr_spec) for a in msg["To"].addresses] == [
        ("Alice Smith", "Alice@Example.org"),
        ("", "bob@example.org"),
    ]
    assert [(a.display_name, a.addr_spec) for a in msg["Cc"].addresses] == [
        ("Carol", "carol@example.net")
    ]
    # Bcc stays in the raw message: Gmail strips it on delivery.
    assert [a.addr_spec for a in msg["Bcc"].addresses] == ["dave@example.net", "ALICE@example.org"]
    assert msg["Reply-To"].addresses[0].addr_spec == "replies@example.com"
    assert msg["Subject"] == "Hello"
    assert msg["Date"] == format_datetime(NOW)
    assert msg["Message-ID"] == message_id_for(MAILBOX, "key-1") == composed.message_id
    assert msg["MIME-Version"] == "1.0"
    assert "In-Reply-To" not in msg and "References" not in msg
    assert msg.get_content_type() == "text/plain"
    assert msg.get_content() == "Hi there\r\n"  # CRLF on the wire
    assert composed.recipients == (
        "alice@example.org",
        "bob@example.org",
        "carol@example.net",
        "dave@example.net",
    )
    assert composed.thread_id == "18f2a3b4c5d6e7f8"
    assert composed.size == len(composed.raw)


def test_raw_is_ascii_with_crlf_line_endings_and_short_header_lines():
    composed, _ = build(
        subject="Réunion de l'équipe produit — ordre du jour et suivi des actions " * 3,
        to=[f"user{i}@example.org" for i in range(30)],
        body="line one\nline two\r\nline three é\n",
    )
    raw = composed.raw
    assert raw.isascii()
    assert b"\n" not in raw.replace(b"\r\n", b"") and b"\r" not in raw.replace(b"\r\n", b"")
    assert all(len(line) <= 78 for line in header_block(raw).split("\r\n"))


def test_non_ascii_subject_and_display_name_are_rfc2047_encoded_and_round_trip():
    subject = "Grüße aus Köln — 日本語の件名 😀"
    composed, msg = build(subject=subject, to=["Zoë Ünïcode <zoe@example.org>"])
    headers = header_block(composed.raw)
    assert "=?utf-8?" in headers and "Grüße" not in headers
    assert msg["Subject"] == subject
    assert msg["To"].addresses[0].display_name == "Zoë Ünïcode"


def test_long_non_ascii_subject_keeps_every_space():
    # The email package's own folder drops the space between these words on Python 3.11.
    subject = ("Héllo wörld " * 8).strip()
    composed, msg = build(subject=subject)
    assert msg["Subject"] == subject
    raw_subject = unfolded_headers(composed.raw)["Subject"]
    assert str(make_header(decode_header(raw_subject))) == subject


def test_long_non_ascii_display_name_decodes_exactly():
    name = "Jean-François Müller de la Lüdenscheidt von und zu Großherzogtum Lëtzebuerg"
    composed, _ = build(to=[{"email": "jf@example.org", "name": name}])
    # email.header implements RFC 2047 6.2 (whitespace between encoded-words is ignored);
    # the newer policy parser does not for display names, so decode with the former.
    raw_to = unfolded_headers(composed.raw)["To"]
    assert str(make_header(decode_header(raw_to))) == f"{name} <jf@example.org>"


def test_address_string_forms():
    composed, msg = build(
        to='"Doe, John" <john@example.org>, jane@example.org,, "Q \\"T\\"" <q@example.org>',
        cc=["Plain Name <p@localhost>"],
    )
    assert [(a.display_name, a.addr_spec) for a in msg["To"].addresses] == [
        ("Doe, John", "john@example.org"),
        ("", "jane@example.org"),
        ('Q "T"', "q@example.org"),
    ]
    assert msg["Cc"].addresses[0].addr_spec == "p@localhost"
    assert composed.recipients[-1] == "p@localhost"


def test_internationalized_domain_is_sent_as_punycode():
    composed, msg = build(to="Jörg <joerg@bücher.example>")
    assert msg["To"].addresses[0].addr_spec == "joerg@xn--bcher-kva.example"
    assert composed.recipients == ("joerg@xn--bcher-kva.example",)


def test_only_cc_or_bcc_is_enough():
    composed, msg = build(to=None, bcc=["hidden@example.org"])
    assert composed.recipients == ("hidden@example.org",)
    assert "To" not in msg


def test_text_and_html_make_multipart_alternative():
    _, msg = build(body="plain é", body_html="<p>html é</p>")
    assert msg.get_content_type() == "multipart/alternative"
    parts = list(msg.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert parts[0].get_content().strip() == "plain é"
    assert parts[1].get_content().strip() == "<p>html é</p>"


def test_html_only_is_a_single_html_part():
    _, msg = build(body=None, body_html="<b>only</b>")
    assert msg.get_content_type() == "text/html"
    assert msg.get_content().strip() == "<b>only</b>"


def test_no_body_and_no_attachments_is_an_empty_text_part():
    _, msg = build(body=None, subject=None)
    assert msg.get_content_type() == "text/plain"
    assert msg.get_content().strip() == ""
    assert "Subject" not in msg


def test_attachments_make_multipart_mixed_with_bytes_intact():
    pdf = bytes(range(256)) * 10
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 2 + b"!"
    url_safe_unpadded = base64.urlsafe_b64encode(png).decode().rstrip("=")
    assert {"-", "_"} <= set(url_safe_unpadded) and len(url_safe_unpadded) % 4
    wrapped = "\n".join(re.findall(".{1,76}", b64(b"x" * 200)))
    _, msg = build(
        body="see attached",
        body_html="<p>see attached</p>",
        attachments=[
            {"filename": "résumé 2024 – final.pdf", "content_base64": b64(pdf)},
            {
                "filename": "chart.png",
                "mime_type": "image/png",
                "content_base64": url_safe_unpadded,
            },
            {"filename": "data.unknownext", "content_base64": wrapped},
            {"filename": "backup.tar.gz", "content_base64": b64(b"gz")},
        ],
    )
    assert msg.get_content_type() == "multipart/mixed"
    body, *files = list(msg.iter_parts())
    assert body.get_content_type() == "multipart/alternative"
    assert [f.get_filename() for f in files] == [
        "résumé 2024 – final.pdf",
        "chart.png",
        "data.unknownext",
        "backup.tar.gz",
    ]
    assert [f.get_content_type() for f in files] == [
        "application/pdf",
        "image/png",
        "application/octet-stream",
        "application/octet-stream",  # gzip bytes are not an application/x-tar
    ]
    assert [f.get_content() for f in files] == [pdf, png, b"x" * 200, b"gz"]


def test_attachment_without_body():
    _, msg = build(body=None, attachments=[{"filename": "a.txt", "content_base64": b64(b"A")}])
    assert msg.get_content_type() == "multipart/mixed"
    (part,) = list(msg.iter_parts())
    assert part.get_filename() == "a.txt" and part.get_content() == "A"
    assert part.get_content_type() == "text/plain"


def test_naive_now_is_taken_as_utc():
    composed = compose(record(), MAILBOX, now=datetime(2024, 5, 6, 7, 8, 9))
    msg = email.message_from_bytes(composed.raw, policy=email.policy.default)
    assert msg["Date"].datetime == NOW


# --- reply headers ----------------------------------------------------------------------

GMAIL_ID = "<CAKbuLTpiB6g9kBSnBuKVQ6WLuJF=sNdPrrMWCLJhOaEcb4jNzA-long-enough@mail.gmail.com>"


def test_in_reply_to_alone_also_sets_references():
    composed, msg = build(in_reply_to=GMAIL_ID, subject="Re: Hello")
    assert msg["In-Reply-To"] == GMAIL_ID
    assert msg["References"] == GMAIL_ID
    # Long msg-ids must go out verbatim, not RFC 2047-encoded (cpython gh-100991).
    lines = header_block(composed.raw).split("\r\n")
    assert f"In-Reply-To: {GMAIL_ID}" in lines
    assert f"References: {GMAIL_ID}" in lines


def test_references_list_and_string_forms():
    refs = ["<a@x.example>", "b@x.example", GMAIL_ID]
    composed, msg = build(in_reply_to="<c@x.example>", references=refs)
    assert msg["In-Reply-To"] == "<c@x.example>"
    assert msg["References"] == f"<a@x.example> <b@x.example> {GMAIL_ID}"
    assert "=?" not in header_block(composed.raw)
    _, msg = build(references="<a@x.example>  <b@x.example>")
    assert msg["References"] == "<a@x.example> <b@x.example>"
    assert "In-Reply-To" not in msg


# --- identity ---------------------------------------------------------------------------


def test_message_id_is_deterministic_and_scoped_to_mailbox_and_key():
    mid = message_id_for("Me@Example.COM", "key-1")
    digest = hashlib.sha256(b"me@example.com\x00key-1").hexdigest()[:40]
    assert mid == f"<tg.{digest}@example.com>"
    assert message_id_for("me@example.com", "key-1") == mid  # mailbox case does not matter
    assert message_id_for("Me@Example.COM", "key-1") == mid
    assert message_id_for("me@example.com", "key-2") != mid
    assert message_id_for("other@example.com", "key-1") != mid
    assert message_id_for("no-at-sign", "k").endswith("@target-gmail.invalid>")
    assert compose(record(), MAILBOX, now=NOW).message_id == message_id_for(MAILBOX, "key-1")
    later = compose(record(body="changed"), MAILBOX, now=datetime(2030, 1, 1, tzinfo=timezone.utc))
    assert later.message_id == message_id_for(MAILBOX, "key-1")


def test_content_hash_covers_content_fields_only():
    rec = record(labels=["INBOX"], attachments=[{"filename": "a", "content_base64": "QQ=="}])
    same = {**dict(reversed(list(rec.items()))), "id": "other", "mailbox": "x@y.example"}
    same["_sdc_received_at"] = "2024-01-01"
    assert content_hash(rec) == content_hash(same)
    assert re.fullmatch(r"[0-9a-f]{64}", content_hash(rec))
    assert content_hash(record(cc=None)) == content_hash(record())  # absent == null
    for change in (
        {"subject": "Hello!"},
        {"body": "Hi there"},
        {"to": "bob@example.org"},
        {"bcc": "x@example.org"},
        {"labels": ["INBOX", "Work"]},
        {"attachments": [{"filename": "a", "content_base64": "Qg=="}]},
        {"thread_id": "abc"},
        {"references": ["<a@b.example>"]},
    ):
        assert content_hash({**rec, **change}) != content_hash(rec), change


# --- rejections -------------------------------------------------------------------------


@pytest.mark.parametrize("key", [..., None, "", "   "])
def test_missing_id_is_rejected(key):
    error = rejection(id=key)
    assert (error.reason, error.field) == ("missing idempotency key `id`", "id")


def test_invalid_address_names_the_field_and_value():
    error = rejection(to=["ok@example.org", "bob@"])
    assert error.reason == "`to[1]`: 'bob@' is not a valid email address"
    assert error.field == "to[1]"


@pytest.mark.parametrize(
    "bad",
    [
        "bob@",
        "@example.org",
        "alice",
        "a b@example.org",
        "a@b@example.org",
        "alice@exa mple.org",
        "alice@-bad.example",
        "alice@example..org",
        ".alice@example.org",
        "Alice <alice@>",
        "<>",
        "Doe, John <john@example.org>",
    ],
)
def test_invalid_addresses_are_rejected(bad):
    error = rejection(cc=bad)
    assert error.field == "cc"
    assert "is not a valid email address" in error.reason


def test_invalid_address_object_names_the_email_key():
    error = rejection(to=[{"email": "not-an-address", "name": "X"}])
    assert error.field == "to[0].email"
    assert "'not-an-address'" in error.reason


@pytest.mark.parametrize(
    "fields", [{"to": None}, {"to": []}, {"to": "", "reply_to": "r@x.example"}]
)
def test_no_recipient_is_rejected(fields):
    error = rejection(**fields)
    assert error.reason == "no recipient: set `to`, `cc` or `bcc`"


INJECT = "\r\nBcc: evil@x.example"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"subject": "Subject" + INJECT}, "subject"),
        ({"subject": "Subject\nBcc: evil@x.example"}, "subject"),
        ({"to": "alice@example.org" + INJECT}, "to"),
        ({"to": ["alice@example.org", "Alice\r <a@example.org>"]}, "to[1]"),
        ({"cc": [{"email": "c@example.org", "name": "Carol" + INJECT}]}, "cc[0].name"),
        ({"bcc": [{"email": "c@example.org\n"}]}, "bcc[0].email"),
        ({"reply_to": "r@example.org\r"}, "reply_to"),
        ({"in_reply_to": "<a@x.example>" + INJECT}, "in_reply_to"),
        ({"references": ["<a@x.example>", "<b@x.example>\n"]}, "references[1]"),
        ({"thread_id": "abc\r\n"}, "thread_id"),
        (
            {"attachments": [{"filename": "a.txt" + INJECT, "content_base64": "QQ=="}]},
            "attachments[0].filename",
        ),
        (
            {
                "attachments": [
                    {"filename": "a", "mime_type": "text/plain\r\nX: y", "content_base64": ""}
                ]
            },
            "attachments[0].mime_type",
        ),
    ],
)
def test_line_breaks_in_header_values_are_rejected(fields, field):
    error = rejection(**fields)
    assert error.field == field
    assert error.reason == f"header injection: `{field}` contains a CR/LF line break"


def test_line_break_in_mailbox_is_rejected():
    with pytest.raises(Rejected) as info:
        compose(record(), "me@example.com\r\nBcc: evil@x.example", now=NOW)
    assert info.value.field == "mailbox"


def test_line_breaks_in_body_are_fine():
    _, msg = build(body="a\r\nBcc: not-a-header@x.example\r\n")
    assert "Bcc" not in msg
    assert "Bcc: not-a-header" in msg.get_content()


@pytest.mark.parametrize("content", ["not base64!", "QUJDR", "QQ==QQ==", "ÄÖÜ="])
def test_invalid_base64_is_rejected(content):
    error = rejection(attachments=[{"filename": "a.bin", "content_base64": content}])
    assert error.reason == "`attachments[0].content_base64` is not valid base64"
    assert error.field == "attachments[0].content_base64"


@pytest.mark.parametrize("mime", ["pdf", "text/", "/plain", "a/b c", "multipart/mixed"])
def test_malformed_mime_type_is_rejected(mime):
    error = rejection(attachments=[{"filename": "a", "mime_type": mime, "content_base64": ""}])
    assert error.field == "attachments[0].mime_type"
    assert repr(mime) in error.reason


@pytest.mark.parametrize("thread_id", ["abc def", "abc/def", "", 123])
def test_bad_thread_id_is_rejected(thread_id):
    assert rejection(thread_id=thread_id).field == "thread_id"


@pytest.mark.parametrize("in_reply_to", ["<>", "<a b@x>", "<ü@x.example>", "a<b@x.example>"])
def test_bad_message_id_is_rejected(in_reply_to):
    error = rejection(in_reply_to=in_reply_to)
    assert error.field == "in_reply_to"
    assert "is not a message id" in error.reason


def test_missing_attachment_filename_is_rejected():
    error = rejection(attachments=[{"content_base64": "QQ=="}])
    assert error.field == "attachments[0].filename"


# --- size -------------------------------------------------------------------------------


def test_oversize_attachment_is_rejected_before_building(monkeypatch):
    monkeypatch.setattr(compose_module, "MAX_MESSAGE_BYTES", 10_000)

    def no_build(*args, **kwargs):
        raise AssertionError("the message must not be built")

    monkeypatch.setattr(compose_module, "EmailMessage", no_build)
    error = rejection(attachments=[{"filename": "big.bin", "content_base64": b64(bytes(20_000))}])
    assert error.field == "attachments"
    assert error.reason.startswith("message would be at least ")
    assert error.reason.endswith("Gmail's send limit is 35 MB (10000 bytes)")


def test_oversize_message_is_rejected_on_its_real_size(monkeypatch):
    fits = compose(record(body="x" * 5_000), MAILBOX, now=NOW)
    monkeypatch.setattr(compose_module, "MAX_MESSAGE_BYTES", fits.size)
    assert compose(record(body="x" * 5_000), MAILBOX, now=NOW).raw == fits.raw  # at the limit
    monkeypatch.setattr(compose_module, "MAX_MESSAGE_BYTES", fits.size - 1)
    error = rejection(body="x" * 5_000)
    expected = f"message is {fits.size} bytes; Gmail's send limit is 35 MB ({fits.size - 1} bytes)"
    assert (error.reason, error.field) == (expected, "attachments")


def test_a_36_mb_attachment_is_over_the_real_limit():
    assert MAX_MESSAGE_BYTES == 35 * 1024 * 1024
    content = b64(bytes(36 * 1024 * 1024))
    error = rejection(attachments=[{"filename": "huge.bin", "content_base64": content}])
    assert error.field == "attachments"
    assert f"({MAX_MESSAGE_BYTES} bytes)" in error.reason
