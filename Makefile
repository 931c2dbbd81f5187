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

# Debian packages the tests use: fiu-utils (I/O error injection) and chromium +
# chromium-driver (the dashboard's browser tests, driven by Playwright).
# Installed only when missing and when we are allowed to (root); tests skip loudly otherwise.
SYSTEM_PACKAGES := fiu-utils:fiu-run chromium:chromium chromium-driver:chromedriver
system-deps:
	@missing=""; for pair in $(SYSTEM_PACKAGES); do \
	  command -v "$${pair#*:}" >/dev/null 2>&1 || missing="$$missing $${pair%%:*}"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing$$missing (test dependencies)"; \
	    (apt-get install -y -qq $$missing >/dev/null 2>&1 || \
	     (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq $$missing >/dev/null 2>&1)) \
	     || echo "WARNING: could not install$$missing; the tests that need them will skip"; \
	  else echo "WARNING:$$missing missing and not root; the tests that need them will skip"; fi; \
	fi

run: $(STAMP)
	$(BIN)/tradeguard run --data-dir $(DATA_DIR)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy --strict src

# The tests wait on subprocesses, sleeps and fsync far more than they compute, so
# pytest-xdist with 4 workers beats serial even on 2 cores. loadfile keeps each module on
# one worker (module fixtures are built once); the slow modules go out first
# (tests/conftest.py). PYTEST_WORKERS=0 runs serially.
PYTEST_WORKERS ?= 4
pytest: $(STAMP) system-deps
	$(BIN)/pytest -q -n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder

test: lint typecheck pytest

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
