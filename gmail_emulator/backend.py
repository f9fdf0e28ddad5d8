"""The emulator's whole state: configuration, mailboxes, auth, quota, faults and stats."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, fields

from . import mailbox as seeding
from .auth import AuthRegistry
from .faults import TOKEN_DEFAULT_KINDS, FaultInjector, TokenFaultInjector
from .models import Mailbox
from .push import PushHub
from .quota import QuotaLimiter
from .stats import Stats


@dataclass
class EmulatorConfig:
    users: list[str] = field(default_factory=lambda: ["alice@example.com"])
    messages: int = 0  # synthetic messages per user
    seed: int = 1
    mbox: str | None = None  # loaded into the first user's mailbox
    latency_ms: float = 0.0
    quota_units_per_second: float = 250.0
    quota_window_s: float = 1.0  # the span of Gmail's "moving average" (see quota.py)
    max_concurrent_per_user: int = 20
    fault_rate: float = 0.0
    fault_kinds: tuple[str, ...] = ("429", "403", "500", "503")
    fault_methods: tuple[str, ...] = ()
    fault_seed: int | None = None  # defaults to seed
    fault_slow_ms: float = 2000.0  # extra delay of a "slow" fault
    fault_stall_ms: float = 30000.0  # how long a "stall" fault holds the answer back
    token_ttl: float = 3600.0
    # Faults of the OAuth token endpoint (faults.TOKEN_FAULT_HELP), drawn from their own
    # random stream of the fault seed; token_fault_grants limits them to some grants
    # (refresh_token, jwt_bearer, authorization_code). A stall lasts fault_stall_ms.
    token_fault_rate: float = 0.0
    token_fault_kinds: tuple[str, ...] = TOKEN_DEFAULT_KINDS
    token_fault_grants: tuple[str, ...] = ()
    history_retention: int = 0  # records kept per mailbox; 0 keeps all
    auth_config: str | None = None  # JSON file: clients, refresh_tokens, service_accounts
    max_batch_parts: int = 100
    # Pub/Sub push (see push.py): where to post, and the claims of the signed token
    push_endpoint: str | None = None
    push_audience: str | None = None  # defaults to push_endpoint, as Pub/Sub does
    push_service_account: str = "gmail-push@emulator-project.iam.gserviceaccount.com"
    push_subscription: str = "projects/emulator-project/subscriptions/gmail-push"
    # Test control: messages.send/drafts.send to an address in one of these domains get
    # Gmail's 400 "Invalid To header" (or Cc/Bcc), as Gmail refuses some valid-looking ones.
    refuse_recipient_domains: tuple[str, ...] = ()

    def __post_init__(self):
        self.refuse_recipient_domains = domain_list(self.refuse_recipient_domains)

    @classmethod
    def field_names(cls) -> set[str]:
        return {f.name for f in fields(cls)}


def domain_list(value) -> tuple[str, ...]:
    """Domains from a list or a comma-separated string: lower case, no leading ``@``."""
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, (list, tuple)) or not all(isinstance(d, str) for d in value):
        raise ValueError("refuse_recipient_domains must be a list of domain names")
    return tuple(d.strip().lower().lstrip("@") for d in value if d.strip())


class Emulator:
    """Owns every piece of state; handlers reach mailboxes and policies through it."""

    def __init__(self, config: EmulatorConfig):
        self.config = config
        self.started_at = time.time()
        self.stats = Stats()
        self.auth = AuthRegistry(users=list(config.users), token_ttl=config.token_ttl)
        self.quota = QuotaLimiter(
            units_per_second=config.quota_units_per_second,
            max_concurrent_per_user=config.max_concurrent_per_user,
            window_s=config.quota_window_s,
        )
        self.faults = FaultInjector(
            rate=config.fault_rate,
            kinds=config.fault_kinds,
            methods=config.fault_methods or None,
            seed=config.seed if config.fault_seed is None else config.fault_seed,
            latency_ms=config.latency_ms,
            slow_ms=config.fault_slow_ms,
            stall_ms=config.fault_stall_ms,
        )
        self.token_faults = TokenFaultInjector(**self._token_fault_settings())
        self.push = PushHub(config)
        self.mailboxes: dict[str, Mailbox] = {}
        for index, user in enumerate(config.users):
            self.add_user(user, seed=config.seed + index)
        if config.auth_config:
            self.load_auth_config(config.auth_config)

    def add_user(self, email: str, seed: int | None = None) -> Mailbox:
        key = email.lower()
        if key in self.mailboxes:
            return self.mailboxes[key]
        mailbox = Mailbox(
            email,
            seed=self.config.seed if seed is None else seed,
            history_retention=self.config.history_retention,
        )
        mailbox.listener = self.push.changed
        self.mailboxes[key] = mailbox
        if email not in self.auth.users:
            self.auth.users.append(email)
        return mailbox

    def mailbox_for(self, user: str) -> Mailbox | None:
        return self.mailboxes.get(user.lower())

    def seed(self) -> None:
        """Fill mailboxes: synthetic messages for every user, then the mbox if given."""
        for index, mailbox in enumerate(self.mailboxes.values()):
            if self.config.messages:
                self._load(
                    mailbox,
                    seeding.synthetic_messages(
                        mailbox.email, self.config.messages, self.config.seed + index
                    ),
                )
        if self.config.mbox:
            first = next(iter(self.mailboxes.values()))
            self._load(first, seeding.load_mbox(self.config.mbox, first.email))

    @staticmethod
    def _load(mailbox: Mailbox, seeds) -> None:
        # Seeded mail is "old": it gets history ids but no history records, as if the
        # records had aged out, so a client must start with a full sync.
        with mailbox.lock:
            for seed in seeds:
                label_ids = {mailbox.labels.ensure(name) for name in seed.label_ids}
                message = mailbox.add_message(
                    seed.raw, label_ids, received_ms=seed.received_ms, record_history=False
                )
                if "DRAFT" in label_ids:
                    mailbox.register_draft(message)

    def load_auth_config(self, path: str) -> None:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
        self.configure_auth(data)

    def configure_auth(self, data: dict) -> None:
        for client in data.get("clients", []):
            self.auth.add_client(client["client_id"], client["client_secret"])
        for token in data.get("refresh_tokens", []):
            self.auth.add_refresh_token(
                token["refresh_token"],
                token["user"],
                token.get("scopes") or ["https://mail.google.com/"],
                token.get("client_id"),
            )
        for info in data.get("service_accounts", []):
            if "private_key" in info:
                self.auth.add_service_account_info(info)
            else:
                self.auth.add_service_account(
                    info["client_email"], info["public_key_pem"], info.get("key_id")
                )

    def reconfigure(self, changes: dict) -> None:
        """Apply runtime changes from ``POST /_emulator/config``."""
        unknown = set(changes) - EmulatorConfig.field_names()
        if unknown:
            raise ValueError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        if "refuse_recipient_domains" in changes:
            changes = dict(changes)
            changes["refuse_recipient_domains"] = domain_list(changes["refuse_recipient_domains"])
        before = {key: getattr(self.config, key) for key in changes}
        for key, value in changes.items():
            setattr(self.config, key, value)
        try:
            self._apply_config()
        except Exception:
            # All or nothing: a refused change must not stay in the config, or every later
            # /_emulator/config call (even a valid one) is refused for it.
            for key, value in before.items():
                setattr(self.config, key, value)
            self._apply_config()
            raise

    def _apply_config(self) -> None:
        config = self.config
        self.quota.reconfigure(
            units_per_second=config.quota_units_per_second,
            max_concurrent_per_user=config.max_concurrent_per_user,
            window_s=config.quota_window_s,
        )
        self.faults.reconfigure(
            rate=config.fault_rate,
            kinds=config.fault_kinds,
            methods=config.fault_methods or None,
            seed=config.seed if config.fault_seed is None else config.fault_seed,
            latency_ms=config.latency_ms,
            slow_ms=config.fault_slow_ms,
            stall_ms=config.fault_stall_ms,
        )
        self.token_faults.reconfigure(**self._token_fault_settings())
        self.auth.set_ttl(config.token_ttl)
        for mailbox in self.mailboxes.values():
            with mailbox.lock:
                mailbox.history.set_retention(config.history_retention)

    def _token_fault_settings(self) -> dict:
        config = self.config
        return {
            "rate": config.token_fault_rate,
            "kinds": config.token_fault_kinds,
            "methods": config.token_fault_grants or None,
            "seed": config.seed if config.fault_seed is None else config.fault_seed,
            "stall_ms": config.fault_stall_ms,
        }

    def snapshot(self) -> dict:
        stats = self.stats.snapshot()
        stats["mailboxes"] = {
            mailbox.email: {
                "messages": len(mailbox.messages),
                "threads": len(mailbox.threads),
                "history_records": len(mailbox.history.records),
                "history_id": mailbox.history.current,
            }
            for mailbox in self.mailboxes.values()
        }
        stats["messages"] = sum(len(m.messages) for m in self.mailboxes.values())
        stats["history_records"] = sum(len(m.history.records) for m in self.mailboxes.values())
        stats["quota"] = self.quota.snapshot()
        stats["faults"]["injector"] = self.faults.snapshot()
        stats["faults"]["token_injector"] = self.token_faults.snapshot()
        stats["push"] = self.push.snapshot()
        stats["uptime_s"] = round(time.time() - self.started_at, 3)
        return stats
