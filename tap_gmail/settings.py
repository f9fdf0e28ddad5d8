"""tap-gmail settings: the JSON Schema shown by ``--about`` and config normalisation.

Names follow MeltanoLabs tap-gmail (``oauth_credentials.*``, ``user_id``, ``messages.*``) so
this tap is a drop-in replacement; both the nested form Meltano sends and flat dotted keys
are accepted.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone

from singer_sdk import typing as th

from gmail_core.connection_schema import connection_properties
from gmail_core.errors import ConfigError

MESSAGE_FORMATS = ("full", "metadata", "minimal", "raw")
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
NESTED = ("oauth_credentials", "messages", "shard")

_TAP_SCHEMA = th.PropertiesList(
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
        "shard",
        th.ObjectType(
            th.Property("index", th.IntegerType, required=True),
            th.Property("count", th.IntegerType, required=True),
        ),
        description="Read only this job's share of `user_ids`: mailboxes whose address "
        "hashes to `index` modulo `count` (run one job per index, each with its own state)",
    ),
    th.Property(
        "keep_thread_index",
        th.BooleanType,
        default=True,
        description="Keep each mailbox's thread index between runs, so an incremental run "
        "derives changed threads instead of paying threads.get (10 units) for each "
        "(applies when both messages and threads are selected)",
    ),
    th.Property(
        "thread_index_dir",
        th.StringType,
        description="Directory of the thread indexes (SQLite, about 300 bytes a message; "
        "holds subjects and snippets). Default: .meltano/run/tap-gmail/thread-index under "
        "Meltano, else ./.tap-gmail/thread-index. Keep it on storage that outlives a run",
    ),
    th.Property(
        "max_parallel_mailboxes",
        th.IntegerType,
        default=4,
        description="Mailboxes read at the same time (domain-wide delegation)",
    ),
).to_dict()
CONFIG_SCHEMA = {
    **_TAP_SCHEMA,
    "properties": {**connection_properties(), **_TAP_SCHEMA["properties"]},
}


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
    parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
    if parsed < EPOCH:  # Gmail's search takes `after:` in epoch seconds, never negative
        raise ConfigError(
            "start_date",
            f"{value!r} is before 1970-01-01, which Gmail's search cannot express",
            "remove `start_date` to read every message, or use a later date.",
        )
    return parsed
