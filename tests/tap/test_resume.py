"""A full sync killed with SIGKILL resumes from its last STATE without losing a message."""

from __future__ import annotations

import json
import subprocess

import pytest

from gmail_emulator import EmulatorConfig, start_emulator
from tests.conftest import Api, admin, issue_token
from tests.tap.conftest import TAP, run_tap, tap_config, with_index_dir

pytestmark = pytest.mark.timeout(300)


def test_killed_full_sync_resumes_from_page_checkpoint(tmp_path):
    server = start_emulator(
        EmulatorConfig(users=["alice@example.com"], messages=1300, seed=4, quota_units_per_second=0)
    )
    try:
        config = tap_config(server, message_format="minimal")
        (tmp_path / "config.json").write_text(json.dumps(with_index_dir(config, tmp_path)))
        process = subprocess.Popen(
            [TAP, "--config", str(tmp_path / "config.json")],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        first_ids, last_state = set(), None
        for line in process.stdout:
            message = json.loads(line)
            if message["type"] == "RECORD" and message["stream"] == "messages":
                first_ids.add(message["record"]["id"])
            if message["type"] == "STATE":
                partitions = message["value"].get("bookmarks", {}).get("messages", {})
                resume = [p.get("full_sync") for p in partitions.get("partitions", [])]
                if resume and resume[0] and resume[0].get("page_token"):
                    last_state = message["value"]
                    process.kill()  # SIGKILL: no chance to flush or clean up
                    break
        process.wait(30)
        assert last_state is not None, "no mid-sync checkpoint was emitted"
        admin(server, "stats/reset", {})
        second = run_tap(tmp_path, config, state=last_state)
        assert second.returncode == 0, second.stderr[-3000:]
        second_ids = {m["id"] for m in second.records["messages"]}
        calls = admin(server, "stats")["calls"]["by_method"]
        assert calls["gmail.users.messages.list"] == 2  # resumed at page 2 of 3
        alice = Api(server.url, issue_token(server, "alice@example.com"))
        listed, token = set(), None
        while True:
            page = alice.ok(
                "GET",
                "/messages",
                params={"maxResults": 500, **({"pageToken": token} if token else {})},
            )
            listed |= {m["id"] for m in page["messages"]}
            token = page.get("nextPageToken")
            if not token:
                break
        assert first_ids | second_ids == listed  # nothing lost
        assert len(second_ids) < len(listed)  # and the finished pages were not read again
        assert second.partition("messages", "alice@example.com")["replication_key_value"] > 0
    finally:
        server.stop()
