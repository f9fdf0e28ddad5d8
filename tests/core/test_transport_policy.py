"""Who reacts to what: one refresh per rejected token, 429 backs off without cutting the
rate, and every exception of the HTTP stack maps to a connector error."""

from __future__ import annotations

import http.client
import threading

import pytest
import requests
import urllib3

from gmail_core.batch import BatchPart
from gmail_core.client import MailboxClient
from gmail_core.errors import InvalidRequest, MalformedResponse, NotSent, TransientNetworkError
from gmail_core.transport import is_refused_before_running, network_error
from tests.conftest import admin
from tests.core.clients import fast_client

pytestmark = pytest.mark.timeout(120)


def _client(server, **settings) -> MailboxClient:
    return fast_client(server, **settings)


def test_many_threads_hitting_one_dead_token_refresh_once(server):
    client = _client(server)
    mid = client.call("messages.list", "GET", "messages", params={"maxResults": 1})["messages"]
    mid = mid[0]["id"]
    dead = client.auth.token()
    assert admin(server, "stats")["token_grants"] == {"refresh_token": 1}
    admin(server, "auth/revoke", {"refresh_token": dead})  # the access token dies early
    barrier = threading.Barrier(12)
    answers: list = []

    def worker(n: int) -> None:
        barrier.wait()
        if n % 2:
            answers.append(client.call("getProfile", "GET", "profile")["emailAddress"])
        else:
            (result,) = client.batch([BatchPart("messages.get", "GET", f"messages/{mid}")])
            answers.append(result.body["id"])

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answers) == sorted(["alice@example.com"] * 6 + [mid] * 6)
    stats = admin(server, "stats")
    statuses = stats["calls"]["status_by_method"]
    refused = sum(statuses[m].get("401", 0) for m in statuses)
    assert refused >= 1  # the old token really was refused, by at least one thread
    assert stats["token_grants"] == {"refresh_token": 2}  # one refresh for all twelve
    assert client.auth.refreshes == 2


def test_429_backs_off_without_cutting_the_rate_but_403_does(server):
    client = _client(server, quota_units_per_second=1000)
    governor = client.governor
    admin(
        server,
        "config",
        {"fault_rate": 0.3, "fault_kinds": ["429"], "fault_methods": ["getProfile"],
         "fault_seed": 1},
    )  # fmt: skip
    for _ in range(8):
        client.call("getProfile", "GET", "profile")
    parts = [BatchPart("getProfile", "GET", "profile") for _ in range(8)]
    assert all(result.ok for result in client.batch(parts))
    snapshot = governor.snapshot()
    injected = admin(server, "stats")["faults"]["total"]
    assert injected >= 2 and snapshot["congestion_events"] >= 2
    assert snapshot["throttle_events"] == 0 and governor.effective_rate == 1000
    # Gmail's units quota (403 rateLimitExceeded, with a "Retry after" about 1 s away)
    admin(server, "config", {"fault_rate": 0.3, "fault_kinds": ["403"], "fault_seed": 1})
    for _ in range(3):
        client.call("getProfile", "GET", "profile")
    assert governor.snapshot()["throttle_events"] >= 1 and governor.effective_rate < 1000


@pytest.mark.parametrize(
    "problem, kind",
    [
        (requests.exceptions.ChunkedEncodingError("Bearer ya29.secret cut"), MalformedResponse),
        (requests.exceptions.ContentDecodingError("bad gzip"), MalformedResponse),
        (http.client.IncompleteRead(b"{", 10), MalformedResponse),
        (urllib3.exceptions.ProtocolError("Connection broken"), MalformedResponse),
        (requests.ConnectTimeout("connect timed out"), NotSent),
        (
            requests.ConnectionError(
                urllib3.exceptions.MaxRetryError(
                    None, "/", urllib3.exceptions.NewConnectionError(None, "refused")
                )
            ),
            NotSent,
        ),
        (requests.ConnectionError("Connection reset by peer"), TransientNetworkError),
        (requests.ReadTimeout("read timed out"), TransientNetworkError),
        (requests.exceptions.SSLError("EOF in handshake"), TransientNetworkError),
        (requests.RequestException("anything else"), TransientNetworkError),
        (ConnectionResetError("reset"), TransientNetworkError),
        (requests.exceptions.InvalidURL("http://"), InvalidRequest),
        (requests.exceptions.InvalidHeader("Bearer ya29.secret\n"), InvalidRequest),
        (requests.exceptions.InvalidJSONError("not serialisable"), InvalidRequest),
    ],
)
def test_network_errors_map_to_connector_errors(problem, kind):
    error = network_error(problem, "messages.send", "alice@example.com")
    assert type(error) is kind
    assert "messages.send" in str(error) and "alice@example.com" in str(error)
    assert "secret" not in str(error)  # the exception's text (URLs, headers) is not echoed
    assert is_refused_before_running(error) == (kind is NotSent)
