"""Charsets: latin-1/us-ascii labels decode as windows-1252 (WHATWG), bogus labels degrade.

Real bytes go through the full Gmail message shape (base64url ``body.data``) and through
format=raw, so the record is what the tap emits."""

from __future__ import annotations

import base64

import pytest

from gmail_core.cpcal import normalize_message
from gmail_core.mime_text import decode_text
from tests.core.test_cpcal import BOX, b64, check, leaf, message

# "Don’t “quote” me – it’s 5€…" as Outlook writes it: 0x92 0x93 0x94 0x96 0x80 0x85.
SMART = b"Don\x92t \x93quote\x94 me \x96 it\x92s 5\x80\x85 caf\xe9"
SMART_TEXT = "Don’t “quote” me – it’s 5€… café"


def full_text(data: bytes, charset: str | None, mime: str = "text/plain") -> dict:
    return check(normalize_message(message(leaf("", mime, data, charset)), BOX, {}))


def raw_text(data: bytes, ctype: str, cte: str = "8bit") -> dict:
    raw = (
        f"Subject: x\r\nContent-Type: {ctype}\r\nContent-Transfer-Encoding: {cte}\r\n\r\n"
    ).encode() + data
    return check(normalize_message(message(raw=b64(raw)), BOX, {}))


@pytest.mark.parametrize(
    "charset", ["iso-8859-1", "ISO-8859-1", "latin-1", "latin1", "l1", '"iso_8859-1"', "cp819"]
)
def test_latin1_labels_decode_smart_quotes_as_windows_1252(charset):
    rec = full_text(SMART, charset)
    assert rec["body_text"] == rec["body"] == SMART_TEXT
    assert not any("\x80" <= ch <= "\x9f" for ch in rec["body_text"])  # no C1 controls


@pytest.mark.parametrize("charset", ["us-ascii", "ascii", "US-ASCII", "ANSI_X3.4-1968"])
def test_us_ascii_label_with_8bit_windows_bytes(charset):
    assert full_text(SMART, charset)["body_text"] == SMART_TEXT


def test_us_ascii_label_on_utf8_bytes_is_still_utf8():
    assert full_text("Don’t “quote” me".encode(), "us-ascii")["body_text"] == "Don’t “quote” me"


def test_windows_1252_label_and_its_five_undefined_bytes():
    # cp1252 leaves 0x81 0x8D 0x8F 0x90 0x9D undefined; WHATWG maps them to U+0081.. rather
    # than failing, so the rest of the text still decodes as windows-1252.
    data = b"\x93a\x81b\x8dc\x8fd\x90e\x9df\x94"
    want = "“a\x81b\x8dc\x8fd\x90e\x9df”"
    assert full_text(data, "windows-1252")["body_text"] == want
    assert full_text(data, "iso-8859-1")["body_text"] == want


def test_html_part_labelled_latin1():
    rec = full_text(b"<p>\x93Hi\x94 &amp; bye</p>", "iso-8859-1", "text/html")
    assert rec["body_html"] == "<p>“Hi” &amp; bye</p>"
    assert rec["body_text"] == "“Hi” & bye"


def test_raw_format_latin1_label_quoted_printable_and_base64():
    qp_data = b"Don=92t =93quote=94 me =96 it=92s 5=80=85 caf=E9"
    qp = raw_text(qp_data, "text/plain; charset=iso-8859-1", "quoted-printable")
    assert qp["body_text"] == SMART_TEXT
    b = raw_text(base64.encodebytes(SMART), "text/plain; charset=us-ascii", "base64")
    assert b["body_text"] == SMART_TEXT


def test_no_charset_and_not_utf8_falls_back_to_windows_1252():
    assert full_text(SMART, None)["body_text"] == SMART_TEXT


@pytest.mark.parametrize(
    "charset",
    ["x-unknown", '"utf-8\x00"', "utf-8\x00junk", "base64", "rot13", "hex", "zlib", "", "  ",
     "idna", "punycode", "utf-16", "x" * 5000],
)  # fmt: skip
def test_bogus_and_unknown_charsets_never_fail(charset):
    data = "naïve café".encode()
    rec = full_text(data, charset)
    assert isinstance(rec["body_text"], str)
    if charset in ("x-unknown", '"utf-8\x00"', "base64", "rot13", "hex", "zlib", "", "  "):
        assert rec["body_text"] == "naïve café"  # unknown or not a text codec: UTF-8
    raw = raw_text(data, f"text/plain; charset={charset}")
    assert isinstance(raw["body_text"], str)


def test_nul_padded_charset_label_is_recovered():
    assert full_text("Grüße".encode("iso-8859-15"), '"iso-8859-15\x00"')["body_text"] == "Grüße"


def test_decode_text_prefix_never_splits_a_character():
    data = "€€€".encode()[:-1]  # cut inside the last euro sign
    assert decode_text(data, "utf-8", final=False) == "€€"
    assert decode_text("日本語".encode("shift_jis")[:-1], "shift_jis", final=False) == "日本"
    assert decode_text(data, "utf-8") == "€€\ufffd"  # a whole part: a stray bad byte
