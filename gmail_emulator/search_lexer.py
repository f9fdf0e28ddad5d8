"""Tokenizer for the Gmail search-box language (the ``q`` parameter).

Kept apart from ``search`` so the parser sees a clean token stream and the quirks of
Gmail's surface syntax (``-`` negation, ``op:value``, ``op:(group)``) live in one place.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from . import errors

# Token kinds.
LPAREN = "("
RPAREN = ")"
LBRACE = "{"
RBRACE = "}"
OR = "OR"
AND = "AND"
NEG = "-"
TERM = "TERM"  # free text or ``op:value``; ``op`` is None for free text
OPGROUP = "OPGROUP"  # ``op:`` directly followed by ``(`` or ``{``

_PUNCT = {"(": LPAREN, ")": RPAREN, "{": LBRACE, "}": RBRACE}
_STOP = set(' \t\r\n\f\v()"{}')
# An operator name is a bare identifier; "10:30", "foo@bar.com:" and URLs stay free text.
_OPERATOR = re.compile(r"([A-Za-z_][A-Za-z0-9_]*):(.*)", re.DOTALL)


@dataclass(frozen=True)
class Token:
    kind: str
    value: str = ""
    op: str | None = None
    quoted: bool = False


def tokenize(q: str) -> list[Token]:
    """Split ``q`` into tokens; unbalanced quotes and ``AROUND`` are rejected with a 400."""
    tokens: list[Token] = []
    i, n = 0, len(q)
    while i < n:
        ch = q[i]
        if ch.isspace():
            i += 1
        elif ch in _PUNCT:
            tokens.append(Token(_PUNCT[ch]))
            i += 1
        elif ch == '"':
            phrase, i = _read_quoted(q, i)
            tokens.append(Token(TERM, phrase, quoted=True))
        elif ch == "-" and i + 1 < n and not q[i + 1].isspace() and q[i + 1] not in ")}":
            tokens.append(Token(NEG))
            i += 1
        else:
            i = _read_word(q, i, tokens)
    return tokens


def _read_quoted(q: str, start: int) -> tuple[str, int]:
    end = q.find('"', start + 1)
    if end < 0:
        raise errors.bad_request("Invalid search query: unbalanced quotation marks")
    return q[start + 1 : end], end + 1


def _read_word(q: str, start: int, tokens: list[Token]) -> int:
    """Read one bare word (maybe ``op:value``) starting at ``start``; return the new index."""
    i = start
    while i < len(q) and q[i] not in _STOP:
        i += 1
    word = q[start:i]
    if word in (OR, AND):
        tokens.append(Token(word))
        return i
    if word == "AROUND":
        raise errors.bad_request("Invalid search query: the AROUND operator is not supported")
    m = _OPERATOR.fullmatch(word)
    if m is None or m.group(2).startswith("//"):
        tokens.append(Token(TERM, word))
        return i
    op, value = m.group(1).lower(), m.group(2)
    if value:
        tokens.append(Token(TERM, value, op=op))
        return i
    nxt = q[i] if i < len(q) else ""
    if nxt == '"':
        phrase, i = _read_quoted(q, i)
        tokens.append(Token(TERM, phrase, op=op, quoted=True))
    elif nxt in ("(", "{"):
        tokens.append(Token(OPGROUP, op=op))
    else:
        tokens.append(Token(TERM, "", op=op))  # "Re: hi" is text; the parser decides
    return i
