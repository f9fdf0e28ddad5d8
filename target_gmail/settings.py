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
