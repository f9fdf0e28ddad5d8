"""singer-sdk's standard tap test suite, against a live emulator on loopback."""

from __future__ import annotations

import atexit

from singer_sdk.testing import get_tap_test_class

from gmail_emulator import EmulatorConfig, start_emulator
from tap_gmail.tap import TapGmail

# The SDK builds its test class at import time from a config, so the emulator must already
# be listening; it is stopped when the test process exits.
_SERVER = start_emulator(
    EmulatorConfig(users=["alice@example.com"], messages=60, seed=21, quota_units_per_second=0)
)
atexit.register(_SERVER.stop)

TestTapGmail = get_tap_test_class(
    TapGmail,
    config={
        "oauth_credentials": {"client_id": "c", "client_secret": "s", "refresh_token": "r"},
        "api_url": _SERVER.url,
        "token_url": _SERVER.token_url,
        "quota_units_per_second": 0,
    },
)
