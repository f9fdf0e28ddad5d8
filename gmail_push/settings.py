"""gmail-push settings: tap-gmail's connection settings plus the push ones, checked up front.

One JSON config holds both, so ``gmail-push`` uses exactly the credentials, endpoints and
pacing tap-gmail uses. Every mistake is a ``ConfigError`` naming the setting and the fix,
raised before any network call.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from gmail_core.errors import ConfigError
from tap_gmail.settings import normalized

GOOGLE_CERTS_URL = "https://www.googleapis.com/oauth2/v1/certs"
GOOGLE_ISSUERS = ("https://accounts.google.com", "accounts.google.com")
DEFAULT_STATE_PATH = ".meltano/run/gmail-push/watches.json"
_TOPIC = re.compile(r"^projects/[^/]+/topics/[^/]+$")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def load_config(path: str | None) -> dict:
    """The config file as a dict, tap-gmail's dotted keys folded into nested objects."""
    if not path:
        raise ConfigError(
            "--config", "no config file given.", "pass --config FILE or set GMAIL_PUSH_CONFIG."
        )
    try:
        data = json.loads(Path(path).expanduser().read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigError("--config", f"cannot read {path}: {error.strerror}.") from None
    except json.JSONDecodeError as error:
        raise ConfigError(
            "--config", f"{path} is not JSON (line {error.lineno}, column {error.colno})."
        ) from None
    if not isinstance(data, dict):
        raise ConfigError("--config", f"{path} must hold a JSON object.")
    return normalized(data)


def parse_duration(text: str, setting: str) -> float:
    """Seconds from ``90``, ``30s``, ``15m``, ``24h`` or ``2d``."""
    found = _DURATION.match(str(text))
    if not found:
        raise ConfigError(setting, f"{text!r} is not a duration.", "write e.g. 24h, 90m or 2d.")
    return float(found.group(1)) * _UNITS[found.group(2)]


@dataclass(frozen=True)
class WatchSettings:
    topic_name: str
    label_ids: tuple[str, ...]
    label_filter_behavior: str
    state_path: Path

    @classmethod
    def from_config(cls, config: Mapping) -> WatchSettings:
        topic = config.get("topic_name")
        if not isinstance(topic, str) or not _TOPIC.match(topic.strip()):
            raise ConfigError(
                "topic_name",
                "is missing." if not topic else f"{topic!r} is not a Pub/Sub topic name.",
                "set it to projects/PROJECT/topics/TOPIC (the topic Gmail publishes to).",
            )
        labels = _strings(config.get("label_ids"), "label_ids", 'e.g. ["INBOX"].')
        behavior = str(config.get("label_filter_behavior") or "include").lower()
        if behavior not in ("include", "exclude"):
            raise ConfigError("label_filter_behavior", f"{behavior!r} is not include or exclude.")
        state = Path(config.get("watch_state_path") or DEFAULT_STATE_PATH).expanduser()
        return cls(topic.strip(), tuple(labels), behavior, state)


@dataclass(frozen=True)
class ReceiverSettings:
    audience: str
    service_account: str
    certs_url: str
    issuers: tuple[str, ...]
    subscriptions: tuple[str, ...]  # empty: any subscription
    mailboxes: tuple[str, ...]  # empty: ask the configured credentials
    host: str
    port: int
    path: str
    max_body_bytes: int
    clock_skew_s: int
    replay_cache_size: int
    events_path: Path | None

    @classmethod
    def from_config(cls, config: Mapping) -> ReceiverSettings:
        audience = _required(
            config,
            "push_audience",
            "set it to the audience of the push subscription's OIDC token (by default Pub/Sub "
            "uses the push endpoint URL).",
        )
        account = _required(
            config,
            "push_service_account",
            "set it to the service account the push subscription authenticates as.",
        )
        certs_url = str(config.get("push_certs_url") or GOOGLE_CERTS_URL)
        if not certs_url.startswith(("https://", "http://")):
            raise ConfigError("push_certs_url", f"{certs_url!r} is not an http(s) URL.")
        issuers = _strings(config.get("push_issuers"), "push_issuers", "") or GOOGLE_ISSUERS
        path = str(config.get("push_path") or "/")
        if not path.startswith("/"):
            raise ConfigError("push_path", f"{path!r} must start with /.")
        events = config.get("events_path")
        mailboxes = _strings(config.get("push_mailboxes"), "push_mailboxes")
        return cls(
            audience=audience,
            service_account=account.lower(),
            certs_url=certs_url,
            issuers=tuple(issuers),
            subscriptions=tuple(_strings(config.get("push_subscriptions"), "push_subscriptions")),
            mailboxes=tuple(m.lower() for m in mailboxes),
            host=str(config.get("listen_host") or "127.0.0.1"),
            port=_int(config, "listen_port", 8080, 0, 65535),
            path=path,
            max_body_bytes=_int(config, "max_body_bytes", 65536, 1024, 10 * 1024 * 1024),
            clock_skew_s=_int(config, "clock_skew_s", 10, 0, 300),
            replay_cache_size=_int(config, "replay_cache_size", 100_000, 100, 10_000_000),
            events_path=Path(events).expanduser() if events else None,
        )  # fmt: skip


@dataclass(frozen=True)
class SyncSettings:
    command: tuple[str, ...]
    cwd: str | None
    per_mailbox: bool
    debounce_s: float
    timeout_s: float
    retries: int
    retry_base_s: float
    retry_max_s: float
    on_start: bool

    @classmethod
    def from_config(cls, config: Mapping) -> SyncSettings:
        command = config.get("sync_command")
        if isinstance(command, str):
            command = shlex.split(command)
        if command is None:
            loader = config.get("loader")
            if not isinstance(loader, str) or not loader.strip():
                raise ConfigError(
                    "loader",
                    "is missing, and no `sync_command` is set.",
                    "set `loader` to your Meltano loader (e.g. target-duckdb) to run "
                    "`meltano run tap-gmail LOADER`, or set `sync_command` to any command.",
                )
            command = ["meltano", "run", "tap-gmail", loader.strip()]
        if (
            not isinstance(command, list)
            or not command
            or not all(isinstance(part, str) and part for part in command)
        ):
            raise ConfigError(
                "sync_command", "must be a non-empty list of strings (or one command string)."
            )
        return cls(
            command=tuple(command),
            cwd=config.get("sync_cwd") or None,
            per_mailbox=bool(config.get("sync_per_mailbox", False)),
            debounce_s=_float(config, "sync_debounce_s", 1.0, 0.0, 600.0),
            timeout_s=_float(config, "sync_timeout_s", 3600.0, 1.0, 86400.0),
            retries=_int(config, "sync_retries", 5, 0, 100),
            retry_base_s=_float(config, "sync_retry_base_s", 5.0, 0.0, 3600.0),
            retry_max_s=_float(config, "sync_retry_max_s", 300.0, 0.0, 86400.0),
            on_start=bool(config.get("sync_on_start", False)),
        )


def _required(config: Mapping, name: str, fix: str) -> str:
    value = config.get(name)
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(name, "is missing.", fix)
    return value.strip()


def _strings(value, name: str, example: str = "") -> list[str]:
    if value in (None, ""):
        return []
    if isinstance(value, str):
        value = [item for item in value.split(",")]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise ConfigError(name, "must be a list of strings.", example)
    return [v.strip() for v in value if v.strip()]


def _number(config: Mapping, name: str, default, low, high, kind):
    value = config.get(name)
    if value is None or value == "":
        return default
    try:
        number = kind(value)
    except (TypeError, ValueError):
        raise ConfigError(name, f"{value!r} is not a number.") from None
    if isinstance(value, bool) or not low <= number <= high:
        raise ConfigError(name, f"{value!r} is outside {low}..{high}.")
    if kind is int and float(value) != number:  # int(8080.7) would quietly be 8080
        raise ConfigError(name, f"{value!r} is not a whole number.")
    return number


def _int(config: Mapping, name: str, default: int, low: int, high: int) -> int:
    return _number(config, name, default, low, high, int)


def _float(config: Mapping, name: str, default: float, low: float, high: float) -> float:
    return _number(config, name, default, low, high, float)
