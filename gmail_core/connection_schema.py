"""JSON Schema of the settings tap and target share: credentials, endpoints and pacing.

Plain JSON Schema (no singer-sdk here) so both plugins show the same names, types and
descriptions in ``--about``; each plugin adds its own settings next to these.
"""

from __future__ import annotations

import copy


def _nullable(kind: str | list[str], description: str, **extra) -> dict:
    kinds = [kind] if isinstance(kind, str) else list(kind)
    return {"type": [*kinds, "null"], "description": description, **extra}


def _secret(kind: str | list[str], description: str) -> dict:
    return _nullable(kind, description, secret=True, writeOnly=True)


_PROPERTIES: dict[str, dict] = {
    "oauth_credentials": _nullable(
        "object",
        "OAuth user credentials for one mailbox",
        properties={
            "client_id": _nullable("string", "OAuth client id"),
            "client_secret": _secret("string", "OAuth client secret"),
            "refresh_token": _secret("string", "OAuth refresh token (get one with `gmail-auth`)"),
        },
        additionalProperties=True,
    ),
    "user_id": _nullable(
        "string", "Mailbox to use with OAuth credentials; `me` is the token's user", default="me"
    ),
    "service_account_info": _secret(
        ["object", "string"],
        "Service-account key (JSON object or string) for domain-wide delegation",
    ),
    "service_account_file": _nullable(
        "string", "Path to a service-account key file (alternative to service_account_info)"
    ),
    "user_ids": _nullable(
        "array",
        "Workspace mailboxes to use through domain-wide delegation",
        items={"type": ["string"]},
    ),
    "api_url": _nullable(
        "string",
        "Gmail API root (point at gmail-emulator for local runs)",
        default="https://gmail.googleapis.com",
    ),
    "token_url": _nullable(
        "string", "OAuth token endpoint", default="https://oauth2.googleapis.com/token"
    ),
    "quota_units_per_second": _nullable(
        "number", "Quota units to spend per second per mailbox (0: unlimited)", default=250
    ),
    "quota_window_s": _nullable(
        "number",
        "Seconds Gmail averages the per-second quota over (1 = strictest; longer allows "
        "bursts, and lets 100-unit sends approach 2.5/s)",
        default=1,
    ),
    "request_timeout_s": _nullable(
        "number",
        "Seconds to wait for Gmail's answer before retrying the call (1..600)",
        default=60,
    ),
    "retry_max_tries": _nullable(
        "integer",
        "Attempts per Gmail call before it counts as failed (transient errors, 429, 5xx)",
        default=8,
    ),
    "retry_max_time_s": _nullable(
        "number",
        "Seconds one Gmail call may spend retrying; bounds how long an outage holds a run",
        default=300,
    ),
    "quota_costs": _nullable(
        "object",
        'Override per-method quota costs, e.g. {"messages.get": 20}',
        properties={},
        additionalProperties={"type": ["integer"]},
    ),
    "max_concurrency": _nullable("integer", "Concurrent requests per mailbox", default=4),
    "batch_size": _nullable("integer", "Calls per Gmail batch request (1-100)", default=50),
}


def connection_properties() -> dict[str, dict]:
    """A fresh copy, so one plugin's edits never leak into the other's schema."""
    return copy.deepcopy(_PROPERTIES)
