"""`meltano run ... target-gmail` through the project's meltano.yml, against a fresh emulator.

1. `tap-jsonl-outbound target-gmail`: a JSONL file of outbound messages is sent exactly once,
   however often the pipeline runs.
2. `tap-gmail auto-label target-gmail`: the auto-label mapping edits `label_names` of the
   messages whose subject says "newsletter"; target-gmail applies the difference.

Each test gets its own emulator, Meltano system directory (state, catalogs and run files:
nothing shared with other tests or with `make demo`) and target-gmail ledger, plan and
rejects files.
"""

from __future__ import annotations

import ast
import base64
import email
import email.policy
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from gmail_emulator import EmulatorConfig, start_emulator
from tests.conftest import Api

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

ROOT = Path(__file__).resolve().parents[2]
MELTANO = ROOT / ".venv-meltano" / "bin" / "meltano"
DATA = Path(__file__).parent / "data"
ALICE, BOB = "alice@example.com", "bob@example.com"
SECRETS = ("meltano-e2e-client-secret-xyz", "meltano-e2e-refresh-token-do-not-log")
AUTO_LABEL = "Auto/Newsletter"
# Plugin settings and Meltano's own: nothing from the caller's shell may steer these runs.
FOREIGN_ENV = ("TAP_GMAIL_", "TARGET_GMAIL_", "TAP_JSONL_", "MELTANO_")

pytestmark = [pytest.mark.timeout(600), pytest.mark.slow]


@pytest.fixture
def emu():
    server = start_emulator(
        EmulatorConfig(users=[ALICE, BOB], messages=30, seed=13, quota_units_per_second=0)
    )
    yield server
    server.stop()


def meltano_sys_dir(tmp_path: Path) -> Path:
    """This test's own `.meltano`: the installed plugins, linked; its own run dirs and DB.

    Meltano keeps each plugin's config, catalog and state files in `.meltano/run/<plugin>/`,
    so two runs of one plugin at once (the demo, another test session) would trip over each
    other's files; here nothing is shared but the plugins' virtualenvs.
    """
    sys_dir = tmp_path / "meltano-sys"
    if not sys_dir.exists():
        sys_dir.mkdir()
        for kind in ("extractors", "loaders", "mappers"):
            (sys_dir / kind).symlink_to(ROOT / ".meltano" / kind, target_is_directory=True)
    return sys_dir


def meltano_run(emu, tmp_path: Path, *blocks: str, **env: str) -> subprocess.CompletedProcess:
    assert MELTANO.exists(), "run `make meltano` (make test does) to install Meltano"
    clean = {k: v for k, v in os.environ.items() if not k.startswith(FOREIGN_ENV)}
    connection = {
        "API_URL": emu.url,
        "TOKEN_URL": emu.token_url,
        "QUOTA_UNITS_PER_SECOND": "0",
        "OAUTH_CREDENTIALS_CLIENT_SECRET": SECRETS[0],
        "OAUTH_CREDENTIALS_REFRESH_TOKEN": SECRETS[1],
    }
    run_env = {
        **clean,
        **{f"TAP_GMAIL_{name}": value for name, value in connection.items()},
        **{f"TARGET_GMAIL_{name}": value for name, value in connection.items()},
        "TARGET_GMAIL_LEDGER_PATH": str(tmp_path / "ledger.sqlite"),
        "TARGET_GMAIL_PLAN_PATH": str(tmp_path / "plan.json"),
        "TARGET_GMAIL_REJECTS_PATH": str(tmp_path / "rejects.jsonl"),
        "TARGET_GMAIL_RECONCILE_DELAYS_S": "[0, 0.2]",
        "MELTANO_SYS_DIR_ROOT": str(meltano_sys_dir(tmp_path)),
        **env,
    }
    result = subprocess.run(
        [str(MELTANO), "run", *blocks],
        cwd=ROOT,
        env=run_env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    for secret in SECRETS:
        assert secret not in result.stdout + result.stderr
    return result


def summary(result: subprocess.CompletedProcess) -> dict:
    """target-gmail's closing `summary: {...}` line, as a dict."""
    found = re.findall(r"target-gmail summary: (\{.*?\})\s*$", result.stderr, re.MULTILINE)
    assert found, result.stderr[-4000:]
    return ast.literal_eval(found[-1])


def sent_with_subject(api: Api, subject: str) -> list[dict]:
    answer = api.ok("GET", "/messages", params={"q": f'in:sent subject:"{subject}"'})
    return answer.get("messages", [])


def raw_message(api: Api, message_id: str) -> email.message.EmailMessage:
    raw = api.ok("GET", f"/messages/{message_id}", params={"format": "raw"})["raw"]
    return email.message_from_bytes(base64.urlsafe_b64decode(raw), policy=email.policy.default)


def labels_of(api: Api, message_id: str) -> set[str]:
    return set(api.ok("GET", f"/messages/{message_id}", params={"format": "minimal"})["labelIds"])


def label_id(api: Api, name: str) -> str:
    labels = api.ok("GET", "/labels")["labels"]
    return next(label["id"] for label in labels if label["name"] == name)


def all_message_ids(api: Api) -> list[str]:
    """Every message tap-gmail reads by default (spam and trash left out)."""
    ids, token = [], None
    while True:
        params = {"maxResults": 500, **({"pageToken": token} if token else {})}
        page = api.ok("GET", "/messages", params=params)
        ids += [m["id"] for m in page.get("messages", [])]
        token = page.get("nextPageToken")
        if not token:
            return ids


def subject_of(api: Api, message_id: str) -> str:
    params = {"format": "metadata", "metadataHeaders": "Subject"}
    headers = api.ok("GET", f"/messages/{message_id}", params=params)["payload"]["headers"]
    return next((h["value"] for h in headers if h["name"].lower() == "subject"), "")


def insert(api: Api, subject: str, labels=("INBOX", "UNREAD")) -> str:
    raw = (
        f"From: Sender <news@lists.example>\r\nTo: {ALICE}\r\nSubject: {subject}\r\n\r\nhi\r\n"
    ).encode()
    body = {"raw": base64.urlsafe_b64encode(raw).decode(), "labelIds": list(labels)}
    return api.ok("POST", "/messages", json=body)["id"]


# ---- 1. tap-jsonl-outbound target-gmail ------------------------------------------------


def test_jsonl_outbound_messages_are_sent_exactly_once(emu, alice, bob, tmp_path):
    inbox = tmp_path / "outbound"
    inbox.mkdir()
    source = inbox / "outbound_messages.jsonl"
    shutil.copy(DATA / "outbound_messages.jsonl", source)
    rows = [json.loads(line) for line in source.read_text().splitlines()]
    path = {"TAP_JSONL_OUTBOUND_PATH": str(inbox / "*.jsonl")}

    first = meltano_run(emu, tmp_path, "tap-jsonl-outbound", "target-gmail", **path)

    assert first.returncode == 0, first.stderr[-4000:]
    assert summary(first) == {"outbound_messages.applied": len(rows), "rejected": 0}
    assert stats(emu)["sends"]["total"] == len(rows)
    sent = {}
    for row in rows:
        [sent[row["id"]]] = sent_with_subject(alice, row["subject"])
    attached = raw_message(alice, sent["meltano-e2e-3"]["id"])
    [part] = list(attached.iter_attachments())
    assert part.get_filename() == "numbers.csv"
    assert part.get_content() == "n,square\n1,1\n2,4\n3,9\n"
    assert "Erin Ö" in str(attached["To"])
    copied = raw_message(alice, sent["meltano-e2e-2"]["id"])
    assert copied["Cc"] == "carol@example.org" and copied["Subject"] == "Meltano e2e: cc and bcc"
    labelled = labels_of(alice, sent["meltano-e2e-4"]["id"])
    assert {"SENT", "STARRED", label_id(alice, "Outbound/Meltano")} <= labelled
    received = bob.ok("GET", "/messages", params={"q": 'subject:"Meltano e2e"'})["messages"]
    assert len(received) == 3  # plain, cc and bcc, labelled; the others go outside
    assert (tmp_path / "ledger.sqlite").exists()

    # The same run again: every record reaches the target, and nothing is sent twice.
    second = meltano_run(emu, tmp_path, "tap-jsonl-outbound", "target-gmail", **path)

    assert second.returncode == 0, second.stderr[-4000:]
    assert summary(second) == {"outbound_messages.unchanged": len(rows), "rejected": 0}
    assert stats(emu)["sends"]["total"] == len(rows)
    for row in rows:
        assert len(sent_with_subject(alice, row["subject"])) == 1, row["id"]

    # A line appended, with a field no earlier line had: only the new message is sent, and
    # whole (the tap's catalog is discovered again, not taken from Meltano's cache).
    extra = {
        "id": "meltano-e2e-5",
        "to": [BOB],
        "subject": "Meltano e2e: appended",
        "body": "plain +1",
        "body_html": "<p>html <b>+1</b></p>",
    }
    with source.open("a") as f:
        f.write(json.dumps(extra) + "\n")
    stat = source.stat()
    os.utime(source, (stat.st_atime, stat.st_mtime + 5))  # a newer file for tap-jsonl's state

    third = meltano_run(emu, tmp_path, "tap-jsonl-outbound", "target-gmail", **path)

    assert third.returncode == 0, third.stderr[-4000:]
    assert summary(third) == {
        "outbound_messages.applied": 1,
        "outbound_messages.unchanged": len(rows),
        "rejected": 0,
    }
    assert stats(emu)["sends"]["total"] == len(rows) + 1
    [appended] = sent_with_subject(alice, "Meltano e2e: appended")
    html = raw_message(alice, appended["id"]).get_body(("html",))
    assert html is not None and "<b>+1</b>" in html.get_content()


# ---- 2. tap-gmail auto-label target-gmail -----------------------------------------------


def test_auto_label_mapping_labels_exactly_the_matching_messages(emu, alice, tmp_path):
    matching = [
        insert(alice, "The Weekly Newsletter #12"),
        insert(alice, "NEWSLETTER: product updates", labels=("INBOX", "CATEGORY_PROMOTIONS")),
        insert(alice, "Re: your newsletters", labels=(label_id(alice, "Receipts"),)),  # no INBOX
    ]
    insert(alice, "News letter from Grandma")
    insert(alice, "Weekly digest")
    # A matching message in SENT: it must keep SENT and get the label too.
    mail = f"From: {ALICE}\r\nTo: {BOB}\r\nSubject: Draft of our newsletter\r\n\r\nhi\r\n"
    raw = base64.urlsafe_b64encode(mail.encode()).decode()
    matching.append(alice.ok("POST", "/messages/send", json={"raw": raw})["id"])
    before = {message_id: labels_of(alice, message_id) for message_id in all_message_ids(alice)}
    expected = {m for m in before if "newsletter" in subject_of(alice, m).lower()}
    assert expected == set(matching)  # the synthetic mailbox has no such subject of its own
    assert "SENT" in before[matching[-1]]
    reset_stats(emu)

    first = meltano_run(emu, tmp_path, "tap-gmail", "auto-label", "target-gmail")

    assert first.returncode == 0, first.stderr[-4000:]
    done = summary(first)
    assert done.get("label_changes.applied") == len(expected), done
    assert done.get("label_changes.unchanged") == len(before) - len(expected), done
    assert done["rejected"] == 0
    auto = label_id(alice, AUTO_LABEL)
    for message_id, had in before.items():
        wanted = had | {auto} if message_id in expected else had
        assert labels_of(alice, message_id) == wanted, message_id
    # One label change, one batchModify call; nothing message by message.
    assert calls(emu, "messages.batchModify") == 1
    assert calls(emu, "messages.modify") == 0
    assert calls(emu, "threads.modify") == 0
    assert calls(emu, "labels.create") == 2  # Auto, Auto/Newsletter
    assert calls(emu, "messages.send") == 0

    # Incremental: tap-gmail passes on the messages just labelled, which stay as they are,
    # and the tombstone of a deleted message, which target-gmail counts as unchanged.
    deleted = next(m for m in before if m not in expected)
    alice.ok("DELETE", f"/messages/{deleted}")
    del before[deleted]
    reset_stats(emu)
    second = meltano_run(emu, tmp_path, "tap-gmail", "auto-label", "target-gmail")

    assert second.returncode == 0, second.stderr[-4000:]
    assert "incremental from historyId" in second.stderr and "1 deleted" in second.stderr
    # The matching messages again, plus the deleted message's tombstone: nothing to apply.
    assert summary(second).get("label_changes.unchanged") == len(expected) + 1
    assert mutating_calls(emu) == 0
    for message_id, had in before.items():
        wanted = had | {auto} if message_id in expected else had
        assert labels_of(alice, message_id) == wanted, message_id


# ---- tap-gmail message records as the mapping leaves them ---------------------------------
# They carry thread_id, and SENT/DRAFT/CHAT in label_names: both must be taken in stride.


def _cpcal_run(emu, tmp_path, message_record: dict):
    config = target_config(
        emu, tmp_path, actions={"messages": "label_changes"}, create_missing_labels=True
    )
    return run_target(tmp_path, config, [schema("messages"), record("messages", message_record)])


def test_cpcal_message_record_with_thread_id_is_applied(emu, alice, tmp_path):
    message = alice.ok("GET", "/messages", params={"q": "in:inbox", "maxResults": 1})
    message_id, thread_id = message["messages"][0]["id"], message["messages"][0]["threadId"]
    current = sorted(labels_of(alice, message_id))
    tap_record = {
        "id": message_id,
        "mailbox": ALICE,
        "thread_id": thread_id,
        "label_ids": current,
        "label_names": [*current, AUTO_LABEL],
    }
    run = _cpcal_run(emu, tmp_path, tap_record)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "'label_changes.applied': 1" in run.stderr, run.stderr[-2000:]
    assert label_id(alice, AUTO_LABEL) in labels_of(alice, message_id)


def test_cpcal_record_of_a_sent_message_is_applied(emu, alice, tmp_path):
    mail = f"From: {ALICE}\r\nTo: {BOB}\r\nSubject: sent one\r\n\r\nhi\r\n"
    raw = base64.urlsafe_b64encode(mail.encode()).decode()
    message_id = alice.ok("POST", "/messages/send", json={"raw": raw})["id"]
    current = sorted(labels_of(alice, message_id))
    assert "SENT" in current
    tap_record = {
        "id": message_id,
        "mailbox": ALICE,
        "label_ids": current,
        "label_names": [*current, AUTO_LABEL],
    }
    run = _cpcal_run(emu, tmp_path, tap_record)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "'label_changes.applied': 1" in run.stderr, run.stderr[-2000:]
    assert label_id(alice, AUTO_LABEL) in labels_of(alice, message_id)
