"""CP-CAL normalisation: hand-built Gmail JSON for each MIME/charset/header case, every record
validated against schemas/*.json, plus one run over real emulator output in all four formats."""

from __future__ import annotations

import base64
import itertools
import json
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from pathlib import Path

import jsonschema
import pytest
import requests

from gmail_core.cpcal import (
    decode_header,
    normalize_label,
    normalize_message,
    normalize_thread,
    tombstone,
)

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
BOX = "alice@example.com"
LABELS = {"INBOX": "INBOX", "Label_7": "Work/Projects"}


def _validator(name: str) -> jsonschema.Draft7Validator:
    schema = json.loads((SCHEMAS / f"{name}.json").read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema, format_checker=jsonschema.FormatChecker())


VALIDATORS = {name: _validator(name) for name in ("messages", "threads", "labels")}


def check(record: dict, stream: str = "messages") -> dict:
    """Schema-valid, exactly the schema's keys, and every date-time a zoned ISO timestamp."""
    validator = VALIDATORS[stream]
    validator.validate(record)
    properties = validator.schema["properties"]
    assert set(record) == set(properties)
    for key, spec in properties.items():
        if spec.get("format") == "date-time" and record[key] is not None:
            assert datetime.fromisoformat(record[key]).utcoffset().total_seconds() == 0
    return record


def b64(data: bytes | str, pad: bool = False) -> str:
    raw = data.encode() if isinstance(data, str) else data
    encoded = base64.urlsafe_b64encode(raw).decode()
    return encoded if pad else encoded.rstrip("=")  # Gmail sometimes drops the padding


def hdrs(**values: str) -> list[dict]:
    return [
        {"name": k.rstrip("_").replace("_", "-").title(), "value": v} for k, v in values.items()
    ]


def leaf(part_id, mime, data: bytes | None, charset=None, headers=(), filename="", **body):
    ctype = f"{mime}; charset={charset}" if charset else mime
    body = {"size": len(data or b""), **body}
    if data is not None and "attachmentId" not in body:
        body["data"] = b64(data)
    head = [{"name": "Content-Type", "value": ctype}, *headers]
    return {
        "partId": part_id,
        "mimeType": mime,
        "filename": filename,
        "headers": head,
        "body": body,
    }


def container(part_id, mime, parts, headers=()):
    head = [{"name": "Content-Type", "value": f'{mime}; boundary="b{part_id}"'}, *headers]
    return {"partId": part_id, "mimeType": mime, "filename": "", "headers": head,
            "body": {"size": 0}, "parts": parts}  # fmt: skip


def message(payload=None, **extra) -> dict:
    msg = {
        "id": "18c0ffee00000001",
        "threadId": "18c0ffee00000000",
        "labelIds": ["INBOX", "Label_7", "Label_99"],
        "snippet": "Fish &amp; chips &lt;3 &#39;today&#39;",
        "historyId": "98765",
        "internalDate": "1767323045678",
        "sizeEstimate": 2345,
    }
    if payload is not None:
        msg["payload"] = payload
    msg.update(extra)
    return msg


TOP = hdrs(
    subject="Lunch =?utf-8?q?caf=C3=A9?=",
    from_="José Álvarez <jose@example.com>",
    to='"Doe, John" <john@example.com>, Müller, Jürgen <j@beispiel.de>, , bob@example.com',
    cc="=?utf-8?b?TcO8bGxlciwgSsO8cmdlbg==?= <j2@beispiel.de>, van der Berg, Jan <jan@x.nl>",
    reply_to="undisclosed-recipients:;",
    date="Fri, 02 Jan 2026 04:04:05 +0100",
    message_id="<m1@example.com>",
    in_reply_to="<m0@example.com>",
    references="<a@x>\r\n <m0@example.com>",
)


def alternative(top=TOP) -> dict:
    text = leaf("0", "text/plain", "Hi 👋\r\n".encode(), "UTF-8")
    markup = leaf("1", "text/html", b"<p>Hi &#128075;</p>", "utf-8")
    return {**container("", "multipart/alternative", [text, markup]), "headers": top}


# --- full format ----------------------------------------------------------------------------


def test_multipart_alternative_record():
    rec = check(normalize_message(message(alternative()), BOX, LABELS))
    assert rec["id"] == "18c0ffee00000001" and rec["mailbox"] == BOX
    assert rec["subject"] == "Lunch café"
    assert rec["body"] == rec["body_text"] == "Hi 👋\r\n"
    assert rec["body_html"] == "<p>Hi &#128075;</p>"
    assert rec["from"] == "José Álvarez <jose@example.com>"
    assert rec["from_address"] == {"name": "José Álvarez", "email": "jose@example.com"}
    assert rec["timestamp"] == rec["internal_date"] == "2026-01-02T03:04:05.678000+00:00"
    assert rec["date_header"] == "2026-01-02T03:04:05.000000+00:00"
    assert rec["metadata"] == {
        "threadId": "18c0ffee00000000",
        "labelIds": ["INBOX", "Label_7", "Label_99"],
        "historyId": "98765",
    }
    assert rec["history_id"] == 98765 and rec["thread_id"] == "18c0ffee00000000"
    assert rec["label_names"] == ["INBOX", "Work/Projects", "Label_99"]  # unknown id kept
    assert rec["snippet"] == "Fish & chips <3 'today'"
    assert rec["message_id_header"] == "<m1@example.com>"
    assert rec["in_reply_to"] == "<m0@example.com>"
    assert rec["references"] == ["<a@x>", "<m0@example.com>"]
    assert rec["attachments"] == [] and rec["size_estimate"] == 2345
    assert rec["_sdc_deleted_at"] is None


def test_address_lists_with_commas_and_non_ascii():
    rec = check(normalize_message(message(alternative()), BOX, LABELS))
    assert rec["to"] == [
        {"name": "Doe, John", "email": "john@example.com"},
        {"name": "Müller, Jürgen", "email": "j@beispiel.de"},  # decoded, unquoted, one entry
        {"name": None, "email": "bob@example.com"},  # the empty entry is skipped
    ]
    assert rec["cc"] == [
        {"name": "Müller, Jürgen", "email": "j2@beispiel.de"},  # comma inside an encoded word
        {"name": "van der Berg, Jan", "email": "jan@x.nl"},
    ]
    assert rec["reply_to"] == [] and rec["bcc"] == []


def test_html_only_message_gets_derived_text():
    markup = (
        "<html><head><title>T</title><style>p{color:red}</style></head><body>"
        "<script>alert('x')</script><div>Caf&eacute;   &amp; <b>bar</b><br>price 5&#8364;</div>"
        "\n\n<p>Second\n line</p><p></p><p></p><ul><li>one</li><li>two</li></ul></body></html>"
    )
    payload = {**leaf("", "text/html", markup.encode("iso-8859-1"), "iso-8859-1"), "headers": TOP}
    rec = check(normalize_message(message(payload), BOX, LABELS))
    assert rec["body_html"] == markup
    assert rec["body_text"] == rec["body"] == "Café & bar\nprice 5€\n\nSecond line\n\none\ntwo"


@pytest.mark.parametrize(
    ("charset", "text"),
    [
        ("iso-8859-1", "Reunión mañana, ¿sí?"),
        ('"koi8-r"', "Отчёт за квартал"),
        ("windows-1252", "Rechnung über 120 € – „gut“"),
        ("iso-2022-jp", "会議の件"),
    ],
)
def test_charset_bodies(charset, text):
    data = text.encode(charset.strip('"'))
    rec = check(normalize_message(message(leaf("", "text/plain", data, charset)), BOX, {}))
    assert rec["body_text"] == text


def test_charset_fallbacks():
    wrong = leaf("", "text/plain", "naïve".encode(), "us-ascii")  # mislabelled UTF-8
    unknown = leaf("", "text/plain", "naïve".encode(), "x-klingon")
    latin = leaf("", "text/plain", "naïve".encode("latin-1"), None)
    for payload in (wrong, unknown, latin):
        assert check(normalize_message(message(payload), BOX, {}))["body_text"] == "naïve"


def test_quoted_printable_is_not_decoded_twice_in_full_format():
    # Gmail has already removed the transfer encoding: a literal "=3D" must survive.
    cte = [{"name": "Content-Transfer-Encoding", "value": "quoted-printable"}]
    data = "café costs =3D 3€, a=b".encode()
    payload = leaf("", "text/plain", data, "utf-8", headers=cte)
    assert (
        check(normalize_message(message(payload), BOX, {}))["body_text"] == "café costs =3D 3€, a=b"
    )


def test_attachments_metadata_and_nested_bodies():
    disposition = [{"name": "Content-Disposition", "value": "attachment"}]
    alt = container("0", "multipart/alternative", [
        leaf("0.0", "text/plain", b"plain body", "utf-8"),
        leaf("0.1", "text/html", b"<b>html body</b>", "utf-8"),
    ])  # fmt: skip
    parts = [
        alt,
        leaf("1", "application/pdf", None, filename="r\u00e9sum\u00e9.pdf", attachmentId="ANG1"),
        leaf("2", "image/png", b"\x89PNG", filename="=?utf-8?q?p=C3=A9.png?="),
        leaf("3", "text/plain", b"not the body", "utf-8", headers=disposition),
        leaf("4", "message/rfc822", None, attachmentId="ANG4"),
    ]
    parts[1]["body"]["size"] = 5120
    rec = check(normalize_message(message(container("", "multipart/mixed", parts)), BOX, {}))
    assert rec["body_text"] == "plain body" and rec["body_html"] == "<b>html body</b>"
    assert rec["attachments"] == [
        {"part_id": "1", "filename": "résumé.pdf", "mime_type": "application/pdf",
         "size": 5120, "attachment_id": "ANG1"},
        {"part_id": "2", "filename": "pé.png", "mime_type": "image/png",
         "size": 4, "attachment_id": None},
        {"part_id": "4", "filename": None, "mime_type": "message/rfc822",
         "size": 0, "attachment_id": "ANG4"},
    ]  # fmt: skip


def test_rfc2047_decoding_is_idempotent():
    cases = {
        "=?utf-8?q?caf=C3=A9?= =?iso-8859-1?q?_ol=E1?=": "café olá",
        "Müller =?utf-8?q?caf=C3=A9?= x": "Müller café x",  # decoded text + a stray word
        "=?utf-8?b?5L2g5aW9?==?utf-8?b?5LiW55WM?=": "你好世界",
        "=?utf-8?q?a?=\r\n =?utf-8?q?b?=": "ab",  # folded
        "plain =? text ?=": "plain =? text ?=",
        "José": "José",
    }
    for raw, want in cases.items():
        assert decode_header(raw) == want
        assert decode_header(decode_header(raw)) == want
    assert decode_header(None) is None


def test_bad_dates_and_missing_fields():
    top = hdrs(date="not a date", subject="x")
    rec = check(normalize_message(message(alternative(top), internalDate=None), BOX, {}))
    assert rec["date_header"] is None and rec["timestamp"] is None
    assert rec["from"] is None and rec["from_address"] is None and rec["to"] == []
    zoneless = hdrs(date="Fri, 02 Jan 2026 03:04:05 -0000")
    rec = check(normalize_message(message(alternative(zoneless), labelIds=None), BOX, {}))
    assert rec["date_header"] == "2026-01-02T03:04:05.000000+00:00"
    assert rec["label_ids"] == [] and rec["label_names"] == []


def _date_via_email_utils(value: str) -> str | None:
    """What ``date_header`` was before its fast path: email.utils for every value."""
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    try:
        return parsed.astimezone(timezone.utc).isoformat(timespec="microseconds")
    except (OverflowError, ValueError):
        return None


def test_date_header_fast_path_matches_email_utils():
    """The usual RFC 5322 form is read directly; every value must still come out as before."""
    days = ["", "Mon, ", "Xyz, ", "mon, ", "Sun,"]
    dates = ["1 Jan", "09 Feb", "29 Feb", "30 Feb", "32 Dec", "1 feb", "٣ Jan"]
    years = ["2024", "0099", "0001", "9999", "99", "10000"]
    times = ["23:59:59", "24:00:00", "10:00:60", "10:00", "1:02:03"]
    zones = ["+0000", "-0000", "+0530", "-2359", "+2400", "+0060", "GMT", ""]
    for parts in itertools.product(days, dates, years, times, zones):
        value = "{}{} {} {} {}".format(*parts).strip()
        for candidate in (value, value + " (UTC)", " " + value):
            rec = normalize_message(message(alternative(hdrs(date=candidate))), BOX, {})
            assert rec["date_header"] == _date_via_email_utils(candidate), candidate


def test_undecodable_body_data():
    payload = leaf("", "text/plain", b"", "utf-8")
    payload["body"] = {"size": 3, "data": "!!!"}
    assert check(normalize_message(message(payload), BOX, {}))["body_text"] == ""


# --- metadata, minimal, raw -----------------------------------------------------------------


def test_metadata_format_has_headers_but_no_bodies():
    payload = {"mimeType": "multipart/alternative", "headers": TOP}
    rec = check(normalize_message(message(payload), BOX, LABELS))
    assert rec["subject"] == "Lunch café" and len(rec["to"]) == 3
    assert rec["body"] is None and rec["body_text"] is None and rec["body_html"] is None
    assert rec["attachments"] is None


def test_minimal_format_leaves_unknowns_null():
    rec = check(normalize_message(message(), BOX, LABELS))
    for key in ("subject", "from", "from_address", "to", "cc", "bcc", "reply_to", "references"):
        assert rec[key] is None
    assert rec["attachments"] is None and rec["body"] is None and rec["date_header"] is None
    assert rec["history_id"] == 98765 and rec["label_names"][1] == "Work/Projects"


RAW = (
    "From: =?utf-8?q?Jos=C3=A9_=C3=81lvarez?= <jose@example.com>\r\n"
    'To: =?utf-8?b?TcO8bGxlciwgSsO8cmdlbg==?= <j@beispiel.de>, "Doe, John" <john@example.com>\r\n'
    "Subject: =?iso-8859-1?q?R=E9union_?=\r\n =?koi8-r?b?8NLJ18XU?=\r\n"
    "Date: Fri, 02 Jan 2026 04:04:05 +0100\r\n"
    "Message-ID: <raw1@example.com>\r\n"
    "MIME-Version: 1.0\r\n"
    'Content-Type: multipart/mixed; boundary="XX"\r\n\r\n'
    "--XX\r\n"
    'Content-Type: multipart/alternative; boundary="YY"\r\n\r\n'
    "--YY\r\n"
    "Content-Type: text/plain; charset=iso-8859-1\r\n"
    "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
    "Caf=E9 =3D 3 euros, a long line that is soft=\r\n broken.\r\n"
    "--YY\r\n"
    "Content-Type: text/html; charset=utf-8\r\n"
    "Content-Transfer-Encoding: base64\r\n\r\n"
    f"{base64.b64encode('<p>Café</p>'.encode()).decode()}\r\n"
    "--YY--\r\n"
    "--XX\r\n"
    "Content-Type: application/pdf\r\n"
    "Content-Disposition: attachment; filename*=utf-8''r%C3%A9sum%C3%A9.pdf\r\n"
    "Content-Transfer-Encoding: base64\r\n\r\n"
    f"{base64.b64encode(b'%PDF-1.4 tiny').decode()}\r\n"
    "--XX--\r\n"
).encode()


def test_raw_format_decodes_transfer_encodings_and_headers():
    rec = check(normalize_message(message(raw=b64(RAW)), BOX, LABELS))
    assert rec["subject"] == "Réunion Привет"
    assert rec["from"] == "José Álvarez <jose@example.com>"
    assert rec["from_address"] == {"name": "José Álvarez", "email": "jose@example.com"}
    assert rec["to"] == [
        {"name": "Müller, Jürgen", "email": "j@beispiel.de"},
        {"name": "Doe, John", "email": "john@example.com"},
    ]
    assert rec["body_text"] == "Café = 3 euros, a long line that is soft broken."  # CRLF: boundary
    assert rec["body_html"] == "<p>Café</p>"
    assert rec["attachments"] == [
        {"part_id": "1", "filename": "résumé.pdf", "mime_type": "application/pdf",
         "size": 13, "attachment_id": None},
    ]  # fmt: skip
    assert rec["date_header"] == "2026-01-02T03:04:05.000000+00:00"
    assert rec["message_id_header"] == "<raw1@example.com>" and rec["references"] == []


def test_raw_koi8r_base64_body_and_8bit_header():
    raw = (
        "Subject: Привет из Москвы\r\nFrom: Ольга Петрова <olga@primer.ru>\r\n"
        "Content-Type: text/plain; charset=koi8-r\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    ).encode() + base64.encodebytes("Отчёт за квартал\r\n".encode("koi8-r"))
    rec = check(normalize_message(message(raw=b64(raw, pad=True)), BOX, {}))
    assert rec["subject"] == "Привет из Москвы"  # RFC 6532 8-bit UTF-8 header
    assert rec["from_address"] == {"name": "Ольга Петрова", "email": "olga@primer.ru"}
    assert rec["body_text"] == "Отчёт за квартал\r\n"


def test_deleted_at_and_tombstone():
    rec = normalize_message(message(), BOX, {}, deleted_at="2026-01-03T00:00:00+00:00")
    assert check(rec)["_sdc_deleted_at"] == "2026-01-03T00:00:00+00:00"
    stone = check(tombstone("m1", "t1", BOX, "2026-01-03T00:00:00+00:00", history_id=42))
    assert stone["id"] == "m1" and stone["thread_id"] == "t1" and stone["mailbox"] == BOX
    assert stone["history_id"] == 42 and stone["_sdc_deleted_at"] == "2026-01-03T00:00:00+00:00"
    rest = {k: v for k, v in stone.items() if k not in ("id", "thread_id", "mailbox")}
    assert set(rest.values()) == {None, 42, "2026-01-03T00:00:00+00:00"}
    assert check(tombstone("m2", None, BOX, "2026-01-03T00:00:00Z"))["history_id"] is None


# --- threads and labels ---------------------------------------------------------------------


def test_thread_full_and_minimal():
    first = message(alternative(), labelIds=["Label_7"], internalDate="1767323045678")
    second = message(id="m2", labelIds=["INBOX", "Label_7"], internalDate="1767409445000")
    thread = {"id": "t1", "historyId": "555", "messages": [first, second]}
    rec = check(normalize_thread(thread, BOX, LABELS), "threads")
    assert rec["history_id"] == 555 and rec["subject"] == "Lunch café"
    assert rec["message_ids"] == ["18c0ffee00000001", "m2"] and rec["message_count"] == 2
    assert rec["label_ids"] == ["INBOX", "Label_7"]
    assert rec["label_names"] == ["INBOX", "Work/Projects"]
    assert rec["first_message_at"] == "2026-01-02T03:04:05.678000+00:00"
    assert rec["last_message_at"] == "2026-01-03T03:04:05.000000+00:00"
    assert rec["snippet"] == "Fish & chips <3 'today'"  # from the latest message
    minimal = {"id": "t1", "historyId": "555", "messages": [message(), second]}
    assert check(normalize_thread(minimal, BOX, LABELS), "threads")["subject"] is None
    listed = {"id": "t2", "snippet": "a &amp; b", "historyId": "7"}
    rec = check(normalize_thread(listed, BOX, {}), "threads")
    assert rec["snippet"] == "a & b" and rec["message_ids"] is None and rec["label_ids"] == []


def test_labels():
    user = {
        "id": "Label_7", "name": "Work/Projects/2026", "type": "user",
        "messageListVisibility": "show", "labelListVisibility": "labelShow",
        "color": {"textColor": "#ffffff", "backgroundColor": "#16a766"},
        "messagesTotal": 12, "messagesUnread": "3", "threadsTotal": 10, "threadsUnread": 2,
    }  # fmt: skip
    rec = check(normalize_label(user, BOX), "labels")
    assert rec["parent_name"] == "Work/Projects" and rec["messages_unread"] == 3
    assert rec["color_text"] == "#ffffff" and rec["color_background"] == "#16a766"
    system = check(
        normalize_label({"id": "INBOX", "name": "INBOX", "type": "system"}, BOX), "labels"
    )
    assert system["parent_name"] is None and system["messages_total"] is None


# --- real emulator output -------------------------------------------------------------------


def test_emulator_output_in_every_format_matches_the_schemas():
    from gmail_emulator import EmulatorConfig, start_emulator

    server = start_emulator(
        EmulatorConfig(users=[BOX], messages=200, seed=5, quota_units_per_second=0)
    )
    try:
        form = {"grant_type": "refresh_token", "client_id": "c", "client_secret": "s",
                "refresh_token": "r"}  # fmt: skip
        token = requests.post(server.token_url, data=form, timeout=30).json()["access_token"]
        http = requests.Session()
        http.headers["Authorization"] = f"Bearer {token}"
        root = f"{server.url}/gmail/v1/users/me"

        def get(path: str, **params) -> dict:
            response = http.get(f"{root}{path}", params=params, timeout=30)
            assert response.status_code == 200, response.text
            return response.json()

        labels = get("/labels")["labels"]
        names = {label["id"]: label["name"] for label in labels}
        label_recs = [check(normalize_label(label, BOX), "labels") for label in labels]
        assert {"name": "Work/Projects", "parent_name": "Work"}.items() <= next(
            r for r in label_recs if r["name"] == "Work/Projects"
        ).items()

        ids = [
            m["id"] for m in get("/messages", maxResults=500, includeSpamTrash="true")["messages"]
        ]
        assert len(ids) == 200
        full = {i: get(f"/messages/{i}", format="full") for i in ids}
        recs = {i: check(normalize_message(m, BOX, names)) for i, m in full.items()}

        people = {
            (a["name"], a["email"])
            for r in recs.values()
            for a in [r["from_address"], *r["to"], *r["cc"]]
            if a
        }
        assert ("Müller, Jürgen", "j.mueller@beispiel-gmbh.de") in people
        assert ("Ольга Петрова", "olga.petrova@primer.ru") in people
        assert ("José Álvarez", "jose.alvarez@ejemplo.es") in people
        with_files = [r for r in recs.values() if r["attachments"]]
        assert with_files and all(a["attachment_id"] and a["size"] > 0
                                  for r in with_files for a in r["attachments"])  # fmt: skip
        html_only = [i for i, m in full.items() if m["payload"]["mimeType"] == "text/html"]
        assert html_only
        for i in html_only:
            assert recs[i]["body_text"] and "<" not in recs[i]["body_text"]
        assert any("Work/Projects" in r["label_names"] for r in recs.values())
        assert all(isinstance(r["history_id"], int) for r in recs.values())

        # The interesting messages first, so raw covers encoded names, files and html-only.
        def interesting(i: str) -> bool:
            r = recs[i]
            named = [a["name"] or "" for a in [r["from_address"], *r["to"]] if a]
            return bool(r["attachments"]) or i in html_only or not all(map(str.isascii, named))

        sample = sorted(ids, key=lambda i: not interesting(i))[:20]
        for i in sample:
            want = recs[i]
            raw = check(normalize_message(get(f"/messages/{i}", format="raw"), BOX, names))
            files = [dict(a, attachment_id=None) for a in want["attachments"]]
            assert {**raw, "attachments": files} == {**want, "attachments": files}
            meta = check(normalize_message(get(f"/messages/{i}", format="metadata"), BOX, names))
            assert meta["to"] == want["to"] and meta["subject"] == want["subject"]
            assert meta["body_text"] is None and meta["attachments"] is None
            mini = check(normalize_message(get(f"/messages/{i}", format="minimal"), BOX, names))
            assert mini["subject"] is None and mini["label_ids"] == want["label_ids"]

        for item in get("/threads", maxResults=5)["threads"]:
            thread = check(normalize_thread(get(f"/threads/{item['id']}"), BOX, names), "threads")
            assert thread["message_count"] == len(thread["message_ids"]) >= 1
            assert thread["subject"] == recs[thread["message_ids"][0]]["subject"]
            minimal = get(f"/threads/{item['id']}", format="minimal")
            assert check(normalize_thread(minimal, BOX, names), "threads")["subject"] is None
    finally:
        server.stop()
