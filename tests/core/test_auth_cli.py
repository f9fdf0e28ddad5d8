"""gmail-auth end to end: the real loopback flow against the emulator's consent page and token
endpoint, with ``requests`` playing the browser."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from gmail_core import auth, auth_cli
from gmail_emulator import EmulatorConfig, start_emulator

pytestmark = pytest.mark.timeout(120)

SECRET = "cli-client-secret-123"
URL_PATTERN = re.compile(r"(http://\S+/o/oauth2/auth\?\S+)")
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def server():
    server = start_emulator(
        EmulatorConfig(
            users=["alice@example.com", "bob@example.com"], messages=5, quota_units_per_second=0
        )
    )
    yield server
    server.stop()


class _Stream:
    """A thread-safe stand-in for stdout/stderr, readable while the CLI thread writes."""

    def __init__(self):
        self._parts: list[str] = []
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        with self._lock:
            self._parts.append(text)
        return len(text)

    def flush(self) -> None:
        pass

    def getvalue(self) -> str:
        with self._lock:
            return "".join(self._parts)


class _Run:
    def __init__(self, monkeypatch, argv: list[str]):
        self.out, self.err = _Stream(), _Stream()
        monkeypatch.setattr(sys, "stdout", self.out)
        monkeypatch.setattr(sys, "stderr", self.err)
        self.rc: int | None = None
        self.thread = threading.Thread(target=self._main, args=(argv,), daemon=True)
        self.thread.start()

    def _main(self, argv):
        self.rc = auth_cli.main(argv)

    def auth_url(self) -> str:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            found = URL_PATTERN.search(self.err.getvalue())
            if found:
                return found.group(1)
            assert self.thread.is_alive(), self.err.getvalue()
            time.sleep(0.02)
        raise AssertionError("gmail-auth printed no authorization URL")

    def finish(self) -> int:
        self.thread.join(30)
        assert not self.thread.is_alive()
        return self.rc


def _argv(server, *extra: str) -> list[str]:
    return [
        "--client-id",
        "cli-client",
        "--client-secret",
        SECRET,
        "--auth-uri",
        f"{server.url}/o/oauth2/auth",
        "--token-uri",
        server.token_url,
        "--no-browser",
        "--port",
        "0",
        "--timeout",
        "30",
        *extra,
    ]


def _profile_email(server, refresh_token: str) -> str:
    credential = auth.oauth_user_auth("cli-client", SECRET, refresh_token, server.token_url)
    response = requests.get(
        f"{server.url}/gmail/v1/users/me/profile",
        headers={"Authorization": f"Bearer {credential.token()}"},
        timeout=30,
    )
    return response.json()["emailAddress"]


def test_loopback_flow_prints_a_working_refresh_token(server, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    run = _Run(monkeypatch, _argv(server, "--login-hint", "bob@example.com"))
    url = run.auth_url()
    query = parse_qs(urlsplit(url).query)
    assert urlsplit(query["redirect_uri"][0]).hostname == "127.0.0.1"
    assert query["scope"] == [auth.SCOPE_READONLY] and query["access_type"] == ["offline"]
    browser = requests.get(url, allow_redirects=True, timeout=30)  # emulator -> loopback
    assert browser.status_code == 200
    assert run.finish() == 0
    refresh_token = run.out.getvalue().strip()
    assert refresh_token and "\n" not in refresh_token
    assert _profile_email(server, refresh_token) == "bob@example.com"
    stderr = run.err.getvalue()
    assert refresh_token not in stderr and SECRET not in stderr and "Traceback" not in stderr
    assert refresh_token not in caplog.text and SECRET not in caplog.text


def test_json_format_is_a_config_fragment(server, monkeypatch):
    run = _Run(monkeypatch, _argv(server, "--format", "json", "--scopes", "readonly,labels"))
    requests.get(run.auth_url(), timeout=30)
    assert run.finish() == 0
    document = json.loads(run.out.getvalue())
    credentials = document["oauth_credentials"]
    assert credentials["client_id"] == "cli-client" and credentials["client_secret"] == SECRET
    assert document["scopes"] == [auth.SCOPE_READONLY, auth.SCOPE_LABELS]
    assert document["token_url"] == server.token_url
    config = {"oauth_credentials": credentials, "token_url": document["token_url"]}
    (credential,) = auth.auths_from_config(config, [auth.SCOPE_READONLY])
    assert credential.token()
    assert credentials["refresh_token"] not in run.err.getvalue()


def test_console_script_with_client_secrets_file_prints_meltano_commands(server, tmp_path):
    secrets_file = tmp_path / "client.json"
    installed = {
        "client_id": "cli-client",
        "client_secret": SECRET,
        "auth_uri": f"{server.url}/o/oauth2/auth",
        "token_uri": server.token_url,
    }
    secrets_file.write_text(json.dumps({"installed": installed}))
    argv = ["--client-secrets", str(secrets_file), "--no-browser", "--format", "meltano"]
    process = subprocess.Popen(
        [sys.executable, "-m", "gmail_core.auth_cli", *argv],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        for line in process.stderr:
            found = URL_PATTERN.search(line)
            if found:
                requests.get(found.group(1), timeout=30)
                break
        out, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 0, err
    lines = out.strip().splitlines()
    assert lines[0] == "meltano config set tap-gmail oauth_credentials.client_id cli-client"
    assert lines[2].startswith("meltano config set tap-gmail oauth_credentials.refresh_token ")
    assert lines[3] == f"meltano config set tap-gmail token_url {server.token_url}"
    refresh_token = lines[2].rsplit(" ", 1)[1]
    assert _profile_email(server, refresh_token) == "alice@example.com"
    assert refresh_token not in err and SECRET not in err


def test_denied_consent_fails_cleanly(server, monkeypatch):
    run = _Run(monkeypatch, _argv(server))
    query = parse_qs(urlsplit(run.auth_url()).query)
    redirect = query["redirect_uri"][0]
    requests.get(redirect, params={"error": "access_denied", "state": query["state"][0]})
    assert run.finish() == 1
    stderr = run.err.getvalue()
    assert "authorization failed" in stderr and "access_denied" in stderr
    assert "Traceback" not in stderr and SECRET not in stderr and run.out.getvalue() == ""


def test_unreachable_token_endpoint_fails_cleanly(server, monkeypatch):
    argv = _argv(server)
    argv[argv.index("--token-uri") + 1] = "http://127.0.0.1:9/token"
    run = _Run(monkeypatch, argv)
    requests.get(run.auth_url(), timeout=30)
    assert run.finish() == 1
    stderr = run.err.getvalue()
    assert "authorization failed" in stderr and "Traceback" not in stderr and SECRET not in stderr


def test_no_browser_visit_times_out(server, monkeypatch):
    argv = _argv(server)
    argv[argv.index("--timeout") + 1] = "0.5"
    run = _Run(monkeypatch, argv)
    run.auth_url()
    assert run.finish() == 1 and "Timed out" in run.err.getvalue()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--client-secret", SECRET], "client id is missing"),
        (["--client-id", "x"], "client secret is missing"),
        (["--client-id", "x", "--client-secret", SECRET, "--scopes", "bogus"], "unknown scope"),
        (
            ["--client-id", "x", "--client-secret", SECRET, "--token-uri", "http://example.com/t"],
            "must be an https URL",
        ),
        (["--client-secrets", "/nonexistent.json"], "cannot read --client-secrets"),
    ],
)
def test_usage_errors_are_one_line(argv, message, capsys, monkeypatch):
    monkeypatch.delenv("TAP_GMAIL_OAUTH_CREDENTIALS_CLIENT_ID", raising=False)
    monkeypatch.delenv("TAP_GMAIL_OAUTH_CREDENTIALS_CLIENT_SECRET", raising=False)
    assert auth_cli.main(argv) == 2
    captured = capsys.readouterr()
    assert message in captured.err and "Traceback" not in captured.err
    assert SECRET not in captured.err and captured.out == ""


def test_short_scope_names():
    assert auth_cli.parse_scopes("readonly modify,full readonly") == [
        auth.SCOPE_READONLY,
        auth.SCOPE_MODIFY,
        auth.SCOPE_FULL,
    ]
    assert auth_cli.parse_scopes(auth.SCOPE_SEND) == [auth.SCOPE_SEND]


# -- the emulator's consent page --------------------------------------------------------------


def _authorize(server, **params) -> requests.Response:
    base = {
        "client_id": "c",
        "redirect_uri": "http://127.0.0.1:5555/",
        "response_type": "code",
        "scope": auth.SCOPE_READONLY,
        "state": "s1",
    }
    return requests.get(
        f"{server.url}/o/oauth2/auth",
        params={**base, **params},
        allow_redirects=False,
        timeout=30,
    )


def test_consent_page_redirects_to_loopback_with_code(server):
    response = _authorize(server, login_hint="Bob@Example.com")
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert (location.hostname, location.port) == ("127.0.0.1", 5555)
    query = parse_qs(location.query)
    assert query["code"] == ["user:bob@example.com"] and query["state"] == ["s1"]
    fresh = parse_qs(urlsplit(_authorize(server).headers["Location"]).query)["code"][0]
    assert fresh.startswith("emu-")


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"redirect_uri": "https://evil.example.com/cb"}, "redirect_uri_mismatch"),
        ({"redirect_uri": "urn:ietf:wg:oauth:2.0:oob"}, "redirect_uri_mismatch"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"client_id": ""}, "invalid_request"),
        ({"scope": ""}, "invalid_request"),
    ],
)
def test_consent_page_rejects_bad_requests(server, params, error):
    response = _authorize(server, **params)
    assert response.status_code == 400 and error in response.text
