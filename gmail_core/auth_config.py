"""Turning tap/target settings into credentials, with errors that name the setting to fix.

``auths_from_config`` reads the settings contract of DESIGN.md (OAuth user credentials, or a
service-account key plus ``user_ids`` for domain-wide delegation, in flat dotted or nested
form) and builds one ``auth.MailboxAuth`` per mailbox. Every mistake it can detect before the
first token request (conflicting, missing or malformed settings, a key file that cannot be read
or is not a service-account key) is a ``ConfigError`` naming the setting and how to fix it,
without echoing a secret.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import ConfigError

if TYPE_CHECKING:
    from .auth import MailboxAuth

_OAUTH_FIELDS = ("client_id", "client_secret", "refresh_token")
_ADDRESS = re.compile(r"^[^@\s,;<>()\[\]\\\"]+@[^@\s,;<>()\[\]\\\"]+\.[^@\s,;<>()\[\]\\\"]+$")


def load_service_account_info(value: dict | str | None, file: str | None) -> dict:
    """The service-account key as a dict, from an object, a JSON string or a file path."""
    if value and file:
        raise ConfigError(
            "service_account_info",
            "both `service_account_info` and `service_account_file` are set.",
            "set only one of them.",
        )
    if isinstance(value, Mapping):
        return _checked_info(dict(value), "service_account_info")
    setting, text = "service_account_file", None
    if isinstance(value, str) and value.strip():
        setting = "service_account_info"
        if value.strip().startswith("{"):
            text = value
        else:
            file = value.strip()
    elif value not in (None, "", {}):
        raise ConfigError(
            "service_account_info", "must be a JSON object or string.", "paste the JSON key."
        )
    if text is None:
        if not file:
            raise ConfigError(
                "service_account_info",
                "no service-account key is configured.",
                "set `service_account_info` (the JSON key) or `service_account_file` (its path).",
            )
        try:
            text = Path(file).expanduser().read_text(encoding="utf-8")
        except OSError as error:
            # a mangled key pasted into service_account_info must not be echoed as a "path"
            problem = (
                "is neither a JSON object nor the path of a readable key file."
                if setting == "service_account_info"
                else f"cannot read {file}: {error.strerror or type(error).__name__}."
            )
            raise ConfigError(
                setting, problem, "use the JSON key from the Cloud console."
            ) from None
    try:
        info = json.loads(text)
    except json.JSONDecodeError as error:
        raise ConfigError(
            setting,
            f"is not valid JSON (line {error.lineno}, column {error.colno}).",
            "use the service account's JSON key file unchanged.",
        ) from None
    if not isinstance(info, dict):
        raise ConfigError(setting, "must be a JSON object.", "use the service account's JSON key.")
    return _checked_info(info, setting)


def _checked_info(info: dict, setting: str) -> dict:
    if info.get("type") == "authorized_user":
        raise ConfigError(
            setting,
            "holds OAuth user credentials, not a service-account key.",
            "put client_id, client_secret and refresh_token under `oauth_credentials` instead.",
        )
    missing = [f for f in ("client_email", "private_key") if not info.get(f)]
    if missing:
        raise ConfigError(
            setting,
            f"is missing {', '.join(missing)}.",
            "use the complete JSON key downloaded from the Cloud console.",
        )
    key = info["private_key"]
    if isinstance(key, str) and "\\n" in key and "\n" not in key:
        info = {**info, "private_key": key.replace("\\n", "\n")}  # pasted with escaped newlines
    return info


def auths_from_config(config: Mapping, scopes: list[str]) -> list[MailboxAuth]:
    """One MailboxAuth per mailbox the settings describe (see DESIGN.md, Settings contract).

    ``scopes`` are put in the service account's assertion; OAuth user credentials keep the
    scopes the user consented to in ``gmail-auth`` (see ``oauth_user_auth``).
    """
    # Imported here, not at the top: auth re-exports this module's functions, and a
    # top-level import in both directions would fail whichever module is imported first.
    from .auth import _GMAIL_AUTH_FIX, DEFAULT_TOKEN_URL, oauth_user_auth, service_account_auth

    oauth = {name: _setting(config, f"oauth_credentials.{name}") for name in _OAUTH_FIELDS}
    info_value = _setting(config, "service_account_info")
    info_file = _setting(config, "service_account_file")
    token_url = _setting(config, "token_url")
    user_ids = _user_ids(config.get("user_ids"))
    has_oauth = any(oauth.values())
    has_service_account = bool(info_value or info_file)
    if has_oauth and has_service_account:
        raise ConfigError(
            "oauth_credentials",
            "both `oauth_credentials` and a service account (`service_account_info`/"
            "`service_account_file`) are configured.",
            "keep `oauth_credentials` to read one mailbox as its user, or the service account "
            "with `user_ids` to read many mailboxes of a Workspace domain; remove the other.",
        )
    if has_service_account:
        if not user_ids:
            raise ConfigError(
                "user_ids",
                "domain-wide delegation needs the mailboxes to read.",
                'set `user_ids` to the mailbox addresses, e.g. ["alice@example.com"].',
            )
        info = load_service_account_info(info_value, info_file)
        setting = "service_account_info" if info_value else "service_account_file"
        return [
            service_account_auth(info, user, scopes, token_url=token_url, setting=setting)
            for user in user_ids
        ]
    if not has_oauth:
        raise ConfigError(
            "oauth_credentials",
            "no credentials are configured.",
            "set `oauth_credentials.client_id`, `.client_secret` and `.refresh_token` (from "
            "`gmail-auth`) to read your own mailbox, or `service_account_info` plus `user_ids` "
            "for domain-wide delegation.",
        )
    for name in _OAUTH_FIELDS:
        if not oauth[name]:
            fix = (
                _GMAIL_AUTH_FIX
                if name == "refresh_token"
                else "copy it from the OAuth client (Desktop app) in the Cloud console."
            )
            raise ConfigError(f"oauth_credentials.{name}", "is missing.", fix)
    if user_ids:
        raise ConfigError(
            "user_ids",
            "lists mailboxes for domain-wide delegation, which needs a service account.",
            "use `user_id` with `oauth_credentials`, or configure `service_account_info`.",
        )
    user_id = _setting(config, "user_id") or "me"
    return [
        oauth_user_auth(
            oauth["client_id"],
            oauth["client_secret"],
            oauth["refresh_token"],
            token_url=token_url or DEFAULT_TOKEN_URL,
            scopes=None,
            mailbox=None if user_id == "me" else user_id,
        )
    ]


def _setting(config: Mapping, dotted: str):
    """A setting in flat dotted form or nested form; blank strings count as unset."""
    value = config.get(dotted)
    if value is None and "." in dotted:
        head, _, rest = dotted.partition(".")
        parent = config.get(head)
        if isinstance(parent, Mapping):
            value = _setting(parent, rest)
        elif parent not in (None, ""):
            raise ConfigError(head, "must be an object.", f"set `{dotted}` and its siblings.")
    if isinstance(value, str):
        value = value.strip()
    return value if value not in ("", {}) else None


def _user_ids(value) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        items = value.split(",")
    elif isinstance(value, (list, tuple)):
        items = value
    else:
        raise ConfigError(
            "user_ids", "must be a list of mailbox addresses.", 'e.g. ["alice@example.com"].'
        )
    seen: dict[str, str] = {}  # lower case -> the address as first written
    for item in items:
        if not isinstance(item, str):
            raise ConfigError("user_ids", "must contain only mailbox addresses (strings).")
        address = item.strip()
        if not address:
            continue
        if not _ADDRESS.match(address):
            raise ConfigError(
                "user_ids",
                f"{address[:200]!r} is not a mailbox address.",
                'list addresses like "alice@example.com".',
            )
        # Gmail addresses are case-insensitive: "Alice@x" and "alice@x" are one mailbox,
        # which must be read once, under one name (its records' key and state partition).
        seen.setdefault(address.lower(), address)
    return list(seen.values())
