"""Remembering the Pub/Sub messages already handled, so a redelivery changes nothing.

Pub/Sub delivers at least once: the same ``messageId`` may come again (a slow ack, a
redelivery, or someone replaying a captured request while its token is still valid). Such a
repeat is acknowledged but writes no event and triggers no sync. The memory is a bounded LRU
in this process: after a restart a redelivery triggers one extra, harmless, incremental sync.
"""

from __future__ import annotations

import threading
from collections import OrderedDict


class SeenMessages:
    def __init__(self, capacity: int):
        self._capacity = capacity
        self._seen: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._lock = threading.Lock()

    def first_time(self, subscription: str, message_id: str) -> bool:
        """True the first time (and records it); False for a repeat."""
        key = (subscription, message_id)
        with self._lock:
            if key in self._seen:
                self._seen.move_to_end(key)
                return False
            self._seen[key] = None
            if len(self._seen) > self._capacity:
                self._seen.popitem(last=False)
            return True

    def forget(self, subscription: str, message_id: str) -> None:
        """Undo ``first_time`` when the message could not be handled (it will come again)."""
        with self._lock:
            self._seen.pop((subscription, message_id), None)
