# The two commands that do everything on a fresh machine:
#   make run   - install fleetscope into .venv and start the embedded system (server + local agent)
#   make test  - install the dev dependencies and the programs the tests use, then run the whole gate
# Both install exactly what uv.lock says (docs/development.md, "Dependencies"); `make lock` is the
# one deliberate way to move to newer versions.
PYTHON ?= python3
VENV ?= .venv
TOOLS ?= .tools
DATA_DIR ?= data
PORT ?= 8080
BIN := $(VENV)/bin
UV := $(TOOLS)/bin/uv

# uv installs into our .venv with the Python that runs `make`, and never downloads an interpreter.
export UV_PROJECT_ENVIRONMENT := $(abspath $(VENV))
export UV_PYTHON := $(PYTHON)
export UV_PYTHON_DOWNLOADS := never

.PHONY: run test install install-dev lock system-deps check clean

# uv itself is pinned by version and hash; pip installs it into a venv of its own, so `uv sync`
# (which removes what the lock does not name) never removes the tool that runs it.
$(UV): scripts/uv-requirements.txt
	rm -rf $(TOOLS)
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --require-hashes --no-deps -r scripts/uv-requirements.txt

# No stamp file: `uv sync` compares .venv with the lock on every call (a few tens of ms when they
# agree) and re-installs whatever differs, so a stale or hand-edited .venv is never trusted.
# --locked refuses to run when uv.lock no longer matches pyproject.toml.
install: $(UV)
	$(UV) sync --locked --no-dev --inexact

install-dev: $(UV)
	$(UV) sync --locked

# Newest versions that pyproject.toml's ranges allow; run the gate after it and commit both files.
lock: $(UV)
	$(UV) lock --upgrade

system-deps:
	scripts/system-deps

run: install
	$(BIN)/fleetscope up --data-dir $(DATA_DIR) --port $(PORT)

test: install-dev system-deps
	PATH="$(abspath $(BIN)):$$PATH" scripts/check

clean:
	rm -rf $(VENV) $(TOOLS) build dist src/*.egg-info .pytest_cache .mypy_cache .ruff_cache
