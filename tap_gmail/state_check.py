"""Checking a ``--state`` file before the SDK and the sync engine read it.

A state file may be hand-edited, truncated, or written by an older version. Two kinds of
damage are told apart:

- the file is not tap-gmail state at all (not a JSON object, ``bookmarks`` or a stream's
  entry not an object, ``partitions`` not a list): ``StateError``, one line naming the path
  inside the file, before any Gmail call (the SDK would otherwise crash with a traceback,
  some of them after records were already written);
- one partition cannot be read (no mailbox context, a ``full_sync`` resume point or
  ``label_ids`` of the wrong type): that partition is dropped with a WARNING, so its mailbox
  runs a fresh full sync, as for any other bookmark that cannot be continued (a corrupt
  ``label_ids`` such as ``"INBOX"`` used to turn into tombstones for labels I, N, B, O, X).

Bookmarks that are not numbers are left to ``sync``, which already falls back to a full
sync for them.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

FIX = (
    "pass the STATE a previous tap-gmail run emitted, or remove the file (or that stream's "
    "entry) to run a full sync."
)


class StateError(Exception):
    """The state file is not tap-gmail state; the message names where and how to fix it."""


def _type(value) -> str:
    return "null" if value is None else type(value).__name__


def checked_state(state, logger: logging.Logger) -> dict:
    """A copy of ``state`` with unreadable partitions dropped; raises ``StateError``."""
    if not isinstance(state, Mapping):
        raise StateError(f"the state is a JSON {_type(state)}, not an object")
    bookmarks = state.get("bookmarks")
    if bookmarks is None:
        return dict(state)
    if not isinstance(bookmarks, Mapping):
        raise StateError(f"`bookmarks` is a {_type(bookmarks)}, not an object")
    out = {}
    for stream, entry in bookmarks.items():
        where = f"bookmarks.{stream}"
        if not isinstance(entry, Mapping):
            raise StateError(f"`{where}` is a {_type(entry)}, not an object")
        entry = dict(entry)
        if "partitions" in entry:
            partitions = entry["partitions"]
            if not isinstance(partitions, list):
                raise StateError(f"`{where}.partitions` is a {_type(partitions)}, not a list")
            kept = []
            for number, partition in enumerate(partitions):
                problem = _partition_problem(partition)
                if problem is None:
                    kept.append(partition)
                    continue
                mailbox = _mailbox(partition)
                logger.warning(
                    "state: dropped %s.partitions[%d]%s: %s; %s",
                    where,
                    number,
                    f" (mailbox {mailbox})" if mailbox else "",
                    problem,
                    "its mailbox starts this stream afresh (a full sync; for labels, no "
                    "tombstones this run)"
                    if mailbox
                    else "it names no mailbox",
                )
            entry["partitions"] = kept
        out[stream] = entry
    return {**state, "bookmarks": out}


def _mailbox(partition) -> str | None:
    context = partition.get("context") if isinstance(partition, Mapping) else None
    mailbox = context.get("mailbox") if isinstance(context, Mapping) else None
    return mailbox if isinstance(mailbox, str) else None


def _partition_problem(partition) -> str | None:
    if not isinstance(partition, Mapping):
        return f"it is a {_type(partition)}, not an object"
    if _mailbox(partition) is None:
        return "it has no `context` with a `mailbox`"
    resume = partition.get("full_sync")
    if resume is not None:
        if not isinstance(resume, Mapping):
            return f"`full_sync` is a {_type(resume)}, not an object"
        if resume and not _whole(resume.get("h0")):
            return f"`full_sync.h0` {resume.get('h0')!r} is not a historyId"
        if not isinstance(resume.get("page_token"), (str, type(None))):
            return "`full_sync.page_token` is not a string"
        if not _whole(resume.get("done", 0)):
            return "`full_sync.done` is not a count"
    label_ids = partition.get("label_ids")
    if label_ids is not None and not (
        isinstance(label_ids, list) and all(isinstance(i, str) for i in label_ids)
    ):
        return "`label_ids` is not a list of label ids"
    return None


def _whole(value) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, str) and value.isascii() and value.isdigit()
