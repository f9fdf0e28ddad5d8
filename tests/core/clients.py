"""A MailboxClient against the emulator with fast retries, shared by the transport tests."""

from __future__ import annotations

from gmail_core.client import MailboxClient, clients_from_config
from gmail_core.metrics import Metrics
from gmail_core.transport import RetryPolicy


def fast_client(
    server, *, tries: int = 6, max_time_s: float = 60, max_wait_s: float = 0.1,
    timeout_s: float = 60, **settings,
) -> MailboxClient:  # fmt: skip
    config = {
        "oauth_credentials": {"client_id": "c", "client_secret": "s", "refresh_token": "r"},
        "api_url": server.url,
        "token_url": server.token_url,
        "quota_units_per_second": 0,
        **settings,
    }
    (client,) = clients_from_config(config, ["https://mail.google.com/"], Metrics())
    client.transport.policy = RetryPolicy(
        max_tries=tries, max_time_s=max_time_s, base_s=0.01, max_wait_s=max_wait_s,
        timeout_s=timeout_s,
    )  # fmt: skip
    return client
