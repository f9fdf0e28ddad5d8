"""Damaged or foreign ``--state`` files: one clear line, or a fresh full sync, never a crash.

Before: a state file that was not JSON, or whose ``bookmarks``/``partitions`` had the wrong
type, ended in an SDK traceback (some after records had been written); a partition with a
``full_sync`` of the wrong shape crashed the sync; ``label_ids: "INBOX"`` produced
tombstones for labels I, N, B, O and X; and a bookmark ahead of the mailbox's historyId
(another mailbox's state) was kept forever, so the tap never saw a change again.
"""

from __future__ import annotations

import json

import pytest

from gmail_emulator import EmulatorConfig, start_emulator
from tests.conftest import Api, admin, issue_token
from tests.tap.conftest import run_tap, tap_config

pytestmark = pytest.mark.timeout(300)
ALICE = "alice@example.com"
CONTEXT = {"mailbox": ALICE}


@pytest.fixture
def server():
    server = start_emulator(EmulatorConfig(users=[ALICE], messages=30, seed=8))
    yield server
    server.stop()


def _with_state_text(server, tmp_path, text: str):
    path = tmp_path / "damaged-state.json"
    path.write_text(text)
    return run_tap(tmp_path, tap_config(server), extra_args=("--state", str(path)))


FILE_DAMAGE = {
    "not json": ("{not json", "not valid JSON"),
    "a list": ("[]", "a JSON list, not an object"),
    "bookmarks a list": ('{"bookmarks": []}', "`bookmarks` is a list, not an object"),
    "stream a string": ('{"bookmarks": {"messages": "x"}}', "`bookmarks.messages` is a str"),
    "partitions an object": (
        '{"bookmarks": {"messages": {"partitions": {}}}}',
        "`bookmarks.messages.partitions` is a dict, not a list",
    ),
}


@pytest.mark.parametrize("case", sorted(FILE_DAMAGE))
def test_a_state_file_that_is_not_tap_state_is_one_error_line(server, tmp_path, case):
    text, problem = FILE_DAMAGE[case]
    before = admin(server, "stats")["calls"]["total"]
    run = _with_state_text(server, tmp_path, text)
    assert run.returncode == 1
    assert "Traceback" not in run.stderr, run.stderr[-3000:]
    assert "tap-gmail: state error: --state" in run.stderr and problem in run.stderr
    assert "To fix:" in run.stderr
    assert not run.records and admin(server, "stats")["calls"]["total"] == before


def _listed(server) -> set[str]:
    api = Api(server.url, issue_token(server, ALICE))
    return {m["id"] for m in api.ok("GET", "/messages", params={"maxResults": 500})["messages"]}


PARTITION_DAMAGE = {
    "partition a string": {"messages": {"partitions": ["x"]}},
    "partition without context": {
        "messages": {"partitions": [{"replication_key": "history_id", "replication_key_value": 5}]}
    },
    "full_sync a string": {"messages": {"partitions": [{"context": CONTEXT, "full_sync": "yes"}]}},
    "full_sync h0 not a number": {
        "messages": {
            "partitions": [
                {"context": CONTEXT, "full_sync": {"h0": "abc", "page_token": None, "done": 0}}
            ]
        }
    },
    "label_ids a string": {"labels": {"partitions": [{"context": CONTEXT, "label_ids": "INBOX"}]}},
    "label_ids not strings": {
        "labels": {"partitions": [{"context": CONTEXT, "label_ids": [1, None, {"a": 1}]}]}
    },
}


@pytest.mark.parametrize("case", sorted(PARTITION_DAMAGE))
def test_an_unreadable_partition_is_dropped_and_read_afresh(server, tmp_path, case):
    state = {"bookmarks": PARTITION_DAMAGE[case]}
    run = _with_state_text(server, tmp_path, json.dumps(state))
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Traceback" not in run.stderr
    assert "state: dropped bookmarks." in run.stderr
    assert {m["id"] for m in run.records["messages"]} == _listed(server)
    assert not [lab for lab in run.records["labels"] if lab.get("_sdc_deleted_at")]
    assert run.partition("messages", ALICE)["replication_key_value"] > 0


def test_a_bookmark_ahead_of_the_mailbox_is_not_kept_forever(server, tmp_path):
    first = run_tap(tmp_path, tap_config(server))
    assert first.returncode == 0, first.stderr[-3000:]
    foreign = json.loads(json.dumps(first.state))
    for stream in ("messages", "threads"):
        for partition in foreign["bookmarks"][stream]["partitions"]:
            partition["replication_key_value"] = 10**12  # another mailbox's historyId

    api = Api(server.url, issue_token(server, ALICE))
    target = sorted(_listed(server))[0]
    api.ok("POST", f"/messages/{target}/modify", json={"addLabelIds": ["STARRED"]})
    run = run_tap(tmp_path, tap_config(server), state=foreign)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "is ahead of the mailbox's current historyId" in run.stderr
    starred = [m for m in run.records["messages"] if m["id"] == target]
    assert starred and "STARRED" in starred[-1]["label_ids"]
    current = int(api.ok("GET", "/profile")["historyId"])
    for stream in ("messages", "threads"):
        assert run.partition(stream, ALICE)["replication_key_value"] <= current

    # ...and the next change is seen by the next, incremental, run.
    api.ok("POST", f"/messages/{target}/modify", json={"removeLabelIds": ["STARRED"]})
    again = run_tap(tmp_path, tap_config(server), state=run.state)
    assert again.returncode == 0, again.stderr[-3000:]
    assert [m["id"] for m in again.records["messages"]] == [target]
    assert "STARRED" not in again.records["messages"][0]["label_ids"]
