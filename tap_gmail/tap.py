"""tap-gmail: settings, stream discovery and the per-mailbox clients the streams share."""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
from datetime import datetime, timezone
from pathlib import Path

from singer_sdk import Tap
from singer_sdk.contrib.msgspec import MsgSpecWriter
from singer_sdk.helpers.capabilities import TapCapabilities

from gmail_core.auth import SCOPE_READONLY
from gmail_core.breaker import counts_as_outage
from gmail_core.client import MailboxClient, clients_from_config, number_setting
from gmail_core.errors import ApiError, CircuitOpenError, ConfigError, GmailConnectorError
from gmail_core.json_args import flag_values, json_object_problem
from gmail_core.metrics import Metrics

from . import settings, sharding
from .query import MessageQuery
from .state_check import FIX as STATE_FIX
from .state_check import StateError, checked_state
from .streams import LabelsStream, MessagesStream, ThreadsStream
from .sync import MailboxSync
from .thread_index import ThreadIndexDir, default_dir


class MailboxUnavailable(GmailConnectorError):
    """Gmail was unavailable for this mailbox earlier in the run; its other streams wait."""


class TapGmail(Tap):
    """Gmail messages, threads and labels as CP-CAL records, full then incremental."""

    name = "tap-gmail"
    package_name = "gmail-connector"  # the distribution whose version --version prints
    config_jsonschema = settings.CONFIG_SCHEMA
    # msgspec serialises records ~10x faster than the default json writer.
    message_writer_class = MsgSpecWriter
    # Never ACTIVATE_VERSION (see streams.py): deletions are `_sdc_deleted_at` records.
    capabilities = [c for c in Tap.capabilities if c != TapCapabilities.ACTIVATE_VERSION]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.metrics = Metrics()
        self._clients: dict[str, MailboxClient] | None = None
        self._syncs: dict[str, MailboxSync] = {}
        self._lock = threading.Lock()
        self.failures: dict[str, dict[str, str]] = {}  # mailbox -> stream -> why
        self._down: set[str] = set()

    def load_state(self, state) -> None:
        """The SDK's load, after a check that turns a damaged file into one clear line."""
        try:
            state = checked_state(state, self.logger)
        except StateError as problem:
            self._exit(f"tap-gmail: state error: --state: {problem}. To fix: {STATE_FIX}")
        super().load_state(state)

    def discover_streams(self):
        return [MessagesStream(self), ThreadsStream(self), LabelsStream(self)]

    # ---- mailboxes -------------------------------------------------------------------

    def mailboxes(self) -> list[str]:
        return list(self._mailbox_clients())

    @property
    def parallel_mailboxes(self) -> int:
        """Mailboxes read at once: their waits are on the network, not the CPU."""
        return number_setting(self.config, "max_parallel_mailboxes", 4, 1, 1000, integer=True)

    def _mailbox_clients(self) -> dict[str, MailboxClient]:
        with self._lock:
            if self._clients is None:
                self._clients = self._build_clients()
            return self._clients

    def _build_clients(self) -> dict[str, MailboxClient]:
        try:
            config = sharding.select(settings.normalized(self.config))
            self.parallel_mailboxes  # noqa: B018 - checked before any call, like the rest
            since = settings.start_date(config)
            if since is not None and since > datetime.now(timezone.utc):
                self.logger.warning(
                    "tap-gmail: start_date %s is in the future, so a full sync reads no "
                    "message until then; check the setting",
                    since.isoformat(),
                )
            if config.get("shard") and not config["user_ids"]:
                self.logger.warning("tap-gmail: shard %s holds no mailbox", config["shard"])
                return {}
            clients = clients_from_config(config, [SCOPE_READONLY], self.metrics)
        except ConfigError as problem:
            self._exit(f"tap-gmail: configuration error: {problem}")
        out: dict[str, MailboxClient] = {}
        for client in clients:
            try:
                out[client.mailbox] = client
            except GmailConnectorError as problem:  # e.g. invalid_grant on the first call
                self._exit(f"tap-gmail: {problem}")
        return out

    def mailbox_sync(self, mailbox: str) -> MailboxSync:
        with self._lock:
            if mailbox not in self._syncs:
                config = settings.normalized(self.config)
                messages = config.get("messages") or {}
                query = MessageQuery(
                    fmt=config.get("message_format") or "full",
                    q=messages.get("q"),
                    include_spam_trash=bool(messages.get("include_spam_trash")),
                    start_date=settings.start_date(config),
                )
                client = self._clients[mailbox]
                derive = all(self.streams[name].selected for name in ("messages", "threads"))
                self._syncs[mailbox] = MailboxSync(
                    client, query, self.logger, derive, self._thread_index_dir(config)
                )
            return self._syncs[mailbox]

    def _thread_index_dir(self, config: dict) -> ThreadIndexDir | None:
        if config.get("keep_thread_index") is False:
            return None
        root = config.get("thread_index_dir")
        return ThreadIndexDir(Path(root) if root else default_dir(), self.logger)

    @contextlib.contextmanager
    def isolated(self, mailbox: str, stream: str):
        """One mailbox failing (403, revoked delegation, open breaker) never stops the others.

        Its bookmark is left where it was, so the next run retries it.
        """
        try:
            yield
        except MailboxUnavailable:
            self.failures.setdefault(mailbox, {})[stream] = ""
            self.logger.info("mailbox %s, stream %s skipped: mailbox unavailable", mailbox, stream)
        except GmailConnectorError as problem:
            why = f"{problem}{self._hint(mailbox, problem)}"
            self.failures.setdefault(mailbox, {})[stream] = why
            if isinstance(problem, CircuitOpenError) or counts_as_outage(problem):
                self._down.add(mailbox)  # the rest of its streams fail fast this run
            self.logger.warning("mailbox %s, stream %s failed: %s", mailbox, stream, why)

    def check_available(self, mailbox: str) -> None:
        """Fail fast for a mailbox whose Gmail was down for an earlier stream of this run.

        A permanent outage then costs one retry budget per mailbox, not one per stream.
        """
        if mailbox in self._down:
            raise MailboxUnavailable(mailbox)

    def _hint(self, mailbox: str, problem: GmailConnectorError) -> str:
        """What to do about a 403 on a mailbox an OAuth token was pointed at by `user_id`."""
        client = (self._clients or {}).get(mailbox)
        if not (isinstance(problem, ApiError) and problem.status == 403 and client):
            return ""
        if client.auth.kind != "oauth" or client.transport.user_id == "me":
            return ""
        return (
            f". The OAuth token may not read {mailbox}: set `user_id` to the token's own "
            "address (or leave it unset), or read other mailboxes with a service account "
            "and `user_ids` (domain-wide delegation)."
        )

    # ---- end of run ------------------------------------------------------------------

    def sync_all(self) -> None:
        super().sync_all()
        self.metrics.log_summary(self.logger)
        if not self.failures:
            return
        for mailbox, streams in sorted(self.failures.items()):
            reasons = list(dict.fromkeys(why.rstrip(".") for why in streams.values() if why))
            self.logger.error(
                "tap-gmail: mailbox %s was not fully synced (streams %s): %s. Its state is "
                "unchanged for those streams, so the next run resumes them; other mailboxes "
                "were synced and their state saved.",
                mailbox,
                ", ".join(sorted(streams)),
                "; ".join(reasons),
            )
        sys.stdout.flush()
        raise SystemExit(1)

    def _exit(self, message: str):
        """One ERROR line, then exit 1 (SystemExit(message) would print it a second time)."""
        logging.getLogger(self.name).error(message)
        sys.stdout.flush()
        raise SystemExit(1)


def _check_json_files(argv: list[str]) -> None:
    """One line, not the SDK's traceback, for a broken ``--config`` or ``--state`` file."""
    for flag in ("--config", "--state"):
        for value in flag_values(argv, flag):
            problem = json_object_problem(value)
            if problem is None:
                continue
            fix = (
                STATE_FIX
                if flag == "--state"
                else 'pass a JSON object of settings, e.g. {"oauth_credentials": {...}}.'
            )
            kind = "state" if flag == "--state" else "configuration"
            sys.stderr.write(f"tap-gmail: {kind} error: {flag} {value}: {problem}. To fix: {fix}\n")
            raise SystemExit(1)


def main() -> None:
    _check_json_files(sys.argv[1:])
    TapGmail.cli()
