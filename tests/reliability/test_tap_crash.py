"""kill -9 the tap at seeded points of a full and an incremental sync, resume from the last
STATE each time: the loaded table must equal the one a clean run gives."""

from __future__ import annotations

import random

import pytest

from tests.reliability.conftest import FULL
from tests.reliability.pipeline import Table, emulator, load, mutate, run_tap_until
from tests.tap.conftest import tap_config

pytestmark = pytest.mark.timeout(900)
KILL_POINTS = 40 if FULL else 20
MESSAGES = 2400 if FULL else 1200


def _killed_until_done(tmp_path, config, state, rng, kills: int, longest: int, table: Table):
    """Kill ``kills`` times at seeded line counts, then finish; loads what each committed."""
    for _ in range(kills):
        run = run_tap_until(tmp_path, config, state, kill_after_lines=rng.randint(1, longest))
        load(table, run)
        state = run.state
    final = run_tap_until(tmp_path, config, state)
    assert final.returncode == 0, final.stderr[-3000:]
    load(table, final)
    return final.state


def test_kill_9_at_seeded_points_loses_nothing(tmp_path):
    server = emulator(MESSAGES, seed=21, latency_ms=2)
    rng = random.Random(2024)
    try:
        config = tap_config(server, message_format="metadata", batch_size=25)
        clean = run_tap_until(tmp_path, config, None)
        assert clean.returncode == 0, clean.stderr[-3000:]
        reference = Table()
        load(reference, clean)

        killed = Table()
        full_kills = KILL_POINTS * 3 // 5
        state = _killed_until_done(tmp_path, config, None, rng, full_kills, clean.lines, killed)
        assert killed.rows == reference.rows

        mutate(server, seed=5, changes=60)
        incremental = run_tap_until(tmp_path, config, clean.state)
        assert incremental.returncode == 0 and incremental.committed
        load(reference, incremental)
        _killed_until_done(
            tmp_path, config, state, rng, KILL_POINTS - full_kills, incremental.lines, killed
        )
        assert killed.rows == reference.rows
        counts = reference.counts()
        assert counts["messages"] > MESSAGES // 2 and counts["threads"] and counts["labels"]
        print(f"survived {KILL_POINTS} kill -9 points; final table {counts}")
    finally:
        server.stop()
