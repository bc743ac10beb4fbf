# Two commands for a fresh clone:
#   make demo   set everything up, ingest the bundled real snapshot and backfill the archives (offline), serve the dashboard
#   make test   set everything up and run the tests
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8501

.PHONY: setup demo ingest-demo dashboard dagster test clean

$(BIN)/gpu-prices: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

setup: $(BIN)/gpu-prices

# The bundled snapshot's days, then years of history from the shipped git archives (offline).
ingest-demo: setup
	$(BIN)/gpu-prices ingest --replay
	$(BIN)/gpu-prices backfill all --offline

dashboard: setup
	$(BIN)/gpu-prices dashboard --port $(PORT)

demo: ingest-demo dashboard

# The Dagster UI with the daily schedule (live mode); state kept in .dagster_home/.
dagster: setup
	mkdir -p .dagster_home
	DAGSTER_HOME=$(CURDIR)/.dagster_home $(BIN)/dagster dev -m pipelines.definitions

test: setup
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) data .pytest_cache
