"""Media upload (``/upload/...``): the protocols google clients use for large messages.

google-api-python-client keeps ``https`` when it rewrites the upload URL's host for a custom
``api_endpoint``, so it cannot upload to a plain-http emulator; these tests speak the
protocol directly.
"""

from __future__ import annotations

import base64
import json
from email.message import EmailMessage

import pytest

pytestmark = pytest.mark.timeout(60)


def _message(subject: str) -> bytes:
    message = EmailMessage()
    message["From"] = "alice@example.com"
    message["To"] = "bob@example.com"
    message["Subject"] = subject
    message.set_content("uploaded body")
    return message.as_bytes()


def _subject(alice, msg_id: str) -> str:
    full = alice.ok("GET", f"/messages/{msg_id}", params={"format": "metadata"})
    return next(h["value"] for h in full["payload"]["headers"] if h["name"] == "Subject")


def test_upload_type_media(server, alice):
    url = f"{server.url}/upload/gmail/v1/users/me/messages/send?uploadType=media"
    response = alice.call(
        "POST", url, data=_message("media upload"), headers={"Content-Type": "message/rfc822"}
    )
    assert response.status_code == 200, response.text
    assert _subject(alice, response.json()["id"]) == "media upload"


def test_upload_type_multipart_with_metadata(server, alice):
    raw = _message("multipart upload")
    body = (
        b"--XX\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n"
        + json.dumps({"labelIds": ["INBOX", "STARRED"]}).encode()
        + b"\r\n--XX\r\nContent-Type: message/rfc822\r\n\r\n"
        + raw
        + b"\r\n--XX--\r\n"
    )
    url = f"{server.url}/upload/gmail/v1/users/me/messages?uploadType=multipart"
    response = alice.call(
        "POST", url, data=body, headers={"Content-Type": "multipart/related; boundary=XX"}
    )
    assert response.status_code == 200, response.text
    assert set(response.json()["labelIds"]) == {"INBOX", "STARRED"}
    stored = alice.ok("GET", f"/messages/{response.json()['id']}", params={"format": "raw"})
    assert base64.urlsafe_b64decode(stored["raw"]) == raw


def test_resumable_and_bad_upload_types_are_rejected(server, alice):
    for upload_type in ("resumable", "bogus"):
        url = f"{server.url}/upload/gmail/v1/users/me/messages/send?uploadType={upload_type}"
        assert alice.call("POST", url, data=b"x").status_code == 400
