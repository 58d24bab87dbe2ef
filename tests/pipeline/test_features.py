"""Gold features on hand-made series: time-based windows, rate of change, statuses."""

import statistics
from datetime import datetime, timedelta
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from altaviz.fleet import DEFAULT_THRESHOLDS, SENSORS
from altaviz.pipeline.features import reading_features
from altaviz.pipeline.lake import Lake
from tests.pipeline.helpers import OFF_HOUR_START, lake_rows, run, settings_for, write_fleet, write_readings

# An irregular series with a 3-hour gap: a row-count window would mix readings hours apart.
MINUTES = [0, 7, 20, 45, 50, 59, 61, 130, 300, 302, 310, 361, 1500, 1530, 1800]


def _series(tmp_path: Path, minutes: list[int], values: list[float]) -> Path:
    landing = tmp_path / "landing"
    write_fleet(landing)
    write_readings(
        landing,
        "readings-irregular.parquet",
        [
            {
                "compressor_id": "COMP-001",
                "timestamp": OFF_HOUR_START + timedelta(minutes=m),
                "vibration_mms": v,
                "discharge_temp_f": 200 + v,
            }
            for m, v in zip(minutes, values, strict=True)
        ],
    )
    run(settings_for(tmp_path), skip_db=True)
    return tmp_path


def _expected(times: list[datetime], values: list[float], at: datetime, hours: int) -> list[float]:
    return [v for t, v in zip(times, values, strict=True) if at - timedelta(hours=hours) <= t <= at]


def test_rolling_windows_are_time_based(tmp_path: Path) -> None:
    values = [float(i % 5 + 1) for i in range(len(MINUTES))]
    data_dir = _series(tmp_path, MINUTES, values)
    times = [OFF_HOUR_START + timedelta(minutes=m) for m in MINUTES]
    # derived where needed (pipeline/features.py); gold/readings stores the rate only
    gold = reading_features(Lake(data_dir / "lake"), "altaviz-demo").to_pylist()
    assert len(gold) == len(MINUTES)
    stored = lake_rows(data_dir, "gold/readings", order="timestamp")
    assert [r["temp_rate_of_change"] for r in stored] == [r["temp_rate_of_change"] for r in gold]
    later = OFF_HOUR_START + timedelta(minutes=1500)
    assert reading_features(Lake(data_dir / "lake"), "altaviz-demo", since=later) == reading_features(
        Lake(data_dir / "lake"), "altaviz-demo"
    ).filter(pc.field("timestamp") >= later)
    for row in gold:
        for hours, prefix in ((1, "vibration_1hr"), (4, "vibration_4hr"), (24, "vibration_24hr")):
            window = _expected(times, values, row["timestamp"], hours)
            assert row[f"{prefix}_mean"] == pytest.approx(statistics.fmean(window))
            assert row[f"{prefix}_max"] == max(window)
            if len(window) > 1:
                assert row[f"{prefix}_std"] == pytest.approx(statistics.stdev(window))
            else:
                assert row[f"{prefix}_std"] is None
    after_gap = next(r for r in gold if r["timestamp"] == OFF_HOUR_START + timedelta(minutes=130))
    assert after_gap["vibration_1hr_mean"] == values[MINUTES.index(130)]  # the gap leaves it alone


def test_temperature_rate_is_smoothed_and_per_hour(tmp_path: Path) -> None:
    """A steady 30 °F/h ramp reads as 30 °F/h; a single spike on a flat line does not read as a ramp."""
    minutes = list(range(0, 300, 10))
    landing = tmp_path / "landing"
    write_fleet(landing)
    ramp = [
        {
            "compressor_id": "COMP-001",
            "timestamp": OFF_HOUR_START + timedelta(minutes=m),
            "discharge_temp_f": 200 + 0.5 * m,
        }
        for m in minutes
    ]
    write_readings(landing, "readings-ramp.parquet", ramp)
    run(settings_for(tmp_path), skip_db=True)
    gold = lake_rows(tmp_path, "gold/readings", order="timestamp")
    rates = [r["temp_rate_of_change"] for r in gold]
    assert all(r is None for r in rates[:8])  # until both 1-hour means rest on 3+ readings
    assert rates[-1] == pytest.approx(30.0)
    assert gold[-1]["temp_rate_of_change_status"] == "warning"

    spiky = tmp_path / "spiky"
    write_fleet(spiky / "landing")
    flat = [
        {
            "compressor_id": "COMP-001",
            "timestamp": OFF_HOUR_START + timedelta(minutes=m),
            "discharge_temp_f": 260.0 if m == 150 else 200.0,
        }
        for m in minutes
    ]
    write_readings(spiky / "landing", "readings-spike.parquet", flat)
    run(settings_for(spiky), skip_db=True)
    gold = lake_rows(spiky, "gold/readings", order="timestamp")
    assert max(r["temp_rate_of_change"] or 0 for r in gold) < 20


@settings(max_examples=25, deadline=None)
@given(st.tuples(*(st.floats(min_value=s.physical_min, max_value=s.physical_max) for s in SENSORS)))
def test_statuses_follow_the_threshold_table(
    tmp_path_factory: pytest.TempPathFactory, values: tuple[float, ...]
) -> None:
    """The SQL's status of every metric agrees with fleet.thresholds (direction, warning, critical)."""
    tmp_path = tmp_path_factory.mktemp("statuses")
    names = [s.name for s in SENSORS]
    landing = tmp_path / "landing"
    write_fleet(landing)
    reading = {
        "compressor_id": "COMP-001",
        "timestamp": OFF_HOUR_START,
        **dict(zip(names, values, strict=True)),
    }
    write_readings(landing, "readings-one.parquet", [reading])
    run(settings_for(tmp_path), skip_db=True)
    (gold,) = lake_rows(tmp_path, "gold/readings")
    for t in DEFAULT_THRESHOLDS:
        value = gold[t.metric]
        status = gold[f"{t.metric}_status"]
        if value is None:
            assert status is None
            continue
        expected = "normal"
        for level, limit in (("warning", t.warning), ("critical", t.critical)):
            if limit is not None and (value >= limit if t.direction == "high" else value <= limit):
                expected = level
        assert status == expected, (t.metric, value)


def test_features_command_writes_the_derived_features(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from altaviz.cli import app
    from altaviz.config import get_settings

    values = [float(i % 5 + 1) for i in range(len(MINUTES))]
    data_dir = _series(tmp_path, MINUTES, values)
    monkeypatch.setenv("ALTAVIZ_DATA_DIR", str(data_dir))
    get_settings.cache_clear()
    try:
        output = tmp_path / "out" / "features.parquet"
        since = (OFF_HOUR_START + timedelta(minutes=300)).replace(tzinfo=None).isoformat()
        done = CliRunner().invoke(
            app, ["pipeline", "features", str(output), "--compressor", "COMP-001", "--since", since]
        )
        assert done.exit_code == 0, done.output
        written = pq.read_table(output).to_pylist()
        assert [r["timestamp"] for r in written] == [
            OFF_HOUR_START + timedelta(minutes=m) for m in MINUTES if m >= 300
        ]
        # the 24-hour window of the first reading written reaches back before --since
        assert written[0]["vibration_24hr_max"] == max(values[: MINUTES.index(300) + 1])
        assert done.output.startswith("7 readings")
    finally:
        get_settings.cache_clear()
