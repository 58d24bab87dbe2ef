"""Unreadable landing files are set aside (landing/<org>/quarantine/) with one line saying what is
wrong, without DuckDB's internal SQL or caret marks (issue 18 item 12), and the good files go on
(issue 16 item 5)."""

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
def test_an_unreadable_landing_file_is_set_aside_with_its_reason_in_one_line(
    tmp_path: Path, case: str
) -> None:
    landing = _landing(tmp_path)
    spoil, expected = CASES[case]
    bad = landing / "readings" / "bad.parquet"
    spoil(bad)
    spoiled = bad.read_bytes()
    result = run(settings_for(tmp_path), skip_db=True)
    assert result.summary.silver_rows == 6  # good.parquet went on
    [message] = result.organizations["altaviz-demo"].set_aside
    assert message.startswith("landing/readings/bad.parquet "), message
    assert expected in message and message.endswith("(set aside to landing/quarantine/bad.parquet)")
    assert "\n" not in message and "^" not in message and "read_parquet" not in message
    assert not bad.exists() and (landing / "quarantine" / "bad.parquet").read_bytes() == spoiled
    [line] = (landing / "quarantine" / "bad.parquet.reason.txt").read_text().splitlines()
    assert line.endswith(message.removesuffix(" (set aside to landing/quarantine/bad.parquet)")), line


def test_the_command_prints_one_line_per_file_set_aside(tmp_path: Path) -> None:
    landing = _landing(tmp_path)
    _truncated(landing / "readings" / "bad.parquet")
    done = subprocess.run(
        [sys.executable, "-m", "altaviz", "pipeline", "run", "--skip-db"],
        env={**os.environ, "ALTAVIZ_DATA_DIR": str(tmp_path), "COLUMNS": "80"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    said = [line for line in done.stderr.splitlines() if "bad.parquet" in line]
    assert len(said) == 1, done.stderr
    assert said[0].startswith("landing/readings/bad.parquet is truncated")
    assert said[0].endswith("(set aside to landing/quarantine/bad.parquet)")


def test_a_bad_fleet_file_stops_the_organization_before_any_file_is_set_aside(tmp_path: Path) -> None:
    landing = _landing(tmp_path)
    _truncated(landing / "readings" / "bad.parquet")
    _empty(landing / "fleet" / "compressors.parquet")
    with pytest.raises(PipelineError, match=r"^landing/fleet/compressors.parquet is empty"):
        run(settings_for(tmp_path), skip_db=True)
    # its readings wait, untouched, until the fleet file is fixed
    assert (landing / "readings" / "bad.parquet").exists() and not (landing / "quarantine").exists()
