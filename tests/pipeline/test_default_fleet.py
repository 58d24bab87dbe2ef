"""The default demo fleet through bronze, silver and gold (SPEC §1–3 figures)."""

import itertools
from collections import defaultdict
from datetime import timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from altaviz.fleet import SENSORS
from altaviz.pipeline.features import reading_features
from altaviz.pipeline.lake import Lake
from altaviz.pipeline.run import PipelineResult
from tests.pipeline.helpers import copy_landing, lake_rows, run, settings_for

FAILING = {"COMP-003", "COMP-007"}
SENSOR_NAMES = [s.name for s in SENSORS]


@pytest.fixture(scope="module")
def default_run(
    default_landing: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, PipelineResult]:
    data_dir = copy_landing(default_landing, tmp_path_factory.mktemp("default-run"))
    return data_dir, run(settings_for(data_dir), skip_db=True)


def test_counts_match_the_spec(default_run: tuple[Path, PipelineResult]) -> None:
    _, result = default_run
    summary = result.summary
    assert summary.bronze_rows == 10_080
    assert summary.silver_rows == 10_080
    assert summary.quarantined_rows == 0
    assert summary.hourly_rows == 1_690  # the series starts at :37, so each compressor touches 169 hours
    assert "10,080 readings → 1,690 hourly aggregates (83% reduction)" in summary.text()


def test_series_on_the_clock_hour_gives_1680_hourly_rows(on_hour_landing: Path, tmp_path: Path) -> None:
    data_dir = copy_landing(on_hour_landing, tmp_path)
    assert run(settings_for(data_dir), skip_db=True).summary.hourly_rows == 1_680


def test_hourly_counts_add_up(default_run: tuple[Path, PipelineResult]) -> None:
    data_dir, _ = default_run
    hourly = lake_rows(data_dir, "gold/hourly", order="compressor_id, agg_timestamp")
    assert sum(h["reading_count"] for h in hourly) == 10_080
    assert all(h["missing_readings"] == 0 for h in hourly)
    first = hourly[0]
    # 00:37, 00:47, 00:57 fall in the first clock hour: 3 received, 3 expected.
    assert (first["reading_count"], first["expected_readings"]) == (3, 3)


def test_healthy_compressors_open_no_alert(default_run: tuple[Path, PipelineResult]) -> None:
    data_dir, _ = default_run
    alerts = lake_rows(data_dir, "gold/alerts")
    assert {a["compressor_id"] for a in alerts} == FAILING


def test_failing_compressors_alert_at_their_severity(default_run: tuple[Path, PipelineResult]) -> None:
    data_dir, _ = default_run
    alerts = lake_rows(data_dir, "gold/alerts")
    severities: dict[str, set[str]] = defaultdict(set)
    for a in alerts:
        severities[a["compressor_id"]].add(a["severity"])
    assert "critical" in severities["COMP-007"]
    assert severities["COMP-003"] & {"warning", "critical"}


SENSORS_OF = {
    "pressure_differential": ("discharge_pressure_psi", "suction_pressure_psi"),
    "temp_rate_of_change": (),
}


def _consecutive_violations(data_dir: Path) -> list[dict[str, Any]]:
    """Every second reading of two consecutive violating readings of one metric (readings silver
    flagged as spikes are suspect, so they count as neither violating nor normal)."""
    seconds = []
    series: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    gold = lake_rows(data_dir, "gold/readings", order="compressor_id, timestamp")
    for row in gold:
        for key, value in row.items():
            if key.endswith("_status") and value is not None:
                metric = key.removesuffix("_status")
                flags = row["quality_flags"] or ""
                suspect = any(f"spike:{s}" in flags for s in SENSORS_OF.get(metric, (metric,)))
                series[(row["compressor_id"], metric)].append(
                    {"timestamp": row["timestamp"], "violating": value != "normal" and not suspect}
                )
    for (compressor, metric), readings in series.items():
        for before, after in itertools.pairwise(readings):
            if before["violating"] and after["violating"]:
                seconds.append(
                    {"compressor_id": compressor, "metric": metric, "timestamp": after["timestamp"]}
                )
    return seconds


def test_every_second_consecutive_violation_is_inside_a_raised_alert(
    default_run: tuple[Path, PipelineResult],
) -> None:
    data_dir, _ = default_run
    alerts = lake_rows(data_dir, "gold/alerts")
    seconds = _consecutive_violations(data_dir)
    assert seconds, "the failing compressors must produce consecutive violations"
    for s in seconds:
        covering = [
            a
            for a in alerts
            if (a["compressor_id"], a["metric"]) == (s["compressor_id"], s["metric"])
            and a["raised_at"] <= s["timestamp"]
            and (a["returned_to_normal_at"] is None or s["timestamp"] < a["returned_to_normal_at"])
        ]
        assert covering, f"no alert raised by the second consecutive violation {s}"


def test_alerts_open_at_the_second_violating_reading(default_run: tuple[Path, PipelineResult]) -> None:
    data_dir, _ = default_run
    for alert in lake_rows(data_dir, "gold/alerts"):
        assert alert["raised_at"] - alert["started_at"] == timedelta(minutes=10)


def test_worst_day_is_kept_unblanked(default_run: tuple[Path, PipelineResult], default_landing: Path) -> None:
    """The failing units' readings reach silver and gold exactly as they landed (no 4σ erasure)."""
    data_dir, _ = default_run
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    landed = con.execute(
        f"SELECT compressor_id, timestamp, vibration_mms, discharge_temp_f, discharge_pressure_psi "
        f"FROM read_parquet('{default_landing}/readings/*.parquet') "
        "WHERE compressor_id IN ('COMP-003', 'COMP-007') ORDER BY 1, 2"
    ).fetchall()
    for table in ("silver/readings", "gold/readings"):
        kept = [
            (
                r["compressor_id"],
                r["timestamp"],
                r["vibration_mms"],
                r["discharge_temp_f"],
                r["discharge_pressure_psi"],
            )
            for r in lake_rows(
                data_dir, table, "compressor_id IN ('COMP-003', 'COMP-007')", "compressor_id, timestamp"
            )
        ]
        assert kept == landed
    last_day = lake_rows(
        data_dir,
        "gold/readings",
        "compressor_id = 'COMP-007' AND timestamp > (SELECT MAX(timestamp) FROM read_parquet("
        f"'{default_landing}/readings/*.parquet')) - INTERVAL 1 DAY",
    )
    assert len(last_day) == 144
    assert max(r["vibration_mms"] for r in last_day) >= 8.0
    assert all(r["vibration_mms_status"] is not None for r in last_day)


def test_spikes_are_flagged_not_removed(default_run: tuple[Path, PipelineResult]) -> None:
    data_dir, _ = default_run
    flagged = lake_rows(data_dir, "silver/readings", "quality_flags LIKE '%spike:%'")
    assert flagged, "1 % of values spike: some must be flagged"
    healthy = [r for r in flagged if r["compressor_id"] not in FAILING]
    assert healthy


def test_time_features(default_run: tuple[Path, PipelineResult]) -> None:
    """Derived from silver where needed (pipeline/features.py), not stored in gold/readings."""
    data_dir, _ = default_run
    rows = reading_features(Lake(data_dir / "lake"), "altaviz-demo", ["COMP-001"]).to_pylist()
    assert len(rows) == 1_008
    weekdays = set()
    for row in rows:
        ts = row["timestamp"]
        assert row["hour_of_day"] == ts.hour
        assert row["day_of_week"] == ts.isoweekday()
        assert row["is_weekend"] == (ts.isoweekday() >= 6)
        assert row["pressure_differential"] == pytest.approx(
            row["discharge_pressure_psi"] - row["suction_pressure_psi"]
        )
        weekdays.add(row["day_of_week"])
    assert weekdays == set(range(1, 8))


def test_gold_readings_hold_what_is_read(default_run: tuple[Path, PipelineResult]) -> None:
    """Per reading, gold keeps what gold_hourly, violations, alert_inputs and the dashboard read, nothing
    more."""
    data_dir, _ = default_run
    (row,) = lake_rows(data_dir, "gold/readings", "compressor_id = 'COMP-001'", order="timestamp DESC")[:1]
    statuses = {f"{m}_status" for m in (*SENSOR_NAMES, "pressure_differential", "temp_rate_of_change")}
    assert set(row) == {
        "organization",
        "compressor_id",
        "timestamp",
        *SENSOR_NAMES,
        "quality_flags",
        "pressure_differential",
        "temp_rate_of_change",
        "operating_state",
        *statuses,
    }


def test_the_default_fleet_never_stops(default_run: tuple[Path, PipelineResult]) -> None:
    """The demo's units run all week, so state-based alarm suppression leaves its alerts as they were."""
    data_dir, _ = default_run
    states = {r["operating_state"] for r in lake_rows(data_dir, "gold/readings")}
    assert states == {"running"}
