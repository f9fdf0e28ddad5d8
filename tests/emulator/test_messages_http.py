"""Messages over HTTP: threading, sends and delivery, search, labels and list semantics."""

from __future__ import annotations

import base64

import pytest

from tests.conftest import Api, admin, issue_token

pytestmark = pytest.mark.timeout(120)


def _raw(headers: dict[str, str], body: str = "hello") -> str:
    text = "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n" + body + "\r\n"
    return base64.urlsafe_b64encode(text.encode()).decode()


def _header(message: dict, name: str) -> str | None:
    for header in message["payload"]["headers"]:
        if header["name"].lower() == name.lower():
            return header["value"]
    return None


def test_reply_threads_by_references_and_subject(alice):
    first = alice.ok(
        "POST",
        "/messages",
        json={
            "raw": _raw(
                {
                    "From": "carol@example.net",
                    "To": "alice@example.com",
                    "Subject": "Budget 2027",
                    "Message-ID": "<budget-1@example.net>",
                }
            ),
            "labelIds": ["INBOX"],
        },
    )
    reply = alice.ok(
        "POST",
        "/messages/send",
        json={
            "raw": _raw(
                {
                    "To": "carol@example.net",
                    "Subject": "Re: Budget 2027",
                    "In-Reply-To": "<budget-1@example.net>",
                    "References": "<budget-1@example.net>",
                }
            ),
            "threadId": first["threadId"],
        },
    )
    assert reply["threadId"] == first["threadId"] == first["id"]
    other_subject = alice.ok(
        "POST",
        "/messages",
        json={
            "raw": _raw(
                {
                    "From": "carol@example.net",
                    "To": "alice@example.com",
                    "Subject": "Lunch?",
                    "References": "<budget-1@example.net>",
                }
            )
        },
    )
    assert other_subject["threadId"] != first["threadId"]
    thread = alice.ok("GET", f"/threads/{first['threadId']}")
    assert [m["id"] for m in thread["messages"]] == [first["id"], reply["id"]]


def test_send_adds_headers_and_delivers_to_local_recipient(server, alice):
    sent = alice.ok(
        "POST",
        "/messages/send",
        json={
            "raw": _raw(
                {"To": "Bob <bob@example.com>", "Bcc": "secret@example.org", "Subject": "Hi Bob"}
            )
        },
    )
    mine = alice.ok("GET", f"/messages/{sent['id']}")
    assert sent["labelIds"] == ["SENT"]
    assert _header(mine, "Message-ID") and _header(mine, "Date")
    assert _header(mine, "From") == "alice@example.com"
    bob = Api(server.url, issue_token(server, "bob@example.com"))
    found = bob.ok("GET", "/messages", params={"q": f"rfc822msgid:{_header(mine, 'Message-ID')}"})
    assert len(found["messages"]) == 1
    theirs = bob.ok("GET", f"/messages/{found['messages'][0]['id']}")
    assert {"INBOX", "UNREAD"} <= set(theirs["labelIds"])
    assert _header(theirs, "Bcc") is None and _header(mine, "Bcc") == "secret@example.org"
    assert admin(server, "stats")["sends"]["by_user"] == {"alice@example.com": 1}


def test_send_without_recipient_is_400(alice):
    response = alice.call("POST", "/messages/send", json={"raw": _raw({"Subject": "x"})})
    assert response.status_code == 400


def test_search_over_http(alice):
    alice.ok(
        "POST",
        "/messages",
        json={
            "raw": _raw(
                {
                    "From": "Zed Zebra <zed@zoo.example>",
                    "To": "alice@example.com",
                    "Subject": "Quarterly zebra report",
                },
                "stripes everywhere",
            ),
            "labelIds": ["INBOX"],
        },
    )
    for q in (
        "from:zed@zoo.example",
        "subject:zebra",
        "stripes",
        '"zebra report"',
        "from:zebra -is:starred",
    ):
        found = alice.ok("GET", "/messages", params={"q": q})
        assert len(found.get("messages", [])) == 1, q
    assert alice.ok("GET", "/messages", params={"q": "from:nobody@nowhere"}).get("messages") is None
    response = alice.call("GET", "/messages", params={"q": "list:announce@example.com"})
    assert response.status_code == 400
    assert response.json()["error"]["status"] == "INVALID_ARGUMENT"


def test_list_excludes_spam_and_trash_unless_asked(alice):
    msg = alice.ok(
        "POST",
        "/messages",
        json={
            "raw": _raw({"From": "x@y.example", "To": "alice@example.com", "Subject": "trash me"})
        },
    )
    alice.ok("POST", f"/messages/{msg['id']}/trash")

    def ids(**params):
        out, token = set(), None
        while True:
            page = alice.ok(
                "GET",
                "/messages",
                params={**params, "maxResults": 500, **({"pageToken": token} if token else {})},
            )
            out |= {m["id"] for m in page.get("messages", [])}
            token = page.get("nextPageToken")
            if not token:
                return out

    assert msg["id"] not in ids()
    assert msg["id"] in ids(includeSpamTrash="true")
    assert msg["id"] in ids(q="in:trash")
    assert msg["id"] in ids(labelIds="TRASH")


def test_paging_covers_every_message_exactly_once(alice):
    profile = alice.ok("GET", "/profile")
    seen, token = [], None
    while True:
        params = {"maxResults": 7, "includeSpamTrash": "true"}
        if token:
            params["pageToken"] = token
        page = alice.ok("GET", "/messages", params=params)
        seen += [m["id"] for m in page["messages"]]
        token = page.get("nextPageToken")
        if not token:
            break
    assert len(seen) == len(set(seen)) == profile["messagesTotal"]


def test_labels_crud_and_counts(alice):
    label = alice.ok(
        "POST",
        "/labels",
        json={
            "name": "Finance/Invoices",
            "labelListVisibility": "labelShow",
            "messageListVisibility": "show",
            "color": {"textColor": "#000000", "backgroundColor": "#16a766"},
        },
    )
    assert label["id"].startswith("Label_") and label["type"] == "user"
    assert alice.call("POST", "/labels", json={"name": "finance/invoices"}).status_code == 409
    assert alice.call("POST", "/labels", json={"name": "INBOX"}).status_code == 400
    ids = [m["id"] for m in alice.ok("GET", "/messages", params={"maxResults": 3})["messages"]]
    alice.ok("POST", "/messages/batchModify", json={"ids": ids, "addLabelIds": [label["id"]]})
    counted = alice.ok("GET", f"/labels/{label['id']}")
    assert counted["messagesTotal"] == 3
    alice.ok("DELETE", f"/labels/{label['id']}")
    assert alice.call("GET", f"/labels/{label['id']}").status_code == 404
    for msg_id in ids:
        assert label["id"] not in alice.ok(
            "GET", f"/messages/{msg_id}", params={"format": "minimal"}
        ).get("labelIds", [])


def test_batch_modify_limits_and_invalid_labels(alice):
    too_many = [f"{n:016x}" for n in range(1001)]
    response = alice.call(
        "POST", "/messages/batchModify", json={"ids": too_many, "addLabelIds": ["STARRED"]}
    )
    assert response.status_code == 400
    msg = alice.ok("GET", "/messages", params={"maxResults": 1})["messages"][0]
    response = alice.call(
        "POST", f"/messages/{msg['id']}/modify", json={"addLabelIds": ["Label_999"]}
    )
    assert response.status_code == 400 and "Invalid label" in response.text


def test_internal_date_source(alice):
    headers = {
        "From": "a@b.example",
        "To": "alice@example.com",
        "Subject": "old",
        "Date": "Mon, 01 Jan 2001 00:00:00 +0000",
    }
    imported = alice.ok("POST", "/messages/import", json={"raw": _raw(headers)})
    inserted = alice.ok("POST", "/messages", json={"raw": _raw(headers)})
    got_import = alice.ok("GET", f"/messages/{imported['id']}", params={"format": "minimal"})
    got_insert = alice.ok("GET", f"/messages/{inserted['id']}", params={"format": "minimal"})
    assert got_import["internalDate"] == "978307200000"
    assert int(got_insert["internalDate"]) > 978307200000
