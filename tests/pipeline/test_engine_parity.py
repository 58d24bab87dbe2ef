"""DuckDB and Spark (real PySpark, local mode) run the same SQL files and the same per-compressor
health step on the same fault-injected bronze of four organizations (the same compressor ids in
all) and must produce the same tables, row for row, within floating-point tolerance, in the same lake
layout."""

import math
import os
import shutil
from pathlib import Path
from typing import Any

import duckdb
import pytest

from altaviz.pipeline import intervals
from altaviz.pipeline.engine import spark_sql
from altaviz.pipeline.lake import Lake
from altaviz.simulator import SimulationConfig, SimulationResult, simulate
from tests.pipeline.helpers import (
    OFF_HOUR_START,
    copy_landing,
    degrading_fleet,
    lake_rows,
    land_readings,
    run,
    settings_for,
    stop_start_series,
    write_fleet,
    write_readings,
)

KEYS = {
    "silver/readings": "organization, compressor_id, timestamp",
    "silver/quarantine": "organization, _source_file, _source_row",
    "silver/quality": "organization, scope",
    "gold/readings": "organization, compressor_id, timestamp",
    "gold/hourly": "organization, compressor_id, agg_timestamp",
    "gold/violations": "organization, compressor_id, timestamp, metric",
    "gold/alerts": "organization, compressor_id, metric, started_at",
    # the health stage: one per-compressor step (mapInArrow on Spark), its state included
    "gold/health": "organization, compressor_id, hour",
    "gold/health_predictions": "organization, compressor_id, metric, level",
    "gold/health_alerts": "organization, compressor_id, alert_type, started_at",
    "gold/health_state": "organization, compressor_id",
    "gold/health_baseline": "organization, compressor_id",
    "gold/health_prior": "organization",  # each organization's fleet prior and its prior hour
}
SECOND = "second-org"
# an organization whose compressor degrades for long enough to be judged, warned and projected
THIRD = "degrading-org"
# an organization whose compressor stops and starts: a trip, a restart with a leak (alarm suppression)
FOURTH = "stopping-org"
TRIP = {33: {"vibration_mms": 5.8}, 34: {"vibration_mms": 5.9}, 35: {"vibration_mms": 6.3}}
# The driver JVM compiles with C1 only: a run of seconds spends a third of its CPU less without the C2
# compiler's work (85.8-89.8 -> 56.7-61.4 CPU s, 2026-12-07). Java 17's floating point is strict either
# way: the same results.
SPARK_SUBMIT_ARGS = "--conf spark.driver.extraJavaOptions=-XX:TieredStopAtLevel=1 pyspark-shell"


@pytest.fixture(scope="module")
def both_engines(
    faulty_landing: tuple[Path, SimulationResult], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Path]:
    duck = copy_landing(faulty_landing[0], tmp_path_factory.mktemp("duckdb"))
    config = SimulationConfig(
        compressors=3, days=2, start=OFF_HOUR_START, seed=11, faults=frozenset({"duplicates", "out_of_range"})
    )
    simulate(config, duck / "landing" / SECOND)
    write_fleet(duck / "landing" / THIRD, ["COMP-001", "COMP-002"])
    land_readings(duck / "landing" / THIRD, "readings.parquet", degrading_fleet(days=9.6))
    write_fleet(duck / "landing" / FOURTH, ["COMP-001"])
    write_readings(
        duck / "landing" / FOURTH,
        "readings.parquet",
        stop_start_series(
            OFF_HOUR_START, override=lambda i: {"gas_flow_mcf": 5000.0} if i >= 90 else TRIP.get(i, {})
        ),
    )
    run(settings_for(duck), skip_db=True)
    spark = tmp_path_factory.mktemp("spark") / "data"
    shutil.copytree(duck, spark)  # the same bronze, with the same load times
    with pytest.MonkeyPatch.context() as patch:
        if "PYSPARK_SUBMIT_ARGS" not in os.environ:  # the JVM this run starts (unless one runs already)
            patch.setenv("PYSPARK_SUBMIT_ARGS", SPARK_SUBMIT_ARGS)
        run(settings_for(spark), skip_db=True, skip_bronze=True, engine="spark", spark_master="local[2]")
    return duck, spark


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9) or (math.isnan(a) and math.isnan(b))
    return bool(a == b)


@pytest.mark.parametrize("table", sorted(KEYS))
def test_every_table_matches(both_engines: tuple[Path, Path], table: str) -> None:
    duck, spark = both_engines
    expected = lake_rows(duck, table, order=KEYS[table])
    actual = lake_rows(spark, table, order=KEYS[table])
    assert len(actual) == len(expected)
    assert expected, f"{table} is empty: the parity check would prove nothing"
    organizations = {r["organization"] for r in expected}
    if table.startswith("gold/health"):  # judged, warned and projected: the degrading one
        assert THIRD in organizations
    elif table != "gold/alerts":  # the second organization's small healthy fleet raises no alert
        # (the degrading one's clean readings quarantine nothing and stay below their limits)
        assert {"altaviz-demo", SECOND} <= organizations
    assert set(actual[0]) == set(expected[0])
    for want, got in zip(expected, actual, strict=True):
        different = {k: (want[k], got[k]) for k in want if not _same(want[k], got[k])}
        assert not different, f"{table} row {[want[k] for k in KEYS[table].split(', ')]}: {different}"


def test_operating_states_and_suppressed_alerts_match(both_engines: tuple[Path, Path]) -> None:
    """The stopping organization's readings take every operating state, and its episodes (the trip's,
    the leak's once the start has settled) are the same on both engines."""
    for lake in both_engines:
        states = {
            r["operating_state"] for r in lake_rows(lake, "gold/readings", f"organization = '{FOURTH}'")
        }
        assert states == {"running", "starting", "stopped"}
        alerts = lake_rows(lake, "gold/alerts", f"organization = '{FOURTH}'", "started_at")
        assert [a["metric"] for a in alerts] == ["vibration_mms", "gas_flow_mcf"]


def test_the_spacings_summary_is_written_after_a_spark_run_too(
    both_engines: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reporting-interval warning's summary (intervals.SPACINGS) is written by the run's DuckDB
    report step whichever engine made silver: the Spark run writes its own (not the DuckDB run's,
    copied with the lake), and the warning reads it, not silver, to the answer of the readings."""
    from_silver = intervals._from_silver
    answers, written = [], []
    for data in both_engines:
        lake = Lake(data / "lake")
        with duckdb.connect() as con:
            con.execute("SET TimeZone = 'UTC'")
            expected = from_silver(con, lake.table_files("silver/readings"))
        with monkeypatch.context() as patched:
            patched.setattr(intervals, "_from_silver", _silver_not_read)
            answers.append(intervals.reporting_intervals(lake))
        assert answers[-1] == expected
        written.append({p.relative_to(lake.root) for p in lake.table_files(intervals.SPACINGS)})
    assert answers[0] == answers[1] != []
    assert written[1] and not written[0] & written[1]


def _silver_not_read(*_: object) -> list[intervals.ReportingInterval]:
    raise AssertionError("the warning read silver: its summary was not used")


def test_spark_sql_keeps_fractional_epoch_seconds() -> None:
    assert "UNIX_MICROS(timestamp) / 1E6" in spark_sql("SELECT EPOCH(timestamp) FROM t")
    assert "UNIX_TIMESTAMP" not in spark_sql("SELECT EPOCH(timestamp) FROM t")


def test_spark_sql_casts_an_enum_as_text() -> None:
    """Spark has no ENUM: a cast to DuckDB's (gold_readings.sql's statuses) is one to STRING."""
    translated = spark_sql("SELECT CAST('normal' AS ENUM('normal', 'warning')) AS status FROM t")
    assert "CAST('normal' AS STRING)" in translated
    assert "ENUM" not in translated
