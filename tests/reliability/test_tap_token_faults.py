"""tap-gmail with a failing OAuth token endpoint (the emulator's token faults).

Transient: a quarter of token requests fail (5xx, 429, an HTML 502, resets, stalled or cut-off
answers) while access tokens live 2 s, so refreshes happen all through the run: a full and an
incremental sync load exactly the table a fault-free run loads.

Permanent (every token request 503, or invalid_grant): the run ends within the retry policy's
bound with one ERROR line naming the mailbox and what to do, exit status 1, no traceback,
bookmarks as they were. The secrets guard (tests/conftest.py) checks every output.
"""

from __future__ import annotations

import time

import pytest

from gmail_core.transport import RetryPolicy
from tests.conftest import admin
from tests.reliability.conftest import FULL
from tests.reliability.pipeline import (
    ALICE,
    Table,
    clean_run,
    emulator,
    mutate,
    run_tap_until,
)
from tests.tap.conftest import tap_config

pytestmark = pytest.mark.timeout(900)
MESSAGES = 1200 if FULL else 300
RATE = 0.25
TTL_S = 1  # access tokens refreshed every half second or so: many refreshes in every run
GROUPS = {
    "status": ["500", "503", "429", "html_502"],
    "connection": ["reset", "truncated_json", "stall"],
}
# google-auth retries a 5xx/429 token answer itself: 3 requests, waits of 1 s and 2 s (+10%
# jitter), inside each of the transport's attempts.
GOOGLE_AUTH_SPAN_S = 3.3


def _token_faults_on(server, kinds: list[str], seed: int) -> None:
    admin(server, "config", {
        "token_fault_rate": RATE, "token_fault_kinds": kinds, "fault_seed": seed,
        "fault_stall_ms": 30000, "token_ttl": TTL_S, "latency_ms": 100})  # fmt: skip


def _faults_off(server) -> None:
    admin(server, "config", {"token_fault_rate": 0, "token_ttl": 3600, "latency_ms": 0})


@pytest.mark.parametrize("group", sorted(GROUPS))
def test_transient_token_faults_load_the_fault_free_table(group, tmp_path):
    server = emulator(MESSAGES, seed=31)
    try:
        # request_timeout_s also bounds token requests: a stalled token answer costs 2 s.
        # Small batches, two at a time, 100 ms a call: each run outlives several tokens.
        config = tap_config(server, batch_size=5, max_concurrency=2, request_timeout_s=2)
        table, reference = Table(), Table()
        # Seeds whose token stream fails the very first request (the run's first token) and
        # more after it (tests/emulator/test_token_faults.py: the stream is seeded).
        _token_faults_on(server, GROUPS[group], seed=3)
        state = clean_run(tmp_path, config, None, table)
        first = admin(server, "stats")
        admin(server, "stats/reset", {})
        _faults_off(server)
        reference_state = clean_run(tmp_path, config, None, reference)
        assert table.rows == reference.rows

        mutate(server, seed=9, changes=40)
        admin(server, "stats/reset", {})
        _token_faults_on(server, GROUPS[group], seed=9)
        clean_run(tmp_path, config, state, table)
        second = admin(server, "stats")
        _faults_off(server)
        clean_run(tmp_path, config, reference_state, reference)
        assert table.rows == reference.rows
    finally:
        server.stop()
    for run, stats in (("full", first), ("incremental", second)):
        faults = {k.partition(":")[2]: n for k, n in stats["faults"]["by_method_and_kind"].items()
                  if k.startswith("token:")}  # fmt: skip
        grants = stats["token_grants"]["refresh_token"]
        print(f"{group}, {run}: {grants} tokens issued, survived token faults {faults}")
        assert faults, f"no {group} token fault in the {run} run"
        assert grants > 2, f"the {run} run did not refresh mid-run"
    print(f"final table {table.counts()}")


def _bound_s(policy: RetryPolicy) -> float:
    """The longest one call takes to give up when every token request fails: the transport's
    backoff ceilings plus google-auth's own retry span in each attempt."""
    waits = sum(min(policy.max_wait_s, policy.base_s * 2**n) for n in range(policy.max_tries - 1))
    return min(waits, policy.max_time_s) + policy.max_tries * GOOGLE_AUTH_SPAN_S


@pytest.mark.parametrize(
    ("kind", "user_id", "says"),
    [
        ("503", ALICE, ["HTTP 503", "rerun later", "`token_url`"]),
        ("invalid_grant", ALICE, ["expired or revoked", "gmail-auth"]),
        # no user_id: the mailbox is not known without a token; the setting names it
        ("503", None, ["oauth_credentials.refresh_token", "HTTP 503", "rerun later"]),
    ],
)
def test_permanent_token_failure_ends_fast_with_one_line_and_state_intact(
    kind, user_id, says, tmp_path
):
    server = emulator(40, seed=3)
    tries = 4
    try:
        config = tap_config(server, retry_max_tries=tries)
        if user_id:
            config["user_id"] = user_id
        first = run_tap_until(tmp_path, config, None)
        assert first.returncode == 0, first.stderr[-3000:]
        # the next refresh fails for good: tokens are stale at once
        admin(server, "config", {"token_fault_rate": 1.0, "token_fault_kinds": [kind],
                                 "token_ttl": 3600})  # fmt: skip
        admin(server, "stats/reset", {})
        started = time.monotonic()
        down = run_tap_until(tmp_path, config, first.state)
        elapsed = time.monotonic() - started
        stats = admin(server, "stats")
    finally:
        server.stop()
    bound = _bound_s(RetryPolicy(max_tries=tries)) + 30  # + start-up, on a shared machine
    assert elapsed < bound, f"took {elapsed:.0f} s, bound {bound:.0f} s"
    assert down.returncode == 1
    assert "Traceback" not in down.stderr
    errors = [line for line in down.stderr.splitlines() if "| ERROR" in line]
    assert len(errors) == 1, errors
    if user_id:
        assert user_id in errors[0] and "next run resumes" in errors[0]
    for fragment in says:
        assert fragment in errors[0], (fragment, errors[0])
    assert stats["calls"]["total"] == 0  # no Gmail call went out without a token
    if kind == "invalid_grant":  # a refusal is not retried: one request per stream at most
        assert stats["token_requests"]["total"] <= 3, stats["token_requests"]
    else:  # retried, but only within one retry budget for the mailbox
        assert stats["token_requests"]["total"] <= tries * 3, stats["token_requests"]
    assert down.state == first.state  # every bookmark as it was
    print(f"permanent {kind}: ended in {elapsed:.1f} s (bound {bound:.0f} s): {errors[0]}")
