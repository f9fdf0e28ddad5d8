"""Reverse ETL: `meltano run tap-postgres target-gmail` (MeltanoLabs tap-postgres).

A PostgreSQL table of outbound messages and a table of label rules (through the README's
view over the warehouse) drive target-gmail. The tables, the view and the stream names are
exactly the README's (its `-- setup:` block is run here). Each message is sent once and each
rule applied once, however often the pipelines run.
"""

from __future__ import annotations

import base64
import email
import email.policy

import pytest

from tests.conftest import Api
from tests.target.harness import calls, mutating_calls, reset_stats, stats

from .conftest import ALICE, BOB, meltano_run, readme_sql, summary

pytestmark = [pytest.mark.timeout(600), pytest.mark.slow]

RULES = [("lists.example", "Lists/Announcements"), ("lists.example", "Newsletters")]
OUTBOX = [
    {"id": "pg-1", "to": [BOB], "subject": "pg outbox: plain", "body": "one"},
    {
        "id": "pg-2",
        "to": [f"Bob <{BOB}>", "carol@example.org"],
        "cc": ["dave@example.org"],
        "subject": "pg outbox: two recipients",
        "body": "two",
        "body_html": "<p>two <b>html</b></p>",
    },
    {
        "id": "pg-3",
        "to": [BOB],
        "subject": "pg outbox: labelled",
        "body": "three",
        "labels": ["STARRED", "Outbound/PG"],
    },
]
LATE = {"id": "pg-4", "to": [BOB], "subject": "pg outbox: added later", "body": "four"}
FULL_LOOP = ("tap-gmail", "target-postgres", "tap-postgres", "target-gmail")


def insert_outbound(sql, row: dict) -> None:
    columns = ", ".join(f'"{c}"' for c in row)
    marks = ", ".join(["%s"] * len(row))
    sql.execute(
        f"insert into gmail_outbox.outbound_messages ({columns}) values ({marks})",
        list(row.values()),
    )


def insert_mail(api: Api, sender: str, subject: str) -> str:
    raw = f"From: {sender}\r\nTo: {ALICE}\r\nSubject: {subject}\r\n\r\nhi\r\n".encode()
    body = {"raw": base64.urlsafe_b64encode(raw).decode(), "labelIds": ["INBOX", "UNREAD"]}
    return api.ok("POST", "/messages", json=body)["id"]


def sent(api: Api, subject: str) -> list[dict]:
    answer = api.ok("GET", "/messages", params={"q": f'in:sent subject:"{subject}"'})
    return answer.get("messages", [])


def raw_message(api: Api, message_id: str) -> email.message.EmailMessage:
    raw = api.ok("GET", f"/messages/{message_id}", params={"format": "raw"})["raw"]
    return email.message_from_bytes(base64.urlsafe_b64decode(raw), policy=email.policy.default)


def label_names_of(api: Api, message_id: str) -> set[str]:
    names = {label["id"]: label["name"] for label in api.ok("GET", "/labels")["labels"]}
    ids = api.ok("GET", f"/messages/{message_id}", params={"format": "minimal"})["labelIds"]
    return {names[i] for i in ids}


def due(sql) -> list[str]:
    return sorted(r[0] for r in sql.execute("select message_id from gmail_outbox.label_changes"))


def assert_each_sent_once(alice: Api, rows: list[dict]) -> None:
    for row in rows:
        assert len(sent(alice, row["subject"])) == 1, row["id"]


def test_outbox_and_label_rules_apply_exactly_once(emu, pg, database, sql, alice, tmp_path):
    ruled = [insert_mail(alice, f"News <news{i}@lists.example>", f"list post {i}") for i in (1, 2)]
    ruled.append(insert_mail(alice, "Digest <digest@LISTS.example>", "weekly digest"))
    bystander = insert_mail(alice, "Someone <someone@elsewhere.example>", "not a list")
    # The warehouse first: the rules' view reads tap_gmail.messages.
    meltano_run(emu, pg, database, tmp_path, "tap-gmail", "target-postgres")
    sql.execute(readme_sql()["setup"])
    sql.cursor().executemany("insert into gmail_outbox.label_rules values (%s, %s)", RULES)
    for row in OUTBOX:
        insert_outbound(sql, row)
    assert due(sql) == sorted(ruled)
    reset_stats(emu)

    # 1. tap-postgres target-gmail: every row sent, every rule applied.
    first = meltano_run(emu, pg, database, tmp_path, "tap-postgres", "target-gmail")

    assert summary(first) == {
        "outbound_messages.applied": len(OUTBOX),
        "label_changes.applied": len(ruled),
        "rejected": 0,
    }
    assert stats(emu)["sends"]["total"] == len(OUTBOX)
    assert_each_sent_once(alice, OUTBOX)
    [two] = sent(alice, "pg outbox: two recipients")
    mail = raw_message(alice, two["id"])
    assert mail["To"] == f"Bob <{BOB}>, carol@example.org" and mail["Cc"] == "dave@example.org"
    assert "<b>html</b>" in mail.get_body(("html",)).get_content()
    [labelled] = sent(alice, "pg outbox: labelled")
    assert {"SENT", "STARRED", "Outbound/PG"} <= label_names_of(alice, labelled["id"])
    assert calls(emu, "messages.batchModify") == 1  # the 3 messages share one change set
    for message_id in ruled:
        assert {"Lists/Announcements", "Newsletters"} <= label_names_of(alice, message_id)
    assert label_names_of(alice, bystander) == {"INBOX", "UNREAD"}

    # 2. One row more, then the whole loop: the warehouse is refreshed first, so the rules
    #    have nothing left to do; only the new row is sent.
    insert_outbound(sql, LATE)
    reset_stats(emu)

    second = meltano_run(emu, pg, database, tmp_path, *FULL_LOOP)

    assert "incremental from historyId" in second.stderr
    assert summary(second) == {
        "outbound_messages.applied": 1,
        "outbound_messages.unchanged": len(OUTBOX),
        "rejected": 0,
    }
    assert due(sql) == []
    assert calls(emu, "messages.send") == 1
    assert mutating_calls(emu) == 1
    assert_each_sent_once(alice, [*OUTBOX, LATE])
    in_warehouse = sql.execute(
        "select count(*) from tap_gmail.messages "
        "where 'SENT' = any(label_ids) and subject like 'pg outbox:%%'"
    ).fetchone()[0]
    assert in_warehouse == len(OUTBOX)  # the loop read back what the first run sent

    # 3. tap-postgres target-gmail again: nothing is sent or changed.
    reset_stats(emu)

    third = meltano_run(emu, pg, database, tmp_path, "tap-postgres", "target-gmail")

    assert summary(third) == {"outbound_messages.unchanged": len(OUTBOX) + 1, "rejected": 0}
    assert mutating_calls(emu) == 0
    assert_each_sent_once(alice, [*OUTBOX, LATE])
    assert stats(emu)["sends"]["total"] == 0
