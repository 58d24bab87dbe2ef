"""Unreadable landing files are named in one `error:` line saying what is wrong, without DuckDB's
internal SQL or caret marks (issue 18 item 12)."""

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from altaviz.pipeline.run import PipelineError
from tests.pipeline.helpers import OFF_HOUR_START, run, settings_for, write_fleet, write_readings


def _landing(tmp_path: Path) -> Path:
    landing = tmp_path / "landing"
    write_fleet(landing)
    rows = [
        {"compressor_id": "COMP-001", "timestamp": OFF_HOUR_START + timedelta(minutes=10 * i)}
        for i in range(6)
    ]
    write_readings(landing, "good.parquet", rows)
    return landing


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _truncated(path: Path) -> None:
    whole = (path.parent / "good.parquet").read_bytes()
    path.write_bytes(whole[: len(whole) // 2])


def _csv(path: Path) -> None:
    path.write_text("compressor_id,timestamp,vibration_mms\nCOMP-001,2026-01-01T00:00:00Z,3.0\n")


CASES = {
    "empty": (_empty, "is empty (0 bytes)"),
    "truncated": (_truncated, "is truncated"),
    "csv": (_csv, "is not a Parquet file (it looks like text: a CSV named .parquet?)"),
}


@pytest.mark.parametrize("case", CASES)
def test_an_unreadable_landing_file_is_named_in_one_line(tmp_path: Path, case: str) -> None:
    landing = _landing(tmp_path)
    spoil, expected = CASES[case]
    spoil(landing / "readings" / "bad.parquet")
    with pytest.raises(PipelineError) as caught:
        run(settings_for(tmp_path), skip_db=True)
    message = str(caught.value)
    assert message.startswith("landing/readings/bad.parquet "), message
    assert expected in message
    assert "\n" not in message and "^" not in message and "read_parquet" not in message


def test_the_command_prints_one_error_line(tmp_path: Path) -> None:
    landing = _landing(tmp_path)
    _truncated(landing / "readings" / "bad.parquet")
    done = subprocess.run(
        [sys.executable, "-m", "altaviz", "pipeline", "run", "--skip-db"],
        env={**os.environ, "ALTAVIZ_DATA_DIR": str(tmp_path), "COLUMNS": "80"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: landing/readings/bad.parquet is truncated")
