"""Outbound messages end to end: what lands in SENT, replies, and exactly-once."""

from __future__ import annotations

import base64
import email
import email.policy
import json

import pytest

from gmail_emulator import EmulatorConfig, start_emulator
from tests.conftest import Api, admin

from .harness import calls, mutating_calls, record, reset_stats, run_target, schema, target_config

ALICE, BOB = "alice@example.com", "bob@example.com"


@pytest.fixture
def emu():
    server = start_emulator(
        EmulatorConfig(users=[ALICE, BOB], messages=3, seed=9, quota_units_per_second=0)
    )
    yield server
    server.stop()


def config_with_token(emu, tmp_path, scope: str, **overrides) -> dict:
    """Target config whose refresh token grants alice only ``gmail.<scope>``."""
    token = f"{scope}-only-{tmp_path.name}"
    grant = {"refresh_token": token, "user": ALICE,
             "scopes": [f"https://www.googleapis.com/auth/gmail.{scope}"]}  # fmt: skip
    admin(emu, "auth", {"refresh_tokens": [grant]})
    config = target_config(emu, tmp_path, **overrides)
    config["oauth_credentials"]["refresh_token"] = token
    return config


def outbound(key: str, **fields) -> dict:
    return {"id": key, "to": [BOB], "subject": f"Hello {key}", "body": f"Body of {key}", **fields}


def sent_with_subject(api: Api, subject: str) -> list[dict]:
    answer = api.ok("GET", "/messages", params={"q": f'in:sent subject:"{subject}"'})
    return answer.get("messages", [])


def raw_message(api: Api, message_id: str) -> email.message.EmailMessage:
    raw = api.ok("GET", f"/messages/{message_id}", params={"format": "raw"})["raw"]
    return email.message_from_bytes(base64.urlsafe_b64decode(raw), policy=email.policy.default)


def test_send_with_html_attachment_and_labels(emu, alice, bob, tmp_path):
    attachment = b"%PDF-1.4 fake report \x00\x01\x02"
    message = outbound(
        "invoice-1",
        cc=[{"email": "carol@example.org", "name": "Carol Ä"}],
        bcc=["dave@example.net"],
        subject="Invoice №1",
        body_html="<p>Your <b>invoice</b></p>",
        attachments=[
            {
                "filename": "report.pdf",
                "mime_type": "application/pdf",
                "content_base64": base64.b64encode(attachment).decode(),
            }
        ],
        labels=["Billing"],
    )
    lines = [schema("outbound_messages"), record("outbound_messages", message)]
    run = run_target(tmp_path, target_config(emu, tmp_path, create_missing_labels=True), lines)
    assert run.returncode == 0, run.stderr
    [sent] = sent_with_subject(alice, "Invoice №1")
    parsed = raw_message(alice, sent["id"])
    assert parsed["To"] == BOB
    assert parsed["Subject"] == "Invoice №1"
    assert "Carol Ä" in str(parsed["Cc"])
    assert parsed["Message-ID"].startswith("<tg.")
    body = parsed.get_body(("plain",)).get_content()
    html = parsed.get_body(("html",)).get_content()
    assert "Body of invoice-1" in body and "<b>invoice</b>" in html
    [part] = list(parsed.iter_attachments())
    assert part.get_filename() == "report.pdf"
    assert part.get_content() == attachment
    labels = alice.ok("GET", f"/messages/{sent['id']}", params={"format": "minimal"})["labelIds"]
    billing = next(x["id"] for x in alice.ok("GET", "/labels")["labels"] if x["name"] == "Billing")
    assert "SENT" in labels and billing in labels
    # Delivered to bob without the Bcc header.
    [received] = bob.ok("GET", "/messages", params={"q": "subject:Invoice"})["messages"]
    assert raw_message(bob, received["id"])["Bcc"] is None


def test_reply_lands_in_the_thread(emu, alice, bob, tmp_path):
    first = outbound("thread-start", subject="Plans")
    lines = [schema("outbound_messages"), record("outbound_messages", first)]
    assert run_target(tmp_path, target_config(emu, tmp_path), lines).returncode == 0
    [original] = sent_with_subject(alice, "Plans")
    original_id = raw_message(alice, original["id"])["Message-ID"]
    reply = outbound(
        "thread-reply",
        subject="Re: Plans",
        thread_id=original["threadId"],
        in_reply_to=original_id,
    )
    lines = [schema("outbound_messages"), record("outbound_messages", reply)]
    assert run_target(tmp_path, target_config(emu, tmp_path), lines).returncode == 0
    thread = alice.ok("GET", f"/threads/{original['threadId']}", params={"format": "metadata"})
    assert len(thread["messages"]) == 2
    parsed = raw_message(alice, thread["messages"][1]["id"])
    assert parsed["In-Reply-To"] == original_id and parsed["References"] == original_id


def test_rerun_sends_nothing_again(emu, alice, tmp_path):
    lines = [schema("outbound_messages")]
    lines += [record("outbound_messages", outbound(f"k{n}")) for n in range(5)]
    lines.append(record("outbound_messages", outbound("k0")))  # duplicate key in the input
    config = target_config(emu, tmp_path)
    assert run_target(tmp_path, config, lines).returncode == 0
    assert calls(emu, "messages.send") == 5
    rerun = run_target(tmp_path, config, lines)
    assert rerun.returncode == 0, rerun.stderr
    assert calls(emu, "messages.send") == 5
    assert len(alice.ok("GET", "/messages", params={"q": "in:sent subject:Hello"})["messages"]) == 5


def test_key_reused_for_other_content_is_rejected(emu, tmp_path):
    config = target_config(emu, tmp_path)
    lines = [schema("outbound_messages"), record("outbound_messages", outbound("same"))]
    assert run_target(tmp_path, config, lines).returncode == 0
    changed = outbound("same", body="something else")
    run = run_target(tmp_path, config, [schema("outbound_messages"),
                                        record("outbound_messages", changed)])  # fmt: skip
    assert run.returncode != 0
    assert "already used for a different message" in run.stderr
    assert calls(emu, "messages.send") == 1


@pytest.mark.parametrize(
    "bad, reason",
    [
        ({"subject": "Hi\r\nBcc: victim@example.com"}, "header injection"),
        ({"to": ["bob@example.com\nBcc: x@example.com"]}, "header injection"),
        ({"to": ["not-an-address"]}, "not a valid email address"),
        ({"to": None}, "no recipient"),
        ({"id": ""}, "id"),
    ],
)
def test_invalid_outbound_records_are_rejected_unsent(emu, tmp_path, bad, reason):
    lines = [
        schema("outbound_messages"),
        record("outbound_messages", outbound("good")),
        record("outbound_messages", {**outbound("bad"), **bad}),
    ]
    reset_stats(emu)
    config = target_config(emu, tmp_path, on_invalid_record="skip")
    run = run_target(tmp_path, config, lines)
    assert run.returncode == 0, run.stderr
    [rejected] = [json.loads(x) for x in (tmp_path / "rejects.jsonl").read_text().splitlines()]
    assert reason in rejected["reason"]
    assert calls(emu, "messages.send") == 1


def test_oversize_message_is_rejected_before_sending(emu, tmp_path):
    big = base64.b64encode(b"\0" * (36 * 1024 * 1024)).decode()
    message = outbound("huge", attachments=[{"filename": "big.bin", "content_base64": big}])
    lines = [schema("outbound_messages"), record("outbound_messages", message)]
    reset_stats(emu)
    run = run_target(tmp_path, target_config(emu, tmp_path), lines)
    assert run.returncode != 0
    assert "35 MB" in run.stderr
    assert mutating_calls(emu) == 0


def test_lost_responses_never_duplicate_a_send(emu, alice, tmp_path):
    faults = {
        "fault_rate": 0.5,
        "fault_kinds": ["lost_response", "500", "reset"],
        "fault_methods": ["gmail.users.messages.send"],
        "fault_seed": 3,
    }
    admin(emu, "config", faults)
    lines = [schema("outbound_messages")]
    lines += [record("outbound_messages", outbound(f"flaky-{n}")) for n in range(12)]
    config = target_config(emu, tmp_path)
    run = run_target(tmp_path, config, lines)
    for _ in range(3):  # sends that stayed unresolved are finished by reruns
        if run.returncode == 0:
            break
        run = run_target(tmp_path, config, lines)
    assert run.returncode == 0, run.stderr
    faults = admin(emu, "stats")["faults"]["by_method_and_kind"]
    assert faults.get("gmail.users.messages.send:lost_response", 0) >= 1, faults
    for n in range(12):
        found = alice.ok("GET", "/messages", params={"q": f'in:sent subject:"Hello flaky-{n}"'})
        assert len(found.get("messages", [])) == 1, n


def test_send_only_token_is_enough_to_send(emu, alice, tmp_path):
    config = config_with_token(emu, tmp_path, "send", user_id=ALICE)
    lines = [schema("outbound_messages"), record("outbound_messages", outbound("s1"))]
    run = run_target(tmp_path, config, lines)
    assert run.returncode == 0, run.stderr
    assert len(sent_with_subject(alice, "Hello s1")) == 1


def test_readonly_token_cannot_send(emu, tmp_path):
    config = config_with_token(emu, tmp_path, "readonly")
    lines = [schema("outbound_messages"), record("outbound_messages", outbound("s1"))]
    run = run_target(tmp_path, config, lines)
    assert run.returncode != 0
    assert "gmail.send" in run.stderr
    assert calls(emu, "messages.send") == 0


def test_send_only_token_without_user_id_says_to_set_it(emu, tmp_path):
    config = config_with_token(emu, tmp_path, "send")
    lines = [schema("outbound_messages"), record("outbound_messages", outbound("s2"))]
    run = run_target(tmp_path, config, lines)
    assert run.returncode != 0
    assert "user_id" in run.stderr and "Traceback" not in run.stderr
    assert calls(emu, "messages.send") == 0


def test_labels_on_a_send_only_token_are_rejected_before_sending(emu, alice, tmp_path):
    config = config_with_token(emu, tmp_path, "send", user_id=ALICE, on_invalid_record="skip")
    message = outbound("labelled", labels=["Billing"])
    lines = [schema("outbound_messages"), record("outbound_messages", message)]
    run = run_target(tmp_path, config, lines)
    assert run.returncode == 0, run.stderr
    [rejected] = [json.loads(x) for x in (tmp_path / "rejects.jsonl").read_text().splitlines()]
    assert "gmail.modify" in rejected["reason"]
    assert calls(emu, "messages.send") == 0


@pytest.mark.parametrize(
    ("delays", "problem"),
    [([], "at least one"), ([-1], "-1"), ([0, "soon"], "soon"), ([0, 1e9], "1e+09")],
)
def test_unusable_reconcile_delays_are_a_config_error_not_a_duplicate_send(
    emu, alice, tmp_path, delays, problem
):
    # Every send runs in Gmail but its answer is lost. With no reconcile search at all
    # (``[]``) the target used to resend blindly: the same key was in SENT 4 times; a
    # negative delay crashed with a traceback in the middle of the reconcile.
    admin(emu, "config", {"fault_rate": 1.0, "fault_kinds": ["lost_response"],
                          "fault_methods": ["gmail.users.messages.send"]})  # fmt: skip
    lines = [schema("outbound_messages"), record("outbound_messages", outbound("lost-1"))]
    config = target_config(emu, tmp_path, reconcile_delays_s=delays)
    run = run_target(tmp_path, config, lines)
    assert run.returncode != 0
    assert "Traceback" not in run.stderr, run.stderr[-3000:]
    assert "reconcile_delays_s" in run.stderr and problem in run.stderr, run.stderr[-3000:]
    assert calls(emu, "messages.send") == 0
    assert sent_with_subject(alice, "Hello lost-1") == []


@pytest.mark.parametrize("parallel", [0, -2])
def test_max_parallel_mailboxes_below_one_is_a_config_error(emu, tmp_path, parallel):
    lines = [schema("outbound_messages"), record("outbound_messages", outbound("p-1"))]
    config = target_config(emu, tmp_path, max_parallel_mailboxes=parallel)
    run = run_target(tmp_path, config, lines)
    assert run.returncode != 0 and "Traceback" not in run.stderr, run.stderr[-3000:]
    assert "setting `max_parallel_mailboxes`" in run.stderr, run.stderr[-3000:]
    assert calls(emu, "messages.send") == 0


def test_user_id_of_another_mailbox_is_a_config_error_before_any_write(emu, bob, tmp_path):
    # alice's token with user_id bob: Gmail answers "Delegation denied" (403 forbidden) to
    # every call, getProfile included. That is a wrong setting, not a send-only token (whose
    # getProfile is 403 insufficientPermissions, so it cannot be checked and is trusted).
    config = config_with_token(emu, tmp_path, "modify", user_id=BOB)
    lines = [schema("outbound_messages"), record("outbound_messages", outbound("wrong-box"))]
    run = run_target(tmp_path, config, lines)
    assert run.returncode != 0
    assert "Traceback" not in run.stderr, run.stderr[-3000:]
    assert "setting `user_id`" in run.stderr, run.stderr[-3000:]
    assert "Delegation denied" in run.stderr and "To fix: set user_id" in run.stderr
    assert calls(emu, "messages.send") == 0
    assert sent_with_subject(bob, "Hello wrong-box") == []
