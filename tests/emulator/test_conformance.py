"""The emulator against the contract: gmail.v1.json from google-api-python-client.

1. Every route maps to a discovery method with the same HTTP method and path template.
2. Every query parameter a route accepts is declared there, with the same type and default.
3. Every JSON response, for every route, validates against the method's response schema.
"""

from __future__ import annotations

import base64

import jsonschema
import pytest

from gmail_emulator import routes

from .contract import methods, response_schema

pytestmark = pytest.mark.timeout(120)


@pytest.mark.parametrize("route", routes.ROUTES, ids=lambda r: r.method_id)
def test_route_matches_discovery_method(route):
    method = methods().get(route.method_id)
    assert method is not None, f"{route.method_id} is not in the discovery document"
    assert route.http_method == method["httpMethod"]
    assert route.path == method["flatPath"] == method["path"]
    assert set(route.scopes) == set(method.get("scopes", []))
    if route.upload:
        assert method.get("supportsMediaUpload"), "upload route without mediaUpload in contract"
        assert method["mediaUpload"]["protocols"]["simple"]["path"] == f"/upload/{route.path}"


@pytest.mark.parametrize("route", routes.ROUTES, ids=lambda r: r.method_id)
def test_route_query_params_are_declared(route):
    declared = methods()[route.method_id].get("parameters", {})
    for param in route.params:
        spec = declared.get(param.name)
        assert spec is not None, f"{route.method_id} accepts undeclared ?{param.name}"
        assert spec["location"] == "query"
        assert param.type == spec["type"], param.name
        assert param.repeated == bool(spec.get("repeated")), param.name
        assert param.default == spec.get("default"), param.name
        if "enum" in spec:
            assert set(param.enum) == set(spec["enum"]), param.name
    # and every declared query parameter is accepted (none silently rejected)
    query_params = {n for n, s in declared.items() if s["location"] == "query"}
    assert query_params == {p.name for p in route.params}


def test_every_discovery_method_outside_settings_is_served():
    served = {route.method_id for route in routes.ROUTES}
    wanted = {m for m in methods() if ".settings." not in m}
    assert wanted == served


def _raw(subject: str, to: str = "bob@example.com", extra: str = "") -> str:
    text = (
        f"From: alice@example.com\r\nTo: {to}\r\nSubject: {subject}\r\n{extra}"
        "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b1\r\n\r\n"
        "--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHello there\r\n"
        "--b1\r\nContent-Type: text/csv; name=a.csv\r\n"
        "Content-Disposition: attachment; filename=a.csv\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\n"
        + base64.b64encode(b"a,b\n1,2\n").decode()
        + "\r\n--b1--\r\n"
    )
    return base64.urlsafe_b64encode(text.encode()).decode()


def test_every_route_response_validates_against_its_schema(alice):
    """Drive every route once, validating each JSON body; check the whole table was covered."""
    seen: set[str] = set()

    def check(method_id: str, verb: str, path: str, **kwargs) -> dict:
        response = alice.call(verb, path, **kwargs)
        assert response.status_code in (200, 204), (method_id, response.status_code, response.text)
        body = response.json() if response.content else None
        schema = response_schema(method_id)
        if schema is None:
            assert body is None, f"{method_id} must return an empty body"
        else:
            jsonschema.validate(body, schema)
        seen.add(method_id)
        return body or {}

    profile = check("gmail.users.getProfile", "GET", "/profile")
    check("gmail.users.watch", "POST", "/watch", json={"topicName": "projects/p/topics/t"})
    check("gmail.users.stop", "POST", "/stop")
    listed = check("gmail.users.messages.list", "GET", "/messages", params={"maxResults": 5})
    first = listed["messages"][0]["id"]
    for fmt in ("minimal", "metadata", "full", "raw"):
        check("gmail.users.messages.get", "GET", f"/messages/{first}", params={"format": fmt})
    sent = check("gmail.users.messages.send", "POST", "/messages/send", json={"raw": _raw("c1")})
    full = check("gmail.users.messages.get", "GET", f"/messages/{sent['id']}")
    attachment = next(p for p in full["payload"]["parts"] if p["filename"])
    check(
        "gmail.users.messages.attachments.get",
        "GET",
        f"/messages/{sent['id']}/attachments/{attachment['body']['attachmentId']}",
    )
    inserted = check(
        "gmail.users.messages.insert",
        "POST",
        "/messages",
        json={"raw": _raw("c2"), "labelIds": ["INBOX"]},
    )
    imported = check(
        "gmail.users.messages.import",
        "POST",
        "/messages/import",
        json={"raw": _raw("c3"), "labelIds": ["INBOX", "UNREAD"]},
    )
    label = check("gmail.users.labels.create", "POST", "/labels", json={"name": "Conformance"})
    check("gmail.users.labels.list", "GET", "/labels")
    check("gmail.users.labels.get", "GET", f"/labels/{label['id']}")
    check("gmail.users.labels.update", "PUT", f"/labels/{label['id']}", json={"name": "Conf2"})
    check(
        "gmail.users.labels.patch",
        "PATCH",
        f"/labels/{label['id']}",
        json={"labelListVisibility": "labelShow"},
    )
    check(
        "gmail.users.messages.modify",
        "POST",
        f"/messages/{inserted['id']}/modify",
        json={"addLabelIds": [label["id"]], "removeLabelIds": ["INBOX"]},
    )
    check(
        "gmail.users.messages.batchModify",
        "POST",
        "/messages/batchModify",
        json={"ids": [inserted["id"], imported["id"]], "addLabelIds": ["STARRED"]},
    )
    check("gmail.users.messages.trash", "POST", f"/messages/{inserted['id']}/trash")
    check("gmail.users.messages.untrash", "POST", f"/messages/{inserted['id']}/untrash")
    check(
        "gmail.users.history.list",
        "GET",
        "/history",
        params={"startHistoryId": profile["historyId"]},
    )
    threads = check("gmail.users.threads.list", "GET", "/threads", params={"maxResults": 3})
    tid = threads["threads"][0]["id"]
    for fmt in ("minimal", "metadata", "full"):
        check("gmail.users.threads.get", "GET", f"/threads/{tid}", params={"format": fmt})
    check(
        "gmail.users.threads.modify",
        "POST",
        f"/threads/{tid}/modify",
        json={"addLabelIds": ["IMPORTANT"]},
    )
    check("gmail.users.threads.trash", "POST", f"/threads/{tid}/trash")
    check("gmail.users.threads.untrash", "POST", f"/threads/{tid}/untrash")
    draft = check(
        "gmail.users.drafts.create", "POST", "/drafts", json={"message": {"raw": _raw("d1")}}
    )
    check("gmail.users.drafts.list", "GET", "/drafts")
    for fmt in ("minimal", "metadata", "full", "raw"):
        check("gmail.users.drafts.get", "GET", f"/drafts/{draft['id']}", params={"format": fmt})
    check(
        "gmail.users.drafts.update",
        "PUT",
        f"/drafts/{draft['id']}",
        json={"message": {"raw": _raw("d1 v2")}},
    )
    check("gmail.users.drafts.send", "POST", "/drafts/send", json={"id": draft["id"]})
    draft2 = check(
        "gmail.users.drafts.create", "POST", "/drafts", json={"message": {"raw": _raw("d2")}}
    )
    check("gmail.users.drafts.delete", "DELETE", f"/drafts/{draft2['id']}")
    check("gmail.users.labels.delete", "DELETE", f"/labels/{label['id']}")
    check("gmail.users.messages.delete", "DELETE", f"/messages/{imported['id']}")
    check(
        "gmail.users.messages.batchDelete",
        "POST",
        "/messages/batchDelete",
        json={"ids": [inserted["id"]]},
    )
    oldest = alice.ok("GET", "/threads", params={"maxResults": 50})["threads"][-1]["id"]
    check("gmail.users.threads.delete", "DELETE", f"/threads/{oldest}")
    assert seen == {route.method_id for route in routes.ROUTES}


def test_errors_have_gmail_shape(alice):
    response = alice.call("GET", "/messages/ffffffffffffffff")
    assert response.status_code == 404
    error = response.json()["error"]
    assert error == {
        "code": 404,
        "message": "Requested entity was not found.",
        "errors": [
            {"message": "Requested entity was not found.", "domain": "global", "reason": "notFound"}
        ],
        "status": "NOT_FOUND",
    }


def test_undeclared_query_parameter_is_rejected(alice):
    response = alice.call("GET", "/messages", params={"bogus": "1"})
    assert response.status_code == 400
    assert 'Unknown name "bogus"' in response.json()["error"]["message"]


def test_max_results_is_capped_at_500(alice):
    response = alice.call(
        "GET", "/messages", params={"maxResults": 100000, "includeSpamTrash": True}
    )
    assert response.status_code == 200
    assert len(response.json()["messages"]) <= 500
