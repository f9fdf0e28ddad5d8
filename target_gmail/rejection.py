"""Why one record cannot be applied; raised before any call is made for it."""

from __future__ import annotations


class Rejected(Exception):
    """A record that is invalid as given: the reason names the field and what is wrong."""

    def __init__(self, reason: str, field: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.field = field


def check_no_line_breaks(value: str | None, field: str) -> None:
    """CR or LF in a header value would let a record inject its own headers."""
    if value and ("\r" in value or "\n" in value):
        raise Rejected(f"header injection: `{field}` contains a CR/LF line break", field)
