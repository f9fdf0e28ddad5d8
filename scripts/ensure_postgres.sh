#!/usr/bin/env bash
# Make sure PostgreSQL's server programs (initdb, pg_ctl, postgres) are on this machine, for
# the warehouse tests (tests/warehouse). Idempotent and quiet: when they are there (Debian's
# postgresql package is part of this project's base machine image), it does nothing.
# Otherwise, as root on Debian/Ubuntu, it installs Debian's `postgresql` package. It never
# starts a server: the tests start their own on loopback (tests/pgserver.py) and stop it.
#
# If the programs cannot be had, it says why and exits 0: the warehouse tests then skip,
# naming the reason, and the rest of the suite still runs.
# Env: PG_BINDIR (a directory holding initdb and pg_ctl) overrides the search.
set -uo pipefail

cd "$(dirname "$0")/.."
LOG=".meltano/logs/ensure-postgres.log"
mkdir -p "$(dirname "$LOG")"

found() {
    local dir
    for dir in ${PG_BINDIR:-} /usr/lib/postgresql/*/bin; do
        [[ -x "$dir/initdb" && -x "$dir/pg_ctl" && -x "$dir/postgres" ]] && return 0
    done
    command -v initdb >/dev/null && command -v pg_ctl >/dev/null && command -v postgres >/dev/null
}

found && exit 0

if [[ "$(id -u)" != 0 ]] || ! command -v apt-get >/dev/null; then
    echo "ensure_postgres: no PostgreSQL server programs (initdb, pg_ctl) and no way to" \
        "install them here (needs root and apt-get); the warehouse tests will be skipped." \
        "Install Debian's postgresql package, or set PG_BINDIR." >&2
    exit 0
fi

export DEBIAN_FRONTEND=noninteractive
install() {
    apt-get install -y -q --no-install-recommends postgresql postgresql-contrib >>"$LOG" 2>&1
}
# A fresh machine may have no package lists yet: update once, then try again.
if ! install; then
    apt-get update -q >>"$LOG" 2>&1
    install
fi
if ! found; then
    echo "ensure_postgres: installing Debian's postgresql package failed; the warehouse" \
        "tests will be skipped. Last lines of $LOG:" >&2
    tail -n 20 "$LOG" >&2
fi
exit 0
