"""Find the JSON Schemas in ``schemas/`` wherever the distribution was installed.

An editable install reads them from the source tree; a wheel installs them as data files
under ``<prefix>/share/gmail-connector/schemas`` (see ``pyproject.toml``).
"""

from __future__ import annotations

import json
import sys
from functools import cache
from pathlib import Path

SCHEMA_DIRS = (
    Path(__file__).resolve().parent.parent / "schemas",
    Path(sys.prefix) / "share" / "gmail-connector" / "schemas",
)


@cache
def _load(name: str) -> str:
    for folder in SCHEMA_DIRS:
        path = folder / f"{name}.json"
        if path.exists():
            return path.read_text()
    raise FileNotFoundError(f"schema {name}.json not found in {[str(d) for d in SCHEMA_DIRS]}")


def load_schema(name: str) -> dict:
    """A fresh copy of ``schemas/<name>.json`` (``name`` may hold a folder: ``target/x``)."""
    return json.loads(_load(name))
