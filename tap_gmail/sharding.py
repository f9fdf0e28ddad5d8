"""Split a Workspace's mailboxes between N tap jobs: deterministic, disjoint, stable.

A mailbox belongs to shard ``sha256(address) mod count``: every job computes the same split
with no coordination, no mailbox is read twice, and adding or removing a mailbox never moves
the others to another shard (so their state partitions stay with the job that owns them).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from gmail_core.errors import ConfigError

_FIX = 'set `shard` to {"index": I, "count": N} with 0 <= I < N, one job per index.'


def shard_of(mailbox: str, count: int) -> int:
    digest = hashlib.sha256(mailbox.strip().lower().encode()).digest()
    return int.from_bytes(digest[:8], "big") % count


def select(config: Mapping) -> dict:
    """The config with ``user_ids`` cut down to this job's shard (unchanged without one)."""
    shard = config.get("shard")
    if not shard:
        return dict(config)
    if not isinstance(shard, Mapping):
        raise ConfigError("shard", "must be an object with `index` and `count`.", _FIX)
    unknown = sorted(str(key) for key in shard if key not in ("index", "count"))
    if unknown:
        raise ConfigError("shard", f"has unknown key(s) {', '.join(unknown)}.", _FIX)
    index, count = _whole(shard, "index"), _whole(shard, "count")
    if count < 1:
        raise ConfigError("shard", f"count {count} must be at least 1.", _FIX)
    if not 0 <= index < count:
        raise ConfigError("shard", f"index {index} is outside 0..{count - 1}.", _FIX)
    users = config.get("user_ids")
    if not users:
        raise ConfigError(
            "shard",
            "splits `user_ids` (domain-wide delegation); none are configured.",
            "remove `shard`, or list the mailboxes in `user_ids`.",
        )
    if isinstance(users, str):
        users = [user for user in users.split(",") if user.strip()]
    mine = [user for user in users if shard_of(user, count) == index]
    return {**config, "user_ids": mine}


def _whole(shard: Mapping, key: str) -> int:
    """``shard[key]`` as an int. Flat keys (``shard.index``, from Meltano or the environment)
    skip the schema check, so 1.9 or true must be refused here, never truncated to 1."""
    value = shard.get(key)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit() and value.isascii():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if value is None:
        raise ConfigError("shard", f"`{key}` is missing.", _FIX)
    shown = repr(value) if isinstance(value, str) else str(value)
    raise ConfigError("shard", f"`{key}` is {shown}, not a whole number.", _FIX)
