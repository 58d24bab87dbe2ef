"""`altaviz smoke URL` against a live local `altaviz serve` (fresh SQLite, memory rate limiter)."""

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.servers import free_port, serve_env, serve_processes


@pytest.fixture
def serve(sqlite_url: str, tmp_path: Path) -> Iterator[Callable[..., str]]:
    with serve_processes() as servers:

        def start(**env_overrides: str) -> str:
            settings = {
                "RATE_LIMIT_PER_MINUTE": "60",  # the default, and the runbook's figure
                "RATE_LIMIT_STORAGE_URI": "memory://",
                "WORKFLOW_SCHEDULER": "false",
                **env_overrides,
            }
            return servers.start(serve_env(sqlite_url, tmp_path, **settings))[1]

        yield start


def _smoke(url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "altaviz", "smoke", url, "--timeout", "5"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_smoke_passes_against_a_healthy_deployment(serve: Callable[..., str]) -> None:
    base = serve()
    done = _smoke(base)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert any(line.startswith("PASS health:") and "200" in line and "'healthy'" in line for line in lines)
    assert any(line.startswith("PASS auth:") and "-> 401" in line for line in lines)
    limit = next(line for line in lines if line.startswith("PASS rate_limit:"))
    assert "first 429 at call 59 (request 61 of the minute)" in limit and "7 limited" in limit
    assert "2 earlier request(s)" in limit
    assert "Retry-After '" in limit and "Retry-After None" not in limit
    assert "FAIL" not in done.stdout and "Traceback" not in done.stderr


def test_smoke_fails_when_the_rate_limit_does_not_hold(serve: Callable[..., str]) -> None:
    base = serve(RATE_LIMIT_PER_MINUTE="1000")
    done = _smoke(base)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "PASS health:" in done.stdout and "PASS auth:" in done.stdout
    assert "FAIL rate_limit: 65 calls to /api/health, none got 429" in done.stdout
    assert "smoke failed: rate_limit" in done.stderr and "Traceback" not in done.stderr


def test_smoke_reports_an_unreachable_deployment_without_a_traceback() -> None:
    port = free_port()  # nothing listens there
    done = _smoke(f"http://127.0.0.1:{port}")
    assert done.returncode == 1
    assert f"FAIL health: unreachable: cannot connect to http://127.0.0.1:{port}/api/health" in done.stdout
    assert "FAIL auth: not run" in done.stdout and "FAIL rate_limit: not run" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr


def test_smoke_rejects_an_address_that_is_not_http() -> None:
    done = _smoke("ops.example.com")
    assert done.returncode == 2
    assert "is not an http:// or https:// address" in done.stderr and "Traceback" not in done.stderr
