"""Regressions for the tap's failure paths (issue 8), each produced by the emulator."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.conftest import Api, admin, issue_token
from tests.tap.conftest import TAP, run_tap, tap_config

pytestmark = pytest.mark.timeout(300)
ALICE = "alice@example.com"


def _alice(emulator) -> Api:
    return Api(emulator.url, issue_token(emulator, ALICE))


def _types(run) -> list[str]:
    return [json.loads(line)["type"] for line in run.stdout.splitlines()]


def test_streams_are_declared_incremental_and_never_activate_versions(emulator, tmp_path):
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(tap_config(emulator)))
    about = json.loads(
        subprocess.run(
            [TAP, "--about", "--format", "json"], capture_output=True, text=True, check=True
        ).stdout
    )
    assert "activate-version" not in about["capabilities"]
    catalog = json.loads(
        subprocess.run(
            [TAP, "--config", str(config_path), "--discover"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    declared = {}
    for stream in catalog["streams"]:
        top = next(m["metadata"] for m in stream["metadata"] if not m["breadcrumb"])
        declared[stream["tap_stream_id"]] = (stream.get("replication_method"), top)
    for name in ("messages", "threads"):
        method, top = declared[name]
        assert method == "INCREMENTAL" and top["replication-key"] == "history_id"
        assert top["valid-replication-keys"] == ["history_id"]
    assert declared["labels"][0] == "FULL_TABLE"

    # Even when asked to, no run emits ACTIVATE_VERSION: full, then incremental.
    config = tap_config(emulator, emit_activate_version_messages=True)
    full = run_tap(tmp_path, config)
    assert full.returncode == 0, full.stderr[-2000:]
    assert "ACTIVATE_VERSION" not in _types(full)
    message_id = full.records["messages"][0]["id"]
    _alice(emulator).ok("POST", f"/messages/{message_id}/modify", json={"addLabelIds": ["STARRED"]})
    incremental = run_tap(tmp_path, config, state=full.state)
    assert incremental.returncode == 0, incremental.stderr[-2000:]
    assert "ACTIVATE_VERSION" not in _types(incremental)
    assert [m["id"] for m in incremental.records["messages"]] == [message_id]


def test_oauth_user_id_selects_the_mailbox_and_a_refusal_is_clear(emulator, tmp_path):
    # The emulator's refresh token belongs to alice; bob's mailbox must not be read as hers.
    run = run_tap(tmp_path, tap_config(emulator, user_id="bob@example.com"))
    assert run.returncode != 0
    assert not any(run.records.values())
    assert "bob@example.com" in run.stderr and "`user_id`" in run.stderr
    assert "403" in run.stderr and "Traceback" not in run.stderr
    # Pointing user_id at the token's own mailbox reads it, tagged correctly.
    own = run_tap(tmp_path, tap_config(emulator, user_id=ALICE))
    assert own.returncode == 0, own.stderr[-2000:]
    assert own.records["messages"] and all(m["mailbox"] == ALICE for m in own.records["messages"])


def _all_ids(emulator, path="messages", key="messages", **params) -> set[str]:
    alice = _alice(emulator)
    ids, token = set(), None
    while True:
        page = alice.ok("GET", f"/{path}", params={"maxResults": 500, **params, **(
            {"pageToken": token} if token else {})})  # fmt: skip
        ids |= {m["id"] for m in page.get(key, [])}
        token = page.get("nextPageToken")
        if not token:
            return ids


def test_refused_page_token_restarts_the_full_sync_instead_of_wedging(emulator, tmp_path):
    state = {
        "bookmarks": {
            stream: {
                "partitions": [
                    {
                        "context": {"mailbox": ALICE},
                        "full_sync": {"h0": 1, "page_token": "not-a-token!", "done": 500},
                    }
                ]
            }
            for stream in ("messages", "threads")
        }
    }
    run = run_tap(tmp_path, tap_config(emulator), state=state)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "refused the saved page token" in run.stderr
    assert {m["id"] for m in run.records["messages"]} == _all_ids(emulator)
    assert {t["id"] for t in run.records["threads"]} == _all_ids(emulator, "threads", "threads")
    profile = _alice(emulator).ok("GET", "/profile")
    for stream in ("messages", "threads"):
        partition = run.partition(stream, ALICE)
        assert "full_sync" not in partition
        assert partition["replication_key_value"] == int(profile["historyId"])


def test_a_changed_query_starts_a_fresh_full_sync(emulator, tmp_path):
    starred = tap_config(emulator, messages={"q": "is:starred"})
    first = run_tap(tmp_path, starred)
    assert first.returncode == 0, first.stderr[-2000:]
    assert {m["id"] for m in first.records["messages"]} == _all_ids(emulator, q="is:starred")
    widened = tap_config(emulator, messages={"q": "in:inbox"})
    second = run_tap(tmp_path, widened, state=first.state)
    assert second.returncode == 0, second.stderr[-2000:]
    assert "selection" in second.stderr
    inbox = _all_ids(emulator, q="in:inbox")
    assert inbox - _all_ids(emulator, q="is:starred"), "the test needs a wider second query"
    assert {m["id"] for m in second.records["messages"]} == inbox


def test_threads_full_sync_honours_query_and_start_date(emulator, tmp_path):
    config = tap_config(emulator, messages={"q": "in:inbox"}, start_date="2024-01-01T00:00:00Z")
    run = run_tap(tmp_path, config)
    assert run.returncode == 0, run.stderr[-2000:]
    expected = _all_ids(emulator, "threads", "threads", q="in:inbox after:1704067200")
    assert expected != _all_ids(emulator, "threads", "threads")
    assert {t["id"] for t in run.records["threads"]} == expected


def test_deleted_threads_and_labels_come_as_tombstones(emulator, tmp_path):
    first = run_tap(tmp_path, tap_config(emulator))
    assert first.returncode == 0, first.stderr[-2000:]
    alice = _alice(emulator)
    thread = next(t for t in first.records["threads"] if t["message_count"] >= 2)
    for message_id in thread["message_ids"]:
        alice.ok("DELETE", f"/messages/{message_id}")
    label = alice.ok("POST", "/labels", json={"name": "Doomed"})
    second = run_tap(tmp_path, tap_config(emulator), state=first.state)
    assert second.returncode == 0, second.stderr[-2000:]
    alice.ok("DELETE", f"/labels/{label['id']}")
    third = run_tap(tmp_path, tap_config(emulator), state=second.state)
    assert third.returncode == 0, third.stderr[-2000:]

    stones = [t for t in second.records["threads"] if t["_sdc_deleted_at"]]
    assert [t["id"] for t in stones] == [thread["id"]]
    deleted_labels = [lab for lab in third.records["labels"] if lab["_sdc_deleted_at"]]
    assert [lab["id"] for lab in deleted_labels] == [label["id"]]
    assert label["id"] not in third.partition("labels", ALICE)["label_ids"]


def test_failing_label_counts_fail_the_stream_instead_of_going_null(emulator, tmp_path):
    admin(
        emulator,
        "config",
        {"fault_rate": 1.0, "fault_kinds": ["500"], "fault_methods": ["labels.get"]},
    )
    try:
        run = run_tap(tmp_path, tap_config(emulator, batch_size=50))
    finally:
        admin(emulator, "config", {"fault_rate": 0, "fault_methods": []})
    assert run.returncode != 0
    assert not run.records.get("labels")
    assert "stream labels failed" in run.stderr and "Traceback" not in run.stderr
    assert "labels.get" in run.stderr and "next run resumes" in run.stderr
