"""``gmail-push watch`` / ``stop``: keep a Gmail watch alive on every configured mailbox.

A Gmail watch lapses after 7 days. Each call goes through the shared core (auth, governor,
breaker, retries) exactly as the tap's calls do; each mailbox's expiration is written to a
small JSON state file, so ``--renew-before 24h`` can skip watches that are still good and the
command is safe to run from cron or a Meltano schedule as often as you like.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from gmail_core.auth import SCOPE_READONLY
from gmail_core.client import MailboxClient, clients_from_config
from gmail_core.errors import GmailConnectorError
from gmail_core.metrics import Metrics

from .settings import WatchSettings


@dataclass
class Outcome:
    mailbox: str
    action: str  # watched | renewed | kept | stopped | failed
    detail: str
    ok: bool = True


class WatchState:
    """``{mailbox: {topic_name, label_ids, label_filter_behavior, expiration_ms, ...}}``."""

    def __init__(self, path: Path):
        self.path = path
        self.problems: list[str] = []  # why entries were dropped; shown by the commands
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            data = {}
        except (OSError, ValueError) as error:
            self.problems.append(f"{path} is not readable JSON ({error}); starting afresh")
            data = {}
        watches = data.get("watches", {}) if isinstance(data, dict) else None
        if not isinstance(watches, dict):
            self.problems.append(f"{path} holds no `watches` object; starting afresh")
            watches = {}
        self.watches: dict[str, dict] = {}
        for key, entry in watches.items():
            problem = _entry_problem(entry)
            if problem:  # hand-edited or from another version: renewed like a missing one
                self.problems.append(f"{path}: dropped the entry for {key!r}: {problem}")
                continue
            self.watches[key] = entry

    def warn(self) -> None:
        for problem in self.problems:
            print(f"gmail-push: warning: {problem}", file=sys.stderr)

    def save(self) -> None:
        """Write atomically: a killed run leaves the old file or the new one, never half."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".watches-")
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump({"watches": self.watches}, out, indent=2, sort_keys=True)
        os.replace(tmp, self.path)


def _entry_problem(entry) -> str | None:
    if not isinstance(entry, dict):
        return f"it is a {type(entry).__name__}, not an object"
    expiration = entry.get("expiration_ms")
    if isinstance(expiration, bool) or not isinstance(expiration, int):
        return "it has no whole-number `expiration_ms`"
    if not isinstance(entry.get("label_ids") or [], list):
        return "its `label_ids` is not a list"
    return None


def iso_ms(ms: int) -> str:
    moment = dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def _body(settings: WatchSettings) -> dict:
    body: dict = {"topicName": settings.topic_name}
    if settings.label_ids:
        body["labelIds"] = list(settings.label_ids)
        body["labelFilterBehavior"] = settings.label_filter_behavior
    return body


def _same_request(recorded: Mapping, settings: WatchSettings) -> bool:
    return (
        recorded.get("topic_name") == settings.topic_name
        and list(recorded.get("label_ids") or []) == list(settings.label_ids)
        and recorded.get("label_filter_behavior") == settings.label_filter_behavior
    )


def watch_all(
    config: Mapping, settings: WatchSettings, renew_before_s: float | None, now=time.time
) -> list[Outcome]:
    """Start or renew the watch of every mailbox; one failing mailbox never stops the rest."""
    state = WatchState(settings.state_path)
    state.warn()
    outcomes = []
    for client in clients_from_config(config, [SCOPE_READONLY], Metrics()):
        outcomes.append(_watch_one(client, state, settings, renew_before_s, now))
        state.save()
    return outcomes


def _watch_one(client: MailboxClient, state, settings, renew_before_s, now) -> Outcome:
    try:
        mailbox = client.mailbox
        recorded = state.watches.get(mailbox.lower())
        if recorded and renew_before_s is not None and _same_request(recorded, settings):
            left_s = recorded["expiration_ms"] / 1000 - now()
            if left_s > renew_before_s:
                return Outcome(
                    mailbox, "kept", f"watch valid until {iso_ms(recorded['expiration_ms'])}"
                )
        answer = client.call("watch", "POST", "watch", body=_body(settings))
    except GmailConnectorError as problem:
        return Outcome(_name(client), "failed", str(problem), False)
    expiration = int(answer["expiration"])
    state.watches[mailbox.lower()] = {
        "mailbox": mailbox,
        "topic_name": settings.topic_name,
        "label_ids": list(settings.label_ids),
        "label_filter_behavior": settings.label_filter_behavior,
        "history_id": int(answer["historyId"]),
        "expiration_ms": expiration,
        "expiration": iso_ms(expiration),
        "renewed_at": iso_ms(int(now() * 1000)),
    }
    action = "renewed" if recorded else "watched"
    return Outcome(
        mailbox,
        action,
        f"{settings.topic_name} until {iso_ms(expiration)} (historyId {answer['historyId']})",
    )


def stop_all(config: Mapping, settings_path: Path) -> list[Outcome]:
    """``users.stop`` for every mailbox, and forget its recorded watch."""
    state = WatchState(settings_path)
    state.warn()
    outcomes = []
    for client in clients_from_config(config, [SCOPE_READONLY], Metrics()):
        try:
            mailbox = client.mailbox
            client.call("stop", "POST", "stop")
        except GmailConnectorError as problem:
            outcomes.append(Outcome(_name(client), "failed", str(problem), False))
            continue
        state.watches.pop(mailbox.lower(), None)
        state.save()
        outcomes.append(Outcome(mailbox, "stopped", "no more push notifications"))
    return outcomes


def _name(client: MailboxClient) -> str:
    """The mailbox for a message, without a network call (OAuth `me` has no address yet)."""
    return client.auth.mailbox or "the OAuth user's mailbox"
