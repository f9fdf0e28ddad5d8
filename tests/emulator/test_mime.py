"""mime.py: stored RFC 5322 bytes -> Gmail's payloads, snippets, dates (no mocks, real bytes)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import googleapiclient
import pytest

from gmail_emulator import mime
from gmail_emulator.errors import GmailError
from gmail_emulator.mailbox import synthetic_messages

DISCOVERY = Path(googleapiclient.__file__).parent / "discovery_cache/documents/gmail.v1.json"

NESTED = (
    b"From: =?utf-8?q?M=C3=BCller=2C_J=C3=BCrgen?= <j@example.de>\r\n"
    b"To: a@example.com,\r\n\tb@example.com\r\n"
    b"Subject: =?utf-8?B?5p2O?=\r\n =?utf-8?B?6Zu3?= and more\r\n"
    b"Date: Tue, 05 Mar 2024 14:23:11 +0100\r\n"
    b"MIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="OUT"\r\n'
    b"\r\n"
    b"This is a multi-part message in MIME format.\r\n"
    b"--OUT\r\n"
    b"Content-Type: multipart/alternative; boundary=IN\r\n"
    b"\r\n"
    b"--IN\r\n"
    b"Content-Type: text/plain; charset=iso-8859-1\r\n"
    b"Content-Transfer-Encoding: quoted-printable\r\n"
    b"\r\n"
    b'Caf=E9 don\'t "panic" <now> & later, this line is soft=\r\n'
    b" broken.\r\n"
    b"--IN\r\n"
    b"Content-Type: text/html; charset=utf-8\r\n"
    b"\r\n"
    b"<p>Caf\xc3\xa9</p>\r\n"
    b"--IN--\r\n"
    b"--OUT\r\n"
    b'Content-Type: application/pdf; name="report.pdf"\r\n'
    b'Content-Disposition: attachment; filename="report.pdf"\r\n'
    b"Content-Transfer-Encoding: base64\r\n"
    b"\r\n"
    b"JVBERi0xLjQKJeLjz9MK\r\n"
    b"--OUT\r\n"
    b"Content-Type: message/rfc822\r\n"
    b"\r\n"
    b"Subject: forwarded\r\n\r\ninner body\r\n"
    b"--OUT--\r\n"
    b"epilogue\r\n"
)


def _data(body: dict) -> bytes:
    return base64.urlsafe_b64decode(body["data"])


def test_nested_multipart_part_tree():
    payload = mime.render_payload(mime.parse_message(NESTED), "18e0a1b2c3d4e5f6", "full")
    assert payload["partId"] == "" and payload["mimeType"] == "multipart/mixed"
    assert payload["filename"] == "" and payload["body"] == {"size": 0}
    assert [p["partId"] for p in payload["parts"]] == ["0", "1", "2"]
    alternative, pdf, forwarded = payload["parts"]
    assert alternative["mimeType"] == "multipart/alternative"
    assert alternative["body"] == {"size": 0}
    assert [p["partId"] for p in alternative["parts"]] == ["0.0", "0.1"]
    assert [p["mimeType"] for p in alternative["parts"]] == ["text/plain", "text/html"]
    assert alternative["headers"] == [
        {"name": "Content-Type", "value": "multipart/alternative; boundary=IN"}
    ]
    html_part = alternative["parts"][1]
    assert "parts" not in html_part and html_part["filename"] == ""
    assert _data(html_part["body"]) == b"<p>Caf\xc3\xa9</p>"
    assert html_part["body"]["size"] == len(b"<p>Caf\xc3\xa9</p>")
    assert pdf["filename"] == "report.pdf" and "data" not in pdf["body"]
    assert pdf["body"]["size"] == len(base64.b64decode("JVBERi0xLjQKJeLjz9MK"))
    assert forwarded["mimeType"] == "message/rfc822" and "attachmentId" in forwarded["body"]
    [enclosed] = forwarded["parts"]  # Gmail nests the enclosed message (test_enclosed.py)
    assert enclosed["partId"] == "2.0" and enclosed["headers"] == [
        {"name": "Subject", "value": "forwarded"}
    ]
    assert _data(enclosed["body"]) == b"inner body"
    names = [h["name"] for h in payload["headers"]]
    assert names == ["From", "To", "Subject", "Date", "MIME-Version", "Content-Type"]


def test_deeply_nested_ids_use_dotted_paths():
    raw = (
        b'Content-Type: multipart/mixed; boundary="a"\r\n\r\n--a\r\n'
        b'Content-Type: multipart/related; boundary="b"\r\n\r\n--b\r\n'
        b'Content-Type: multipart/alternative; boundary="c"\r\n\r\n--c\r\n\r\nplain\r\n--c\r\n'
        b"Content-Type: text/html\r\n\r\n<b>x</b>\r\n--c--\r\n--b\r\n"
        b"Content-Type: image/png; name=i.png\r\nContent-ID: <i>\r\n\r\nPNG\r\n--b--\r\n--a--\r\n"
    )
    tree = mime.render_payload(mime.parse_message(raw), "m1", "full")
    deepest = tree["parts"][0]["parts"][0]["parts"]
    assert [p["partId"] for p in deepest] == ["0.0.0", "0.0.1"]
    assert deepest[0]["mimeType"] == "text/plain"  # no Content-Type: the RFC default
    assert _data(deepest[0]["body"]) == b"plain"
    assert tree["parts"][0]["parts"][1]["filename"] == "i.png"


def test_attachment_round_trip():
    parsed = mime.parse_message(NESTED)
    payload = mime.render_payload(parsed, "18e0a1b2c3d4e5f6", "full")
    attachment_id = payload["parts"][1]["body"]["attachmentId"]
    assert (
        attachment_id
        == mime.render_payload(parsed, "18e0a1b2c3d4e5f6", "full")["parts"][1]["body"][
            "attachmentId"
        ]
    )
    body = mime.get_attachment(parsed, "18e0a1b2c3d4e5f6", attachment_id)
    assert body["attachmentId"] == attachment_id
    assert _data(body) == base64.b64decode("JVBERi0xLjQKJeLjz9MK")
    assert body["size"] == len(_data(body))
    forwarded_id = payload["parts"][2]["body"]["attachmentId"]
    assert _data(mime.get_attachment(parsed, "18e0a1b2c3d4e5f6", forwarded_id)).startswith(
        b"Subject: forwarded"
    )
    assert mime.get_attachment(parsed, "another-message", attachment_id) is None
    assert mime.get_attachment(parsed, "18e0a1b2c3d4e5f6", "not-an-id") is None
    assert mime.get_attachment(parsed, "18e0a1b2c3d4e5f6", "ANGjd!!!") is None
    missing = mime.attachment_id_for("18e0a1b2c3d4e5f6", "7.3")
    assert mime.get_attachment(parsed, "18e0a1b2c3d4e5f6", missing) is None


def test_quoted_printable_latin1_body_decodes():
    parsed = mime.parse_message(NESTED)
    plain = mime.render_payload(parsed, "m", "full")["parts"][0]["parts"][0]
    expected = 'Café don\'t "panic" <now> & later, this line is soft broken.'
    assert _data(plain["body"]) == expected.encode("iso-8859-1")  # transfer-decoded only
    assert plain["body"]["size"] == len(expected.encode("iso-8859-1"))
    assert expected in parsed.plain_text
    assert "<p>" not in parsed.plain_text  # the HTML twin is not indexed twice


def test_koi8r_8bit_and_iso2022jp_bodies_decode():
    russian = "Привет, мир! Отчёт готов."
    raw = (
        b"Subject: =?koi8-r?B?" + base64.b64encode("Отчёт".encode("koi8-r")) + b"?=\r\n"
        b"Content-Type: text/plain; charset=koi8-r\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        + russian.encode("koi8-r")
    )
    parsed = mime.parse_message(raw)
    assert parsed.header("subject") == "Отчёт"
    assert parsed.plain_text == russian
    assert parsed.snippet == russian
    japanese = "会議の資料です。"
    raw = b"Content-Type: text/plain; charset=ISO-2022-JP\r\n\r\n" + japanese.encode("iso-2022-jp")
    assert mime.parse_message(raw).plain_text == japanese


@pytest.mark.parametrize(
    ("encoded", "decoded"),
    [
        ("=?utf-8?B?5p2O?= =?utf-8?B?6Zu3?=", "李雷"),
        ("=?UTF-8?B?5p2O?=\r\n =?UTF-8?B?6Zu3?=", "李雷"),
        ("Re: =?ISO-8859-1?Q?Caf=E9_cr=E8me?= today", "Re: Café crème today"),
        ("=?windows-1252?q?Rechnung_=FCber_120_=80?=", "Rechnung über 120 €"),
        ("=?iso-2022-jp?B?GyRCMnE1RCRON28bKEI=?=", "会議の件"),
        ("=?utf-8?q?M=C3=BCller=2C_J=C3=BCrgen?= <j@x.de>", "Müller, Jürgen <j@x.de>"),
        ("=?x-unknown-charset?q?plain?=", "plain"),
        ("no encoded words at all", "no encoded words at all"),
        ("=?utf-8?q?a?= =?iso-8859-1?q?=E9?= b", "aé b"),
    ],
)
def test_rfc2047_header_decoding(encoded, decoded):
    raw = f"Subject: {encoded}\r\n\r\nbody".encode()
    assert mime.parse_message(raw).header("Subject") == decoded
    assert mime.parse_headers_only(raw) == [("Subject", decoded)]


def test_utf8_multibyte_split_across_words_is_joined():
    data = "日本".encode()
    first, second = base64.b64encode(data[:2]).decode(), base64.b64encode(data[2:]).decode()
    raw = f"Subject: =?utf-8?B?{first}?= =?utf-8?B?{second}?=\r\n\r\n".encode()
    assert mime.parse_message(raw).header("subject") == "日本"


def test_headers_unfold_and_skip_junk_lines():
    raw = (
        b"From 1234@xxx Tue Mar 05 14:23:11 +0000 2024\r\n"
        b"Received: from a\r\n\tby b;\r\n Tue, 5 Mar 2024 14:23:11 +0000\r\n"
        b"X-Empty:\r\nsubject: Hello\r\nSubject: second\r\n\r\nbody\r\n"
    )
    headers = mime.parse_headers_only(raw)
    assert headers[0] == ("Received", "from a by b; Tue, 5 Mar 2024 14:23:11 +0000")
    assert ("X-Empty", "") in headers
    parsed = mime.parse_message(raw)
    assert parsed.header("SUBJECT") == "Hello"
    assert parsed.header_all("subject") == ["Hello", "second"]
    assert parsed.header("missing") is None and parsed.header_all("missing") == []
    assert parsed.headers == headers
    assert parsed.size_estimate == len(raw)


def test_raw_utf8_header_bytes_are_accepted():
    raw = "Subject: Grüße aus Köln\nFrom: Zoë <z@example.com>\n\nhi\n".encode()
    assert mime.parse_headers_only(raw)[0] == ("Subject", "Grüße aus Köln")
    assert mime.parse_message(raw).header("from") == "Zoë <z@example.com>"


def test_metadata_format_filters_headers_in_message_order():
    parsed = mime.parse_message(NESTED)
    every = mime.render_payload(parsed, "m", "metadata")
    assert every["mimeType"] == "multipart/mixed"
    assert len(every["headers"]) == 6 and set(every) == {"mimeType", "headers"}
    some = mime.render_payload(parsed, "m", "metadata", ["subject", "FROM", "X-Absent"])
    assert some["headers"] == [
        {"name": "From", "value": "Müller, Jürgen <j@example.de>"},
        {"name": "Subject", "value": "李雷 and more"},
    ]


def test_unknown_format_is_a_400_and_minimal_has_no_payload():
    parsed = mime.parse_message(NESTED)
    with pytest.raises(GmailError) as caught:
        mime.render_payload(parsed, "m", "bogus")
    assert caught.value.code == 400
    with pytest.raises(ValueError):
        mime.render_payload(parsed, "m", "minimal")


def test_snippet_escapes_like_gmail_and_prefers_plain_text():
    assert mime.parse_message(NESTED).snippet == (
        "Café don&#39;t &quot;panic&quot; &lt;now&gt; &amp; later, this line is soft broken."
    )
    html_only = (
        b"Content-Type: text/html; charset=utf-8\r\n\r\n"
        b"<html><head><title>T</title><style>p{color:red}</style></head><body>"
        b"<script>var x = 1;</script><p>Tom &amp; Jerry&#39;s</p><div>  new\r\n line</div>"
        b"<!-- hidden --></body></html>"
    )
    parsed = mime.parse_message(html_only)
    assert parsed.snippet == "Tom &amp; Jerry&#39;s new line"
    assert "color" not in parsed.plain_text and "hidden" not in parsed.plain_text
    long_text = b"Content-Type: text/plain\r\n\r\n" + b"word " * 100
    snippet = mime.parse_message(long_text).snippet
    assert 190 <= len(snippet) <= 200 and snippet.startswith("word word")


def test_attachment_flags_and_rfc2231_filenames():
    raw = (
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
        b"Content-Type: text/plain\r\n\r\nsee attached\r\n--b\r\n"
        b"Content-Type: application/pdf\r\n"
        b"Content-Disposition: attachment; filename*=utf-8''Pr%C3%A4sentation.pdf\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\nJVBERg==\r\n--b\r\n"
        b'Content-Type: text/csv; name="=?utf-8?B?w6l0w6kuY3N2?="\r\n\r\na,b\r\n--b\r\n'
        b"Content-Type: image/png\r\nContent-Disposition: attachment;\r\n"
        b" filename*0*=utf-8''%E6%97%A5; filename*1=.png\r\n\r\nPNG\r\n--b--\r\n"
    )
    parsed = mime.parse_message(raw)
    assert parsed.has_attachment
    assert parsed.attachment_filenames == ["Präsentation.pdf", "été.csv", "日.png"]
    assert parsed.plain_text == "see attached"
    plain = mime.parse_message(b"Subject: x\r\n\r\nno attachments")
    assert not plain.has_attachment and plain.attachment_filenames == []


def test_inline_cid_image_is_not_an_attachment_for_search():
    raw = (
        b'Content-Type: multipart/related; boundary="r"\r\n\r\n--r\r\n'
        b"Content-Type: text/html\r\n\r\n<img src=cid:logo>\r\n--r\r\n"
        b'Content-Type: image/png; name="logo.png"\r\nContent-Disposition: inline; '
        b'filename="logo.png"\r\nContent-ID: <logo>\r\n\r\nPNG\r\n--r--\r\n'
    )
    parsed = mime.parse_message(raw)
    assert not parsed.has_attachment
    logo = mime.render_payload(parsed, "m", "full")["parts"][1]
    assert logo["filename"] == "logo.png" and "attachmentId" in logo["body"]


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"no headers and no blank line",
        b"\r\n\r\nbody only",
        b"Content-Type: multipart/mixed\r\n\r\nmissing boundary",
        b'Content-Type: multipart/mixed; boundary="zz"\r\n\r\nboundary never appears',
        b'Content-Type: multipart/mixed; boundary="zz"\r\n\r\n--zz\r\nunterminated part',
        b"Content-Type: text/plain; charset=no-such-charset\r\n\r\n\xff\xfe caf\xe9",
        b"Content-Type: text/plain; charset=utf-8\r\n\r\ninvalid \xc3\x28 utf-8",
        b"Content-Transfer-Encoding: base64\r\n\r\n!!!not base64?",
        b"Content-Transfer-Encoding: base64\r\n\r\nYWJjZA",
        b"Content-Type: garbage\r\nContent-Disposition: ;;;\r\n\r\nx",
        b'Content-Type: text/plain; name="unterminated\r\n\r\nx',
        b"Subject: =?utf-8?B?!!!?= =?utf-8?Q?=ZZ?=\r\n\r\nx",
        b"\xff\xfe\x00garbage: \x80\x81\r\n\r\n\x00\x01",
    ],
)
def test_malformed_messages_never_raise(raw):
    parsed = mime.parse_message(raw)
    payload = mime.render_payload(parsed, "m", "full")
    assert isinstance(payload["mimeType"], str)
    assert isinstance(parsed.snippet, str) and isinstance(parsed.plain_text, str)
    assert isinstance(parsed.has_attachment, bool)
    mime.render_payload(parsed, "m", "metadata", ["subject"])
    assert isinstance(mime.parse_headers_only(raw), list)


def test_missing_content_type_is_text_plain_and_base64_is_lenient():
    parsed = mime.parse_message(b"Subject: hi\r\n\r\nHello\r\n")
    payload = mime.render_payload(parsed, "m", "full")
    assert payload["mimeType"] == "text/plain" and _data(payload["body"]) == b"Hello\r\n"
    unpadded = mime.parse_message(b"Content-Transfer-Encoding: base64\r\n\r\nYWJjZA")
    assert unpadded.plain_text == "abcd"
    empty = mime.render_payload(mime.parse_message(b"Subject: x\r\n\r\n"), "m", "full")
    assert empty["body"] == {"size": 0}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Tue, 05 Mar 2024 14:23:11 +0100", 1709644991000),
        ("Tue, 5 Mar 2024 13:23:11 +0000 (UTC)", 1709644991000),
        ("5 Mar 2024 08:23:11 -0500", 1709644991000),
        ("Tue, 05 Mar 2024 13:23:11 GMT", 1709644991000),
        ("Tue, 05 Mar 2024 13:23:11", 1709644991000),  # no zone: UTC
        ("Tue Mar 05 13:23:11 +0000 2024", 1709644991000),
        ("Thu, 1 Jan 1970 00:00:00 +0000", 0),
        ("", None),
        (None, None),
        ("not a date", None),
        ("Tue, 45 Foo 2024 99:99:99 +0000", None),
    ],
)
def test_date_header_ms(value, expected):
    assert mime.date_header_ms(value) == expected


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Re: RE: Fwd:  Quarterly   Planning ", "quarterly planning"),
        ("AW: Fw: re[2]: Budget", "budget"),
        ("FWD: re : hello", "hello"),
        ("Regarding the plan", "regarding the plan"),
        ("Re:", ""),
        (None, ""),
    ],
)
def test_normalize_subject(subject, expected):
    assert mime.normalize_subject(subject) == expected


def _schema(name: str) -> dict:
    return json.loads(DISCOVERY.read_text())["schemas"][name]


def _check_part(part: dict, part_schema: dict, body_schema: dict, header_schema: dict) -> None:
    """Types and key names of a MessagePart exactly as the discovery document declares them."""
    assert set(part) <= set(part_schema["properties"])
    assert isinstance(part["partId"], str) and isinstance(part["mimeType"], str)
    assert isinstance(part["filename"], str)
    for header in part["headers"]:
        assert set(header) == set(header_schema["properties"])
        assert all(isinstance(v, str) for v in header.values())
    body = part["body"]
    assert set(body) <= set(body_schema["properties"])
    assert isinstance(body["size"], int) and 0 <= body["size"] < 2**31  # format int32
    if "data" in body:
        assert len(base64.urlsafe_b64decode(body["data"])) == body["size"]
    if "attachmentId" in body:
        assert isinstance(body["attachmentId"], str) and "data" not in body
    if "parts" in part:
        assert body == {"size": 0} and part["parts"]
        for index, child in enumerate(part["parts"]):
            prefix = f"{part['partId']}." if part["partId"] else ""
            assert child["partId"] == f"{prefix}{index}"
            _check_part(child, part_schema, body_schema, header_schema)


def test_synthetic_payloads_match_the_discovery_schema():
    schemas = [_schema(n) for n in ("MessagePart", "MessagePartBody", "MessagePartHeader")]
    for index, seed in enumerate(synthetic_messages("me@example.com", 150, seed=3)):
        parsed = mime.parse_message(seed.raw)
        message_id = f"{index:016x}"
        payload = mime.render_payload(parsed, message_id, "full")
        assert payload["partId"] == ""
        _check_part(payload, *schemas)
        metadata = mime.render_payload(parsed, message_id, "metadata", ["Subject"])
        assert set(metadata) <= set(schemas[0]["properties"])
        stack = [payload]
        while stack:
            part = stack.pop()
            stack.extend(part.get("parts", []))
            if "attachmentId" in part["body"]:
                got = mime.get_attachment(parsed, message_id, part["body"]["attachmentId"])
                assert got["size"] == part["body"]["size"]
