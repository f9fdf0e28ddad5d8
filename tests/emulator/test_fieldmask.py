"""Partial responses with ``fields``: the unit grammar and the behaviour over HTTP."""

from __future__ import annotations

import pytest

from gmail_emulator import fieldmask
from gmail_emulator.errors import GmailError


def test_parse_and_apply_nested_selection():
    mask = fieldmask.parse("messages(id,payload/headers),nextPageToken")
    value = {
        "messages": [{"id": "1", "threadId": "t", "payload": {"headers": [1], "body": {}}}],
        "nextPageToken": "n",
        "resultSizeEstimate": 3,
    }
    assert fieldmask.apply(value, mask) == {
        "messages": [{"id": "1", "payload": {"headers": [1]}}],
        "nextPageToken": "n",
    }


@pytest.mark.parametrize("bad", ["a(", "a)", ",a", "a//b", "a(b"])
def test_malformed_masks_are_400(bad):
    with pytest.raises(GmailError) as caught:
        fieldmask.parse(bad)
    assert caught.value.code == 400


def test_fields_over_http(alice):
    page = alice.ok("GET", "/messages", params={"maxResults": 2, "fields": "messages/id"})
    assert set(page) == {"messages"}
    assert all(set(m) == {"id"} for m in page["messages"])
    msg_id = page["messages"][0]["id"]
    got = alice.ok("GET", f"/messages/{msg_id}", params={"fields": "id,labelIds,historyId"})
    assert set(got) <= {"id", "labelIds", "historyId"} and got["id"] == msg_id
