"""`gmail-push watch / stop / status` as real processes against the emulator."""

from __future__ import annotations

import json

import pytest

from tests.conftest import admin, service_account_info
from tests.push.conftest import TOPIC, base_config, run_cli, write_config

pytestmark = pytest.mark.timeout(180)


def _watch_calls(emulator) -> int:
    return admin(emulator, "stats")["calls"]["by_method"].get("gmail.users.watch", 0)


def test_watch_records_expiration_and_renew_before_is_idempotent(push_emulator, tmp_path):
    config = base_config(
        push_emulator, tmp_path, label_ids=["INBOX"], label_filter_behavior="include"
    )
    path = write_config(tmp_path, config)
    first = run_cli(path, "watch", "--renew-before", "24h")
    assert first.returncode == 0, first.stderr
    assert "alice@example.com: watched: projects/proj/topics/gmail until" in first.stdout
    recorded = admin(push_emulator, "push")["watches"]["alice@example.com"]
    assert recorded == {
        "topicName": TOPIC,
        "labelIds": ["INBOX"],
        "labelFilterBehavior": "include",
        "expiration": recorded["expiration"],
    }
    state = json.loads((tmp_path / "watches.json").read_text())["watches"]["alice@example.com"]
    assert state["expiration_ms"] == int(recorded["expiration"])
    assert state["expiration"].endswith("Z") and state["topic_name"] == TOPIC

    again = run_cli(path, "watch", "--renew-before", "24h")  # 7 days left: nothing to do
    assert again.returncode == 0, again.stderr
    assert "alice@example.com: kept: watch valid until" in again.stdout
    assert _watch_calls(push_emulator) == 1

    renew = run_cli(path, "watch", "--renew-before", "8d")  # 7 days left < 8: renew
    assert "alice@example.com: renewed:" in renew.stdout
    assert _watch_calls(push_emulator) == 2
    run_cli(path, "watch")  # without --renew-before it always calls
    assert _watch_calls(push_emulator) == 3

    status = run_cli(path, "status")
    assert json.loads(status.stdout.splitlines()[0])["hours_left"] > 24 * 6.9


def test_a_changed_label_filter_is_renewed_at_once(push_emulator, tmp_path):
    path = write_config(tmp_path, base_config(push_emulator, tmp_path))
    run_cli(path, "watch", "--renew-before", "24h")
    changed = base_config(push_emulator, tmp_path, label_ids=["INBOX"])
    result = run_cli(write_config(tmp_path, changed), "watch", "--renew-before", "24h")
    assert "renewed" in result.stdout
    assert admin(push_emulator, "push")["watches"]["alice@example.com"]["labelIds"] == ["INBOX"]


def test_stop_ends_the_watch_and_forgets_it(push_emulator, tmp_path):
    path = write_config(tmp_path, base_config(push_emulator, tmp_path))
    assert run_cli(path, "watch").returncode == 0
    stopped = run_cli(path, "stop")
    assert stopped.returncode == 0, stopped.stderr
    assert "alice@example.com: stopped" in stopped.stdout
    assert admin(push_emulator, "push")["watches"] == {}
    assert json.loads((tmp_path / "watches.json").read_text())["watches"] == {}
    assert calls_stop(push_emulator) == 1


def calls_stop(emulator) -> int:
    return admin(emulator, "stats")["calls"]["by_method"].get("gmail.users.stop", 0)


def test_delegation_watches_every_mailbox_and_one_failure_spares_the_rest(push_emulator, tmp_path):
    info = service_account_info(client_email="push@p.iam.gserviceaccount.com")
    admin(push_emulator, "auth", {"service_accounts": [info]})
    config = base_config(push_emulator, tmp_path)
    del config["oauth_credentials"]
    config.update(
        service_account_info=info,
        user_ids=["alice@example.com", "mallory@example.com", "bob@example.com"],
    )
    result = run_cli(write_config(tmp_path, config), "watch")
    assert result.returncode == 1
    assert "alice@example.com: watched" in result.stdout
    assert "bob@example.com: watched" in result.stdout
    assert "mallory@example.com: failed" in result.stderr
    assert "failed for mallory@example.com" in result.stderr
    assert set(admin(push_emulator, "push")["watches"]) == {"alice@example.com", "bob@example.com"}
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("change", "args", "named"),
    [
        ({"topic_name": None}, ["watch"], "`topic_name`"),
        ({"topic_name": "gmail-topic"}, ["watch"], "`topic_name`"),
        ({"label_filter_behavior": "both"}, ["watch"], "`label_filter_behavior`"),
        ({}, ["watch", "--renew-before", "soon"], "`--renew-before`"),
        ({"push_audience": None}, ["serve", "--port", "0"], "`push_audience`"),
        ({"loader": None}, ["serve", "--port", "0"], "`loader`"),
        ({"sync_debounce_s": "fast", "loader": "x"}, ["serve", "--port", "0"], "sync_debounce_s"),
        ({"oauth_credentials": None}, ["watch"], "`oauth_credentials`"),
        ({"listen_port": 8080.7, "loader": "x"}, ["serve"], "not a whole number"),
    ],
)
def test_config_mistakes_name_the_setting(push_emulator, tmp_path, change, args, named):
    config = base_config(push_emulator, tmp_path)
    for key, value in change.items():
        if value is None:
            config.pop(key, None)
        else:
            config[key] = value
    result = run_cli(write_config(tmp_path, config), *args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert named in result.stderr
    assert "Traceback" not in result.stderr


def test_a_gmail_error_fails_with_the_mailbox_named(push_emulator, tmp_path):
    config = base_config(push_emulator, tmp_path, label_ids=["Label_404"])
    result = run_cli(write_config(tmp_path, config), "watch")
    assert result.returncode == 1
    assert "failed" in result.stderr and "Invalid label: Label_404" in result.stderr
    assert "Traceback" not in result.stderr


DAMAGED_WATCHES = {
    "watches a list": ('{"watches": []}', "holds no `watches` object"),
    "entry a string": ('{"watches": {"alice@example.com": "x"}}', "it is a str"),
    "no expiration": (
        json.dumps({"watches": {"alice@example.com": {"topic_name": TOPIC, "label_ids": []}}}),
        "no whole-number `expiration_ms`",
    ),
    "expiration a word": (
        json.dumps({"watches": {"alice@example.com": {"expiration_ms": "soon"}}}),
        "no whole-number `expiration_ms`",
    ),
    "not json": ("{garbage", "is not readable JSON"),
}


@pytest.mark.parametrize("case", sorted(DAMAGED_WATCHES))
def test_a_damaged_watch_state_is_renewed_not_a_traceback(push_emulator, tmp_path, case):
    # A hand-edited or older watches.json used to crash status and watch --renew-before
    # with a traceback (KeyError, TypeError, AttributeError), so the cron renewal stopped.
    text, problem = DAMAGED_WATCHES[case]
    path = write_config(tmp_path, base_config(push_emulator, tmp_path))
    (tmp_path / "watches.json").write_text(text)
    status = run_cli(path, "status")
    assert status.returncode == 0 and "Traceback" not in status.stderr, status.stderr
    assert f"gmail-push: warning: {tmp_path / 'watches.json'}" in status.stderr
    assert problem in status.stderr
    renew = run_cli(path, "watch", "--renew-before", "24h")
    assert renew.returncode == 0 and "Traceback" not in renew.stderr, renew.stderr
    assert "alice@example.com: watched:" in renew.stdout  # the unreadable entry is renewed
    assert _watch_calls(push_emulator) == 1
    watches = json.loads((tmp_path / "watches.json").read_text())["watches"]
    assert isinstance(watches["alice@example.com"]["expiration_ms"], int)
    kept = run_cli(path, "watch", "--renew-before", "24h")  # the file is whole again
    assert "alice@example.com: kept:" in kept.stdout and kept.stderr == ""
