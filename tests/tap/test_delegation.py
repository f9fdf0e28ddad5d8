"""Many Workspace mailboxes through domain-wide delegation, each with its own state partition."""

from __future__ import annotations

import pytest

from tests.conftest import Api, admin, issue_token, service_account_info
from tests.tap.conftest import run_tap

pytestmark = pytest.mark.timeout(300)


def _service_account(server) -> dict:
    info = service_account_info(client_email="tap@p.iam.gserviceaccount.com")
    admin(server, "auth", {"service_accounts": [info]})
    return info


def _config(server, info, users):
    return {
        "service_account_info": info,
        "user_ids": users,
        "api_url": server.url,
        "token_url": server.token_url,
        "quota_units_per_second": 0,
    }


def test_two_mailboxes_each_with_own_partition(emulator, tmp_path):
    info = _service_account(emulator)
    run = run_tap(tmp_path, _config(emulator, info, ["alice@example.com", "bob@example.com"]))
    assert run.returncode == 0, run.stderr[-3000:]
    for user in ("alice@example.com", "bob@example.com"):
        api = Api(emulator.url, issue_token(emulator, user))
        listed = {
            m["id"] for m in api.ok("GET", "/messages", params={"maxResults": 500})["messages"]
        }
        emitted = {m["id"] for m in run.records["messages"] if m["mailbox"] == user}
        assert emitted == listed
        profile = api.ok("GET", "/profile")
        assert run.partition("messages", user)["replication_key_value"] == int(profile["historyId"])
    assert "private_key" not in run.stdout + run.stderr.replace("private_key_id", "")
    assert info["private_key"][40:80] not in run.stdout + run.stderr


def test_one_mailbox_failing_does_not_stop_the_others(emulator, tmp_path):
    info = _service_account(emulator)
    users = ["alice@example.com", "mallory@example.com", "bob@example.com"]
    run = run_tap(tmp_path, _config(emulator, info, users))
    assert run.returncode != 0
    assert "mallory@example.com" in run.stderr
    mailboxes = {m["mailbox"] for m in run.records["messages"]}
    assert mailboxes == {"alice@example.com", "bob@example.com"}
    contexts = {
        p["context"]["mailbox"]
        for p in run.state["bookmarks"]["messages"]["partitions"]
        if "replication_key_value" in p
    }
    assert contexts == {"alice@example.com", "bob@example.com"}
