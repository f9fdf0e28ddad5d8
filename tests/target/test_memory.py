"""What a pending auto-label batch holds per record: the change, not the CP-CAL message.

The label-change sink holds up to 50,000 records before applying them. tap-gmail's message
records carry bodies of many KB, so memory must not grow with the body size: tracemalloc
measures what stays allocated after N records went through the SDK into the sink.
"""

from __future__ import annotations

import gc
import tracemalloc

import pytest

from gmail_emulator import EmulatorConfig, start_emulator
from target_gmail.target import TargetGmail

from .harness import schema, target_config

N = 2000
BODY = 20_000  # characters of body_text and of body_html per record


@pytest.fixture
def emu():
    server = start_emulator(EmulatorConfig(users=["alice@example.com"], messages=0))
    yield server
    server.stop()


def cpcal(n: int) -> dict:
    return {
        "type": "RECORD",
        "stream": "messages",
        "record": {
            "id": f"{n:016x}",
            "mailbox": "alice@example.com",
            "thread_id": f"{n:016x}",
            "subject": f"Newsletter {n}",
            "body": "x" * BODY,
            "body_text": "y" * BODY,
            "body_html": "<p>" + "z" * BODY + "</p>",
            "snippet": "s" * 200,
            "label_ids": ["INBOX", "UNREAD", "Label_1"],
            "label_names": ["INBOX", "UNREAD", "Work", "Auto/Newsletter"],
            "to": [{"name": "Bob", "email": "bob@example.com"}],
            "metadata": {"threadId": f"{n:016x}", "labelIds": ["INBOX"], "historyId": n},
        },
    }


def test_pending_label_changes_hold_no_bodies(emu, tmp_path):
    config = target_config(emu, tmp_path, actions={"messages": "label_changes"})
    target = TargetGmail(config=config, validate_config=False)
    target._process_schema_message(schema("messages"))
    target._process_record_message(cpcal(0))  # sink and mailbox set up before measuring
    gc.collect()
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        for n in range(1, N + 1):
            target._process_record_message(cpcal(n))
        gc.collect()
        after, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    sink = target.get_sink("messages")
    assert len(sink._pending_batch["records"]) == N + 1  # nothing applied yet
    per_record = (after - before) / N
    print(f"retained {per_record:.0f} B per record, peak {peak - before} B")
    # One record brings 60 KB of text; what stays is its ids and label names (shared).
    assert per_record < 1024, per_record
    # And the peak is one record in flight plus what stays: flat in N.
    assert peak - before < N * 1024 + 20 * 3 * BODY, peak - before
