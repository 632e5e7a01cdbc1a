# One-command set-up: `make baseline` (run the baseline scenario with its report)
# and `make test` (the whole test suite) both create .venv on first use.
SHELL := /bin/bash
PY ?= $(shell command -v python3.12 2>/dev/null || ls $(HOME)/.pyenv/versions/3.12*/bin/python 2>/dev/null | tail -n 1)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup chromium baseline test bench lint clean

$(STAMP): pyproject.toml
	@test -n "$(PY)" || { echo "Python 3.12 not found: install it (pyenv install 3.12.1) or pass PY=/path/to/python3.12"; exit 2; }
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

baseline: setup
	$(BIN)/channelsim run scenarios/baseline.yaml --replications 8 --out runs/baseline --force

# Headless Chromium for the app's browser test (Debian's package; Playwright uses it as is).
chromium:
	@test -x /usr/bin/chromium || { apt-get update && apt-get install -y chromium; }

test: setup chromium
	$(BIN)/python -m pytest

bench: setup
	$(BIN)/python benchmarks/run_benchmarks.py

lint: setup
	$(BIN)/ruff check sim optimise experiments channelsim tests benchmarks

clean:
	rm -rf $(VENV) runs .pytest_cache .hypothesis
