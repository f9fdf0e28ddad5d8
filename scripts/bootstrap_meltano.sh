#!/usr/bin/env bash
# Install Meltano and the plugins of meltano.yml, idempotently, on a fresh machine or an old one.
#
#   scripts/bootstrap_meltano.sh                    # tap-gmail tap-jsonl target-gmail target-duckdb
#                                                   #   target-jsonl meltano-map-transformer gmail-push
#   scripts/bootstrap_meltano.sh --with-postgres    # ... and target-postgres, tap-postgres
#   scripts/bootstrap_meltano.sh --all              # every plugin in meltano.yml
#   scripts/bootstrap_meltano.sh PLUGIN...          # ... and these plugins too
#
# Meltano lives in its own virtualenv (.venv-meltano), never in .venv: meltano 4 pins
# sqlalchemy<2.1, click<8.6 and rich>=15, which would fight singer-sdk and our package. Each
# plugin gets its own venv under .meltano/ (gitignored), built by uv, which meltano ships.
#
# Quiet when all is well; on any failure it prints the log of the failed step and exits non-zero.
# A second run with nothing changed takes well under a second.
# Env: PYTHON (default python3), MELTANO_VERSION (default below).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT="$(pwd)"

MELTANO_VERSION="${MELTANO_VERSION:-4.4.1}"
PYTHON="${PYTHON:-python3}"
VENV="$ROOT/.venv-meltano"
MELTANO="$VENV/bin/meltano"
LOG_DIR="$ROOT/.meltano/logs"
mkdir -p "$LOG_DIR"

# The default set: the demo (tap-gmail target-duckdb) and the end-to-end tests (the rest;
# tap-jsonl-outbound inherits tap-jsonl and shares its venv).
plugins=(tap-gmail tap-jsonl target-gmail target-duckdb target-jsonl meltano-map-transformer gmail-push)
# Plugins installed from this repository with `pip_url: -e ${MELTANO_PROJECT_ROOT}`.
editable=(tap-gmail target-gmail gmail-push)

while [[ $# -gt 0 ]]; do
    case "$1" in
        --with-postgres) plugins+=(target-postgres tap-postgres) ;;
        --all) plugins=() ;;
        -h | --help)
            sed -n '2,16p' "$0"
            exit 0
            ;;
        -*)
            echo "bootstrap_meltano: unknown option $1" >&2
            exit 2
            ;;
        *) plugins+=("$1") ;;
    esac
    shift
done

# run LABEL CMD...: run quietly into a log; on failure show the log and stop.
run() {
    local label="$1"
    shift
    local log="$LOG_DIR/bootstrap-${label}.log"
    if ! "$@" >"$log" 2>&1; then
        echo "bootstrap_meltano: FAILED: $label ($*)" >&2
        echo "----- $log (last 60 lines) -----" >&2
        tail -n 60 "$log" >&2
        exit 1
    fi
}

# 1. Meltano itself, pinned, in its own venv.
installed_version=""
if [[ -x "$MELTANO" ]]; then
    installed_version="$("$VENV/bin/python" -c \
        'import importlib.metadata as m; print(m.version("meltano"))' 2>/dev/null || true)"
fi
if [[ "$installed_version" != "$MELTANO_VERSION" ]]; then
    if [[ ! -x "$VENV/bin/python" ]]; then
        run venv "$PYTHON" -m venv "$VENV"
    fi
    run pip-meltano "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
        "meltano==$MELTANO_VERSION"
fi

# 2. No telemetry; every plugin in meltano.yml is custom, so the Hub is never asked either.
export MELTANO_SEND_ANONYMOUS_USAGE_STATS=false
export MELTANO_PROJECT_ROOT="$ROOT"

# Prints "kind venv-dir executable" for each wanted plugin (all of them when none is named).
# A plugin with `inherit_from` and its parent's pip_url (or none) lives in its parent's venv.
wanted_executables() {
    "$VENV/bin/python" -c '
import sys
import yaml
wanted = set(sys.argv[1:])
with open("meltano.yml") as f:
    project = yaml.safe_load(f)
for kind, items in (project.get("plugins") or {}).items():
    by_name = {p["name"]: p for p in items}
    for p in items:
        if wanted and p["name"] not in wanted:
            continue
        home = p
        while home.get("inherit_from") in by_name.keys() - {home["name"]}:
            parent = by_name[home["inherit_from"]]
            if home.get("pip_url") not in (None, parent.get("pip_url")):
                break
            home = {**parent, "executable": home.get("executable") or parent.get("executable")}
        print(kind, home["name"], home.get("executable") or home["name"])
' "${plugins[@]}"
}

# check_executables [--loud]: is every wanted plugin installed, with its executable?
check_executables() {
    local ok=0 kind name executable
    while read -r kind name executable; do
        if [[ ! -x "$ROOT/.meltano/$kind/$name/venv/bin/$executable" ]]; then
            if [[ "${1:-}" == --loud ]]; then
                echo "bootstrap_meltano: plugin $name has no '$executable' executable" \
                    "after install (missing from [project.scripts] of its package?)" >&2
            fi
            ok=1
        fi
    done < <(wanted_executables)
    return $ok
}

# 3. Fast path: nothing that decides what gets installed has changed since the last success,
#    and every plugin is still there. (Code changes need no reinstall: tap-gmail and
#    target-gmail are editable installs of this repo.)
stamp="$ROOT/.meltano/bootstrap.stamp"
want="$(cat meltano.yml pyproject.toml | sha256sum | cut -d' ' -f1) $MELTANO_VERSION ${plugins[*]:-all}"
have="$(cat "$stamp" 2>/dev/null || true)"

if [[ "$want" != "$have" ]] || ! check_executables; then
    rm -f "$stamp"
    # 4. Plugins built from this repo: meltano fingerprints only the pip_url, so after a
    #    pyproject.toml change (console scripts, dependencies) rebuild their venvs from scratch.
    pyproject_stamp="$ROOT/.meltano/bootstrap-pyproject.sha256"
    pyproject_want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
    pyproject_have="$(cat "$pyproject_stamp" 2>/dev/null || true)"
    clean=()
    if [[ "$pyproject_want" != "$pyproject_have" ]]; then
        for p in "${editable[@]}"; do
            if [[ ${#plugins[@]} -eq 0 ]] || [[ " ${plugins[*]} " == *" $p "* ]]; then
                clean+=("$p")
            fi
        done
    fi
    if [[ ${#clean[@]} -gt 0 ]]; then
        run install-editable "$MELTANO" install --clean "${clean[@]}"
    fi
    # 5. Everything else (meltano skips a plugin whose pip_url has not changed).
    run install "$MELTANO" install "${plugins[@]}"
    echo "$pyproject_want" >"$pyproject_stamp"
    check_executables --loud || exit 1
    echo "$want" >"$stamp"
fi

# target-duckdb cannot create the directory of its database file.
mkdir -p "$ROOT/output"
