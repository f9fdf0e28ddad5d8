"""singer-sdk's standard target suite, where it applies to an API target.

The suite's streams (``test_camelcase``, ``test_array_data``...) are generic tables with no
Gmail meaning, so they are run with ``unmapped_streams: ignore``: what is tested is the Singer
protocol handling (state relay after drains, records before schema, missing key properties,
invalid schemas, ``--about``/``--version``), not Gmail writes, which tests/target/ covers.
"""

from __future__ import annotations

import atexit

from singer_sdk.testing import get_target_test_class

from gmail_emulator import EmulatorConfig, start_emulator
from target_gmail.target import TargetGmail

_SERVER = start_emulator(EmulatorConfig(users=["alice@example.com"], quota_units_per_second=0))
atexit.register(_SERVER.stop)

TestTargetGmail = get_target_test_class(
    TargetGmail,
    config={
        "oauth_credentials": {"client_id": "c", "client_secret": "s", "refresh_token": "r"},
        "api_url": _SERVER.url,
        "token_url": _SERVER.token_url,
        "quota_units_per_second": 0,
        "unmapped_streams": "ignore",
        "role": "admin",
    },
)
