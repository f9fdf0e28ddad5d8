"""tap-gmail against gmail-emulator: throughput, CPU, incremental quota spend, peak memory.

Goals, each printed next to a baseline measured in the same run:
  (a) full sync at 100 ms latency and 250 units/s reaches >= 90% of the quota bound (50 msgs/s)
      and surfaces no quota error; baseline: a naive sequential messages.get loop.
  (b) < 0.25 ms tap CPU per message (no latency, no quota); baseline: msgspec decode+encode of
      the same RECORD lines in a bare Python process.
  (c) an incremental run after 100 changes spends <= 2x the ideal units
      (2 per history page + 5 per changed message that must be fetched).
  (d) peak RSS < 200 MB at 50,000 messages, and flat against 5,000.
Usage: python bench/tap_sync.py [--quick] [--only a,b,c,d]
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import requests

BIN = Path(sys.executable).parent
USER = "alice@example.com"
CREDS = {"client_id": "c", "client_secret": "s", "refresh_token": "r"}
EMITTER = """import sys, msgspec
decode, encode = msgspec.json.Decoder().decode, msgspec.json.Encoder().encode
for line in open(sys.argv[1], "rb"):
    sys.stdout.buffer.write(encode(decode(line)) + b"\\n")
"""


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def short(by_method: dict) -> dict:
    return {k.removeprefix("gmail.users."): v for k, v in sorted(by_method.items())}


def cpu_s(before, after) -> float:
    return after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


@contextlib.contextmanager
def emulator(messages: int, latency_ms: float = 0, quota: float = 0, users=(USER,)):
    """``messages`` per user; ``quota`` per user (0: none)."""
    args = [str(BIN / "gmail-emulator"), "--port", "0", "--users", ",".join(users), "--seed", "1"]
    args += ["--messages", str(messages), "--latency-ms", str(latency_ms)]
    args += ["--quota-units-per-second", str(quota)]
    process = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        if not (match := re.search(r"(http://127\.0\.0\.1:\d+)", line)):
            raise RuntimeError(f"gmail-emulator did not start: {line!r}")
        yield match.group(1)
    finally:
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=10)
        process.kill()  # no-op once it has exited
        process.wait()


def stats(url: str) -> dict:
    return requests.get(f"{url}/_emulator/stats", timeout=30).json()


def reset(url: str) -> None:
    requests.post(f"{url}/_emulator/stats/reset", json={}, timeout=30).raise_for_status()


def api(url: str) -> tuple[requests.Session, str, list[str]]:
    """A session with a token, the users/me root, and the first 500 listed message ids."""
    form = {"grant_type": "refresh_token", **CREDS}
    token = requests.post(f"{url}/token", data=form, timeout=30).json()["access_token"]
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    root = f"{url}/gmail/v1/users/me"
    page = session.get(f"{root}/messages", params={"maxResults": 500}, timeout=30).json()
    return session, root, [m["id"] for m in page["messages"]]


@dataclass
class TapRun:
    returncode: int = 0
    wall_s: float = 0.0
    cpu_s: float = 0.0
    peak_rss_mb: float = 0.0
    counts: Counter = field(default_factory=Counter)  # RECORD lines per stream
    started: dict = field(default_factory=dict)  # stream -> when its SCHEMA was read
    last: dict = field(default_factory=dict)  # stream -> when its last RECORD was read
    state: dict | None = None  # the last STATE message's value
    stderr: str = ""


def vm_hwm_mb(pid: int) -> float | None:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return None


def select(args: list[str], only, work: Path, name: str, env=None) -> list[str]:
    """``args`` plus a catalog selecting only the streams in ``only`` (None: as discovered)."""
    if only is None:
        return args
    found = subprocess.run([*args, "--discover"], capture_output=True, env=env, check=True)
    catalog = json.loads(found.stdout)
    for stream in catalog["streams"]:
        for entry in stream["metadata"]:
            if entry["breadcrumb"] == []:
                entry["metadata"]["selected"] = stream["tap_stream_id"] in only
    (work / f"catalog-{name}.json").write_text(json.dumps(catalog))
    return [*args, "--catalog", str(work / f"catalog-{name}.json")]


def run_tap(url, work: Path, quota=0, fmt=None, state=None, only=None, tee=None) -> TapRun:
    """Run tap-gmail, streaming stdout (nothing buffered); CPU is the RUSAGE_CHILDREN delta."""
    config = {"oauth_credentials": CREDS, "api_url": url, "token_url": f"{url}/token"}
    config["thread_index_dir"] = str(work / "thread-index")  # not in the directory run from
    config.update(quota_units_per_second=quota, **({"message_format": fmt} if fmt else {}))
    (work / "config.json").write_text(json.dumps(config))
    args = [str(BIN / "tap-gmail"), "--config", str(work / "config.json")]
    if state:
        (work / "state.json").write_text(json.dumps(state))
        args += ["--state", str(work / "state.json")]
    return run_process(select(args, only or None, work, "run"), work, tee=tee)


RECORD_LINE = re.compile(rb'^\{"type": ?"RECORD", ?"stream": ?"([^"]+)"')


def run_process(args: list[str], work: Path, env: dict | None = None, tee=None) -> TapRun:
    """Run a Singer tap, streaming stdout (nothing buffered); CPU is the RUSAGE_CHILDREN delta.

    Reads compact (msgspec) and spaced (json.dumps) Singer lines alike.
    """
    run, stop, state_line = TapRun(), threading.Event(), None
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(work / "stderr.log", "w+b") as err:
        began = time.perf_counter()
        process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=err, env=env)

        def poll_rss() -> None:  # VmHWM: the tap's own high-water mark; the last read wins
            while (peak := vm_hwm_mb(process.pid)) is not None:
                run.peak_rss_mb = max(run.peak_rss_mb, peak)
                if stop.wait(0.05):
                    break

        poller = threading.Thread(target=poll_rss, daemon=True)
        poller.start()
        for line in process.stdout:
            now = time.perf_counter()
            if record := RECORD_LINE.match(line):
                stream = record.group(1).decode()
                run.counts[stream] += 1
                run.last[stream] = now
                if tee:
                    tee.write(line)
            elif line.startswith((b'{"type":"STATE"', b'{"type": "STATE"')):
                state_line = line
            elif line.startswith((b'{"type":"SCHEMA"', b'{"type": "SCHEMA"')):
                run.started.setdefault(json.loads(line)["stream"], now)
        run.peak_rss_mb = max(run.peak_rss_mb, vm_hwm_mb(process.pid) or 0)
        stop.set()
        poller.join()
        run.returncode = process.wait()
        run.wall_s = time.perf_counter() - began
        run.cpu_s = cpu_s(before, resource.getrusage(resource.RUSAGE_CHILDREN))
        err.seek(0)
        run.stderr = err.read().decode(errors="replace")
    run.state = json.loads(state_line)["value"] if state_line else None
    return run


def health(run: TapRun) -> str:
    totals = re.search(r"gmail totals: .*? (\d+ errors, \d+ retries)", run.stderr)
    logs = Counter(re.findall(r"\| (ERROR|WARNING) ", run.stderr))
    tally = f"{logs['ERROR']} ERROR + {logs['WARNING']} WARNING log lines, tap's own metrics: "
    return f"exit {run.returncode}, {tally}{totals.group(1) if totals else 'no summary'}"


def bench_a(quick: bool, work: Path) -> None:
    n, naive_n, bound = (300, 30, 250 / 5) if quick else (2000, 200, 250 / 5)
    with emulator(n, latency_ms=100, quota=250) as url:
        session, root, ids = api(url)
        began = time.perf_counter()
        for msg_id in ids[:naive_n]:
            session.get(f"{root}/messages/{msg_id}", timeout=30).raise_for_status()
        naive = naive_n / (time.perf_counter() - began)
        reset(url)
        run = run_tap(url, work, quota=250)
        snapshot = stats(url)
    msgs = run.counts["messages"]
    window = run.last["messages"] - run.started["messages"] if msgs else float("nan")
    rate = msgs / window
    listed = re.search(r"full sync listed (\d+) messages in ([\d.]+) s", run.stderr)
    statuses = short(snapshot["calls"]["status_by_method"])
    rejected = {m: {c: k for c, k in s.items() if c in ("403", "429")} for m, s in statuses.items()}
    rejected = {method: codes for method, codes in rejected.items() if codes}
    absorbed = sum(sum(codes.values()) for codes in rejected.values())
    surfaced = run.returncode != 0 or "| ERROR " in run.stderr
    tap_log = f"listed {listed.group(1)} in {listed.group(2)} s" if listed else "no 'listed' line"
    print(f"(a) full sync, {n}-message mailbox, emulator latency 100 ms + 250 units/s; tap 250 u/s")
    print(f"  baseline: naive sequential messages.get, {naive_n} calls: {naive:.1f} msgs/s")
    print(f"  tap messages stream: {msgs} records in {window:.1f} s (its SCHEMA to last RECORD)")
    print(f"    = {rate:.1f} msgs/s (tap's own log: {tap_log}); x{rate / naive:.1f} naive")
    share = f"{100 * rate / bound:.1f}% of the {bound:.0f} msgs/s quota bound"
    print(f"    = {share} (goal >= 90%: {verdict(rate >= 0.9 * bound)})")
    print(f"  tap wall time, all streams: {run.wall_s:.1f} s; records {dict(run.counts)}")
    print(f"  quota errors surfaced: {'YES' if surfaced else 0} (goal 0: {verdict(not surfaced)})")
    print(f"    {health(run)}")
    print(f"  quota rejections absorbed (403/429 from emulator, retried by tap): {absorbed}")
    print(f"    {rejected}; emulator quota.rejections {snapshot['quota']['rejections']}")


_RUNS: dict[int, tuple[TapRun, Path]] = {}


def full_run(n: int, work: Path, keep: bool = False) -> tuple[TapRun, Path]:
    """No latency, no quota, format full; ``keep`` tees RECORD lines to a file. Cached by n."""
    if n not in _RUNS:
        records = work / f"records-{n}.jsonl"
        with emulator(n) as url, open(records if keep else "/dev/null", "wb") as tee:
            _RUNS[n] = run_tap(url, work, tee=tee), records
    return _RUNS[n]


def bench_b(quick: bool, work: Path) -> None:
    n = 1000 if quick else 5000
    with emulator(0) as url:
        empty = run_tap(url, work)
    run, records = full_run(n, work, keep=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, "-c", EMITTER, records], stdout=subprocess.DEVNULL, check=True)
    base_cpu = cpu_s(before, resource.getrusage(resource.RUSAGE_CHILDREN))
    msgs, total = run.counts["messages"], sum(run.counts.values())
    per_msg, marginal = 1000 * run.cpu_s / msgs, 1000 * (run.cpu_s - empty.cpu_s) / msgs
    per_record, base_per_record = 1000 * run.cpu_s / total, 1000 * base_cpu / total
    print(f"(b) tap CPU, {n}-message mailbox, no latency, no quota, message_format full")
    print(f"  records per stream: {dict(run.counts)}; {health(run)}")
    print(f"  tap user+sys CPU {run.cpu_s:.2f} s ({run.wall_s:.1f} s wall) / {msgs} messages")
    print(f"    = {per_msg:.3f} ms per message (goal < 0.25 ms: {verdict(per_msg < 0.25)})")
    print(f"    start-up alone (same tap, empty mailbox) {empty.cpu_s:.2f} s CPU")
    print(f"    marginal (minus start-up) {marginal:.3f} ms per message")
    print(f"  baseline: msgspec decode+encode of the same {total} RECORD lines, bare python:")
    print(f"    {base_cpu:.2f} s = {base_per_record:.4f} ms/record")
    ratio = per_record / base_per_record
    print(f"    tap {per_record:.3f} ms/record (all streams) = x{ratio:.1f} baseline")


def apply_changes(url: str) -> Counter:
    """40 label modifies, 30 inserts, 20 trashes, 10 deletes, on distinct messages."""
    session, root, ids = api(url)
    label = session.post(f"{root}/labels", json={"name": "bench-incremental"}).json()["id"]
    calls = [("modify", "POST", f"messages/{i}/modify", {"addLabelIds": [label]}) for i in ids[:40]]
    for k in range(30):
        mime = f"From: bench@example.com\r\nTo: {USER}\r\nSubject: bench {k}\r\n\r\nhello {k}\r\n"
        raw = base64.urlsafe_b64encode(mime.encode()).decode()
        calls.append(("insert", "POST", "messages", {"raw": raw, "labelIds": ["INBOX"]}))
    calls += [("trash", "POST", f"messages/{i}/trash", None) for i in ids[40:60]]
    calls += [("delete", "DELETE", f"messages/{i}", None) for i in ids[60:70]]
    for _, method, path, body in calls:
        session.request(method, f"{root}/{path}", json=body, timeout=30).raise_for_status()
    return Counter(kind for kind, *_ in calls)


def read_history(url: str, start: int) -> tuple[int, set, set]:
    """history.list pages of 500 since ``start``; ids the tap must fetch, and deleted ids."""
    session, root, _ = api(url)
    pages, token, touched, deleted = 0, None, set(), set()
    while True:
        params = {"startHistoryId": start, "maxResults": 500, "pageToken": token}
        page = session.get(f"{root}/history", params=params, timeout=30).json()
        pages += 1
        for record in page.get("history", []):
            deleted |= {e["message"]["id"] for e in record.get("messagesDeleted", [])}
            for key in ("messagesAdded", "labelsAdded", "labelsRemoved"):
                touched |= {e["message"]["id"] for e in record.get(key, [])}
        if not (token := page.get("nextPageToken")):
            return pages, touched - deleted, deleted


def bench_c(quick: bool, work: Path) -> None:
    n = 1000 if quick else 10_000
    with emulator(n) as url:
        full = run_tap(url, work, fmt="metadata")
        state = full.state
        changes = apply_changes(url)
        bookmark = state["bookmarks"]["messages"]["partitions"][0]["replication_key_value"]
        pages, touched, deleted = read_history(url, bookmark)
        reset(url)
        both = run_tap(url, work, fmt="metadata", state=state)
        overall = stats(url)["quota_units"]
        reset(url)
        alone = run_tap(url, work, fmt="metadata", state=state, only={"messages"})
        messages = stats(url)["quota_units"]
    ideal = 2 * pages + 5 * len(touched)
    rest = Counter(short(overall["by_method"]))
    rest.subtract(short(messages["by_method"]))
    ratio, overall_ratio = messages["total"] / ideal, overall["total"] / ideal
    print(f"(c) incremental quota after 100 changes, {n}-message mailbox, message_format metadata")
    print(f"  full sync first: records {dict(full.counts)} in {full.wall_s:.1f} s; {health(full)}")
    print(f"  changes applied: {dict(changes)}")
    print(f"    -> {len(touched)} ids to fetch, {len(deleted)} deleted, {pages} history page(s)")
    print(f"  ideal (messages stream) = 2 x {pages} page(s) + 5 x {len(touched)} = {ideal} units")
    print(f"  MESSAGES STREAM ONLY (a catalog selects it alone): {messages['total']} units")
    print(f"    {short(messages['by_method'])}; records {dict(alone.counts)}")
    print(f"    actual/ideal x{ratio:.2f} (goal <= 2x: {verdict(ratio <= 2)})")
    print(f"  ALL STREAMS (a normal run): {overall['total']} units; records {dict(both.counts)}")
    print(f"    {short(overall['by_method'])}; {health(both)}")
    print(f"    of which threads + labels (all-streams run minus messages-only): {dict(+rest)}")
    print(f"    actual/ideal x{overall_ratio:.2f} (ideal counts the messages stream only)")


def bench_d(quick: bool, work: Path) -> None:
    if quick:
        print("(d) peak RSS: skipped with --quick")
        return
    small, _ = full_run(5000, work)
    big, _ = full_run(50_000, work)
    ratio = big.peak_rss_mb / small.peak_rss_mb
    print("(d) tap peak RSS (VmHWM polled every 50 ms), no latency, no quota, message_format full")
    print(f"  5,000 messages (baseline): {small.peak_rss_mb:.0f} MB; records {dict(small.counts)}")
    print(f"  50,000 messages: {big.peak_rss_mb:.0f} MB; records {dict(big.counts)}")
    print(f"    {big.wall_s:.0f} s wall, {big.cpu_s:.0f} s CPU; {health(big)}")
    print(f"  goal < 200 MB at 50k: {verdict(big.peak_rss_mb < 200)}")
    print(f"  50k/5k x{ratio:.2f} (goal flat, <= 1.25: {verdict(ratio <= 1.25)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller mailboxes; skips (d)")
    parser.add_argument("--only", default="a,b,c,d", help="comma-separated sections, e.g. a,c")
    args = parser.parse_args()
    sections = {"a": bench_a, "b": bench_b, "c": bench_c, "d": bench_d}
    asked = {s.strip() for s in args.only.split(",") if s.strip()}
    if unknown := asked - set(sections):
        parser.error(f"unknown section(s) {sorted(unknown)}; choose from a,b,c,d")
    with tempfile.TemporaryDirectory(prefix="tap-sync-bench-") as tmp:
        for name in [name for name in sections if name in asked]:  # (d) reuses (b)'s 5k run
            sections[name](args.quick, Path(tmp))
            print(flush=True)


if __name__ == "__main__":
    main()
