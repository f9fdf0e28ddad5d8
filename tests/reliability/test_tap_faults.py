"""The fault matrix: with the emulator injecting 10% of one fault at a time, a full sync and
an incremental sync load exactly the table a fault-free run loads."""

from __future__ import annotations

import pytest

from tests.conftest import admin
from tests.reliability.conftest import FULL
from tests.reliability.pipeline import Table, clean_run, emulator, mutate
from tests.tap.conftest import tap_config

pytestmark = pytest.mark.timeout(900)
MESSAGES = 1200 if FULL else 300
RATE = 0.10
FAULTS = (
    "429",
    "403",
    "500",
    "503",
    "reset",  # connection reset before any header
    "close_mid_body",
    "truncated_json",
    "stall",  # 30 s: the client's read timeout must turn it into a retry
    "garbled_batch",  # unreadable batch parts
    "token_expiry",  # not an injected fault: access tokens live 2 s
)


# A stall holds a whole HTTP answer, so it is drawn per HTTP request, not per batch part:
# 10% of parts would stall nearly every batch of 20.
HTTP_REQUESTS = ("batch", "getProfile", "labels.list", "messages.list", "threads.list",
                 "history.list")  # fmt: skip


def _faults_on(server, kind: str, seed: int) -> None:
    if kind == "token_expiry":
        admin(server, "config", {"token_ttl": 2, "latency_ms": 3})
        return
    methods = list(HTTP_REQUESTS) if kind == "stall" else []
    admin(
        server,
        "config",
        {"fault_rate": RATE, "fault_kinds": [kind], "fault_seed": seed, "fault_methods": methods},
    )


def _faults_off(server) -> None:
    admin(server, "config", {"fault_rate": 0, "token_ttl": 3600, "latency_ms": 0})


@pytest.mark.parametrize("kind", FAULTS)
def test_ten_percent_faults_load_the_fault_free_table(kind, tmp_path):
    server = emulator(MESSAGES, seed=31)
    try:
        # A short read timeout so that a stalled answer costs 2 s, not a minute.
        config = tap_config(server, batch_size=20, request_timeout_s=2)
        table, reference = Table(), Table()
        _faults_on(server, kind, seed=1)
        state = clean_run(tmp_path, config, None, table)
        _faults_off(server)
        reference_state = clean_run(tmp_path, config, None, reference)
        assert table.rows == reference.rows

        mutate(server, seed=9, changes=40)
        _faults_on(server, kind, seed=2)
        clean_run(tmp_path, config, state, table)
        stats = admin(server, "stats")
        _faults_off(server)
        clean_run(tmp_path, config, reference_state, reference)
        assert table.rows == reference.rows
    finally:
        server.stop()
    survived = stats["faults"]["injector"]["injected"]
    if kind == "token_expiry":
        survived = stats["token_grants"].get("refresh_token", 0)
    assert survived > 0, f"no {kind} fault was injected"
    print(f"{kind}: survived {survived} faults; final table {table.counts()}")
