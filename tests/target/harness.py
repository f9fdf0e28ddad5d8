"""Run target-gmail as a real process against a real emulator, and read the result back."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import requests

TARGET = str(Path(sys.executable).parent / "target-gmail")
SECRETS = ("target-client-secret-xyz", "target-refresh-token-do-not-log")
MUTATING = (
    "messages.batchModify",
    "messages.modify",
    "messages.send",
    "threads.modify",
    "labels.create",
    "labels.patch",
    "labels.update",
)


@dataclass
class TargetRun:
    returncode: int
    stdout: str
    stderr: str
    states: list[dict] = field(default_factory=list)


def schema(stream: str, properties: dict | None = None, keys=()) -> dict:
    return {
        "type": "SCHEMA",
        "stream": stream,
        "schema": {"type": "object", "properties": properties or {}},
        "key_properties": list(keys),
    }


def record(stream: str, rec: dict) -> dict:
    return {"type": "RECORD", "stream": stream, "record": rec}


def state(value: dict) -> dict:
    return {"type": "STATE", "value": value}


def target_config(server, tmp_path: Path, **overrides) -> dict:
    config = {
        "oauth_credentials": {
            "client_id": "target-tests",
            "client_secret": SECRETS[0],
            "refresh_token": SECRETS[1],
        },
        "api_url": server.url,
        "token_url": server.token_url,
        "quota_units_per_second": 0,
        "role": "admin",
        "ledger_path": str(tmp_path / "ledger.sqlite"),
        "plan_path": str(tmp_path / "plan.json"),
        "rejects_path": str(tmp_path / "rejects.jsonl"),
        "reconcile_delays_s": [0, 0.2],
    }
    config.update(overrides)
    return config


def run_target(
    tmp_path: Path, config: dict, messages: list[dict], timeout: float = 300
) -> TargetRun:
    config_path = tmp_path / "target-config.json"
    config_path.write_text(json.dumps(config))
    lines = "".join(json.dumps(message) + "\n" for message in messages)
    result = subprocess.run(
        [TARGET, "--config", str(config_path)],
        input=lines,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=tmp_path,
    )
    run = TargetRun(result.returncode, result.stdout, result.stderr)
    for line in result.stdout.splitlines():
        if line.strip():
            run.states.append(json.loads(line))
    for secret in SECRETS:
        assert secret not in result.stdout + result.stderr
    return run


def stats(server) -> dict:
    return requests.get(f"{server.url}/_emulator/stats", timeout=30).json()


def reset_stats(server) -> None:
    requests.post(f"{server.url}/_emulator/stats/reset", timeout=30).raise_for_status()


def calls(server, method: str) -> int:
    """Calls of a short method name ("messages.send") the emulator answered."""
    by_method = stats(server)["calls"]["by_method"]
    return sum(n for name, n in by_method.items() if name.endswith("users." + method))


def mutating_calls(server) -> int:
    return sum(calls(server, method) for method in MUTATING)
