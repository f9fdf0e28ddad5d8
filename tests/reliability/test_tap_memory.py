"""Peak memory of an incremental sync stays flat in the number of changed messages.

The emulator runs as its own process so that only the tap's allocations are traced.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import tracemalloc

import pytest
import requests

from gmail_core.client import clients_from_config
from gmail_core.metrics import Metrics
from tap_gmail.checkpoint import Checkpoint
from tap_gmail.query import MessageQuery
from tap_gmail.sync import MailboxSync
from tests.reliability.conftest import FULL
from tests.tap.conftest import tap_config

pytestmark = pytest.mark.timeout(600)
SMALL, LARGE = (1000, 8000) if FULL else (600, 3000)


@pytest.fixture(scope="module")
def emulator_process():
    exe = os.path.join(os.path.dirname(sys.executable), "gmail-emulator")
    process = subprocess.Popen(
        [exe, "--port", "0", "--messages", str(LARGE * 5 // 4), "--quota-units-per-second", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = re.search(r"listening on (\S+)", process.stdout.readline()).group(1)

    class Server:
        pass

    server = Server()
    server.url, server.token_url = url, f"{url}/token"
    yield server
    process.kill()
    process.wait(10)


def _relabel(server, count: int) -> None:
    token = requests.post(
        f"{server.url}/_emulator/auth/issue",
        json={"user": "alice@example.com", "scopes": ["https://mail.google.com/"]},
        timeout=30,
    ).json()["access_token"]
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    root = f"{server.url}/gmail/v1/users/me"
    ids, page_token = [], None
    while len(ids) < count:
        params = {"maxResults": 500, **({"pageToken": page_token} if page_token else {})}
        page = session.get(f"{root}/messages", params=params, timeout=30).json()
        ids += [m["id"] for m in page["messages"]]
        page_token = page["nextPageToken"]
    label = session.post(f"{root}/labels", json={"name": f"Memory {count}"}, timeout=30).json()
    for start in range(0, count, 1000):
        body = {"ids": ids[start : min(start + 1000, count)], "addLabelIds": [label["id"]]}
        session.post(f"{root}/messages/batchModify", json=body, timeout=60).raise_for_status()


def _peak_of_incremental(server, changed: int) -> tuple[int, int]:
    (client,) = clients_from_config(tap_config(server), [], Metrics())
    sync = MailboxSync(client, MessageQuery(), logging.getLogger("memory-test"))
    start = int(client.call("getProfile", "GET", "profile")["historyId"])
    _relabel(server, changed)
    tracemalloc.start()
    records = 0
    try:
        for item in sync.messages({"replication_key_value": start}):
            if not isinstance(item, Checkpoint):
                records += 1  # written and dropped, as the SDK's writer does
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return records, peak


def test_incremental_peak_memory_is_flat_in_changed_messages(emulator_process):
    small_records, small_peak = _peak_of_incremental(emulator_process, SMALL)
    large_records, large_peak = _peak_of_incremental(emulator_process, LARGE)
    assert (small_records, large_records) == (SMALL, LARGE)
    ratio = large_peak / small_peak
    print(
        f"incremental peak traced memory: {SMALL} changed {small_peak / 1e6:.1f} MB, "
        f"{LARGE} changed {large_peak / 1e6:.1f} MB (x{ratio:.2f} for x{LARGE / SMALL:.0f})"
    )
    assert ratio < 1.6, "peak memory grows with the number of changed messages"
