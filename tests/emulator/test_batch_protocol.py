"""The batch endpoint at the wire level: multipart/mixed in, per-part status and Content-ID out."""

from __future__ import annotations

import json

import pytest
import requests

from tests.conftest import admin

pytestmark = pytest.mark.timeout(120)


def _batch_body(boundary: str, parts: list[tuple[str, str, str | None]]) -> bytes:
    chunks = []
    for content_id, request_line, body in parts:
        inner = f"{request_line} HTTP/1.1\r\nAccept: application/json\r\n"
        if body is not None:
            inner += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n{body}"
        else:
            inner += "\r\n"
        chunks.append(
            f"--{boundary}\r\nContent-Type: application/http\r\nContent-ID: <{content_id}>\r\n\r\n"
            f"{inner}\r\n"
        )
    return ("".join(chunks) + f"--{boundary}--\r\n").encode()


def _parse(response: requests.Response) -> dict[str, tuple[int, dict | None]]:
    content_type = response.headers["Content-Type"]
    assert content_type.startswith("multipart/mixed; boundary=")
    boundary = content_type.split("boundary=")[1]
    out = {}
    for chunk in response.content.split(f"--{boundary}".encode())[1:]:
        if chunk.startswith(b"--"):
            break
        outer, _, http = chunk.strip().partition(b"\r\n\r\n")
        content_id = next(
            line.split(b":", 1)[1].strip().decode()
            for line in outer.split(b"\r\n")
            if line.lower().startswith(b"content-id")
        )
        status_line, _, rest = http.partition(b"\r\n")
        _, _, body = rest.partition(b"\r\n\r\n")
        out[content_id] = (int(status_line.split()[1]), json.loads(body) if body.strip() else None)
    return out


def _post(server, alice, body: bytes, boundary: str, path: str = "/batch/gmail/v1"):
    return requests.post(
        server.url + path,
        data=body,
        headers={
            "Content-Type": f"multipart/mixed; boundary={boundary}",
            "Authorization": alice.session.headers["Authorization"],
        },
        timeout=30,
    )


@pytest.mark.parametrize("path", ["/batch/gmail/v1", "/batch"])
def test_parts_answered_with_own_status_and_matching_content_id(server, alice, path):
    ids = [m["id"] for m in alice.ok("GET", "/messages", params={"maxResults": 3})["messages"]]
    parts = [
        (f"item{n}", f"GET /gmail/v1/users/me/messages/{mid}?format=minimal", None)
        for n, mid in enumerate(ids)
    ]
    parts.append(("missing", "GET /gmail/v1/users/me/messages/ffffffffffffffff", None))
    parts.append(
        (
            "mod",
            f"POST /gmail/v1/users/me/messages/{ids[0]}/modify",
            json.dumps({"addLabelIds": ["STARRED"]}),
        )
    )
    response = _post(server, alice, _batch_body("xyz", parts), "xyz", path)
    assert response.status_code == 200
    answers = _parse(response)
    assert set(answers) == {f"<response-{cid}>" for cid, _, _ in parts}
    for n, mid in enumerate(ids):
        status, body = answers[f"<response-item{n}>"]
        assert status == 200 and body["id"] == mid
    assert answers["<response-missing>"][0] == 404
    assert answers["<response-missing>"][1]["error"]["status"] == "NOT_FOUND"
    assert "STARRED" in answers["<response-mod>"][1]["labelIds"]


def test_inner_parts_fail_with_429_403_5xx_while_outer_is_200(server, alice):
    admin(
        server,
        "config",
        {
            "fault_rate": 0.6,
            "fault_seed": 5,
            "fault_kinds": ["429", "403", "500", "503"],
            "fault_methods": ["messages.get"],
        },
    )
    ids = [m["id"] for m in alice.ok("GET", "/messages", params={"maxResults": 30})["messages"]]
    parts = [(f"p{n}", f"GET /gmail/v1/users/me/messages/{mid}", None) for n, mid in enumerate(ids)]
    response = _post(server, alice, _batch_body("b", parts), "b")
    assert response.status_code == 200
    statuses = [status for status, _ in _parse(response).values()]
    assert len(statuses) == 30
    assert 200 in statuses and set(statuses) - {200} <= {429, 403, 500, 503}
    assert len(set(statuses)) >= 3
    failed = [body for status, body in _parse(response).values() if status == 403]
    for body in failed:
        assert body["error"]["message"].startswith("User-rate limit exceeded.  Retry after ")


def test_more_than_100_parts_is_rejected(server, alice):
    parts = [(f"p{n}", "GET /gmail/v1/users/me/profile", None) for n in range(101)]
    response = _post(server, alice, _batch_body("b", parts), "b")
    assert response.status_code == 400
    assert "100" in response.json()["error"]["message"]


def test_inner_parts_are_charged_quota_individually(server, alice):
    admin(server, "stats/reset", {})
    parts = [(f"p{n}", "GET /gmail/v1/users/me/profile", None) for n in range(10)]
    _post(server, alice, _batch_body("b", parts), "b")
    stats = admin(server, "stats")
    assert stats["quota_units"]["by_method"]["gmail.users.getProfile"] == 10
    assert stats["batch"] == {"requests": 1, "parts": 10}


def test_batch_without_multipart_is_400(server, alice):
    response = requests.post(
        server.url + "/batch/gmail/v1", data=b"{}", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
