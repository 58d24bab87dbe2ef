"""`altaviz smoke URL` against a live local `altaviz serve` (fresh SQLite, memory rate limiter)."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.api.world import AUTH_SECRET


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def serve(sqlite_url: str, tmp_path: Path) -> Iterator[Callable[..., str]]:
    processes: list[subprocess.Popen[str]] = []

    def start(**env_overrides: str) -> str:
        port = _free_port()
        env = {
            **os.environ,
            "ALTAVIZ_ENV": "test",
            "AUTH_SECRET": AUTH_SECRET,
            "DATABASE_URL": sqlite_url,
            "ALTAVIZ_DATA_DIR": str(tmp_path),
            "LOG_LEVEL": "WARNING",
            "RATE_LIMIT_PER_MINUTE": "60",  # the default, and the runbook's figure
            "RATE_LIMIT_STORAGE_URI": "memory://",
            "WORKFLOW_SCHEDULER": "false",
            **env_overrides,
        }
        process = subprocess.Popen(
            [sys.executable, "-m", "altaviz", "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        processes.append(process)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    return f"http://127.0.0.1:{port}"
            except OSError:
                time.sleep(0.2)
        raise AssertionError("altaviz serve did not start listening")

    yield start
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=15)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


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
    port = _free_port()  # nothing listens there
    done = _smoke(f"http://127.0.0.1:{port}")
    assert done.returncode == 1
    assert f"FAIL health: unreachable: cannot connect to http://127.0.0.1:{port}/api/health" in done.stdout
    assert "FAIL auth: not run" in done.stdout and "FAIL rate_limit: not run" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr


def test_smoke_rejects_an_address_that_is_not_http() -> None:
    done = _smoke("ops.example.com")
    assert done.returncode == 2
    assert "is not an http:// or https:// address" in done.stderr and "Traceback" not in done.stderr
