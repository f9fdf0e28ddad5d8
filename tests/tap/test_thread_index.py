"""The thread index kept between runs (tap_gmail.thread_index): incremental threads at the
cost of the messages stream alone, and every way the index can be unusable (lost, behind
the bookmark, held by another run, a killed full sync) still gives Gmail's thread records.

The oracle is a fresh threads-only run, which reads every thread from Gmail: each thread an
incremental run emits must equal the oracle's record, or be a tombstone the oracle lacks.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import random
import resource
import shutil
import sqlite3
import struct
import subprocess

import pytest

from gmail_emulator import EmulatorConfig, start_emulator
from tests.conftest import Api, admin, issue_token
from tests.reliability.pipeline import mutate
from tests.tap.conftest import TAP, by_id, catalog_args, run_tap, tap_config, with_index_dir

pytestmark = pytest.mark.timeout(300)
ALICE = "alice@example.com"


def _streams(tmp_path, config) -> dict[str, tuple[str, ...]]:
    return {
        "both": catalog_args(tmp_path, config, {"messages", "threads"}),
        "messages": catalog_args(tmp_path, config, {"messages"}),
        "threads": catalog_args(tmp_path, config, {"threads"}),
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
    truth = by_id(oracle.records.get("threads", []))
    emitted = by_id(run.records.get("threads", []))
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
    assert "another run holds it" in second.stderr
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
    assert by_id(run.records["threads"]) == by_id(oracle.records["threads"])


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
        assert by_id(resumed.records["threads"]) == by_id(oracle.records["threads"])
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


def _drop_messages_table(index) -> None:
    with contextlib.closing(sqlite3.connect(index)) as db:
        db.execute("DROP TABLE messages")
        db.commit()


def _applied_not_a_number(index) -> None:
    with contextlib.closing(sqlite3.connect(index)) as db:
        db.execute("UPDATE meta SET value = 'x' WHERE key = 'applied'")
        db.commit()


def _random_bytes(index) -> None:
    index.write_bytes(random.Random(5).randbytes(index.stat().st_size))


def _truncated(index) -> None:
    os.truncate(index, index.stat().st_size // 2)


@pytest.mark.parametrize(
    "damage", [_drop_messages_table, _applied_not_a_number, _random_bytes, _truncated]
)
def test_damaged_index_reads_threads_from_gmail(emulator, tmp_path, damage):
    """A damaged file is never used: an empty table made up anew would give threads of only
    this run's messages; a meta value that is not a number must not stop the run."""
    config = tap_config(emulator)
    streams = _streams(tmp_path, config)
    first = run_tap(tmp_path, config, extra_args=streams["both"])
    (index,) = _index_files(tmp_path)
    damage(index)
    mutate(emulator, seed=14, changes=30)
    second = run_tap(tmp_path, config, state=first.state, extra_args=streams["both"])
    assert second.returncode == 0, second.stderr[-2000:]
    assert "Traceback" not in second.stderr
    assert (
        "thread index" in second.stderr
        and "is not used" in second.stderr
        or ("has applied history up to" in second.stderr)
    )
    assert "thread_index" not in _messages_partition(second)
    _assert_threads_as_gmail(tmp_path, config, streams, second)


def _table_leaves(index, table: str) -> tuple[list[int], int]:
    """The leaf pages of ``table``'s b-tree, left to right, and the page size."""
    data = index.read_bytes()
    (size,) = struct.unpack(">H", data[16:18])
    size = 65536 if size == 1 else size
    with contextlib.closing(sqlite3.connect(index)) as db:
        query = "SELECT rootpage FROM sqlite_master WHERE name = ?"
        (root,) = db.execute(query, (table,)).fetchone()

    def walk(page: int) -> list[int]:
        base = (page - 1) * size
        header = base + (100 if page == 1 else 0)
        if data[header] == 0x0D:  # a table leaf
            return [page]
        assert data[header] == 0x05, data[header]  # a table interior page
        (cells,) = struct.unpack(">H", data[header + 3 : header + 5])
        children = []
        for cell in range(cells):
            (pointer,) = struct.unpack(">H", data[header + 12 + 2 * cell : header + 14 + 2 * cell])
            children += walk(struct.unpack(">I", data[base + pointer : base + pointer + 4])[0])
        return children + walk(struct.unpack(">I", data[header + 8 : header + 12])[0])

    return walk(root), size


def test_index_unreadable_in_the_threads_stream_reads_threads_from_gmail(emulator, tmp_path):
    """Damage the messages pass does not see (it writes only the last leaf) but the threads
    stream reads: no traceback, no failed run (every later run would fail the same way)."""
    config = tap_config(emulator)
    streams = _streams(tmp_path, config)
    first = run_tap(tmp_path, config, extra_args=streams["both"])
    (index,) = _index_files(tmp_path)
    with contextlib.closing(sqlite3.connect(index)) as db:
        thread_id, subject = db.execute(
            "SELECT thread_id, subject FROM messages ORDER BY rowid LIMIT 1"
        ).fetchone()
    leaves, size = _table_leaves(index, "messages")
    assert len(leaves) > 1
    data = bytearray(index.read_bytes())
    for page in leaves[:-1]:  # new rows go to the last leaf
        data[(page - 1) * size : page * size] = b"\xff" * size
    index.write_bytes(bytes(data))
    alice = Api(emulator.url, issue_token(emulator, ALICE))
    raw = f"From: Dana <dana@example.net>\r\nTo: {ALICE}\r\nSubject: {subject}\r\n\r\nmore\r\n"
    alice.ok(
        "POST",
        "/messages",
        json={"raw": base64.urlsafe_b64encode(raw.encode()).decode(), "threadId": thread_id},
    )
    second = run_tap(tmp_path, config, state=first.state, extra_args=streams["both"])
    assert second.returncode == 0, second.stderr[-2000:]
    assert "Traceback" not in second.stderr
    assert "the thread store could not be read" in second.stderr and not index.exists()
    assert thread_id in {t["id"] for t in second.records["threads"]}
    _assert_threads_as_gmail(tmp_path, config, streams, second)

    third = run_tap(tmp_path, config, state=second.state, extra_args=streams["both"])
    assert third.returncode == 0 and "Traceback" not in third.stderr


def test_threads_bookmark_ahead_of_messages_is_still_derived(emulator, tmp_path):
    """The streams' bookmarks drift apart when threads read Gmail on their own (the messages
    stream failed, or a change landed between the two streams' last history calls). A
    threads bookmark inside the messages window is covered by it: no thread read from Gmail,
    and the two bookmarks are equal again."""
    config = tap_config(emulator)
    streams = _streams(tmp_path, config)
    first = run_tap(tmp_path, config, extra_args=streams["both"])
    mutate(emulator, seed=15, changes=20)
    (tmp_path / "threads-alone").mkdir()
    threads_run = run_tap(
        tmp_path / "threads-alone", config, state=first.state, extra_args=streams["threads"]
    )
    assert threads_run.returncode == 0, threads_run.stderr[-2000:]
    drifted = json.loads(json.dumps(first.state))
    drifted["bookmarks"]["threads"] = threads_run.state["bookmarks"]["threads"]
    mutate(emulator, seed=16, changes=20)
    admin(emulator, "stats/reset", {})
    second = run_tap(tmp_path, config, state=drifted, extra_args=streams["both"])
    assert second.returncode == 0, second.stderr[-2000:]
    calls = _calls(emulator)
    assert "threads.get" not in calls and "threads.list" not in calls, calls
    assert (
        second.partition("threads", ALICE)["replication_key_value"]
        == (second.partition("messages", ALICE)["replication_key_value"])
    )
    _assert_threads_as_gmail(tmp_path, config, streams, second)
