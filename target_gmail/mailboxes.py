"""One ``MailboxContext`` per configured mailbox, and routing records to them.

Everything stateful about a mailbox lives here: its client (auth, governor, breaker), its
label directory, its mutator (live or dry-run) and its sender. A record's ``mailbox`` field
picks the context; with one mailbox configured it may be left out.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping

from gmail_core.client import MailboxClient, clients_from_config
from gmail_core.errors import ApiError, ConfigError
from gmail_core.metrics import Metrics

from . import rbac
from .label_apply import LabelChangeApplier
from .labels import LabelDirectory
from .ledger import Ledger
from .plan import Mutator, Plan
from .rejection import Rejected
from .sender import Sender, SendPolicy
from .settings import TargetSettings


class MailboxContext:
    def __init__(self, client: MailboxClient, settings: TargetSettings, plan: Plan | None):
        self.client = client
        self.settings = settings
        self._address: str | None = client.auth.mailbox  # known for delegated mailboxes
        self.mutator = Mutator(client, plan, lambda: self.name)
        self.directory = LabelDirectory(self.mutator)
        self.labels = LabelChangeApplier(
            self.directory, self.mutator, settings.create_missing_labels
        )
        self._granted: set[str] | None = None
        self._checked: set[str] = set()
        self._lock = threading.Lock()
        self._sender: Sender | None = None
        self._verified = False

    @property
    def name(self) -> str:
        """For logs and plans: the address if known, without a call to learn it."""
        return self._address or "me"

    @property
    def address(self) -> str:
        """The mailbox address; with OAuth ``me`` it costs one getProfile, made only when
        needed (sends, records naming a mailbox), so label changes stay at their minimum."""
        if self._address is None:
            try:
                self._address = self.client.mailbox
            except ApiError as error:
                if error.status != 403:
                    raise
                raise ConfigError(
                    "user_id",
                    "the token may not read its profile to learn the mailbox address "
                    f"({error.gmail_message})",
                    "set user_id to the mailbox's address (needed with a gmail.send-only token).",
                ) from None
        return self._address

    def granted_scopes(self) -> set[str]:
        with self._lock:
            if self._granted is None:
                self.client.token()  # the token answer says which scopes it holds (retried)
                self._granted = self.client.auth.granted_scopes()
            return self._granted

    def check(self, action: str) -> None:
        """Role and scopes for ``action``, once per action, before its first Gmail call."""
        if action in self._checked:
            return
        rbac.check_role(self.settings.role, action, self.settings.dry_run)
        rbac.check_scopes(self.granted_scopes(), action, self.settings.dry_run, self.name)
        self._check_user_id()
        self._checked.add(action)

    def _check_user_id(self) -> None:
        """An OAuth token acts on its own mailbox, whatever ``user_id`` says: before writing,
        make sure they agree (one getProfile), or the sends would go out From the wrong
        address. A token that may not read its profile (gmail.send only: 403
        insufficientPermissions) is trusted; any other 403 ("Delegation denied") is not."""
        configured = self.client.auth.mailbox
        if self.client.auth.kind != "oauth" or configured is None or self._verified:
            return
        try:
            actual = self.client.call("getProfile", "GET", "profile")["emailAddress"]
        except ApiError as error:
            if error.status != 403:
                raise
            if error.reason != "insufficientPermissions":  # "Delegation denied for ..."
                raise ConfigError(
                    "user_id",
                    f"Gmail refuses the OAuth token access to {configured!r} "
                    f"({error.gmail_message}).",
                    "set user_id to the token's own mailbox (or leave it unset), or use a "
                    "refresh token of that mailbox.",
                ) from None
            actual = configured
        self._verified = True
        if actual.lower() != configured.lower():
            raise ConfigError(
                "user_id",
                f"{configured!r} is not the mailbox of the OAuth token (that is {actual!r})",
                "set user_id to the token's mailbox, or use a refresh token of that mailbox.",
            )

    def sender(self, ledger: Callable[[], Ledger], reconcile_delays: tuple | None) -> Sender:
        granted = self.granted_scopes()  # takes the lock itself
        with self._lock:
            if self._sender is None:
                policy = SendPolicy(
                    can_search=rbac.can_search(granted), can_modify=rbac.can_modify(granted)
                )
                if reconcile_delays is not None:
                    policy.reconcile_delays_s = reconcile_delays
                self._sender = Sender(
                    self.client,
                    self.address,
                    self.mutator,
                    ledger(),
                    self.directory,
                    self.settings.create_missing_labels,
                    policy,
                )
            return self._sender


class Mailboxes:
    """All configured mailboxes; addresses are looked up only when a record names one."""

    def __init__(
        self,
        config: Mapping,
        settings: TargetSettings,
        metrics: Metrics,
        plan: Plan | None,
    ):
        actions = {a for a in settings.actions.values() if a in rbac.WRITE_SCOPES}
        clients = clients_from_config(config, rbac.scopes_to_request(actions), metrics)
        self._all = [MailboxContext(client, settings, plan) for client in clients]
        self._by_address: dict[str, MailboxContext] | None = None
        self._lock = threading.Lock()

    @property
    def by_address(self) -> dict[str, MailboxContext]:
        with self._lock:
            if self._by_address is None:
                self._by_address = {context.address.lower(): context for context in self._all}
            return self._by_address

    def for_record(self, record: dict) -> MailboxContext:
        wanted = record.get("mailbox")
        if not wanted and len(self._all) == 1:
            return self._all[0]
        known = ", ".join(sorted(self.by_address))
        if not wanted:
            raise Rejected(
                f"`mailbox` is required: several mailboxes are configured ({known})", "mailbox"
            )
        context = self.by_address.get(str(wanted).strip().lower())
        if context is None:
            raise Rejected(
                f"`mailbox` {wanted!r} is not one of the configured mailboxes ({known})",
                "mailbox",
            )
        return context
