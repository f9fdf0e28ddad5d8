"""The failure-path proof suite: every test here is marked ``reliability``.

``make test`` runs the CI subset; ``make reliability`` sets ``GMAIL_RELIABILITY=full`` for
the whole matrix (more seeds, more kill points).
"""

from __future__ import annotations

import os

import pytest

FULL = os.environ.get("GMAIL_RELIABILITY") == "full"


def pytest_collection_modifyitems(items):
    here = os.path.dirname(__file__)
    for item in items:
        if str(item.fspath).startswith(here):
            item.add_marker(pytest.mark.reliability)
