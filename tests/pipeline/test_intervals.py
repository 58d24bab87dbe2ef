"""Readings every 15 minutes under PIPELINE_INTERVAL_MINUTES=10 are no longer counted as a third missing
without a word: each compressor's reporting interval is measured and a mismatch is warned about
(issue 18 item 16)."""

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from altaviz.pipeline.intervals import ReportingInterval, interval_warning, reporting_intervals
from altaviz.pipeline.lake import Lake
from tests.pipeline.helpers import OFF_HOUR_START, lake_rows, run, settings_for, write_fleet, write_readings

FLEET = ("COMP-001", "COMP-002")


def _land(data_dir: Path, minutes: dict[str, int], hours: int = 12) -> None:
    landing = data_dir / "landing"
    write_fleet(landing, FLEET)
    rows = [
        {"compressor_id": c, "timestamp": OFF_HOUR_START + timedelta(minutes=every * i)}
        for c, every in minutes.items()
        for i in range(hours * 60 // every)
    ]
    write_readings(landing, "readings.parquet", rows)


def _pipeline(data_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "altaviz", "pipeline", "run", "--skip-db"],
        env={**os.environ, "ALTAVIZ_DATA_DIR": str(data_dir), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_each_compressors_interval_is_measured(tmp_path: Path) -> None:
    _land(tmp_path, {"COMP-001": 15, "COMP-002": 10})
    run(settings_for(tmp_path), skip_db=True)
    measured = {
        i.compressor.rsplit("/", 1)[-1]: i.minutes for i in reporting_intervals(Lake(tmp_path / "lake"))
    }
    assert measured == {"COMP-001": 15.0, "COMP-002": 10.0}


def test_a_fleet_reporting_every_15_minutes_is_warned_about(tmp_path: Path) -> None:
    _land(tmp_path, {"COMP-001": 15, "COMP-002": 15})
    done = _pipeline(tmp_path)
    assert done.returncode == 0, done.stderr
    warnings = [line for line in done.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1, done.stderr
    assert "2 compressors every 15 min (" in warnings[0]
    assert "PIPELINE_INTERVAL_MINUTES=10" in warnings[0]
    assert "set PIPELINE_INTERVAL_MINUTES=15" in warnings[0]


def test_no_warning_when_the_data_agrees_with_the_setting(tmp_path: Path) -> None:
    _land(tmp_path, {"COMP-001": 15, "COMP-002": 15})
    done = _pipeline(tmp_path, PIPELINE_INTERVAL_MINUTES="15")
    assert done.returncode == 0, done.stderr
    assert "warning:" not in done.stderr


def test_one_odd_compressor_is_named_and_the_setting_left_alone() -> None:
    steady = [ReportingInterval(f"COMP-{n:03}", 10.0, 140) for n in range(5)]
    assert interval_warning(steady, 10) is None
    mixed = [*steady, ReportingInterval("COMP-999", 30.0, 40)]
    warning = interval_warning(mixed, 10)
    assert warning is not None
    assert "1 compressor every 30 min (COMP-999)" in warning
    assert "set PIPELINE_INTERVAL_MINUTES" not in warning  # one odd compressor: the setting is right


def test_completeness_counts_each_compressor_at_its_own_interval(tmp_path: Path) -> None:
    """15-minute data under PIPELINE_INTERVAL_MINUTES=10 was 0.67 complete; a real gap still counts."""
    landing = tmp_path / "landing"
    write_fleet(landing, FLEET)
    every_15 = [OFF_HOUR_START + timedelta(minutes=15 * i) for i in range(48)]  # 12 hours
    every_10_with_gap = [OFF_HOUR_START + timedelta(minutes=10 * i) for i in range(72) if not 30 <= i < 42]
    write_readings(
        landing,
        "readings.parquet",
        [{"compressor_id": "COMP-001", "timestamp": t} for t in every_15]
        + [{"compressor_id": "COMP-002", "timestamp": t} for t in every_10_with_gap],
    )
    summary = run(settings_for(tmp_path), skip_db=True).summary
    quality = {r["scope"]: r for r in lake_rows(tmp_path, "silver/quality")}
    # the batch spans 11 h 50 min: 48 slots of 15 minutes (the last at 11:45) and 72 of 10
    assert quality["COMP-001"]["expected_rows"] == 48
    assert quality["COMP-001"]["completeness"] == 1.0
    assert quality["COMP-002"]["expected_rows"] == 72
    assert quality["COMP-002"]["completeness"] == 60 / 72
    assert quality["fleet"]["expected_rows"] == 48 + 72
    assert summary.quality["completeness"] is False  # the gap of two hours is still missing data
