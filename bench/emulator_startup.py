"""Emulator start-up time and request throughput, measured in one run.

Goal (issue 2): ready to serve in under 2 s with 10,000 messages. The baseline is the same
process with an empty mailbox, so the ratio shows what seeding costs on this machine.
Usage: python bench/emulator_startup.py [--messages 10000]
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests


def start(messages: int) -> tuple[float, subprocess.Popen, str]:
    exe = shutil.which("gmail-emulator", path=str(Path(sys.executable).parent))
    began = time.perf_counter()
    process = subprocess.Popen(
        [
            exe,
            "--port",
            "0",
            "--messages",
            str(messages),
            "--quota-units-per-second",
            "0",
            "--max-concurrent",
            "0",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    line = process.stdout.readline()
    url = re.search(r"(http://127\.0\.0\.1:\d+)", line).group(1)
    requests.get(f"{url}/_emulator/health", timeout=30).raise_for_status()
    return time.perf_counter() - began, process, url


def throughput(url: str, seconds: float = 3.0, workers: int = 4) -> float:
    form = {
        "grant_type": "refresh_token",
        "client_id": "c",
        "client_secret": "s",
        "refresh_token": "r",
    }
    token = requests.post(f"{url}/token", data=form).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    ids = [
        m["id"]
        for m in requests.get(
            f"{url}/gmail/v1/users/me/messages", params={"maxResults": 500}, headers=headers
        ).json()["messages"]
    ]
    deadline = time.perf_counter() + seconds

    def worker(offset: int) -> int:
        session = requests.Session()
        session.headers.update(headers)
        done = 0
        while time.perf_counter() < deadline:
            msg_id = ids[(offset + done) % len(ids)]
            session.get(f"{url}/gmail/v1/users/me/messages/{msg_id}").raise_for_status()
            done += 1
        return done

    with ThreadPoolExecutor(workers) as pool:
        total = sum(pool.map(worker, range(0, workers * 97, 97)))
    return total / seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=10_000)
    args = parser.parse_args()
    base_s, base_proc, _ = start(0)
    base_proc.terminate()
    seeded_s, proc, url = start(args.messages)
    try:
        rate = throughput(url)
    finally:
        proc.terminate()
    print(f"start-up, empty mailbox (baseline): {base_s:.2f} s")
    print(
        f"start-up, {args.messages} messages:    {seeded_s:.2f} s "
        f"(x{seeded_s / base_s:.1f} baseline; goal < 2 s: {'met' if seeded_s < 2 else 'MISSED'})"
    )
    print(f"messages.get (format=full), 4 client threads: {rate:.0f} calls/s")


if __name__ == "__main__":
    main()
