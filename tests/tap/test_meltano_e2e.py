"""`meltano run tap-gmail target-duckdb` through the project's meltano.yml, into a DuckDB file."""

from __future__ import annotations

import base64
import os
import subprocess
from pathlib import Path

import duckdb
import pytest

from tests.conftest import Api, issue_token

ROOT = Path(__file__).resolve().parents[2]
MELTANO = ROOT / ".venv-meltano" / "bin" / "meltano"

pytestmark = [pytest.mark.timeout(600), pytest.mark.slow]


def _meltano_run(emulator, database: Path, state_suffix: str) -> subprocess.CompletedProcess:
    env = dict(
        os.environ,
        TAP_GMAIL_API_URL=emulator.url,
        TAP_GMAIL_TOKEN_URL=emulator.token_url,
        TAP_GMAIL_QUOTA_UNITS_PER_SECOND="0",
        TARGET_DUCKDB_FILEPATH=str(database),
    )
    return subprocess.run(
        [str(MELTANO), "run", "--state-id-suffix", state_suffix, "tap-gmail", "target-duckdb"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=500,
    )


def test_meltano_run_into_duckdb_full_then_incremental(emulator, tmp_path):
    assert MELTANO.exists(), "run `make meltano` (make test does) to install Meltano"
    database = tmp_path / "gmail.duckdb"
    suffix = f"e2e-{os.getpid()}-{tmp_path.name}"
    first = _meltano_run(emulator, database, suffix)
    assert first.returncode == 0, first.stderr[-4000:]
    alice = Api(emulator.url, issue_token(emulator, "alice@example.com"))
    listed = alice.ok("GET", "/messages", params={"maxResults": 500})["messages"]
    with duckdb.connect(str(database), read_only=True) as db:
        count = db.execute("select count(*) from tap_gmail.messages").fetchone()[0]
        assert count == len(listed)
        subject = db.execute(
            "select subject from tap_gmail.messages where id = ?", [listed[0]["id"]]
        ).fetchone()[0]
        assert subject
    # change the mailbox, then the second run must be incremental and apply the changes
    raw = base64.urlsafe_b64encode(
        b"From: x@example.net\r\nTo: alice@example.com\r\nSubject: e2e new\r\n\r\nhi\r\n"
    ).decode()
    new = alice.ok("POST", "/messages", json={"raw": raw, "labelIds": ["INBOX"]})
    alice.ok("POST", f"/messages/{listed[1]['id']}/modify", json={"addLabelIds": ["STARRED"]})
    alice.ok("DELETE", f"/messages/{listed[2]['id']}")
    second = _meltano_run(emulator, database, suffix)
    assert second.returncode == 0, second.stderr[-4000:]
    assert "incremental from historyId" in second.stderr
    # The thread index survives between Meltano runs (.meltano/run/tap-gmail/thread-index).
    assert "thread index" not in second.stderr and "threads.get" not in second.stderr
    with duckdb.connect(str(database), read_only=True) as db:
        assert (
            db.execute(
                "select subject from tap_gmail.messages where id = ?", [new["id"]]
            ).fetchone()[0]
            == "e2e new"
        )
        labels = db.execute(
            "select label_ids from tap_gmail.messages where id = ?", [listed[1]["id"]]
        ).fetchone()[0]
        assert "STARRED" in labels
        thread_labels = db.execute(
            "select label_ids from tap_gmail.threads where id = ?", [listed[1]["threadId"]]
        ).fetchone()[0]
        assert "STARRED" in thread_labels
        deleted = db.execute(
            "select _sdc_deleted_at from tap_gmail.messages where id = ?", [listed[2]["id"]]
        ).fetchone()[0]
        assert deleted is not None
