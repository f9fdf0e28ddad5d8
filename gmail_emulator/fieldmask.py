"""The ``fields`` system parameter (partial response), e.g. ``messages(id,threadId),nextPageToken``.

Clients use it to cut payloads; an emulator that ignored it would hide a client relying on a
field it did not ask for. Grammar: ``sel (',' sel)*``; ``sel = a/b/c ['(' sel,... ')']``;
``*`` selects everything at its level.
"""

from __future__ import annotations

from . import errors

Mask = dict[str, "Mask | None"]  # None: keep the whole value


def parse(text: str) -> Mask:
    mask, position = _parse(text.replace(" ", ""), 0)
    if position != len(text.replace(" ", "")):
        raise _invalid(text)
    return mask


def _parse(text: str, position: int) -> tuple[Mask, int]:
    mask: Mask = {}
    while True:
        start = position
        while position < len(text) and text[position] not in ",()":
            position += 1
        path = text[start:position]
        if not path or any(not name for name in path.split("/")):
            raise _invalid(text)
        sub: Mask | None = None
        if position < len(text) and text[position] == "(":
            sub, position = _parse(text, position + 1)
            if position >= len(text) or text[position] != ")":
                raise _invalid(text)
            position += 1
        _insert(mask, path.split("/"), sub)
        if position < len(text) and text[position] == ",":
            position += 1
            continue
        return mask, position


def _insert(mask: Mask, names: list[str], sub: Mask | None) -> None:
    head, rest = names[0], names[1:]
    if not rest:
        mask[head] = sub if head not in mask or sub is None else _merge(mask[head], sub)
        return
    child = mask.get(head)
    if child is None and head in mask:
        return  # already selecting the whole value
    child = mask.setdefault(head, {})
    _insert(child, rest, sub)


def _merge(left: Mask | None, right: Mask) -> Mask | None:
    if left is None:
        return None
    merged = dict(left)
    merged.update(right)
    return merged


def apply(value, mask: Mask | None):
    if mask is None:
        return value
    if isinstance(value, list):
        return [apply(item, mask) for item in value]
    if not isinstance(value, dict):
        return value
    if "*" in mask:
        return {key: apply(item, mask["*"]) for key, item in value.items()}
    return {key: apply(value[key], sub) for key, sub in mask.items() if key in value}


def _invalid(text: str) -> errors.GmailError:
    return errors.bad_request(f"Invalid field selection {text}", reason="invalidParameter")
