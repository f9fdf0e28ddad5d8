"""Load a Google Takeout (or any) mbox as seed messages, bytes exactly as stored.

Split from ``mailbox.py`` (which re-exports it) so the synthetic generator and the Takeout
label mapping each stay readable on their own.
"""

from __future__ import annotations

import csv
import email.utils
import mailbox as stdlib_mailbox
from collections.abc import Iterator

from .mime import date_header_ms, decode_words, parse_headers_only
from .seed_data import SeedMessage

_TAKEOUT_SYSTEM = {
    "inbox": "INBOX", "sent": "SENT", "unread": "UNREAD", "starred": "STARRED",
    "important": "IMPORTANT", "spam": "SPAM", "trash": "TRASH", "drafts": "DRAFT",
    "draft": "DRAFT", "category personal": "CATEGORY_PERSONAL",
    "category social": "CATEGORY_SOCIAL", "category promotions": "CATEGORY_PROMOTIONS",
    "category updates": "CATEGORY_UPDATES", "category forums": "CATEGORY_FORUMS",
}  # fmt: skip
_TAKEOUT_DROPPED = {"opened", "archived", "chat"}


def takeout_labels(value: str) -> list[str]:
    """Map an X-Gmail-Labels value to system label ids and user label names."""
    text = decode_words(value)
    try:  # names containing commas come double-quoted: "Clients, VIP"
        names = next(csv.reader([text], skipinitialspace=True), [])
    except csv.Error:
        names = text.split(",")
    out: list[str] = []
    for name in (n.strip() for n in names):
        if not name or name.lower() in _TAKEOUT_DROPPED:
            continue
        label = _TAKEOUT_SYSTEM.get(name.lower(), name)
        if label not in out:
            out.append(label)
    return out


def _from_line_ms(line: bytes) -> int | None:
    """Date of an mbox 'From sender date' separator (asctime, optionally with a zone)."""
    words = line.decode("latin-1").split()[2:]
    return date_header_ms(" ".join(words)) if len(words) >= 4 else None


def load_mbox(path: str, user_email: str) -> Iterator[SeedMessage]:
    """Stream messages from an mbox (e.g. Google Takeout), bytes exactly as stored."""
    box = stdlib_mailbox.mbox(path, create=False)
    me = user_email.lower()
    try:
        for key in box.iterkeys():
            handle = box.get_file(key, from_=True)
            try:
                from_line, raw = handle.readline(), handle.read()
            finally:
                handle.close()
            headers = parse_headers_only(raw)
            lookup = {}
            for name, value in headers:
                lookup.setdefault(name.lower(), value)
            if "x-gmail-labels" in lookup:
                labels = takeout_labels(lookup["x-gmail-labels"])
            else:  # a plain mbox: file by direction, read
                sender = email.utils.parseaddr(lookup.get("from", ""))[1].lower()
                labels = ["SENT"] if sender == me else ["INBOX"]
            received = _from_line_ms(from_line) or date_header_ms(lookup.get("date")) or 0
            yield SeedMessage(raw, labels, received)
    finally:
        box.close()
