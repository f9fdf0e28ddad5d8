"""kill -9 at seeded points spread over whole send runs, rerun: every key in SENT once.

The points are stratified: point i of N falls at a seeded spot in the i-th N-th of a run's
length (measured here first), so start-up, sending, labelling and the finish are all hit.
CI runs 8 points; GMAIL_RELIABILITY=full runs 20. Helpers are test_exactly_once's.
"""

from __future__ import annotations

import random

from tests.target.harness import target_config
from tests.target.test_exactly_once import calibrate, emu, kill_then_rerun  # noqa: F401

from .conftest import FULL

POINTS = 20 if FULL else 8
PER_RUN = 12
SEED = 8_2026


def kill_points(window_s: float, n: int = POINTS, seed: int = SEED) -> list[float]:
    rng = random.Random(seed)
    span = 1.1 * window_s  # a little past the end: a kill after the run finished is fine too
    return [span * (i + rng.random()) / n for i in range(n)]


def test_kill_9_at_seeded_points_then_rerun_sends_each_key_once(emu, tmp_path):  # noqa: F811
    config = target_config(emu, tmp_path, max_concurrency=2)
    window = calibrate(tmp_path, config, PER_RUN)
    mid_run = 0
    for point, kill_after_s in enumerate(kill_points(window)):
        keys = [f"p{point}-{n}" for n in range(PER_RUN)]
        sent = kill_then_rerun(emu, tmp_path, config, keys, kill_after_s)
        mid_run += 0 < sent < PER_RUN
    print(f"{POINTS} kill points over {window:.2f} s runs; {mid_run} hit mid-sending")
    assert mid_run >= POINTS // 4, mid_run
