"""Incoming records: compiled schema checks and the typed changes the appliers work on.

Validation uses ``fastjsonschema``: it compiles each schema in ``schemas/target/`` to Python
once, about ten times faster than the ``jsonschema`` validator singer-sdk uses by default.
The schemas are ours, not the upstream stream's: a record is checked against what the
action needs, whatever tap produced it.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import fastjsonschema

from gmail_core.schemas import load_schema

from .rejection import Rejected
from .settings import LABEL_CHANGES, LABELS, OUTBOUND_MESSAGES

_SCHEMA_NAMES = {
    LABEL_CHANGES: "target/label_change",
    OUTBOUND_MESSAGES: "target/outbound_message",
    LABELS: "target/label",
}


class RecordValidator:
    """The compiled schema of one action; ``check`` raises ``Rejected`` with a readable reason."""

    def __init__(self, action: str):
        self.action = action
        self._validate = fastjsonschema.compile(load_schema(_SCHEMA_NAMES[action]))

    def check(self, record: dict) -> None:
        try:
            self._validate(record)
        except fastjsonschema.JsonSchemaValueException as error:
            path = error.path[1:] if error.path and error.path[0] == "data" else error.path
            field = ".".join(str(part) for part in path) or None
            message = error.message.replace("data.", "", 1).replace("data ", "record ", 1)
            raise Rejected(f"schema: {message}", field) from None


@dataclass(frozen=True)
class LabelChange:
    """Labels to add/remove on one message or thread; labels still as given (names or ids)."""

    target: str  # "message" or "thread"
    target_id: str
    add: tuple[str, ...]
    remove: tuple[str, ...]
    mailbox: str | None
    # CP-CAL form: label_names is the desired set, label_ids the set as read by tap-gmail
    desired_names: tuple[str, ...] | None = None
    read_ids: tuple[str, ...] | None = None

    def as_record(self) -> dict:
        """The record again, as far as it matters here: what a reject line shows.

        Sinks keep only this (not the incoming record, with a CP-CAL message's body) until
        their batch is applied, so memory per pending record stays small.
        """
        record: dict = {"mailbox": self.mailbox} if self.mailbox else {}
        if self.desired_names is not None:
            ids = list(self.read_ids or ())
            return {"id": self.target_id, "label_ids": ids,
                    "label_names": list(self.desired_names), **record}  # fmt: skip
        key = "message_id" if self.target == "message" else "thread_id"
        return {key: self.target_id, "add_labels": list(self.add),
                "remove_labels": list(self.remove), **record}  # fmt: skip


def _names(values) -> tuple[str, ...]:
    """Label names and ids repeat across records: one shared string each, not one per record."""
    return tuple(sys.intern(value) if isinstance(value, str) else value for value in values or ())


def _mailbox(value):
    return sys.intern(value) if isinstance(value, str) else value


def label_change(record: dict) -> LabelChange:
    """A checked record in either accepted form -> ``LabelChange``.

    A tap-gmail message record also carries ``thread_id``; it is read as the CP-CAL form
    whenever it has ``id`` and ``label_names`` and no ``message_id``. Its deletion
    tombstones (``_sdc_deleted_at``) have nothing to apply.
    """
    mailbox = _mailbox(record.get("mailbox"))
    message_id, thread_id = record.get("message_id"), record.get("thread_id")
    if not message_id and record.get("id"):
        if record.get("_sdc_deleted_at"):
            return LabelChange("message", str(record["id"]), (), (), mailbox)
        if record.get("label_names") is not None:
            if record.get("label_ids") is None:
                raise Rejected(
                    "a CP-CAL message record needs `label_ids` (labels as read) next to "
                    "`label_names` (labels wanted)",
                    "label_ids",
                )
            return LabelChange(
                "message",
                str(record["id"]),
                (),
                (),
                mailbox,
                _names(record["label_names"]),
                _names(record["label_ids"]),
            )
    if message_id or thread_id:
        if message_id and thread_id:
            raise Rejected("set `message_id` or `thread_id`, not both", "message_id")
        add = _names(record.get("add_labels"))
        remove = _names(record.get("remove_labels"))
        target = "message" if message_id else "thread"
        return LabelChange(target, message_id or thread_id, add, remove, mailbox)
    raise Rejected(
        "missing key: set `message_id` or `thread_id` (or `id` with `label_names` and "
        "`label_ids` for a CP-CAL message record)",
        "message_id",
    )
