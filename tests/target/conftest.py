"""Fixtures shared by the target tests; each module defines its own ``emu`` emulator."""

from __future__ import annotations

import pytest

from tests.conftest import Api, issue_token

ALICE, BOB = "alice@example.com", "bob@example.com"


@pytest.fixture
def alice(emu) -> Api:
    return Api(emu.url, issue_token(emu, ALICE))


@pytest.fixture
def bob(emu) -> Api:
    return Api(emu.url, issue_token(emu, BOB))
