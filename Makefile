# The two commands of this project: `make demo` and `make test`.
# Both create the virtualenvs and install what they need on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8765
DAGSTER_PORT ?= 3000

.PHONY: demo test reliability bench bench-quick venv meltano meltano-postgres postgres dagster dagster-dev lint format clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# PYTHONWARNINGS: setuptools' editable-install notices are a wall of text, not problems.
venv: $(BIN)/python
	PYTHONWARNINGS=ignore $(BIN)/pip install --quiet -e '.[test]'

# Meltano lives in its own venv (.venv-meltano); each plugin in its own under .meltano/.
meltano:
	PYTHON=$(PYTHON) bash scripts/bootstrap_meltano.sh

# ... plus tap-postgres and target-postgres, for the warehouse tests (tests/warehouse).
meltano-postgres:
	PYTHON=$(PYTHON) bash scripts/bootstrap_meltano.sh --with-postgres

# PostgreSQL's server programs, for the warehouse tests (Debian's package if missing). The
# tests start their own server on loopback and stop it; nothing is started here.
postgres:
	bash scripts/ensure_postgres.sh

# Dagster in its own venv (.venv-dagster), for orchestration/ (docs/orchestration.md).
dagster:
	PYTHON=$(PYTHON) bash scripts/bootstrap_dagster.sh

# The Dagster UI and daemon on http://127.0.0.1:$(DAGSTER_PORT) (schedules, backfills, the queue).
dagster-dev: dagster meltano
	cd orchestration && DAGSTER_HOME=$(CURDIR)/orchestration/dagster_home \
		$(CURDIR)/.venv-dagster/bin/dagster dev -m gmail_dagster.definitions \
		-h 127.0.0.1 -p $(DAGSTER_PORT)

demo: venv meltano
	$(BIN)/python scripts/demo.py --port $(PORT)

test: venv meltano-postgres postgres dagster
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -q -rs

# The whole failure-path proof suite; `make test` runs its CI subset.
reliability: venv meltano
	GMAIL_RELIABILITY=full $(BIN)/python -m pytest -q -m reliability tests/reliability

# Benchmarks (README "Benchmarks"): tap-gmail next to MeltanoLabs tap-gmail and scale-out
# (bench/compare.py, which installs MeltanoLabs' tap into .venv-bench/meltanolabs), then the
# tap's own goals (bench/tap_sync.py). matplotlib (the `bench` extra) draws docs/bench.png.
bench: venv
	PYTHONWARNINGS=ignore $(BIN)/pip install --quiet -e '.[bench]'
	$(BIN)/python bench/compare.py
	$(BIN)/python bench/tap_sync.py

# Small mailboxes, one repetition; writes neither bench/results.json nor docs/bench.png.
bench-quick: venv
	$(BIN)/python bench/compare.py --quick
	$(BIN)/python bench/tap_sync.py --quick

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .venv-meltano .venv-bench .venv-dagster .meltano output build *.egg-info .pytest_cache
