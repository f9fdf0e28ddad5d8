"""Faults that spoil an answer after the call ran: what they look like on the wire.

Raw HTTP to the emulator (no gmail_core): a mid-body close, a truncated JSON body, a
garbled batch, a stalled answer, and faults on the outer request of a batch.
"""

from __future__ import annotations

import json
import socket

import pytest
import requests

from gmail_emulator.faults import BATCH_METHOD, FAULT_KINDS, FaultInjector
from tests.conftest import Api, admin

pytestmark = pytest.mark.timeout(120)

GET = "gmail.users.messages.get"


def _first_id(api: Api) -> str:
    return api.ok("GET", "/messages", params={"maxResults": 1})["messages"][0]["id"]


def _faults(server, kind: str, methods: list[str], **extra) -> None:
    admin(
        server,
        "config",
        {"fault_rate": 1.0, "fault_kinds": [kind], "fault_methods": methods, **extra},
    )


def _batch_body(ids: list[str], boundary: str = "b0undary") -> tuple[bytes, str]:
    chunks = [
        f"--{boundary}\r\nContent-Type: application/http\r\nContent-ID: <part-{n}>\r\n\r\n"
        f"GET /gmail/v1/users/me/messages/{mid}?format=minimal HTTP/1.1\r\n\r\n"
        for n, mid in enumerate(ids)
    ]
    body = "".join(chunks) + f"--{boundary}--\r\n"
    return body.encode(), f"multipart/mixed; boundary={boundary}"


def _batch(api: Api, ids: list[str]) -> requests.Response:
    body, content_type = _batch_body(ids)
    return api.session.post(
        f"{api.base}/batch/gmail/v1", data=body, headers={"Content-Type": content_type}, timeout=30
    )


def _raw(server, path: str, token: str) -> bytes:
    """The exact bytes the server sends until it closes the connection."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        request = (
            f"GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
            "Connection: keep-alive\r\n\r\n"
        )
        sock.sendall(request.encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
        return data


def test_close_mid_body_promises_the_full_length_then_hangs_up(server, alice):
    mid = _first_id(alice)
    _faults(server, "close_mid_body", ["messages.get"])
    token = alice.session.headers["Authorization"].split()[1]
    raw = _raw(server, f"/gmail/v1/users/me/messages/{mid}", token)
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    length = int(next(line for line in head.split(b"\r\n") if line.startswith(b"Content-Length"))
                 .split(b":")[1])  # fmt: skip
    assert 0 < len(body) < length  # the connection closed (recv returned b"") mid-body
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        alice.call("GET", f"/messages/{mid}")
    stats = admin(server, "stats")
    assert stats["faults"]["by_method_and_kind"][f"{GET}:close_mid_body"] == 2
    assert stats["faults"]["injector"]["by_kind"] == {"close_mid_body": 2}
    assert stats["calls"]["status_by_method"][GET]["200"] >= 2  # the call did run


def test_truncated_json_is_valid_http_but_not_json(server, alice):
    mid = _first_id(alice)
    _faults(server, "truncated_json", ["messages.get"])
    response = alice.call("GET", f"/messages/{mid}")
    assert response.status_code == 200
    assert int(response.headers["Content-Length"]) == len(response.content) > 0
    with pytest.raises(ValueError):
        response.json()


def test_garbled_batch_breaks_part_status_lines(server, alice):
    ids = [m["id"] for m in alice.ok("GET", "/messages", params={"maxResults": 3})["messages"]]
    _faults(server, "garbled_batch", ["messages.get"])  # inner parts only
    response = _batch(alice, ids)
    assert response.status_code == 200
    assert response.content.count(b"HTTP/1.1 abc") == 3
    _faults(server, "garbled_batch", [BATCH_METHOD])  # the outer request: every part
    response = _batch(alice, ids)
    assert response.status_code == 200 and response.content.count(b"HTTP/1.1 abc") == 3
    _faults(server, "garbled_batch", ["getProfile"])  # a plain call: a body that is not JSON
    plain = alice.call("GET", "/profile")
    assert plain.status_code == 200
    with pytest.raises(ValueError):
        plain.json()


def test_part_faults_cut_the_part_body(server, alice):
    ids = [m["id"] for m in alice.ok("GET", "/messages", params={"maxResults": 2})["messages"]]
    for kind in ("close_mid_body", "truncated_json"):
        _faults(server, kind, ["messages.get"])
        response = _batch(alice, ids)
        assert response.status_code == 200 and response.content.count(b"HTTP/1.1 200 OK") == 2
        for part in response.content.split(b"--batch_")[1:-1]:
            head, _, body = part.split(b"\r\n\r\n", 1)[1].partition(b"\r\n\r\n")
            declared = int(head.rsplit(b"Content-Length:", 1)[1].split()[0])
            body = body.removesuffix(b"\r\n")
            with pytest.raises(ValueError):
                json.loads(body)
            assert (declared > len(body)) == (kind == "close_mid_body")


@pytest.mark.parametrize("kind", ["close_mid_body", "truncated_json", "lost_response"])
def test_outer_batch_faults_run_the_parts_then_spoil_the_answer(server, alice, kind):
    ids = [m["id"] for m in alice.ok("GET", "/messages", params={"maxResults": 2})["messages"]]
    admin(server, "stats/reset", {})
    _faults(server, kind, [BATCH_METHOD])
    try:
        response = _batch(alice, ids)
    except requests.RequestException:
        pass  # close_mid_body and lost_response never deliver a readable answer
    else:
        assert kind == "truncated_json" and response.status_code == 200
        assert not response.content.endswith(b"--\r\n")  # the closing delimiter is cut off
    stats = admin(server, "stats")
    assert stats["faults"]["by_method_and_kind"] == {f"{BATCH_METHOD}:{kind}": 1}
    assert stats["calls"]["status_by_method"][GET] == {"200": 2}


def test_outer_batch_errors_refuse_the_whole_batch(server, alice):
    ids = [m["id"] for m in alice.ok("GET", "/messages", params={"maxResults": 2})["messages"]]
    admin(server, "stats/reset", {})
    _faults(server, "503", [BATCH_METHOD])
    response = _batch(alice, ids)
    assert response.status_code == 503 and response.json()["error"]["code"] == 503
    assert GET not in admin(server, "stats")["calls"]["by_method"]  # no part ran


def test_stall_holds_the_answer_until_the_client_gives_up(server, alice):
    _faults(server, "stall", ["getProfile"])  # the default stall is 30 s
    with pytest.raises(requests.exceptions.ReadTimeout):
        alice.session.get(f"{alice.root}/profile", timeout=0.5)
    admin(server, "config", {"fault_stall_ms": 50})
    assert alice.ok("GET", "/profile")["emailAddress"] == "alice@example.com"
    assert admin(server, "stats")["faults"]["injector"]["by_kind"]["stall"] == 2


def test_new_kinds_are_known_and_the_sequence_is_seeded():
    for kind in ("close_mid_body", "truncated_json", "stall", "garbled_batch"):
        assert kind in FAULT_KINDS

    def sequence(with_batches: bool) -> list:
        injector = FaultInjector(rate=0.5, kinds=FAULT_KINDS, seed=5, stall_ms=1234)
        out = []
        for n in range(60):
            if with_batches and n % 3 == 0:
                injector.pick(BATCH_METHOD)
            out.append(injector.pick(GET))
        return out

    plain = sequence(False)
    assert plain == sequence(False)
    # the outer batch request draws from its own stream: calls see the same faults
    assert plain == sequence(True)
    stalls = [fault for fault in plain if fault is not None and fault.kind == "stall"]
    assert stalls and all(fault.delay_s == pytest.approx(1.234) for fault in stalls)
    key = FaultInjector(rate=0.5, kinds=["stall"], seed=5, stall_ms=99).replay_key()
    assert key["stall_ms"] == 99 and FaultInjector(**key).replay_key() == key


def test_cli_and_admin_set_the_new_faults(server):
    from gmail_emulator.cli import build_parser, config_from_args

    args = build_parser().parse_args(
        ["--fault-kinds", "stall,close_mid_body,garbled_batch", "--fault-stall-ms", "1500",
         "--fault-slow-ms", "20", "--fault-methods", "batch,messages.get"]
    )  # fmt: skip
    config = config_from_args(args)
    assert config.fault_kinds == ("stall", "close_mid_body", "garbled_batch")
    assert (config.fault_stall_ms, config.fault_slow_ms) == (1500, 20)
    assert config.fault_methods == ("batch", "messages.get")
    replay = admin(
        server, "config", {"fault_kinds": ["truncated_json", "stall"], "fault_stall_ms": 250}
    )["replay"]
    assert replay["kinds"] == ["truncated_json", "stall"] and replay["stall_ms"] == 250
    with pytest.raises(requests.HTTPError):
        admin(server, "config", {"fault_kinds": ["bogus"]})


@pytest.mark.parametrize(
    "bad",
    [{"fault_rate": 2}, {"fault_kinds": ["bogus"]}, {"fault_rate": "x"}, {"latency_ms": "x"}],
)
def test_a_refused_config_change_is_not_half_applied(server, alice, bad):
    """A refused /_emulator/config change used to stay in the config: every later call,
    even a valid one such as turning faults off, was refused for it (the control API was
    wedged until restart), and the faults in force were whatever was set before."""
    url = f"{server.url}/_emulator/config"
    refused = requests.post(url, json={**bad, "fault_methods": ["gmail.users.messages.list"]})
    assert refused.status_code == 400
    before = admin(server, "stats")["faults"]["injector"]["injected"]
    alice.ok("GET", "/messages")  # the refused fault_methods are not in force either
    assert admin(server, "stats")["faults"]["injector"]["injected"] == before
    unrelated = requests.post(url, json={"token_ttl": 3600})  # leaves the bad key alone
    assert unrelated.status_code == 200, unrelated.text
    admin(server, "config", {"fault_rate": 1.0, "fault_kinds": ["503"],
                             "fault_methods": ["gmail.users.messages.list"]})  # fmt: skip
    assert alice.call("GET", "/messages").status_code == 503
    admin(server, "config", {"fault_rate": 0})
    assert alice.call("GET", "/messages").status_code == 200
