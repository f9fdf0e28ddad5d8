"""Bad input, target side: generated records, malformed Singer lines, broken configs.

Records: hypothesis generates >= 1,000 per input schema (5,000 with GMAIL_RELIABILITY=full).
Each example is first checked in this process (schema check and parsing raise nothing but
``Rejected``), then all of them go through ONE live target run (``on_invalid_record: skip``)
against the emulator. Afterwards every record is either in the rejects file with a reason,
or applied, never both, and the mailbox shows exactly the applied ones: nothing of a
rejected record was sent, labelled or created.
"""

from __future__ import annotations

import json
import re
from collections import Counter

import pytest
from hypothesis import HealthCheck, Phase, given, settings

from gmail_emulator import EmulatorConfig, start_emulator
from target_gmail.compose import compose, message_id_for
from target_gmail.labels import LabelSpec
from target_gmail.records import RecordValidator, label_change
from target_gmail.rejection import Rejected
from tests.target import strategies
from tests.target.harness import record, run_target, schema, stats, target_config

from .conftest import FULL

ALICE, BOB = "alice@example.com", "bob@example.com"
EXAMPLES = 5000 if FULL else 1000


@pytest.fixture(scope="module")
def emu():
    server = start_emulator(
        EmulatorConfig(users=[ALICE, BOB], messages=60, seed=5, quota_units_per_second=0)
    )
    yield server
    server.stop()


def mailbox(emu):
    return emu.emulator.mailbox_for(ALICE)


def generate(strategy, action: str, finish, parse) -> list[dict]:
    """EXAMPLES records; each is parsed here first: only ``Rejected`` may come out."""
    validator, records = RecordValidator(action), []

    @settings(max_examples=EXAMPLES, database=None, deadline=None, derandomize=True,
              phases=[Phase.generate], suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(strategy)
    def collect(generated):
        rec = finish(dict(generated), len(records))
        try:
            validator.check(rec)
            parse(rec)
        except Rejected as rejected:
            assert rejected.reason
        records.append(rec)

    collect()
    assert len(records) >= 1000
    return records


def run_all(emu, tmp_path, stream: str, records: list[dict], **config):
    lines = [schema(stream), *(record(stream, r) for r in records)]
    config = target_config(emu, tmp_path, on_invalid_record="skip", **config)
    run = run_target(tmp_path, config, lines, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Traceback" not in run.stderr
    path = tmp_path / "rejects.jsonl"
    rejects = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    assert all(r["reason"] and r["stream"] == stream for r in rejects)
    assert f"'rejected': {len(rejects)}" in run.stderr  # the summary counts each one
    return run, rejects


def outbound_finish(rec: dict, n: int) -> dict:
    rec["_case"] = n
    if isinstance(rec.get("id"), tuple):
        rec["id"] = f"case-{n}-{rec['id'][1]}"
    return rec


def test_generated_outbound_messages(emu, tmp_path):
    records = generate(strategies.outbound_records(), "outbound_messages", outbound_finish,
                       lambda rec: compose(rec, ALICE))  # fmt: skip
    sends_before = stats(emu)["sends"]["total"]
    run, rejects = run_all(emu, tmp_path, "outbound_messages", records)
    rejected = {r["record"]["_case"] for r in rejects}
    assert len(rejected) == len(rejects)
    sent = Counter(
        m.message_id_header for m in mailbox(emu).messages.values() if "SENT" in m.label_ids
    )
    accepted = [rec for rec in records if rec["_case"] not in rejected]
    for rec in records:
        key = rec.get("id")
        copies = sent[message_id_for(ALICE, key)] if isinstance(key, str) and key else 0
        assert copies == (0 if rec["_case"] in rejected else 1), (rec["_case"], copies)
    assert stats(emu)["sends"]["total"] - sends_before == len(accepted)
    print(f"outbound: {len(records)} generated, {len(accepted)} sent, {len(rejects)} rejected")
    assert accepted and rejects


def change_finish(ids: list[str]):
    def finish(rec: dict, n: int) -> dict:
        if rec.get("message_id") == "MESSAGE":
            rec["message_id"] = ids[n % len(ids)]
        rec["_case"] = n
        return rec

    return finish


def test_generated_label_changes(emu, tmp_path):
    box = mailbox(emu)
    ids = sorted(box.messages)
    records = generate(strategies.label_change_records(), "label_changes", change_finish(ids),
                       label_change)  # fmt: skip
    before = {mid: set(box.messages[mid].label_ids) for mid in ids}
    run, rejects = run_all(emu, tmp_path, "label_changes", records)
    # Rejected before parsing: the whole record, with _case. Later: the parsed change only.
    rejected = {r["record"]["_case"] for r in rejects if "_case" in r["record"]}
    slim = Counter(json.dumps(r["record"], sort_keys=True) for r in rejects
                   if "_case" not in r["record"])  # fmt: skip
    for rec in records:
        if rec["_case"] in rejected or not slim:
            continue
        key = json.dumps(label_change(rec).as_record(), sort_keys=True)
        if slim[key]:
            slim[key] -= 1
            rejected.add(rec["_case"])
    assert not +slim and len(rejected) == len(rejects)
    # Replay the accepted records on the labels as they were: that must be the mailbox now.
    by_name = {label.name.lower(): label.id for label in box.labels.labels.values()}

    def resolve(names) -> set[str]:
        return {n if n in box.labels.labels else by_name[n.strip().lower()] for n in names or ()}

    expected = {mid: set(labels) for mid, labels in before.items()}
    for rec in records:
        if rec["_case"] in rejected or rec.get("message_id") not in expected:
            continue
        current = expected[rec["message_id"]]
        current -= resolve(rec.get("remove_labels"))
        current |= resolve(rec.get("add_labels"))
    assert {mid: set(box.messages[mid].label_ids) for mid in ids} == expected
    print(f"label changes: {len(records)} generated, {len(rejects)} rejected")


def label_finish(rec: dict, n: int) -> dict:
    rec["_case"] = n
    if isinstance(rec.get("name"), tuple):
        rec["name"] = f"G{n}/{rec['name'][1]}"
    return rec


def test_generated_labels(emu, tmp_path):
    records = generate(strategies.label_records(), "labels", label_finish, LabelSpec.from_record)
    run, rejects = run_all(emu, tmp_path, "labels", records)
    rejected = {r["record"]["_case"] for r in rejects}
    assert len(rejected) == len(rejects)
    names = [label.name for label in mailbox(emu).labels.labels.values()]
    for rec in records:
        case = f"G{rec['_case']}"
        made = [name for name in names if case in re.split(r"\s*/\s*", name)]
        if rec["_case"] in rejected:
            assert made == [], (rec, made)  # not the label, not a parent
        elif isinstance(rec.get("name"), str) and rec["name"].startswith(case + "/"):
            assert LabelSpec.from_record(rec).name.lower() in {n.lower() for n in names}, rec
    print(f"labels: {len(records)} generated, {len(rejects)} rejected")


GOOD = [schema("labels"), record("labels", {"name": "Fine"})]
LINES = {
    "not json": ["{not json"],
    "json but not an object": ["[1, 2, 3]"],
    "unknown type": [{"type": "GREETING", "stream": "labels"}],
    "record without stream": [schema("labels"), {"type": "RECORD", "record": {"name": "X"}}],
    "record before its schema": [record("labels", {"name": "Early"}), schema("labels")],
    "schema without schema": [{"type": "SCHEMA", "stream": "labels", "key_properties": []}],
    "record is not an object": [
        schema("labels"),
        {"type": "RECORD", "stream": "labels", "record": "name"},
    ],  # fmt: skip
}


@pytest.mark.parametrize("case", sorted(LINES))
def test_malformed_singer_lines(emu, tmp_path, case):
    lines = [*LINES[case], *GOOD]
    text = "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines)
    before = stats(emu)["calls"]["by_method"]
    run = run_raw(emu, tmp_path, target_config(emu, tmp_path), text)
    assert run.returncode != 0 and "Traceback" not in run.stderr, run.stderr[-2000:]
    assert "target-gmail:" in run.stderr  # one line saying what is wrong with the input
    assert stats(emu)["calls"]["by_method"] == before  # not even the good record applied


CONFIGS = {
    "not json": ("{oops", "config"),
    "not an object": ("[1]", "config"),
    "role wrong type": ({"role": 5}, "role"),
    "dry_run not a boolean": ({"dry_run": "maybe"}, "dry_run"),
    "actions not an object": ({"actions": "labels"}, "actions"),
    "unknown action": ({"actions": {"labels": "explode"}}, "actions"),
    "on_invalid_record": ({"on_invalid_record": "explode"}, "on_invalid_record"),
    "max_parallel_mailboxes": ({"max_parallel_mailboxes": "lots"}, "max_parallel_mailboxes"),
    "reconcile_delays_s": ({"reconcile_delays_s": "soon"}, "reconcile_delays_s"),
    "batch_size": ({"batch_size": 1000}, "batch_size"),
    "missing credentials": ({"oauth_credentials": None}, "oauth_credentials"),
    "unknown mailbox": ({"user_id": "nobody@example.com"}, "nobody@example.com"),
}


@pytest.mark.parametrize("case", sorted(CONFIGS))
def test_broken_config(emu, tmp_path, case):
    change, named = CONFIGS[case]
    if isinstance(change, str):
        config = change
    else:
        config = {**target_config(emu, tmp_path), **change}
        config = {k: v for k, v in config.items() if v is not None}
    text = "".join(json.dumps(line) + "\n" for line in GOOD)
    before = stats(emu)["calls"]["by_method"]
    run = run_raw(emu, tmp_path, config, text)
    assert run.returncode != 0 and "Traceback" not in run.stderr, run.stderr[-2000:]
    assert named in run.stderr, run.stderr[-2000:]
    after = stats(emu)["calls"]["by_method"]
    assert not any(after.get(m, 0) != before.get(m, 0) for m in after if "labels.create" in m)


def run_raw(emu, tmp_path, config, text: str):
    """run_target, but the config may be any text and the input any lines."""
    import subprocess

    from tests.target.harness import SECRETS, TARGET

    path = tmp_path / "target-config.json"
    path.write_text(config if isinstance(config, str) else json.dumps(config))
    result = subprocess.run([TARGET, "--config", str(path)], input=text, capture_output=True,
                            text=True, timeout=300, cwd=tmp_path)  # fmt: skip
    for secret in SECRETS:
        assert secret not in result.stdout + result.stderr
    return result


@pytest.mark.parametrize("setting", ["plan_path", "ledger_path", "rejects_path"])
def test_a_path_setting_naming_a_directory_is_a_config_error(emu, tmp_path, setting):
    # A dry run with `plan_path` set to a directory used to do all its work, then end in
    # an IsADirectoryError traceback (and leave a stray "<dir>.tmp" file beside it).
    folder = tmp_path / "somewhere"
    folder.mkdir()
    config = {**target_config(emu, tmp_path), "dry_run": True, setting: str(folder)}
    text = "".join(json.dumps(line) + "\n" for line in GOOD)
    run = run_raw(emu, tmp_path, config, text)
    assert run.returncode != 0 and "Traceback" not in run.stderr, run.stderr[-2000:]
    assert f"setting `{setting}`" in run.stderr and "is a directory" in run.stderr
    assert not (tmp_path / "somewhere.tmp").exists()
