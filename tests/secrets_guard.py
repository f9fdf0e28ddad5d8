"""Zero secrets in anything a test run shows: captured output, tap/target output, state,
plans and rejects. ``tests/conftest.py`` fails any test whose output holds one.

Secrets are recognised by shape (Google access and refresh tokens, PEM private keys) and by
the literal test credentials the suites configure. A leak is reported by kind and place,
never by value.
"""

from __future__ import annotations

import re
from pathlib import Path

# The literal credentials the test suites put in configs (see tests/*/conftest.py, harness).
KNOWN_SECRETS = (
    "super-secret-client",
    "refresh-token-do-not-log",
    "target-client-secret-xyz",
    "target-refresh-token-do-not-log",
)
PATTERNS = {
    "access token": re.compile(r"ya29\.[\w\-.]{8,}"),
    "refresh token": re.compile(r"\b1//[\w\-]{16,}"),
    "private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
}
# Inputs a test writes on purpose (configs, key files) hold secrets by design.
_INPUT_NAMES = re.compile(r"config|key|credential|service_account|secret|\.pem$", re.I)
_MAX_FILE_BYTES = 5_000_000

_watched: list[tuple[str, str]] = []


def watch(where: str, text: str | None) -> None:
    """Register output a test produced outside pytest's capture (a subprocess's streams)."""
    if text:
        _watched.append((where, text))


def reset() -> None:
    _watched.clear()


def leaks(text: str) -> list[str]:
    found = [kind for kind, pattern in PATTERNS.items() if pattern.search(text)]
    if any(secret in text for secret in KNOWN_SECRETS):
        found.append("configured test credential")
    return found


def scan(sections: list[tuple[str, str]], tmp_path: Path | None) -> list[str]:
    """Every leak as "kind in place"; empty when clean."""
    places = [*sections, *_watched]
    if tmp_path is not None and tmp_path.is_dir():
        for path in sorted(tmp_path.rglob("*")):
            if path.is_file() and not _INPUT_NAMES.search(path.name):
                with open(path, "rb") as handle:
                    data = handle.read(_MAX_FILE_BYTES)
                places.append((str(path.relative_to(tmp_path)), data.decode("utf-8", "replace")))
    return [f"{kind} in {where}" for where, text in places for kind in leaks(text)]
