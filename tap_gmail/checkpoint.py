"""The event a sync yields between records: state to persist once the records before it
are written."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Checkpoint:
    state: dict  # the mailbox partition's bookmark keys, replaced wholesale
