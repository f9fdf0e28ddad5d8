"""tap-gmail settings: the JSON Schema shown by ``--about`` and config normalisation.

Names follow MeltanoLabs tap-gmail (``oauth_credentials.*``, ``user_id``, ``messages.*``) so
this tap is a drop-in replacement; both the nested form Meltano sends and flat dotted keys
are accepted.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone

from singer_sdk import typing as th

from gmail_core.errors import ConfigError

MESSAGE_FORMATS = ("full", "metadata", "minimal", "raw")
NESTED = ("oauth_credentials", "messages")

CONFIG_SCHEMA = th.PropertiesList(
    th.Property(
        "oauth_credentials",
        th.ObjectType(
            th.Property("client_id", th.StringType, description="OAuth client id"),
            th.Property(
                "client_secret", th.StringType, secret=True, description="OAuth client secret"
            ),
            th.Property(
                "refresh_token",
                th.StringType,
                secret=True,
                description="OAuth refresh token (get one with `gmail-auth`)",
            ),
        ),
        description="OAuth user credentials for one mailbox",
    ),
    th.Property(
        "user_id",
        th.StringType,
        default="me",
        description="Mailbox to read with OAuth credentials; `me` is the token's user",
    ),
    th.Property(
        "service_account_info",
        th.CustomType({"type": ["object", "string"]}),
        secret=True,
        description="Service-account key (JSON object or string) for domain-wide delegation",
    ),
    th.Property(
        "service_account_file",
        th.StringType,
        description="Path to a service-account key file (alternative to service_account_info)",
    ),
    th.Property(
        "user_ids",
        th.ArrayType(th.StringType),
        description="Workspace mailboxes to read through domain-wide delegation",
    ),
    th.Property(
        "messages",
        th.ObjectType(
            th.Property(
                "q", th.StringType, description="Gmail search query limiting the full sync"
            ),
            th.Property(
                "include_spam_trash",
                th.BooleanType,
                default=False,
                description="Include messages from SPAM and TRASH",
            ),
        ),
    ),
    th.Property(
        "start_date",
        th.DateTimeType,
        description="Only read messages received after this time (full sync)",
    ),
    th.Property(
        "message_format",
        th.StringType,
        default="full",
        allowed_values=list(MESSAGE_FORMATS),
        description="messages.get format; `metadata` skips bodies",
    ),
    th.Property(
        "api_url",
        th.StringType,
        default="https://gmail.googleapis.com",
        description="Gmail API root (point at gmail-emulator for local runs)",
    ),
    th.Property(
        "token_url",
        th.StringType,
        default="https://oauth2.googleapis.com/token",
        description="OAuth token endpoint",
    ),
    th.Property(
        "quota_units_per_second",
        th.NumberType,
        default=250,
        description="Quota units to spend per second per mailbox (0: unlimited)",
    ),
    th.Property(
        "quota_costs",
        th.ObjectType(additional_properties=th.IntegerType),
        description='Override per-method quota costs, e.g. {"messages.get": 20}',
    ),
    th.Property(
        "max_concurrency", th.IntegerType, default=4, description="Concurrent requests per mailbox"
    ),
    th.Property(
        "max_parallel_mailboxes",
        th.IntegerType,
        default=4,
        description="Mailboxes read at the same time (domain-wide delegation)",
    ),
    th.Property(
        "batch_size",
        th.IntegerType,
        default=50,
        description="Calls per Gmail batch request (1-100)",
    ),
).to_dict()


def normalized(config: Mapping) -> dict:
    """Fold flat dotted keys (``messages.q``) into the nested objects they belong to."""
    out: dict = {k: v for k, v in config.items() if "." not in k}
    for key, value in config.items():
        if "." not in key:
            continue
        head, _, rest = key.partition(".")
        if head not in NESTED:
            raise ConfigError(key, "is not a known setting", "see `tap-gmail --about`.")
        nested = dict(out.get(head) or {})
        nested.setdefault(rest, value)
        out[head] = nested
    fmt = out.get("message_format") or "full"
    if fmt not in MESSAGE_FORMATS:
        raise ConfigError("message_format", f"{fmt!r} is not one of {', '.join(MESSAGE_FORMATS)}")
    return out


def start_date(config: Mapping) -> datetime | None:
    value = config.get("start_date")
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(
            "start_date",
            f"{value!r} is not an ISO-8601 date-time",
            "use e.g. 2024-01-01T00:00:00Z.",
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
