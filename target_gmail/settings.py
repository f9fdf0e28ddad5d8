"""target-gmail settings: the ``--about`` schema and the checked, typed view of the config."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from singer_sdk import typing as th

from gmail_core.connection_schema import connection_properties
from gmail_core.errors import ConfigError

LABEL_CHANGES = "label_changes"
OUTBOUND_MESSAGES = "outbound_messages"
LABELS = "labels"
IGNORE = "ignore"
ACTIONS = (LABEL_CHANGES, OUTBOUND_MESSAGES, LABELS, IGNORE)
DEFAULT_ACTIONS = {name: name for name in (LABEL_CHANGES, OUTBOUND_MESSAGES, LABELS)}
ROLES = ("viewer", "operator", "admin")
ON_INVALID = ("fail", "skip")

_TARGET_SCHEMA = th.PropertiesList(
    th.Property(
        "actions",
        th.ObjectType(additional_properties=th.StringType(allowed_values=list(ACTIONS))),
        description=(
            "Map an incoming stream name to an action: label_changes, outbound_messages, "
            "labels or ignore. Streams named like an action use it by default."
        ),
    ),
    th.Property(
        "unmapped_streams",
        th.StringType,
        default="fail",
        allowed_values=["fail", "ignore"],
        description="A stream with no action fails the run, or is ignored with a warning",
    ),
    th.Property(
        "role",
        th.StringType,
        default="operator",
        allowed_values=list(ROLES),
        description="viewer | operator (dry runs) | admin (sends and label changes)",
    ),
    th.Property(
        "dry_run",
        th.BooleanType,
        default=False,
        description="Validate, resolve labels and print the plan; make no mutating call",
    ),
    th.Property(
        "plan_path",
        th.StringType,
        description="Where a dry run writes its plan as JSON (default: under .meltano/run/)",
    ),
    th.Property(
        "ledger_path",
        th.StringType,
        description="SQLite ledger of send intents/results (default: under .meltano/run/)",
    ),
    th.Property(
        "create_missing_labels",
        th.BooleanType,
        default=False,
        description="Create labels named in label changes that do not exist yet",
    ),
    th.Property(
        "on_invalid_record",
        th.StringType,
        default="fail",
        allowed_values=list(ON_INVALID),
        description="fail: stop at the first invalid record; skip: write it to rejects_path",
    ),
    th.Property(
        "rejects_path",
        th.StringType,
        description="JSONL file of rejected records and reasons (default: under .meltano/run/)",
    ),
    th.Property(
        "max_parallel_mailboxes",
        th.IntegerType,
        default=4,
        description="Mailboxes written at the same time (domain-wide delegation)",
    ),
    th.Property(
        "reconcile_delays_s",
        th.ArrayType(th.NumberType),
        description=(
            "Seconds to wait before each rfc822msgid: search after a send with an unknown "
            "outcome (default [0, 2, 5]: Gmail's search index may lag a just-sent message)"
        ),
    ),
).to_dict()

CONFIG_SCHEMA = {
    **_TARGET_SCHEMA,
    "properties": {**connection_properties(), **_TARGET_SCHEMA["properties"]},
}


def run_dir() -> Path:
    """Meltano's per-plugin run dir when run by Meltano, else ``./.target-gmail``."""
    root = os.environ.get("MELTANO_PROJECT_ROOT")
    if root:
        return Path(root) / ".meltano" / "run" / "target-gmail"
    return Path(".target-gmail")


@dataclass
class TargetSettings:
    """The target's own settings, checked once; connection settings stay in the raw config."""

    actions: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_ACTIONS))
    unmapped_streams: str = "fail"
    role: str = "operator"
    dry_run: bool = False
    plan_path: Path = Path(".target-gmail/plan.json")
    ledger_path: Path = Path(".target-gmail/ledger.sqlite")
    create_missing_labels: bool = False
    on_invalid_record: str = "fail"
    rejects_path: Path = Path(".target-gmail/rejects.jsonl")
    reconcile_delays_s: tuple[float, ...] | None = None  # None: the sender's default
    max_parallel_mailboxes: int = 4

    @classmethod
    def from_config(cls, config: Mapping) -> TargetSettings:
        actions = dict(DEFAULT_ACTIONS)
        configured = config.get("actions") or {}
        if not isinstance(configured, Mapping):
            raise ConfigError(
                "actions",
                "must be an object of stream name to action",
                'e.g. {"my_stream": "label_changes"}.',
            )
        for stream, action in configured.items():
            if action not in ACTIONS:
                raise ConfigError(
                    f"actions.{stream}",
                    f"{action!r} is not an action",
                    f"use one of {', '.join(ACTIONS)}.",
                )
            actions[str(stream)] = action
        folder = run_dir()
        for name, file in (("plan_path", "plan.json"), ("ledger_path", "ledger.sqlite"),
                           ("rejects_path", "rejects.jsonl")):  # fmt: skip
            _file_path(config, name, file)
        return cls(
            actions=actions,
            unmapped_streams=_choice(config, "unmapped_streams", ("fail", "ignore"), "fail"),
            role=_choice(config, "role", ROLES, "operator"),
            dry_run=_flag(config, "dry_run"),
            plan_path=Path(config.get("plan_path") or folder / "plan.json"),
            ledger_path=Path(config.get("ledger_path") or folder / "ledger.sqlite"),
            create_missing_labels=_flag(config, "create_missing_labels"),
            on_invalid_record=_choice(config, "on_invalid_record", ON_INVALID, "fail"),
            rejects_path=Path(config.get("rejects_path") or folder / "rejects.jsonl"),
            reconcile_delays_s=_reconcile_delays(config.get("reconcile_delays_s")),
            max_parallel_mailboxes=_positive_int(config, "max_parallel_mailboxes", 4),
        )

    def action_for(self, stream: str) -> str | None:
        return self.actions.get(stream)


def _choice(config: Mapping, name: str, allowed: tuple[str, ...], default: str) -> str:
    value = config.get(name)
    if value in (None, ""):
        return default
    if value not in allowed:
        raise ConfigError(name, f"{value!r} is not allowed", f"use one of {', '.join(allowed)}.")
    return str(value)


def _flag(config: Mapping, name: str) -> bool:
    value = config.get(name)
    if value in (None, ""):
        return False
    if isinstance(value, bool):
        return value
    if str(value).lower() in ("true", "1", "yes"):
        return True
    if str(value).lower() in ("false", "0", "no"):
        return False
    raise ConfigError(name, f"{value!r} is not a boolean", "use true or false.")


MAX_RECONCILE_DELAY_S = 600.0


def _reconcile_delays(value) -> tuple[float, ...] | None:
    """The waits before each Message-ID search after a send with an unknown outcome.

    An empty list would mean "never search", so a lost answer would be sent again blindly
    (a duplicate): it is refused, as is any wait that ``time.sleep`` could not take.
    """
    if value is None:
        return None
    fix = "use e.g. [0, 2, 5] (the default): a few short waits, the first one usually 0."
    if not isinstance(value, (list, tuple)):
        raise ConfigError("reconcile_delays_s", f"{value!r} is not a list of seconds.", fix)
    if not value:
        raise ConfigError(
            "reconcile_delays_s",
            "needs at least one wait: with none, a send whose answer was lost would be "
            "sent again without first asking Gmail whether it already has it.",
            fix,
        )
    delays = []
    for item in value:
        try:  # the SDK reads JSON numbers with a fraction as Decimal
            seconds = None if isinstance(item, (bool, str)) else float(item)
        except (TypeError, ValueError):
            seconds = None
        if seconds is None:
            raise ConfigError("reconcile_delays_s", f"{item!r} is not a number of seconds.", fix)
        if not 0 <= seconds <= MAX_RECONCILE_DELAY_S:  # also refuses NaN
            raise ConfigError(
                "reconcile_delays_s",
                f"{seconds:g} is outside 0..{MAX_RECONCILE_DELAY_S:g} seconds.",
                fix,
            )
        delays.append(seconds)
    return tuple(delays)


def _positive_int(config: Mapping, name: str, default: int) -> int:
    value = config.get(name)
    if value in (None, ""):
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(
            name, f"{value!r} is not a whole number of at least 1.", f"the default is {default}."
        )
    return value


def _file_path(config: Mapping, name: str, file: str) -> None:
    """A path setting must name a file: a directory there could never be written."""
    value = config.get(name)
    if value and Path(value).expanduser().is_dir():
        raise ConfigError(
            name, f"{value!r} is a directory.", f"name a file in it, e.g. {Path(value) / file}."
        )
