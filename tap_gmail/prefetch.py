"""Read several mailboxes at once while the SDK emits them one partition after another.

singer-sdk syncs partitions sequentially. Each mailbox's reader runs in its own thread and
fills a bounded queue; the stream drains the queue of the partition the SDK is on. Order
within a mailbox (records, then the checkpoint after them) is kept, memory is bounded by
the queue size, and a failure is re-raised in the stream for that mailbox only.

Items cross the queue in lists of up to ``CHUNK`` (a list is handed over early when a
``Checkpoint``-like item, anything not a dict, ends it): a queue hand-over takes two locks
and wakes a thread, which per record cost more CPU than building the record.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator

_DONE = object()
CHUNK = 100  # items per queue hand-over


class _Failure:
    def __init__(self, error: BaseException):
        self.error = error


class Prefetcher:
    """Runs ``produce(key)`` for each key in background threads, ``parallel`` at a time."""

    def __init__(
        self,
        keys: list[str],
        produce: Callable[[str], Iterator],
        parallel: int = 4,
        buffer: int = 1000,
    ):
        self._produce = produce
        # ``buffer`` items at most are waiting, as before: that many over CHUNK-item lists.
        self._queues = {key: queue.Queue(maxsize=max(1, buffer // CHUNK)) for key in keys}
        self._slots = threading.BoundedSemaphore(max(1, parallel))
        # Readers start in partition order, so the one the SDK waits on always gets a slot.
        self._turns = [threading.Event() for _ in range(len(keys) + 1)]
        self._turns[0].set()
        self._threads = [
            threading.Thread(
                target=self._run, args=(index, key), daemon=True, name=f"mailbox-{key}"
            )
            for index, key in enumerate(keys)
        ]
        for thread in self._threads:
            thread.start()

    def _run(self, index: int, key: str) -> None:
        out = self._queues[key]
        self._turns[index].wait()
        with self._slots:
            self._turns[index + 1].set()
            chunk: list = []
            try:
                for item in self._produce(key):
                    chunk.append(item)
                    if len(chunk) >= CHUNK or not isinstance(item, dict):
                        out.put(chunk)
                        chunk = []
            except BaseException as error:  # handed to the consumer, which re-raises it
                out.put([*chunk, _Failure(error)])
                return
            out.put([*chunk, _DONE])

    def items(self, key: str) -> Iterator:
        source = self._queues[key]
        while True:
            for item in source.get():
                if item is _DONE:
                    return
                if isinstance(item, _Failure):
                    raise item.error
                yield item
