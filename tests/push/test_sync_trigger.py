"""The emulator pushes, the receiver triggers a cheap stand-in sync: bursts, queueing, retries.

The stand-in (fake_sync.py) records the mailbox's historyId as the emulator has it when the
run starts: a run that starts after the last change has seen every change.
"""

from __future__ import annotations

import base64
import time

import pytest

from tests.conftest import Api, issue_token
from tests.push.conftest import (
    Receiver,
    base_config,
    drain,
    fake_sync,
    point_pushes_at,
    run_cli,
    sync_log,
    write_config,
)

pytestmark = pytest.mark.timeout(240)


def _raw(subject: str) -> str:
    text = f"From: x@example.net\r\nTo: alice@example.com\r\nSubject: {subject}\r\n\r\nhi\r\n"
    return base64.urlsafe_b64encode(text.encode()).decode()


def _start(emulator, tmp_path, sleep_s: float, **overrides) -> tuple[Receiver, Api]:
    config = base_config(
        emulator,
        tmp_path,
        sync_command=fake_sync(emulator, tmp_path / "syncs.jsonl", sleep_s=sleep_s),
        sync_debounce_s=1.0,
        **overrides,
    )
    path = write_config(tmp_path, config)
    receiver = Receiver(path, tmp_path / "serve.log")
    point_pushes_at(emulator, receiver)
    watched = run_cli(path, "watch")
    assert watched.returncode == 0, watched.stderr
    return receiver, Api(emulator.url, issue_token(emulator, "alice@example.com"))


def _starts(tmp_path) -> list[dict]:
    return [e for e in sync_log(tmp_path / "syncs.jsonl") if e["event"] == "start"]


def _assert_never_overlapping(tmp_path) -> None:
    events = sync_log(tmp_path / "syncs.jsonl")
    kinds = [e["event"] for e in events]
    assert kinds == ["start", "end"] * (len(kinds) // 2), kinds


def test_a_burst_of_100_notifications_causes_at_most_two_syncs(push_emulator, tmp_path):
    receiver, alice = _start(push_emulator, tmp_path, sleep_s=3.0)
    try:
        for index in range(100):
            alice.ok(
                "POST", "/messages", json={"raw": _raw(f"burst {index}"), "labelIds": ["INBOX"]}
            )
        final = int(alice.ok("GET", "/profile")["historyId"])
        pushes = drain(push_emulator)["deliveries"]
        assert pushes["delivered"] == 100, pushes
        syncs = receiver.wait_idle(timeout_s=120, runs_at_least=1)
        starts = _starts(tmp_path)
        print(f"100 notifications -> {len(starts)} sync(s)")
        assert 1 <= len(starts) <= 2, starts
        assert starts[-1]["history_id"] >= final  # the last run saw every change
        assert syncs["*"]["notifications"] == 100 and syncs["*"]["failed"] == 0
        assert receiver.health()["counts"]["accepted"] == 100
        events = (tmp_path / "events.jsonl").read_text().splitlines()
        assert len(events) == 100
        _assert_never_overlapping(tmp_path)
    finally:
        assert receiver.stop() == 0


def test_notifications_during_a_sync_queue_exactly_one_more(push_emulator, tmp_path):
    receiver, alice = _start(push_emulator, tmp_path, sleep_s=4.0)
    try:
        alice.ok("POST", "/messages", json={"raw": _raw("first"), "labelIds": ["INBOX"]})
        deadline = time.monotonic() + 30
        while not _starts(tmp_path) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _starts(tmp_path), "no sync started"
        for index in range(5):  # while the first run is still going
            alice.ok(
                "POST", "/messages", json={"raw": _raw(f"late {index}"), "labelIds": ["INBOX"]}
            )
        final = int(alice.ok("GET", "/profile")["historyId"])
        drain(push_emulator)
        status = receiver.health()["syncs"]["*"]
        assert status["running"] and status["queued"], status
        receiver.wait_idle(timeout_s=60, runs_at_least=2)
        starts = _starts(tmp_path)
        assert len(starts) == 2, starts
        assert starts[0]["history_id"] < final <= starts[1]["history_id"]
        _assert_never_overlapping(tmp_path)
    finally:
        assert receiver.stop() == 0


def test_a_failed_sync_is_retried_with_backoff(push_emulator, tmp_path):
    config = base_config(
        push_emulator,
        tmp_path,
        sync_command=fake_sync(push_emulator, tmp_path / "syncs.jsonl", fail_first=2),
        sync_debounce_s=0.2,
        sync_retry_base_s=0.5,
        sync_per_mailbox=True,
    )
    path = write_config(tmp_path, config)
    receiver = Receiver(path, tmp_path / "serve.log")
    point_pushes_at(push_emulator, receiver)
    assert run_cli(path, "watch").returncode == 0
    alice = Api(push_emulator.url, issue_token(push_emulator, "alice@example.com"))
    try:
        alice.ok("POST", "/messages", json={"raw": _raw("retry me"), "labelIds": ["INBOX"]})
        drain(push_emulator)
        syncs = receiver.wait_idle(timeout_s=60, runs_at_least=3)
        mine = syncs["alice@example.com"]  # sync_per_mailbox: one key per mailbox
        assert (mine["runs"], mine["failed"], mine["succeeded"]) == (3, 2, 1), mine
        ends = [e for e in sync_log(tmp_path / "syncs.jsonl") if e["event"] == "end"]
        starts = _starts(tmp_path)
        assert starts[0]["mailbox_env"] == "alice@example.com"
        assert starts[1]["t"] - ends[0]["t"] >= 0.45  # base 0.5 s
        assert starts[2]["t"] - ends[1]["t"] >= 0.95  # then 1 s
        log = receiver.log()
        assert "will be retried (1/5) in 0.5 s" in log and "will be retried (2/5) in 1.0 s" in log
    finally:
        assert receiver.stop() == 0


def test_mailbox_found_with_the_tap_credentials_and_sync_on_start(push_emulator, tmp_path):
    config = base_config(
        push_emulator,
        tmp_path,
        sync_command=fake_sync(push_emulator, tmp_path / "syncs.jsonl"),
        sync_on_start=True,
    )
    receiver = Receiver(write_config(tmp_path, config), tmp_path / "serve.log")
    try:
        receiver.wait_idle(timeout_s=30, runs_at_least=1)
        assert "accepting pushes for alice@example.com as" in receiver.log()  # via getProfile
    finally:
        assert receiver.stop() == 0


def test_unstartable_sync_command_is_logged_and_retried_not_fatal(push_emulator, tmp_path):
    config = base_config(
        push_emulator,
        tmp_path,
        sync_command=["no-such-command-xyz", "run"],
        sync_on_start=True,
        sync_retries=1,
        sync_retry_base_s=0.1,
        sync_debounce_s=0.1,
    )
    receiver = Receiver(write_config(tmp_path, config), tmp_path / "serve.log")
    try:
        syncs = receiver.wait_idle(timeout_s=30, runs_at_least=2)
        assert syncs["*"]["failed"] == 2
        log = receiver.log()
        assert "cannot start 'no-such-command-xyz'" in log and "fix `sync_command`" in log
        assert "giving up until the next notification" in log
        assert receiver.health()["ok"] is True
    finally:
        assert receiver.stop() == 0
    assert "Traceback" not in receiver.log()
