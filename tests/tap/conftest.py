"""Run tap-gmail as a real process against a real emulator and collect what it emitted."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from gmail_emulator import EmulatorConfig, start_emulator
from tests import secrets_guard

TAP = str(Path(sys.executable).parent / "tap-gmail")
SECRET_MARKERS = ("super-secret-client", "refresh-token-do-not-log")


@dataclass
class TapRun:
    returncode: int
    records: dict[str, list[dict]] = field(default_factory=dict)
    states: list[dict] = field(default_factory=list)
    schemas: dict[str, dict] = field(default_factory=dict)
    stdout: str = ""
    stderr: str = ""

    @property
    def state(self) -> dict:
        return self.states[-1] if self.states else {}

    def partition(self, stream: str, mailbox: str) -> dict:
        partitions = self.state["bookmarks"][stream]["partitions"]
        return next(p for p in partitions if p["context"]["mailbox"] == mailbox)


def tap_config(server, **overrides) -> dict:
    config = {
        "oauth_credentials": {
            "client_id": "tap-tests",
            "client_secret": SECRET_MARKERS[0],
            "refresh_token": SECRET_MARKERS[1],
        },
        "api_url": server.url,
        "token_url": server.token_url,
        "quota_units_per_second": 0,
    }
    config.update(overrides)
    return config


def catalog_args(tmp_path: Path, config: dict, streams: set[str]) -> tuple[str, ...]:
    """``--catalog`` arguments selecting only ``streams`` (from the tap's own discovery)."""
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(config))
    discovered = subprocess.run(
        [TAP, "--config", str(config_path), "--discover"],
        capture_output=True,
        text=True,
        check=True,
    )
    catalog = json.loads(discovered.stdout)
    for stream in catalog["streams"]:
        for entry in stream["metadata"]:
            if not entry["breadcrumb"]:
                entry["metadata"]["selected"] = stream["tap_stream_id"] in streams
    path = tmp_path / f"catalog-{'-'.join(sorted(streams))}.json"
    path.write_text(json.dumps(catalog))
    return ("--catalog", str(path))


def by_id(records) -> dict:
    """Records by id; a tombstone's deletion time is compared as deleted or not."""
    return {r["id"]: {**r, "_sdc_deleted_at": bool(r["_sdc_deleted_at"])} for r in records}


def with_index_dir(config: dict, tmp_path: Path) -> dict:
    """The config with thread indexes (tap_gmail.thread_index) beside the test's files, not
    in the directory pytest runs from."""
    return {"thread_index_dir": str(tmp_path / "thread-index"), **config}


def run_tap(
    tmp_path: Path,
    config: dict,
    state: dict | None = None,
    timeout: int = 300,
    extra_args: tuple[str, ...] = (),
    preexec=None,
) -> TapRun:
    config = with_index_dir(config, tmp_path)
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(config))
    args = [TAP, "--config", str(config_path), *extra_args]
    if state:
        state_path = tmp_path / "state.json"
        state_path.write_text(json.dumps(state))
        args += ["--state", str(state_path)]
    result = subprocess.run(
        args, capture_output=True, text=True, timeout=timeout, preexec_fn=preexec
    )
    secrets_guard.watch("tap-gmail stdout", result.stdout)
    secrets_guard.watch("tap-gmail stderr", result.stderr)
    run = TapRun(result.returncode, stdout=result.stdout, stderr=result.stderr)
    for line in result.stdout.splitlines():
        message = json.loads(line)
        if message["type"] == "RECORD":
            run.records.setdefault(message["stream"], []).append(message["record"])
        elif message["type"] == "STATE":
            run.states.append(message["value"])
        elif message["type"] == "SCHEMA":
            run.schemas[message["stream"]] = message["schema"]
    return run


@pytest.fixture
def emulator():
    server = start_emulator(
        EmulatorConfig(
            users=["alice@example.com", "bob@example.com"],
            messages=120,
            seed=11,
            quota_units_per_second=0,
        )
    )
    yield server
    server.stop()
