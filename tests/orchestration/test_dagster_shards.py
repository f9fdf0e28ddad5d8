"""orchestration/gmail_dagster: the Dagster job really splits a Workspace between shard runs.

Each test drives the `dagster` CLI of .venv-dagster (as an operator would), in its own
DAGSTER_HOME (with the project's dagster.yaml) and its own Meltano system directory, so
nothing is shared with other tests, `make demo` or `make dagster-dev`.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from gmail_emulator import EmulatorConfig, start_emulator
from tap_gmail.sharding import shard_of
from tests import secrets_guard
from tests.conftest import Api, admin, issue_token, service_account_info

ROOT = Path(__file__).resolve().parents[2]
ORCHESTRATION = ROOT / "orchestration"
DAGSTER_BIN = ROOT / ".venv-dagster" / "bin"
MELTANO = ROOT / ".venv-meltano" / "bin" / "meltano"
USERS = [f"user{n}@example.com" for n in range(6)]
SHARDS = 2
ASSETS = "gmail/messages,gmail/threads,gmail/labels"
# Nothing from the caller's shell may steer these runs.
FOREIGN_ENV = ("TAP_GMAIL_", "TARGET_JSONL_", "MELTANO_", "GMAIL_DAGSTER_", "DAGSTER_")

pytestmark = [pytest.mark.timeout(600), pytest.mark.slow]


@pytest.fixture
def workspace():
    server = start_emulator(EmulatorConfig(users=USERS, messages=15, seed=5))
    yield server
    server.stop()


def _dagster_home(tmp_path: Path) -> Path:
    home = tmp_path / "dagster-home"
    home.mkdir()
    shutil.copy(ORCHESTRATION / "dagster_home" / "dagster.yaml", home)  # the project's config
    return home


def _meltano_sys_dir(tmp_path: Path) -> Path:
    """This test's own `.meltano`: the installed plugins, linked; its own system DB (state)."""
    sys_dir = tmp_path / "meltano-sys"
    sys_dir.mkdir()
    for kind in ("extractors", "loaders", "mappers"):
        (sys_dir / kind).symlink_to(ROOT / ".meltano" / kind, target_is_directory=True)
    return sys_dir


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(FOREIGN_ENV)}
    return {
        **clean,
        "DAGSTER_HOME": str(_dagster_home(tmp_path)),
        "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
        "GMAIL_DAGSTER_SHARD_COUNT": str(SHARDS),
        "GMAIL_DAGSTER_LOADER": "target-jsonl",
        **extra,
    }


def _dagster(env: dict, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [str(DAGSTER_BIN / "dagster"), *args, "-m", "gmail_dagster.definitions"],
        cwd=ORCHESTRATION,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    secrets_guard.watch("dagster stdout", result.stdout)
    secrets_guard.watch("dagster stderr", result.stderr)
    return result


def _materialize(env: dict, shard: int) -> subprocess.CompletedProcess:
    run = _dagster(env, "asset", "materialize", "--select", ASSETS, "--partition", str(shard))
    assert run.returncode == 0, (run.stdout + run.stderr)[-5000:]
    assert "RUN_SUCCESS" in run.stdout + run.stderr
    return run


def _meltano(env: dict, *args: str) -> str:
    result = subprocess.run(
        [str(MELTANO), "--environment=prod", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _dagster_python(env: dict, code: str) -> dict:
    """Run CODE with .venv-dagster's Python, the definitions importable; its JSON stdout."""
    result = subprocess.run(
        [str(DAGSTER_BIN / "python"), "-c", code],
        cwd=ORCHESTRATION,
        env={**env, "PYTHONPATH": str(ORCHESTRATION)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_two_shards_read_their_own_mailboxes_with_separate_incremental_state(workspace, tmp_path):
    assert DAGSTER_BIN.exists(), "run `make dagster` (make test does) to install Dagster"
    assert MELTANO.exists(), "run `make meltano` (make test does) to install Meltano"
    info = service_account_info(client_email="dagster@p.iam.gserviceaccount.com")
    admin(workspace, "auth", {"service_accounts": [info]})
    key_file = tmp_path / "service_account.json"
    key_file.write_text(json.dumps(info))
    out = tmp_path / "jsonl"
    out.mkdir()
    env = _env(
        tmp_path,
        # `prod`: no demo OAuth client in meltano.yml, everything from the environment
        GMAIL_DAGSTER_ENVIRONMENT="prod",
        MELTANO_SYS_DIR_ROOT=str(_meltano_sys_dir(tmp_path)),
        TAP_GMAIL_SERVICE_ACCOUNT_FILE=str(key_file),
        TAP_GMAIL_USER_IDS=json.dumps(USERS),
        TAP_GMAIL_API_URL=workspace.url,
        TAP_GMAIL_TOKEN_URL=workspace.token_url,
        TAP_GMAIL_QUOTA_UNITS_PER_SECOND="0",
        TARGET_JSONL_DESTINATION_PATH=str(out),
    )
    owners = {i: {u for u in USERS if shard_of(u, SHARDS) == i} for i in range(SHARDS)}
    assert all(owners.values()), "the test needs mailboxes in every shard"

    def sync(shard: int) -> tuple[list[dict], dict, str]:
        """Materialise one shard: its new message rows, the emulator's stats, the output."""
        admin(workspace, "stats/reset", {})
        before = len(_rows(out / "messages.jsonl"))
        run = _materialize(env, shard)
        return _rows(out / "messages.jsonl")[before:], admin(workspace, "stats"), run.stderr

    # 1. Full sync, shard by shard: each run touches only its own mailboxes.
    first, units = {}, []
    for shard in range(SHARDS):
        rows, stats, _ = sync(shard)
        assert {r["mailbox"] for r in rows} == owners[shard]
        assert set(stats["quota_units"]["by_user"]) == owners[shard]
        first[shard] = (len(rows), stats["quota_units"]["total"])
        units.append([str(shard), stats["quota_units"]["total"]])
    everything = _rows(out / "messages.jsonl")
    assert {r["mailbox"] for r in everything} == set(USERS)
    assert len(everything) == len({(r["mailbox"], r["id"]) for r in everything})
    for user in USERS:
        api = Api(workspace.url, issue_token(workspace, user))
        listed = api.ok("GET", "/messages", params={"maxResults": 500})["messages"]
        assert {m["id"] for m in listed} == {r["id"] for r in everything if r["mailbox"] == user}

    # 2. Meltano keeps one state ID per shard, each with its own mailboxes' bookmarks.
    state_ids = {line.strip() for line in _meltano(env, "state", "list").splitlines()}
    expected = {f"prod:tap-gmail-to-target-jsonl:shard-{i}" for i in range(SHARDS)}
    assert expected <= state_ids, state_ids
    for shard in range(SHARDS):
        state = json.loads(_meltano(env, "state", "get", f"{sorted(expected)[shard]}"))
        partitions = state["singer_state"]["bookmarks"]["messages"]["partitions"]
        assert {p["context"]["mailbox"] for p in partitions} == owners[shard]

    # 3. One new message in one mailbox of each shard; the second round is incremental.
    new = {}
    for shard in range(SHARDS):
        user = sorted(owners[shard])[0]
        api = Api(workspace.url, issue_token(workspace, user))
        raw = base64.urlsafe_b64encode(
            f"From: x@example.net\r\nTo: {user}\r\nSubject: shard {shard}\r\n\r\nhi\r\n".encode()
        ).decode()
        new[shard] = api.ok("POST", "/messages", json={"raw": raw, "labelIds": ["INBOX"]})["id"]
    for shard in range(SHARDS):
        rows, stats, output = sync(shard)
        assert [r["id"] for r in rows] == [new[shard]]
        assert set(stats["quota_units"]["by_user"]) == owners[shard]
        assert stats["quota_units"]["total"] < first[shard][1] / 2, (stats, first)
        assert "incremental from historyId" in output
        assert "messages.list" not in stats["calls"]["by_method"]  # no full listing again
        units.append([str(shard), stats["quota_units"]["total"]])

    # 4. Dagster recorded one materialisation per shard and round, with the shard's numbers;
    #    the schedule asks for one run per shard.
    seen = _dagster_python(env, _RECORDED)
    assert sorted(seen["messages"]) == sorted(
        [["0", first[0][0]], ["1", first[1][0]], ["0", 1], ["1", 1]]
    )
    assert sorted(seen["incremental"]) == sorted(
        [["0", 0], ["1", 0], ["0", len(owners[0])], ["1", len(owners[1])]]
    )
    assert sorted(seen["units"]) == sorted(units)  # the tap's count matches the emulator's
    assert sorted(seen["schedule"]) == ["0", "1"]


_RECORDED = """
import json
from datetime import datetime, timezone
import dagster as dg
from gmail_dagster.definitions import gmail_incremental

instance = dg.DagsterInstance.get()
records = instance.fetch_materializations(dg.AssetKey(["gmail", "messages"]), limit=100).records
messages, incremental, units = [], [], []
for record in records:
    metadata = record.asset_materialization.metadata
    messages.append([record.partition_key, metadata["records"].value])
    incremental.append([record.partition_key, metadata["incremental_mailboxes"].value])
    units.append([record.partition_key, metadata["gmail_quota_units"].value])
events, retried = {}, []
for run in instance.get_run_records():
    partition = run.dagster_run.tags.get("dagster/partition")
    for entry in instance.all_logs(run.dagster_run.run_id):
        if entry.dagster_event:
            events.setdefault(partition, []).append(entry.dagster_event.event_type_value)
            if entry.dagster_event.event_type_value == "STEP_UP_FOR_RETRY":
                retried.append([partition, str(entry.dagster_event.event_specific_data)])
context = dg.build_schedule_context(
    instance=instance, scheduled_execution_time=datetime(2026, 1, 1, tzinfo=timezone.utc)
)
requests = gmail_incremental(context)
print(json.dumps({
    "messages": messages,
    "incremental": incremental,
    "units": units,
    "schedule": [r.partition_key for r in requests],
    "events": events,
    "retried": retried,
}))
"""

_FAKE_MELTANO = """#!/usr/bin/env bash
# A stand-in for meltano: records each call with its start and end; shard 1 fails once,
# after holding its pool slot long enough for shard 0's run to start and wait for it.
echo "$TAP_GMAIL_SHARD_INDEX/$TAP_GMAIL_SHARD_COUNT $*" >> "$CALLS.args"
start=$(date +%s.%N)
if [[ $TAP_GMAIL_SHARD_INDEX == 1 && ! -e "$CALLS.failed" ]]; then sleep 10; else sleep 3; fi
echo "$TAP_GMAIL_SHARD_INDEX $start $(date +%s.%N)" >> "$CALLS.times"
if [[ $TAP_GMAIL_SHARD_INDEX == 1 && ! -e "$CALLS.failed" ]]; then
    touch "$CALLS.failed"
    echo "tap-gmail: mailbox user1@example.com unavailable"
    exit 3
fi
metric='{"type":"counter","metric":"record_count","value":7,"tags":{"stream":"messages"}}'
echo "tap-gmail    METRIC: $metric"
"""


def test_shards_wait_for_the_pool_and_a_failed_one_is_retried_alone(tmp_path):
    """Two shards under the project's pool limit of 1 run one after the other; shard 1 fails
    once and is retried, shard 0 is not run again."""
    assert DAGSTER_BIN.exists(), "run `make dagster` (make test does) to install Dagster"
    fake = tmp_path / "meltano"
    fake.write_text(_FAKE_MELTANO)
    fake.chmod(0o755)
    calls = tmp_path / "calls"
    env = _env(
        tmp_path,
        CALLS=str(calls),
        GMAIL_DAGSTER_MELTANO=str(fake),
        GMAIL_DAGSTER_RETRIES="1",
        GMAIL_DAGSTER_RETRY_DELAY_S="0",
        GMAIL_DAGSTER_MAPPERS="strip-bodies",
    )
    command = [
        str(DAGSTER_BIN / "dagster"),
        "asset",
        "materialize",
        "-m",
        "gmail_dagster.definitions",
        "--select",
        ASSETS,
        "--partition",
    ]
    # The instance exists before its first runs, as an operator's does: two processes
    # creating a fresh SQLite instance, or the pool's slots, at the same moment can race.
    for step in (["instance", "info"], ["instance", "concurrency", "set", "gmail", "1"]):
        setup = subprocess.run(
            [str(DAGSTER_BIN / "dagster"), *step], env=env, capture_output=True, text=True
        )
        assert setup.returncode == 0, setup.stderr[-3000:]
    # Shard 1 first; shard 0 once shard 1 holds the slot. (Two steps claiming a free slot at
    # the same instant can both get it on a SQLite instance: see docs/orchestration.md.)
    runs = []
    for shard in (1, 0):
        runs.append(
            subprocess.Popen(
                [*command, str(shard)],
                cwd=ORCHESTRATION,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
        deadline = time.monotonic() + 120
        while not calls.with_suffix(".args").exists() and time.monotonic() < deadline:
            time.sleep(0.2)
    runs.reverse()
    try:
        outputs = [run.communicate(timeout=300)[0] for run in runs]
    finally:
        for run in runs:
            if run.poll() is None:
                run.kill()
                run.wait()
    assert [run.returncode for run in runs] == [0, 0], outputs
    shown = "\n----- shard 1 -----\n".join(output[-4000:] for output in outputs)
    args = calls.with_suffix(".args").read_text().splitlines()
    tail = "run --state-id-suffix shard-{0} tap-gmail strip-bodies target-jsonl"
    assert sorted(args) == [
        f"0/2 --environment=dev {tail.format(0)}",
        *[f"1/2 --environment=dev {tail.format(1)}"] * 2,
    ], shown
    spans = sorted(
        (float(start), float(end))
        for _, start, end in (
            line.split() for line in calls.with_suffix(".times").read_text().splitlines()
        )
    )
    assert all(
        end <= next_start for (_, end), (next_start, _) in zip(spans, spans[1:], strict=False)
    ), (spans, shown)
    assert "blocked by limit for pool gmail" in "".join(outputs), shown
    seen = _dagster_python(env, _RECORDED)
    # Dagster's event log, not the CLI's output: step workers' events may not reach the latter.
    assert [partition for partition, _ in seen["retried"]] == ["1"], seen["retried"]
    assert "shard 1: meltano run exited with 3" in seen["retried"][0][1]
    assert [seen["events"][shard].count("STEP_SUCCESS") for shard in "01"] == [1, 1]
    assert "STEP_FAILURE" not in seen["events"]["0"] + seen["events"]["1"]
    assert sorted(seen["messages"]) == [["0", 7], ["1", 7]]
