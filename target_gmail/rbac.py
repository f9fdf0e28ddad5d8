"""Who may do what: the configured role, and the OAuth scopes the token really holds.

Roles follow the original connector's RBAC: reads need operator, writes need admin. A dry
run only reads (labels, ledger), so operator may run it; applying changes needs admin.
Scopes come from the discovery document (``gmail.v1.json``) for the methods each action
calls; they are checked against the token's granted scopes before the first Gmail call, so
a token that could never succeed fails fast with the scope to add, not halfway through.
"""

from __future__ import annotations

from gmail_core.auth import (
    SCOPE_FULL,
    SCOPE_LABELS,
    SCOPE_METADATA,
    SCOPE_MODIFY,
    SCOPE_READONLY,
    SCOPE_SEND,
)
from gmail_core.errors import ConfigError

from .settings import LABEL_CHANGES, LABELS, OUTBOUND_MESSAGES

SCOPE_COMPOSE = "https://www.googleapis.com/auth/gmail.compose"

RANK = {"viewer": 0, "operator": 1, "admin": 2}

# Scopes accepted by the methods each action calls (any one of them is enough).
_SEND = {SCOPE_FULL, SCOPE_COMPOSE, SCOPE_MODIFY, SCOPE_SEND}  # messages.send
_MODIFY = {SCOPE_FULL, SCOPE_MODIFY}  # messages.batchModify, messages.modify, threads.modify
_LABELS = {SCOPE_FULL, SCOPE_LABELS, SCOPE_MODIFY}  # labels.create, labels.patch
_READ_LABELS = {SCOPE_FULL, SCOPE_LABELS, SCOPE_METADATA, SCOPE_MODIFY, SCOPE_READONLY}
SEARCH = {SCOPE_FULL, SCOPE_MODIFY, SCOPE_READONLY}  # messages.list with q (not metadata)

WRITE_SCOPES = {LABEL_CHANGES: _MODIFY, OUTBOUND_MESSAGES: _SEND, LABELS: _LABELS}


def check_role(role: str, action: str, dry_run: bool) -> None:
    """Refuse before anything is read: viewer never, operator only in a dry run."""
    needed = "operator" if dry_run else "admin"
    if RANK[role] >= RANK[needed]:
        return
    what = "a dry run (it reads labels)" if dry_run else f"applying {action} (a write)"
    fix = (
        "set role: admin to apply changes, or dry_run: true to preview them as operator."
        if not dry_run
        else "set role: operator (or admin)."
    )
    raise ConfigError("role", f"{what} needs role {needed}, but role is {role}", fix)


def check_scopes(granted: set[str], action: str, dry_run: bool, mailbox: str) -> None:
    """The token must hold a scope that lets the action's methods run."""
    needed = _READ_LABELS if dry_run else WRITE_SCOPES[action]
    if granted & needed:
        return
    short = sorted(scope.rsplit("/", 1)[-1] or scope for scope in needed)
    held = sorted(scope.rsplit("/", 1)[-1] or scope for scope in granted) or ["none"]
    raise ConfigError(
        "oauth_credentials.refresh_token",
        f"the token for {mailbox} holds scopes {', '.join(held)}, but "
        f"{'a dry run' if dry_run else action} needs one of {', '.join(short)}",
        "re-run `gmail-auth` with the needed scope (or grant it to the service account's "
        "domain-wide delegation).",
    )


def can_search(granted: set[str]) -> bool:
    return bool(granted & SEARCH)


def can_modify(granted: set[str]) -> bool:
    return bool(granted & _MODIFY)


def scopes_to_request(actions: set[str]) -> list[str]:
    """What a service account asks for: the narrowest scope covering the actions in use."""
    if LABEL_CHANGES in actions or OUTBOUND_MESSAGES in actions:
        return [SCOPE_MODIFY]  # sends need it for the reconcile search and sent labels
    return [SCOPE_LABELS]
