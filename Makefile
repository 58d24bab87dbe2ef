# The two commands of the README: `make demo` and `make test`. Everything they need is installed here.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Everything (make test: the dev, spark and connectors extras too), and only what the demo runs (the package and its
# runtime dependencies, no bytecode compiled ahead: Python compiles what the demo imports). make test
# after make demo adds the extras to the same virtualenv; make demo after make test installs nothing.
STAMP := $(VENV)/.installed
RUNTIME_STAMP := $(VENV)/.installed-runtime

.PHONY: demo test lint lint-workflows typecheck build audit pytest bench bench-api clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev,spark,connectors]'
	touch $(STAMP) $(RUNTIME_STAMP)

$(RUNTIME_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --no-compile -e .
	touch $(RUNTIME_STAMP)

demo: $(RUNTIME_STAMP)
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
