# The two commands of the README: `make demo` and `make test`. Everything they need is installed here.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint lint-workflows typecheck build audit pytest bench bench-api clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,spark]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/altaviz demo

# CI's pre-deploy checks: lint (incl. ruff's bandit security rules), type check, wheel build, dependency
# audit, the GitHub Actions workflows and deploy scripts, tests.
test: lint lint-workflows typecheck build audit pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

# The delivery pipeline (.github/workflows, deploy/): actionlint (with shellcheck over each run: script),
# zizmor's security audits (offline: the audits that need GitHub's API are left out), shellcheck.
lint-workflows: $(STAMP)
	$(BIN)/actionlint -shellcheck $(BIN)/shellcheck
	$(BIN)/zizmor --offline --quiet .github/workflows
	$(BIN)/shellcheck deploy/*.sh

typecheck: $(STAMP)
	$(BIN)/mypy src

build: $(STAMP)
	$(BIN)/pip wheel --no-deps --quiet --wheel-dir dist .

# Known vulnerabilities in the installed dependencies: pip-audit, through altaviz.ops.audit, which also
# reads PyPI's project pages where pip-audit cannot reach a release's advisories, names every package it
# could not audit, and fails (exit 2) when it could audit nothing (no network) instead of reporting clean.
audit: $(STAMP)
	$(BIN)/python -m altaviz.ops.audit --skip-editable

pytest: $(STAMP)
	$(BIN)/pytest -q

bench: $(STAMP)
	$(BIN)/python bench/bench_pipeline.py

bench-api: $(STAMP)
	$(BIN)/python bench/bench_api.py

clean:
	rm -rf $(VENV) data dist .pytest_cache .mypy_cache .ruff_cache
