"""The URL table: every Gmail v1 method the emulator serves, as the discovery document names it.

Each route carries its discovery method id, HTTP method, path template, declared query
parameters and the scopes that may call it. ``tests/emulator/test_conformance.py`` checks
every entry against ``gmail.v1.json``, so this table cannot drift from the contract.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

FULL = "https://mail.google.com/"
_G = "https://www.googleapis.com/auth/gmail."
MODIFY, READONLY, METADATA = _G + "modify", _G + "readonly", _G + "metadata"
COMPOSE, SEND, INSERT, LABELS = _G + "compose", _G + "send", _G + "insert", _G + "labels"
ADDON_ACTION = _G + "addons.current.message.action"
ADDON_META = _G + "addons.current.message.metadata"
ADDON_READ = _G + "addons.current.message.readonly"
ADDON_COMPOSE = _G + "addons.current.action.compose"

READ_SCOPES = (FULL, METADATA, MODIFY, READONLY)
GET_SCOPES = (FULL, ADDON_ACTION, ADDON_META, ADDON_READ, METADATA, MODIFY, READONLY)
DRAFT_WRITE = (FULL, ADDON_COMPOSE, COMPOSE, MODIFY)

# Standard query parameters every Google API accepts.
SYSTEM_PARAMS = frozenset(
    {
        "$.xgafv",
        "access_token",
        "alt",
        "callback",
        "fields",
        "key",
        "oauth_token",
        "prettyPrint",
        "quotaUser",
        "uploadType",
        "upload_protocol",
    }
)


@dataclass(frozen=True)
class Param:
    name: str
    type: str = "string"  # string | integer | boolean
    repeated: bool = False
    default: str | None = None
    enum: tuple[str, ...] = ()
    maximum: int | None = None


@dataclass(frozen=True)
class Route:
    method_id: str
    http_method: str
    path: str  # discovery flatPath, e.g. "gmail/v1/users/{userId}/messages/{id}"
    handler: str
    params: tuple[Param, ...] = ()
    scopes: tuple[str, ...] = READ_SCOPES
    upload: bool = False  # also served under /upload/<path> (media upload)
    has_body: bool = False

    @property
    def regex(self) -> re.Pattern:
        return _compile(self.path)


def _compile(template: str) -> re.Pattern:
    pattern = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template)
    return re.compile("^/" + pattern + "$")


_MAX = Param("maxResults", "integer", default="100", maximum=500)
_PAGE = Param("pageToken")
_SPAM = Param("includeSpamTrash", "boolean", default="false")
_Q = Param("q")
_LABEL_IDS = Param("labelIds", repeated=True)
_FORMAT = Param("format", default="full", enum=("minimal", "full", "raw", "metadata"))
_THREAD_FORMAT = Param("format", default="full", enum=("full", "metadata", "minimal"))
_META_HEADERS = Param("metadataHeaders", repeated=True)
_DATE_SRC = Param("internalDateSource", default="receivedTime", enum=("receivedTime", "dateHeader"))
_DELETED = Param("deleted", "boolean", default="false")
_U = "gmail/v1/users/{userId}"

ROUTES: tuple[Route, ...] = (
    Route(
        "gmail.users.getProfile",
        "GET",
        f"{_U}/profile",
        "get_profile",
        scopes=(FULL, COMPOSE, METADATA, MODIFY, READONLY),
    ),
    Route("gmail.users.watch", "POST", f"{_U}/watch", "watch", has_body=True),
    Route("gmail.users.stop", "POST", f"{_U}/stop", "stop"),
    # messages
    Route(
        "gmail.users.messages.list",
        "GET",
        f"{_U}/messages",
        "messages_list",
        (_SPAM, _LABEL_IDS, _MAX, _PAGE, _Q),
    ),
    Route(
        "gmail.users.messages.get",
        "GET",
        f"{_U}/messages/{{id}}",
        "messages_get",
        (_FORMAT, _META_HEADERS),
        GET_SCOPES,
    ),
    Route(
        "gmail.users.messages.send",
        "POST",
        f"{_U}/messages/send",
        "messages_send",
        scopes=(FULL, ADDON_COMPOSE, COMPOSE, MODIFY, SEND),
        upload=True,
        has_body=True,
    ),
    Route(
        "gmail.users.messages.insert",
        "POST",
        f"{_U}/messages",
        "messages_insert",
        (_DELETED, _DATE_SRC),
        (FULL, INSERT, MODIFY),
        upload=True,
        has_body=True,
    ),
    Route(
        "gmail.users.messages.import",
        "POST",
        f"{_U}/messages/import",
        "messages_import",
        (
            _DELETED,
            Param("internalDateSource", default="dateHeader", enum=("receivedTime", "dateHeader")),
            Param("neverMarkSpam", "boolean", default="false"),
            Param("processForCalendar", "boolean", default="false"),
        ),
        (FULL, INSERT, MODIFY),
        upload=True,
        has_body=True,
    ),
    Route(
        "gmail.users.messages.modify",
        "POST",
        f"{_U}/messages/{{id}}/modify",
        "messages_modify",
        scopes=(FULL, MODIFY),
        has_body=True,
    ),
    Route(
        "gmail.users.messages.batchModify",
        "POST",
        f"{_U}/messages/batchModify",
        "messages_batch_modify",
        scopes=(FULL, MODIFY),
        has_body=True,
    ),
    Route(
        "gmail.users.messages.trash",
        "POST",
        f"{_U}/messages/{{id}}/trash",
        "messages_trash",
        scopes=(FULL, MODIFY),
    ),
    Route(
        "gmail.users.messages.untrash",
        "POST",
        f"{_U}/messages/{{id}}/untrash",
        "messages_untrash",
        scopes=(FULL, MODIFY),
    ),
    Route(
        "gmail.users.messages.delete",
        "DELETE",
        f"{_U}/messages/{{id}}",
        "messages_delete",
        scopes=(FULL,),
    ),
    Route(
        "gmail.users.messages.batchDelete",
        "POST",
        f"{_U}/messages/batchDelete",
        "messages_batch_delete",
        scopes=(FULL,),
        has_body=True,
    ),
    Route(
        "gmail.users.messages.attachments.get",
        "GET",
        f"{_U}/messages/{{messageId}}/attachments/{{id}}",
        "attachments_get",
        scopes=(FULL, ADDON_ACTION, ADDON_READ, MODIFY, READONLY),
    ),
    # threads
    Route(
        "gmail.users.threads.list",
        "GET",
        f"{_U}/threads",
        "threads_list",
        (_SPAM, _LABEL_IDS, _MAX, _PAGE, _Q),
    ),
    Route(
        "gmail.users.threads.get",
        "GET",
        f"{_U}/threads/{{id}}",
        "threads_get",
        (_THREAD_FORMAT, _META_HEADERS),
        GET_SCOPES,
    ),
    Route(
        "gmail.users.threads.modify",
        "POST",
        f"{_U}/threads/{{id}}/modify",
        "threads_modify",
        scopes=(FULL, MODIFY),
        has_body=True,
    ),
    Route(
        "gmail.users.threads.trash",
        "POST",
        f"{_U}/threads/{{id}}/trash",
        "threads_trash",
        scopes=(FULL, MODIFY),
    ),
    Route(
        "gmail.users.threads.untrash",
        "POST",
        f"{_U}/threads/{{id}}/untrash",
        "threads_untrash",
        scopes=(FULL, MODIFY),
    ),
    Route(
        "gmail.users.threads.delete",
        "DELETE",
        f"{_U}/threads/{{id}}",
        "threads_delete",
        scopes=(FULL,),
    ),
    # labels
    Route(
        "gmail.users.labels.list",
        "GET",
        f"{_U}/labels",
        "labels_list",
        scopes=(FULL, LABELS, METADATA, MODIFY, READONLY),
    ),
    Route(
        "gmail.users.labels.get",
        "GET",
        f"{_U}/labels/{{id}}",
        "labels_get",
        scopes=(FULL, LABELS, METADATA, MODIFY, READONLY),
    ),
    Route(
        "gmail.users.labels.create",
        "POST",
        f"{_U}/labels",
        "labels_create",
        scopes=(FULL, LABELS, MODIFY),
        has_body=True,
    ),
    Route(
        "gmail.users.labels.update",
        "PUT",
        f"{_U}/labels/{{id}}",
        "labels_update",
        scopes=(FULL, LABELS, MODIFY),
        has_body=True,
    ),
    Route(
        "gmail.users.labels.patch",
        "PATCH",
        f"{_U}/labels/{{id}}",
        "labels_patch",
        scopes=(FULL, LABELS, MODIFY),
        has_body=True,
    ),
    Route(
        "gmail.users.labels.delete",
        "DELETE",
        f"{_U}/labels/{{id}}",
        "labels_delete",
        scopes=(FULL, LABELS, MODIFY),
    ),
    # history
    Route(
        "gmail.users.history.list",
        "GET",
        f"{_U}/history",
        "history_list",
        (
            Param(
                "historyTypes",
                repeated=True,
                enum=("messageAdded", "messageDeleted", "labelAdded", "labelRemoved"),
            ),
            Param("labelId"),
            _MAX,
            _PAGE,
            Param("startHistoryId"),
        ),
    ),
    # drafts
    Route(
        "gmail.users.drafts.list",
        "GET",
        f"{_U}/drafts",
        "drafts_list",
        (_SPAM, _MAX, _PAGE, _Q),
        (FULL, COMPOSE, MODIFY, READONLY),
    ),
    Route(
        "gmail.users.drafts.get",
        "GET",
        f"{_U}/drafts/{{id}}",
        "drafts_get",
        (_FORMAT,),
        (FULL, COMPOSE, MODIFY, READONLY),
    ),
    Route(
        "gmail.users.drafts.create",
        "POST",
        f"{_U}/drafts",
        "drafts_create",
        scopes=DRAFT_WRITE,
        upload=True,
        has_body=True,
    ),
    Route(
        "gmail.users.drafts.update",
        "PUT",
        f"{_U}/drafts/{{id}}",
        "drafts_update",
        scopes=DRAFT_WRITE,
        upload=True,
        has_body=True,
    ),
    Route(
        "gmail.users.drafts.send",
        "POST",
        f"{_U}/drafts/send",
        "drafts_send",
        scopes=DRAFT_WRITE,
        upload=True,
        has_body=True,
    ),
    Route(
        "gmail.users.drafts.delete",
        "DELETE",
        f"{_U}/drafts/{{id}}",
        "drafts_delete",
        scopes=DRAFT_WRITE,
    ),
)

_COMPILED = [(route, route.regex) for route in ROUTES]


def match(http_method: str, path: str) -> tuple[Route | None, dict[str, str], bool]:
    """Find the route for a request path (without query string).

    Returns (route, path params, path_known). ``path_known`` is True when some route has
    this path but with another HTTP method, which Gmail answers with 405.
    """
    upload = path.startswith("/upload/")
    if upload:
        path = path[len("/upload") :]
    path_known = False
    for route, regex in _COMPILED:
        found = regex.match(path)
        if not found:
            continue
        if route.http_method != http_method or (upload and not route.upload):
            path_known = True
            continue
        return route, {k: unquote(v) for k, v in found.groupdict().items()}, True
    return None, {}, path_known
