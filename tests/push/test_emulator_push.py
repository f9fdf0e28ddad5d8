"""The emulator's push side: watches with label filters, signed envelopes, certs, no blocking."""

from __future__ import annotations

import base64
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import google.auth.transport.requests
import pytest
from google.oauth2 import id_token

from tests.conftest import Api, admin, issue_token
from tests.push.conftest import AUDIENCE, SERVICE_ACCOUNT, SUBSCRIPTION, TOPIC, drain

pytestmark = pytest.mark.timeout(120)


class Endpoint:
    """A tiny push endpoint recording what it was sent; answers ``status`` after ``delay_s``."""

    def __init__(self, status: int = 204, delay_s: float = 0.0):
        self.received: list[tuple[dict, bytes]] = []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                endpoint.received.append((dict(self.headers), body))
                time.sleep(delay_s)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/push"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def endpoint(push_emulator):
    ep = Endpoint()
    admin(push_emulator, "config", {"push_endpoint": ep.url})
    yield ep
    ep.close()


def _insert(api: Api, labels=("INBOX",), subject="hello") -> dict:
    raw = base64.urlsafe_b64encode(
        f"From: x@example.net\r\nTo: alice@example.com\r\nSubject: {subject}\r\n\r\nhi\r\n".encode()
    ).decode()
    return api.ok("POST", "/messages", json={"raw": raw, "labelIds": list(labels)})


def _decode(body: bytes) -> tuple[dict, dict]:
    envelope = json.loads(body)
    return envelope, json.loads(base64.b64decode(envelope["message"]["data"]))


def test_watch_then_insert_posts_a_signed_envelope(push_emulator, endpoint):
    alice = Api(push_emulator.url, issue_token(push_emulator, "alice@example.com"))
    watch = alice.ok(
        "POST",
        "/watch",
        json={"topicName": TOPIC, "labelIds": ["INBOX"], "labelFilterBehavior": "INCLUDE"},
    )
    assert int(watch["expiration"]) > time.time() * 1000 + 6.9 * 86400 * 1000
    recorded = admin(push_emulator, "push")["watches"]["alice@example.com"]
    assert recorded["topicName"] == TOPIC
    assert recorded["labelIds"] == ["INBOX"] and recorded["labelFilterBehavior"] == "include"

    _insert(alice)
    drain(push_emulator)
    assert len(endpoint.received) == 1
    headers, body = endpoint.received[0]
    envelope, data = _decode(body)
    profile = alice.ok("GET", "/profile")
    assert data == {"emailAddress": "alice@example.com", "historyId": int(profile["historyId"])}
    assert envelope["subscription"] == SUBSCRIPTION
    message = envelope["message"]
    assert message["messageId"] == message["message_id"] and message["messageId"].isdigit()
    assert message["publishTime"].endswith("Z")

    token = headers["Authorization"].removeprefix("Bearer ")
    request = google.auth.transport.requests.Request()
    for path in ("/oauth2/v1/certs", "/oauth2/v3/certs"):  # both formats google-auth reads
        claims = id_token.verify_token(
            token, request, audience=AUDIENCE, certs_url=push_emulator.url + path
        )
        assert claims["iss"] == "https://accounts.google.com"
        assert claims["email"] == SERVICE_ACCOUNT and claims["email_verified"] is True


@pytest.mark.parametrize(
    ("behavior", "labels", "pushed"),
    [
        ("include", ["INBOX"], True),
        ("include", ["STARRED"], False),
        ("exclude", ["INBOX"], False),
        ("exclude", ["STARRED"], True),
    ],
)
def test_label_filter_decides_whether_to_push(push_emulator, endpoint, behavior, labels, pushed):
    alice = Api(push_emulator.url, issue_token(push_emulator, "alice@example.com"))
    alice.ok(
        "POST",
        "/watch",
        json={"topicName": TOPIC, "labelIds": ["INBOX"], "labelFilterBehavior": behavior},
    )
    _insert(alice, labels=labels)
    drain(push_emulator)
    assert bool(endpoint.received) is pushed


def test_removing_a_watched_label_is_pushed(push_emulator, endpoint):
    alice = Api(push_emulator.url, issue_token(push_emulator, "alice@example.com"))
    message = _insert(alice)
    alice.ok("POST", "/watch", json={"topicName": TOPIC, "labelIds": ["INBOX"]})
    alice.ok("POST", f"/messages/{message['id']}/modify", json={"removeLabelIds": ["INBOX"]})
    drain(push_emulator)
    assert len(endpoint.received) == 1


def test_stop_and_other_mailboxes_get_no_push(push_emulator, endpoint):
    alice = Api(push_emulator.url, issue_token(push_emulator, "alice@example.com"))
    bob = Api(push_emulator.url, issue_token(push_emulator, "bob@example.com"))
    alice.ok("POST", "/watch", json={"topicName": TOPIC})
    _insert(bob)  # bob has no watch
    alice.ok("POST", "/stop")
    _insert(alice)
    drain(push_emulator)
    assert endpoint.received == []
    assert admin(push_emulator, "push")["watches"] == {}


def test_watch_with_an_unknown_label_is_refused(push_emulator):
    alice = Api(push_emulator.url, issue_token(push_emulator, "alice@example.com"))
    answer = alice.call("POST", "/watch", json={"topicName": TOPIC, "labelIds": ["Label_999"]})
    assert answer.status_code == 400
    assert "Invalid label" in answer.json()["error"]["message"]


def test_a_slow_endpoint_never_blocks_the_api_call(push_emulator):
    slow = Endpoint(delay_s=3.0)
    try:
        admin(push_emulator, "config", {"push_endpoint": slow.url})
        alice = Api(push_emulator.url, issue_token(push_emulator, "alice@example.com"))
        alice.ok("POST", "/watch", json={"topicName": TOPIC})
        started = time.monotonic()
        _insert(alice)
        _insert(alice)
        took = time.monotonic() - started
        assert took < 2.5, f"two inserts took {took:.1f} s behind a 3 s push endpoint"
        drain(push_emulator)
        assert len(slow.received) == 2
    finally:
        slow.close()


def test_refused_pushes_are_retried_then_counted(push_emulator):
    refusing = Endpoint(status=500)
    try:
        admin(push_emulator, "config", {"push_endpoint": refusing.url})
        alice = Api(push_emulator.url, issue_token(push_emulator, "alice@example.com"))
        alice.ok("POST", "/watch", json={"topicName": TOPIC})
        _insert(alice)
        deliveries = drain(push_emulator)["deliveries"]
        assert len(refusing.received) == 3  # the first try and two retries
        assert deliveries["undelivered"] == 1 and deliveries["status_500"] == 3
    finally:
        refusing.close()
