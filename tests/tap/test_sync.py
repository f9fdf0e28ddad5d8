"""tap-gmail against the emulator: full sync, incremental sync, fallback, isolation, secrets."""

from __future__ import annotations

import base64
import json

import jsonschema
import pytest

from tests.conftest import Api, admin, issue_token
from tests.tap.conftest import SECRET_MARKERS, run_tap, tap_config

pytestmark = pytest.mark.timeout(300)


def _schema(name: str) -> dict:
    with open(f"schemas/{name}.json", encoding="utf-8") as handle:
        return json.load(handle)


def _raw(subject: str) -> str:
    text = (
        f"From: Dana <dana@example.net>\r\nTo: alice@example.com\r\nSubject: {subject}\r\n"
        f"Message-ID: <{subject.replace(' ', '-')}@example.net>\r\n\r\nbody of {subject}\r\n"
    )
    return base64.urlsafe_b64encode(text.encode()).decode()


def test_full_sync_emits_every_message_and_valid_records(emulator, tmp_path):
    run = run_tap(tmp_path, tap_config(emulator))
    assert run.returncode == 0, run.stderr[-3000:]
    alice = Api(emulator.url, issue_token(emulator, "alice@example.com"))
    listed = alice.ok("GET", "/messages", params={"maxResults": 500})
    messages = run.records["messages"]
    assert {m["id"] for m in messages} == {m["id"] for m in listed["messages"]}
    assert all(m["mailbox"] == "alice@example.com" for m in messages)
    for name in ("messages", "threads", "labels"):
        schema = _schema(name)
        for record in run.records[name]:
            jsonschema.validate(record, schema)
    profile = alice.ok("GET", "/profile")
    bookmark = run.partition("messages", "alice@example.com")
    assert bookmark["replication_key_value"] == int(profile["historyId"])
    assert isinstance(bookmark["replication_key_value"], int) and "full_sync" not in bookmark


def test_incremental_sync_reads_only_changes(emulator, tmp_path):
    first = run_tap(tmp_path, tap_config(emulator))
    assert first.returncode == 0, first.stderr[-3000:]
    alice = Api(emulator.url, issue_token(emulator, "alice@example.com"))
    added = alice.ok("POST", "/messages", json={"raw": _raw("fresh one"), "labelIds": ["INBOX"]})
    ids = [m["id"] for m in first.records["messages"][:3]]
    alice.ok("POST", f"/messages/{ids[0]}/modify", json={"addLabelIds": ["STARRED"]})
    alice.ok("POST", f"/messages/{ids[1]}/trash")
    alice.ok("DELETE", f"/messages/{ids[2]}")
    admin(emulator, "stats/reset", {})
    second = run_tap(tmp_path, tap_config(emulator), state=first.state)
    assert second.returncode == 0, second.stderr[-3000:]
    by_id = {m["id"]: m for m in second.records["messages"]}
    assert set(by_id) == {added["id"], ids[0], ids[1], ids[2]}
    assert "STARRED" in by_id[ids[0]]["label_ids"]
    assert "TRASH" in by_id[ids[1]]["label_ids"]
    assert by_id[ids[2]]["_sdc_deleted_at"] is not None
    assert by_id[added["id"]]["subject"] == "fresh one"
    calls = admin(emulator, "stats")["calls"]["by_method"]
    assert "gmail.users.messages.list" not in calls  # no re-listing of the mailbox
    profile = alice.ok("GET", "/profile")
    assert second.partition("messages", "alice@example.com")["replication_key_value"] == int(
        profile["historyId"]
    )


def test_expired_history_falls_back_to_full_sync_once(emulator, tmp_path):
    first = run_tap(tmp_path, tap_config(emulator))
    alice = Api(emulator.url, issue_token(emulator, "alice@example.com"))
    alice.ok("POST", "/messages", json={"raw": _raw("before expiry"), "labelIds": ["INBOX"]})
    admin(emulator, "history/expire", {})
    second = run_tap(tmp_path, tap_config(emulator), state=first.state)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "older than Gmail keeps" in second.stderr
    assert len(second.records["messages"]) == len(first.records["messages"]) + 1
    third = run_tap(tmp_path, tap_config(emulator), state=second.state)
    assert third.returncode == 0
    assert "older than Gmail keeps" not in third.stderr
    assert not third.records.get("messages")


def test_retries_under_injected_faults_lose_nothing(emulator, tmp_path):
    clean = run_tap(tmp_path, tap_config(emulator))
    admin(
        emulator,
        "config",
        {"fault_rate": 0.2, "fault_seed": 3, "fault_kinds": ["429", "403", "500", "503", "reset"]},
    )
    faulty = run_tap(tmp_path, tap_config(emulator))
    admin(emulator, "config", {"fault_rate": 0})
    assert faulty.returncode == 0, faulty.stderr[-3000:]
    assert admin(emulator, "stats")["faults"]["total"] > 10
    assert {m["id"] for m in faulty.records["messages"]} == {
        m["id"] for m in clean.records["messages"]
    }


def test_token_expiry_during_run_is_refreshed(emulator, tmp_path):
    admin(emulator, "config", {"token_ttl": 1, "latency_ms": 150})
    run = run_tap(tmp_path, tap_config(emulator))
    admin(emulator, "config", {"token_ttl": 3600, "latency_ms": 0})
    assert run.returncode == 0, run.stderr[-3000:]
    alice = Api(emulator.url, issue_token(emulator, "alice@example.com"))
    listed = alice.ok("GET", "/messages", params={"maxResults": 500})["messages"]
    assert {m["id"] for m in run.records["messages"]} == {m["id"] for m in listed}
    grants = admin(emulator, "stats")["token_grants"]
    assert grants.get("refresh_token", 0) >= 2


def test_no_secret_in_output(emulator, tmp_path):
    run = run_tap(tmp_path, tap_config(emulator))
    admin(emulator, "auth/revoke", {"refresh_token": SECRET_MARKERS[1]})
    refused = run_tap(tmp_path, tap_config(emulator))
    assert refused.returncode != 0
    assert "oauth_credentials.refresh_token" in refused.stderr
    for output in (run.stdout, run.stderr, refused.stdout, refused.stderr):
        for secret in SECRET_MARKERS:
            assert secret not in output
        assert "ya29." not in output


def test_config_errors_name_the_setting(emulator, tmp_path):
    config = tap_config(emulator)
    del config["oauth_credentials"]["refresh_token"]
    run = run_tap(tmp_path, config)
    assert run.returncode != 0
    assert "oauth_credentials.refresh_token" in run.stderr
    assert "Traceback" not in run.stderr
