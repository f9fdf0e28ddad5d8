"""What to read from a mailbox: the tap's message settings, normalised, and their fingerprint.

The fingerprint is stored with every bookmark. A bookmark taken under another selection
(a changed ``messages.q``, ``start_date`` or ``include_spam_trash``) describes other rows, so
the tap starts a fresh full sync instead of resuming or continuing from it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

LIST_PAGE_SIZE = 500


@dataclass
class MessageQuery:
    fmt: str = "full"
    q: str | None = None
    include_spam_trash: bool = False
    start_date: datetime | None = None

    def list_params(self) -> dict:
        """Parameters of ``messages.list`` and ``threads.list`` (both take q and spam/trash)."""
        params: dict = {"maxResults": LIST_PAGE_SIZE}
        terms = [self.q] if self.q else []
        if self.start_date is not None:
            terms.append(f"after:{int(self.start_date.timestamp())}")
        if terms:
            params["q"] = " ".join(terms)
        if self.include_spam_trash:
            params["includeSpamTrash"] = "true"
        return params

    def fingerprint(self) -> str:
        """A short stable digest of the selection (not the format: it changes no row set)."""
        selection = {k: v for k, v in self.list_params().items() if k != "maxResults"}
        digest = hashlib.sha256(json.dumps(selection, sort_keys=True).encode()).hexdigest()
        return digest[:16]
