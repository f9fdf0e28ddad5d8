"""The ``gmail-emulator`` console script, run as a real process."""

from __future__ import annotations

import mailbox
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import requests

pytestmark = pytest.mark.timeout(120)


def _start(*args: str) -> tuple[subprocess.Popen, str]:
    exe = shutil.which("gmail-emulator", path=os.path.dirname(sys.executable))
    assert exe, "console script gmail-emulator is not installed"
    process = subprocess.Popen(
        [exe, "--port", "0", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    line = process.stdout.readline()
    found = re.search(r"listening on (http://127\.0\.0\.1:\d+)", line)
    assert found, line + process.stderr.read()
    return process, found.group(1)


def _token(url: str) -> str:
    form = {
        "grant_type": "refresh_token",
        "client_id": "c",
        "client_secret": "s",
        "refresh_token": "r",
    }
    return requests.post(f"{url}/token", data=form, timeout=10).json()["access_token"]


def test_console_script_serves_seeded_users():
    process, url = _start(
        "--users", "alice@example.com,bob@example.com", "--messages", "150", "--seed", "9"
    )
    try:
        stats = requests.get(f"{url}/_emulator/stats", timeout=10).json()
        assert stats["mailboxes"]["alice@example.com"]["messages"] == 150
        assert stats["mailboxes"]["bob@example.com"]["messages"] == 150
        headers = {"Authorization": f"Bearer {_token(url)}"}
        profile = requests.get(f"{url}/gmail/v1/users/me/profile", headers=headers).json()
        assert profile == {
            "emailAddress": "alice@example.com",
            "messagesTotal": 150,
            "threadsTotal": stats["mailboxes"]["alice@example.com"]["threads"],
            "historyId": profile["historyId"],
        }
    finally:
        process.terminate()
        process.wait(10)


def test_mbox_is_loaded(tmp_path: Path):
    box = mailbox.mbox(tmp_path / "takeout.mbox")
    for n in range(3):
        message = mailbox.mboxMessage(
            f"From: friend{n}@example.org\nTo: alice@example.com\nSubject: Takeout {n}\n"
            f"Message-ID: <takeout-{n}@example.org>\n"
            f"Date: Tue, 0{n + 1} Sep 2026 10:00:00 +0000\n"
            f"X-Gmail-Labels: Inbox,Unread,Trips\n\nbody {n}\n"
        )
        box.add(message)
    box.flush()
    process, url = _start("--mbox", str(tmp_path / "takeout.mbox"))
    try:
        headers = {"Authorization": f"Bearer {_token(url)}"}
        labels = requests.get(f"{url}/gmail/v1/users/me/labels", headers=headers).json()
        trips = next(label for label in labels["labels"] if label["name"] == "Trips")
        listed = requests.get(
            f"{url}/gmail/v1/users/me/messages",
            params={"labelIds": [trips["id"], "UNREAD"]},
            headers=headers,
        ).json()
        assert listed["resultSizeEstimate"] == 3
    finally:
        process.terminate()
        process.wait(10)


def test_bad_flags_give_clear_errors():
    exe = shutil.which("gmail-emulator", path=os.path.dirname(sys.executable))
    result = subprocess.run(
        [exe, "--fault-kinds", "418"], capture_output=True, text=True, timeout=30
    )
    assert result.returncode != 0
    assert "--fault-kinds" in result.stderr and "Traceback" not in result.stderr
