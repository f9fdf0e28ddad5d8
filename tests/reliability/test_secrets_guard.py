"""The guard in tests/conftest.py can fail: it finds each kind of secret, and names the
place and kind but never the value."""

from __future__ import annotations

import pytest

from tests import secrets_guard


@pytest.mark.shows_secret("plants fake secrets in its tmp_path to prove the guard finds them")
def test_guard_finds_every_kind_of_secret_and_never_repeats_it(tmp_path):
    (tmp_path / "state.json").write_text('{"token": "ya29.emu-abcdefghijklmnop"}')
    (tmp_path / "config.json").write_text('{"refresh_token": "1//emu-abcdefghijklmnopqrst"}')
    (tmp_path / "plan.json").write_text("-----BEGIN PRIVATE KEY-----\nMIIE...")
    sections = [("Captured stderr call", "refresh 1//0gabcdefghijklmnopqrstuv"),
                ("Captured stdout call", "client_secret=super-secret-client")]  # fmt: skip
    found = secrets_guard.scan(sections, tmp_path)
    assert sorted(found) == sorted([
        "access token in state.json",
        "private key in plan.json",
        "refresh token in Captured stderr call",
        "configured test credential in Captured stdout call",
    ])  # fmt: skip
    assert not any("abcdefgh" in line or "super-secret" in line for line in found)
    assert secrets_guard.scan([("clean", "historyId 1234, 1/2 done")], None) == []
