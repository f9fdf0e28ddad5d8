"""One batch part's answer, parsed: a read cut down to its headers is not a success."""

from __future__ import annotations

from gmail_core.batch import BatchPart, _parse_part


def test_an_empty_answer_to_a_read_is_malformed_but_not_to_a_write():
    get = BatchPart("messages.get", "GET", "messages/1")
    modify = BatchPart("messages.batchModify", "POST", "messages/batchModify")
    cut = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n"
    assert _parse_part(get, cut, "alice@example.com") is None  # retried as malformedResponse
    done = _parse_part(modify, b"HTTP/1.1 204 No Content\r\n\r\n", "alice@example.com")
    assert done is not None and done.ok and done.body is None
    whole = _parse_part(get, cut + b'{"id": "1"}', "alice@example.com")
    assert whole.ok and whole.body == {"id": "1"}
