"""The Pub/Sub push endpoint as a WSGI app (werkzeug): verify, decode, acknowledge, trigger.

Each request gets one answer and one log line saying what happened: 200 for an accepted or
repeated notification; 401/403 when the token is wrong (reason logged, token never); 400,
404/405, 413 or 422 for bad input; 503 when the receiver cannot do its part right now (certs
unreachable, events file unwritable), so Pub/Sub delivers again later. Never a 500: an
unexpected error is logged in one line and answered 503. The sync itself runs in the
background (``SyncScheduler``), so the acknowledgement never waits for it.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
from collections import Counter

from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Request, Response

from .envelope import BadEnvelope, normalise, parse
from .event_log import EventLog
from .replay import SeenMessages
from .scheduler import SyncScheduler
from .settings import ReceiverSettings
from .verify import CertsUnavailable, Rejected, TokenVerifier

log = logging.getLogger("gmail_push.receiver")


def _answer(code: int, **payload) -> Response:
    return Response(json.dumps(payload), status=code, mimetype="application/json")


class PushReceiver:
    def __init__(
        self,
        settings: ReceiverSettings,
        mailboxes: set[str],
        scheduler: SyncScheduler,
        verifier: TokenVerifier,
        events: EventLog | None = None,
    ):
        self.settings = settings
        self.mailboxes = {m.lower() for m in mailboxes}
        self.scheduler = scheduler
        self.verifier = verifier
        self.events = events
        self.seen = SeenMessages(settings.replay_cache_size)
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def __call__(self, environ, start_response):
        request = Request(environ)
        request.max_content_length = self.settings.max_body_bytes
        try:
            response = self._route(request)
        except Exception as error:  # a bug must not turn into a 500 or a crash
            log.error("internal error: %s: %.300s", type(error).__name__, error)
            response = _answer(503, error="internal error; Pub/Sub will deliver again")
        return response(environ, start_response)

    def _route(self, request: Request) -> Response:
        if request.path == "/healthz" and request.method in ("GET", "HEAD"):
            return _answer(200, ok=True, counts=self._counts(), syncs=self.scheduler.status())
        if request.path != self.settings.path:
            return self._refuse(request, 404, f"no endpoint at {request.path[:100]!r}")
        if request.method != "POST":
            response = self._refuse(request, 405, f"method {request.method} not allowed")
            response.headers["Allow"] = "POST"
            return response
        return self._push(request)

    def _push(self, request: Request) -> Response:
        limit = self.settings.max_body_bytes
        if request.content_length is not None and request.content_length > limit:
            size = request.content_length
            return self._refuse(
                request, 413, f"body of {size} bytes is over max_body_bytes={limit}"
            )
        try:
            self.verifier.verify(request.headers.get("Authorization"))
        except Rejected as rejected:
            return self._refuse(request, rejected.status, rejected.reason)
        except CertsUnavailable as problem:
            return self._refuse(request, 503, str(problem))
        try:
            body = request.get_data(cache=False)
        except RequestEntityTooLarge:
            return self._refuse(request, 413, f"body is over max_body_bytes={limit}")
        received = dt.datetime.now(dt.timezone.utc)
        try:
            note = parse(body, received)
        except BadEnvelope as bad:
            return self._refuse(request, bad.status, bad.reason)
        allowed = self.settings.subscriptions
        if allowed and note.subscription not in allowed:
            reason = f"subscription {note.subscription[:200]!r} is not in push_subscriptions"
            return self._refuse(request, 403, reason)
        if note.email.lower() not in self.mailboxes:
            return self._refuse(request, 422, f"unknown mailbox {note.email[:200]!r}")
        if not self.seen.first_time(note.subscription, note.message_id):
            self._count("duplicate")
            log.info("repeat of messageId %s acknowledged; no new event or sync", note.message_id)
            return _answer(200, status="duplicate", messageId=note.message_id)
        if self.events is not None:
            try:
                self.events.append(normalise(note, received))
            except OSError as problem:
                self.seen.forget(note.subscription, note.message_id)
                return self._refuse(request, 503, f"cannot write events_path: {problem.strerror}")
        self.scheduler.notify(note.email)
        self._count("accepted")
        log.info(
            "accepted messageId %s: %s historyId %d",
            note.message_id,
            note.email,
            note.history_id,
        )
        return _answer(200, status="accepted", messageId=note.message_id)

    def _refuse(self, request: Request, status: int, reason: str) -> Response:
        self._count(f"rejected_{status}")
        level = logging.ERROR if status >= 500 else logging.WARNING
        log.log(
            level,
            "%s %r from %s -> %d: %s",
            request.method[:10],
            request.path[:100],
            request.remote_addr,
            status,
            reason,
        )
        return _answer(status, error=reason)

    def _count(self, what: str) -> None:
        with self._lock:
            self.counts[what] += 1

    def _counts(self) -> dict:
        with self._lock:
            return dict(self.counts)
