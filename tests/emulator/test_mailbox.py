"""mailbox.py: the deterministic synthetic mailbox and the Takeout mbox loader."""

from __future__ import annotations

import collections
import inspect
import re

import pytest

from gmail_emulator import mime
from gmail_emulator.mailbox import (
    FIXED_NOW_MS,
    SPAN_MS,
    SeedMessage,
    load_mbox,
    synthetic_messages,
    takeout_labels,
)

USER = "pat.doe@example.com"
SYSTEM = {
    "INBOX", "SENT", "UNREAD", "STARRED", "IMPORTANT", "SPAM", "TRASH", "DRAFT",
    "CATEGORY_PERSONAL", "CATEGORY_SOCIAL", "CATEGORY_PROMOTIONS", "CATEGORY_UPDATES",
    "CATEGORY_FORUMS",
}  # fmt: skip


@pytest.fixture(scope="module")
def mailbox() -> list[SeedMessage]:
    return list(synthetic_messages(USER, 2000, seed=11))


@pytest.fixture(scope="module")
def parsed(mailbox) -> list[mime.ParsedMessage]:
    return [mime.parse_message(m.raw) for m in mailbox]


def test_same_seed_same_bytes_different_seed_different_bytes():
    first = list(synthetic_messages(USER, 300, seed=5))
    again = list(synthetic_messages(USER, 300, seed=5))
    assert [m.raw for m in first] == [m.raw for m in again]
    assert [m.label_ids for m in first] == [m.label_ids for m in again]
    assert [m.received_ms for m in first] == [m.received_ms for m in again]
    other_seed = list(synthetic_messages(USER, 300, seed=6))
    assert [m.raw for m in first] != [m.raw for m in other_seed]
    other_user = list(synthetic_messages("someone@example.org", 300, seed=5))
    assert first[0].raw != other_user[0].raw
    assert len(first) == 300 and list(synthetic_messages(USER, 0, seed=5)) == []


def test_chronological_within_two_years_of_the_clock(mailbox):
    times = [m.received_ms for m in mailbox]
    assert times == sorted(times) and len(set(times)) == len(times)
    assert times[0] >= FIXED_NOW_MS - SPAN_MS and times[-1] <= FIXED_NOW_MS
    assert times[-1] - times[0] > SPAN_MS * 0.95
    now = 1_800_000_000_000
    shifted = list(synthetic_messages(USER, 50, seed=11, now_ms=now))
    assert all(now - SPAN_MS <= m.received_ms <= now for m in shifted)


def test_every_message_parses_with_unique_ids_and_sane_dates(mailbox, parsed):
    ids = [p.header("Message-ID") for p in parsed]
    assert all(re.fullmatch(r"<[^<>@\s]+@[^<>@\s]+>", i) for i in ids)
    assert len(set(ids)) == len(ids)
    missing_date = 0
    for seed, p in zip(mailbox, parsed, strict=True):
        assert p.header("From") and p.header("To") and p.header("Subject") is not None
        assert p.snippet and isinstance(p.plain_text, str)
        sent_ms = mime.date_header_ms(p.header("Date"))
        if sent_ms is None:
            missing_date += 1
        else:  # the sender's clock runs slightly before Gmail's receive time
            assert 0 <= seed.received_ms - sent_ms < 120_000
    assert 0 < missing_date < len(mailbox) * 0.03


def test_a_realistic_share_are_replies_to_earlier_messages(parsed):
    seen: set[str] = set()
    replies = 0
    for p in parsed:
        parent = p.header("In-Reply-To")
        if parent:
            replies += 1
            assert parent in seen, "In-Reply-To must name an earlier message"
            references = p.header("References").split()
            assert references[-1] == parent and all(r in seen for r in references)
            assert p.header("Subject").startswith("Re: ")
        seen.add(p.header("Message-ID"))
    assert 0.25 <= replies / len(parsed) <= 0.45


def test_sent_and_received_labels(mailbox, parsed):
    received = unread = 0
    for seed, p in zip(mailbox, parsed, strict=True):
        labels = set(seed.label_ids)
        assert all(label in SYSTEM or not label.isupper() for label in labels), labels
        from_me = USER in p.header("From")
        if "SENT" in labels or "DRAFT" in labels:
            assert from_me and not labels & {"INBOX", "UNREAD", "SPAM"}
        else:
            assert not from_me
            received += 1
            unread += "UNREAD" in labels
        assert not {"INBOX", "TRASH"} <= labels and not {"INBOX", "SPAM"} <= labels
    counts = collections.Counter(label for m in mailbox for label in m.label_ids)
    assert 0.2 <= unread / received <= 0.45
    assert counts["INBOX"] > counts["SENT"] > counts["STARRED"] > 0
    for label in ("IMPORTANT", "SPAM", "TRASH", "Work", "Work/Projects", "Receipts", "Travel"):
        assert counts[label] > 0, label
    categories = [c for c in counts if c.startswith("CATEGORY_")]
    assert len(categories) == 5
    assert counts["SPAM"] < len(mailbox) * 0.05 and counts["TRASH"] < len(mailbox) * 0.05


def test_realistic_mix_of_structures_charsets_and_encodings(mailbox, parsed):
    raw_all = b"".join(m.raw for m in mailbox)
    for charset in (b"utf-8", b"iso-8859-1", b"windows-1252", b"koi8-r", b"iso-2022-jp"):
        assert b'charset="' + charset + b'"' in raw_all, charset
    for encoding in (b"quoted-printable", b"base64", b"8bit", b"7bit"):
        assert b"Content-Transfer-Encoding: " + encoding in raw_all, encoding
    subjects = [line for m in mailbox for line in m.raw.split(b"\r\n") if line[:9] == b"Subject: "]
    assert any(b"?b?" in s.lower() for s in subjects) and any(b"?q?" in s.lower() for s in subjects)
    top = collections.Counter(p.root.mime_type for p in parsed)
    assert {"text/plain", "multipart/alternative", "multipart/mixed"} <= set(top)
    with_files = [p for p in parsed if p.has_attachment]
    assert 0.05 < len(with_files) / len(parsed) < 0.4
    names = {n.rsplit(".", 1)[-1] for p in with_files for n in p.attachment_filenames}
    assert {"pdf", "png", "csv"} <= names
    decoded = {p.header("From") for p in parsed} | {p.header("Cc") or "" for p in parsed}
    joined = " ".join(decoded)
    for name in ("José Álvarez", "Müller, Jürgen", "李雷", "Ольга Петрова"):
        assert name in joined, name
    assert any("," in (p.header("To") or "") for p in parsed)
    assert any(mime.parse_message(m.raw).header("Cc") for m in mailbox)
    texts = " ".join(p.plain_text for p in parsed)
    for phrase in ("Отчёт", "reunión", "Grüße", "会議", "项目"):
        assert phrase.lower() in texts.lower(), phrase


MBOX = (
    b"From 1787654321098765432@xxx Tue Mar 05 14:23:11 +0000 2024\n"
    b"X-GM-THRID: 1787654321098765432\n"
    b'X-Gmail-Labels: Inbox,Unread,Important,Opened,Category Personal,"Clients, VIP",Work/Q1\n'
    b"From: Ann <ann@example.com>\nTo: pat.doe@example.com\nSubject: first\n"
    b"Date: Tue, 05 Mar 2024 14:20:00 +0000\n\nhello\n>From the archive\n\n"
    b"From 1787654321098765433@xxx Wed Mar 06 09:00:00 +0100 2024\n"
    b"X-Gmail-Labels: Sent,Archived,=?UTF-8?Q?R=C3=A9sum=C3=A9s?=,Starred\n"
    b"From: Pat <pat.doe@example.com>\nTo: ann@example.com\nSubject: second\n\nreply\n\n"
    b"From MAILER-DAEMON not-a-date\n"
    b"From: pat.doe@example.com\nTo: x@example.com\nSubject: third\n"
    b"Date: Thu, 07 Mar 2024 10:00:00 -0500\n\nplain mbox, no labels\n\n"
    b"From someone@example.com Sat Jan  3 01:05:34 1996\n"
    b"From: someone@example.com\nSubject: fourth\nX-Gmail-Labels: Spam,Chat,Trash\n\nx\n"
)


def test_load_mbox_maps_takeout_labels_and_keeps_bytes(tmp_path):
    path = tmp_path / "takeout.mbox"
    path.write_bytes(MBOX)
    loaded = list(load_mbox(str(path), USER))
    assert len(loaded) == 4
    first, second, third, fourth = loaded
    assert first.label_ids == ["INBOX", "UNREAD", "IMPORTANT", "CATEGORY_PERSONAL", "Clients, VIP",
                               "Work/Q1"]  # fmt: skip
    assert first.received_ms == 1709648591000  # the From_ line, not the Date header
    assert first.raw.startswith(b"X-GM-THRID: 1787654321098765432\n")
    assert first.raw.endswith(b"hello\n>From the archive\n")
    assert mime.parse_message(first.raw).header("Subject") == "first"
    assert second.label_ids == ["SENT", "Résumés", "STARRED"]  # read: no Unread label
    assert second.received_ms == 1709712000000
    assert third.label_ids == ["SENT"]  # no X-Gmail-Labels: filed by direction
    assert third.received_ms == 1709823600000  # unparseable From_ line: the Date header
    assert fourth.label_ids == ["SPAM", "TRASH"] and fourth.received_ms == 820631134000


def test_load_mbox_is_lazy_and_date_falls_back_to_zero(tmp_path):
    path = tmp_path / "plain.mbox"
    path.write_bytes(b"From nobody\nFrom: a@example.com\nSubject: no dates\n\nbody\n")
    iterator = load_mbox(str(path), USER)
    assert inspect.isgenerator(iterator)  # streamed, one message at a time
    (only,) = list(iterator)
    assert only.label_ids == ["INBOX"] and only.received_ms == 0


def test_takeout_label_names():
    assert takeout_labels("Inbox,Drafts,Category Forums,category promotions,Opened") == [
        "INBOX",
        "DRAFT",
        "CATEGORY_FORUMS",
        "CATEGORY_PROMOTIONS",
    ]
    assert takeout_labels('Archived,"A, B",Inbox,Inbox') == ["A, B", "INBOX"]
