"""Quota units of the threads stream: derived from the messages stream vs read on its own.

Goal (issue 10): messages + threads + labels cost at most 1.1x the units of the messages
stream alone, in a full and in an incremental run. Baselines measured in the same run:
the messages stream alone, and the threads stream read on its own (threads.list +
threads.get, what every run paid before derivation).
Usage: python bench/thread_quota.py [--messages 1000]
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).parent))
from tap_sync import select  # noqa: E402

BIN = Path(sys.executable).parent
USER = "alice@example.com"


def start_emulator(messages: int) -> tuple[subprocess.Popen, str]:
    args = [str(BIN / "gmail-emulator"), "--port", "0", "--users", USER, "--seed", "1"]
    args += ["--messages", str(messages), "--quota-units-per-second", "0"]
    process = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    url = re.search(r"listening on (\S+)", process.stdout.readline()).group(1)
    return process, url


def units(url: str) -> int:
    return requests.get(f"{url}/_emulator/stats", timeout=30).json()["quota_units"]["total"]


def reset(url: str) -> None:
    requests.post(f"{url}/_emulator/stats/reset", json={}, timeout=30).raise_for_status()


def catalog(work: Path, config: Path, streams: set[str]) -> str:
    """The path of a catalog selecting only ``streams``."""
    args = [str(BIN / "tap-gmail"), "--config", str(config)]
    return select(args, streams, work, "-".join(sorted(streams)))[-1]


def run(url: str, config: Path, streams: str, state: dict | None, work: Path) -> tuple[int, dict]:
    """Units spent by one tap run, and its final state."""
    args = [str(BIN / "tap-gmail"), "--config", str(config), "--catalog", str(streams)]
    if state:
        (work / "state.json").write_text(json.dumps(state))
        args += ["--state", str(work / "state.json")]
    reset(url)
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    last = {}
    for line in out.splitlines():
        message = json.loads(line)
        if message["type"] == "STATE":
            last = message["value"]
    return units(url), last


def apply_changes(url: str) -> None:
    """40 relabels, 30 new messages, 20 trashed, 10 deleted (as bench/tap_sync.py, goal c)."""
    token = requests.post(
        f"{url}/_emulator/auth/issue",
        json={"user": USER, "scopes": ["https://mail.google.com/"]},
        timeout=30,
    ).json()["access_token"]
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    root = f"{url}/gmail/v1/users/me"
    ids = [m["id"] for m in session.get(f"{root}/messages?maxResults=100", timeout=30).json()[
        "messages"]]  # fmt: skip
    label = session.post(f"{root}/labels", json={"name": "Bench"}, timeout=30).json()["id"]
    for message_id in ids[:40]:
        session.post(f"{root}/messages/{message_id}/modify", json={"addLabelIds": [label]})
    for n in range(30):
        raw = f"From: x@example.net\r\nTo: {USER}\r\nSubject: new {n}\r\n\r\nbody {n}\r\n"
        encoded = base64.urlsafe_b64encode(raw.encode()).decode()
        session.post(f"{root}/messages", json={"raw": encoded, "labelIds": ["INBOX"]})
    for message_id in ids[40:60]:
        session.post(f"{root}/messages/{message_id}/trash")
    for message_id in ids[60:70]:
        session.delete(f"{root}/messages/{message_id}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1000)
    args = parser.parse_args()
    process, url = start_emulator(args.messages)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            config = work / "config.json"
            creds = {"client_id": "c", "client_secret": "s", "refresh_token": "r"}
            config.write_text(json.dumps({"oauth_credentials": creds, "api_url": url,
                "token_url": f"{url}/token", "quota_units_per_second": 0,
                "thread_index_dir": str(work / "thread-index")}))  # fmt: skip
            no_index = work / "config-no-index.json"
            no_index.write_text(json.dumps({**json.loads(config.read_text()),
                "keep_thread_index": False}))  # fmt: skip
            messages = catalog(work, config, {"messages"})
            threads = catalog(work, config, {"threads"})
            every = catalog(work, config, {"messages", "threads", "labels"})
            full = {}
            states = {}
            runs = (("messages", messages, config), ("threads", threads, config),
                    ("all", every, config), ("no index", every, no_index))  # fmt: skip
            for name, streams, settings in runs:
                full[name], states[name] = run(url, settings, streams, None, work)
            apply_changes(url)
            incremental = {}
            for name, streams, settings in runs:
                incremental[name], _ = run(url, settings, streams, states[name], work)
    finally:
        process.kill()
    print(f"thread quota, {args.messages} messages; changes: 40 relabels, 30 new, "
          "20 trashed, 10 deleted")  # fmt: skip
    print("columns: units of the messages stream alone; of the threads stream alone; of all "
          "3 streams (threads derived, thread index kept); ratio to messages alone; all 3 "
          "streams without a thread index (keep_thread_index: false) and its ratio; the ratio "
          "before threads were derived (messages + threads alone)")  # fmt: skip
    print(f"{'run':<12}{'messages':>9}{'threads':>9}{'all 3':>8}{'ratio':>7}"
          f"{'no index':>9}{'ratio':>7}{'before':>8}  goal <= 1.10")  # fmt: skip
    for label, spent in (("full", full), ("incremental", incremental)):
        ratio = spent["all"] / spent["messages"]
        plain = spent["no index"] / spent["messages"]
        before = (spent["messages"] + spent["threads"]) / spent["messages"]
        verdict = "met" if ratio <= 1.1 else "MISSED"
        row = f"{label:<12}{spent['messages']:>9}{spent['threads']:>9}{spent['all']:>8}"
        row += f"{ratio:>7.2f}{spent['no index']:>9}{plain:>7.2f}{before:>8.2f}  {verdict}"
        print(row)


if __name__ == "__main__":
    main()
