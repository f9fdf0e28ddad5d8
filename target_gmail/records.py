"""Incoming records: compiled schema checks and the typed changes the appliers work on.

Validation uses ``fastjsonschema``: it compiles each schema in ``schemas/target/`` to Python
once, about ten times faster than the ``jsonschema`` validator singer-sdk uses by default.
The schemas are ours, not the upstream stream's: a record is checked against what the
action needs, whatever tap produced it.
"""

from __future__ import annotations

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


def label_change(record: dict) -> LabelChange:
    """A checked record in either accepted form -> ``LabelChange``.

    A tap-gmail message record also carries ``thread_id``; it is read as the CP-CAL form
    whenever it has ``id`` and ``label_names`` and no ``message_id``. Its deletion
    tombstones (``_sdc_deleted_at``) have nothing to apply.
    """
    mailbox = record.get("mailbox")
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
                tuple(record["label_names"]),
                tuple(record["label_ids"]),
            )
    if message_id or thread_id:
        if message_id and thread_id:
            raise Rejected("set `message_id` or `thread_id`, not both", "message_id")
        add = tuple(record.get("add_labels") or ())
        remove = tuple(record.get("remove_labels") or ())
        target = "message" if message_id else "thread"
        return LabelChange(target, message_id or thread_id, add, remove, mailbox)
    raise Rejected(
        "missing key: set `message_id` or `thread_id` (or `id` with `label_names` and "
        "`label_ids` for a CP-CAL message record)",
        "message_id",
    )
