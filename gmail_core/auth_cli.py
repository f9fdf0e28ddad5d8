"""``gmail-auth``: obtain an OAuth refresh token for the tap and target.

Runs Google's installed-app flow with a loopback redirect (the out-of-band copy/paste flow
was retired by Google). The refresh token is the command's output, so it goes to stdout;
everything addressed to the human (the URL to open, progress, errors) goes to stderr, which
never carries a secret.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import logging
import os
import shlex
import sys
import webbrowser
from urllib.parse import urlsplit

from google_auth_oauthlib.flow import InstalledAppFlow

from .auth import (
    DEFAULT_TOKEN_URL,
    SCOPE_FULL,
    SCOPE_LABELS,
    SCOPE_METADATA,
    SCOPE_MODIFY,
    SCOPE_READONLY,
    SCOPE_SEND,
)

DEFAULT_AUTH_URI = "https://accounts.google.com/o/oauth2/auth"
SHORT_SCOPES = {
    "readonly": SCOPE_READONLY,
    "modify": SCOPE_MODIFY,
    "send": SCOPE_SEND,
    "labels": SCOPE_LABELS,
    "metadata": SCOPE_METADATA,
    "full": SCOPE_FULL,
}
_ENV_CLIENT_ID = "TAP_GMAIL_OAUTH_CREDENTIALS_CLIENT_ID"
_ENV_CLIENT_SECRET = "TAP_GMAIL_OAUTH_CREDENTIALS_CLIENT_SECRET"
_SUCCESS_PAGE = "gmail-auth received the authorization. You may close this window."


class UsageError(Exception):
    """Bad or missing options: reported in one line, exit status 2."""


class _Flow(InstalledAppFlow):
    """InstalledAppFlow that hands the authorization URL to a callback instead of stdout."""

    on_url = None

    def authorization_url(self, **kwargs):
        url, state = super().authorization_url(**kwargs)
        if self.on_url is not None:
            self.on_url(url)
        return url, state


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gmail-auth",
        description="Authorize Gmail access in a browser and print an OAuth refresh token "
        "for oauth_credentials.refresh_token.",
    )
    parser.add_argument("--client-secrets", metavar="FILE", help="client JSON from Cloud console")
    parser.add_argument("--client-id", help=f"OAuth client id (or ${_ENV_CLIENT_ID})")
    parser.add_argument("--client-secret", help=f"OAuth client secret (or ${_ENV_CLIENT_SECRET})")
    parser.add_argument(
        "--scopes",
        default="readonly",
        help="comma/space separated scopes or short names: " + ", ".join(SHORT_SCOPES),
    )
    parser.add_argument("--auth-uri", help=f"authorization endpoint (default {DEFAULT_AUTH_URI})")
    parser.add_argument("--token-uri", help=f"token endpoint (default {DEFAULT_TOKEN_URL})")
    parser.add_argument("--port", type=int, default=0, help="loopback port (default: any free)")
    parser.add_argument("--login-hint", metavar="EMAIL", help="the account to authorize")
    parser.add_argument(
        "--no-browser", action="store_true", help="only print the URL, do not open a browser"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=600,
        help="seconds to wait for the browser (600; 0: forever)",
    )
    parser.add_argument("--format", choices=("text", "json", "meltano"), default="text")
    parser.add_argument("--plugin", default="tap-gmail", help="plugin name for --format meltano")
    return parser


def parse_scopes(text: str) -> list[str]:
    """Full scope URLs or short names, comma or space separated, deduplicated in order."""
    scopes: list[str] = []
    for item in text.replace(",", " ").split():
        scope = SHORT_SCOPES.get(item.lower(), item)
        if not scope.startswith("https://"):
            raise UsageError(
                f"unknown scope {item!r}; use a scope URL or one of {', '.join(SHORT_SCOPES)}"
            )
        if scope not in scopes:
            scopes.append(scope)
    if not scopes:
        raise UsageError("--scopes is empty")
    return scopes


def client_config(args: argparse.Namespace) -> dict:
    """The Google client-secrets structure, from a file and/or the options."""
    section: dict = {}
    client_type = "installed"
    if args.client_secrets:
        try:
            with open(args.client_secrets, encoding="utf-8") as handle:
                data = json.load(handle)
        except OSError as error:
            raise UsageError(
                f"cannot read --client-secrets {args.client_secrets}: {error.strerror}"
            ) from None
        except ValueError:
            raise UsageError(f"--client-secrets {args.client_secrets} is not JSON") from None
        client_type = next((k for k in ("installed", "web") if k in data), None)
        if client_type is None:
            raise UsageError("--client-secrets must be a Desktop-app ('installed') client file")
        section = dict(data[client_type])
    client_id = args.client_id or section.get("client_id") or os.environ.get(_ENV_CLIENT_ID)
    secret = (
        args.client_secret or section.get("client_secret") or os.environ.get(_ENV_CLIENT_SECRET)
    )
    if not client_id:
        raise UsageError("the OAuth client id is missing: pass --client-id or --client-secrets")
    if not secret:
        raise UsageError(
            "the OAuth client secret is missing: pass --client-secret or --client-secrets"
        )
    section.update(
        client_id=client_id,
        client_secret=secret,
        auth_uri=args.auth_uri or section.get("auth_uri") or DEFAULT_AUTH_URI,
        token_uri=args.token_uri or section.get("token_uri") or DEFAULT_TOKEN_URL,
        redirect_uris=["http://127.0.0.1"],
    )
    _check_transport(section["auth_uri"], "--auth-uri")
    _check_transport(section["token_uri"], "--token-uri")
    return {client_type: section}


def _check_transport(uri: str, option: str) -> None:
    """https everywhere; plain http only on loopback (the emulator), which oauthlib must allow."""
    parts = urlsplit(uri)
    if parts.scheme == "https":
        return
    host = parts.hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if parts.scheme != "http" or not loopback:
        raise UsageError(f"{option} must be an https URL (http only on loopback): {uri}")
    os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = "1"


def run_flow(config: dict, scopes: list[str], args: argparse.Namespace):
    """The browser step and the code exchange; returns google-auth credentials."""
    flow = _Flow.from_client_config(config, scopes=scopes)

    def show(url: str) -> None:
        print(
            f"Open this URL in a browser to authorize Gmail access:\n\n    {url}\n",
            file=sys.stderr,
            flush=True,
        )
        if not args.no_browser:
            with contextlib.suppress(webbrowser.Error):
                webbrowser.open(url, new=1, autoraise=True)

    flow.on_url = show
    # Google may grant scopes in another order or add some; oauthlib must not reject that.
    os.environ.setdefault("OAUTHLIB_RELAX_TOKEN_SCOPE", "1")
    extra = {"prompt": "consent"}  # makes Google return a refresh token every time
    if args.login_hint:
        extra["login_hint"] = args.login_hint
    return flow.run_local_server(
        host="127.0.0.1",
        port=args.port,
        open_browser=False,
        authorization_prompt_message=None,
        success_message=_SUCCESS_PAGE,
        timeout_seconds=args.timeout or None,
        **extra,
    )


def render(fmt: str, section: dict, refresh_token: str, scopes: list[str], plugin: str) -> str:
    """What goes to stdout: the token alone, a JSON config fragment, or meltano commands."""
    if fmt == "text":
        return refresh_token
    values = {
        "client_id": section["client_id"],
        "client_secret": section["client_secret"],
        "refresh_token": refresh_token,
    }
    token_url = section["token_uri"]
    if fmt == "json":
        document = {"oauth_credentials": values, "scopes": scopes}
        if token_url != DEFAULT_TOKEN_URL:
            document["token_url"] = token_url
        return json.dumps(document, indent=2)
    settings = [(f"oauth_credentials.{name}", value) for name, value in values.items()]
    if token_url != DEFAULT_TOKEN_URL:
        settings.append(("token_url", token_url))
    return "\n".join(
        f"meltano config set {shlex.quote(plugin)} {name} {shlex.quote(value)}"
        for name, value in settings
    )


def main(argv: list[str] | None = None) -> int:
    # requests-oauthlib logs token request and response bodies (secret, code, tokens) at DEBUG.
    for name in ("requests_oauthlib", "oauthlib"):
        logging.getLogger(name).setLevel(logging.WARNING)
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        scopes = parse_scopes(args.scopes)
        config = client_config(args)
    except UsageError as error:
        parser.print_usage(sys.stderr)
        print(f"gmail-auth: error: {error}", file=sys.stderr)
        return 2
    section = next(iter(config.values()))
    try:
        credentials = run_flow(config, scopes, args)
    except KeyboardInterrupt:
        print("gmail-auth: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # noqa: BLE001 - any flow failure becomes one clear line
        message = str(error).replace(section["client_secret"], "[redacted]")
        print(
            f"gmail-auth: authorization failed: {type(error).__name__}: {message}", file=sys.stderr
        )
        return 1
    if not credentials.refresh_token:
        print(
            "gmail-auth: Google returned no refresh token. Remove the app's access at "
            "https://myaccount.google.com/permissions and run gmail-auth again.",
            file=sys.stderr,
        )
        return 1
    granted = sorted(credentials.granted_scopes or scopes)
    print(f"Authorized scopes: {' '.join(granted)}", file=sys.stderr)
    print(render(args.format, section, credentials.refresh_token, scopes, args.plugin))
    return 0


if __name__ == "__main__":
    sys.exit(main())
