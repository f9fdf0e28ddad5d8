"""A real tap-gmail process against an emulator that spoils 10% of answers (plain calls,
batch parts and outer batch requests) emits exactly what a fault-free run emits."""

from __future__ import annotations

import pytest

from gmail_emulator import EmulatorConfig, start_emulator
from tests.conftest import admin
from tests.tap.conftest import run_tap, tap_config

pytestmark = pytest.mark.timeout(600)

KINDS = ["close_mid_body", "truncated_json", "garbled_batch", "reset", "lost_response", "503"]


def _emitted(run) -> dict[str, list]:
    keys = {}
    for stream, records in run.records.items():
        keys[stream] = sorted((r.get("mailbox"), r.get("id")) for r in records)
    return keys


def test_tap_run_with_spoiled_answers_emits_the_same_records(tmp_path):
    server = start_emulator(
        EmulatorConfig(
            users=["alice@example.com", "bob@example.com"],
            messages=120,
            seed=11,
            quota_units_per_second=0,
        )
    )
    for name in ("clean", "faulty"):
        (tmp_path / name).mkdir()
    try:
        # Batches of 10: enough outer batch requests for some to be spoiled under the seed.
        clean = run_tap(tmp_path / "clean", tap_config(server, batch_size=10))
        admin(server, "stats/reset", {})
        admin(server, "config", {"fault_rate": 0.1, "fault_kinds": KINDS, "fault_seed": 5})
        faulty = run_tap(tmp_path / "faulty", tap_config(server, batch_size=10))
        stats = admin(server, "stats")
    finally:
        server.stop()
    assert clean.returncode == 0, clean.stderr[-2000:]
    assert faulty.returncode == 0, faulty.stderr[-2000:]
    injected = stats["faults"]["injector"]["by_kind"]
    assert {"close_mid_body", "truncated_json", "garbled_batch"} <= set(injected)
    # Whether an outer batch request is among the spoiled ones depends on how many batches
    # this run needs (threads derived from messages need few); tests/core/
    # test_transport_faults.py spoils outer batches on purpose.
    assert len(clean.records["messages"]) > 100
    assert _emitted(faulty) == _emitted(clean)
    by_id = {(r["mailbox"], r["id"]): r for r in clean.records["messages"]}
    for record in faulty.records["messages"]:
        assert record == by_id[(record["mailbox"], record["id"])]
