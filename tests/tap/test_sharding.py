"""`shard` splits `user_ids` between jobs: disjoint, complete, stable, with separate state."""

from __future__ import annotations

import pytest

from gmail_emulator import EmulatorConfig, start_emulator
from tap_gmail.sharding import shard_of
from tests.tap.conftest import run_tap
from tests.tap.test_delegation import _config, _service_account

USERS = [f"user{n}@example.com" for n in range(6)]


def test_shards_are_disjoint_complete_and_stable():
    emails = [f"person{n}@corp.example" for n in range(2000)]
    counts = [0] * 8
    for email in emails:
        counts[shard_of(email, 8)] += 1
    assert sum(counts) == 2000 and min(counts) > 150  # every shard gets a fair share
    before = {email: shard_of(email, 8) for email in emails}
    assert all(shard_of(email.upper(), 8) == shard for email, shard in before.items())


@pytest.fixture
def workspace():
    server = start_emulator(EmulatorConfig(users=USERS, messages=15, seed=5))
    yield server
    server.stop()


def test_two_jobs_split_a_workspace_with_separate_state(workspace, tmp_path):
    info = _service_account(workspace)
    seen: dict[int, set[str]] = {}
    for index in (0, 1):
        config = {**_config(workspace, info, USERS), "shard": {"index": index, "count": 2}}
        run = run_tap(tmp_path, config)
        assert run.returncode == 0, run.stderr[-3000:]
        seen[index] = {m["mailbox"] for m in run.records.get("messages", [])}
        partitions = run.state["bookmarks"]["messages"]["partitions"]
        assert {p["context"]["mailbox"] for p in partitions} == seen[index]
        assert seen[index] == {u for u in USERS if shard_of(u, 2) == index}
    assert seen[0].isdisjoint(seen[1]) and seen[0] | seen[1] == set(USERS)


def test_a_bad_shard_names_the_setting(workspace, tmp_path):
    info = _service_account(workspace)
    config = {**_config(workspace, info, USERS), "shard": {"index": 2, "count": 2}}
    run = run_tap(tmp_path, config)
    assert run.returncode != 0
    assert "`shard`" in run.stderr and "0..1" in run.stderr and "Traceback" not in run.stderr
