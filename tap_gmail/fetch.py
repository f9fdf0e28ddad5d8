"""Run batch chunks concurrently with a bounded number in flight, results in order.

``Executor.map`` submits every chunk up front and holds every answer until it is consumed,
so memory grows with the size of the change set. This keeps at most ``window`` chunks
submitted or waiting to be read, which bounds memory whatever the number of messages.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor

from gmail_core.batch import BatchPart, PartResult
from gmail_core.client import MailboxClient


def execute_bounded(
    client: MailboxClient, parts: list[BatchPart], workers: int | None = None
) -> Iterator[PartResult]:
    """Each part's result, in the order of ``parts``; at most 2 x workers chunks in flight."""
    if not parts:
        return
    chunks = client.batcher.chunks(parts)
    workers = max(1, min(workers or client.settings.max_concurrency, len(chunks)))
    if workers == 1:
        for chunk in chunks:
            yield from client.batcher.execute(chunk)
        return
    window = 2 * workers
    pending: deque[Future] = deque()
    pool = ThreadPoolExecutor(workers, thread_name_prefix=f"gmail-{client.mailbox}")
    try:
        for chunk in chunks:
            if len(pending) >= window:
                yield from pending.popleft().result()
            pending.append(pool.submit(client.batcher.execute, chunk))
        while pending:
            yield from pending.popleft().result()
    finally:
        for future in pending:
            future.cancel()
        pool.shutdown(wait=True)
