"""Gmail down for good (every API call 503): the target gives up within a known bound, says
so once, naming the mailbox, keeps its ledger, and a rerun after the outage sends each key
exactly once."""

from __future__ import annotations

import sqlite3
import time

import pytest

from gmail_core.transport import RetryPolicy
from gmail_emulator import EmulatorConfig, start_emulator
from target_gmail.ledger import INTENT
from tests.conftest import Api, admin, issue_token
from tests.target.harness import record, run_target, schema, stats
from tests.target.test_exactly_once import times_sent
from tests.target.test_labels_and_mailboxes import _delegated as delegated

ALICE, BOB = "alice@example.com", "bob@example.com"
KEYS = [f"outage-{n}" for n in range(6)]
WORKERS = 2  # max_concurrency: sends (and their reconciles) in flight at once


def retry_bound_s(policy: RetryPolicy | None = None) -> float:
    """Longest one call can take to give up: every backoff wait at its ceiling, bounded by
    max_time_s. The breaker only shortens this (an open circuit fails calls at once)."""
    policy = policy or RetryPolicy()
    waits = sum(min(policy.max_wait_s, policy.base_s * 2**k) for k in range(policy.max_tries - 1))
    return min(waits, policy.max_time_s)


# A send that got a 503 is reconciled (one search, retried like any read); the sends in
# flight do this at the same time, then the mailbox is given up for the run. So: one retry
# span, plus start-up and the calls themselves (generous: a shared 2-core machine).
BOUND_S = retry_bound_s() + 25.0


@pytest.fixture
def emu():
    server = start_emulator(
        EmulatorConfig(users=[ALICE, BOB], messages=0, quota_units_per_second=0)
    )
    yield server
    server.stop()


def test_permanent_outage_ends_in_bounded_time_then_rerun_sends_once(emu, tmp_path):
    assert retry_bound_s() == 63.5  # RetryPolicy() defaults: 0.5+1+2+4+8+16+32 s
    # Delegated: the mailbox address is known without a call, so sends reach Gmail's 503.
    config = delegated(emu, tmp_path, [ALICE], max_concurrency=WORKERS)
    lines = [schema("outbound_messages")] + [
        record("outbound_messages", {"id": k, "to": [BOB], "subject": k, "body": k}) for k in KEYS
    ]
    admin(emu, "config", {"fault_rate": 1.0, "fault_kinds": ["503"], "fault_seed": 1})

    started = time.monotonic()
    run = run_target(tmp_path, config, lines, timeout=BOUND_S + 60)
    elapsed = time.monotonic() - started
    print(f"outage run gave up after {elapsed:.1f} s (bound {BOUND_S:.1f} s)")

    assert elapsed < BOUND_S
    assert run.returncode != 0
    assert "Traceback" not in run.stderr
    errors = [line for line in run.stderr.splitlines() if "ERROR" in line or "error:" in line]
    assert len(errors) == 1, errors
    assert ALICE in errors[0] and "503" in errors[0], errors[0]
    assert run.states == []  # state not advanced
    assert stats(emu)["sends"]["total"] == 0
    with sqlite3.connect(tmp_path / "ledger.sqlite") as db:
        states = dict(db.execute("SELECT key, state FROM sends").fetchall())
    assert set(states.values()) == {INTENT}, states  # the sends tried: outcome unknown
    assert 1 <= len(states) <= WORKERS  # the others were not started

    admin(emu, "config", {"fault_rate": 0.0})
    rerun = run_target(tmp_path, config, lines)
    assert rerun.returncode == 0, rerun.stderr
    api = Api(emu.url, issue_token(emu, ALICE))
    assert {key: times_sent(api, key) for key in KEYS} == dict.fromkeys(KEYS, 1)
    assert stats(emu)["sends"]["total"] == len(KEYS)
