"""Mutating calls go through a ``Mutator``: live it calls Gmail, in a dry run it only plans.

Everything that decides *what* to change (label resolution, grouping, ledger checks) runs
the same in both modes; only this last hop differs. That is what makes the dry-run plan an
honest preview: it is built by the very code that would have made the calls.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from gmail_core.batch import BatchPart, PartResult
from gmail_core.client import MailboxClient


@dataclass
class PlannedCall:
    mailbox: str
    method: str
    http_method: str
    path: str
    units: int
    group: str  # what the call does, e.g. "add [Work] remove [INBOX]"
    records: int  # input records this call serves
    body: dict | None = None


@dataclass
class Plan:
    """The calls a run would make, grouped per mailbox, with their quota cost."""

    calls: list[PlannedCall] = field(default_factory=list)
    notes: list[dict] = field(default_factory=list)  # e.g. sends skipped: already in ledger
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, call: PlannedCall) -> None:
        with self._lock:
            self.calls.append(call)

    def note(self, mailbox: str, what: str, **detail) -> None:
        with self._lock:
            self.notes.append({"mailbox": mailbox, "note": what, **detail})

    def summary(self) -> dict:
        mailboxes: dict[str, dict] = {}
        for call in self.calls:
            entry = mailboxes.setdefault(
                call.mailbox, {"calls": 0, "units": 0, "records": 0, "by_method": Counter()}
            )
            entry["calls"] += 1
            entry["units"] += call.units
            entry["records"] += call.records
            entry["by_method"][call.method] += 1
        for entry in mailboxes.values():
            entry["by_method"] = dict(entry["by_method"])
        return {
            "calls": len(self.calls),
            "units": sum(call.units for call in self.calls),
            "mailboxes": mailboxes,
        }

    def to_json(self) -> dict:
        return {
            "dry_run": True,
            "summary": self.summary(),
            "calls": [vars(call) for call in self.calls],  # shallow: asdict deep-copies ids
            "notes": self.notes,
        }

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(self.to_json(), separators=(",", ":")))
        tmp.replace(path)

    def render(self, limit_per_group: int = 3) -> str:
        """Human-readable: per mailbox, each group of calls with its count and cost."""
        lines = []
        summary = self.summary()
        lines.append(
            f"dry run: {summary['calls']} call(s), {summary['units']} quota unit(s); "
            "no change was made"
        )
        groups: dict[tuple[str, str, str], list[PlannedCall]] = {}
        for call in self.calls:
            groups.setdefault((call.mailbox, call.method, call.group), []).append(call)
        for (mailbox, method, group), calls in groups.items():
            records = sum(call.records for call in calls)
            units = sum(call.units for call in calls)
            lines.append(
                f"  {mailbox}: {len(calls)} x {method} [{group}] "
                f"for {records} record(s), {units} unit(s)"
            )
            for call in calls[:limit_per_group]:
                lines.append(f"      {call.http_method} {call.path}")
            if len(calls) > limit_per_group:
                lines.append(f"      ... {len(calls) - limit_per_group} more")
        for note in self.notes:
            lines.append(f"  {note['mailbox']}: {note['note']}")
        return "\n".join(lines)


class Mutator:
    """Makes mutating calls for one mailbox: for real, or into a ``Plan``."""

    def __init__(self, client: MailboxClient, plan: Plan | None, name: Callable[[], str]):
        self.client = client
        self.plan = plan
        self._name = name  # the mailbox, for the plan; looked up late (it may cost a call)

    @property
    def dry_run(self) -> bool:
        return self.plan is not None

    def _record(self, part: BatchPart, group: str, records: int) -> None:
        self.plan.add(
            PlannedCall(
                self._name(),
                part.method,
                part.http_method,
                part.path,
                self.client.governor.cost(part.method),
                group,
                records,
                part.body,
            )
        )

    def call(self, part: BatchPart, group: str, records: int = 1) -> dict | None:
        """One call; in a dry run returns ``None`` (callers must not need the answer)."""
        if self.plan is not None:
            self._record(part, group, records)
            return None
        return self.client.call(part.method, part.http_method, part.path, part.params, part.body)

    def batch(self, parts: list[BatchPart], group: str) -> list[PartResult]:
        """Many calls in Gmail batch requests; in a dry run every part "succeeds" with 200."""
        if self.plan is not None:
            for part in parts:
                self._record(part, group, 1)
            return [PartResult(part, 200, {}) for part in parts]
        return self.client.batch(parts)
