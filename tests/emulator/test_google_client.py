"""Google's own client against the emulator: the strongest evidence of fidelity we have.

``googleapiclient.discovery.build(static_discovery=True)`` uses the shipped gmail.v1.json, so
every URL, parameter and body here is shaped by Google's code, not ours.
"""

from __future__ import annotations

import base64
from email.message import EmailMessage

import pytest
from google.oauth2.credentials import Credentials
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError
from googleapiclient.http import BatchHttpRequest

pytestmark = pytest.mark.timeout(120)


def _service(server, refresh_token: str = "any-refresh-token", scopes=None):
    credentials = Credentials(
        token=None,
        refresh_token=refresh_token,
        token_uri=server.token_url,
        client_id="demo-client",
        client_secret="demo-secret",
        scopes=scopes,
    )
    return build(
        "gmail",
        "v1",
        credentials=credentials,
        static_discovery=True,
        cache_discovery=False,
        client_options={"api_endpoint": server.url + "/"},
    )


def _email(subject: str, to: str = "bob@example.com") -> EmailMessage:
    message = EmailMessage()
    message["From"] = "alice@example.com"
    message["To"] = to
    message["Subject"] = subject
    message.set_content("Body of " + subject)
    message.add_attachment(
        b"%PDF-1.4 tiny", maintype="application", subtype="pdf", filename="report.pdf"
    )
    return message


def test_read_calls_with_refresh_token(server):
    gmail = _service(server)
    profile = gmail.users().getProfile(userId="me").execute()
    assert profile["emailAddress"] == "alice@example.com"
    assert profile["messagesTotal"] == 40
    listed = gmail.users().messages().list(userId="me", maxResults=10).execute()
    assert len(listed["messages"]) == 10 and "nextPageToken" in listed
    second = (
        gmail.users()
        .messages()
        .list(userId="me", maxResults=10, pageToken=listed["nextPageToken"])
        .execute()
    )
    assert not {m["id"] for m in listed["messages"]} & {m["id"] for m in second["messages"]}
    msg = (
        gmail.users()
        .messages()
        .get(
            userId="me",
            id=listed["messages"][0]["id"],
            format="metadata",
            metadataHeaders=["From", "Subject"],
        )
        .execute()
    )
    assert {h["name"].lower() for h in msg["payload"]["headers"]} <= {"from", "subject"}
    labels = gmail.users().labels().list(userId="me").execute()["labels"]
    assert {"INBOX", "SENT", "UNREAD"} <= {label["id"] for label in labels}
    thread = gmail.users().threads().get(userId="me", id=msg["threadId"]).execute()
    assert msg["id"] in {m["id"] for m in thread["messages"]}


def test_send_and_read_back_attachment(server):
    gmail = _service(server)
    raw = base64.urlsafe_b64encode(_email("raw send").as_bytes()).decode()
    sent = gmail.users().messages().send(userId="me", body={"raw": raw}).execute()
    assert "SENT" in sent["labelIds"]
    full = gmail.users().messages().get(userId="me", id=sent["id"]).execute()
    subject = next(h["value"] for h in full["payload"]["headers"] if h["name"] == "Subject")
    assert subject == "raw send"
    pdf = next(p for p in full["payload"]["parts"] if p["filename"] == "report.pdf")
    attachment = (
        gmail.users()
        .messages()
        .attachments()
        .get(userId="me", messageId=sent["id"], id=pdf["body"]["attachmentId"])
        .execute()
    )
    assert base64.urlsafe_b64decode(attachment["data"]) == b"%PDF-1.4 tiny"


def test_batch_http_request_against_emulator(server):
    gmail = _service(server)
    ids = [
        m["id"]
        for m in gmail.users().messages().list(userId="me", maxResults=20).execute()["messages"]
    ]
    results: dict[str, dict] = {}
    failures: dict[str, Exception] = {}

    def collect(request_id, response, exception):
        if exception is not None:
            failures[request_id] = exception
        else:
            results[request_id] = response

    batch = BatchHttpRequest(callback=collect, batch_uri=server.url + "/batch/gmail/v1")
    for msg_id in ids:
        batch.add(gmail.users().messages().get(userId="me", id=msg_id, format="minimal"))
    batch.add(gmail.users().messages().get(userId="me", id="ffffffffffffffff"))
    batch.execute()
    assert len(results) == 20
    assert {r["id"] for r in results.values()} == set(ids)
    assert len(failures) == 1
    (failure,) = failures.values()
    assert isinstance(failure, HttpError) and failure.resp.status == 404


def test_readonly_token_cannot_send(server):
    gmail = _service(server, scopes=["https://www.googleapis.com/auth/gmail.readonly"])
    gmail.users().getProfile(userId="me").execute()
    raw = base64.urlsafe_b64encode(_email("nope").as_bytes()).decode()
    with pytest.raises(HttpError) as caught:
        gmail.users().messages().send(userId="me", body={"raw": raw}).execute()
    assert caught.value.resp.status == 403
    assert caught.value.error_details[0]["reason"] == "insufficientPermissions"


def test_metadata_scope_forbids_q_and_full_format(server):
    gmail = _service(server, scopes=["https://www.googleapis.com/auth/gmail.metadata"])
    listed = gmail.users().messages().list(userId="me", maxResults=1).execute()
    msg_id = listed["messages"][0]["id"]
    gmail.users().messages().get(userId="me", id=msg_id, format="metadata").execute()
    for call in (
        gmail.users().messages().list(userId="me", q="is:unread"),
        gmail.users().messages().get(userId="me", id=msg_id, format="full"),
        gmail.users().messages().get(userId="me", id=msg_id, format="raw"),
    ):
        with pytest.raises(HttpError) as caught:
            call.execute()
        assert caught.value.resp.status == 403
