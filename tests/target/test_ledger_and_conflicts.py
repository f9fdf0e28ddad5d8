"""Issue 8 regressions: a corrected send after a refusal, label creates whose answer was lost,
and whole batches checked before anything of them is applied."""

from __future__ import annotations

import json
import sqlite3

import pytest

from gmail_emulator import EmulatorConfig, start_emulator
from target_gmail.ledger import FAILED, INTENT, KeyReused, Ledger
from tests.conftest import Api, admin

from .conftest import ALICE, BOB
from .harness import (
    calls,
    mutating_calls,
    record,
    reset_stats,
    run_target,
    schema,
    stats,
    target_config,
)

REFUSED_DOMAIN = "refused.example"  # Gmail answers 400 "Invalid To header" for it (below)


@pytest.fixture
def emu():
    # Gmail refuses some recipients that pass every check the target can make; the emulator's
    # refuse_recipient_domains control refuses one domain the same way: a real 400 on send.
    server = start_emulator(
        EmulatorConfig(
            users=[ALICE, BOB],
            messages=6,
            seed=4,
            quota_units_per_second=0,
            refuse_recipient_domains=(REFUSED_DOMAIN,),
        )
    )
    yield server
    server.stop()


def outbound(key: str, to: str = BOB, **fields) -> dict:
    return {"id": key, "to": [to], "subject": f"Hello {key}", "body": f"Body {key}", **fields}


def sends(*records: dict) -> list[dict]:
    return [schema("outbound_messages"), *(record("outbound_messages", r) for r in records)]


def in_sent(api: Api, subject: str) -> int:
    answer = api.ok("GET", "/messages", params={"q": f'in:sent subject:"{subject}"'})
    return len(answer.get("messages", []))


def test_corrected_record_after_a_refused_send_is_sent_once(emu, alice, tmp_path):
    config = target_config(emu, tmp_path)
    bad = outbound("order-7", to=f"nobody@{REFUSED_DOMAIN}")
    fixed = outbound("order-7")

    first = run_target(tmp_path, config, sends(bad))
    assert first.returncode != 0 and "Invalid To header" in first.stderr
    assert "Traceback" not in first.stderr
    assert stats(emu)["sends"]["total"] == 0
    with sqlite3.connect(tmp_path / "ledger.sqlite") as db:
        assert db.execute("SELECT state FROM sends").fetchall() == [(FAILED,)]

    second = run_target(tmp_path, config, sends(fixed))
    assert second.returncode == 0, second.stderr
    third = run_target(tmp_path, config, sends(fixed))
    assert third.returncode == 0, third.stderr  # was: "already used for a different message"

    assert in_sent(alice, "Hello order-7") == 1
    assert calls(emu, "messages.send") == 2  # the refused one and the corrected one
    # Content that was sent stays the key's content: a third version is refused.
    other = run_target(tmp_path, config, sends(outbound("order-7", body="changed")))
    assert other.returncode != 0 and "already used for a different message" in other.stderr
    assert calls(emu, "messages.send") == 2


def test_key_at_sent_with_other_content_is_still_rejected(emu, tmp_path):
    config = target_config(emu, tmp_path)
    assert run_target(tmp_path, config, sends(outbound("k1"))).returncode == 0
    with sqlite3.connect(tmp_path / "ledger.sqlite") as db:  # labels still pending, say
        db.execute("UPDATE sends SET state = 'sent'")
    run = run_target(tmp_path, config, sends(outbound("k1", subject="Other")))
    assert run.returncode != 0 and "already used for a different message" in run.stderr
    assert calls(emu, "messages.send") == 1


def test_ledger_takes_new_content_only_after_a_refusal(tmp_path):
    ledger = Ledger(tmp_path / "ledger.sqlite")
    try:
        ledger.record_intent(ALICE, "k", "<m@x>", "hash-a")
        ledger.record_failed(ALICE, "k", "400")
        ledger.record_intent(ALICE, "k", "<m@x>", "hash-b")
        entry = ledger.get(ALICE, "k")
        assert (entry.state, entry.content_hash, entry.attempts) == (INTENT, "hash-b", 2)
        ledger.record_sent(ALICE, "k", "gmail-1", "thread-1")
        with pytest.raises(KeyReused):
            ledger.record_intent(ALICE, "k", "<m@x>", "hash-c")
        assert ledger.get(ALICE, "k").content_hash == "hash-b"
        ledger.record_intent(ALICE, "k", "<m@x>", "hash-b")  # same content: allowed
    finally:
        ledger.close()


LOST_CREATES = {
    "fault_rate": 0.5,
    "fault_kinds": ["lost_response"],
    "fault_methods": ["gmail.users.labels.create"],
    "fault_seed": 11,
}


def labels_named(api: Api, prefix: str) -> dict[str, dict]:
    found = api.ok("GET", "/labels")["labels"]
    return {label["name"]: label for label in found if label["name"].startswith(prefix)}


def test_label_upsert_survives_lost_create_answers(emu, alice, tmp_path):
    admin(emu, "config", LOST_CREATES)
    wanted = [
        {
            "name": f"Lost/L{n}",
            "label_list_visibility": "labelShowIfUnread",
            "color_text": "#000000",
            "color_background": "#fad165",
        }  # fmt: skip
        for n in range(6)
    ]
    lines = [schema("labels"), *(record("labels", label) for label in wanted)]
    run = run_target(tmp_path, target_config(emu, tmp_path), lines)
    assert run.returncode == 0, run.stderr
    st = stats(emu)
    assert st["faults"]["by_method_and_kind"].get("gmail.users.labels.create:lost_response")
    assert st["calls"]["status_by_method"]["gmail.users.labels.create"].get("409", 0) >= 1
    found = labels_named(alice, "Lost")
    assert sorted(found) == ["Lost", *(f"Lost/L{n}" for n in range(6))]
    for n in range(6):
        label = found[f"Lost/L{n}"]
        assert label["labelListVisibility"] == "labelShowIfUnread"
        assert label["color"] == {"textColor": "#000000", "backgroundColor": "#fad165"}
    rerun = run_target(tmp_path, target_config(emu, tmp_path), lines)
    assert rerun.returncode == 0 and mutating_calls(emu) == calls(emu, "labels.create")


def test_label_changes_survive_lost_create_answers(emu, alice, tmp_path):
    admin(emu, "config", LOST_CREATES)
    ids = [m["id"] for m in alice.ok("GET", "/messages")["messages"]]
    lines = [schema("label_changes")] + [
        record("label_changes", {"message_id": mid, "add_labels": [f"Auto/T{n % 3}"]})
        for n, mid in enumerate(ids)
    ]
    config = target_config(emu, tmp_path, create_missing_labels=True)
    run = run_target(tmp_path, config, lines)
    assert run.returncode == 0, run.stderr
    assert stats(emu)["calls"]["status_by_method"]["gmail.users.labels.create"].get("409")
    found = labels_named(alice, "Auto")
    assert sorted(found) == ["Auto", "Auto/T0", "Auto/T1", "Auto/T2"]
    for n, mid in enumerate(ids):
        labels = alice.ok("GET", f"/messages/{mid}", params={"format": "minimal"})["labelIds"]
        assert found[f"Auto/T{n % 3}"]["id"] in labels


def test_fail_mode_checks_the_whole_send_batch_before_sending(emu, tmp_path):
    config = target_config(emu, tmp_path)
    assert run_target(tmp_path, config, sends(outbound("used"))).returncode == 0
    reset_stats(emu)
    batch = [outbound(f"b{n}") for n in range(5)]
    batch.insert(3, outbound("used", body="other content"))  # reused key, mid-batch
    run = run_target(tmp_path, config, sends(*batch))
    assert run.returncode != 0 and "already used" in run.stderr
    assert "Traceback" not in run.stderr
    assert mutating_calls(emu) == 0
    # The same key twice in one input with different content: refused before any send.
    twice = sends(outbound("t1"), outbound("dup"), outbound("dup", subject="Different"))
    run = run_target(tmp_path, config, twice)
    assert run.returncode != 0 and "two different messages" in run.stderr
    assert mutating_calls(emu) == 0


def test_fail_mode_checks_the_whole_label_batch_before_changing(emu, alice, tmp_path):
    ids = [m["id"] for m in alice.ok("GET", "/messages")["messages"]]
    changes = [{"message_id": mid, "add_labels": ["Brand/New"]} for mid in ids[:3]]
    changes.append({"message_id": ids[3], "add_labels": ["SENT"]})  # not settable
    lines = [schema("label_changes"), *(record("label_changes", c) for c in changes)]
    reset_stats(emu)
    run = run_target(tmp_path, target_config(emu, tmp_path, create_missing_labels=True), lines)
    assert run.returncode != 0 and "cannot be set or removed" in run.stderr
    assert mutating_calls(emu) == 0  # not even the new label was created
    skipped = target_config(emu, tmp_path, create_missing_labels=True, on_invalid_record="skip")
    run = run_target(tmp_path, skipped, lines)
    assert run.returncode == 0, run.stderr
    [line] = (tmp_path / "rejects.jsonl").read_text().splitlines()
    assert json.loads(line)["record"] == {"message_id": ids[3], "add_labels": ["SENT"],
                                          "remove_labels": []}  # fmt: skip
    assert "Brand/New" in labels_named(alice, "Brand")
