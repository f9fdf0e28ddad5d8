"""A cheap stand-in for `meltano run`: logs its start (with the mailbox's historyId as the
emulator has it then), sleeps, logs its end. Fails its first FAIL_FIRST runs.

    python fake_sync.py LOG EMULATOR_URL MAILBOX SLEEP_S [FAIL_FIRST]
"""

import json
import os
import sys
import time
import urllib.request

log, url, mailbox, sleep_s = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
fail_first = int(sys.argv[5]) if len(sys.argv) > 5 else 0


def write(entry: dict) -> None:
    with open(log, "a", encoding="utf-8") as out:
        out.write(json.dumps(entry) + "\n")


with urllib.request.urlopen(f"{url}/_emulator/stats", timeout=10) as answer:
    stats = json.load(answer)
history_id = stats["mailboxes"][mailbox]["history_id"]
runs = 0
if os.path.exists(log):
    with open(log, encoding="utf-8") as existing:
        runs = sum(1 for line in existing if '"start"' in line)
write(
    {
        "event": "start",
        "t": time.time(),
        "pid": os.getpid(),
        "history_id": history_id,
        "mailbox_env": os.environ.get("GMAIL_PUSH_MAILBOX"),
    }
)
time.sleep(sleep_s)
failing = runs < fail_first
write({"event": "end", "t": time.time(), "pid": os.getpid(), "ok": not failing})
sys.exit(1 if failing else 0)
