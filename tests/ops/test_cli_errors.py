"""Operator mistakes and outages end in one `error:` line and exit 1, never a traceback
(issue 18 items 17 and 20)."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.servers import free_port

UNREACHABLE = "postgresql://altaviz:s3cret-pw@127.0.0.1:1/altaviz"
SECRET = "kQ3v8Zr1xWm5Tn7Yb2Lc9Pd4Hf6Gj0Sa"


def _altaviz(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "ALTAVIZ_ENV", "AUTH_SECRET")}
    return subprocess.run(
        [sys.executable, "-m", "altaviz", *args],
        env={**clean, "ALTAVIZ_DATA_DIR": str(tmp_path), **env},
        capture_output=True,
        text=True,
        timeout=180,  # a bound for a hung command; with pytest -n on a busy machine a start can take a minute
    )


def _one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 1, (done.returncode, done.stdout, done.stderr)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in done.stdout + done.stderr
    return lines[0]


@pytest.mark.parametrize("command", ["upgrade", "downgrade"])
def test_an_unknown_revision_is_one_line_naming_the_known_ones(tmp_path: Path, command: str) -> None:
    line = _one_error_line(_altaviz(tmp_path, "db", command, "9999"))
    assert "'9999'" in line
    assert "the revisions are 0001 to " in line


@pytest.mark.parametrize(
    ("args", "env"),
    [
        (("db", "current"), {}),
        (("db", "upgrade"), {}),
        (("serve",), {}),  # development: brings the schema up to date first
        (("serve",), {"ALTAVIZ_ENV": "production", "AUTH_SECRET": SECRET}),  # production: checks it
    ],
    ids=["db-current", "db-upgrade", "serve-development", "serve-production"],
)
def test_an_unreachable_database_is_one_line(
    tmp_path: Path, args: tuple[str, ...], env: dict[str, str]
) -> None:
    if args[0] == "serve":
        args = ("serve", "--port", str(free_port()))
    line = _one_error_line(_altaviz(tmp_path, *args, DATABASE_URL=UNREACHABLE, **env))
    assert "cannot reach the database at postgresql+psycopg://altaviz:***@127.0.0.1:1/altaviz" in line
    assert "s3cret-pw" not in line


def test_a_port_in_use_is_one_line_naming_it(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = _one_error_line(_altaviz(tmp_path, "serve", "--host", "127.0.0.1", "--port", str(port)))
    assert f"port {port} on 127.0.0.1 is already in use" in line
    assert "--port N or ALTAVIZ_PORT" in line


def test_an_invalid_setting_is_one_line_naming_it(tmp_path: Path) -> None:
    line = _one_error_line(_altaviz(tmp_path, "db", "current", ALTAVIZ_PORT="abc"))
    assert line.startswith("error: invalid setting ALTAVIZ_PORT: Input should be a valid integer")
    assert "(got 'abc')" in line


def test_an_invalid_secret_is_named_without_its_value(tmp_path: Path) -> None:
    line = _one_error_line(_altaviz(tmp_path, "serve", WORKFLOW_API_KEY="short-key-value"))
    assert "invalid setting WORKFLOW_API_KEY: " in line
    assert "short-key-value" not in line


def test_the_demo_names_a_port_in_use_before_doing_any_work(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = _one_error_line(_altaviz(tmp_path, "demo", "--host", "127.0.0.1", "--port", str(port)))
    assert f"port {port} on 127.0.0.1 is already in use" in line
    assert not (tmp_path / "landing").exists()  # nothing simulated
