"""Why one record cannot be applied; raised before any call is made for it."""

from __future__ import annotations

import re


class Rejected(Exception):
    """A record that is invalid as given: the reason names the field and what is wrong."""

    def __init__(self, reason: str, field: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.field = field


# Every character str.splitlines() breaks at: the email package refuses them all in headers.
_LINE_BREAKS = re.compile("[\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")


def check_no_line_breaks(value: str | None, field: str) -> None:
    """A line break in a header value would let a record inject its own headers."""
    if value and _LINE_BREAKS.search(value):
        what = "a CR/LF line break" if "\r" in value or "\n" in value else "a line separator"
        raise Rejected(f"header injection: `{field}` contains {what}", field)
