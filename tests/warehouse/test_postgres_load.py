"""`meltano run tap-gmail target-postgres` (MeltanoLabs variant) into a real PostgreSQL.

A full run, then changes in the emulator (new, relabelled and deleted messages, a deleted
thread, a deleted label, a new label), then an incremental run; the tests check the result
in SQL: keys, upserts, soft deletes, column types, UTC timestamps, lists of objects as JSON
arrays and the README's queries.
The server runs with TimeZone America/New_York on purpose (see conftest): a target that let
the server's zone into `timestamp` columns would shift every value.
"""

from __future__ import annotations

import base64
import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone

import pytest

from gmail_core.cpcal import normalize_message
from gmail_emulator import EmulatorConfig, start_emulator
from tests.conftest import Api, issue_token

from .conftest import ALICE, BOB, listed, meltano_run, readme_sql

pytestmark = [pytest.mark.timeout(600), pytest.mark.slow]

TABLES = ("messages", "threads", "labels")
# Lists of objects: one jsonb column each, holding a JSON array (README "The warehouse").
OBJECT_LISTS = ("to", "cc", "bcc", "reply_to", "attachments")
NEW_SUBJECTS = ("warehouse: new one", "warehouse: new two")
NEW_LABEL = "Warehouse/Checked"


@dataclass
class Loaded:
    """What the two runs did, and what the tests compare the warehouse with."""

    api: Api
    conn: object
    first_counts: dict[str, int]
    first_max_history: int
    relabelled: str
    new_label_id: str
    deleted_message: str
    deleted_thread: str
    thread_messages: list[str]
    deleted_label: str
    had_deleted_label: list[str]
    new_ids: list[str] = field(default_factory=list)
    second_stderr: str = ""

    def rows(self, query: str, *params) -> list[tuple]:
        return self.conn.execute(query, params).fetchall()

    def one(self, query: str, *params):
        return self.conn.execute(query, params).fetchone()[0]


@pytest.fixture(scope="module")
def loaded(pg, tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("warehouse")
    emu = start_emulator(
        EmulatorConfig(users=[ALICE, BOB], messages=60, seed=29, quota_units_per_second=0)
    )
    database = pg.create_database("warehouse_load")
    try:
        with pg.connect(database) as conn:
            yield _load(emu, pg, database, tmp_path, conn)
    finally:
        emu.stop()


def _load(emu, pg, database, tmp_path, conn) -> Loaded:
    api = Api(emu.url, issue_token(emu, ALICE))
    meltano_run(emu, pg, database, tmp_path, "tap-gmail", "target-postgres")
    counts = {t: conn.execute(f"select count(*) from tap_gmail.{t}").fetchone()[0] for t in TABLES}
    max_history = conn.execute("select max(history_id) from tap_gmail.messages").fetchone()[0]

    # A thread of 2+ messages to delete whole; a message to delete and one to relabel outside it.
    threads = listed(api, "threads")
    sizes = {
        t["id"]: api.ok("GET", f"/threads/{t['id']}", params={"format": "minimal"}) for t in threads
    }
    thread_id = next(tid for tid, t in sizes.items() if len(t["messages"]) >= 2)
    thread_messages = [m["id"] for m in sizes[thread_id]["messages"]]
    others = [m["id"] for m in listed(api, "messages") if m["id"] not in thread_messages]
    relabelled, deleted_message = others[0], others[1]
    # A user label on live messages (not the relabelled one): deleted in Gmail.
    user_labels = [lab for lab in api.ok("GET", "/labels")["labels"] if lab["type"] == "user"]
    deleted_label, had = None, []
    for label in user_labels:
        carriers = [m["id"] for m in listed(api, "messages", labelIds=label["id"])]
        carriers = [m for m in carriers if m not in (relabelled, deleted_message, *thread_messages)]
        if carriers:
            deleted_label, had = label["id"], carriers
            break
    assert deleted_label, "the seeded mailbox has no user label on a live message"

    new_label = api.ok("POST", "/labels", json={"name": NEW_LABEL})["id"]
    body = {"addLabelIds": ["STARRED", new_label], "removeLabelIds": ["UNREAD", deleted_label]}
    api.ok("POST", f"/messages/{relabelled}/modify", json=body)
    api.ok("DELETE", f"/messages/{deleted_message}")
    api.ok("DELETE", f"/threads/{thread_id}")
    api.ok("DELETE", f"/labels/{deleted_label}")
    new_ids = []
    for subject in NEW_SUBJECTS:
        mail = (
            f"From: New <new@warehouse.example>\r\nTo: {ALICE}\r\nSubject: {subject}\r\n\r\nhi\r\n"
        )
        raw = base64.urlsafe_b64encode(mail.encode()).decode()
        new_ids.append(api.ok("POST", "/messages", json={"raw": raw, "labelIds": ["INBOX"]})["id"])

    second = meltano_run(emu, pg, database, tmp_path, "tap-gmail", "target-postgres")
    return Loaded(
        api=api,
        conn=conn,
        first_counts=counts,
        first_max_history=max_history,
        relabelled=relabelled,
        new_label_id=new_label,
        deleted_message=deleted_message,
        deleted_thread=thread_id,
        thread_messages=thread_messages,
        deleted_label=deleted_label,
        had_deleted_label=had,
        new_ids=new_ids,
        second_stderr=second.stderr,
    )


def test_second_run_is_incremental_and_keys_stay_unique(loaded):
    assert "incremental from historyId" in loaded.second_stderr
    for table in TABLES:
        key = loaded.rows(
            "select pg_get_constraintdef(oid) from pg_constraint "
            "where conrelid = %s::regclass and contype = 'p'",
            f"tap_gmail.{table}",
        )
        assert key == [("PRIMARY KEY (id, mailbox)",)], table
        duplicates = loaded.rows(
            f"select mailbox, id from tap_gmail.{table} group by 1, 2 having count(*) > 1"
        )
        assert duplicates == [], table
    # Only the two new messages are new rows; deleted ones stay, marked.
    assert loaded.one("select count(*) from tap_gmail.messages") == (
        loaded.first_counts["messages"] + len(NEW_SUBJECTS)
    )
    assert loaded.one("select count(*) from tap_gmail.labels") == loaded.first_counts["labels"] + 1


def test_live_rows_match_gmail(loaded):
    api = loaded.api
    for table, kind in (("messages", "messages"), ("threads", "threads")):
        live = {
            r[0]
            for r in loaded.rows(f"select id from tap_gmail.{table} where _sdc_deleted_at is null")
        }
        assert live == {m["id"] for m in listed(api, kind)}, table
    live_labels = {
        r[0] for r in loaded.rows("select id from tap_gmail.labels where _sdc_deleted_at is null")
    }
    assert live_labels == {label["id"] for label in api.ok("GET", "/labels")["labels"]}
    for message_id, subject in zip(loaded.new_ids, NEW_SUBJECTS, strict=True):
        row = loaded.rows(
            "select subject, history_id from tap_gmail.messages where id = %s", message_id
        )
        assert row and row[0][0] == subject and row[0][1] > loaded.first_max_history


def test_relabelled_message_is_updated_in_place(loaded):
    [(label_ids, label_names, history_id)] = loaded.rows(
        "select label_ids, label_names, history_id from tap_gmail.messages where id = %s",
        loaded.relabelled,
    )
    gmail = loaded.api.ok("GET", f"/messages/{loaded.relabelled}", params={"format": "minimal"})
    assert sorted(label_ids) == sorted(gmail["labelIds"])
    assert {"STARRED", loaded.new_label_id} <= set(label_ids) and "UNREAD" not in label_ids
    assert NEW_LABEL in label_names and "STARRED" in label_names
    assert history_id == int(gmail["historyId"])
    assert (
        loaded.one("select name from tap_gmail.labels where id = %s", loaded.new_label_id)
        == NEW_LABEL
    )


def test_deletions_are_soft(loaded):
    deleted = {
        r[0]
        for r in loaded.rows("select id from tap_gmail.messages where _sdc_deleted_at is not null")
    }
    assert deleted == {loaded.deleted_message, *loaded.thread_messages}
    # A tombstone keeps the key and the deletion time; Gmail has nothing else any more.
    assert (
        loaded.rows(
            "select id from tap_gmail.messages where _sdc_deleted_at is not null "
            "and (subject is not null or label_ids is not null or mailbox is null)"
        )
        == []
    )
    thread_deleted = loaded.one(
        "select _sdc_deleted_at from tap_gmail.threads where id = %s", loaded.deleted_thread
    )
    label_deleted = loaded.one(
        "select _sdc_deleted_at from tap_gmail.labels where id = %s", loaded.deleted_label
    )
    assert thread_deleted is not None and label_deleted is not None
    utc_now = datetime.now(timezone.utc).replace(tzinfo=None)
    assert abs(utc_now - label_deleted).total_seconds() < 3600  # stored as UTC
    # Gmail took the deleted label off its messages; the next run carried that over.
    still = loaded.rows(
        "select id from tap_gmail.messages where %s = any(label_ids)", loaded.deleted_label
    )
    assert still == []
    live = loaded.rows(
        "select count(*) from tap_gmail.messages where id = any(%s) and _sdc_deleted_at is null",
        loaded.had_deleted_label,
    )
    assert live == [(len(loaded.had_deleted_label),)]


# Date-times are `timestamp` (without time zone), in UTC: target-postgres 0.8.1 cannot make
# `timestamptz` (README "The warehouse"). Lists of objects are `jsonb` through the `schema:`
# override of tap-gmail in meltano.yml (without it they would be `jsonb[]`).
EXPECTED_TYPES = {
    ("messages", "internal_date"): "timestamp without time zone",
    ("messages", "timestamp"): "timestamp without time zone",
    ("messages", "date_header"): "timestamp without time zone",
    ("messages", "_sdc_deleted_at"): "timestamp without time zone",
    ("threads", "first_message_at"): "timestamp without time zone",
    ("threads", "last_message_at"): "timestamp without time zone",
    ("messages", "history_id"): "bigint",
    ("messages", "size_estimate"): "bigint",
    ("threads", "history_id"): "bigint",
    ("threads", "message_count"): "bigint",
    ("labels", "messages_total"): "bigint",
    ("labels", "threads_unread"): "bigint",
    ("messages", "metadata"): "jsonb",
    ("messages", "from_address"): "jsonb",
    **{("messages", column): "jsonb" for column in OBJECT_LISTS},
    ("messages", "label_ids"): "text[]",
    ("messages", "label_names"): "text[]",
    ("threads", "message_ids"): "text[]",
}


def test_column_types(loaded):
    found = {
        (table, column): kind
        for table, column, kind in loaded.rows(
            "select c.relname, a.attname, format_type(a.atttypid, a.atttypmod) "
            "from pg_attribute a join pg_class c on c.oid = a.attrelid "
            "where c.relnamespace = 'tap_gmail'::regnamespace and a.attnum > 0"
        )
    }
    assert {key: found.get(key) for key in EXPECTED_TYPES} == EXPECTED_TYPES


def test_timestamps_are_utc_and_nested_values_queryable(loaded):
    rows = loaded.rows(
        "select id, internal_date, from_address->>'email', \"to\"->0->>'email' "
        "from tap_gmail.messages where _sdc_deleted_at is null"
    )
    assert rows
    for message_id, internal_date, sender, _ in rows:
        gmail = loaded.api.ok("GET", f"/messages/{message_id}", params={"format": "minimal"})
        at = datetime.fromtimestamp(int(gmail["internalDate"]) / 1000, timezone.utc)
        assert internal_date == at.replace(tzinfo=None, microsecond=internal_date.microsecond)
        assert "@" in sender
    assert any(to and "@" in to for *_, to in rows)


@pytest.fixture(scope="module")
def records(loaded) -> dict[str, dict]:
    """tap-gmail's record of every live message, built from Gmail's answer as the tap does."""
    names = {label["id"]: label["name"] for label in loaded.api.ok("GET", "/labels")["labels"]}
    return {
        m["id"]: normalize_message(
            loaded.api.ok("GET", f"/messages/{m['id']}", params={"format": "full"}), ALICE, names
        )
        for m in listed(loaded.api, "messages")
    }


def test_lists_of_objects_are_json_arrays_equal_to_gmail(loaded, records):
    columns = ", ".join(f'"{c}"' for c in OBJECT_LISTS)
    typeofs = ", ".join(f'jsonb_typeof("{c}")' for c in OBJECT_LISTS)
    rows = loaded.rows(
        f"select id, {columns}, {typeofs} from tap_gmail.messages where _sdc_deleted_at is null"
    )
    assert {row[0] for row in rows} == records.keys()
    for message_id, *values in rows:
        lists, kinds = values[: len(OBJECT_LISTS)], values[len(OBJECT_LISTS) :]
        expected = [records[message_id][c] for c in OBJECT_LISTS]
        assert lists == expected, message_id
        assert kinds == [None if v is None else "array" for v in expected], message_id
    # The seeded mailbox has the cases that matter: several recipients, Cc, attachments.
    assert any(len(r["to"] or ()) > 1 for r in records.values())
    assert any(r["cc"] for r in records.values())
    assert any(r["attachments"] for r in records.values())
    # JSON operators work on the whole list: containment and unnesting.
    record = next(r for r in records.values() if r["attachments"])
    name = record["attachments"][0]["filename"]
    found = loaded.rows(
        "select id from tap_gmail.messages where attachments @> %s::jsonb",
        f'[{{"filename": {json.dumps(name)}}}]',
    )
    assert record["id"] in {r[0] for r in found}
    sizes = loaded.one(
        "select sum((a->>'size')::bigint) from tap_gmail.messages, "
        "jsonb_array_elements(attachments) a where _sdc_deleted_at is null"
    )
    assert sizes == sum(a["size"] or 0 for r in records.values() for a in r["attachments"] or ())
    # Tombstones have no lists (Gmail no longer has them): target-postgres writes JSON null.
    tombstones = loaded.rows(
        f"select distinct {typeofs} from tap_gmail.messages where _sdc_deleted_at is not null"
    )
    assert tombstones == [("null",) * len(OBJECT_LISTS)]
    objects = loaded.rows(
        "select distinct jsonb_typeof(metadata), jsonb_typeof(from_address) "
        "from tap_gmail.messages where _sdc_deleted_at is not null"
    )
    assert objects == [("null", "null")]  # the same for objects (README "The warehouse")


def test_readme_queries_return_sensible_rows(loaded, records):
    queries = readme_sql()
    api = loaded.api
    live = listed(api, "messages")

    per_sender_day = loaded.rows(queries["messages"])
    assert sum(count for *_, count in per_sender_day) == len(live)
    assert all("@" in sender and day is not None for sender, day, _ in per_sender_day)
    days = {}
    for message_id in loaded.new_ids:
        gmail = api.ok("GET", f"/messages/{message_id}", params={"format": "minimal"})
        day = datetime.fromtimestamp(int(gmail["internalDate"]) / 1000, timezone.utc).date()
        days[day] = days.get(day, 0) + 1
    new_rows = {day: n for sender, day, n in per_sender_day if sender == "new@warehouse.example"}
    assert new_rows == days

    recipients = Counter(
        email
        for r in records.values()
        for email in {a["email"] for a in (r["to"] or []) + (r["cc"] or [])}
    )
    top = sorted(recipients.items(), key=lambda item: (-item[1], item[0]))[:10]
    assert loaded.rows(queries["recipients"]) == top and top[0][1] >= 2

    longest = loaded.rows(queries["threads"])
    assert 0 < len(longest) <= 10
    counts = [count for _, _, count, _ in longest]
    assert counts == sorted(counts, reverse=True) and counts[0] >= 2
    assert all(span.total_seconds() >= 0 for *_, span in longest)
    assert loaded.deleted_thread not in {thread_id for thread_id, *_ in longest}

    per_label = loaded.rows(queries["labels"])
    user_labels = [lab for lab in api.ok("GET", "/labels")["labels"] if lab["type"] == "user"]
    assert {name for name, *_ in per_label} == {lab["name"] for lab in user_labels}
    by_name = {name: (total, messages) for name, total, _, messages in per_label}
    for label in user_labels:
        in_gmail = len(listed(api, "messages", labelIds=label["id"]))
        assert by_name[label["name"]][1] == in_gmail, label["name"]
    assert by_name[NEW_LABEL][1] == 1
