"""Warehouse tests: real `meltano run` pipelines between the emulator and a real PostgreSQL.

One PostgreSQL server for the session (tests/pgserver.py: initdb into a temporary directory,
127.0.0.1 on a free port, stopped and removed at the end); each test gets its own database,
emulator and Meltano system directory, so nothing is shared with other tests or with
`make demo`.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import uuid
from pathlib import Path

import pytest

from gmail_emulator import EmulatorConfig, start_emulator
from tests import secrets_guard
from tests.conftest import Api, issue_token
from tests.pgserver import PgServer, unavailable

ROOT = Path(__file__).resolve().parents[2]
MELTANO = ROOT / ".venv-meltano" / "bin" / "meltano"
ALICE, BOB = "alice@example.com", "bob@example.com"
SECRETS = ("warehouse-client-secret-xyz", "warehouse-refresh-token-do-not-log")
# Plugin settings and Meltano's own: nothing from the caller's shell may steer these runs.
FOREIGN_ENV = ("TAP_GMAIL_", "TARGET_GMAIL_", "TAP_POSTGRES_", "TARGET_POSTGRES_", "MELTANO_")
PLUGINS = ("tap-gmail", "target-gmail", "tap-postgres", "target-postgres")


@pytest.fixture(scope="session")
def pg():
    reason = unavailable()
    if reason:
        pytest.skip(f"warehouse tests need PostgreSQL: {reason}")
    missing = [p for p in PLUGINS if not _installed(p)]
    if missing:
        pytest.fail(f"Meltano plugins {missing} not installed: run `make test`")
    # Not UTC, on purpose: timestamps must land as UTC whatever the server's zone is.
    server = PgServer(timezone="America/New_York").start()
    yield server
    server.stop()


def _installed(plugin: str) -> bool:
    kind = "extractors" if plugin.startswith("tap-") else "loaders"
    return (ROOT / ".meltano" / kind / plugin / "venv" / "bin" / plugin).exists()


@pytest.fixture
def database(pg) -> str:
    return pg.create_database(f"wh_{uuid.uuid4().hex[:12]}")


@pytest.fixture
def sql(pg, database):
    """A connection to this test's database (autocommit)."""
    with pg.connect(database) as conn:
        yield conn


@pytest.fixture
def emu():
    server = start_emulator(
        EmulatorConfig(users=[ALICE, BOB], messages=60, seed=29, quota_units_per_second=0)
    )
    yield server
    server.stop()


@pytest.fixture
def alice(emu) -> Api:
    return Api(emu.url, issue_token(emu, ALICE))


@pytest.fixture
def bob(emu) -> Api:
    return Api(emu.url, issue_token(emu, BOB))


def meltano_sys_dir(tmp_path: Path) -> Path:
    """This test's own `.meltano`: the installed plugins, linked; its own run dirs and DB."""
    sys_dir = tmp_path / "meltano-sys"
    if not sys_dir.exists():
        sys_dir.mkdir()
        for kind in ("extractors", "loaders", "mappers"):
            (sys_dir / kind).symlink_to(ROOT / ".meltano" / kind, target_is_directory=True)
    return sys_dir


def meltano_run(
    emu, pg: PgServer, database: str, tmp_path: Path, *blocks: str
) -> subprocess.CompletedProcess:
    """`meltano run BLOCKS...` with every plugin pointed at this test's emulator and database."""
    assert MELTANO.exists(), "run `make meltano` (make test does) to install Meltano"
    clean = {k: v for k, v in os.environ.items() if not k.startswith(FOREIGN_ENV)}
    gmail = {
        "API_URL": emu.url,
        "TOKEN_URL": emu.token_url,
        "QUOTA_UNITS_PER_SECOND": "0",
        "OAUTH_CREDENTIALS_CLIENT_SECRET": SECRETS[0],
        "OAUTH_CREDENTIALS_REFRESH_TOKEN": SECRETS[1],
    }
    postgres = {
        "HOST": pg.host,
        "PORT": str(pg.port),
        "USER": pg.user,
        "PASSWORD": pg.password,
        "DATABASE": database,
    }
    env = {
        **clean,
        **{f"TAP_GMAIL_{k}": v for k, v in gmail.items()},
        **{f"TARGET_GMAIL_{k}": v for k, v in gmail.items()},
        **{f"TAP_POSTGRES_{k}": v for k, v in postgres.items()},
        **{f"TARGET_POSTGRES_{k}": v for k, v in postgres.items()},
        "TARGET_GMAIL_LEDGER_PATH": str(tmp_path / "ledger.sqlite"),
        "TARGET_GMAIL_PLAN_PATH": str(tmp_path / "plan.json"),
        "TARGET_GMAIL_REJECTS_PATH": str(tmp_path / "rejects.jsonl"),
        "TARGET_GMAIL_RECONCILE_DELAYS_S": "[0, 0.2]",
        "MELTANO_SYS_DIR_ROOT": str(meltano_sys_dir(tmp_path)),
    }
    result = subprocess.run(
        [str(MELTANO), "run", *blocks],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    where = "meltano run " + " ".join(blocks)
    secrets_guard.watch(f"{where} stdout", result.stdout)
    secrets_guard.watch(f"{where} stderr", result.stderr)
    for secret in (*SECRETS, pg.password):
        assert secret not in result.stdout + result.stderr, f"a secret leaked in {where}"
    assert result.returncode == 0, result.stderr[-4000:]
    return result


def summary(result: subprocess.CompletedProcess) -> dict:
    """target-gmail's closing `summary: {...}` line, as a dict."""
    found = re.findall(r"target-gmail summary: (\{.*?\})\s*$", result.stderr, re.MULTILINE)
    assert found, result.stderr[-4000:]
    return ast.literal_eval(found[-1])


def listed(api: Api, kind: str, **params) -> list[dict]:
    """Every message or thread tap-gmail reads by default (spam and trash left out)."""
    items, token = [], None
    while True:
        query = {"maxResults": 500, **params, **({"pageToken": token} if token else {})}
        page = api.ok("GET", f"/{kind}", params=query)
        items += page.get(kind, [])
        token = page.get("nextPageToken")
        if not token:
            return items


def readme_sql() -> dict[str, str]:
    """The README's ```sql blocks, keyed by the word before the colon of their first line
    (`-- messages: ...` -> "messages"), so the tests run exactly what the README shows."""
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"^```sql\n(.*?)^```", text, re.MULTILINE | re.DOTALL)
    found = {}
    for block in blocks:
        tag = re.match(r"--\s*(\w+):", block)
        assert tag, f"README sql block without a `-- name:` first line: {block[:80]!r}"
        found[tag.group(1)] = block
    return found
