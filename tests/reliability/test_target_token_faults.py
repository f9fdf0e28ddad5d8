"""target-gmail with a failing OAuth token endpoint (the emulator's token faults).

Transient: a quarter of token requests fail while access tokens live 1 s, so refreshes happen
between sends: the run succeeds, applies exactly what a fault-free run applies (labels
compared message by message with a clean emulator of the same seed), and sends each key
once. With a send-only token (which cannot search SENT to reconcile) a token failure during
a send used to leave the key stuck at *intent* for a human to clear.

Permanent (the token endpoint starts answering 503, or invalid_grant, in the middle of a send
run): the run ends within the retry bound with one ERROR line naming the mailbox, exit status
non-zero, no traceback, no STATE; the ledger holds every key that was sent; a rerun after the
fix sends each key exactly once.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import time

import pytest

from gmail_core.auth import SCOPE_SEND
from gmail_core.transport import RetryPolicy
from gmail_emulator import EmulatorConfig, start_emulator
from target_gmail.ledger import DONE, FAILED, INTENT
from tests import secrets_guard
from tests.conftest import Api, admin, issue_token
from tests.reliability.test_tap_token_faults import GOOGLE_AUTH_SPAN_S
from tests.target.harness import (
    SECRETS,
    TARGET,
    record,
    run_target,
    schema,
    stats,
    target_config,
)
from tests.target.test_exactly_once import times_sent

pytestmark = pytest.mark.timeout(600)
ALICE, BOB = "alice@example.com", "bob@example.com"
TRANSIENT = ["500", "503", "429", "html_502", "reset", "truncated_json"]


def _emulator() -> object:
    # 100 ms a call: a run outlives several 1 s access tokens.
    return start_emulator(EmulatorConfig(users=[ALICE, BOB], messages=20, seed=5,
                                         latency_ms=100, quota_units_per_second=0))  # fmt: skip


def _sends(keys: list[str]) -> list[dict]:
    return [schema("outbound_messages")] + [
        record("outbound_messages", {"id": k, "to": [BOB], "subject": k, "body": k}) for k in keys
    ]


def _label_changes(server) -> list[dict]:
    ids = _seeded_ids(server)
    lines = [schema("label_changes")]
    for n, message_id in enumerate(ids):
        change = {"message_id": message_id, "add_labels": ["STARRED", f"Token/{n % 3}"]}
        if n % 2:
            change["remove_labels"] = ["UNREAD"]
        lines.append(record("label_changes", change))
    return lines


def _seeded_ids(server) -> list[str]:
    api = Api(server.url, issue_token(server, ALICE))
    return sorted(m["id"] for m in api.ok("GET", "/messages")["messages"])


def _labels(server, ids: list[str]) -> dict[str, list[str]]:
    """Label names of the seeded messages (sent ones get ids of their own each run)."""
    api = Api(server.url, issue_token(server, ALICE))
    names = {label["id"]: label["name"] for label in api.ok("GET", "/labels")["labels"]}
    out = {}
    for message_id in ids:
        got = api.ok("GET", f"/messages/{message_id}", params={"format": "minimal"})
        out[message_id] = sorted(names[label] for label in got["labelIds"])
    return out


def _ledger(tmp_path) -> dict[str, str]:
    with sqlite3.connect(tmp_path / "ledger.sqlite") as db:
        return dict(db.execute("SELECT key, state FROM sends").fetchall())


def _send_only(server, tmp_path, **overrides) -> dict:
    """A refresh token that holds gmail.send only: the target cannot search SENT."""
    admin(server, "auth", {"refresh_tokens": [
        {"refresh_token": SECRETS[1], "user": ALICE, "scopes": [SCOPE_SEND]}]})  # fmt: skip
    return target_config(server, tmp_path, user_id=ALICE, **overrides)


@pytest.mark.parametrize("token", ["modify", "send_only"])
def test_transient_token_faults_apply_what_a_clean_run_applies_and_send_once(token, tmp_path):
    faulty, clean = _emulator(), _emulator()
    keys = [f"{token}-{n}" for n in range(24)]
    seeded = _seeded_ids(clean)
    try:
        assert _seeded_ids(faulty) == seeded  # same seed, same mailbox
        results = {}
        for name, server in (("faulty", faulty), ("clean", clean)):
            run_dir = tmp_path / name
            run_dir.mkdir()
            if token == "send_only":
                config = _send_only(server, run_dir, max_concurrency=2)
                lines = _sends(keys)
            else:
                config = target_config(server, run_dir, max_concurrency=2,
                                       create_missing_labels=True)  # fmt: skip
                lines = _label_changes(server) + _sends(keys) + [
                    {"type": "STATE", "value": {"s": 1}}]  # fmt: skip
            if name == "faulty":
                # seed 3's token stream fails the first token request, then more
                admin(server, "config", {"token_fault_rate": 0.25, "token_fault_kinds": TRANSIENT,
                                         "fault_seed": 3, "token_ttl": 1})  # fmt: skip
            run = run_target(run_dir, config, lines)
            secrets_guard.watch(f"target-gmail {name} stderr", run.stderr)
            assert run.returncode == 0, run.stderr[-3000:]
            if token == "modify":
                assert run.states == [{"s": 1}]
            assert set(_ledger(run_dir).values()) == {DONE}
            results[name] = stats(server)
        injected = results["faulty"]["faults"]["token_injector"]
        print(f"{token}: survived token faults {injected['by_kind']}; "
              f"{results['faulty']['token_grants']} tokens issued")  # fmt: skip
        assert injected["injected"] > 0
        assert results["faulty"]["token_grants"]["refresh_token"] > 1  # refreshed mid-run
        for server in (faulty, clean):
            admin(server, "config", {"token_fault_rate": 0, "token_ttl": 3600, "latency_ms": 0})
            api = Api(server.url, issue_token(server, ALICE))
            assert {key: times_sent(api, key) for key in keys} == dict.fromkeys(keys, 1)
            assert stats(server)["sends"]["total"] == len(keys)
        assert _labels(faulty, seeded) == _labels(clean, seeded)
    finally:
        faulty.stop()
        clean.stop()


def _bound_s(policy: RetryPolicy) -> float:
    waits = sum(min(policy.max_wait_s, policy.base_s * 2**n) for n in range(policy.max_tries - 1))
    return min(waits, policy.max_time_s) + policy.max_tries * GOOGLE_AUTH_SPAN_S


@pytest.mark.parametrize(
    ("kind", "says"),
    [("503", ["HTTP 503", "rerun later"]), ("invalid_grant", ["expired or revoked", "gmail-auth"])],
)
def test_token_endpoint_dies_mid_run_ends_bounded_then_rerun_sends_once(kind, says, tmp_path):
    server = _emulator()
    tries = 4
    keys = [f"dies-{n}" for n in range(16)]
    try:
        config = target_config(server, tmp_path, user_id=ALICE, max_concurrency=2,
                               retry_max_tries=tries)  # fmt: skip
        admin(server, "config", {"token_ttl": 1})
        config_path = tmp_path / "target-config.json"
        config_path.write_text(json.dumps(config))
        payload = "".join(json.dumps(line) + "\n" for line in _sends(keys))
        started = time.monotonic()
        with open(tmp_path / "out.log", "w") as out, open(tmp_path / "err.log", "w") as err:
            process = subprocess.Popen([TARGET, "--config", str(config_path)],
                                       stdin=subprocess.PIPE, stdout=out, stderr=err,
                                       text=True, cwd=tmp_path)  # fmt: skip
            process.stdin.write(payload)
            process.stdin.close()
            while stats(server)["sends"]["total"] < 3 and process.poll() is None:
                time.sleep(0.02)
            # from now on every token request fails: the next refresh (within 1 s) meets it
            admin(server, "config", {"token_fault_rate": 1.0, "token_fault_kinds": [kind]})
            process.wait(timeout=600)
        elapsed = time.monotonic() - started
        stdout, stderr = (tmp_path / "out.log").read_text(), (tmp_path / "err.log").read_text()
        secrets_guard.watch("target-gmail stdout", stdout)
        secrets_guard.watch("target-gmail stderr", stderr)
        sent_before = stats(server)["sends"]["total"]
        ledger = _ledger(tmp_path)

        bound = _bound_s(RetryPolicy(max_tries=tries)) + 30  # + start-up and sends done
        assert elapsed < bound, f"took {elapsed:.0f} s, bound {bound:.0f} s"
        assert process.returncode != 0, stderr[-3000:]
        assert 3 <= sent_before < len(keys)
        assert "Traceback" not in stderr
        errors = [line for line in stderr.splitlines() if "ERROR" in line or "error:" in line]
        assert len(errors) == 1, errors
        assert ALICE in errors[0], errors[0]
        for fragment in says:
            assert fragment in errors[0], (fragment, errors[0])
        assert stdout.strip() == ""  # no STATE
        # every key Gmail has is in the ledger; no key is `failed` that Gmail might have
        assert sum(state == DONE for state in ledger.values()) <= sent_before
        assert set(ledger.values()) <= {DONE, INTENT, FAILED}, ledger

        admin(server, "config", {"token_fault_rate": 0.0, "token_ttl": 3600, "latency_ms": 0})
        rerun = run_target(tmp_path, config, _sends(keys))
        assert rerun.returncode == 0, rerun.stderr[-3000:]
        api = Api(server.url, issue_token(server, ALICE))
        assert {key: times_sent(api, key) for key in keys} == dict.fromkeys(keys, 1)
        assert stats(server)["sends"]["total"] == len(keys)
        assert set(_ledger(tmp_path).values()) == {DONE}
    finally:
        server.stop()
    print(f"token {kind} mid-run: gave up in {elapsed:.1f} s after {sent_before} sends; "
          f"ledger {sorted(set(ledger.values()))}: {errors[0][-300:]}")  # fmt: skip
