"""Gmail's search-box language (``q`` on messages.list / threads.list / drafts.list).

``compile_query`` parses once and returns a ``CompiledQuery`` whose ``matches`` is called
per message. Cheap label/date terms are evaluated before anything that touches the
(lazily parsed) message, so a pure label query never forces a MIME parse.

Matching rules, chosen to mirror Gmail: free text and ``subject:`` match whole words
(punctuation-insensitive, a quoted phrase must appear as consecutive words in one field);
``from:``/``to:``/``cc:``/``bcc:`` and ``filename:`` are case-insensitive substrings.
Implicit AND binds looser than ``OR``, so ``a b OR c`` means ``a AND (b OR c)``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import product

from . import errors
from . import search_lexer as lx
from . import search_match as m
from .search_values import parse_date_ms, parse_relative_ms, parse_size

_SPAM_TRASH = {"SPAM", "TRASH"}
_SYSTEM_IDS = {
    "INBOX",
    "SENT",
    "UNREAD",
    "STARRED",
    "IMPORTANT",
    "SPAM",
    "TRASH",
    "DRAFT",
    "CHAT",
}
_IN_LABELS = {
    "inbox": "INBOX",
    "sent": "SENT",
    "trash": "TRASH",
    "spam": "SPAM",
    "drafts": "DRAFT",
    "draft": "DRAFT",
    "starred": "STARRED",
    "important": "IMPORTANT",
}
_IS_LABELS = {
    "unread": "UNREAD",
    "starred": "STARRED",
    "important": "IMPORTANT",
    "sent": "SENT",
    "draft": "DRAFT",
    "drafts": "DRAFT",
}
_CATEGORIES = {
    "primary": "CATEGORY_PERSONAL",
    "personal": "CATEGORY_PERSONAL",
    "social": "CATEGORY_SOCIAL",
    "promotions": "CATEGORY_PROMOTIONS",
    "updates": "CATEGORY_UPDATES",
    "forums": "CATEGORY_FORUMS",
}
_ADDRESS_HEADERS = {
    "from": ("From",),
    "to": ("To",),
    "cc": ("Cc",),
    "bcc": ("Bcc",),
    "deliveredto": ("Delivered-To", "To"),
}
# Every operator name Gmail knows, including the ones rejected as unsupported here.
_KNOWN_OPERATORS = {
    *_ADDRESS_HEADERS,
    *("subject", "label", "in", "is", "has", "category", "filename", "list", "rfc822msgid"),
    *("after", "before", "older", "newer", "older_than", "newer_than"),
    *("larger", "smaller", "size"),
}
_TEXT_FIELDS = ("subject", "from", "to", "cc", "body")
_MAX_LABEL_SEPARATORS = 4  # 4**4 resolve calls at most; beyond that only uniform swaps


class CompiledQuery:
    """A parsed ``q``: ``matches(msg)`` plus whether Gmail would widen to spam/trash."""

    def __init__(self, q: str, node: m.Node, includes_spam_trash: bool):
        self.q = q
        self.includes_spam_trash = includes_spam_trash
        self._fn = node.fn

    def matches(self, msg) -> bool:
        return self._fn(m.Ctx(msg))

    def __repr__(self) -> str:
        return f"CompiledQuery({self.q!r}, includes_spam_trash={self.includes_spam_trash})"


def compile_query(
    q: str,
    *,
    resolve_label: Callable[[str], str | None],
    now_ms: int,
    user_email: str | None = None,
) -> CompiledQuery:
    """Parse ``q`` (raising a 400 GmailError when Gmail would, or when unsupported)."""
    parser = _Parser(lx.tokenize(q or ""), resolve_label, now_ms, user_email)
    node = parser.parse()
    return CompiledQuery(q or "", node, parser.includes_spam_trash)


def label_name_variants(name: str) -> Iterator[str]:
    """Spellings Gmail treats as the same label: '-'/'_' may stand for '/', ' ', '-' or '_'."""
    seen: set[str] = set()
    candidates = [name]
    for sep in "-_":
        if sep in name:
            candidates += [name.replace(sep, "/"), name.replace(sep, " ")]
    seps = [i for i, ch in enumerate(name) if ch in "-_"]
    if 0 < len(seps) <= _MAX_LABEL_SEPARATORS:
        for choice in product("-/ _", repeat=len(seps)):
            chars = list(name)
            for pos, ch in zip(seps, choice, strict=True):
                chars[pos] = ch
            candidates.append("".join(chars))
    for cand in candidates:
        if cand not in seen:
            seen.add(cand)
            yield cand


class _Parser:
    """Recursive descent over lexer tokens, compiling straight to predicates."""

    def __init__(self, tokens, resolve_label, now_ms, user_email):
        self.tokens: list[lx.Token] = tokens
        self.pos = 0
        self.resolve_label = resolve_label
        self.now_ms = now_ms
        self.user_email = user_email.casefold() if user_email else None
        self.includes_spam_trash = False

    # -- grammar -------------------------------------------------------------------------

    def parse(self) -> m.Node:
        node = self._sequence(None, False, None)
        if self._peek() is not None:
            raise _malformed("unbalanced parentheses or braces")
        return node

    def _peek(self) -> lx.Token | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _next(self) -> lx.Token:
        tok = self.tokens[self.pos]
        self.pos += 1
        return tok

    def _sequence(self, op: str | None, neg: bool, closer: str | None) -> m.Node:
        """Terms joined by implicit (or explicit ``AND``) conjunction, up to ``closer``."""
        items: list[m.Node] = []
        while True:
            tok = self._peek()
            if tok is None:
                if closer is not None:
                    raise _malformed("unbalanced parentheses or braces")
                break
            if tok.kind == closer or tok.kind in (lx.RPAREN, lx.RBRACE):
                break
            if tok.kind == lx.AND:
                self._next()
                continue
            items.append(self._disjunction(op, neg))
        return m.all_of(items)

    def _disjunction(self, op: str | None, neg: bool) -> m.Node:
        alts = [self._unary(op, neg)]
        while (tok := self._peek()) is not None and tok.kind == lx.OR:
            self._next()
            alts.append(self._unary(op, neg))
        return m.any_of(alts)

    def _unary(self, op: str | None, neg: bool) -> m.Node:
        tok = self._peek()
        if tok is not None and tok.kind == lx.NEG:
            self._next()
            return m.negate(self._unary(op, not neg))
        return self._primary(op, neg)

    def _primary(self, op: str | None, neg: bool) -> m.Node:
        tok = self._peek()
        if tok is None:
            raise _malformed("expected a search term at the end of the query")
        if tok.kind in (lx.RPAREN, lx.RBRACE):
            raise _malformed("unbalanced parentheses or braces")
        if tok.kind in (lx.OR, lx.AND):
            raise _malformed(f"{tok.kind} needs a search term on each side")
        self._next()
        if tok.kind == lx.LPAREN:
            node = self._sequence(op, neg, lx.RPAREN)
            self._expect(lx.RPAREN)
            return node
        if tok.kind == lx.LBRACE:
            return self._braces(op, neg)
        if tok.kind == lx.OPGROUP:
            return self._primary(tok.op, neg)
        if tok.op is not None and not tok.value.strip():
            if tok.op in _KNOWN_OPERATORS or tok.quoted:
                raise _malformed(f"operator '{tok.op}:' needs a value")
            tok = lx.Token(lx.TERM, tok.op)  # a bare "word:" such as "Re:" is just text
        if tok.op is None and op is None:
            return m.words(tok.value, _TEXT_FIELDS)
        return self._operator(tok.op or op, tok.value, neg)

    def _braces(self, op: str | None, neg: bool) -> m.Node:
        """``{a b c}``: any of the terms."""
        alts: list[m.Node] = []
        while True:
            tok = self._peek()
            if tok is None:
                raise _malformed("unbalanced parentheses or braces")
            if tok.kind == lx.RBRACE:
                self._next()
                return m.any_of(alts) if alts else m.TRUE
            if tok.kind in (lx.OR, lx.AND):
                self._next()
                continue
            alts.append(self._unary(op, neg))

    def _expect(self, kind: str) -> None:
        tok = self._peek()
        if tok is None or tok.kind != kind:
            raise _malformed("unbalanced parentheses or braces")
        self._next()

    # -- operators -----------------------------------------------------------------------

    def _operator(self, op: str, value: str, neg: bool) -> m.Node:
        value = value.strip()
        key = value.casefold()
        if op in _ADDRESS_HEADERS:
            return self._address(op, key)
        if op == "subject":
            return m.words(value, ("subject",))
        if op == "label":
            return self._label(value, neg)
        if op == "in":
            return self._in(key, value, neg)
        if op == "is":
            return self._is(key)
        if op == "has":
            return self._has(key)
        if op == "category":
            if key not in _CATEGORIES:
                raise _unsupported(f"category:{value}")
            return m.has_label(_CATEGORIES[key])
        if op == "filename":
            return m.filename(key)
        if op in ("after", "newer", "before", "older"):
            cutoff = parse_date_ms(op, value)
            return m.date(cutoff, op in ("after", "newer"))
        if op in ("newer_than", "older_than"):
            cutoff = self.now_ms - parse_relative_ms(op, value)
            return m.date(cutoff, op == "newer_than")
        if op in ("larger", "size", "smaller"):
            return m.size(parse_size(op, value), larger=op != "smaller")
        if op == "rfc822msgid":
            if not value.strip("<>"):
                raise _malformed("rfc822msgid: needs a Message-ID")
            return m.message_id(value)
        raise _unsupported(f"{op}:")

    def _address(self, op: str, key: str) -> m.Node:
        headers = _ADDRESS_HEADERS[op]
        if key == "me":
            if self.user_email is None:
                # Without the owner's address, "from:me" is best approximated by SENT/DRAFT.
                if op != "from":
                    return m.FALSE
                return m.any_of([m.has_label("SENT"), m.has_label("DRAFT")])
            return m.exact_address(self.user_email, headers)
        return m.address(key, headers)

    def _resolve(self, name: str) -> str | None:
        for variant in label_name_variants(name):
            label_id = self.resolve_label(variant)
            if label_id is not None:
                return label_id
        upper = name.upper()
        if upper in _SYSTEM_IDS or upper.startswith("CATEGORY_"):
            return upper
        return None

    def _label(self, name: str, neg: bool) -> m.Node:
        label_id = self._resolve(name)
        if label_id is None:
            return m.FALSE  # Gmail: an unknown label simply matches nothing
        if label_id in _SPAM_TRASH and not neg:
            self.includes_spam_trash = True
        return m.has_label(label_id)

    def _in(self, key: str, value: str, neg: bool) -> m.Node:
        if key == "anywhere":
            if not neg:
                self.includes_spam_trash = True
            return m.TRUE
        if key in ("chats", "chat"):
            return m.FALSE
        if key == "snoozed":
            raise _unsupported("in:snoozed")
        if key in _IN_LABELS:
            label_id = _IN_LABELS[key]
            if label_id in _SPAM_TRASH and not neg:
                self.includes_spam_trash = True
            return m.has_label(label_id)
        return self._label(value, neg)  # Gmail also accepts in:<user label>

    def _is(self, key: str) -> m.Node:
        if key == "read":
            return m.negate(m.has_label("UNREAD"))
        if key in ("chat", "chats"):
            return m.FALSE
        if key in _IS_LABELS:
            return m.has_label(_IS_LABELS[key])
        raise _unsupported(f"is:{key}")

    def _has(self, key: str) -> m.Node:
        if key == "attachment":
            return m.has_attachment()
        if key in ("userlabels", "nouserlabels"):
            node = m.Node(0, lambda ctx: any(_is_user_label(lbl) for lbl in ctx.msg.label_ids))
            return node if key == "userlabels" else m.negate(node)
        raise _unsupported(f"has:{key}")


def _is_user_label(label_id: str) -> bool:
    return label_id not in _SYSTEM_IDS and not label_id.startswith("CATEGORY_")


def _malformed(problem: str) -> errors.GmailError:
    return errors.bad_request(f"Invalid search query: {problem}")


def _unsupported(what: str) -> errors.GmailError:
    return errors.bad_request(f"Invalid search query: unsupported operator '{what}'")
