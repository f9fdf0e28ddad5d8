"""One mailbox's labels: resolve names or ids, create missing ones, upsert label records.

Labels are read once per run (``labels.list``, 1 unit) and kept in memory, so resolving the
labels of 10,000 records costs nothing more. Gmail compares label names case-insensitively
("Work" and "work" conflict), and so does this directory.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from gmail_core.batch import BatchPart
from gmail_core.errors import ApiError

from .plan import Mutator
from .rejection import Rejected, check_no_line_breaks

# System labels a client may add or remove; SENT, DRAFT and CHAT are Gmail's own business.
UNMODIFIABLE = frozenset({"SENT", "DRAFT", "CHAT"})


@dataclass(frozen=True)
class LabelSpec:
    """A label record: the full name plus the properties to make true."""

    name: str
    message_list_visibility: str | None = None
    label_list_visibility: str | None = None
    color_text: str | None = None
    color_background: str | None = None

    @classmethod
    def from_record(cls, record: dict) -> LabelSpec:
        name = (record.get("name") or "").strip()
        parent = (record.get("parent_name") or "").strip().strip("/")
        if parent and not name.lower().startswith(parent.lower() + "/"):
            name = f"{parent}/{name}"
        check_no_line_breaks(name, "name")
        if not name or "//" in name or name.startswith("/") or name.endswith("/"):
            raise Rejected(f"`name`: {name!r} is not a valid label name", "name")
        if len(name) > 225:
            raise Rejected("`name` is longer than Gmail's 225 characters", "name")
        text, background = record.get("color_text"), record.get("color_background")
        if bool(text) != bool(background):
            raise Rejected("set both `color_text` and `color_background`, or neither", "color_text")
        return cls(
            name,
            record.get("message_list_visibility"),
            record.get("label_list_visibility"),
            text,
            background,
        )

    def body(self) -> dict:
        body: dict = {"name": self.name}
        if self.message_list_visibility:
            body["messageListVisibility"] = self.message_list_visibility
        if self.label_list_visibility:
            body["labelListVisibility"] = self.label_list_visibility
        if self.color_text:
            body["color"] = {"textColor": self.color_text, "backgroundColor": self.color_background}
        return body


class LabelDirectory:
    """Name/id lookups for one mailbox, and the calls that create or update labels."""

    def __init__(self, mutator: Mutator):
        self.mutator = mutator
        self._lock = threading.RLock()
        self._by_id: dict[str, dict] | None = None
        self._by_name: dict[str, dict] = {}
        self._planned = 0

    def _load(self) -> None:
        if self._by_id is not None:
            return
        answer = self.mutator.client.call("labels.list", "GET", "labels") or {}
        self._by_id = {}
        for label in answer.get("labels", []):
            self._remember(label)

    def _remember(self, label: dict) -> None:
        self._by_id[label["id"]] = label
        self._by_name[label["name"].lower()] = label

    def find(self, name_or_id: str) -> dict | None:
        with self._lock:
            self._load()
            return self._by_id.get(name_or_id) or self._by_name.get(name_or_id.strip().lower())

    def check(self, name_or_id: str, create: bool, field: str) -> None:
        """Raise ``Rejected`` if ``resolve`` would; creates nothing (batches are checked first)."""
        check_no_line_breaks(name_or_id, field)
        with self._lock:
            found = self.find(name_or_id)
        if found is not None:
            if found["id"] in UNMODIFIABLE:
                raise Rejected(f"`{field}`: label {found['id']} cannot be set or removed", field)
            return
        if not create:
            raise Rejected(
                f"`{field}`: unknown label {name_or_id!r} "
                "(set create_missing_labels: true to create it)",
                field,
            )
        LabelSpec.from_record({"name": name_or_id})  # a name Gmail could take

    def resolve(self, name_or_id: str, create: bool, field: str) -> str:
        """The label id for a name or id; creates the label (and its parents) if allowed."""
        self.check(name_or_id, create, field)
        with self._lock:
            found = self.find(name_or_id)
            if found is not None:
                return found["id"]
            return self._create(LabelSpec.from_record({"name": name_or_id}), field)[0]["id"]

    def upsert(self, spec: LabelSpec) -> str:
        """Create the label, or patch what differs; returns created, updated or unchanged."""
        with self._lock:
            current = self.find(spec.name)
            if current is None:
                current, created = self._create(spec, "name")
                if created:
                    return "created"
            wanted = spec.body()
            changes = {
                key: value
                for key, value in wanted.items()
                if key != "name" and current.get(key) != value
            }
            if current["name"] != spec.name:  # same label, other capitalisation
                changes["name"] = spec.name
            if not changes:
                return "unchanged"
            if current.get("type") == "system" or current["id"] in UNMODIFIABLE:
                raise Rejected(f"`name`: {current['id']} is a system label; it cannot be changed")
            part = BatchPart("labels.patch", "PATCH", f"labels/{current['id']}", body=changes)
            answer = self._mutate(part, f"update {spec.name}", "name")
            self._remember(answer or {**current, **changes})
            return "updated"

    def _create(self, spec: LabelSpec, field: str) -> tuple[dict, bool]:
        """(label, True) once created; (label, False) if Gmail already had the name.

        The label itself is created before its missing parents: if Gmail refuses it, no
        parent was made for nothing. Gmail nests by name, so the order does not matter to
        it. ``labels.create`` is retried after a lost answer, so a 409 (name taken) may mean
        our own first try got through: the labels are then read again and the existing one
        is used.
        """
        part = BatchPart("labels.create", "POST", "labels", body=spec.body())
        try:
            answer = self._mutate(part, f"create {spec.name}", field, conflict_ok=True)
        except _NameTaken:
            self._by_id = None
            self._by_name = {}
            existing = self.find(spec.name)
            if existing is None:
                raise Rejected(
                    f"`{field}`: Gmail says label {spec.name!r} exists or conflicts, "
                    "but it is not in the mailbox's labels",
                    field,
                ) from None
            return existing, False
        if answer is None:  # dry run: a placeholder id the plan can refer to
            self._planned += 1
            answer = {"id": f"planned-label-{self._planned}", **spec.body(), "type": "user"}
        self._remember(answer)
        parts = spec.name.split("/")
        for depth in range(1, len(parts)):  # parents must exist for Gmail to show the nesting
            parent = "/".join(parts[:depth])
            if self.find(parent) is None:
                self._create(LabelSpec(parent), field)
        return answer, True

    def _mutate(
        self, part: BatchPart, group: str, field: str, conflict_ok: bool = False
    ) -> dict | None:
        try:
            return self.mutator.call(part, group)
        except ApiError as error:
            if error.status == 409 and conflict_ok:
                raise _NameTaken() from None
            if error.status in (400, 409):  # bad colour/visibility, or a name conflict
                raise Rejected(f"`{field}`: Gmail refused {group}: {error.gmail_message}") from None
            raise


class _NameTaken(Exception):
    """labels.create answered 409: a label of that name (or a conflicting one) exists."""
