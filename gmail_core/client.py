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
        """Checked settings. An unset (null or empty) setting takes its default; a 0 is a
        value like any other and must be in range (it used to mean "the default" silently)."""
        defaults = RetryPolicy()
        batch_size = number_setting(
            config, "batch_size", DEFAULT_BATCH_SIZE, 1, MAX_BATCH_SIZE, integer=True,
            fix=f"Gmail accepts at most {MAX_BATCH_SIZE} calls per batch; 50 is recommended.",
        )  # fmt: skip
        concurrency = number_setting(
            config, "max_concurrency", 4, 1, 100, integer=True,
            fix="4 suits Gmail; lower it if Gmail answers 429 (too many concurrent requests).",
        )  # fmt: skip
        rate = number_setting(
            config, "quota_units_per_second", 250.0, 0, 1_000_000,
            fix="use Gmail's per-user quota (250 by default), or 0 for no pacing.",
        )  # fmt: skip
        api_url = str(config.get("api_url") or DEFAULT_API_URL)
        if not api_url.startswith(("http://", "https://")):
            raise ConfigError("api_url", f"{api_url!r} is not an http(s) URL")
        window = number_setting(
            config, "quota_window_s", 1.0, 0.1, 60,
            fix="leave it at 1 unless you know your project's quota is averaged over a longer "
            "window.",
        )  # fmt: skip
        timeout = number_setting(
            config, "request_timeout_s", 60.0, 1, 600,
            fix="60 suits Gmail; lower it only to retry stalled answers sooner.",
        )  # fmt: skip
        retry_fix = "the defaults (8 tries, 300 s) ride out Gmail's usual transient errors."
        tries = number_setting(
            config, "retry_max_tries", defaults.max_tries, 1, 100, integer=True, fix=retry_fix
        )
        span = number_setting(
            config, "retry_max_time_s", defaults.max_time_s, 1, 86_400, fix=retry_fix
        )
        costs = config.get("quota_costs")
        for method, units in (costs or {}).items() if isinstance(costs, Mapping) else ():
            number_setting(
                {f"quota_costs.{method}": units}, f"quota_costs.{method}", 0, 0, 10_000,
                integer=True, fix='e.g. {"messages.get": 20}.',
            )  # fmt: skip
        retry = RetryPolicy(max_tries=tries, max_time_s=span, timeout_s=timeout)
        return cls(
            api_url, rate, concurrency, batch_size, costs,
            retry=retry, quota_window_s=window,
        )  # fmt: skip


def number_setting(config: Mapping, name: str, default, low, high, integer=False, fix=""):
    """``config[name]`` as a number in ``low..high`` (``default`` when null or empty)."""
    value = config.get(name)
    if value is None or value == "":
        return default
    try:  # the SDK reads JSON numbers with a fraction as Decimal; env values may be strings
        number = None if isinstance(value, bool) else float(value)
    except (TypeError, ValueError):
        number = None
    kind = "a whole number" if integer else "a number"
    if number is None or (integer and not number.is_integer()):
        raise ConfigError(name, f"{value!r} is not {kind}.", fix)
    if not low <= number <= high:  # also refuses NaN and infinities
        raise ConfigError(name, f"{number:g} is outside {low:g}..{high:g}.", fix)
    return int(number) if integer else number


class MailboxClient:
    """Everything needed to call Gmail for one mailbox."""

    def __init__(self, mailbox_auth, settings: ClientSettings, metrics: Metrics, user_id: str):
        self.auth = mailbox_auth
        self.auth.timeout_s = settings.retry.timeout_s  # token requests time out like calls
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

    def token(self) -> str:
        """An access token, with transient token-endpoint failures retried (the policy's)."""
        return self.transport.token()

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
