"""One ``MailboxClient`` per mailbox: its own auth, governor, breaker, transport and batcher.

This is the isolation unit the tap and target share: one mailbox's quota errors, open
breaker or revoked delegation never slow down or stop another mailbox.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .auth_config import auths_from_config
from .batch import DEFAULT_BATCH_SIZE, MAX_BATCH_SIZE, BatchPart, GmailBatch, PartResult
from .breaker import MailboxBreaker
from .errors import ConfigError
from .metrics import Metrics
from .quota import QuotaGovernor
from .transport import GmailTransport, RetryPolicy

DEFAULT_API_URL = "https://gmail.googleapis.com"


@dataclass
class ClientSettings:
    """The transport-related settings shared by tap and target (names fixed by DESIGN.md)."""

    api_url: str = DEFAULT_API_URL
    quota_units_per_second: float = 250.0
    max_concurrency: int = 4
    batch_size: int = DEFAULT_BATCH_SIZE
    quota_costs: dict | None = None
    retry: RetryPolicy = RetryPolicy()
    quota_window_s: float = 1.0

    @classmethod
    def from_config(cls, config: Mapping) -> ClientSettings:
        batch_size = int(config.get("batch_size") or DEFAULT_BATCH_SIZE)
        if not 1 <= batch_size <= MAX_BATCH_SIZE:
            raise ConfigError(
                "batch_size",
                f"{batch_size} is outside 1..{MAX_BATCH_SIZE}",
                f"Gmail accepts at most {MAX_BATCH_SIZE} calls per batch; 50 is recommended.",
            )
        concurrency = int(config.get("max_concurrency") or 4)
        if concurrency < 1:
            raise ConfigError("max_concurrency", "must be at least 1")
        rate = config.get("quota_units_per_second")
        rate = 250.0 if rate is None else float(rate)
        api_url = str(config.get("api_url") or DEFAULT_API_URL)
        if not api_url.startswith(("http://", "https://")):
            raise ConfigError("api_url", f"{api_url!r} is not an http(s) URL")
        window = float(config.get("quota_window_s") or 1.0)
        if not 0.1 <= window <= 60:
            raise ConfigError(
                "quota_window_s",
                f"{window} is outside 0.1..60",
                "leave it at 1 unless you know"
                " your project's quota is averaged over a longer window.",
            )
        timeout = float(config.get("request_timeout_s") or 60.0)
        if not 1 <= timeout <= 600:
            raise ConfigError(
                "request_timeout_s",
                f"{timeout} is outside 1..600",
                "60 suits Gmail; lower it only to retry stalled answers sooner.",
            )
        defaults = RetryPolicy()
        tries = int(config.get("retry_max_tries") or defaults.max_tries)
        span = float(config.get("retry_max_time_s") or defaults.max_time_s)
        if tries < 1 or span <= 0:
            raise ConfigError(
                "retry_max_tries" if tries < 1 else "retry_max_time_s",
                "must be positive",
                "the defaults (8 tries, 300 s) ride out Gmail's usual transient errors.",
            )
        retry = RetryPolicy(max_tries=tries, max_time_s=span, timeout_s=timeout)
        return cls(
            api_url, rate, concurrency, batch_size, config.get("quota_costs"),
            retry=retry, quota_window_s=window,
        )  # fmt: skip


class MailboxClient:
    """Everything needed to call Gmail for one mailbox."""

    def __init__(self, mailbox_auth, settings: ClientSettings, metrics: Metrics, user_id: str):
        self.auth = mailbox_auth
        self.settings = settings
        self.metrics = metrics
        key = mailbox_auth.mailbox or user_id
        self.governor = QuotaGovernor(
            units_per_second=settings.quota_units_per_second,
            max_concurrency=settings.max_concurrency,
            costs=settings.quota_costs,
            window_s=settings.quota_window_s,
        )
        self.breaker = MailboxBreaker(key, on_transition=metrics.breaker_transition)
        self.transport = GmailTransport(
            key,
            mailbox_auth,
            self.governor,
            self.breaker,
            metrics,
            api_url=settings.api_url,
            user_id=user_id,
            policy=settings.retry,
        )
        self.batcher = GmailBatch(self.transport, settings.batch_size)
        self._mailbox = mailbox_auth.mailbox

    @property
    def mailbox(self) -> str:
        """The mailbox address; asks getProfile once when the credential does not say."""
        if self._mailbox is None:
            profile = self.call("getProfile", "GET", "profile")
            self._mailbox = profile["emailAddress"]
            self.transport.mailbox = self._mailbox
        return self._mailbox

    def call(
        self, method: str, http_method: str, path: str, params=None, body=None, idempotent=True
    ):
        return self.transport.call(method, http_method, path, params, body, idempotent)

    def batch(self, parts: list[BatchPart]) -> list[PartResult]:
        return self.batcher.execute(parts)


def clients_from_config(
    config: Mapping, scopes: list[str], metrics: Metrics
) -> list[MailboxClient]:
    """Build one client per configured mailbox (OAuth user, or each delegated subject)."""
    settings = ClientSettings.from_config(config)
    auths = auths_from_config(config, scopes)
    clients = []
    for mailbox_auth in auths:
        # A delegated service-account token acts as its subject, so "me" addresses it. An
        # OAuth user's `user_id` selects the mailbox in the path (`users/{user_id}/...`):
        # Gmail answers 403 when the token may not read it, never another mailbox's data.
        user_id = "me" if mailbox_auth.kind == "service_account" else mailbox_auth.user_id
        clients.append(MailboxClient(mailbox_auth, settings, metrics, user_id))
    return clients
