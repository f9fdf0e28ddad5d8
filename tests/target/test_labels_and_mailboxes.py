"""Label upserts, and many mailboxes through domain-wide delegation with isolation."""

from __future__ import annotations

import json

import pytest

from gmail_emulator import EmulatorConfig, start_emulator
from tests.conftest import Api, admin, issue_token, service_account_info

from .harness import calls, record, reset_stats, run_target, schema, state, target_config

ALICE, BOB, MALLORY = "alice@example.com", "bob@example.com", "mallory@example.com"


@pytest.fixture
def emu():
    server = start_emulator(
        EmulatorConfig(users=[ALICE, BOB], messages=20, seed=3, quota_units_per_second=0)
    )
    yield server
    server.stop()


def labels_by_name(api: Api) -> dict[str, dict]:
    return {label["name"]: label for label in api.ok("GET", "/labels")["labels"]}


def test_label_upserts_create_update_and_nest(emu, tmp_path):
    api = Api(emu.url, issue_token(emu, ALICE))
    lines = [
        schema("labels"),
        record(
            "labels",
            {
                "name": "Acme",
                "parent_name": "Clients",
                "color_text": "#000000",
                "color_background": "#16a766",
                "label_list_visibility": "labelShowIfUnread",
            },
        ),
        record("labels", {"name": "travel", "message_list_visibility": "hide"}),
    ]
    reset_stats(emu)
    run = run_target(tmp_path, target_config(emu, tmp_path), lines)
    assert run.returncode == 0, run.stderr
    labels = labels_by_name(api)
    acme = labels["Clients/Acme"]
    assert "Clients" in labels
    assert acme["color"] == {"textColor": "#000000", "backgroundColor": "#16a766"}
    assert acme["labelListVisibility"] == "labelShowIfUnread"
    assert "travel" in labels and "Travel" not in labels  # renamed, not duplicated
    assert labels["travel"]["messageListVisibility"] == "hide"
    assert calls(emu, "labels.create") == 2 and calls(emu, "labels.patch") == 1

    reset_stats(emu)
    again = run_target(tmp_path, target_config(emu, tmp_path), lines)
    assert again.returncode == 0, again.stderr
    assert calls(emu, "labels.create") == 0 and calls(emu, "labels.patch") == 0


def test_invalid_label_records_are_rejected(emu, tmp_path):
    lines = [
        schema("labels"),
        record("labels", {"name": "Ok"}),
        record("labels", {"name": "Bad", "color_text": "red", "color_background": "#ffffff"}),
        record("labels", {"name": "Half", "color_text": "#ffffff"}),
        record("labels", {"name": "Evil\r\nX-Header: 1"}),
    ]
    config = target_config(emu, tmp_path, on_invalid_record="skip")
    run = run_target(tmp_path, config, lines)
    assert run.returncode == 0, run.stderr
    rejects = [json.loads(x) for x in (tmp_path / "rejects.jsonl").read_text().splitlines()]
    reasons = " | ".join(r["reason"] for r in rejects)
    assert len(rejects) == 3, reasons
    assert "pattern" in reasons and "color_background" in reasons and "CR/LF" in reasons
    assert "Ok" in labels_by_name(Api(emu.url, issue_token(emu, ALICE)))


def _delegated(emu, tmp_path, users, **overrides) -> dict:
    info = service_account_info(client_email="target@p.iam.gserviceaccount.com")
    admin(emu, "auth", {"service_accounts": [info]})
    config = target_config(emu, tmp_path, **overrides)
    del config["oauth_credentials"]
    config.update(service_account_info=info, user_ids=users)
    return config


def _first_message(emu, user) -> tuple[Api, str]:
    api = Api(emu.url, issue_token(emu, user))
    return api, api.ok("GET", "/messages", params={"maxResults": 1})["messages"][0]["id"]


def test_each_record_goes_to_its_mailbox(emu, tmp_path):
    alice, alice_msg = _first_message(emu, ALICE)
    bob, bob_msg = _first_message(emu, BOB)
    lines = [
        schema("label_changes"),
        record(
            "label_changes", {"mailbox": ALICE, "message_id": alice_msg, "add_labels": ["STARRED"]}
        ),  # fmt: skip
        record(
            "label_changes", {"mailbox": BOB, "message_id": bob_msg, "add_labels": ["STARRED"]}
        ),  # fmt: skip
        record("label_changes", {"message_id": bob_msg, "add_labels": ["STARRED"]}),
        record("label_changes", {"mailbox": "eve@example.com", "message_id": bob_msg}),
        state({"s": 1}),
    ]
    config = _delegated(emu, tmp_path, [ALICE, BOB], on_invalid_record="skip")
    run = run_target(tmp_path, config, lines)
    assert run.returncode == 0, run.stderr
    for api, message in ((alice, alice_msg), (bob, bob_msg)):
        labels = api.ok("GET", f"/messages/{message}", params={"format": "minimal"})["labelIds"]
        assert "STARRED" in labels
    rejects = [json.loads(x) for x in (tmp_path / "rejects.jsonl").read_text().splitlines()]
    assert ["`mailbox` is required" in r["reason"] for r in rejects] == [True, False]
    assert "eve@example.com" in rejects[1]["reason"]
    assert run.states == [{"s": 1}]


def test_a_failing_mailbox_does_not_stop_the_others_and_holds_state(emu, tmp_path):
    alice, alice_msg = _first_message(emu, ALICE)
    lines = [
        schema("label_changes"),
        record(
            "label_changes", {"mailbox": MALLORY, "message_id": "abc123", "add_labels": ["STARRED"]}
        ),  # fmt: skip
        record(
            "label_changes", {"mailbox": ALICE, "message_id": alice_msg, "add_labels": ["STARRED"]}
        ),  # fmt: skip
        state({"s": 1}),
    ]
    config = _delegated(emu, tmp_path, [ALICE, MALLORY])
    run = run_target(tmp_path, config, lines)
    assert run.returncode != 0
    assert MALLORY in run.stderr and "State was not advanced" in run.stderr
    assert run.states == []
    labels = alice.ok("GET", f"/messages/{alice_msg}", params={"format": "minimal"})["labelIds"]
    assert "STARRED" in labels
    assert "private_key" not in run.stderr.replace("private_key_id", "")
