"""``GET /o/oauth2/auth``: the consent page of the installed-app flow, answered at once.

A real browser would show Google's consent screen; here consent is implied, so ``gmail-auth``
and google-auth-oauthlib can run their real loopback flow against the emulator. Only loopback
redirect URIs are accepted, as Google does for desktop clients since the out-of-band flow
was retired.
"""

from __future__ import annotations

import html
import secrets
from urllib.parse import urlencode, urlsplit

from .dispatch import Request, Response

_LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def authorize(emulator, request: Request) -> Response:
    """Validate the authorization request and redirect to its loopback URI with a code."""
    if request.method not in ("GET", "POST"):
        return _error_page(405, "invalid_request", "Use GET for the authorization endpoint.")
    query = {name: values[0] for name, values in request.query.items() if values}
    client_id = query.get("client_id", "")
    if not client_id:
        return _error_page(400, "invalid_request", "Missing required parameter: client_id")
    registry = emulator.auth
    if registry.strict and client_id not in registry._clients:
        return _error_page(401, "invalid_client", "The OAuth client was not found.")
    redirect_uri = query.get("redirect_uri", "")
    if not _is_loopback(redirect_uri):
        return _error_page(
            400,
            "redirect_uri_mismatch",
            "Only loopback redirect URIs (http://127.0.0.1, http://localhost, http://[::1]) "
            "are allowed for installed apps.",
        )
    if query.get("response_type") != "code":
        return _error_page(
            400, "unsupported_response_type", "Only response_type=code is supported."
        )
    scope = query.get("scope", "")
    if not scope.strip():
        return _error_page(400, "invalid_request", "Missing required parameter: scope")
    params = {"code": _code_for(registry.users, query.get("login_hint", "")), "scope": scope}
    if "state" in query:
        params["state"] = query["state"]
    separator = "&" if "?" in redirect_uri else "?"
    return Response(302, b"", {"Location": f"{redirect_uri}{separator}{urlencode(params)}"})


def _is_loopback(uri: str) -> bool:
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return False
    return parts.scheme == "http" and (parts.hostname or "").lower() in _LOOPBACK_HOSTS


def _code_for(users: list[str], login_hint: str) -> str:
    """``user:<email>`` selects the mailbox at the token endpoint; otherwise a fresh code
    that the token endpoint maps to the first user."""
    wanted = login_hint.strip().lower()
    for user in users:
        if user.lower() == wanted:
            return f"user:{user}"
    return "emu-" + secrets.token_urlsafe(16)


def _error_page(status: int, error: str, description: str) -> Response:
    """Google shows a human page, not JSON, when the authorization request is bad."""
    body = (
        f"<!DOCTYPE html><html><head><title>Error {status}: {error}</title></head><body>"
        f"<h1>Error {status}: {error}</h1><p>{html.escape(description)}</p></body></html>"
    )
    return Response(status, body.encode(), {"Content-Type": "text/html; charset=utf-8"})
