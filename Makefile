# The two commands of the README: `make demo` and `make test`. Everything they need is installed here.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# make test: everything (the dev, spark, connectors and server extras too) in .venv.
STAMP := $(VENV)/.installed
# make demo: only what the demo runs, in a virtualenv of its own, rebuilt from scratch when pyproject.toml
# changes: the package (editable) and its runtime dependencies, no bytecode compiled ahead (Python
# compiles what the demo imports), and without pip and setuptools once the install is done (nothing
# imports them at run time). `make demo-size` builds it the same way and prints its size.
DEMO_VENV := .venv-demo
DEMO_STAMP := $(DEMO_VENV)/.installed

.PHONY: demo demo-size test lint lint-workflows typecheck build audit pytest bench bench-api clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev,spark,connectors,server]'
	touch $(STAMP)

$(DEMO_STAMP): pyproject.toml
	rm -rf $(DEMO_VENV)
	$(PYTHON) -m venv $(DEMO_VENV)
	$(DEMO_VENV)/bin/pip install --quiet --no-compile -e .
	$(DEMO_VENV)/bin/python -m pip uninstall --quiet --yes pip setuptools
	touch $(DEMO_STAMP)

demo: $(DEMO_STAMP)
	$(DEMO_VENV)/bin/altaviz demo

# The demo virtualenv's size on disk, and its biggest packages.
demo-size: $(DEMO_STAMP)
	du -sh $(DEMO_VENV)
	du -sh $(DEMO_VENV)/lib/python*/site-packages/* | sort -h | tail -8

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
	$(BIN)/mypy src tests bench

build: $(STAMP)
	$(BIN)/pip wheel --no-deps --quiet --wheel-dir dist .

# Known vulnerabilities in the installed dependencies: pip-audit, through altaviz.ops.audit, which also
# reads PyPI's project pages where pip-audit cannot reach a release's advisories, names every package it
# could not audit, and fails (exit 2) when it could audit nothing (no network) instead of reporting clean.
audit: $(STAMP)
	$(BIN)/python -m altaviz.ops.audit --skip-editable

# On every core (pytest-xdist); each test file runs on one worker, so a file's module-scoped fixtures (a
# live server and browser, a pipeline run) are built once. Each worker has its own PostgreSQL database,
# temporary directories and free ports (tests/conftest.py, tests/servers.py). The 20 slowest tests are
# printed at the end: the suite aims at under 10 minutes.
pytest: $(STAMP)
	$(BIN)/pytest -q -n auto --dist loadfile --durations=20

bench: $(STAMP)
	$(BIN)/python bench/bench_pipeline.py

bench-api: $(STAMP)
	$(BIN)/python bench/bench_api.py

clean:
	rm -rf $(VENV) $(DEMO_VENV) data dist .pytest_cache .mypy_cache .ruff_cache
