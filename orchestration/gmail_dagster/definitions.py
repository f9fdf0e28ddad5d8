"""tap-gmail on Dagster: one partition per mailbox shard, one `meltano run` per partition.

The Workspace's mailboxes (tap-gmail's `user_ids`) are split into GMAIL_DAGSTER_SHARD_COUNT
shards by tap-gmail itself (`shard: {index, count}`, a hash of the address: disjoint and
stable). Partition `i` of the `gmail/messages`, `gmail/threads` and `gmail/labels` assets is

    TAP_GMAIL_SHARD_INDEX=i TAP_GMAIL_SHARD_COUNT=N \\
      meltano --environment=E run --state-id-suffix shard-i tap-gmail [MAPPERS] LOADER

so each shard keeps its own Meltano state ID (`E:tap-gmail-to-LOADER:shard-i`) and every run
after the first is incremental. A failed shard is retried on its own (RetryPolicy); the
others are not affected. The schedule launches one run per shard, skipping a shard whose
previous run is still queued or running; how many shards run at once is the limit of the
Dagster concurrency pool `gmail` (orchestration/dagster_home/dagster.yaml).

Dagster lives in its own virtualenv (.venv-dagster) and never imports Meltano or the
connectors: it runs the `meltano` executable of .venv-meltano. Settings: settings.py.
"""

# No `from __future__ import annotations`: Dagster reads the `context` annotations at runtime.
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter, deque
from dataclasses import dataclass, field

import dagster as dg

from gmail_dagster import settings as _settings

SETTINGS = _settings.load()
STREAMS = ("messages", "threads", "labels")
SHARDS = dg.StaticPartitionsDefinition(SETTINGS.shards())
ACTIVE = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]


@dataclass
class ShardRun:
    """What one `meltano run` did, read from the tap's METRIC lines."""

    records: Counter = field(default_factory=Counter)
    api_calls: int = 0
    quota_units: int = 0
    incremental_mailboxes: int = 0

    def feed(self, line: str) -> None:
        if "incremental from historyId" in line:  # one line per mailbox synced incrementally
            self.incremental_mailboxes += 1
        at = line.find("METRIC: ")
        if at < 0:
            return
        try:
            metric, _ = json.JSONDecoder().raw_decode(line, at + len("METRIC: "))
        except ValueError:
            return
        if not isinstance(metric, dict):
            return
        tags = metric.get("tags") or {}
        # singer-sdk counters report what was counted since their previous report
        if metric.get("metric") == "record_count":
            self.records[tags.get("stream")] += int(metric.get("value") or 0)
        elif metric.get("metric") == "gmail_api_calls":
            self.api_calls += int(metric.get("value") or 0)
            self.quota_units += int(tags.get("units") or 0)


def _stop(process: subprocess.Popen, grace_s: float = 60) -> None:
    """Stop meltano and its tap and loader (one process group): TERM, then KILL."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(grace_s)
            return
        except subprocess.TimeoutExpired:
            continue


def run_shard(shard: int, log, settings: _settings.Settings = SETTINGS) -> ShardRun:
    """`meltano run` for one shard; its output goes to the step's log (compute logs)."""
    if not settings.meltano.exists():
        raise dg.Failure(f"no meltano at {settings.meltano}: run `make meltano`")
    command = settings.command(shard)
    log.info(
        f"shard {shard} of {settings.shard_count}, state ID {settings.state_id(shard)}: "
        + " ".join(command[1:])
    )
    summary, tail = ShardRun(), deque(maxlen=60)
    process = subprocess.Popen(
        command,
        cwd=settings.project_root,
        env=settings.env(shard),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        start_new_session=True,  # its own process group: a cancelled run stops tap and loader
    )
    try:
        for line in process.stdout:
            sys.stderr.write(line)
            tail.append(line.rstrip("\n"))
            summary.feed(line)
        code = process.wait()
    except BaseException:  # run cancelled (Dagster interrupts the step), or anything else
        _stop(process)
        raise
    if code != 0:
        raise dg.Failure(
            description=f"shard {shard}: meltano run exited with {code}",
            metadata={
                "shard": shard,
                "state_id": settings.state_id(shard),
                "output_tail": dg.MetadataValue.md("```\n" + "\n".join(tail) + "\n```"),
            },
        )
    return summary


@dg.multi_asset(
    name="gmail_sync",
    specs=[
        dg.AssetSpec(
            key=["gmail", stream],
            group_name="gmail",
            kinds={"meltano", "gmail"},
            description=f"tap-gmail's `{stream}` stream, loaded by {SETTINGS.loader}: "
            "one partition per mailbox shard.",
        )
        for stream in STREAMS
    ],
    partitions_def=SHARDS,
    can_subset=False,  # one `meltano run` loads all three streams
    # Every shard run takes a slot of this pool, however it was launched (schedule, backfill,
    # UI, CLI): the pool's limit is how many shards run at once (dagster_home/dagster.yaml).
    pool=SETTINGS.pool,
    retry_policy=dg.RetryPolicy(
        max_retries=SETTINGS.retries,
        delay=SETTINGS.retry_delay_s,
        backoff=dg.Backoff.EXPONENTIAL,
        jitter=dg.Jitter.PLUS_MINUS,
    ),
)
def gmail_sync(context: dg.AssetExecutionContext):
    shard = int(context.partition_key)
    started = time.monotonic()
    summary = run_shard(shard, context.log)
    common = {
        "shard": f"{shard} of {SETTINGS.shard_count}",
        "state_id": SETTINGS.state_id(shard),
        "incremental_mailboxes": summary.incremental_mailboxes,
        "gmail_api_calls": summary.api_calls,
        "gmail_quota_units": summary.quota_units,
        "duration_s": round(time.monotonic() - started, 1),
    }
    for stream in STREAMS:
        yield dg.MaterializeResult(
            asset_key=["gmail", stream],
            metadata={**common, "records": summary.records.get(stream, 0)},
        )


gmail_sync_job = dg.define_asset_job(
    "gmail_sync_job",
    selection=dg.AssetSelection.assets(gmail_sync),
    partitions_def=SHARDS,
    tags={"gmail/loader": SETTINGS.loader},
    description=f"One shard of the Workspace's mailboxes: tap-gmail -> {SETTINGS.loader}.",
)


@dg.schedule(
    name="gmail_incremental",
    job=gmail_sync_job,
    cron_schedule=SETTINGS.schedule,
    execution_timezone=SETTINGS.schedule_timezone,
    default_status=(
        dg.DefaultScheduleStatus.RUNNING
        if SETTINGS.schedule_running
        else dg.DefaultScheduleStatus.STOPPED
    ),
    description="Every shard, incrementally; a shard still queued or running is skipped.",
)
def gmail_incremental(context: dg.ScheduleEvaluationContext):
    busy = {
        record.dagster_run.tags.get("dagster/partition")
        for record in context.instance.get_run_records(
            dg.RunsFilter(job_name=gmail_sync_job.name, statuses=ACTIVE)
        )
    } - {None}
    tick = context.scheduled_execution_time.isoformat() if context.scheduled_execution_time else ""
    requests = [
        dg.RunRequest(run_key=f"{tick}:shard-{key}", partition_key=key)
        for key in SHARDS.get_partition_keys()
        if key not in busy
    ]
    if not requests:
        return dg.SkipReason(f"every shard's previous run is still active: {sorted(busy)}")
    if busy:
        context.log.info(f"shards {sorted(busy)} skipped: their previous run is still active")
    return requests


defs = dg.Definitions(assets=[gmail_sync], jobs=[gmail_sync_job], schedules=[gmail_incremental])
