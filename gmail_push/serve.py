"""``gmail-push serve``: wire settings, verifier, scheduler and receiver into a waitress server.

waitress is a pure-Python production WSGI server with a worker thread pool: verification
(google-auth over ``requests``) and the events file are blocking code, which WSGI threads
run as they are, with no event loop to keep unblocked. SIGTERM and Ctrl-C stop it cleanly:
no new syncs, a running one gets ``shutdown_grace_s`` to finish.
"""

from __future__ import annotations

import logging
import signal
import sys
from collections.abc import Mapping

from waitress.server import create_server

from gmail_core.auth import SCOPE_READONLY
from gmail_core.client import clients_from_config
from gmail_core.errors import ConfigError
from gmail_core.metrics import Metrics

from .event_log import EventLog
from .receiver import PushReceiver
from .scheduler import ALL, SyncScheduler
from .settings import ReceiverSettings, SyncSettings
from .verify import TokenVerifier

log = logging.getLogger("gmail_push.serve")
_CREDENTIALS = ("oauth_credentials", "service_account_info", "service_account_file")


def resolve_mailboxes(config: Mapping, settings: ReceiverSettings) -> set[str]:
    """The mailboxes whose notifications are accepted: ``push_mailboxes`` or the credentials'."""
    if settings.mailboxes:
        return set(settings.mailboxes)
    if not any(config.get(name) for name in _CREDENTIALS):
        raise ConfigError(
            "push_mailboxes",
            "is not set, and there are no credentials to find the mailboxes with.",
            'list the mailboxes, e.g. ["alice@example.com"], or configure tap-gmail\'s '
            "credentials in the same config file.",
        )
    clients = clients_from_config(config, [SCOPE_READONLY], Metrics())
    return {client.mailbox.lower() for client in clients}  # `me` costs one getProfile


def build_app(config: Mapping, host: str | None, port: int | None):
    receiver_settings = ReceiverSettings.from_config(config)
    sync_settings = SyncSettings.from_config(config)
    mailboxes = resolve_mailboxes(config, receiver_settings)
    scheduler = SyncScheduler(sync_settings)
    events = EventLog(receiver_settings.events_path) if receiver_settings.events_path else None
    app = PushReceiver(
        receiver_settings, mailboxes, scheduler, TokenVerifier(receiver_settings), events
    )
    server = create_server(
        app,
        host=host or receiver_settings.host,
        port=receiver_settings.port if port is None else port,
        threads=8,
        # a backstop: the app answers 413 itself first, with a log line
        max_request_body_size=receiver_settings.max_body_bytes * 4,
        ident="gmail-push",
        expose_tracebacks=False,
    )
    return app, server, sync_settings


def serve(config: Mapping, host: str | None, port: int | None, grace_s: float) -> int:
    app, server, sync_settings = build_app(config, host, port)
    url = f"http://{server.effective_host}:{server.effective_port}{app.settings.path}"
    print(f"gmail-push serving on {url}", flush=True)
    log.info(
        "accepting pushes for %s as %s (audience %s); sync: %s",
        ", ".join(sorted(app.mailboxes)),
        app.settings.service_account,
        app.settings.audience,
        " ".join(sync_settings.command),
    )
    if sync_settings.on_start:
        for mailbox in sorted(app.mailboxes) if sync_settings.per_mailbox else [ALL]:
            app.scheduler.notify(mailbox)

    def _interrupt(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _interrupt)
    try:
        server.run()
    except KeyboardInterrupt:
        log.info("stopping")
    finally:
        server.close()
        app.scheduler.stop(grace_s)
        if app.events is not None:
            app.events.close()
    return 0


def configure_logging() -> None:
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
