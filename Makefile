# The two commands that do everything on a fresh machine:
#   make run   - install fleetscope into .venv and start the embedded system (server + local agent)
#   make test  - install the dev dependencies and the programs the tests use, then run the whole gate
PYTHON ?= python3
VENV ?= .venv
DATA_DIR ?= data
PORT ?= 8080
BIN := $(VENV)/bin

.PHONY: run test install install-dev system-deps check clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# The stamp files re-run pip only when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

system-deps:
	scripts/system-deps

run: install
	$(BIN)/fleetscope up --data-dir $(DATA_DIR) --port $(PORT)

test: install-dev system-deps
	PATH="$(abspath $(BIN)):$$PATH" scripts/check

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .mypy_cache .ruff_cache
