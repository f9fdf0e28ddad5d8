"""Gmail push notifications, delivered the way Pub/Sub's authenticated push delivers them.

``users.watch`` records a ``Watch`` per mailbox. Every history record a mailbox logs is offered
to ``PushHub.changed`` (under the mailbox lock, so it only filters and queues); one background
thread posts the signed envelope to the configured ``push_endpoint``, so an API call never
waits on the receiver. A 2xx acknowledges; anything else is retried a few times, then counted
as rejected, as a subscription without a dead-letter topic would eventually give up.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import queue
import secrets
import threading
import time
from collections import Counter
from dataclasses import dataclass

import requests

from . import errors
from .push_keys import PushSigner

WATCH_DAYS = 7
RETRY_DELAYS_S = (0.2, 1.0)  # Pub/Sub backs off for longer; tests need answers in seconds
USER_AGENT = "APIs-Google; (+https://developers.google.com/webmasters/APIs-Google.html)"


@dataclass(frozen=True)
class Watch:
    topic: str
    label_ids: frozenset[str]
    behavior: str  # include | exclude (only meaningful with label_ids)
    expiration_ms: int

    def wants(self, record, now_ms: int) -> bool:
        """Gmail's filter: include pushes only changes touching a label, exclude the rest."""
        if now_ms >= self.expiration_ms:
            return False
        if not self.label_ids:
            return True
        touched = any(record.touches_label(label) for label in self.label_ids)
        return touched if self.behavior == "include" else not touched

    def to_json(self) -> dict:
        return {
            "topicName": self.topic,
            "labelIds": sorted(self.label_ids),
            "labelFilterBehavior": self.behavior,
            "expiration": str(self.expiration_ms),
        }


class PushHub:
    """Watches per mailbox, the delivery queue and its thread, and delivery counters."""

    def __init__(self, config) -> None:
        self.config = config  # EmulatorConfig: read live, so /_emulator/config changes apply
        self.signer = PushSigner()
        self.watches: dict[str, Watch] = {}
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._queue: queue.Queue = queue.Queue()
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._next_id = 10**15 + secrets.randbelow(10**15)

    # -- the API side --------------------------------------------------------------------

    def watch(self, mailbox, body: dict) -> Watch:
        label_ids = body.get("labelIds") or []
        if not isinstance(label_ids, list) or not all(isinstance(x, str) for x in label_ids):
            raise errors.bad_request("Invalid value for labelIds: expected a list of label ids")
        for label_id in label_ids:
            if not mailbox.labels.exists(label_id):
                raise errors.bad_request(f"Invalid label: {label_id}")
        behavior = body.get("labelFilterBehavior") or body.get("labelFilterAction") or "include"
        if not isinstance(behavior, str) or behavior.lower() not in ("include", "exclude"):
            raise errors.bad_request(f"Invalid value for labelFilterBehavior: {behavior}")
        expiration = int(time.time() * 1000) + WATCH_DAYS * 86400 * 1000
        watch = Watch(body["topicName"], frozenset(label_ids), behavior.lower(), expiration)
        with self._lock:
            self.watches[mailbox.email.lower()] = watch
        return watch

    def stop(self, email: str) -> None:
        with self._lock:
            self.watches.pop(email.lower(), None)

    def changed(self, email: str, record) -> None:
        """A mailbox logged ``record``: queue a push if a watch wants it. Never blocks."""
        watch = self.watches.get(email.lower())
        if watch is None or not watch.wants(record, int(time.time() * 1000)):
            return
        if not self.config.push_endpoint:
            self._count("no_endpoint")
            return
        self._count("queued")
        self._queue.put((email, record.id))
        self._start()

    # -- delivery ------------------------------------------------------------------------

    def _start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="gmail-emulator-push", daemon=True
                )
                self._thread.start()

    def _run(self) -> None:
        session = requests.Session()
        while not self._stopping.is_set():
            try:
                email, history_id = self._queue.get(timeout=0.5)
            except queue.Empty:
                continue
            try:
                self._deliver(session, email, history_id)
            finally:
                self._queue.task_done()

    def _deliver(self, session: requests.Session, email: str, history_id: int) -> None:
        config = self.config
        endpoint = config.push_endpoint
        body = json.dumps(self.envelope(email, history_id)).encode()
        for attempt, delay in enumerate((0.0, *RETRY_DELAYS_S)):
            if delay and self._stopping.wait(delay):
                return
            token = self.signer.token(config.push_audience or endpoint, config.push_service_account)
            headers = {
                "Authorization": f"Bearer {token}",
                "Content-Type": "application/json",
                "User-Agent": USER_AGENT,
            }
            try:
                answer = session.post(endpoint, data=body, headers=headers, timeout=10)
            except requests.RequestException:
                self._count("connection_errors")
                continue
            if 200 <= answer.status_code < 300 or answer.status_code == 102:
                self._count("delivered")
                if attempt:
                    self._count("delivered_after_retry")
                return
            self._count(f"status_{answer.status_code}")
        self._count("undelivered")

    def envelope(self, email: str, history_id: int) -> dict:
        with self._lock:
            self._next_id += 1
            message_id = str(self._next_id)
        data = json.dumps({"emailAddress": email, "historyId": history_id}).encode()
        published = dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")
        published = published.replace("+00:00", "Z")
        message = {
            "data": base64.b64encode(data).decode("ascii"),
            "messageId": message_id,
            "message_id": message_id,
            "publishTime": published,
            "publish_time": published,
        }
        return {"message": message, "subscription": self.config.push_subscription}

    def drain(self, timeout_s: float) -> bool:
        """Wait until every queued push is delivered or given up; False on timeout."""
        deadline = time.monotonic() + timeout_s
        while self._queue.unfinished_tasks:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

    def close(self) -> None:
        self._stopping.set()

    def snapshot(self) -> dict:
        with self._lock:
            return {
                "endpoint": self.config.push_endpoint,
                "watches": {email: w.to_json() for email, w in self.watches.items()},
                "deliveries": dict(self.counts),
                "pending": self._queue.unfinished_tasks,
            }

    def _count(self, what: str) -> None:
        with self._lock:
            self.counts[what] += 1
