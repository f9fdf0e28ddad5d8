"""A throwaway PostgreSQL server on loopback, for the warehouse tests.

``PgServer.start()`` runs ``initdb`` into a new temporary directory and ``pg_ctl start`` on a
free port of 127.0.0.1 (no Unix socket outside that directory, no other address), with a
random password for the superuser (scram-sha-256; nothing is trusted). ``stop()`` stops it
and removes the directory. PostgreSQL refuses to run as root, so as root the server runs as
the ``postgres`` system user (Debian's package creates it) through ``runuser``.

The server programs are found in ``$PG_BINDIR``, Debian's ``/usr/lib/postgresql/*/bin`` or
``PATH`` (``scripts/ensure_postgres.sh``, run by ``make test``, installs them if missing).
``unavailable()`` says why a server cannot be started here, or returns None.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

PROGRAMS = ("initdb", "pg_ctl", "postgres")
RUN_AS = "postgres"


def bindir() -> Path | None:
    """The directory of initdb/pg_ctl/postgres, newest version first; None if none is found."""
    candidates = [os.environ.get("PG_BINDIR", "")]

    def version(path: str) -> tuple[int, ...]:
        return tuple(int(n) for n in re.findall(r"\d+", path)) or (0,)

    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version, reverse=True)
    which = shutil.which("initdb")
    if which:
        candidates.append(str(Path(which).resolve().parent))
    for candidate in candidates:
        if candidate and all(os.access(Path(candidate, p), os.X_OK) for p in PROGRAMS):
            return Path(candidate)
    return None


def unavailable() -> str | None:
    """Why no server can be started here (for a skip), or None when one can."""
    if bindir() is None:
        return (
            "PostgreSQL server programs (initdb, pg_ctl, postgres) not found; "
            "`make test` installs them via scripts/ensure_postgres.sh (Debian package "
            "postgresql), or set PG_BINDIR"
        )
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(RUN_AS)
        except KeyError:
            return f"running as root and there is no {RUN_AS!r} system user to run PostgreSQL as"
        if shutil.which("runuser") is None:
            return "running as root and `runuser` (util-linux) is missing"
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class PgServer:
    host: str = "127.0.0.1"
    port: int = 0
    user: str = "postgres"
    password: str = field(default_factory=lambda: secrets.token_urlsafe(18))
    timezone: str = "UTC"
    root: Path | None = None
    _bin: Path | None = None

    # ---- lifecycle -----------------------------------------------------------------

    def start(self) -> PgServer:
        reason = unavailable()
        if reason:
            raise RuntimeError(reason)
        self._bin = bindir()
        self.root = Path(tempfile.mkdtemp(prefix="gmail-warehouse-pg-"))
        if os.geteuid() == 0:
            account = pwd.getpwnam(RUN_AS)
            os.chown(self.root, account.pw_uid, account.pw_gid)
        pwfile = self.root / "pw"
        pwfile.write_text(self.password + "\n")
        if os.geteuid() == 0:
            os.chown(pwfile, account.pw_uid, account.pw_gid)
        pwfile.chmod(0o600)
        try:
            self._as_server_user(
                "initdb",
                "-D",
                str(self.data),
                "-U",
                self.user,
                "--pwfile",
                str(pwfile),
                "--auth",
                "scram-sha-256",
                "--encoding",
                "UTF8",
                "--locale",
                "C",
                "--no-sync",
            )
        finally:
            pwfile.unlink()
        last_error = None
        for _ in range(3):  # another process may take the free port first
            self.port = _free_port()
            options = (
                f"-c listen_addresses={self.host} -p {self.port} -k {self.root} "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                f"-c TimeZone={self.timezone}"
            )
            try:
                self._as_server_user(
                    "pg_ctl",
                    "-D",
                    str(self.data),
                    "-l",
                    str(self.root / "server.log"),
                    "-w",
                    "-t",
                    "60",
                    "-o",
                    options,
                    "start",
                )
                return self
            except RuntimeError as error:
                last_error = error
        self.stop()
        raise RuntimeError(f"PostgreSQL did not start: {last_error}")

    def stop(self) -> None:
        if self.root is None:
            return
        if (self.data / "postmaster.pid").exists():
            with contextlib.suppress(RuntimeError):  # already stopped: nothing to stop
                self._as_server_user("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)
        self.root = None

    @property
    def data(self) -> Path:
        assert self.root is not None
        return self.root / "data"

    def _as_server_user(self, program: str, *args: str) -> None:
        command = [str(self._bin / program), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", RUN_AS, "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=self.root)
        if result.returncode != 0:
            log = self.root / "server.log" if self.root else None
            tail = log.read_text()[-2000:] if log and log.exists() else ""
            raise RuntimeError(f"{program} failed: {result.stderr[-2000:]}{tail}")

    # ---- use -------------------------------------------------------------------------

    def connect(self, database: str = "postgres", autocommit: bool = True):
        import psycopg

        return psycopg.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            dbname=database,
            autocommit=autocommit,
        )

    def create_database(self, name: str) -> str:
        with self.connect() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return name
