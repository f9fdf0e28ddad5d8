"""Gmail permanently down (every call 503): the tap ends within a bound, says so in one line
naming the mailbox, and leaves every bookmark as it was."""

from __future__ import annotations

import time

import pytest

from gmail_core.transport import RetryPolicy
from tests.conftest import admin
from tests.reliability.pipeline import ALICE, emulator, run_tap_until
from tests.tap.conftest import tap_config

pytestmark = pytest.mark.timeout(300)


def _retry_budget_s(policy: RetryPolicy) -> float:
    """The longest the transport backs off for one call: the sum of its wait ceilings."""
    return sum(min(policy.max_wait_s, policy.base_s * 2**n) for n in range(policy.max_tries - 1))


def test_permanent_outage_ends_fast_with_one_line_and_state_intact(tmp_path):
    server = emulator(40, seed=3)
    try:
        config = tap_config(server, user_id=ALICE)
        first = run_tap_until(tmp_path, config, None)
        assert first.returncode == 0, first.stderr[-3000:]
        admin(server, "config", {"fault_rate": 1.0, "fault_kinds": ["503"]})
        started = time.monotonic()
        down = run_tap_until(tmp_path, config, first.state)
        elapsed = time.monotonic() - started
    finally:
        server.stop()
    # One retry budget for the mailbox (its other streams fail fast), plus start-up.
    bound = _retry_budget_s(RetryPolicy()) + 30
    assert elapsed < bound, f"outage run took {elapsed:.0f} s, bound {bound:.0f} s"
    assert down.returncode == 1
    errors = [line for line in down.stderr.splitlines() if "| ERROR" in line]
    assert len(errors) == 1, errors
    assert ALICE in errors[0] and "503" in errors[0] and "next run resumes" in errors[0]
    assert "Traceback" not in down.stderr
    before = first.state["bookmarks"]
    after = down.state["bookmarks"]
    for stream in ("messages", "threads", "labels"):
        assert after[stream] == before[stream], stream
    print(f"permanent outage: ended in {elapsed:.1f} s (bound {bound:.0f} s)")
