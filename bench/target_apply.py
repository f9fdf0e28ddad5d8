"""target-gmail against gmail-emulator: label-change calls and units, send rate, dry-run speed.

Goals, each printed next to a baseline measured in the same run:
  (a) 10,000 label changes on 10,000 messages in 3 change sets cost <= 15 API calls and
      <= 1,000 quota units (emulator and target at 250 units/s); baseline: naive per-message
      messages.modify (10,000 calls, 50,000 units), timed on a sample and extrapolated.
  (b) sends reach >= 90% of the per-mailbox quota bound (250 u/s / 100 u = 2.5 sends/s) with
      no quota error surfaced to the user; again with a 10 s quota window when both emulator
      and target have ``quota_window_s`` (a strict 1 s window fits 2 sends/s at most: 80%).
  (c) a dry run plans >= 10,000 label-change records/s (in process, no subprocess start-up);
      baseline: singer-sdk's default jsonschema validator vs the target's compiled check.
Usage: python bench/target_apply.py [--quick] [--json]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
from singer_sdk.sinks.core import JSONSchemaValidator

from gmail_core.schemas import load_schema
from gmail_emulator import EmulatorConfig, start_emulator
from target_gmail.records import RecordValidator
from target_gmail.settings import CONFIG_SCHEMA
from target_gmail.target import TargetGmail

TARGET = str(Path(sys.executable).parent / "target-gmail")
ALICE, BOB = "alice@example.com", "bob@example.com"
CREDS = {"client_id": "bench", "client_secret": "s", "refresh_token": "r"}
CHANGE_SETS = (  # (add, remove): every message gets exactly one of these
    (["BenchAlpha"], []),
    (["BenchBeta"], ["INBOX"]),
    ([], ["UNREAD"]),
)
RESULTS: dict = {}


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def short(by_method: dict) -> dict:
    return {k.removeprefix("gmail.users."): v for k, v in sorted(by_method.items())}


@contextlib.contextmanager
def emulator(**options):
    began = time.perf_counter()
    server = start_emulator(EmulatorConfig(**options))
    try:
        yield server, time.perf_counter() - began
    finally:
        server.stop()


def stats(server) -> dict:
    return requests.get(f"{server.url}/_emulator/stats", timeout=30).json()


def reset(server) -> None:
    requests.post(f"{server.url}/_emulator/stats/reset", timeout=30).raise_for_status()


class Api:
    """Alice's mailbox through plain requests and an emulator-issued token, paced at 250 u/s."""

    def __init__(self, server, rate: float = 250):
        issued = requests.post(f"{server.url}/_emulator/auth/issue", json={"user": ALICE}).json()
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {issued['access_token']}"
        self.root = f"{server.url}/gmail/v1/users/me"
        self.rate, self.next_at, self.refused = rate, time.perf_counter(), 0

    def call(self, method: str, path: str, units: int = 5, **kwargs) -> dict:
        while True:
            time.sleep(max(0.0, self.next_at - time.perf_counter()))
            self.next_at = max(self.next_at, time.perf_counter()) + units / self.rate
            answer = self.session.request(method, f"{self.root}/{path}", timeout=30, **kwargs)
            if answer.status_code not in (403, 429):
                answer.raise_for_status()
                return answer.json() if answer.content else {}
            self.refused += 1  # a strict 1 s window refuses on arrival jitter: wait, retry
            time.sleep(0.05)

    def message_ids(self) -> list[str]:
        ids, token = [], None
        while True:
            page = self.call("GET", "messages", params={"maxResults": 500, "pageToken": token})
            ids += [m["id"] for m in page.get("messages", [])]
            if not (token := page.get("nextPageToken")):
                return ids

    def minimal(self, message_id: str) -> dict:
        return self.call("GET", f"messages/{message_id}", params={"format": "minimal"})

    def labels(self) -> dict[str, str]:
        return {lab["name"]: lab["id"] for lab in self.call("GET", "labels", 1)["labels"]}


def target_config(server, work: Path, **overrides) -> dict:
    config = {"oauth_credentials": CREDS, "api_url": server.url, "token_url": server.token_url}
    config |= {"role": "admin", "create_missing_labels": True, "reconcile_delays_s": [0, 0.5]}
    for name in ("ledger.sqlite", "plan.json", "rejects.jsonl"):
        config[name.split(".")[0] + "_path"] = str(work / name)
    return config | overrides


def singer_lines(stream: str, records) -> str:
    schema = {"type": "object", "properties": {}}
    head = {"type": "SCHEMA", "stream": stream, "schema": schema, "key_properties": []}
    rows = ({"type": "RECORD", "stream": stream, "record": r} for r in records)
    return "".join(json.dumps(message) + "\n" for message in (head, *rows))


def run_target(config: dict, lines: str, work: Path) -> tuple[int, float, str]:
    (work / "config.json").write_text(json.dumps(config))
    args, began = [TARGET, "--config", str(work / "config.json")], time.perf_counter()
    done = subprocess.run(args, input=lines, capture_output=True, text=True, cwd=work)
    if done.returncode:
        print(f"  !! target-gmail exited {done.returncode}; stderr tail:\n{done.stderr[-1500:]}")
    return done.returncode, time.perf_counter() - began, done.stderr


def health(code: int, stderr: str) -> dict:
    totals = re.search(r"gmail totals: .*?(\d+) errors, (\d+) retries", stderr)
    errors = [line for line in stderr.splitlines() if re.search(r"\bERROR\b", line)]
    quota = [line for line in errors if "403" in line or "rateLimitExceeded" in line]
    api_errors, retries = (int(totals.group(1)), int(totals.group(2))) if totals else (None, None)
    return dict(exit=code, error_lines=len(errors), quota_error_lines=len(quota),
                api_errors=api_errors, retries=retries)  # fmt: skip


def describe(run: dict) -> str:
    return (
        f"exit {run['exit']}, {run['error_lines']} ERROR log lines "
        f"({run['quota_error_lines']} quota), target metrics: {run['api_errors']} API errors, "
        f"{run['retries']} retries"
    )


def label_change_records(ids: list[str]) -> list[dict]:
    sets = [dict(add_labels=add, remove_labels=remove) for add, remove in CHANGE_SETS]
    return [{"message_id": message_id, **sets[n % 3]} for n, message_id in enumerate(ids)]


def bench_a(quick: bool, work: Path) -> None:
    n, naive_n = (2000, 50) if quick else (10_000, 200)
    with emulator(messages=n, quota_units_per_second=250) as (server, startup):
        api = Api(server)
        ids = api.message_ids()
        reset(server)
        lines = singer_lines("label_changes", label_change_records(ids))
        code, wall, stderr = run_target(target_config(server, work), lines, work)
        snap = stats(server)
        reset(server)  # also empties the quota window for the checks below
        names = api.labels()
        sample = range(0, len(ids), max(1, len(ids) // 20))[:20]
        ok = 0
        for k in sample:
            labels = set(api.minimal(ids[k])["labelIds"])
            add, remove = CHANGE_SETS[k % 3]
            ok += {names.get(a) for a in add} <= labels and not labels & set(remove)
        naive_label = api.call("POST", "labels", json={"name": "BenchNaive"})["id"]
        reset(server)
        api.refused, began = 0, time.perf_counter()
        for message_id in ids[:naive_n]:
            api.call("POST", f"messages/{message_id}/modify", json={"addLabelIds": [naive_label]})
        naive_wall = time.perf_counter() - began
        naive_snap = stats(server)
    calls, units = snap["calls"]["total"] or float("nan"), snap["quota_units"]["total"]
    naive_time = naive_wall / naive_n * n
    naive_units = naive_snap["quota_units"]["total"]
    naive = dict(sample_calls=naive_n, sample_s=naive_wall, sample_units=naive_units,
                 refused=api.refused, extrapolated_s=naive_time)  # fmt: skip
    RESULTS["a"] = dict(messages=n, emulator_startup_s=startup, calls=calls, units=units,
                        by_method=short(snap["calls"]["by_method"]), wall_s=wall, naive=naive,
                        verified=f"{ok}/{len(sample)}", **health(code, stderr))  # fmt: skip
    print(f"(a) label changes: {n} records on {n} messages, 3 change sets, 250 u/s both sides")
    print(f"  emulator start-up with {n} messages: {startup:.2f} s (in process)")
    print(f"  target-gmail: {wall:.1f} s wall incl. start-up; {describe(RESULTS['a'])}")
    print(f"    calls {short(snap['calls']['by_method'])}")
    print(
        f"    = {calls} calls (goal <= 15: {verdict(calls <= 15)}), {units} quota units "
        f"(goal <= 1,000: {verdict(units <= 1000)})"
    )
    print(
        f"  baseline naive per-message messages.modify, paced at 250 u/s: {naive_n} calls "
        f"({naive_units} units) in {naive_wall:.2f} s, "
        f"{api.refused} refused+retried"
    )
    print(f"    extrapolated to {n}: {n} calls, {5 * n} units, {naive_time:.0f} s")
    print(
        f"  ours/naive: calls x{calls / n:.4f} ({n / calls:.0f}x fewer), units "
        f"x{units / (5 * n):.4f} ({5 * n / units:.0f}x fewer), time x{wall / naive_time:.3f}"
    )
    print(f"  verified by messages.get on a sample: {ok}/{len(sample)} messages carry their change")


def steady_rate(times: list[float], gap_s: float = 0.2) -> float:
    """Sends/s from the first send to the start of the last burst (sends < gap_s apart).

    A quota window paces sends in bursts (2 per ~1 s, or 24 per ~10 s); counting a final,
    partial burst as if it had taken a whole period would overstate the long-run rate.
    """
    m = len(times) - 1
    while m > 0 and times[m] - times[m - 1] < gap_s:
        m -= 1
    return m / (times[m] - times[0]) if m else float("nan")


def send_rate(server, n: int, work: Path, extra: dict) -> dict:
    records = [
        {"id": f"bench-{k}", "to": BOB, "subject": f"Bench {k}", "body": f"Body {k}"}
        for k in range(n)
    ]
    config = target_config(server, work / f"send-{n}-{len(extra)}", **extra)
    Path(config["ledger_path"]).parent.mkdir(exist_ok=True)
    code, wall, stderr = run_target(config, singer_lines("outbound_messages", records), work)
    snap = stats(server)
    reset(server)
    api = Api(server)  # send times: internalDate, which the emulator stamps at send (ms)
    sent = api.call("GET", "messages", params={"labelIds": "SENT", "maxResults": 500})
    times = sorted(int(api.minimal(m["id"])["internalDate"]) / 1000 for m in sent["messages"])
    span = times[-1] - times[0] if len(times) > 2 else float("nan")
    rate, steady = (len(times) - 1) / span, steady_rate(times)
    return dict(records=n, sends=snap["sends"]["total"], span_s=span, rate_first_to_last=rate,
                rate_steady=steady, pct_of_bound=40 * steady, wall_s=wall,
                rejections=snap["quota"]["rejections"], **health(code, stderr))  # fmt: skip


def bench_b(quick: bool, work: Path) -> None:
    n = 15 if quick else 40
    print("(b) sends alice -> bob, emulator and target at 250 u/s, default target settings")
    print("  bound: 250 u/s / 100 u per messages.send = 2.5 sends/s per mailbox")
    runs = {1.0: ({}, n)}
    if "quota_window_s" in EmulatorConfig.field_names() & CONFIG_SCHEMA["properties"].keys():
        # 3 windows' worth of sends + 1 (quick: 1 window): the run spans whole windows
        runs[10.0] = ({"quota_window_s": 10.0}, 25 * (1 if quick else 3) + 1)
    else:
        print("  (no quota_window_s in EmulatorConfig and target settings: 10 s window skipped)")
    for window, (extra, count) in runs.items():
        with emulator(users=[ALICE, BOB], quota_units_per_second=250, **extra) as (server, _):
            result = send_rate(server, count, work, extra)
        RESULTS[f"b_window_{window:g}s"] = result
        pct, surfaced = result["pct_of_bound"], result["exit"] != 0 or result["quota_error_lines"]
        print(
            f"  quota window {window:g} s (emulator and target), {count} records: "
            f"{result['sends']} sends, first to last {result['span_s']:.2f} s "
            f"((n-1)/span {result['rate_first_to_last']:.2f}/s)"
        )
        print(
            f"    {result['rate_steady']:.2f} sends/s up to the last burst = {pct:.0f}% of bound "
            f"(goal >= 90%: {verdict(pct >= 90)})"
        )
        print(
            f"    target wall {result['wall_s']:.1f} s incl. start-up; emulator quota "
            f"rejections {result['rejections']}"
        )
        print(
            f"    quota errors surfaced: {'YES' if surfaced else 0} (goal 0: "
            f"{verdict(not surfaced)}); {describe(result)}"
        )
        if window == 1 and 70 <= pct <= 85:
            print(
                "    why ~80%: the emulator models Gmail's limit as a strict moving 1 s window;"
                " 3 sends = 300 u never\n    fit in any 1 s, so at most 2 sends/s (80%) are"
                " possible; the target's governor aims a little\n    under (96% of the budget,"
                " window + 50 ms for jitter): 2 sends per 1.05 s = 1.90/s (76%)."
            )


@contextlib.contextmanager
def quiet(path: Path):
    """Send fds 1 and 2 (the target's logs, plan and any state) to ``path``."""
    sys.stdout.flush(), sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(path, "w") as sink:
        os.dup2(sink.fileno(), 1), os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush(), sys.stderr.flush()
            os.dup2(saved[0], 1), os.dup2(saved[1], 2)
            os.close(saved[0]), os.close(saved[1])


def records_per_s(check, records: list[dict]) -> float:
    for record in records[:1000]:  # warm-up: lazy compilation and caches, not timed
        check(record)
    began = time.perf_counter()
    for record in records:
        check(record)
    return len(records) / (time.perf_counter() - began)


def bench_c(quick: bool, work: Path) -> None:
    n = 10_000 if quick else 50_000
    records = label_change_records([f"18c{k:013x}" for k in range(n)])
    lines = singer_lines("label_changes", records)
    with emulator(quota_units_per_second=250) as (server, _):
        config = target_config(server, work, role="operator", dry_run=True)
        began = time.perf_counter()
        with quiet(work / "dry-run.log"):
            target = TargetGmail(config=config, validate_config=True)
            built = time.perf_counter()
            try:
                target.listen(file_input=io.StringIO(lines))
                code = 0
            except SystemExit as stop:
                code = stop.code
        ended = time.perf_counter()
        snap = stats(server)
    listen_s, total_s = ended - built, ended - began
    plan = json.loads((work / "plan.json").read_text())["summary"]
    sdk = records_per_s(JSONSchemaValidator(load_schema("target/label_change")).validate, records)
    ours = records_per_s(RecordValidator("label_changes").check, records)
    rate = n / listen_s
    RESULTS["c"] = dict(records=n, listen_s=listen_s, records_per_s=rate, exit=code,
                        with_startup_s=total_s, emulator_calls=short(snap["calls"]["by_method"]),
                        plan_calls=plan["calls"], plan_units=plan["units"],
                        validate_per_s={"singer_sdk": sdk, "fastjsonschema": ours})  # fmt: skip
    print(f"(c) dry run, in process: {n} label_changes records, 3 change sets, role operator")
    print(
        f"  listen(): {listen_s:.2f} s = {rate:,.0f} records/s "
        f"(goal >= 10,000: {verdict(rate >= 10_000)}); exit {code}"
    )
    print(f"    with TargetGmail start-up: {total_s:.2f} s = {n / total_s:,.0f} records/s")
    print(f"    emulator calls (emulator up, reads only): {short(snap['calls']['by_method'])}")
    print(f"    plan: {plan['calls']} calls, {plan['units']} units")
    print(f"  baseline validation of the same {n} records, one thread:")
    print(f"    singer-sdk JSONSchemaValidator: {sdk:,.0f} records/s")
    print(f"    target RecordValidator (fastjsonschema): {ours:,.0f} records/s = x{ours / sdk:.1f}")
    print(f"    dry-run planning vs bare sdk validation: x{rate / sdk:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2,000 messages, 15 sends, 10k")
    parser.add_argument("--json", action="store_true", help="also print results as JSON")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="target-apply-bench-") as tmp:
        for section in (bench_a, bench_b, bench_c):
            section(args.quick, Path(tmp))
            print(flush=True)
    if args.json:
        print(json.dumps(RESULTS, indent=1, default=str))


if __name__ == "__main__":
    main()
