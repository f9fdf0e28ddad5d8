"""A mailbox's labels: Gmail's fixed system labels plus user labels with ``Label_N`` ids."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from . import errors

# Gmail's system labels, as labels.list returns them (visibility fields where Gmail sets them).
SYSTEM_LABELS: dict[str, dict] = {
    "CHAT": {"messageListVisibility": "hide", "labelListVisibility": "labelHide"},
    "SENT": {},
    "INBOX": {},
    "IMPORTANT": {"messageListVisibility": "hide", "labelListVisibility": "labelHide"},
    "TRASH": {"messageListVisibility": "hide", "labelListVisibility": "labelHide"},
    "DRAFT": {"messageListVisibility": "hide", "labelListVisibility": "labelHide"},
    "SPAM": {"messageListVisibility": "hide", "labelListVisibility": "labelHide"},
    "CATEGORY_FORUMS": {"messageListVisibility": "hide", "labelListVisibility": "labelHide"},
    "CATEGORY_UPDATES": {"messageListVisibility": "hide", "labelListVisibility": "labelHide"},
    "CATEGORY_PERSONAL": {"messageListVisibility": "hide", "labelListVisibility": "labelHide"},
    "CATEGORY_PROMOTIONS": {"messageListVisibility": "hide", "labelListVisibility": "labelHide"},
    "CATEGORY_SOCIAL": {"messageListVisibility": "hide", "labelListVisibility": "labelHide"},
    "STARRED": {},
    "UNREAD": {},
}

# Labels that messages.modify may not add or remove (Gmail answers "Invalid label").
UNMODIFIABLE = frozenset({"DRAFT", "SENT", "CHAT"})

MESSAGE_VISIBILITY = ("show", "hide")
LABEL_VISIBILITY = ("labelShow", "labelShowIfUnread", "labelHide")
_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
_WRITABLE = ("name", "messageListVisibility", "labelListVisibility", "color")


@dataclass
class Label:
    id: str
    name: str
    type: str = "user"
    message_list_visibility: str | None = None
    label_list_visibility: str | None = None
    color: dict | None = None

    def to_json(self) -> dict:
        out = {"id": self.id, "name": self.name, "type": self.type}
        if self.message_list_visibility:
            out["messageListVisibility"] = self.message_list_visibility
        if self.label_list_visibility:
            out["labelListVisibility"] = self.label_list_visibility
        if self.color:
            out["color"] = dict(self.color)
        return out


@dataclass
class LabelSet:
    """All labels of one mailbox, addressable by id and (case-insensitively) by name."""

    labels: dict[str, Label] = field(default_factory=dict)
    next_user_id: int = 1

    def __post_init__(self) -> None:
        for label_id, visibility in SYSTEM_LABELS.items():
            self.labels[label_id] = Label(
                label_id,
                label_id,
                "system",
                visibility.get("messageListVisibility"),
                visibility.get("labelListVisibility"),
            )

    def get(self, label_id: str) -> Label:
        label = self.labels.get(label_id)
        if label is None:
            raise errors.not_found()
        return label

    def exists(self, label_id: str) -> bool:
        return label_id in self.labels

    def by_name(self, name: str) -> Label | None:
        wanted = name.strip().lower()
        for label in self.labels.values():
            if label.name.lower() == wanted:
                return label
        return None

    def resolve(self, name_or_id: str) -> str | None:
        """Label id for what a user typed in a search (id or name, case-insensitive)."""
        if name_or_id in self.labels:
            return name_or_id
        upper = name_or_id.upper()
        if upper in SYSTEM_LABELS:
            return upper
        label = self.by_name(name_or_id)
        return label.id if label else None

    def ensure(self, name: str) -> str:
        """Id of the label called ``name``, creating a user label when missing (seeding)."""
        existing = self.resolve(name)
        if existing:
            return existing
        return self.create({"name": name}).id

    def create(self, body: dict) -> Label:
        name = _validated_name(body.get("name"))
        if self.by_name(name) is not None:
            raise errors.GmailError(
                409, "Label name exists or conflicts", "duplicate", "ALREADY_EXISTS"
            )
        label = Label(f"Label_{self.next_user_id}", name)
        self.next_user_id += 1
        _apply(label, body)
        self.labels[label.id] = label
        return label

    def update(self, label_id: str, body: dict, partial: bool) -> Label:
        label = self.get(label_id)
        if label.type == "system":
            raise errors.bad_request(f"Invalid label: {label_id}")
        if "name" in body or not partial:
            name = _validated_name(body.get("name"))
            clash = self.by_name(name)
            if clash is not None and clash.id != label_id:
                raise errors.GmailError(
                    409, "Label name exists or conflicts", "duplicate", "ALREADY_EXISTS"
                )
            label.name = name
        if not partial:
            label.message_list_visibility = None
            label.label_list_visibility = None
            label.color = None
        _apply(label, body)
        return label

    def delete(self, label_id: str) -> None:
        label = self.get(label_id)
        if label.type == "system":
            raise errors.bad_request(f"Invalid label: {label_id}")
        del self.labels[label_id]

    def check_modifiable(self, label_ids: list[str]) -> None:
        for label_id in label_ids:
            if label_id not in self.labels or label_id in UNMODIFIABLE:
                raise errors.bad_request(f"Invalid label: {label_id}")


def _validated_name(name: object) -> str:
    if not isinstance(name, str) or not name.strip():
        raise errors.bad_request("Invalid label name")
    if name.strip().upper() in SYSTEM_LABELS:
        raise errors.bad_request("Invalid label name")
    if len(name) > 225:
        raise errors.bad_request("Invalid label name")
    return name.strip()


def _apply(label: Label, body: dict) -> None:
    unknown = set(body) - set(_WRITABLE) - {"id", "type", "messagesTotal", "messagesUnread"}
    unknown -= {"threadsTotal", "threadsUnread"}
    if unknown:
        name = sorted(unknown)[0]
        raise errors.bad_request(f'Invalid JSON payload received. Unknown name "{name}"')
    if "messageListVisibility" in body:
        value = body["messageListVisibility"]
        if value not in MESSAGE_VISIBILITY:
            raise errors.bad_request(f"Invalid value for messageListVisibility: {value}")
        label.message_list_visibility = value
    if "labelListVisibility" in body:
        value = body["labelListVisibility"]
        if value not in LABEL_VISIBILITY:
            raise errors.bad_request(f"Invalid value for labelListVisibility: {value}")
        label.label_list_visibility = value
    if "color" in body:
        color = body["color"] or {}
        for key in ("textColor", "backgroundColor"):
            value = color.get(key)
            if not isinstance(value, str) or not _COLOR.match(value):
                raise errors.bad_request(f"Label color {value} is not on the allowed color palette")
        label.color = {"textColor": color["textColor"], "backgroundColor": color["backgroundColor"]}
