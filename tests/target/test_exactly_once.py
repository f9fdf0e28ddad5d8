"""kill -9 at random points of a send run, then a rerun: every key is sent exactly once."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time

import pytest

from gmail_emulator import EmulatorConfig, start_emulator
from target_gmail.compose import message_id_for
from tests.conftest import Api, issue_token

from .harness import TARGET, record, run_target, schema, stats, target_config

ALICE, BOB = "alice@example.com", "bob@example.com"
TRIALS = 10
PER_TRIAL = 12


@pytest.fixture
def emu():
    # 150 ms per call stretches a run so that kills land before, during and after sends.
    server = start_emulator(
        EmulatorConfig(users=[ALICE, BOB], messages=0, latency_ms=150, quota_units_per_second=0)
    )
    yield server
    server.stop()


def times_sent(api: Api, key: str) -> int:
    query = f"rfc822msgid:{message_id_for(ALICE, key).strip('<>')} in:sent"
    return len(api.ok("GET", "/messages", params={"q": query}).get("messages", []))


def _calibrate(tmp_path, config) -> float:
    """Seconds one whole uninterrupted run takes here: kills are spread over that span."""
    lines = [schema("outbound_messages")]
    lines += [
        record("outbound_messages", {"id": f"warmup-{n}", "to": [BOB], "subject": "w"})
        for n in range(PER_TRIAL)
    ]
    started = time.monotonic()
    assert run_target(tmp_path, config, lines).returncode == 0
    return time.monotonic() - started


@pytest.mark.slow
def test_kill_9_then_rerun_sends_each_key_exactly_once(emu, tmp_path):
    rng = random.Random(20261124)
    api = Api(emu.url, issue_token(emu, ALICE))
    config = target_config(emu, tmp_path, max_concurrency=2)
    config_path = tmp_path / "target-config.json"
    config_path.write_text(json.dumps(config))
    interrupted_mid_run = 0
    window = _calibrate(tmp_path, config)
    for trial in range(TRIALS):
        keys = [f"trial{trial}-{n}" for n in range(PER_TRIAL)]
        lines = [schema("outbound_messages")]
        lines += [
            record("outbound_messages", {"id": k, "to": [BOB], "subject": k, "body": k})
            for k in keys
        ]
        payload = "".join(json.dumps(line) + "\n" for line in lines)
        sends_before = stats(emu)["sends"]["total"]
        process = subprocess.Popen(
            [TARGET, "--config", str(config_path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=tmp_path,
            start_new_session=True,
        )
        process.stdin.write(payload.encode())
        process.stdin.close()
        time.sleep(rng.uniform(0.2, 1.1) * window)
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        sent_before_rerun = stats(emu)["sends"]["total"] - sends_before
        if 0 < sent_before_rerun < PER_TRIAL:
            interrupted_mid_run += 1

        rerun = run_target(tmp_path, config, lines)

        assert rerun.returncode == 0, rerun.stderr
        counts = {key: times_sent(api, key) for key in keys}
        assert all(n == 1 for n in counts.values()), (trial, counts)
        assert stats(emu)["sends"]["total"] - sends_before == PER_TRIAL
    # The kills must have hit real sending, not only start-up or the finished run.
    assert interrupted_mid_run >= 3, interrupted_mid_run
