"""Hypothesis strategies for target-gmail's three inputs: valid-ish records and broken ones.

Every strategy mixes well-formed values with wrong types, missing fields, huge and exotic
strings, bad addresses and unknown labels. ``CASE`` fields let a test find each generated
record again in the rejects file or in the mailbox: outbound ids become ``case-N...`` and
label names ``GN/...``, so no two generated records touch the same thing by accident.
"""

from __future__ import annotations

import base64

from hypothesis import strategies as st

KNOWN_LABELS = ["Work", "travel", "Work/Projects", "INBOX", "STARRED", "UNREAD", "Label_1"]
UNKNOWN_LABELS = ["Nope", "Label_999", "Work/Nope", "SENT", "DRAFT", "chat"]
NASTY = [
    "",
    " ",
    "a\r\nBcc: victim@example.com",
    "line\nbreak",
    "\u202eevil",
    "nul\x00byte",
    "é" * 40,
    "😀" * 30,
    "x" * 100_000,
    "=?utf-8?q?encoded?=",
    "<script>",
]
GOOD_EMAILS = [
    "bob@example.com",
    "carol@example.org",
    "Dave <dave@example.net>",
    '"Smith, Eve" <eve@example.com>',
    "ünï@example.com",
    "x@bücher.example",
]
BAD_EMAILS = [
    "not-an-address",
    "@example.com",
    "a@",
    "a b@example.com",
    "a@b@c.example",
    "bob@example.com\nBcc: x@example.com",
    "<>",
    "a@-bad-.example",
    "a@.example",
]

junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
)
text = st.one_of(st.text(max_size=30), st.sampled_from(NASTY))
labels = st.lists(st.one_of(st.sampled_from(KNOWN_LABELS + UNKNOWN_LABELS), text, junk), max_size=4)
label_field = st.one_of(labels, junk, st.sampled_from(KNOWN_LABELS))
email = st.one_of(st.sampled_from(GOOD_EMAILS + BAD_EMAILS), st.emails(), text)
address = st.one_of(
    email,
    st.fixed_dictionaries(
        {"email": st.one_of(email, junk)}, optional={"name": st.one_of(text, junk)}
    ),
)
addresses = st.one_of(st.lists(address, max_size=3), email, junk)
base64_text = st.one_of(
    st.binary(max_size=200).map(lambda b: base64.b64encode(b).decode()),
    st.binary(max_size=50).map(lambda b: base64.urlsafe_b64encode(b).decode().rstrip("=")),
    text,
    junk,
)
attachment = st.one_of(
    st.fixed_dictionaries(
        {
            "filename": st.one_of(st.sampled_from(["a.pdf", "r.txt", "x"]), text, junk),
            "content_base64": base64_text,
        },
        optional={
            "mime_type": st.one_of(
                st.sampled_from(["text/plain", "multipart/mixed", "bad", "a/b/c"]), text, junk
            )
        },
    ),  # fmt: skip
    junk,
)


def _break(draw, record: dict, broken: dict) -> dict:
    """Break 0 to 3 fields of a valid record (about half stay valid): a wrong value, or
    the field removed."""
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 1, 2, 3]))):
        field = draw(st.sampled_from(sorted(broken)))
        if draw(st.integers(0, 4)) == 0:
            record.pop(field, None)
        else:
            record[field] = draw(broken[field])
    return record


valid_text = st.one_of(st.text(max_size=40), st.sampled_from(["é" * 40, "😀" * 30, "x" * 100_000]))
named = st.fixed_dictionaries(
    {"email": st.sampled_from(["bob@example.com", "z@example.org"])},
    optional={"name": st.text(max_size=20)},
)
valid_addresses = st.one_of(
    st.lists(st.sampled_from(GOOD_EMAILS), min_size=1, max_size=3),
    st.sampled_from(GOOD_EMAILS),
    st.lists(named, min_size=1, max_size=2),
)
valid_attachment = st.fixed_dictionaries(
    {"filename": st.sampled_from(["a.pdf", "r.txt", "ünï.bin"]),
     "content_base64": st.binary(max_size=200).map(lambda b: base64.b64encode(b).decode())},
    optional={"mime_type": st.sampled_from(["text/plain", "application/pdf"])},
)  # fmt: skip


@st.composite
def outbound_records(draw) -> dict:
    """``id`` ``("CASE", suffix)`` is made unique by the test (``case-N-suffix``)."""
    record = draw(
        st.fixed_dictionaries(
            {"id": st.text(max_size=8).map(lambda t: ("CASE", t)), "to": valid_addresses},
            optional={
                "cc": valid_addresses,
                "subject": valid_text,
                "body": valid_text,
                "body_html": st.sampled_from(["<p>hi</p>", "<b>ü</b>"]),
                "attachments": st.lists(valid_attachment, max_size=2),
                "labels": st.lists(st.sampled_from(KNOWN_LABELS[:3]), max_size=2),
                "mailbox": st.sampled_from(["alice@example.com", "ALICE@example.com"]),
            },
        )
    )
    broken = {
        "id": st.one_of(junk, st.sampled_from(["", "k" * 201])),
        "to": st.one_of(
            st.lists(address, min_size=1, max_size=3), st.sampled_from(BAD_EMAILS), junk
        ),  # fmt: skip
        "cc": st.one_of(st.lists(address, max_size=3), junk),
        "bcc": st.one_of(st.sampled_from(BAD_EMAILS), junk),
        "reply_to": st.one_of(st.sampled_from(BAD_EMAILS), junk),
        "subject": st.one_of(st.sampled_from(NASTY[2:4]), junk, st.just("s" * 999)),
        "body": junk,
        "attachments": st.one_of(st.lists(attachment, min_size=1, max_size=2), junk),
        "thread_id": st.one_of(st.sampled_from(["bad id", "a/b", "x\n"]), junk),
        "in_reply_to": st.one_of(st.sampled_from(["<a b>", "é@x", ""]), junk),
        "references": st.one_of(st.lists(junk, min_size=1, max_size=2), junk),
        "labels": st.one_of(st.lists(st.sampled_from(UNKNOWN_LABELS), min_size=1), labels, junk),
        "mailbox": st.one_of(st.just("nobody@example.com"), junk),
    }
    return _break(draw, record, broken)


@st.composite
def label_change_records(draw) -> dict:
    """``message_id`` ``"MESSAGE"`` is replaced by a real message id by the test."""
    known = st.lists(st.sampled_from(KNOWN_LABELS), max_size=3)
    form = draw(st.sampled_from(["message", "message", "message", "thread", "cpcal"]))
    if form == "message":
        record = {"message_id": "MESSAGE", "add_labels": draw(known)}
        if draw(st.booleans()):
            record["remove_labels"] = draw(known)
    elif form == "thread":
        record = {"thread_id": draw(st.sampled_from(["0000000000000000", "abc"])),
                  "add_labels": draw(known)}  # fmt: skip
    else:
        record = {"id": "cpcal00000000000", "label_ids": draw(known),
                  "label_names": draw(known), "body": draw(valid_text)}  # fmt: skip
    if draw(st.booleans()):
        record["mailbox"] = "alice@example.com"
    broken = {
        "message_id": st.one_of(
            st.sampled_from(["ffffffffffffffff", "bad id", "", "x" * 65, "id/x"]), junk
        ),
        "thread_id": st.one_of(st.sampled_from(["bad id", ""]), junk),
        "add_labels": st.one_of(labels, junk),
        "remove_labels": st.one_of(labels, junk),
        "label_names": st.one_of(labels, junk),
        "label_ids": st.one_of(labels, junk),
        "mailbox": st.one_of(st.just("x@y.z"), junk),
    }
    return _break(draw, record, broken)


colors = st.one_of(st.sampled_from(["red", "#12345", "#GGGGGG"]), junk)


@st.composite
def label_records(draw) -> dict:
    """``name`` ``("CASE", suffix)`` is made ``GN/suffix`` by the test."""
    record = draw(
        st.fixed_dictionaries(
            {
                "name": st.one_of(
                    st.text(min_size=1, max_size=20), st.sampled_from(["é", "Inbox"])
                ).map(lambda t: ("CASE", t))
            },
            optional={
                "parent_name": st.sampled_from(["Work", "Travel/", "Neu"]),
                "message_list_visibility": st.sampled_from(["show", "hide", None]),
                "label_list_visibility": st.sampled_from(["labelShow", "labelHide"]),
                "mailbox": st.just("alice@example.com"),
            },
        )  # fmt: skip
    )
    if draw(st.booleans()):
        record["color_text"], record["color_background"] = "#000000", "#fad165"
    broken = {
        "name": st.one_of(
            junk,
            st.sampled_from(["", "/", "INBOX", "a//b", "x/", "y" * 230, "a\nb"]),
            st.sampled_from(["/", "a//b", "x/", "y" * 230, "\r"]).map(lambda t: ("CASE", t)),
        ),
        "parent_name": st.one_of(st.sampled_from(["/", "A//B"]), junk),
        "message_list_visibility": st.one_of(st.just("x"), junk),
        "label_list_visibility": st.one_of(st.just("show"), junk),
        "color_text": colors,
        "color_background": colors,
        "mailbox": junk,
    }
    return _break(draw, record, broken)
