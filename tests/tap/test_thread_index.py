"""The thread index kept between runs (tap_gmail.thread_index): incremental threads at the
cost of the messages stream alone, and every way the index can be unusable (lost, behind
the bookmark, held by another run, a killed full sync) still gives Gmail's thread records.

The oracle is a fresh threads-only run, which reads every thread from Gmail: each thread an
incremental run emits must equal the oracle's record, or be a tombstone the oracle lacks.
"""

from __future__ import annotations

import json
import resource
import shutil
import sqlite3
import subprocess

import pytest

from gmail_emulator import EmulatorConfig, start_emulator
from tests.conftest import Api, admin, issue_token
from tests.reliability.pipeline import mutate
from tests.tap.conftest import TAP, run_tap, tap_config, with_index_dir
from tests.tap.test_derived_threads import _by_id, _catalog

pytestmark = pytest.mark.timeout(300)
ALICE = "alice@example.com"


def _streams(tmp_path, config) -> dict[str, tuple[str, ...]]:
    return {
        "both": _catalog(tmp_path, config, {"messages", "threads"}),
        "messages": _catalog(tmp_path, config, {"messages"}),
        "threads": _catalog(tmp_path, config, {"threads"}),
    }


def _messages_partition(run) -> dict:
    return run.partition("messages", ALICE)


def _index_files(tmp_path) -> list:
    return sorted((tmp_path / "thread-index").glob("*.sqlite"))


def _calls(server) -> dict:
    """Calls per method, by the names the quota table uses (``threads.get``)."""
    by_method = admin(server, "stats")["calls"]["by_method"]
    return {name.removeprefix("gmail.users."): count for name, count in by_method.items()}


def _units(server) -> int:
    return admin(server, "stats")["quota_units"]["total"]


def _trash_some(server, count: int, offset: int) -> None:
    """Move messages to TRASH: they leave their threads (spam/trash are not selected)."""
    alice = Api(server.url, issue_token(server, ALICE))
    ids = sorted(m["id"] for m in alice.ok("GET", "/messages", params={"maxResults": 500})[
        "messages"])  # fmt: skip
    for message_id in ids[offset : offset + count]:
        alice.ok("POST", f"/messages/{message_id}/trash")


def _assert_threads_as_gmail(tmp_path, config, streams, run) -> None:
    """Every thread the run emitted is what Gmail says now; every changed thread is there."""
    oracle_dir = tmp_path / "oracle"
    oracle_dir.mkdir(exist_ok=True)
    oracle = run_tap(oracle_dir, config, extra_args=streams["threads"])
    assert oracle.returncode == 0, oracle.stderr[-2000:]
    truth = _by_id(oracle.records.get("threads", []))
    emitted = _by_id(run.records.get("threads", []))
    assert emitted, "the run emitted no thread"
    for thread_id, record in emitted.items():
        if record["_sdc_deleted_at"]:
            assert thread_id not in truth, thread_id
        else:
            assert record == truth[thread_id], thread_id
    changed = {m["thread_id"] for m in run.records.get("messages", []) if m["thread_id"]}
    assert changed <= set(emitted), changed - set(emitted)


def test_index_keeps_incremental_threads_at_the_cost_of_messages(emulator, tmp_path):
    config = tap_config(emulator)
    streams = _streams(tmp_path, config)
    both = run_tap(tmp_path, config, extra_args=streams["both"])
    alone = run_tap(tmp_path, config, extra_args=streams["messages"])
    assert both.returncode == 0 and alone.returncode == 0
    lineage = _messages_partition(both)["thread_index"]
    assert [path.name.split("-")[1] for path in _index_files(tmp_path)] == [f"{lineage}.sqlite"]
    assert ALICE not in " ".join(path.name for path in _index_files(tmp_path))

    for round_ in range(2):  # the index stays valid run after run
        mutate(emulator, seed=10 + round_, changes=30)
        _trash_some(emulator, count=3, offset=10 * round_)
        admin(emulator, "stats/reset", {})
        alone = run_tap(tmp_path, config, state=alone.state, extra_args=streams["messages"])
        messages_units = _units(emulator)
        admin(emulator, "stats/reset", {})
        both = run_tap(tmp_path, config, state=both.state, extra_args=streams["both"])
        both_units, calls = _units(emulator), _calls(emulator)
        assert both.returncode == 0, both.stderr[-2000:]
        assert "threads.get" not in calls and "threads.list" not in calls, calls
        assert both_units <= 1.1 * messages_units, (both_units, messages_units)
        assert _messages_partition(both)["thread_index"] == lineage
        assert any(t["_sdc_deleted_at"] for t in both.records["messages"])
        _assert_threads_as_gmail(tmp_path, config, streams, both)


def test_lost_index_reads_threads_from_gmail(emulator, tmp_path):
    config = tap_config(emulator)
    streams = _streams(tmp_path, config)
    first = run_tap(tmp_path, config, extra_args=streams["both"])
    shutil.rmtree(tmp_path / "thread-index")  # a new machine, an ephemeral container
    mutate(emulator, seed=3, changes=30)
    admin(emulator, "stats/reset", {})
    second = run_tap(tmp_path, config, state=first.state, extra_args=streams["both"])
    assert second.returncode == 0, second.stderr[-2000:]
    assert "the thread index the state names is not used" in second.stderr
    assert "threads.get" in _calls(emulator)  # what it costs without an index
    assert "thread_index" not in _messages_partition(second)
    _assert_threads_as_gmail(tmp_path, config, streams, second)

    mutate(emulator, seed=4, changes=20)
    third = run_tap(tmp_path, config, state=second.state, extra_args=streams["both"])
    assert third.returncode == 0 and "thread index" not in third.stderr
    _assert_threads_as_gmail(tmp_path, config, streams, third)


def test_index_behind_the_bookmark_is_dropped(emulator, tmp_path):
    """A restored backup of the index lacks changes the bookmark already covers."""
    config = tap_config(emulator)
    streams = _streams(tmp_path, config)
    first = run_tap(tmp_path, config, extra_args=streams["both"])
    (index,) = _index_files(tmp_path)
    backup = tmp_path / "index-backup"
    shutil.copy(index, backup)
    mutate(emulator, seed=5, changes=30)
    second = run_tap(tmp_path, config, state=first.state, extra_args=streams["both"])
    assert second.returncode == 0 and "thread index" not in second.stderr
    shutil.copy(backup, index)

    mutate(emulator, seed=6, changes=30)
    third = run_tap(tmp_path, config, state=second.state, extra_args=streams["both"])
    assert third.returncode == 0, third.stderr[-2000:]
    assert "the thread index has applied history up to" in third.stderr
    assert not index.exists() and "thread_index" not in _messages_partition(third)
    _assert_threads_as_gmail(tmp_path, config, streams, third)


def test_index_held_by_another_run_is_left_alone(emulator, tmp_path):
    config = tap_config(emulator)
    streams = _streams(tmp_path, config)
    first = run_tap(tmp_path, config, extra_args=streams["both"])
    (index,) = _index_files(tmp_path)
    other_run = sqlite3.connect(index)
    other_run.executescript("PRAGMA locking_mode=EXCLUSIVE; BEGIN EXCLUSIVE;")
    try:
        mutate(emulator, seed=7, changes=30)
        second = run_tap(tmp_path, config, state=first.state, extra_args=streams["both"])
    finally:
        other_run.close()
    assert second.returncode == 0, second.stderr[-2000:]
    assert "it cannot be opened" in second.stderr
    assert index.exists()  # not ours to delete while another run holds it
    _assert_threads_as_gmail(tmp_path, config, streams, second)


def _files_up_to(size: int):
    """For the tap process: no file may grow past ``size`` bytes (a full disk, as SQLite
    sees it: EFBIG, "disk I/O error"; Python ignores SIGXFSZ)."""
    return lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))


def test_index_write_failure_mid_run_reads_threads_from_gmail(emulator, tmp_path):
    config = tap_config(emulator)
    streams = _streams(tmp_path, config)
    first = run_tap(tmp_path, config, extra_args=streams["both"])
    (index,) = _index_files(tmp_path)
    mutate(emulator, seed=12, changes=60)
    second = run_tap(
        tmp_path,
        config,
        state=first.state,
        extra_args=streams["both"],
        preexec=_files_up_to(8192),  # the index's log cannot take a second page
    )
    assert second.returncode == 0, second.stderr[-2000:]
    assert "the thread store could not be written" in second.stderr
    assert "Traceback" not in second.stderr
    assert not index.exists() and "thread_index" not in _messages_partition(second)
    _assert_threads_as_gmail(tmp_path, config, streams, second)


def test_no_room_for_any_store_still_syncs_threads(emulator, tmp_path):
    config = tap_config(emulator)
    streams = _streams(tmp_path, config)
    run = run_tap(tmp_path, config, extra_args=streams["both"], preexec=_files_up_to(0))
    assert run.returncode == 0, run.stderr[-2000:]
    assert "no thread index" in run.stderr and "Traceback" not in run.stderr
    (tmp_path / "oracle").mkdir()
    oracle = run_tap(tmp_path / "oracle", config, extra_args=streams["threads"])
    assert _by_id(run.records["threads"]) == _by_id(oracle.records["threads"])


def test_index_off_keeps_nothing(emulator, tmp_path):
    config = tap_config(emulator, keep_thread_index=False)
    streams = _streams(tmp_path, config)
    first = run_tap(tmp_path, config, extra_args=streams["both"])
    mutate(emulator, seed=8, changes=20)
    second = run_tap(tmp_path, config, state=first.state, extra_args=streams["both"])
    assert second.returncode == 0, second.stderr[-2000:]
    assert not (tmp_path / "thread-index").exists()
    assert "thread_index" not in _messages_partition(second)
    _assert_threads_as_gmail(tmp_path, config, streams, second)


def test_messages_only_run_retires_the_index(emulator, tmp_path):
    """A run that does not keep the index up to date must not leave it named in the state."""
    config = tap_config(emulator)
    streams = _streams(tmp_path, config)
    first = run_tap(tmp_path, config, extra_args=streams["both"])
    mutate(emulator, seed=9, changes=20)
    second = run_tap(tmp_path, config, state=first.state, extra_args=streams["messages"])
    assert second.returncode == 0 and not _index_files(tmp_path)
    assert "thread_index" not in _messages_partition(second)


def test_killed_full_sync_resumes_into_its_index(tmp_path):
    """kill -9 after the first full-sync page: the resumed run derives every thread, those
    of the pages before the kill included, without listing threads from Gmail."""
    server = start_emulator(
        EmulatorConfig(users=[ALICE], messages=1300, seed=4, quota_units_per_second=0)
    )
    try:
        config = tap_config(server, message_format="metadata")
        streams = _streams(tmp_path, config)
        (tmp_path / "config.json").write_text(json.dumps(with_index_dir(config, tmp_path)))
        args = [TAP, "--config", str(tmp_path / "config.json"), *streams["both"]]
        process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        killed_at = None
        for line in process.stdout:
            message = json.loads(line)
            if message["type"] != "STATE":
                continue
            partitions = message["value"]["bookmarks"].get("messages", {}).get("partitions", [])
            resume = partitions[0].get("full_sync") if partitions else None
            if resume and resume.get("page_token"):
                killed_at = message["value"]
                process.kill()
                break
        process.wait()
        assert killed_at is not None, "no second page was reached"

        admin(server, "stats/reset", {})
        resumed = run_tap(tmp_path, config, state=killed_at, extra_args=streams["both"])
        assert resumed.returncode == 0, resumed.stderr[-2000:]
        # The threads stream read no thread (the messages stream's threads.get are its own).
        assert "threads.list" not in _calls(server)
        (tmp_path / "oracle").mkdir()
        oracle = run_tap(tmp_path / "oracle", config, extra_args=streams["threads"])
        assert _by_id(resumed.records["threads"]) == _by_id(oracle.records["threads"])
    finally:
        server.stop()


def test_thread_index_id_from_the_state_is_never_a_path(emulator, tmp_path):
    """A hand-edited state cannot point the tap at (or make it delete) another file."""
    config = tap_config(emulator)
    streams = _streams(tmp_path, config)
    first = run_tap(tmp_path, config, extra_args=streams["both"])
    victim = tmp_path / "victim.sqlite"
    victim.write_text("not an index")
    state = json.loads(json.dumps(first.state))
    for partition in state["bookmarks"]["messages"]["partitions"]:
        partition["thread_index"] = "../victim"
    mutate(emulator, seed=13, changes=20)
    second = run_tap(tmp_path, config, state=state, extra_args=streams["both"])
    assert second.returncode == 0, second.stderr[-2000:]
    assert "is not an id" in second.stderr and victim.read_text() == "not an index"
    _assert_threads_as_gmail(tmp_path, config, streams, second)
