"""Bench-only: run MeltanoLabs tap-gmail against gmail-emulator instead of Google.

Run with the python of MeltanoLabs' own virtualenv (``.venv-bench/meltanolabs``, made by
``bench/compare.py``), never this project's: ``python bench/meltanolabs_shim.py --config ...``.
Nothing of MeltanoLabs' code is copied; two of its hard-coded endpoints are redirected:

- ``tap_gmail.client.GmailStream.url_base`` (``https://gmail.googleapis.com``; its paths
  carry ``/gmail/v1/users/...``) becomes ``GMAIL_BENCH_API_URL``;
- ``GmailAuthenticator.create_for_stream`` passes Google's token URL as ``auth_endpoint``;
  the authenticator it returns gets ``GMAIL_BENCH_TOKEN_URL`` instead.

Everything else (paging, one messages.get per message, the SDK's retries) is theirs.
"""

from __future__ import annotations

import os

from tap_gmail import auth, client  # MeltanoLabs' package, in its own venv
from tap_gmail.tap import TapGmail

client.GmailStream.url_base = os.environ["GMAIL_BENCH_API_URL"]
_create = auth.GmailAuthenticator.create_for_stream.__func__


def _create_for_stream(cls, stream):
    authenticator = _create(cls, stream)
    authenticator._auth_endpoint = os.environ["GMAIL_BENCH_TOKEN_URL"]
    return authenticator


auth.GmailAuthenticator.create_for_stream = classmethod(_create_for_stream)

if __name__ == "__main__":
    TapGmail.cli()
