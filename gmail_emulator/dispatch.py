"""One API call, start to finish: route, fault, auth, scope, quota, parameters, handler.

Both the socket server and the batch endpoint call ``Dispatcher.handle``, so an inner part
of a batch goes through exactly the same checks and accounting as a plain request.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qs

from . import errors, fieldmask, routes
from .auth import check_scopes
from .backend import Emulator
from .faults import AFTER_RUN, Fault
from .handlers import HANDLERS
from .models import Mailbox
from .uploads import parse_body


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: bytes = b""

    @classmethod
    def from_target(cls, method: str, target: str, headers: dict[str, str], body: bytes):
        path, _, query = target.partition("?")
        return cls(method.upper(), path, parse_qs(query, keep_blank_values=True), headers, body)


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    reset: bool = False  # drop the connection without answering (injected fault)
    delay_s: float = 0.0  # sleep before answering (latency, slow-response fault)
    # close_mid_body | truncated_json | garbled_batch: how the layer that writes this answer
    # (socket server, or batch part renderer) must break it; "" for an intact answer
    mangle: str = ""


def json_response(status: int, payload: dict | None, headers: dict | None = None) -> Response:
    if payload is None:
        return Response(status, b"", dict(headers or {}))
    body = json.dumps(payload, ensure_ascii=False, indent=2).encode("utf-8")
    out = {"Content-Type": "application/json; charset=UTF-8"}
    out.update(headers or {})
    return Response(status, body, out)


def error_response(error: errors.GmailError) -> Response:
    return json_response(error.code, error.body(), error.headers)


@dataclass
class Call:
    """Everything a handler needs about one authorised call."""

    emulator: Emulator
    route: routes.Route
    mailbox: Mailbox
    user: str
    path: dict[str, str]
    query: dict
    body: dict
    media: bytes | None


class Dispatcher:
    def __init__(self, emulator: Emulator):
        self.emulator = emulator

    def handle(self, request: Request, inline_delay: bool = True) -> Response:
        """Serve one call. With ``inline_delay`` the latency is slept while the call holds
        its concurrency slot (as a slow backend would); batch parts return it instead."""
        route, path_params, known = routes.match(request.method, request.path)
        if route is None:
            if known:
                return error_response(errors.method_not_allowed())
            return error_response(errors.GmailError(404, "Not Found", "notFound", "NOT_FOUND"))
        emulator = self.emulator
        method_id = route.method_id
        delay = emulator.faults.latency_s()
        fault = emulator.faults.pick(method_id)
        after_run = fault is not None and fault.kind in AFTER_RUN
        if fault is not None and not after_run:
            emulator.stats.fault(method_id, fault.kind)
            if fault.kind == "reset":
                _sleep(delay, inline_delay)
                return Response(0, reset=True, delay_s=0 if inline_delay else delay)
            if fault.kind == "slow":
                delay += fault.delay_s
            else:
                error = emulator.faults.error_for(fault)
                emulator.stats.call(method_id, None, error.code, 0)
                response = error_response(error)
                _sleep(delay, inline_delay)
                response.delay_s = 0 if inline_delay else delay
                return response
        user = None
        units = 0
        status = 500
        slept = False
        try:
            grant = emulator.auth.authenticate(_bearer(request))
            user = grant.user
            check_scopes(grant, route.scopes)
            query = _typed_query(route, request.query)
            _check_metadata_scope(grant.scopes, route, query)
            mailbox = _mailbox(emulator, grant.user, path_params.get("userId", "me"))
            with emulator.quota.concurrent(mailbox.email):
                units = emulator.quota.charge(mailbox.email, method_id)
                _sleep(delay, inline_delay)
                slept = True
                body, media = parse_body(route, request)
                call = Call(
                    emulator, route, mailbox, mailbox.email, path_params, query, body, media
                )
                status, payload = HANDLERS[route.handler](call)
            fields = (request.query.get("fields") or [""])[-1]
            if fields and payload is not None:
                payload = fieldmask.apply(payload, fieldmask.parse(fields))
            response = json_response(status, payload)
        except errors.GmailError as error:
            status = error.code
            if error.reason == "rateLimitExceeded":
                units = 0
            response = error_response(error)
            _sleep(delay, inline_delay and not slept)
        emulator.stats.call(method_id, user, status, units)
        response.delay_s = 0 if inline_delay else delay
        if after_run:
            emulator.stats.fault(method_id, fault.kind)
            break_answer(response, fault)
        return response


def break_answer(response: Response, fault: Fault) -> None:
    """Apply a fault that lets the call run but spoils (or withholds) its answer."""
    if fault.kind == "lost_response":
        response.reset = True
    elif fault.kind == "stall":
        response.delay_s += fault.delay_s
    else:
        response.mangle = fault.kind


def _sleep(seconds: float, inline: bool) -> None:
    if inline and seconds > 0:
        time.sleep(seconds)


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header:
        return header
    token = (request.query.get("access_token") or request.query.get("oauth_token") or [None])[0]
    return f"Bearer {token}" if token else None


def _mailbox(emulator: Emulator, authenticated: str, user_id: str) -> Mailbox:
    if user_id != "me" and user_id.lower() != authenticated.lower():
        raise errors.forbidden(f"Delegation denied for {authenticated}")
    mailbox = emulator.mailbox_for(authenticated)
    if mailbox is None:
        # e.g. a service-account token without a delegated subject: it has no mailbox.
        raise errors.failed_precondition()
    return mailbox


def _typed_query(route: routes.Route, raw: dict[str, list[str]]) -> dict:
    declared = {param.name: param for param in route.params}
    out: dict = {}
    for name, values in raw.items():
        if name in routes.SYSTEM_PARAMS:
            if name == "alt" and values[-1] not in ("json", ""):
                raise errors.bad_request(f"Invalid value at 'alt', \"{values[-1]}\"")
            continue
        param = declared.get(name)
        if param is None:
            raise errors.bad_request(
                f'Invalid JSON payload received. Unknown name "{name}": Cannot bind query '
                f"parameter. Field '{name}' could not be found in request message."
            )
        converted = [_convert(param, value) for value in values]
        out[name] = converted if param.repeated else converted[-1]
    for param in route.params:
        if param.name not in out:
            out[param.name] = (
                [] if param.repeated else _convert(param, param.default) if param.default else None
            )
    return out


def _convert(param: routes.Param, value: str):
    if param.type == "integer":
        try:
            number = int(value)
        except ValueError:
            raise errors.bad_request(
                f"Invalid value at '{param.name}' (TYPE_UINT32), \"{value}\""
            ) from None
        if number < 0:
            raise errors.bad_request(f"Invalid value at '{param.name}' (TYPE_UINT32), \"{value}\"")
        return min(number, param.maximum) if param.maximum else number
    if param.type == "boolean":
        if value.lower() not in ("true", "false"):
            raise errors.bad_request(f"Invalid value at '{param.name}' (TYPE_BOOL), \"{value}\"")
        return value.lower() == "true"
    if param.enum and value not in param.enum:
        raise errors.bad_request(f"Invalid value at '{param.name}' (TYPE_ENUM), \"{value}\"")
    return value


def _check_metadata_scope(scopes: frozenset[str], route: routes.Route, query: dict) -> None:
    """The gmail.metadata scope may list and read headers, but never search or read bodies."""
    strong = set(route.scopes) - {routes.METADATA, routes.ADDON_META}
    if scopes & strong:
        return
    if query.get("q"):
        raise errors.forbidden("Metadata scope does not support 'q' parameter")
    fmt = query.get("format")
    if fmt in ("full", "raw"):
        raise errors.forbidden(f"Metadata scope doesn't allow format {fmt.upper()}")
