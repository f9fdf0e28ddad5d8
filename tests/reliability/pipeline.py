"""What a warehouse would hold after a tap's output, and the reference to compare it with.

``Table`` applies RECORD messages the way an upserting loader with soft deletes does: the
latest record per (mailbox, id) wins and ``_sdc_deleted_at`` removes the row. The reference
is the same sequence of runs (full, then incremental) made cleanly against the same mailbox
right before or after the runs under test: taps only read, so both see the same mailbox.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from gmail_emulator import EmulatorConfig, start_emulator
from tests import secrets_guard
from tests.conftest import Api, issue_token
from tests.tap.conftest import TAP, with_index_dir

STREAMS = ("messages", "threads", "labels")
ALICE = "alice@example.com"


def emulator(messages: int, seed: int, **settings):
    config = dict(users=[ALICE], messages=messages, seed=seed, quota_units_per_second=0)
    config.update(settings)
    return start_emulator(EmulatorConfig(**config))


@dataclass
class Table:
    rows: dict[str, dict[tuple, str]] = field(default_factory=lambda: {s: {} for s in STREAMS})

    def apply(self, stream: str, record: dict) -> None:
        key = (record["mailbox"], record["id"])
        if record.get("_sdc_deleted_at"):
            self.rows[stream].pop(key, None)
            return
        content = {k: v for k, v in record.items() if not k.startswith("_sdc_")}
        digest = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()
        self.rows[stream][key] = digest[:16]

    def counts(self) -> dict[str, int]:
        return {stream: len(rows) for stream, rows in self.rows.items()}


def _raw(subject: str) -> str:
    text = (
        f"From: Dana <dana@example.net>\r\nTo: {ALICE}\r\nSubject: {subject}\r\n"
        f"Message-ID: <{subject.replace(' ', '-')}@example.net>\r\n\r\nbody of {subject}\r\n"
    )
    return base64.urlsafe_b64encode(text.encode()).decode()


def mutate(server, seed: int, changes: int = 30) -> None:
    """Seeded changes: new mail, relabels, permanent deletions, a new label."""
    alice = Api(server.url, issue_token(server, ALICE))
    rng = random.Random(seed)
    ids = sorted(m["id"] for m in alice.ok("GET", "/messages", params={"maxResults": 500})[
        "messages"])  # fmt: skip
    label = alice.ok("POST", "/labels", json={"name": f"Reliability {seed}"})
    for index in range(changes):
        action = rng.choice(("add", "label", "unlabel", "delete"))
        if action == "add":
            alice.ok("POST", "/messages", json={"raw": _raw(f"new {seed}-{index}"),
                                                "labelIds": ["INBOX", "UNREAD"]})  # fmt: skip
        elif action == "delete" and ids:
            alice.ok("DELETE", f"/messages/{ids.pop(rng.randrange(len(ids)))}")
        elif ids:
            change = {"addLabelIds" if action == "label" else "removeLabelIds": [label["id"]]}
            alice.ok("POST", f"/messages/{rng.choice(ids)}/modify", json=change)


@dataclass
class Run:
    """One tap process: what a loader committed (records before the last STATE)."""

    returncode: int
    committed: list[tuple[str, dict]]
    state: dict | None
    lines: int
    stderr: str = ""


def run_tap_until(
    tmp_path: Path, config: dict, state: dict | None, kill_after_lines: int | None = None
) -> Run:
    """Run the tap; with ``kill_after_lines``, SIGKILL it once that many lines were read.

    Records after the last STATE are not counted as committed: a loader only trusts what
    a STATE message covers, and the resumed run must send those records again.
    """
    (tmp_path / "config.json").write_text(json.dumps(with_index_dir(config, tmp_path)))
    args = [TAP, "--config", str(tmp_path / "config.json")]
    if state:
        (tmp_path / "state.json").write_text(json.dumps(state))
        args += ["--state", str(tmp_path / "state.json")]
    stderr_path = tmp_path / "tap.stderr"
    with open(stderr_path, "w") as stderr:
        process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=stderr, text=True)
        committed: list[tuple[str, dict]] = []
        pending: list[tuple[str, dict]] = []
        last_state, lines = state, 0
        for line in process.stdout:
            lines += 1
            secrets_guard.watch("tap-gmail stdout", line)
            message = json.loads(line)
            if message["type"] == "RECORD":
                pending.append((message["stream"], message["record"]))
            elif message["type"] == "STATE":
                committed += pending
                pending = []
                last_state = message["value"]
            if kill_after_lines is not None and lines >= kill_after_lines:
                process.send_signal(signal.SIGKILL)
                break
        process.stdout.close()
        returncode = process.wait(60)
    secrets_guard.watch("tap-gmail stderr", stderr_path.read_text())
    if kill_after_lines is None or returncode == 0:
        committed += pending  # a finished run's tail is covered by its final STATE
    return Run(returncode, committed, last_state, lines, stderr_path.read_text())


def load(table: Table, run: Run) -> None:
    for stream, record in run.committed:
        table.apply(stream, record)


def clean_run(tmp_path: Path, config: dict, state: dict | None, table: Table) -> dict:
    """One uninterrupted run loaded into ``table``; returns its final state."""
    run = run_tap_until(tmp_path, config, state)
    assert run.returncode == 0, run.stderr[-3000:]
    load(table, run)
    return run.state
