"""Bad MIME degrades per message: every case yields a schema-valid record, never an exception,
with bounded memory. The caps and fallbacks are documented in gmail_core/mime_parts.py."""

from __future__ import annotations

import base64
import gc
import tracemalloc

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from gmail_core.cpcal import normalize_message
from gmail_core.html_text import html_to_text
from gmail_core.mime_parts import HTML_CUT, MAX_BODY_BYTES, MAX_DEPTH, TEXT_CUT
from gmail_core.mime_text import decode_text
from tests.core.test_cpcal import BOX, RAW, TOP, b64, check, container, hdrs, leaf, message
from tests.reliability.conftest import FULL


def norm(msg: dict) -> dict:
    return check(normalize_message(msg, BOX, {"INBOX": "INBOX"}))


def raw_msg(raw: bytes) -> dict:
    return message(raw=b64(raw))


# --- nesting ----------------------------------------------------------------------------------


def nested_json(levels: int) -> dict:
    part = leaf("x", "text/plain", b"deep text", "utf-8")
    for level in range(levels):
        part = container(str(level), "multipart/mixed", [part])
    return {**part, "headers": TOP}


def nested_raw(levels: int) -> bytes:
    head, tail = [b"Subject: deep\r\nMIME-Version: 1.0\r\n"], []
    for i in range(levels):
        head.append(b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (i, i))
        tail.append(b"\r\n--b%d--\r\n" % i)
    return b"".join(head) + b"Content-Type: text/plain\r\n\r\ndeep text" + b"".join(reversed(tail))


@pytest.mark.parametrize("levels", [1_000, 10_000])
def test_deep_nesting_full_format_is_capped(levels):
    rec = norm(message(nested_json(levels)))
    assert rec["subject"] == "Lunch café"
    assert rec["body_text"] is None and rec["attachments"] == []  # below MAX_DEPTH: not walked


def test_deep_nesting_raw_format_is_headers_only():
    rec = norm(raw_msg(nested_raw(1_000)))  # email.parser recurses per level: RecursionError
    assert rec["subject"] == "deep" and rec["body_text"] is None and rec["attachments"] == []


@pytest.mark.parametrize("levels", [MAX_DEPTH - 1, MAX_DEPTH + 1])
def test_nesting_near_the_cap_is_the_same_in_full_and_raw(levels):
    full, raw = norm(message(nested_json(levels))), norm(raw_msg(nested_raw(levels)))
    want = "deep text" if levels < MAX_DEPTH else None
    assert full["body_text"] == raw["body_text"] == want


# --- broken body data and charsets ------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "text"),
    [
        ("!!!", ""),
        (b64("hello world!") + "A", "hello world!"),  # one dangling character
        (b64("hello world")[:-1], "hello worl"),  # cut-off tail
        (base64.b64encode("€ ok?>>".encode()).decode(), "€ ok?>>"),  # standard alphabet
        ("aGVs\nbG8g d29y\tbGQ=", "hello world"),  # whitespace inside
        ("aGVsbG8=d29ybGQ=", "hello"),  # padding in the middle
        ("aGVsbG8gd29ybGQé", "hello world"),  # a non-ASCII character
        ("=" * 7, ""),
    ],
)
def test_broken_base64url_body_data_keeps_what_decodes(data, text):
    payload = leaf("", "text/plain", b"", "utf-8")
    payload["body"] = {"size": 11, "data": data}
    assert norm(message(payload))["body_text"] == text


@pytest.mark.parametrize(
    "charset", ["x-unknown", '"utf-8\x00"', "utf-8\x00", "base64", "punycode", "=?x?=", "\u00e9"]
)
def test_unknown_and_bogus_charsets(charset):
    rec = norm(message(leaf("", "text/html", "<p>Grüße</p>".encode(), charset)))
    assert rec["body_text"] and rec["body_html"]
    raw = f"Content-Type: text/plain; charset={charset}\r\n\r\n".encode() + "Grüße".encode()
    assert norm(raw_msg(raw))["body_text"]


# --- headers ----------------------------------------------------------------------------------


def test_missing_headers():
    for headers in (None, [], [{}], [{"name": "Subject"}], [{"value": "x"}]):
        payload = leaf("", "text/plain", b"body", "utf-8")
        payload["headers"] = headers
        rec = norm(message(payload))
        assert rec["body_text"] == "body" and rec["subject"] in (None, "") and rec["to"] == []
    rec = norm(raw_msg(b"\r\nno headers at all"))
    assert rec["subject"] is None and rec["body_text"] == "no headers at all"


def test_duplicate_headers_first_wins():
    top = [
        *hdrs(subject="first", from_="a@x.com", date="not a date"),
        *hdrs(subject="second", from_="b@x.com", date="Fri, 02 Jan 2026 04:04:05 +0100"),
    ]
    rec = norm(message({**leaf("", "text/plain", b"x", "utf-8"), "headers": top}))
    assert rec["subject"] == "first" and rec["from_address"]["email"] == "a@x.com"
    assert rec["date_header"] is None
    raw = b"Subject: first\r\nSubject: second\r\nFrom: a@x.com\r\nFrom: b@x.com\r\n\r\nbody"
    assert norm(raw_msg(raw))["subject"] == "first"


def test_non_ascii_headers_without_rfc2047():
    raw = (
        "Subject: Grüße aus Köln\r\nFrom: Jürgen Müller <j@x.de>\r\nTo: 山田 <y@x.jp>\r\n\r\nx"
    ).encode()
    rec = norm(raw_msg(raw))
    assert rec["subject"] == "Grüße aus Köln"
    assert rec["from_address"] == {"name": "Jürgen Müller", "email": "j@x.de"}
    latin = norm(raw_msg("Subject: Grüße\r\n\r\nx".encode("latin-1")))
    assert latin["subject"] == "Grüße"  # not UTF-8: the fallback charset
    full = norm(message({**leaf("", "text/plain", b"x"), "headers": hdrs(subject="Grüße \udcff")}))
    assert full["subject"].startswith("Grüße")


@pytest.mark.parametrize(
    "value",
    [
        "=?utf-8?q?unterminated",
        "=?x-unknown?b?AAAA?=",
        "=?utf-8?b?!!!?=",
        "=?utf-8?q?=FF=FE?=",
        "=?utf-8?B?5L2g5aW?= =?utf-8?Q?=E4=B8?=",  # split inside a character
        "=??=",
        "=?utf-8?z?abc?=",
        "=?" * 500,
        "=?utf-8?q?" + "a" * 100_000 + "?=",
    ],
)
def test_broken_rfc2047_words(value):
    top = hdrs(subject=value, from_=f"{value} <a@x.com>", to=value, cc=value)
    rec = norm(message({**leaf("", "text/plain", b"x"), "headers": top}))
    assert isinstance(rec["subject"], str)
    raw = f"Subject: {value}\r\nFrom: {value} <a@x.com>\r\nTo: {value}\r\n\r\nx".encode()
    assert isinstance(norm(raw_msg(raw))["subject"], str)


@pytest.mark.parametrize(
    "date",
    ["", "0", "yesterday", "Thu, 31 Feb 2026 25:61:00 +9999", "Fri, 02 Jan 99999 04:04:05 +0100",
     "Fri, 02 Jan 0000 04:04:05 +0100", "Fri, 02 Jan 2026 04:04:05 +2400", "\x00", "1" * 5000],
)  # fmt: skip
def test_invalid_dates(date):
    rec = norm(message({**leaf("", "text/plain", b"x"), "headers": hdrs(date=date)},
                       internalDate=date or None))  # fmt: skip
    assert rec["date_header"] is None or rec["date_header"].endswith("+00:00")


# --- size -------------------------------------------------------------------------------------

BIG = 30 * 1024 * 1024
LINE = "Zeile mit Umlauten äöü und € – 30 MB lang\r\n".encode()
ROW = "<tr><td>row</td><td>äöü €</td></tr>\n".encode()


def _peak(msg: dict) -> tuple[dict, int]:
    gc.collect()
    tracemalloc.start()
    try:
        rec = normalize_message(msg, BOX, {})
        return rec, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _mib(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"


def _text(size: int) -> bytes:
    return (LINE * (size // len(LINE) + 1))[:size]


def _raw(size: int) -> bytes:
    head = b"Subject: big\r\nContent-Type: text/plain; charset=utf-8\r\n"
    return head + b"Content-Transfer-Encoding: base64\r\n\r\n" + base64.encodebytes(_text(size))


CUT = TEXT_CUT.format(kept=MAX_BODY_BYTES, total=BIG)


def test_30mb_parts_full_format_are_capped_and_only_a_prefix_is_decoded(capsys):
    text, markup = _text(BIG), (b"<table>" + ROW * (BIG // len(ROW) + 1))[:BIG]
    payload = container("", "multipart/mixed", [
        leaf("0", "text/plain", text, "utf-8"), leaf("1", "text/html", markup, "utf-8"),
    ])  # fmt: skip
    rec, peak = _peak(message({**payload, "headers": TOP}))
    check(rec)
    assert rec["body_text"].endswith(CUT) and rec["body"] == rec["body_text"]
    assert rec["body_html"].endswith(HTML_CUT.format(kept=MAX_BODY_BYTES, total=BIG))
    kept = rec["body_text"][: -len(CUT)]
    assert text.decode().startswith(kept) and len(kept.encode()) > MAX_BODY_BYTES - 4  # whole chars
    assert len(rec["body_html"]) < MAX_BODY_BYTES + 100
    size = sum(len(part["body"]["data"]) for part in payload["parts"])
    assert peak < 32 * MAX_BODY_BYTES  # bounded by the cap, not by the 80 MB of input

    html_msg = message({**leaf("", "text/html", markup, "utf-8"), "headers": TOP})
    html_only, html_peak = _peak(html_msg)
    check(html_only)
    assert html_only["body_text"].startswith("row\täöü €\nrow\täöü €\n")
    assert html_only["body_text"].endswith(CUT) and len(html_only["body_text"]) < MAX_BODY_BYTES
    assert html_peak < 32 * MAX_BODY_BYTES
    with capsys.disabled():
        print(f"\n30 MB parts, tracemalloc peak: text+html {_mib(peak)} (input {_mib(size)} "
              f"base64url), html-only with derived text {_mib(html_peak)}")  # fmt: skip


def test_30mb_part_raw_format_is_capped_and_memory_is_linear(capsys):
    peaks = {}
    for size in (BIG // 3, BIG):
        rec, peak = _peak(raw_msg(_raw(size)))
        check(rec)
        assert len(rec["body_text"]) < MAX_BODY_BYTES + 100
        peaks[size] = (peak, len(b64(_raw(size))))
    assert rec["body_text"].endswith(CUT)
    (small, small_in), (big, big_in) = peaks[BIG // 3], peaks[BIG]
    # email.parser holds the message as lines, then joined: linear, about 6x the input.
    assert big < 10 * big_in
    assert big / big_in < 1.5 * small / small_in  # no worse than linear
    with capsys.disabled():
        print(
            f"\nraw format, tracemalloc peak: 10 MB part {_mib(small)} (input {_mib(small_in)}"
            f" base64url), 30 MB part {_mib(big)} (input {_mib(big_in)})"
        )


# --- generated payloads -----------------------------------------------------------------------

TEXT_MIMES = st.sampled_from(["text/plain", "text/html", "TEXT/HTML"])
MIMES = TEXT_MIMES | st.sampled_from(
    ["multipart/mixed", "multipart/alternative", "multipart/digest", "multipart/related",
     "message/rfc822", "application/pdf", "image/png", "text/calendar", "", "x/y"]
) | st.text(max_size=15)  # fmt: skip
CHARSETS = st.sampled_from(
    ["utf-8", "UTF-8", "iso-8859-1", "latin1", "us-ascii", "windows-1252", "koi8-r",
     "shift_jis", "iso-2022-jp", "utf-16", "utf-7", "idna", "punycode", "base64", "x-unknown",
     '"utf-8\x00"', ""]
) | st.text(max_size=12)  # fmt: skip
NAMES = st.sampled_from(
    ["Subject", "From", "To", "Cc", "Bcc", "Reply-To", "Date", "Message-ID", "In-Reply-To",
     "References", "Content-Type", "Content-Disposition", "subject", "X-Junk"]
) | st.text(max_size=10)  # fmt: skip
VALUES = st.sampled_from(
    ["=?utf-8?q?caf=C3=A9?=", "=?utf-8?b?!!!?=", "=?x?q?a?=", "Müller, Jürgen <j@x.de>",
     "undisclosed-recipients:;", '"a, b" <a@b>, c@d', "<a@x> <b@y>",
     "Fri, 02 Jan 2026 04:04:05 +0100", "Thu, 31 Feb 2026 25:61:00 +9999",
     "attachment; filename*=utf-8''%FF.pdf", "inline"]
) | st.text(max_size=60)  # fmt: skip
DATA = st.one_of(
    st.binary(max_size=400).map(b64),
    st.binary(max_size=400).map(lambda b: base64.b64encode(b).decode()),
    st.text(max_size=40),
    st.sampled_from(
        [b64("<table><tr><td>a</td><td>b</td></tr></table><pre> x\n y</pre>"),
         b64(b"\x93smart\x94 \x80"), b64("€".encode()[:2])]
    ),
)  # fmt: skip


@st.composite
def headers(draw) -> list[dict]:
    out = []
    for _ in range(draw(st.integers(0, 6))):
        header = {"name": draw(NAMES), "value": draw(VALUES)}
        if draw(st.integers(0, 20)) == 0:
            del header[draw(st.sampled_from(["name", "value"]))]
        out.append(header)
    return out


FILENAMES = st.sampled_from(["a.pdf", "=?utf-8?q?p=C3=A9?=", "=?bad"]) | st.text(max_size=8)


@st.composite
def leaves(draw) -> dict:
    mime = draw(TEXT_MIMES if draw(st.booleans()) else MIMES)
    ctype = f"{mime}; charset={draw(CHARSETS)}"
    body: dict = {"size": draw(st.one_of(st.integers(-1, 10**9), st.none(), st.text(max_size=5)))}
    if draw(st.integers(0, 4)):
        body["data"] = draw(DATA)
    if draw(st.integers(0, 4)) == 0:
        body["attachmentId"] = draw(st.text(max_size=10))
    return {
        "partId": draw(st.text(max_size=6)),
        "mimeType": mime,
        "filename": "" if draw(st.integers(0, 3)) else draw(FILENAMES),
        "headers": [{"name": "Content-Type", "value": ctype}, *draw(headers())],
        "body": body,
    }


def _containers(children):
    return st.builds(
        lambda mime, kids, extra: {
            "partId": "",
            "mimeType": mime,
            "filename": "",
            "headers": extra,
            "body": {"size": 0},
            "parts": kids,
        },  # fmt: skip
        MIMES,
        st.lists(children, max_size=4),
        headers(),
    )


PARTS = st.recursive(leaves(), _containers, max_leaves=12)


@st.composite
def gmail_messages(draw) -> dict:
    payload = draw(PARTS)
    payload["headers"] = draw(headers()) + payload["headers"]
    msg = {
        "id": draw(st.text(min_size=1, max_size=16)),
        "threadId": draw(st.none() | st.text(max_size=16)),
        "labelIds": draw(st.none() | st.lists(st.text(max_size=8), max_size=4)),
        "snippet": draw(st.none() | st.text(max_size=40)),
        "historyId": draw(st.none() | st.text(max_size=12)),
        "internalDate": draw(st.none() | st.text(max_size=20) | st.integers().map(str)),
        "sizeEstimate": draw(st.none() | st.integers() | st.text(max_size=5)),
    }
    if draw(st.integers(0, 5)):
        msg["payload"] = payload
    return msg


EXAMPLES = 5_000 if FULL else 1_000


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(gmail_messages())
def test_generated_gmail_payloads_always_give_a_valid_record(msg):
    rec = norm(msg)
    assert rec["id"] == msg["id"]
    event("body_text" if rec["body_text"] else "no body_text")
    event("body_html" if rec["body_html"] else "no body_html")
    event("attachments" if rec["attachments"] else "no attachments")


@st.composite
def mutated_raw(draw) -> bytes:
    data = bytearray(RAW)
    for _ in range(draw(st.integers(0, 8))):
        pos = draw(st.integers(0, len(data)))
        op = draw(st.sampled_from(["insert", "delete", "replace"]))
        chunk = draw(st.binary(min_size=1, max_size=8) | st.sampled_from(
            [b"\r\n", b"--XX", b"--YY--", b"=?utf-8?q?", b"\x93", b"multipart/digest",
             b"message/rfc822", b"charset=x-bogus", b"base64"]))  # fmt: skip
        if op == "insert":
            data[pos:pos] = chunk
        elif op == "delete":
            del data[pos : pos + len(chunk)]
        else:
            data[pos : pos + len(chunk)] = chunk
    return bytes(data)


@settings(max_examples=EXAMPLES // 2, deadline=None, suppress_health_check=list(HealthCheck))
@given(mutated_raw() | st.binary(max_size=600))
def test_generated_raw_messages_always_give_a_valid_record(raw):
    rec = norm(raw_msg(raw))
    event("body_text" if rec["body_text"] else "no body_text")
    event("attachments" if rec["attachments"] else "no attachments")


TAGS = st.sampled_from(
    ["<td>", "</td>", "<tr>", "</tr>", "<table>", "</table>", "<pre>", "</pre>", "<br>", "<p>",
     "</p>", "<div>", "<script>", "</script>", "<style>", "<!--", "-->", "<![if x]>", "<!", "<",
     "&amp;", "&#xD800;", "&#99999999;", "&", "\n", "\t", "\x00"]
)  # fmt: skip


@settings(max_examples=EXAMPLES // 2, deadline=None)
@given(st.lists(TAGS | st.text(max_size=10), max_size=30).map("".join))
def test_generated_tag_soup_html_to_text_never_raises(markup):
    text = html_to_text(markup)
    assert isinstance(text, str)
    if "<pre" not in markup:  # outside <pre>, never more than one blank line in a row
        assert "\n\n\n" not in text


@settings(max_examples=EXAMPLES // 2, deadline=None)
@given(st.binary(max_size=200), st.none() | CHARSETS, st.booleans())
def test_generated_bytes_and_charsets_decode_to_text(data, charset, final):
    assert isinstance(decode_text(data, charset, final), str)
