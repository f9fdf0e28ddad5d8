"""Appending normalised events to a JSONL file, for users who want the events themselves.

One line per event, written and flushed before the push is acknowledged, so an acknowledged
notification is on disk (as far as the OS is concerned). Lines are written under a lock in
one ``write`` call, so concurrent requests never interleave.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path


class EventLog:
    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._handle = open(path, "a", encoding="utf-8")  # noqa: SIM115 - held for the run

    def append(self, event: dict) -> None:
        line = json.dumps(event, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
        with self._lock:
            self._handle.write(line + "\n")
            self._handle.flush()

    def close(self) -> None:
        with self._lock:
            self._handle.close()
