"""The whole loop with no scheduled run: emulator watch -> signed push -> gmail-push serve ->
`meltano run tap-gmail target-duckdb` -> the new message is a row in DuckDB within 10 s."""

from __future__ import annotations

import base64
import os
import subprocess
import time
from pathlib import Path

import duckdb
import pytest

from gmail_emulator import EmulatorConfig, start_emulator
from tests import secrets_guard
from tests.conftest import Api, admin, issue_token
from tests.push.conftest import (
    AUDIENCE,
    SERVICE_ACCOUNT,
    SUBSCRIPTION,
    Receiver,
    base_config,
    point_pushes_at,
    run_cli,
    write_config,
)

ROOT = Path(__file__).resolve().parents[2]
MELTANO = ROOT / ".venv-meltano" / "bin" / "meltano"
BOUND_S = 10.0  # the issue's requirement: insert -> row within 10 s

pytestmark = [pytest.mark.timeout(600), pytest.mark.slow]


def _runs(receiver) -> int:
    return sum(s["runs"] for s in receiver.health()["syncs"].values())


def test_inserted_message_is_in_duckdb_within_10_s_without_a_schedule(tmp_path):
    assert MELTANO.exists(), "run `make meltano` (make test does) to install Meltano"
    emulator = start_emulator(
        EmulatorConfig(
            users=["alice@example.com"],
            messages=30,
            seed=21,
            quota_units_per_second=0,
            push_service_account=SERVICE_ACCOUNT,
            push_audience=AUDIENCE,
            push_subscription=SUBSCRIPTION,
        )
    )
    database = tmp_path / "gmail.duckdb"
    suffix = f"push-e2e-{os.getpid()}-{tmp_path.name}"
    meltano_run = [str(MELTANO), "run", "--state-id-suffix", suffix, "tap-gmail", "target-duckdb"]
    config = base_config(
        emulator,
        tmp_path,
        label_ids=["INBOX"],
        sync_command=meltano_run,
        sync_cwd=str(ROOT),
        sync_on_start=True,  # the first (full) sync, so the measured one is incremental
    )
    path = write_config(tmp_path, config)
    env = {
        "TAP_GMAIL_API_URL": emulator.url,
        "TAP_GMAIL_TOKEN_URL": emulator.token_url,
        "TAP_GMAIL_QUOTA_UNITS_PER_SECOND": "0",
        "TARGET_DUCKDB_FILEPATH": str(database),
        "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    receiver = Receiver(path, tmp_path / "serve.log", env=env)
    try:
        syncs = receiver.wait_idle(timeout_s=400, runs_at_least=1)
        assert syncs["*"]["last_ok"], receiver.log()[-4000:]
        point_pushes_at(emulator, receiver)
        watched = run_cli(path, "watch", "--renew-before", "24h")
        assert watched.returncode == 0, watched.stderr

        alice = Api(emulator.url, issue_token(emulator, "alice@example.com"))
        raw = base64.urlsafe_b64encode(
            b"From: x@example.net\r\nTo: alice@example.com\r\nSubject: pushed e2e\r\n\r\nhi\r\n"
        ).decode()
        before = _runs(receiver)
        inserted_at = time.monotonic()
        new = alice.ok("POST", "/messages", json={"raw": raw, "labelIds": ["INBOX"]})
        # Poll the receiver, not DuckDB: a reader holding the file would block the loader.
        while time.monotonic() - inserted_at < 120:
            status = receiver.health()["syncs"]["*"]
            if status["runs"] > before and not status["running"] and not status["queued"]:
                break
            time.sleep(0.1)
        latency = time.monotonic() - inserted_at
        assert status["last_ok"], receiver.log()[-4000:]
        with duckdb.connect(str(database), read_only=True) as db:
            row = db.execute(
                "select subject from tap_gmail.messages where id = ?", [new["id"]]
            ).fetchone()
        assert row == ("pushed e2e",)
        print(f"insert -> row in DuckDB: {latency:.1f} s (bound {BOUND_S:.0f} s)")
        assert latency <= BOUND_S, f"took {latency:.1f} s\n{receiver.log()[-3000:]}"
        assert _runs(receiver) == before + 1
        assert "incremental from historyId" in receiver.log()
    finally:
        assert receiver.stop() == 0
        emulator.stop()


def test_meltano_schedule_can_renew_watches_through_the_utility(push_emulator, tmp_path):
    """`meltano run gmail-push:watch` (what a Meltano schedule runs) is idempotent."""
    assert MELTANO.exists(), "run `make meltano` (make test does) to install Meltano"
    path = write_config(tmp_path, base_config(push_emulator, tmp_path))
    env = dict(os.environ, GMAIL_PUSH_CONFIG=str(path), MELTANO_SEND_ANONYMOUS_USAGE_STATS="false")
    for expected in ("alice@example.com: watched", "alice@example.com: kept"):
        result = subprocess.run(
            [str(MELTANO), "run", "gmail-push:watch"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        secrets_guard.watch("meltano run gmail-push:watch", result.stdout + result.stderr)
        assert result.returncode == 0, result.stderr[-3000:]
        assert expected in result.stderr
    assert "alice@example.com" in admin(push_emulator, "push")["watches"]
