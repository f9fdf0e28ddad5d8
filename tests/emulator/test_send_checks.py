"""What makes Gmail refuse a send: recipient headers, refused domains, unknown threadIds.

Recipients are parsed from the undecoded header (address structure first, then the RFC 2047
words of display names), so an encoded display name holding ``@``, ``,`` or ``<`` is valid.
"""

from __future__ import annotations

import base64

import pytest

from gmail_emulator.cli import build_parser, config_from_args
from gmail_emulator.handlers.outgoing import _address_list
from tests.conftest import Api, admin, issue_token

pytestmark = pytest.mark.timeout(120)

BOB = "bob@example.com"


def _raw(headers: dict[str, str], body: str = "hello") -> str:
    text = "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n" + body + "\r\n"
    return base64.urlsafe_b64encode(text.encode()).decode()


def _send(api: Api, headers: dict[str, str], **extra):
    return api.call("POST", "/messages/send", json={"raw": _raw(headers), **extra})


def _error(response) -> dict:
    return response.json()["error"]


def _in_bob(server, subject: str) -> list[dict]:
    bob = Api(server.url, issue_token(server, BOB))
    found = bob.ok("GET", "/messages", params={"q": f'in:inbox subject:"{subject}"'})
    return found.get("messages", [])


# --- address parsing ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, expected",
    [
        ("=?utf-8?q?a=40b_=C3=A9?= <u0@example.com>", [("a@b é", "u0@example.com")]),
        ("=?utf-8?b?w6lsw6huZSwgPGI+?= <e@example.com>", [("élène, <b>", "e@example.com")]),
        ('"Smith, J @ home" <j@x.com>, b@y.com', [("Smith, J @ home", "j@x.com"), ("", "b@y.com")]),
        ('"=?utf-8?q?A=2C_B?=" <ab@x.com>', [("A, B", "ab@x.com")]),
        ("José <jose@x.com>", [("José", "jose@x.com")]),
        ("a@x.com (Smith, John)", [("Smith, John", "a@x.com")]),
        (
            'Friends: a@x.com, "B" <b@y.com>;, c@z.com',
            [("", "a@x.com"), ("B", "b@y.com"), ("", "c@z.com")],
        ),  # fmt: skip
        ("undisclosed-recipients:;", []),
        ('"john doe"@x.com', [("", '"john doe"@x.com')]),
    ],
)
def test_valid_address_lists(value, expected):
    assert _address_list(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "foo bar",
        "a@b@c",
        "a@",
        "@x.com",
        "Name <>",
        '"Smith, John <a@x.com>',
        "alice@example.com bob@example.com",
        "Name <a@x.com> trailing",
        "a@x.com>",
        "a@x.com; b@y.com",
        "x@[1.2.3.4]",
        ",",
    ],
)
def test_invalid_address_lists(value):
    assert _address_list(value) is None


def test_encoded_display_names_are_decoded_after_parsing(server, alice):
    to = f"=?utf-8?q?a=40b_=C3=A9?= <{BOB}>, =?utf-8?q?x=2C_y?= <carol@example.net>"
    response = _send(alice, {"To": to, "Subject": "encoded names"})
    assert response.status_code == 200, response.text
    assert len(_in_bob(server, "encoded names")) == 1
    mine = alice.ok("GET", f"/messages/{response.json()['id']}", params={"format": "metadata"})
    headers = {h["name"]: h["value"] for h in mine["payload"]["headers"]}
    assert headers["To"] == f"a@b é <{BOB}>, x, y <carol@example.net>"  # decoded for display


def test_quoted_names_groups_and_cc_bcc_deliver(server, alice):
    response = _send(
        alice,
        {
            "To": '"Doe, Jane @ work" <jane@example.net>',
            "Cc": f"Team: {BOB}, other@example.org;",
            "Bcc": "undisclosed-recipients:;",
            "Subject": "group send",
        },
    )
    assert response.status_code == 200, response.text
    assert len(_in_bob(server, "group send")) == 1


@pytest.mark.parametrize(
    "header, value",
    [
        ("To", "not an address"),
        ("To", '"Unclosed, Q <q@x.com>'),
        ("Cc", "a@b@c"),
        ("Bcc", "Name <>"),
        ("To", "a@x.com trailing junk <b@y.com>"),
    ],  # fmt: skip
)
def test_invalid_recipient_header_is_400(server, alice, header, value):
    response = _send(alice, {"To": BOB, header: value, "Subject": "bad"} if header != "To"
                     else {"To": value, "Subject": "bad"})  # fmt: skip
    assert response.status_code == 400
    error = _error(response)
    assert error["message"] == f"Invalid {header} header"
    assert error["status"] == "INVALID_ARGUMENT"
    assert error["errors"][0]["reason"] == "invalidArgument"
    assert admin(server, "stats")["sends"]["total"] == 0


def test_no_recipient_is_400(alice):
    for headers in ({"Subject": "x"}, {"To": "undisclosed-recipients:;", "Subject": "x"}):
        response = _send(alice, headers)
        assert response.status_code == 400
        assert _error(response)["message"] == "Recipient address required"


# --- refuse_recipient_domains -------------------------------------------------------------


def test_refused_domain_gets_gmails_400_on_send_and_draft_send(server, alice):
    admin(server, "config", {"refuse_recipient_domains": ["Refused.Example"]})
    response = _send(alice, {"To": "x@refused.example", "Subject": "no"})
    assert response.status_code == 400 and _error(response)["message"] == "Invalid To header"
    response = _send(alice, {"To": BOB, "Cc": "Y <y@REFUSED.example>", "Subject": "no"})
    assert response.status_code == 400 and _error(response)["message"] == "Invalid Cc header"
    # A subdomain is another domain; other recipients are unaffected.
    assert _send(alice, {"To": "z@mx.refused.example", "Subject": "yes"}).status_code == 200

    draft = alice.ok(
        "POST", "/drafts", json={"message": {"raw": _raw({"To": "x@refused.example"})}}
    )
    response = alice.call("POST", "/drafts/send", json={"id": draft["id"]})
    assert response.status_code == 400 and _error(response)["message"] == "Invalid To header"
    assert alice.ok("GET", f"/drafts/{draft['id']}")["id"] == draft["id"]  # still a draft
    assert admin(server, "stats")["sends"]["total"] == 1

    admin(server, "config", {"refuse_recipient_domains": []})
    assert alice.call("POST", "/drafts/send", json={"id": draft["id"]}).status_code == 200


def test_refuse_recipient_domains_config_and_flag():
    args = build_parser().parse_args(["--refuse-recipient-domains", "A.example, @b.example"])
    assert config_from_args(args).refuse_recipient_domains == ("a.example", "b.example")
    assert config_from_args(build_parser().parse_args([])).refuse_recipient_domains == ()


def test_bad_refuse_setting_is_a_400_from_admin(server):
    import requests

    response = requests.post(
        f"{server.url}/_emulator/config", json={"refuse_recipient_domains": [1]}, timeout=10
    )
    assert response.status_code == 400


# --- threadId -----------------------------------------------------------------------------


def test_unknown_thread_id_is_400_everywhere_and_nothing_is_stored(server, alice):
    before = alice.ok("GET", "/profile")["messagesTotal"]
    raw = _raw({"To": BOB, "Subject": "into nowhere"})
    for thread_id in ("ffffffffffffffff", "not-an-id"):
        for path, body in (
            ("/messages/send", {"raw": raw, "threadId": thread_id}),
            ("/messages", {"raw": raw, "threadId": thread_id}),
            ("/messages/import", {"raw": raw, "threadId": thread_id}),
            ("/drafts", {"message": {"raw": raw, "threadId": thread_id}}),
        ):
            response = alice.call("POST", path, json=body)
            assert response.status_code == 400, (path, response.text)
            assert _error(response)["message"] == "Invalid thread_id value"
            assert _error(response)["errors"][0]["reason"] == "invalidArgument"
    assert alice.ok("GET", "/profile")["messagesTotal"] == before
    assert admin(server, "stats")["sends"]["total"] == 0
    assert not _in_bob(server, "into nowhere")


def test_thread_of_another_mailbox_is_unknown(server, alice):
    bob = Api(server.url, issue_token(server, BOB))
    theirs = bob.ok("GET", "/messages", params={"maxResults": 1})["messages"][0]["threadId"]
    mine = {m["threadId"] for m in alice.ok("GET", "/messages", params={"maxResults": 500})
            .get("messages", [])}  # fmt: skip
    if theirs in mine:
        pytest.skip("seeded ids collide")
    response = _send(alice, {"To": BOB, "Subject": "x"}, threadId=theirs)
    assert response.status_code == 400


def test_known_and_empty_thread_ids_are_accepted(alice):
    first = _send(alice, {"To": BOB, "Subject": "Plans", "Message-ID": "<p1@example.com>"})
    thread_id = first.json()["threadId"]
    reply = _send(
        alice,
        {"To": BOB, "Subject": "Re: Plans", "In-Reply-To": "<p1@example.com>"},
        threadId=thread_id,
    )
    assert reply.status_code == 200 and reply.json()["threadId"] == thread_id
    assert _send(alice, {"To": BOB, "Subject": "new"}, threadId="").status_code == 200


def test_draft_send_keeps_a_thread_the_draft_shares(alice):
    first = _send(alice, {"To": BOB, "Subject": "Agenda", "Message-ID": "<ag@example.com>"})
    thread_id = first.json()["threadId"]
    headers = {"To": BOB, "Subject": "Re: Agenda", "In-Reply-To": "<ag@example.com>"}
    draft = alice.ok(
        "POST", "/drafts", json={"message": {"raw": _raw(headers), "threadId": thread_id}}
    )
    assert draft["message"]["threadId"] == thread_id
    sent = alice.ok("POST", "/drafts/send", json={"id": draft["id"]})
    assert sent["threadId"] == thread_id
    bad = alice.call(
        "POST",
        "/drafts/send",
        json={"id": draft["id"], "message": {"raw": _raw(headers), "threadId": "abc123"}},
    )
    assert bad.status_code == 404  # the draft is gone: it was sent
