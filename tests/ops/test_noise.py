"""Less noise for operators (issue 18 item 21): each request logged once in text mode, no APScheduler
bookkeeping at start, tables not wrapped at 80 columns when piped, flags shown as flags in --help."""

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from rich.table import Table
from typer.testing import CliRunner

from altaviz.cli import app
from altaviz.observability.console import terminal_console
from tests.servers import free_port


def test_text_logs_show_each_request_once_and_no_scheduler_bookkeeping(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "ALTAVIZ_ENV", "LOG_LEVEL")}
    env.update(ALTAVIZ_DATA_DIR=str(tmp_path), LOG_FORMAT="text")
    process = subprocess.Popen(
        [sys.executable, "-m", "altaviz", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 180  # a bound for a hung start, generous for a busy machine (pytest -n)
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2) as answer:
                    assert answer.status == 200
                break
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline, "serve did not start"
                time.sleep(0.3)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2):
            pass
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=60)
    health = [line for line in output.splitlines() if "/api/health" in line]
    assert len(health) == 2, output  # two requests, a line each (altaviz.access), not two each
    assert all("altaviz.access" in line for line in health)
    assert "Adding job tentatively" not in output
    assert "scheduler started" in output  # our own line about the scheduler stays


def test_piped_tables_are_not_wrapped_at_80_columns() -> None:
    console = terminal_console()  # pytest captures stdout: not a terminal
    path = "sqlite:////var/lib/altaviz/a-rather-long-directory-name/for-the-embedded-database/altaviz.db"
    table = Table(title=f"Loaded for organization 'altaviz-demo' into {path}")
    table.add_column("table")
    table.add_column("where")
    table.add_row("sensor_readings_agg", path)
    with console.capture() as captured:
        console.print(table)
    assert sum(path in line for line in captured.get().splitlines()) == 2


def test_help_shows_the_skip_flags_as_flags() -> None:
    result = CliRunner().invoke(app, ["pipeline", "run", "--help"], terminal_width=100)
    assert result.exit_code == 0
    lines = {line.split()[0]: line for line in result.output.splitlines() if line.strip().startswith("--")}
    for flag in ("--skip-bronze", "--skip-silver", "--skip-gold", "--skip-db", "--full"):
        assert "<bool>" not in lines[flag], lines[flag]
