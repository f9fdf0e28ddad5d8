"""Predicates that compiled Gmail search queries are built from.

Each predicate carries a cost (0 = labels/date only, 1 = needs ``msg.parsed``) so the
combinators can evaluate cheap terms first and never force a lazy MIME parse needlessly.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from email.utils import getaddresses

WORD = re.compile(r"\w+")


class Ctx:
    """Per-message evaluation state: defers ``msg.parsed`` and caches derived text."""

    __slots__ = ("msg", "_parsed", "_cache")

    def __init__(self, msg):
        self.msg = msg
        self._parsed = None
        self._cache: dict = {}

    @property
    def parsed(self):
        if self._parsed is None:
            self._parsed = self.msg.parsed
        return self._parsed

    def words(self, field: str) -> str:
        """The field as space-padded lowercase words, values separated so phrases can't span."""
        key = ("w", field)
        if key not in self._cache:
            if field == "body":
                values = [self.parsed.plain_text or ""]
            else:
                values = self.parsed.header_all(field) or []
            joined = " \n ".join(" ".join(WORD.findall(v.casefold())) for v in values)
            self._cache[key] = f" {joined} "
        return self._cache[key]

    def header_values(self, name: str) -> list[str]:
        key = ("h", name)
        if key not in self._cache:
            self._cache[key] = [v.casefold() for v in self.parsed.header_all(name) or []]
        return self._cache[key]

    def addresses(self, name: str) -> list[tuple[str, str]]:
        """(display name, address) pairs of an address header, casefolded."""
        key = ("a", name)
        if key not in self._cache:
            pairs = getaddresses(self.parsed.header_all(name) or [])
            self._cache[key] = [(n.casefold(), a.casefold()) for n, a in pairs]
        return self._cache[key]


class Node:
    """A compiled predicate; ``cost`` 0 means it never touches ``msg.parsed``."""

    __slots__ = ("cost", "fn")

    def __init__(self, cost: int, fn: Callable[[Ctx], bool]):
        self.cost = cost
        self.fn = fn


TRUE = Node(0, lambda ctx: True)
FALSE = Node(0, lambda ctx: False)


def all_of(nodes: list[Node]) -> Node:
    if not nodes:
        return TRUE
    if len(nodes) == 1:
        return nodes[0]
    fns = [n.fn for n in sorted(nodes, key=lambda n: n.cost)]
    return Node(max(n.cost for n in nodes), lambda ctx: all(f(ctx) for f in fns))


def any_of(nodes: list[Node]) -> Node:
    if not nodes:
        return FALSE
    if len(nodes) == 1:
        return nodes[0]
    fns = [n.fn for n in sorted(nodes, key=lambda n: n.cost)]
    return Node(max(n.cost for n in nodes), lambda ctx: any(f(ctx) for f in fns))


def negate(node: Node) -> Node:
    fn = node.fn
    return Node(node.cost, lambda ctx: not fn(ctx))


def has_label(label_id: str) -> Node:
    return Node(0, lambda ctx: label_id in ctx.msg.label_ids)


def words(text: str, fields: tuple[str, ...]) -> Node:
    """Whole-word / phrase match: the words of ``text`` appear consecutively in a field."""
    found = WORD.findall(text.casefold())
    if not found:
        return TRUE
    needle = f" {' '.join(found)} "
    return Node(1, lambda ctx: any(needle in ctx.words(f) for f in fields))


def address(key: str, headers: tuple[str, ...]) -> Node:
    """Case-insensitive substring of any address or display name in ``headers``."""

    def match(ctx: Ctx) -> bool:
        for h in headers:
            if any(key in v for v in ctx.header_values(h)):
                return True
            if any(key in n or key in a for n, a in ctx.addresses(h)):
                return True
        return False

    return Node(1, match)


def exact_address(email: str, headers: tuple[str, ...]) -> Node:
    return Node(1, lambda ctx: any(a == email for h in headers for _, a in ctx.addresses(h)))


def filename(key: str) -> Node:
    return Node(1, lambda ctx: any(key in f.casefold() for f in ctx.parsed.attachment_filenames))


def has_attachment() -> Node:
    return Node(1, lambda ctx: bool(ctx.parsed.has_attachment))


def date(cutoff_ms: int, at_or_after: bool) -> Node:
    """``after:`` is inclusive, ``before:`` exclusive, both on internalDate."""
    if at_or_after:
        return Node(0, lambda ctx: ctx.msg.internal_date_ms >= cutoff_ms)
    return Node(0, lambda ctx: ctx.msg.internal_date_ms < cutoff_ms)


def size(limit: int, larger: bool) -> Node:
    if larger:
        return Node(1, lambda ctx: ctx.parsed.size_estimate >= limit)
    return Node(1, lambda ctx: ctx.parsed.size_estimate < limit)


def message_id(wanted: str) -> Node:
    """Message-ID equality, ignoring angle brackets and case."""
    wanted = _bare_msgid(wanted)

    def match(ctx: Ctx) -> bool:
        header = ctx.parsed.header("Message-ID")
        return header is not None and _bare_msgid(header) == wanted

    return Node(1, match)


def _bare_msgid(value: str) -> str:
    return value.strip().strip("<>").strip().casefold()
