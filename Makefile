# Two commands for a fresh clone:
#   make demo   set everything up, ingest the bundled real snapshot (offline), serve the dashboard
#   make test   set everything up and run the tests
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8501

.PHONY: setup demo ingest-demo dashboard test clean

$(BIN)/gpu-prices: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

setup: $(BIN)/gpu-prices

ingest-demo: setup
	$(BIN)/gpu-prices ingest --replay

dashboard: setup
	$(BIN)/gpu-prices dashboard --port $(PORT)

demo: ingest-demo dashboard

test: setup
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) data .pytest_cache
