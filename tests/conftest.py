"""Shared fixtures: a real emulator on loopback, tokens, and a thin HTTP client."""

from __future__ import annotations

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from gmail_emulator import EmulatorConfig, start_emulator
from tests import secrets_guard

FULL = "https://mail.google.com/"


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "shows_secret(why): the test's subject prints a secret by design"
    )


def pytest_runtest_setup(item):
    secrets_guard.reset()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Fail any test whose captured output, tap/target output or files hold a secret."""
    outcome = yield
    report = outcome.get_result()
    if report.when != "teardown" or item.get_closest_marker("shows_secret"):
        return
    tmp_path = getattr(item, "funcargs", {}).get("tmp_path")
    found = secrets_guard.scan(list(report.sections), tmp_path)
    if found:
        report.outcome = "failed"
        report.longrepr = "secret leaked: " + "; ".join(sorted(set(found)))


class Api:
    """A minimal Gmail HTTP client for tests: real requests to the emulator, no mocks."""

    def __init__(self, base_url: str, token: str, user: str = "me"):
        self.base = base_url
        self.root = f"{base_url}/gmail/v1/users/{user}"
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"

    def call(self, method: str, path: str, **kwargs) -> requests.Response:
        url = path if path.startswith("http") else f"{self.root}{path}"
        return self.session.request(method, url, timeout=30, **kwargs)

    def ok(self, method: str, path: str, **kwargs) -> dict:
        response = self.call(method, path, **kwargs)
        assert response.status_code in (200, 204), (response.status_code, response.text)
        return response.json() if response.content else {}


def issue_token(server, user: str, scopes=(FULL,)) -> str:
    response = requests.post(
        f"{server.url}/_emulator/auth/issue", json={"user": user, "scopes": list(scopes)}
    )
    response.raise_for_status()
    return response.json()["access_token"]


def admin(server, path: str, payload: dict | None = None) -> dict:
    if payload is None:
        response = requests.get(f"{server.url}/_emulator/{path}", timeout=30)
    else:
        response = requests.post(f"{server.url}/_emulator/{path}", json=payload, timeout=30)
    response.raise_for_status()
    return response.json()


def service_account_info(
    token_uri: str = "https://oauth2.googleapis.com/token",
    client_email: str = "sync@p.iam.gserviceaccount.com",
) -> dict:
    """A Google service-account key file (dict) with a freshly generated RSA key."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return {
        "type": "service_account",
        "project_id": "p",
        "private_key_id": "k1",
        "private_key": pem,
        "client_email": client_email,
        "client_id": "1",
        "token_uri": token_uri,
    }


@pytest.fixture(scope="session")
def seeded_server():
    """A shared, read-mostly emulator: two users with 300 synthetic messages each."""
    server = start_emulator(
        EmulatorConfig(
            users=["alice@example.com", "bob@example.com"],
            messages=300,
            seed=7,
            quota_units_per_second=0,
        )
    )
    yield server
    server.stop()


@pytest.fixture
def server():
    """A fresh emulator per test, for tests that mutate state or change settings."""
    server = start_emulator(
        EmulatorConfig(
            users=["alice@example.com", "bob@example.com"],
            messages=40,
            seed=3,
            quota_units_per_second=0,
        )
    )
    yield server
    server.stop()


@pytest.fixture
def alice(server) -> Api:
    return Api(server.url, issue_token(server, "alice@example.com"))


@pytest.fixture
def seeded_alice(seeded_server) -> Api:
    return Api(seeded_server.url, issue_token(seeded_server, "alice@example.com"))
