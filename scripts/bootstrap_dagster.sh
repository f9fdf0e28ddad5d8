#!/usr/bin/env bash
# Install Dagster into its own virtualenv (.venv-dagster), idempotently.
#
#   scripts/bootstrap_dagster.sh
#
# Dagster never shares a venv with singer-sdk or Meltano (their pins would fight): the
# definitions in orchestration/ run the `meltano` of .venv-meltano as a subprocess.
# Versions: orchestration/requirements.txt. Quiet when all is well; on failure it prints the
# log of the failed step and exits non-zero. A second run with nothing changed takes well
# under a second.
# Env: PYTHON (default python3).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT="$(pwd)"

PYTHON="${PYTHON:-python3}"
VENV="$ROOT/.venv-dagster"
REQUIREMENTS="$ROOT/orchestration/requirements.txt"
STAMP="$VENV/bootstrap.stamp"
LOG_DIR="$VENV/logs"

case "${1:-}" in
    -h | --help)
        sed -n '2,11p' "$0"
        exit 0
        ;;
    "") ;;
    *)
        echo "bootstrap_dagster: unknown argument $1" >&2
        exit 2
        ;;
esac

# Fast path: same requirements, same interpreter, dagster still importable.
want="$(sha256sum "$REQUIREMENTS" | cut -d' ' -f1) $("$PYTHON" -c 'import sys; print(sys.version)' | head -1)"
if [[ -x "$VENV/bin/dagster" && "$(cat "$STAMP" 2>/dev/null || true)" == "$want" ]]; then
    exit 0
fi

# run LABEL CMD...: run quietly into a log; on failure show the log and stop.
run() {
    local label="$1"
    shift
    mkdir -p "$LOG_DIR"
    local log="$LOG_DIR/bootstrap-${label}.log"
    if ! "$@" >"$log" 2>&1; then
        echo "bootstrap_dagster: FAILED: $label ($*)" >&2
        echo "----- $log (last 60 lines) -----" >&2
        tail -n 60 "$log" >&2
        exit 1
    fi
}

rm -f "$STAMP"
if [[ ! -x "$VENV/bin/python" ]]; then
    "$PYTHON" -m venv "$VENV"
fi
run pip "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQUIREMENTS"
run check "$VENV/bin/dagster" --version
echo "$want" >"$STAMP"
