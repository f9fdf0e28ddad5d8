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


def send_lines(keys: list[str]) -> list[dict]:
    lines = [schema("outbound_messages")]
    lines += [
        record("outbound_messages", {"id": k, "to": [BOB], "subject": k, "body": k}) for k in keys
    ]
    return lines


def calibrate(tmp_path, config, per_run: int = PER_TRIAL) -> float:
    """Seconds one whole uninterrupted run takes here: kills are spread over that span."""
    started = time.monotonic()
    run = run_target(tmp_path, config, send_lines([f"warmup-{n}" for n in range(per_run)]))
    assert run.returncode == 0, run.stderr
    return time.monotonic() - started


def kill_then_rerun(
    emu, tmp_path, config, keys: list[str], kill_after_s: float, kill_after_sends: int = 0
) -> int:
    """Start a send run, SIGKILL it after ``kill_after_s`` (or, with ``kill_after_sends``,
    as soon as Gmail has that many of its sends, whatever the machine's speed), rerun it to
    the end, and check that every key is in SENT exactly once. Returns how many sends the
    killed run made."""
    config_path = tmp_path / "target-config.json"
    config_path.write_text(json.dumps(config))
    lines = send_lines(keys)
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
    deadline = time.monotonic() + kill_after_s
    while kill_after_sends and time.monotonic() < deadline and process.poll() is None:
        if stats(emu)["sends"]["total"] - sends_before >= kill_after_sends:
            break
        time.sleep(0.005)
    if not kill_after_sends:
        time.sleep(kill_after_s)
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    sent_before_rerun = stats(emu)["sends"]["total"] - sends_before

    rerun = run_target(tmp_path, config, lines)

    assert rerun.returncode == 0, rerun.stderr
    api = Api(emu.url, issue_token(emu, ALICE))
    counts = {key: times_sent(api, key) for key in keys}
    assert all(n == 1 for n in counts.values()), (kill_after_s, counts)
    assert stats(emu)["sends"]["total"] - sends_before == len(keys)
    return sent_before_rerun


@pytest.mark.slow
def test_kill_9_then_rerun_sends_each_key_exactly_once(emu, tmp_path):
    rng = random.Random(20261124)
    config = target_config(emu, tmp_path, max_concurrency=2)
    interrupted_mid_run = 0
    window = calibrate(tmp_path, config)
    for trial in range(TRIALS):
        keys = [f"trial{trial}-{n}" for n in range(PER_TRIAL)]
        # Odd trials kill at a random time (start-up, between intent and send, ...); even
        # ones right after a random number of sends, so some kills surely hit mid-sending
        # however loaded the machine is.
        by_time = trial % 2 == 1
        sent = kill_then_rerun(
            emu,
            tmp_path,
            config,
            keys,
            rng.uniform(0.2, 1.1) * window if by_time else 5 * window,
            0 if by_time else rng.randint(1, PER_TRIAL - 1),
        )
        if 0 < sent < PER_TRIAL:
            interrupted_mid_run += 1
    # The kills must have hit real sending, not only start-up or the finished run.
    assert interrupted_mid_run >= 3, interrupted_mid_run
