"""`make demo`: the main pipeline, end to end, on this machine alone.

1. Start gmail-emulator with a seeded mailbox (Gmail's real quota of 250 units/s applies).
2. Apply this run's "new activity" (new mail, stars, reads, a trash and a delete). The
   emulator is deterministic, so run N replays rounds 1..N and only round N is new.
3. `meltano run tap-gmail target-duckdb` through the project's meltano.yml: the first run is
   a full sync, every later run is incremental from the stored historyId.
4. Print row counts and sample rows from output/gmail.duckdb.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import requests

ROOT = Path(__file__).resolve().parent.parent
MELTANO = ROOT / ".venv-meltano" / "bin" / "meltano"
OUTPUT = ROOT / "output"
ROUND_FILE = OUTPUT / "demo-round"
USER = "alice@example.com"


def start_emulator(port: int, messages: int) -> tuple[subprocess.Popen, str]:
    exe = Path(sys.executable).parent / "gmail-emulator"
    process = subprocess.Popen(
        [
            str(exe),
            "--port",
            str(port),
            "--users",
            USER,
            "--messages",
            str(messages),
            "--seed",
            "1",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    banner = process.stdout.readline()
    found = re.search(r"(http://127\.0\.0\.1:\d+)", banner)
    if not found:
        process.kill()
        sys.exit(f"demo: the emulator did not start: {banner}")
    print(banner.rstrip())
    return process, found.group(1)


def apply_activity(url: str, rounds: int) -> None:
    form = {
        "grant_type": "refresh_token",
        "client_id": "demo",
        "client_secret": "demo",
        "refresh_token": "demo",
    }
    token = requests.post(f"{url}/token", data=form, timeout=30).json()["access_token"]
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    session.request = _paced(session.request)
    api = f"{url}/gmail/v1/users/me"
    ids = [
        m["id"]
        for m in session.get(f"{api}/messages", params={"maxResults": 200}, timeout=30).json()[
            "messages"
        ]
    ]
    for r in range(1, rounds + 1):
        for i in range(3):
            raw = (
                f"From: Demo Sender <news@demo.example>\r\nTo: {USER}\r\n"
                f"Subject: Demo round {r}, message {i + 1}\r\n"
                f"Message-ID: <demo-{r}-{i}@demo.example>\r\n\r\nNew mail in round {r}.\r\n"
            )
            session.post(
                f"{api}/messages/import",
                json={
                    "raw": base64.urlsafe_b64encode(raw.encode()).decode(),
                    "labelIds": ["INBOX", "UNREAD"],
                },
                timeout=30,
            ).raise_for_status()
        pick = ids[(r * 7) % 150 : (r * 7) % 150 + 4]
        session.post(
            f"{api}/messages/batchModify",
            json={"ids": pick[:2], "addLabelIds": ["STARRED"], "removeLabelIds": ["UNREAD"]},
            timeout=30,
        ).raise_for_status()
        session.post(f"{api}/messages/{pick[2]}/trash", timeout=30).raise_for_status()
        session.delete(f"{api}/messages/{pick[3]}", timeout=30)


def _paced(request):
    """The demo's own setup calls wait out Gmail's per-second quota like any client must."""

    def send(*args, **kwargs):
        while True:
            response = request(*args, **kwargs)
            if response.status_code not in (403, 429):
                return response
            time.sleep(1.1)

    return send


def run_pipeline(url: str) -> None:
    env = dict(
        os.environ,
        TAP_GMAIL_API_URL=url,
        TAP_GMAIL_TOKEN_URL=f"{url}/token",
        MELTANO_LOG_LEVEL="warning",
    )
    started = time.perf_counter()
    result = subprocess.run(
        [str(MELTANO), "run", "tap-gmail", "target-duckdb"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        print(result.stderr[-4000:], file=sys.stderr)
        sys.exit(f"demo: meltano run failed (exit {result.returncode})")
    summary = [
        line
        for line in result.stderr.splitlines()
        if "full sync listed" in line
        or "incremental from historyId" in line
        or "| totals" in line.lower()
        or "total:" in line.lower()
    ]
    for line in summary[-6:]:
        print("  " + line.split("|")[-1].strip()[:160])
    print(f"meltano run tap-gmail target-duckdb: {elapsed:.1f} s")


def show_results() -> None:
    with duckdb.connect(str(OUTPUT / "gmail.duckdb"), read_only=True) as db:
        for table in ("messages", "threads", "labels"):
            count = db.execute(f"select count(*) from tap_gmail.{table}").fetchone()[0]
            print(f"  tap_gmail.{table}: {count} rows")
        deleted = db.execute(
            "select count(*) from tap_gmail.messages where _sdc_deleted_at is not null"
        ).fetchone()[0]
        print(f"  messages marked deleted (_sdc_deleted_at): {deleted}")
        print("latest messages:")
        rows = db.execute(
            'select internal_date, "from", subject, label_names from tap_gmail.messages '
            "where _sdc_deleted_at is null order by internal_date desc limit 5"
        ).fetchall()
        for when, sender, subject, labels in rows:
            names = ",".join(json.loads(labels)) if isinstance(labels, str) else labels
            print(f"  {str(when)[:19]}  {str(sender)[:28]:28}  {str(subject)[:40]:40}  {names}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--messages", type=int, default=1000)
    args = parser.parse_args()
    OUTPUT.mkdir(exist_ok=True)
    rounds = int(ROUND_FILE.read_text()) + 1 if ROUND_FILE.exists() else 1
    process, url = start_emulator(args.port, args.messages)
    try:
        apply_activity(url, rounds)
        kind = "full sync" if rounds == 1 else "incremental sync"
        print(
            f"demo run {rounds} ({kind}); round {rounds} activity: 3 new messages, "
            "2 starred+read, 1 trashed, 1 deleted"
        )
        run_pipeline(url)
        ROUND_FILE.write_text(str(rounds))
    finally:
        process.terminate()
        process.wait(10)
    print("output/gmail.duckdb:")
    show_results()
    print(
        "Run `make demo` again for an incremental run; `rm -rf output .meltano/meltano.db` "
        "starts over."
    )


if __name__ == "__main__":
    main()
