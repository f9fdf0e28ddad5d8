"""``/_emulator/*``: inspection and control for tests and demos (not part of Gmail's API).

These endpoints need no token: the emulator listens on loopback only, and tests must be
able to revoke tokens, inject faults or expire history while a client is mid-run.
"""

from __future__ import annotations

import json

from . import errors
from .dispatch import Request, Response, json_response


def handle(emulator, request: Request) -> Response:
    route = (request.method, request.path.rstrip("/"))
    try:
        body = json.loads(request.body) if request.body.strip() else {}
    except ValueError:
        return _bad("request body must be JSON")
    if not isinstance(body, dict):
        return _bad("request body must be a JSON object")
    try:
        return _ROUTES[route](emulator, body)
    except KeyError as missing:
        if route not in _ROUTES:
            return json_response(404, {"error": f"no admin endpoint {route[0]} {route[1]}"})
        return _bad(f"missing field {missing}")
    except (ValueError, TypeError) as problem:
        return _bad(str(problem))
    except errors.GmailError as error:
        return json_response(error.code, error.body())


def _bad(message: str) -> Response:
    return json_response(400, {"error": message})


def _stats(emulator, body):
    return json_response(200, emulator.snapshot())


def _reset_stats(emulator, body):
    emulator.stats.reset()
    emulator.quota.reset()
    return json_response(200, {"ok": True})


def _config(emulator, body):
    emulator.reconfigure(body)
    return json_response(
        200,
        {
            "ok": True,
            "replay": emulator.faults.replay_key(),
            "token_replay": emulator.token_faults.replay_key(),
        },
    )


def _revoke(emulator, body):
    known = emulator.auth.revoke(body["refresh_token"])
    return json_response(200, {"revoked": True, "known": known})


def _auth(emulator, body):
    emulator.configure_auth(body)
    return json_response(200, {"ok": True, "strict": emulator.auth.strict})


def _issue(emulator, body):
    scopes = body.get("scopes") or ["https://mail.google.com/"]
    token = emulator.auth.issue(body["user"], scopes)
    return json_response(200, {"access_token": token, "token_type": "Bearer"})


def _expire_history(emulator, body):
    user = body.get("user")
    for mailbox in emulator.mailboxes.values():
        if user is None or mailbox.email.lower() == user.lower():
            with mailbox.lock:
                mailbox.history.expire_all()
    return json_response(200, {"ok": True})


def _add_user(emulator, body):
    mailbox = emulator.add_user(body["email"])
    return json_response(200, {"email": mailbox.email})


def _push(emulator, body):
    return json_response(200, emulator.push.snapshot())


def _push_token(emulator, body):
    """A push token signed with the emulator's key; ``claims`` override (None drops one)."""
    config = emulator.config
    audience = body.get("audience") or config.push_audience or config.push_endpoint or ""
    email = body.get("email") or config.push_service_account
    claims = body.get("claims") or {}
    if not isinstance(claims, dict):
        raise ValueError("claims must be an object")
    token = emulator.push.signer.token(audience, email, claims)
    return json_response(200, {"token": token, "kid": emulator.push.signer.kid})


def _push_envelope(emulator, body):
    return json_response(200, emulator.push.envelope(body["email"], int(body["history_id"])))


def _push_drain(emulator, body):
    drained = emulator.push.drain(float(body.get("timeout_s", 10)))
    return json_response(200 if drained else 504, emulator.push.snapshot())


def _health(emulator, body):
    return json_response(200, {"ok": True, "users": [m.email for m in emulator.mailboxes.values()]})


_ROUTES = {
    ("GET", "/_emulator/stats"): _stats,
    ("GET", "/_emulator/health"): _health,
    ("POST", "/_emulator/stats/reset"): _reset_stats,
    ("POST", "/_emulator/config"): _config,
    ("POST", "/_emulator/auth"): _auth,
    ("POST", "/_emulator/auth/revoke"): _revoke,
    ("POST", "/_emulator/auth/issue"): _issue,
    ("POST", "/_emulator/history/expire"): _expire_history,
    ("POST", "/_emulator/users"): _add_user,
    ("GET", "/_emulator/push"): _push,
    ("POST", "/_emulator/push/token"): _push_token,
    ("POST", "/_emulator/push/envelope"): _push_envelope,
    ("POST", "/_emulator/push/drain"): _push_drain,
}
