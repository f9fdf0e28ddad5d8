"""Progress lines on stderr: messages done out of the mailbox total, rate and ETA.

At most one line every few seconds, so a long full sync is observable without flooding logs.
"""

from __future__ import annotations

import logging
import time


class Progress:
    def __init__(
        self,
        logger: logging.Logger,
        mailbox: str,
        total: int,
        done: int = 0,
        every_s: float = 5.0,
        clock=time.monotonic,
    ):
        self.logger = logger
        self.mailbox = mailbox
        self.total = max(int(total or 0), 0)
        self.every_s = every_s
        self.clock = clock
        self.started = clock()
        self.start_done = done
        self.last_log = self.started

    def update(self, done: int) -> None:
        now = self.clock()
        if now - self.last_log < self.every_s:
            return
        self.last_log = now
        rate = (done - self.start_done) / max(now - self.started, 1e-9)
        remaining = max(self.total - done, 0)
        eta = f"{remaining / rate:.0f} s" if rate > 0 else "unknown"
        share = f"{100 * done / self.total:.1f}%" if self.total else "?"
        self.logger.info(
            "mailbox %s: %d/%d messages (%s), %.1f msg/s, ETA %s",
            self.mailbox,
            done,
            self.total,
            share,
            rate,
            eta,
        )

    def finish(self, done: int) -> None:
        elapsed = self.clock() - self.started
        self.logger.info(
            "mailbox %s: full sync listed %d messages in %.1f s", self.mailbox, done, elapsed
        )
