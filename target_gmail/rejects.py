"""Rejected records: counted by reason, written to a JSONL file, or the run stops.

Nothing is lost silently: with ``on_invalid_record: skip`` each rejected record goes to
``rejects_path`` with its stream, reason and field, ready to be fixed and replayed; with
``fail`` (the default) the run stops at the first one, before anything of it is applied.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections import Counter
from pathlib import Path


class InvalidRecordError(Exception):
    """``on_invalid_record: fail`` and a record was rejected."""


class Rejects:
    def __init__(self, path: Path, mode: str):
        self.path = path
        self.mode = mode
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._file = None

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def reject(self, stream: str, record: dict, reason: str, field: str | None = None) -> None:
        """Count it, then write it (skip) or raise (fail)."""
        with self._lock:
            self.counts[stream] += 1
            if self.mode == "fail":
                raise InvalidRecordError(
                    f"record rejected in stream {stream!r}: {reason}. Nothing of it was "
                    "applied. Fix the record, or set on_invalid_record: skip to write "
                    f"rejected records to {self.path} and go on."
                )
            if self._file is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._file = self.path.open("a", encoding="utf-8")
            line = {
                "rejected_at": dt.datetime.now(dt.timezone.utc).isoformat(),
                "stream": stream,
                "reason": reason,
                "field": field,
                "record": record,
            }
            self._file.write(json.dumps(line, default=str) + "\n")
            self._file.flush()

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None
