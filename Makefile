# Two commands: `make run` (the demo) and `make test` (lint, types, tests).
# Both set up everything they need on a fresh Debian machine with Python 3.11.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DATA_DIR ?= ./tradeguard-data

.PHONY: run test lint typecheck pytest bench system-deps clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

# Debian packages the fault tests use (fiu-utils: I/O error injection).
# Installed only when missing and when we are allowed to (root); tests skip loudly otherwise.
system-deps:
	@if ! command -v fiu-run >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing fiu-utils (I/O fault injection for tests)"; \
	    (apt-get install -y -qq fiu-utils >/dev/null 2>&1 || \
	     (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq fiu-utils >/dev/null 2>&1)) \
	     || echo "WARNING: could not install fiu-utils; I/O-error tests will skip"; \
	  else echo "WARNING: fiu-utils missing and not root; I/O-error tests will skip"; fi; \
	fi

run: $(STAMP)
	$(BIN)/tradeguard run --data-dir $(DATA_DIR)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy --strict src

pytest: $(STAMP) system-deps
	$(BIN)/pytest -q

test: lint typecheck pytest

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
