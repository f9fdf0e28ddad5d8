"""A warehouse loaded before lists of objects were `jsonb`: the README's one-time migration.

Until `meltano.yml` overrode tap-gmail's catalog schema for `to`, `cc`, `bcc`, `reply_to` and
`attachments`, target-postgres made them `jsonb[]` columns, and it never changes the type of
an existing column. Here the old warehouse is made the way it was made then: tap-gmail's own
schema (no override), straight into target-postgres with the same settings. Then the README's
`-- migrate:` block runs, and `meltano run tap-gmail target-postgres` loads into the migrated
tables: the columns are `jsonb`, each value the JSON array the old one held.

This is not how fresh warehouses get their types (test_postgres_load.py loads one with no
DDL of ours at all); it is the upgrade path for warehouses that already exist.
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from tests import secrets_guard

from .conftest import ROOT, SECRETS, meltano_run, readme_sql

pytestmark = [pytest.mark.timeout(600), pytest.mark.slow]

OBJECT_LISTS = ("to", "cc", "bcc", "reply_to", "attachments")
TAP = ROOT / ".meltano" / "extractors" / "tap-gmail" / "venv" / "bin" / "tap-gmail"
TARGET = ROOT / ".meltano" / "loaders" / "target-postgres" / "venv" / "bin" / "target-postgres"


def old_load(emu, pg, database, tmp_path) -> None:
    """tap-gmail | target-postgres as before the override: the tap's schema as it is."""
    tap_config = {
        "oauth_credentials": {
            "client_id": "demo",
            "client_secret": SECRETS[0],
            "refresh_token": SECRETS[1],
        },
        "api_url": emu.url,
        "token_url": emu.token_url,
        "quota_units_per_second": 0,
    }
    target_config = {
        "host": pg.host,
        "port": pg.port,
        "user": pg.user,
        "password": pg.password,
        "database": database,
        "default_target_schema": "tap_gmail",
        "load_method": "upsert",
        "hard_delete": False,
        "add_record_metadata": True,
    }
    (tmp_path / "tap-config.json").write_text(json.dumps(tap_config))
    (tmp_path / "target-config.json").write_text(json.dumps(target_config))
    env = {**os.environ, "PGOPTIONS": "-c TimeZone=UTC"}
    tap_err, target_err = tmp_path / "tap.err", tmp_path / "target.err"
    with tap_err.open("w") as tap_log, target_err.open("w") as target_log:
        tap = subprocess.Popen(
            [str(TAP), "--config", str(tmp_path / "tap-config.json")],
            stdout=subprocess.PIPE,
            stderr=tap_log,
            env=env,
        )
        target = subprocess.run(
            [str(TARGET), "--config", str(tmp_path / "target-config.json")],
            stdin=tap.stdout,
            stdout=subprocess.DEVNULL,
            stderr=target_log,
            env=env,
            timeout=300,
        )
        tap.stdout.close()
        tap_code = tap.wait(timeout=300)
    for name, path in (("tap-gmail", tap_err), ("target-postgres", target_err)):
        text = path.read_text()
        secrets_guard.watch(f"{name} (old load) stderr", text)
        for secret in (*SECRETS, pg.password):
            assert secret not in text, f"a secret leaked in {name}"
    assert tap_code == 0, tap_err.read_text()[-4000:]
    assert target.returncode == 0, target_err.read_text()[-4000:]


def column_types(sql) -> dict[str, str]:
    rows = sql.execute(
        "select a.attname, format_type(a.atttypid, a.atttypmod) from pg_attribute a "
        "where a.attrelid = 'tap_gmail.messages'::regclass and a.attnum > 0 "
        "and not a.attisdropped and a.attname = any(%s)",
        (list(OBJECT_LISTS),),
    )
    return dict(rows.fetchall())


def lists(sql, expression: str = "{}") -> dict[str, list]:
    """Each message's five lists, through `expression` (`{}` is the column)."""
    columns = ", ".join(expression.format(f'"{c}"') for c in OBJECT_LISTS)
    rows = sql.execute(f"select id, {columns} from tap_gmail.messages").fetchall()
    return {row[0]: list(row[1:]) for row in rows}


def test_readme_migration_turns_an_old_warehouse_into_the_new_one(emu, pg, database, sql, tmp_path):
    old_load(emu, pg, database, tmp_path)
    assert column_types(sql) == dict.fromkeys(OBJECT_LISTS, "jsonb[]")
    before = lists(sql, "to_jsonb({})")
    assert any(values[OBJECT_LISTS.index("attachments")] for values in before.values())

    sql.execute(readme_sql()["migrate"])

    assert column_types(sql) == dict.fromkeys(OBJECT_LISTS, "jsonb")
    assert lists(sql) == before  # the same lists, now one JSON array each
    migrated = lists(sql, "{}::text")  # ... and JSON null where there was none, as loads write
    assert all(v is not None for values in migrated.values() for v in values)
    meltano_run(emu, pg, database, tmp_path, "tap-gmail", "target-postgres")
    assert column_types(sql) == dict.fromkeys(OBJECT_LISTS, "jsonb")
    assert lists(sql, "{}::text") == migrated  # the new pipeline reloads the very same values
