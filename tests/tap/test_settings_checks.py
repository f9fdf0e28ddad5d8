"""Settings the tap can check itself: one configuration error before any Gmail call.

Each case runs tap-gmail as a process against the emulator, and the emulator's own count
of calls shows that nothing was read. Before these checks, a 0 silently meant "the
default" (`retry_max_tries: 0` gave 8 tries), `shard.index: 1.9` from flat keys became 1, a
malformed `start_date` failed every stream of every mailbox one by one, and
`"ALICE@example.com"` next to `"alice@example.com"` read the mailbox twice under two names.
"""

from __future__ import annotations

import pytest

from gmail_emulator import EmulatorConfig, start_emulator
from tests.conftest import admin
from tests.tap.conftest import run_tap, tap_config
from tests.tap.test_delegation import _config, _service_account

pytestmark = pytest.mark.timeout(300)
USERS = ["alice@example.com", "bob@example.com"]


@pytest.fixture(scope="module")
def server():
    server = start_emulator(EmulatorConfig(users=USERS, messages=20, seed=4))
    yield server
    server.stop()


def _gmail_calls(server) -> int:
    return admin(server, "stats")["calls"]["total"]


OAUTH_CASES = {
    "batch_size 0": ({"batch_size": 0}, "batch_size", "0 is outside 1..100"),
    "request_timeout_s 0": ({"request_timeout_s": 0}, "request_timeout_s", "outside 1..600"),
    "retry_max_tries 0": ({"retry_max_tries": 0}, "retry_max_tries", "0 is outside 1..100"),
    "retry_max_tries huge": ({"retry_max_tries": 10**6}, "retry_max_tries", "outside 1..100"),
    "retry_max_time_s 0": ({"retry_max_time_s": 0}, "retry_max_time_s", "0 is outside"),
    "retry_max_time_s huge": ({"retry_max_time_s": 1e308}, "retry_max_time_s", "outside 1.."),
    "max_concurrency 0": ({"max_concurrency": 0}, "max_concurrency", "0 is outside"),
    "quota_window_s 0": ({"quota_window_s": 0}, "quota_window_s", "0 is outside 0.1..60"),
    "negative quota": ({"quota_units_per_second": -5}, "quota_units_per_second", "-5 is outside"),
    "negative cost": ({"quota_costs": {"messages.get": -5}}, "quota_costs.messages.get", "-5"),
    "parallel 0": ({"max_parallel_mailboxes": 0}, "max_parallel_mailboxes", "0 is outside"),
    "start_date words": ({"start_date": "yesterday"}, "start_date", "not an ISO-8601"),
    "start_date month 13": ({"start_date": "2024-13-01T00:00:00Z"}, "start_date", "ISO-8601"),
    "start_date 1900": ({"start_date": "1900-01-01T00:00:00Z"}, "start_date", "before 1970"),
}


@pytest.mark.parametrize("case", sorted(OAUTH_CASES))
def test_a_bad_setting_is_one_config_error_before_any_call(server, tmp_path, case):
    change, setting, problem = OAUTH_CASES[case]
    before = _gmail_calls(server)
    run = run_tap(tmp_path, tap_config(server, **change))
    assert run.returncode == 1
    assert "Traceback" not in run.stderr, run.stderr[-3000:]
    errors = [line for line in run.stderr.splitlines() if "| ERROR" in line]
    assert len(errors) == 1, errors  # one line, not one per mailbox and stream
    assert f"configuration error: setting `{setting}`" in errors[0] and problem in errors[0]
    assert "To fix:" in errors[0] or setting == "max_parallel_mailboxes"
    assert not run.records and _gmail_calls(server) == before


SHARD_CASES = {
    # Flat keys (Meltano's `shard.index`, TAP_GMAIL_SHARD_INDEX) skip the JSON Schema.
    "flat fraction": ({"shard.index": 1.9, "shard.count": 2}, "`index` is 1.9, not a whole"),
    "flat boolean": ({"shard.index": True, "shard.count": 2}, "`index` is True, not a whole"),
    "flat word": ({"shard.index": "one", "shard.count": 2}, "`index` is 'one', not a whole"),
    "flat missing count": ({"shard.index": 1}, "`count` is missing"),
    "flat unknown key": ({"shard.index": 0, "shard.count": 2, "shard.of": 3}, "unknown key"),
    "count 0": ({"shard": {"index": 0, "count": 0}}, "count 0 must be at least 1"),
    "unknown key": ({"shard": {"index": 0, "count": 2, "total": 2}}, "unknown key(s) total"),
}


@pytest.mark.parametrize("case", sorted(SHARD_CASES))
def test_a_bad_shard_is_refused_never_truncated(server, tmp_path, case):
    change, problem = SHARD_CASES[case]
    info = _service_account(server)
    before = _gmail_calls(server)
    run = run_tap(tmp_path, {**_config(server, info, USERS), **change})
    assert run.returncode == 1 and "Traceback" not in run.stderr, run.stderr[-3000:]
    assert "configuration error: setting `shard`" in run.stderr and problem in run.stderr
    assert not run.records and _gmail_calls(server) == before


def test_flat_shard_keys_as_strings_still_work(server, tmp_path):
    """Environment variables arrive as strings: "1" is a fine index."""
    info = _service_account(server)
    config = {**_config(server, info, USERS), "shard.index": "0", "shard.count": "1"}
    run = run_tap(tmp_path, config)
    assert run.returncode == 0, run.stderr[-3000:]
    assert {r["mailbox"] for r in run.records["messages"]} == set(USERS)


@pytest.mark.parametrize("bad", ["not-an-address", "alice@example.com, bob@example.com"])
def test_a_user_id_that_is_no_address_is_a_config_error(server, tmp_path, bad):
    info = _service_account(server)
    before_grants = admin(server, "stats").get("token_grants", {})
    run = run_tap(tmp_path, _config(server, info, ["alice@example.com", bad]))
    assert run.returncode == 1 and "Traceback" not in run.stderr, run.stderr[-3000:]
    assert "configuration error: setting `user_ids`" in run.stderr
    assert "is not a mailbox address" in run.stderr
    assert not run.records  # not even the good mailbox: the config is wrong as a whole
    assert admin(server, "stats").get("token_grants", {}) == before_grants


def test_one_mailbox_written_twice_is_read_once(server, tmp_path):
    info = _service_account(server)
    users = ["alice@example.com", " ALICE@Example.com ", "alice@example.com"]
    run = run_tap(tmp_path, _config(server, info, users))
    assert run.returncode == 0, run.stderr[-3000:]
    messages = run.records["messages"]
    assert {m["mailbox"] for m in messages} == {"alice@example.com"}
    assert len(messages) == len({m["id"] for m in messages})  # no message twice
    for stream in ("messages", "threads", "labels"):
        partitions = run.state["bookmarks"][stream]["partitions"]
        assert [p["context"]["mailbox"] for p in partitions] == ["alice@example.com"]


@pytest.mark.parametrize(
    ("text", "problem"), [("{oops", "not valid JSON"), ("[1]", "a JSON list, not an object")]
)
def test_a_config_file_that_is_no_json_object_is_one_line(server, tmp_path, text, problem):
    """It used to be the SDK's JSONDecodeError traceback."""
    import subprocess

    from tests.tap.conftest import TAP

    path = tmp_path / "config.json"
    path.write_text(text)
    result = subprocess.run([TAP, "--config", str(path)], capture_output=True, text=True)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr[-3000:]
    assert f"tap-gmail: configuration error: --config {path}: {problem}" in result.stderr
    assert result.stdout == ""


def test_a_start_date_in_the_future_is_warned_about(server, tmp_path):
    info = _service_account(server)
    config = {**_config(server, info, ["alice@example.com"]), "start_date": "2999-01-01T00:00:00Z"}
    run = run_tap(tmp_path, config)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "start_date 2999-01-01T00:00:00+00:00 is in the future" in run.stderr
    assert not run.records.get("messages")
