"""Tests for the Gmail search language (``q``) compiler in gmail_emulator.search.

The module is a pure function of (query, message-like object), so small fakes stand in
for stored messages; the fake's ``parsed`` can be made to explode to prove laziness.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone

import pytest

from gmail_emulator import mime
from gmail_emulator.errors import GmailError
from gmail_emulator.search import compile_query, label_name_variants
from gmail_emulator.search_lexer import tokenize

OWNER = "owner@example.com"
DAY_MS = 86_400_000
NOW_MS = int(datetime(2024, 6, 15, 12, tzinfo=timezone.utc).timestamp() * 1000)

USER_LABELS = {
    "Label_1": "Work/Projects",
    "Label_2": "Receipts",
    "Label_3": "my label",
    "Label_4": "Clients/Big Co",
    "Label_5": "snake_case",
}
SYSTEM = {"INBOX", "SENT", "UNREAD", "STARRED", "IMPORTANT", "SPAM", "TRASH", "DRAFT"} | {
    f"CATEGORY_{c}" for c in ("PERSONAL", "SOCIAL", "PROMOTIONS", "UPDATES", "FORUMS")
}


def resolve_label(typed: str) -> str | None:
    """Mimics labels.resolve: ids, system ids and names, case-insensitively."""
    if typed in USER_LABELS:
        return typed
    if typed.upper() in SYSTEM:
        return typed.upper()
    for label_id, name in USER_LABELS.items():
        if name.lower() == typed.strip().lower():
            return label_id
    return None


@dataclass
class FakeParsed:
    headers: dict[str, list[str]]
    plain_text: str = ""
    attachment_filenames: list[str] = field(default_factory=list)
    size_estimate: int = 2_000

    @property
    def has_attachment(self) -> bool:
        return bool(self.attachment_filenames)

    def header_all(self, name: str) -> list[str]:
        return [v for k, vals in self.headers.items() if k.lower() == name.lower() for v in vals]

    def header(self, name: str) -> str | None:
        values = self.header_all(name)
        return values[0] if values else None


@dataclass
class FakeMsg:
    label_ids: set[str]
    internal_date_ms: int
    body: FakeParsed | None
    parsed_reads: int = 0

    @property
    def parsed(self) -> FakeParsed:
        self.parsed_reads += 1
        if self.body is None:
            raise AssertionError("msg.parsed was touched by a query that should not need it")
        return self.body


def make(
    *,
    labels=("INBOX",),
    date="2024/05/01",
    subject="Quarterly report",
    frm='"Alice Smith" <alice@example.com>',
    to="Bob Jones <bob@corp.example>",
    cc=None,
    bcc=None,
    body="Please find the numbers attached.",
    files=(),
    size=2_000,
    extra=None,
) -> FakeMsg:
    headers = {"Subject": [subject], "From": [frm], "To": [to]}
    if cc:
        headers["Cc"] = [cc]
    if bcc:
        headers["Bcc"] = [bcc]
    headers.update(extra or {})
    ts = int(datetime.strptime(date, "%Y/%m/%d").replace(tzinfo=timezone.utc).timestamp())
    parsed = FakeParsed(headers, body, list(files), size)
    return FakeMsg(set(labels), ts * 1000, parsed)


def compile_(q: str, **kw):
    kw.setdefault("user_email", OWNER)
    return compile_query(q, resolve_label=resolve_label, now_ms=NOW_MS, **kw)


def hit(q: str, msg: FakeMsg, **kw) -> bool:
    return compile_(q, **kw).matches(msg)


def bad(q: str) -> GmailError:
    with pytest.raises(GmailError) as info:
        compile_(q)
    assert info.value.code == 400
    assert info.value.status == "INVALID_ARGUMENT"
    return info.value


# --- free text -----------------------------------------------------------------------------


@pytest.mark.parametrize("q", ["", "   ", "\t\n"])
def test_empty_query_matches_everything(q):
    compiled = compile_(q)
    assert compiled.matches(make())
    assert compiled.matches(FakeMsg({"SPAM"}, 0, None))
    assert not compiled.includes_spam_trash


@pytest.mark.parametrize(
    "q",
    ["quarterly", "QUARTERLY", "numbers", "alice", "smith", "bob", "jones", "corp.example"],
)
def test_plain_word_matches_subject_body_and_address_headers(q):
    assert hit(q, make())


def test_plain_words_are_whole_words_not_substrings():
    assert not hit("quarter", make())
    assert not hit("number", make())


def test_plain_word_matches_cc_but_not_bcc():
    msg = make(cc="Carol <carol@example.org>", bcc="dave@example.net")
    assert hit("carol", msg)
    assert not hit("dave", msg)


def test_multiple_terms_are_anded():
    assert hit("quarterly numbers", make())
    assert not hit("quarterly pineapple", make())


def test_quoted_phrase_requires_consecutive_words():
    msg = make(body="Hello, World! Goodbye world.")
    assert hit('"hello world"', msg)
    assert hit('"HELLO, world"', msg)
    assert not hit('"world hello"', msg)
    assert not hit('"hello goodbye"', msg)


def test_phrase_does_not_span_fields():
    msg = make(subject="alpha", body="beta")
    assert hit("alpha beta", msg)
    assert not hit('"alpha beta"', msg)


def test_colon_inside_quotes_or_non_identifier_is_plain_text():
    msg = make(body="Meeting at 10:30, see https://example.com/x or mail foo@bar.com")
    assert hit('"at 10:30"', msg)
    assert hit("10:30", msg)
    assert hit("foo@bar.com", msg)
    assert hit("https://example.com/x", msg)
    assert hit('"list:stuff"', make(body="the list:stuff tag"))


def test_plus_prefix_is_an_exact_word():
    assert hit("+quarterly", make())
    assert not hit("+quarter", make())


def test_hyphen_inside_word_is_not_negation():
    assert hit("e-mail", make(body="send an e-mail"))
    assert not hit("e-mail", make(body="send an email"))


# --- boolean structure ---------------------------------------------------------------------


def test_negation():
    assert not hit("-quarterly", make())
    assert hit("-pineapple", make())
    assert hit("quarterly -pineapple", make())
    assert not hit('-"quarterly report"', make())


def test_or_and_precedence():
    msg = make()
    assert hit("pineapple OR quarterly", msg)
    assert not hit("pineapple OR mango", msg)
    # Gmail: OR binds tighter than the implicit AND.
    assert hit("alice pineapple OR quarterly", msg)
    assert not hit("mango pineapple OR quarterly", msg)
    assert hit("mango OR pineapple OR quarterly", msg)


def test_lowercase_or_is_a_word():
    assert not hit("pineapple or quarterly", make())
    assert hit("or", make(body="this or that"))


def test_explicit_and_is_accepted():
    assert hit("quarterly AND numbers", make())
    assert not hit("quarterly AND pineapple", make())


def test_parentheses_group():
    msg = make()
    assert hit("(pineapple OR quarterly) alice", msg)
    assert not hit("-(quarterly alice)", msg)
    assert hit("-(quarterly pineapple)", msg)
    assert hit("((quarterly))", msg)
    assert hit("(pineapple OR mango) OR (alice bob)", msg)


def test_braces_mean_any_of():
    msg = make()
    assert hit("{pineapple quarterly}", msg)
    assert not hit("{pineapple mango}", msg)
    assert not hit("-{pineapple quarterly}", msg)
    assert hit("-{pineapple mango}", msg)
    assert hit("{from:nobody subject:quarterly}", msg)


@pytest.mark.parametrize(
    "q", ["(quarterly", "quarterly)", "{a b", "a}", "(a}", '"unterminated', "a OR", "OR a"]
)
def test_malformed_structure_is_400(q):
    bad(q)


def test_around_is_unsupported():
    assert "AROUND" in bad("alpha AROUND 5 beta").message


# --- address operators ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "q",
    ["from:alice", "from:ALICE@example.com", "from:example.com", 'from:"alice smith"', "from:smi"],
)
def test_from_substring_on_address_or_name(q):
    assert hit(q, make())


def test_from_does_not_match_other_headers():
    assert not hit("from:bob", make())
    assert hit("to:bob", make())
    assert hit("to:corp", make())
    assert not hit("to:alice", make())


def test_cc_and_bcc():
    msg = make(cc="Carol <carol@example.org>", bcc="Dave <dave@example.net>")
    assert hit("cc:carol", msg)
    assert hit("bcc:dave", msg)
    assert not hit("cc:dave", msg)
    assert not hit("bcc:carol", make())


def test_from_group_and_braces():
    msg = make()
    assert hit("from:(alice smith)", msg)
    assert not hit("from:(alice bob)", msg)
    assert hit("from:{bob alice}", msg)
    assert hit("from:(bob OR alice)", msg)


def test_from_me_and_to_me_use_owner_address():
    sent = make(labels={"SENT"}, frm=f"Owner <{OWNER.upper()}>", to="x@y.z")
    received = make(to=f"Me <{OWNER}>")
    assert hit("from:me", sent)
    assert not hit("from:me", received)
    assert hit("to:me", received)
    assert not hit("to:me", sent)
    assert hit("-from:me", received)


def test_me_is_exact_address_not_substring():
    assert not hit("to:me", make(to="Some One <someone@example.com>"))


def test_from_me_without_owner_falls_back_to_sent_label():
    sent = FakeMsg({"SENT"}, 0, None)
    assert compile_query("from:me", resolve_label=resolve_label, now_ms=NOW_MS).matches(sent)
    inbox = FakeMsg({"INBOX"}, 0, None)
    assert not compile_query("from:me", resolve_label=resolve_label, now_ms=NOW_MS).matches(inbox)


def test_deliveredto():
    msg = make(extra={"Delivered-To": ["archive@example.com"]})
    assert hit("deliveredto:archive@example.com", msg)
    assert hit("deliveredto:bob@corp.example", msg)
    assert not hit("deliveredto:nobody", msg)


# --- subject -------------------------------------------------------------------------------


def test_subject():
    msg = make(subject="Dinner and a movie tonight")
    assert hit("subject:dinner", msg)
    assert hit('subject:"a movie"', msg)
    assert hit("subject:(movie dinner)", msg)
    assert not hit("subject:(movie lunch)", msg)
    assert hit("subject:{lunch movie}", msg)
    assert not hit("subject:numbers", make())  # body only
    assert not hit("subject:din", msg)


# --- labels and system state ---------------------------------------------------------------


def test_label_by_name_and_id_case_insensitive():
    msg = make(labels={"INBOX", "Label_2"})
    assert hit("label:receipts", msg)
    assert hit("label:RECEIPTS", msg)
    assert hit("label:Label_2", msg)
    assert not hit("label:receipts", make())


@pytest.mark.parametrize(
    "q, label",
    [
        ("label:work-projects", "Label_1"),
        ("label:Work/Projects", "Label_1"),
        ("label:my-label", "Label_3"),
        ('label:"my label"', "Label_3"),
        ("label:clients-big-co", "Label_4"),
        ("label:snake_case", "Label_5"),
        ("label:snake-case", "Label_5"),
    ],
)
def test_label_name_variants(q, label):
    assert hit(q, make(labels={label}))


def test_label_variants_generator():
    variants = list(label_name_variants("a-b_c"))
    assert variants[0] == "a-b_c"
    assert {"a/b_c", "a b_c", "a/b/c", "a b c", "a-b c"} <= set(variants)
    assert len(variants) == len(set(variants))


def test_unknown_label_matches_nothing_not_error():
    compiled = compile_("label:nonexistent")
    assert not compiled.matches(make())
    assert compile_("-label:nonexistent").matches(make())


def test_system_labels_via_label_operator():
    assert hit("label:unread", make(labels={"UNREAD"}))
    assert hit("label:inbox", make())


@pytest.mark.parametrize(
    "q, label",
    [
        ("in:inbox", "INBOX"),
        ("in:sent", "SENT"),
        ("in:trash", "TRASH"),
        ("in:spam", "SPAM"),
        ("in:drafts", "DRAFT"),
        ("in:starred", "STARRED"),
        ("in:important", "IMPORTANT"),
        ("is:unread", "UNREAD"),
        ("is:starred", "STARRED"),
        ("is:important", "IMPORTANT"),
        ("is:sent", "SENT"),
        ("category:primary", "CATEGORY_PERSONAL"),
        ("category:personal", "CATEGORY_PERSONAL"),
        ("category:social", "CATEGORY_SOCIAL"),
        ("category:promotions", "CATEGORY_PROMOTIONS"),
        ("category:updates", "CATEGORY_UPDATES"),
        ("category:forums", "CATEGORY_FORUMS"),
        ("IN:INBOX", "INBOX"),
    ],
)
def test_label_like_operators(q, label):
    assert hit(q, FakeMsg({label}, 0, None))
    assert not hit(q, FakeMsg({"Label_9"}, 0, None))


def test_is_read_is_not_unread():
    assert hit("is:read", FakeMsg({"INBOX"}, 0, None))
    assert not hit("is:read", FakeMsg({"INBOX", "UNREAD"}, 0, None))


def test_in_anywhere_and_chats():
    assert hit("in:anywhere", FakeMsg({"TRASH"}, 0, None))
    assert not hit("in:chats", FakeMsg({"INBOX"}, 0, None))


def test_in_accepts_user_label():
    assert hit("in:receipts", FakeMsg({"Label_2"}, 0, None))


def test_has_userlabels():
    assert hit("has:userlabels", FakeMsg({"INBOX", "Label_1"}, 0, None))
    assert not hit("has:userlabels", FakeMsg({"INBOX", "CATEGORY_SOCIAL"}, 0, None))
    assert hit("has:nouserlabels", FakeMsg({"INBOX", "UNREAD"}, 0, None))


@pytest.mark.parametrize(
    "q, widened",
    [
        ("in:spam", True),
        ("in:trash", True),
        ("in:anywhere", True),
        ("label:spam", True),
        ("label:TRASH", True),
        ("foo OR in:trash", True),
        ("(in:spam)", True),
        ("in:inbox", False),
        ("-in:spam", False),
        ("-in:trash foo", False),
        ("-(in:spam)", False),
        ("--in:spam", True),
        ("label:receipts", False),
        ("spam", False),
    ],
)
def test_includes_spam_trash(q, widened):
    assert compile_(q).includes_spam_trash is widened


# --- attachments ---------------------------------------------------------------------------


def test_has_attachment_and_filename():
    with_pdf = make(files=["Invoice-2024.PDF", "logo.png"])
    plain = make()
    assert hit("has:attachment", with_pdf)
    assert not hit("has:attachment", plain)
    assert hit("-has:attachment", plain)
    assert hit("filename:pdf", with_pdf)
    assert hit("filename:invoice", with_pdf)
    assert hit('filename:"logo.png"', with_pdf)
    assert not hit("filename:docx", with_pdf)
    assert not hit("filename:pdf", plain)


# --- dates ---------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["2024/05/01", "2024-05-01", "2024/5/1", "05/01/2024"])
def test_after_before_date_formats(fmt):
    on_day = make(date="2024/05/01")
    day_before = make(date="2024/04/30")
    assert hit(f"after:{fmt}", on_day)  # inclusive
    assert not hit(f"after:{fmt}", day_before)
    assert hit(f"before:{fmt}", day_before)
    assert not hit(f"before:{fmt}", on_day)  # exclusive
    assert hit(f"newer:{fmt}", on_day)
    assert hit(f"older:{fmt}", day_before)


def test_epoch_seconds():
    msg = make(date="2024/05/01")
    secs = msg.internal_date_ms // 1000
    assert hit(f"after:{secs}", msg)
    assert not hit(f"after:{secs + 1}", msg)
    assert hit(f"before:{secs + 1}", msg)
    assert not hit(f"before:{secs}", msg)


def test_date_range():
    assert hit("after:2024/04/01 before:2024/06/01", make(date="2024/05/01"))
    assert not hit("after:2024/04/01 before:2024/05/01", make(date="2024/05/01"))


@pytest.mark.parametrize(
    "q", ["after:yesterday", "before:2024/13/01", "after:2024/02/30", "after:2024/1", "older:x"]
)
def test_bad_dates_are_400(q):
    assert q.split(":")[0] in bad(q).message


def test_relative_ages():
    fresh = FakeMsg(set(), NOW_MS - 2 * DAY_MS, None)
    stale = FakeMsg(set(), NOW_MS - 40 * DAY_MS, None)
    ancient = FakeMsg(set(), NOW_MS - 400 * DAY_MS, None)
    assert hit("newer_than:3d", fresh)
    assert not hit("newer_than:3d", stale)
    assert hit("older_than:1m", stale)
    assert not hit("older_than:2m", stale)
    assert hit("newer_than:1y", stale)
    assert hit("older_than:1y", ancient)
    assert hit("newer_than:2M", stale)


@pytest.mark.parametrize("q", ["newer_than:3", "older_than:3w", "newer_than:d", "older_than:-1d"])
def test_bad_relative_ages_are_400(q):
    bad(q)


# --- size and message id -------------------------------------------------------------------


def test_larger_smaller():
    big = make(size=11 * 1024 * 1024)
    small = make(size=400)
    assert hit("larger:10M", big)
    assert not hit("larger:10M", small)
    assert hit("smaller:500K", small)
    assert not hit("smaller:500K", big)
    assert hit("larger:1000", make(size=1000))
    assert not hit("smaller:1000", make(size=1000))
    assert hit("size:399", small)
    assert hit("larger:10mb", big)


@pytest.mark.parametrize("q", ["larger:big", "smaller:10X", "larger:1.5M"])
def test_bad_sizes_are_400(q):
    bad(q)


def test_rfc822msgid():
    msg = make(extra={"Message-ID": ["<abc.123@mail.example.com>"]})
    assert hit("rfc822msgid:abc.123@mail.example.com", msg)
    assert hit("rfc822msgid:<abc.123@mail.example.com>", msg)
    assert not hit("rfc822msgid:abc.123", msg)
    assert not hit("rfc822msgid:abc.123@mail.example.com", make())


# --- unsupported operators -----------------------------------------------------------------


@pytest.mark.parametrize(
    "q, named",
    [
        ("list:info@example.com", "list:"),
        ("has:drive", "has:drive"),
        ("has:youtube", "has:youtube"),
        ("is:muted", "is:muted"),
        ("is:snoozed", "is:snoozed"),
        ("in:snoozed", "in:snoozed"),
        ("category:reservations", "category:reservations"),
        ("bogus:thing", "bogus:"),
        ("foo -list:x", "list:"),
        ("(a OR list:x)", "list:"),
    ],
)
def test_unsupported_operators_are_400(q, named):
    err = bad(q)
    assert named in err.message
    assert err.body()["error"]["errors"][0]["reason"] == "invalidArgument"


@pytest.mark.parametrize("q", ["from: alice", "subject:", 'label:""', "list: x"])
def test_known_operator_without_value_is_400(q):
    assert f"{q.split(':')[0]}:" in bad(q).message


def test_bare_unknown_word_colon_is_text():
    msg = make(subject="Re: lunch plans")
    assert hit("Re: lunch", msg)
    assert hit("subject:(re: plans)", msg)
    assert not hit("Fwd: lunch", msg)


# --- laziness ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "q",
    [
        "label:receipts",
        "in:inbox is:unread",
        "-in:spam category:social",
        "after:2024/01/01 before:2025/01/01",
        "newer_than:10d",
        "label:nonexistent",
        "{in:inbox in:sent}",
    ],
)
def test_label_and_date_queries_never_touch_parsed(q):
    msg = FakeMsg({"INBOX", "UNREAD", "Label_2", "CATEGORY_SOCIAL"}, NOW_MS - DAY_MS, None)
    compile_(q).matches(msg)  # would raise AssertionError if .parsed were read


def test_cheap_terms_short_circuit_before_parsing():
    msg = FakeMsg({"INBOX"}, 0, None)
    # The text term comes first, but the failing label term is evaluated first.
    assert not compile_("quarterly label:receipts").matches(msg)
    assert not compile_("from:alice in:spam").matches(msg)


def test_parsed_read_once_per_match():
    msg = make()
    assert (
        compile_("quarterly alice numbers to:bob has:attachment OR filename:x").matches(msg)
        is False
    )
    assert msg.parsed_reads == 1


def test_against_real_parsed_message():
    raw = (
        b"From: =?utf-8?q?Ren=C3=A9e?= <renee@example.fr>\r\n"
        b"To: owner@example.com\r\n"
        b"Subject: =?utf-8?q?Caf=C3=A9_menu?=\r\n"
        b"Message-ID: <m1@example.fr>\r\n"
        b"MIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain\r\n\r\nToday's special is ratatouille.\r\n"
        b"--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; "
        b'filename="menu.pdf"\r\n\r\n%PDF\r\n--b--\r\n'
    )
    msg = FakeMsg({"INBOX"}, NOW_MS, mime.parse_message(raw))
    for q in [
        "ratatouille",
        "subject:café",
        "from:renée",
        "to:me",
        "has:attachment filename:pdf",
        "rfc822msgid:m1@example.fr",
        "smaller:1K",
    ]:
        assert hit(q, msg), q
    assert not hit("subject:menus OR from:bob", msg)


# --- lexer ---------------------------------------------------------------------------------


def test_lexer_shapes():
    kinds = [(t.kind, t.value, t.op) for t in tokenize('-from:a subject:(x "y z") OR {b}')]
    assert kinds == [
        ("-", "", None),
        ("TERM", "a", "from"),
        ("OPGROUP", "", "subject"),
        ("(", "", None),
        ("TERM", "x", None),
        ("TERM", "y z", None),
        (")", "", None),
        ("OR", "", None),
        ("{", "", None),
        ("TERM", "b", None),
        ("}", "", None),
    ]
