"""Label changes end to end: grouping into batchModify, threads, rejection, dry run, RBAC."""

from __future__ import annotations

import json

import pytest

from gmail_emulator import EmulatorConfig, start_emulator
from tests.conftest import Api, admin, issue_token

from .harness import (
    calls,
    mutating_calls,
    record,
    reset_stats,
    run_target,
    schema,
    state,
    target_config,
)

ALICE = "alice@example.com"


@pytest.fixture
def emu():
    server = start_emulator(
        EmulatorConfig(
            users=[ALICE, "bob@example.com"], messages=300, seed=5, quota_units_per_second=0
        )  # fmt: skip
    )
    yield server
    server.stop()


@pytest.fixture
def api(emu) -> Api:
    return Api(emu.url, issue_token(emu, ALICE))


def message_ids(api: Api, count: int) -> list[str]:
    answer = api.ok("GET", "/messages", params={"maxResults": count})
    return [m["id"] for m in answer["messages"]]


def labels_of(api: Api, message_id: str) -> set[str]:
    return set(api.ok("GET", f"/messages/{message_id}", params={"format": "minimal"})["labelIds"])


def label_id(api: Api, name: str) -> str:
    labels = api.ok("GET", "/labels")["labels"]
    return next(label["id"] for label in labels if label["name"] == name)


def test_changes_are_grouped_into_batch_modify_and_threads_modify(emu, api, tmp_path):
    ids = message_ids(api, 250)
    threads = api.ok("GET", "/threads", params={"maxResults": 5})["threads"]
    lines = [schema("label_changes")]
    for n, message_id in enumerate(ids):
        change = [
            {"add_labels": ["Projects/Acme"], "remove_labels": ["INBOX"]},
            {"add_labels": ["STARRED"]},
            {"add_labels": ["Receipts", "IMPORTANT"], "remove_labels": ["UNREAD"]},
        ][n % 3]
        lines.append(record("label_changes", {"message_id": message_id, **change}))
    for thread in threads:
        lines.append(
            record("label_changes", {"thread_id": thread["id"], "add_labels": ["Threads"]})
        )
    lines.append(state({"bookmarks": {"label_changes": {"offset": len(lines)}}}))
    reset_stats(emu)

    run = run_target(tmp_path, target_config(emu, tmp_path, create_missing_labels=True), lines)

    assert run.returncode == 0, run.stderr
    assert calls(emu, "messages.batchModify") == 3
    assert calls(emu, "messages.modify") == 0
    assert calls(emu, "threads.modify") == len(threads)
    assert calls(emu, "labels.create") == 3  # Projects, Projects/Acme, Threads (Receipts exists)
    assert calls(emu, "labels.list") == 1
    acme = label_id(api, "Projects/Acme")
    first = labels_of(api, ids[0])
    assert acme in first and "INBOX" not in first
    assert "STARRED" in labels_of(api, ids[1])
    third = labels_of(api, ids[2])
    assert {label_id(api, "Receipts"), "IMPORTANT"} <= third and "UNREAD" not in third
    thread = api.ok("GET", f"/threads/{threads[0]['id']}", params={"format": "minimal"})
    threads_label = label_id(api, "Threads")
    assert all(threads_label in m["labelIds"] for m in thread["messages"])
    assert run.states == [{"bookmarks": {"label_changes": {"offset": len(lines) - 1}}}]


def test_later_record_for_the_same_message_wins(emu, api, tmp_path):
    message_id = message_ids(api, 1)[0]
    lines = [
        schema("label_changes"),
        record("label_changes", {"message_id": message_id, "add_labels": ["STARRED"]}),
        record("label_changes", {"message_id": message_id, "remove_labels": ["STARRED"]}),
    ]
    reset_stats(emu)
    run = run_target(tmp_path, target_config(emu, tmp_path), lines)
    assert run.returncode == 0, run.stderr
    assert "STARRED" not in labels_of(api, message_id)
    assert calls(emu, "messages.batchModify") == 1


def test_unknown_label_fails_the_run_before_any_change(emu, api, tmp_path):
    ids = message_ids(api, 3)
    lines = [schema("label_changes")]
    lines += [record("label_changes", {"message_id": i, "add_labels": ["STARRED"]}) for i in ids]
    lines.append(record("label_changes", {"message_id": ids[0], "add_labels": ["Nope"]}))
    reset_stats(emu)
    run = run_target(tmp_path, target_config(emu, tmp_path), lines)
    assert run.returncode != 0
    assert "unknown label 'Nope'" in run.stderr
    assert "create_missing_labels" in run.stderr
    assert mutating_calls(emu) == 0
    assert run.states == []
    assert "Traceback" not in run.stderr


def test_skip_writes_rejects_and_applies_the_rest(emu, api, tmp_path):
    ids = message_ids(api, 2)
    lines = [
        schema("label_changes"),
        record("label_changes", {"message_id": ids[0], "add_labels": ["STARRED"]}),
        record("label_changes", {"message_id": ids[1], "add_labels": ["Nope"]}),
        record("label_changes", {"add_labels": ["STARRED"]}),
        record("label_changes", {"message_id": "bad id!", "add_labels": ["STARRED"]}),
        state({"done": True}),
    ]
    config = target_config(emu, tmp_path, on_invalid_record="skip")
    run = run_target(tmp_path, config, lines)
    assert run.returncode == 0, run.stderr
    assert "STARRED" in labels_of(api, ids[0])
    assert "STARRED" not in labels_of(api, ids[1])
    rejects = [json.loads(line) for line in (tmp_path / "rejects.jsonl").read_text().splitlines()]
    reasons = [r["reason"] for r in rejects]
    assert len(rejects) == 3
    assert any("unknown label 'Nope'" in reason for reason in reasons)
    assert any("missing key" in reason for reason in reasons)
    assert any("pattern" in reason for reason in reasons)
    [unknown] = [r for r in rejects if "Nope" in r["reason"]]
    assert unknown["record"]["message_id"] == ids[1] and unknown["stream"] == "label_changes"
    assert run.states == [{"done": True}]


def test_cpcal_message_records_with_edited_label_names(emu, api, tmp_path):
    inbox = api.ok("GET", "/messages", params={"q": "in:inbox", "maxResults": 1})
    message_id = inbox["messages"][0]["id"]
    current = api.ok("GET", f"/messages/{message_id}", params={"format": "minimal"})["labelIds"]
    assert "INBOX" in current
    names = [name for name in current if name != "INBOX"] + ["Newsletters"]
    cpcal = {"id": message_id, "mailbox": ALICE, "label_ids": current, "label_names": names}
    lines = [schema("messages"), record("messages", cpcal)]
    config = target_config(
        emu, tmp_path, actions={"messages": "label_changes"}, create_missing_labels=True
    )
    run = run_target(tmp_path, config, lines)
    assert run.returncode == 0, run.stderr
    after = labels_of(api, message_id)
    assert "INBOX" not in after and label_id(api, "Newsletters") in after


def test_dry_run_plans_without_mutating(emu, api, tmp_path):
    ids = message_ids(api, 40)
    lines = [schema("label_changes")]
    lines += [record("label_changes", {"message_id": i, "add_labels": ["New/Label"]}) for i in ids]
    reset_stats(emu)
    config = target_config(emu, tmp_path, dry_run=True, role="operator",
                           create_missing_labels=True)  # fmt: skip
    run = run_target(tmp_path, config, lines)
    assert run.returncode == 0, run.stderr
    assert mutating_calls(emu) == 0
    plan = json.loads((tmp_path / "plan.json").read_text())
    methods = [call["method"] for call in plan["calls"]]
    assert methods == ["labels.create", "labels.create", "messages.batchModify"]
    assert plan["summary"]["units"] == 5 + 5 + 50
    assert len(plan["calls"][2]["body"]["ids"]) == 40
    assert "no change was made" in run.stderr
    assert "messages.batchModify" in run.stderr


def test_operator_role_cannot_apply(emu, api, tmp_path):
    ids = message_ids(api, 1)
    lines = [schema("label_changes"), record("label_changes", {"message_id": ids[0]})]
    reset_stats(emu)
    run = run_target(tmp_path, target_config(emu, tmp_path, role="operator"), lines)
    assert run.returncode != 0
    assert "role" in run.stderr and "admin" in run.stderr
    assert mutating_calls(emu) == 0


def test_viewer_cannot_even_dry_run(emu, tmp_path):
    lines = [schema("label_changes"), record("label_changes", {"message_id": "abc"})]
    config = target_config(emu, tmp_path, role="viewer", dry_run=True)
    run = run_target(tmp_path, config, lines)
    assert run.returncode != 0
    assert "needs role operator" in run.stderr


def test_token_without_modify_scope_is_refused_before_any_call(emu, api, tmp_path):
    admin(
        emu,
        "auth",
        {
            "refresh_tokens": [
                {
                    "refresh_token": "readonly-token",
                    "user": ALICE,
                    "scopes": ["https://www.googleapis.com/auth/gmail.readonly"],
                }
            ]
        },
    )
    ids = message_ids(api, 1)
    lines = [
        schema("label_changes"),
        record("label_changes", {"message_id": ids[0], "add_labels": ["STARRED"]}),
    ]
    config = target_config(emu, tmp_path)
    config["oauth_credentials"]["refresh_token"] = "readonly-token"
    reset_stats(emu)
    run = run_target(tmp_path, config, lines)
    assert run.returncode != 0
    assert "gmail.readonly" in run.stderr and "gmail.modify" in run.stderr
    assert mutating_calls(emu) == 0


def test_unmapped_stream_is_a_config_error(emu, tmp_path):
    lines = [schema("mystery"), record("mystery", {"id": 1})]
    run = run_target(tmp_path, target_config(emu, tmp_path), lines)
    assert run.returncode != 0
    assert "mystery" in run.stderr and "actions" in run.stderr
    assert "Traceback" not in run.stderr
