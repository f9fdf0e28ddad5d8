"""Push fixtures: a real emulator, a real `gmail-push serve` process, real HTTP between them."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from gmail_emulator import EmulatorConfig, start_emulator
from tests import secrets_guard
from tests.conftest import admin

BIN = Path(sys.executable).parent
GMAIL_PUSH = str(BIN / "gmail-push")
FAKE_SYNC = str(Path(__file__).with_name("fake_sync.py"))
AUDIENCE = "https://push.example.test/gmail"
SERVICE_ACCOUNT = "pubsub-push@proj.iam.gserviceaccount.com"
TOPIC = "projects/proj/topics/gmail"
SUBSCRIPTION = "projects/proj/subscriptions/gmail-push"
USERS = ["alice@example.com", "bob@example.com"]


def base_config(emulator, tmp_path: Path, **overrides) -> dict:
    config = {
        "oauth_credentials": {
            "client_id": "push-tests",
            "client_secret": "super-secret-client",
            "refresh_token": "refresh-token-do-not-log",
        },
        "api_url": emulator.url,
        "token_url": emulator.token_url,
        "quota_units_per_second": 0,
        "topic_name": TOPIC,
        "watch_state_path": str(tmp_path / "watches.json"),
        "push_audience": AUDIENCE,
        "push_service_account": SERVICE_ACCOUNT,
        "push_certs_url": f"{emulator.url}/oauth2/v1/certs",
        "events_path": str(tmp_path / "events.jsonl"),
    }
    config.update(overrides)
    return config


def fake_sync(emulator, log: Path, mailbox="alice@example.com", sleep_s=0.0, fail_first=0):
    return [
        sys.executable, FAKE_SYNC, str(log), emulator.url, mailbox, str(sleep_s), str(fail_first)
    ]  # fmt: skip


def write_config(tmp_path: Path, config: dict, name: str = "push-config.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(config))
    return path


def run_cli(config_path: Path, *args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [GMAIL_PUSH, "--config", str(config_path), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    secrets_guard.watch("gmail-push stdout", result.stdout)
    secrets_guard.watch("gmail-push stderr", result.stderr)
    return result


class Receiver:
    """A `gmail-push serve` process; its log goes to a file the test can read."""

    def __init__(self, config_path: Path, log_path: Path, env: dict | None = None):
        self.log_path = log_path
        self._log = open(log_path, "w", encoding="utf-8")  # noqa: SIM115
        self.process = subprocess.Popen(
            [GMAIL_PUSH, "--config", str(config_path), "serve", "--port", "0"],
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            env=dict(os.environ, **(env or {})),
        )
        line = self.process.stdout.readline()
        found = re.search(r"serving on (http://[\d.]+:\d+)(\S*)", line)
        if not found:
            self.stop()
            raise AssertionError(f"receiver did not start: {line!r}\n{self.log()}")
        self.base = found.group(1)
        self.url = found.group(1) + found.group(2)

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8")

    def receiver_lines(self) -> list[str]:
        return [line for line in self.log().splitlines() if "gmail_push.receiver" in line]

    def health(self) -> dict:
        return requests.get(f"{self.base}/healthz", timeout=10).json()

    def wait_idle(self, timeout_s: float = 60.0, runs_at_least: int = 0) -> dict:
        """Wait until no sync is running or queued (and at least ``runs_at_least`` ran)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            syncs = self.health()["syncs"]
            runs = sum(s["runs"] for s in syncs.values())
            busy = any(s["running"] or s["queued"] for s in syncs.values())
            if not busy and runs >= runs_at_least:
                return syncs
            time.sleep(0.1)
        raise AssertionError(f"syncs still busy after {timeout_s} s: {self.health()}")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process.stdout.close()
        self._log.close()
        secrets_guard.watch("gmail-push serve log", self.log())
        return self.process.returncode


@pytest.fixture
def push_emulator():
    server = start_emulator(
        EmulatorConfig(
            users=list(USERS),
            messages=5,
            seed=5,
            quota_units_per_second=0,
            push_service_account=SERVICE_ACCOUNT,
            push_audience=AUDIENCE,
            push_subscription=SUBSCRIPTION,
        )
    )
    yield server
    server.stop()


def point_pushes_at(emulator, receiver: Receiver) -> None:
    admin(emulator, "config", {"push_endpoint": receiver.url})


def drain(emulator, timeout_s: float = 60) -> dict:
    return requests.post(
        f"{emulator.url}/_emulator/push/drain", json={"timeout_s": timeout_s}, timeout=90
    ).json()


def sync_log(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
