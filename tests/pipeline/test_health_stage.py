"""The health stage (altaviz.pipeline.health): on a hand-built series whose vibration ramps towards its
critical limit, incremental runs (with readings arriving late into hours already judged) leave the
health tables exactly as a full run; each organization's alarm limits drive its predictions; a limit
change recomputes its compressor only; the load writes health, predictions (plan permitting),
early-warning alerts linked to the threshold alert that follows, and the compressors' states."""

import functools
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from sqlalchemy import select

from altaviz.accounts.models import Organization
from altaviz.accounts.service import create_organization
from altaviz.alerts.models import AlertHistory
from altaviz.db.session import create_db_engine, session_scope
from altaviz.health.models import CompressorPrediction
from altaviz.monitoring.models import CompressorState
from altaviz.pipeline import engine as engine_module
from altaviz.pipeline import health
from altaviz.pipeline.lake import Lake
from altaviz.registry.models import ThresholdOverride
from tests.pipeline.helpers import (
    ON_HOUR_START,
    assert_equals_a_full_recomputation,
    copy_landing,
    degrading_fleet,
    lake_rows,
    land_readings,
    run,
    settings_for,
    write_fleet,
)

HEALTH_TABLES = {
    "gold/health": "organization, compressor_id, hour",
    "gold/health_predictions": "organization, compressor_id, metric, level",
    "gold/health_alerts": "organization, compressor_id, alert_type, started_at",
    "gold/health_state": "organization, compressor_id",
}


def _between(readings: pa.Table, start: datetime, end: datetime) -> pa.Array:
    ts = readings["timestamp"]
    return pc.and_(pc.greater_equal(ts, pa.scalar(start, ts.type)), pc.less(ts, pa.scalar(end, ts.type)))


def test_incremental_runs_leave_the_health_tables_as_a_full_run(tmp_path: Path) -> None:
    readings = degrading_fleet()
    split = ON_HOUR_START + timedelta(days=9, hours=2)
    late = pc.and_(
        _between(readings, split - timedelta(hours=4), split - timedelta(hours=3)),
        pc.equal(readings["compressor_id"], "COMP-001"),
    )
    first = pc.and_(_between(readings, ON_HOUR_START, split), pc.invert(late))
    batches = [
        readings.filter(first),
        readings.filter(_between(readings, split, split + timedelta(hours=1))),
        # every reading of an hour already judged, three hours late, with the next hour's
        readings.filter(
            pc.or_(late, _between(readings, split + timedelta(hours=1), split + timedelta(hours=2)))
        ),
        readings.filter(_between(readings, split + timedelta(hours=2), ON_HOUR_START + timedelta(days=30))),
    ]
    landing = tmp_path / "arriving" / "landing" / "altaviz-demo"
    write_fleet(landing, ["COMP-001", "COMP-002"])
    data_dir = tmp_path / "arriving"
    for number, batch in enumerate(batches):
        land_readings(landing, f"batch-{number}.parquet", batch)
        result = run(settings_for(data_dir), skip_db=True)
        assert result.organizations["altaviz-demo"].work == (["full"] if number == 0 else ["incremental"])

    assert_equals_a_full_recomputation(data_dir, tmp_path / "full", HEALTH_TABLES)
    hours = lake_rows(data_dir, "gold/health", order="compressor_id, hour")
    assert {r["status"] for r in hours} == {"warmup", "judged"}
    judged = [r for r in hours if r["status"] == "judged"]
    assert all(0 <= r["health_index"] <= 100 for r in judged)
    # the degrading compressor is warned, with vibration named, before its vibration crosses 8 mm/s
    crossing = min(
        r["timestamp"]
        for r in lake_rows(data_dir, "silver/readings", "vibration_mms >= 8 AND compressor_id = 'COMP-001'")
    )
    warned = lake_rows(data_dir, "gold/health_alerts", "compressor_id = 'COMP-001'", "started_at")
    assert warned and warned[0]["started_at"] < crossing - timedelta(hours=6)
    assert {w["sensor"] for w in warned} == {"vibration_mms"}
    degrading = [r for r in judged if r["compressor_id"] == "COMP-001" and r["drivers"]]
    assert degrading and json.loads(degrading[-1]["drivers"])[0]["sensor"] == "vibration_mms"


def _orgs(url: str, tiers: dict[str, str]) -> None:
    engine = create_db_engine(url)
    try:
        with session_scope(engine) as session:
            for slug, tier in tiers.items():
                create_organization(session, slug.title(), slug, tier=tier, max_compressors=None)
    finally:
        engine.dispose()


def _override(url: str, slug: str, compressor: str, warning: float, critical: float) -> None:
    engine = create_db_engine(url)
    try:
        with session_scope(engine) as session:
            org = session.scalars(select(Organization).where(Organization.slug == slug)).one()
            existing = session.scalars(
                select(ThresholdOverride).where(
                    ThresholdOverride.organization_id == org.id, ThresholdOverride.scope_id == compressor
                )
            ).one_or_none()
            if existing is not None:
                existing.warning, existing.critical = warning, critical
                return
            session.add(
                ThresholdOverride(
                    organization_id=org.id,
                    scope_type="compressor",
                    scope_id=compressor,
                    metric="vibration_mms",
                    warning=warning,
                    critical=critical,
                )
            )
    finally:
        engine.dispose()


def _predictions(url: str) -> dict[tuple[str, str, str], tuple[float, float]]:
    engine = create_db_engine(url)
    try:
        with session_scope(engine) as session:
            rows = session.execute(
                select(Organization.slug, CompressorPrediction).join(
                    Organization, Organization.id == CompressorPrediction.organization_id
                )
            ).all()
            return {
                (slug, p.compressor_id, p.level): (p.threshold_value, p.hours)
                for slug, p in rows
                if p.metric == "vibration_mms"
            }
    finally:
        engine.dispose()


def test_limits_per_organization_plans_alerts_and_a_limit_change(tmp_path: Path, sqlite_url: str) -> None:
    # the data ends while vibration is still below its limits (projected, not crossed)
    readings = degrading_fleet(days=9.6)
    for slug in ("north", "south", "basic"):
        landing = tmp_path / "landing" / slug
        write_fleet(landing, ["COMP-001", "COMP-002"])
        land_readings(landing, "readings.parquet", readings)
    _orgs(sqlite_url, {"north": "enterprise", "south": "enterprise", "basic": "pro"})
    settings = settings_for(tmp_path, sqlite_url)
    run(settings)  # the registries learn the fleets from their fleet files

    predicted = _predictions(sqlite_url)
    north = predicted[("north", "COMP-001", "critical")]
    assert north[0] == 8.0 and predicted[("south", "COMP-001", "critical")] == north
    assert not [k for k in predicted if k[0] == "basic"]  # Pro: no predictions (Enterprise only)
    engine = create_db_engine(sqlite_url)
    try:
        with session_scope(engine) as session:
            alerts = session.execute(
                select(Organization.slug, AlertHistory).join(
                    Organization, Organization.id == AlertHistory.organization_id
                )
            ).all()
            early = {
                (slug, a.compressor_id, a.alert_type, a.sensor_name, a.severity)
                for slug, a in alerts
                if a.source == "health"
            }
            assert ("north", "COMP-001", "prediction", "vibration_mms", "warning") in early
            assert not [e for e in early if e[0] == "basic" and e[2] == "prediction"]
            states = {
                (s.organization_id, s.compressor_id): (s.health_index, s.health_status)
                for s in session.scalars(select(CompressorState))
            }
            assert {status for _, status in states.values()} == {"judged"}
            assert all(index is not None for index, _ in states.values())
    finally:
        engine.dispose()

    def health(slug: str, compressor: str = "%") -> list[dict[str, Any]]:
        where = f"organization = '{slug}' AND compressor_id LIKE '{compressor}'"
        return lake_rows(tmp_path, "gold/health", where, "compressor_id, hour")

    kept, north_rows = health("south", "COMP-002"), health("north")
    _override(sqlite_url, "south", "COMP-001", 5.0, 7.0)
    result = run(settings)
    assert result.organizations["south"].work == ["thresholds"] and not result.organizations["north"].work
    predicted = _predictions(sqlite_url)
    south = predicted[("south", "COMP-001", "critical")]
    assert south[0] == 7.0 and 0 < south[1] < north[1]  # the lower limit is reached sooner
    assert predicted[("north", "COMP-001", "critical")] == north
    assert health("south", "COMP-002") == kept and health("north") == north_rows


def test_a_threshold_alert_after_an_early_warning_points_to_it(tmp_path: Path, sqlite_url: str) -> None:
    landing = tmp_path / "landing" / "altaviz-demo"
    write_fleet(landing, ["COMP-001", "COMP-002"])
    land_readings(landing, "readings.parquet", degrading_fleet())
    run(settings_for(tmp_path, sqlite_url))
    engine = create_db_engine(sqlite_url)
    try:
        with session_scope(engine) as session:
            alerts = {
                a.id: a
                for a in session.scalars(select(AlertHistory).where(AlertHistory.compressor_id == "COMP-001"))
            }
            threshold = [
                a
                for a in alerts.values()
                if a.alert_type.startswith("threshold") and a.sensor_name == "vibration_mms"
            ]
            assert threshold
            first = min(threshold, key=lambda a: a.alert_timestamp)
            assert first.related_alert_id is not None
            warning = alerts[first.related_alert_id]
            assert warning.alert_type in ("anomaly", "prediction") and warning.sensor_name == "vibration_mms"
            assert warning.alert_timestamp < first.alert_timestamp
            unrelated = session.scalars(
                select(AlertHistory).where(
                    AlertHistory.compressor_id == "COMP-002", AlertHistory.related_alert_id.is_not(None)
                )
            ).all()
            assert unrelated == []
    finally:
        engine.dispose()


def test_readings_that_finish_no_hour_keep_the_predictions(tmp_path: Path) -> None:
    """A run whose new readings make no hour final (one reading more: the hour before it waits for the
    next; the watcher's runs every few minutes) leaves each compressor's predictions as a full run
    computes them, instead of replacing them with none."""
    readings = degrading_fleet()
    split = ON_HOUR_START + timedelta(days=10, hours=2)
    landing = tmp_path / "arriving" / "landing" / "altaviz-demo"
    write_fleet(landing, ["COMP-001", "COMP-002"])
    data_dir = tmp_path / "arriving"
    land_readings(landing, "month.parquet", readings.filter(_between(readings, ON_HOUR_START, split)))
    run(settings_for(data_dir), skip_db=True)
    predicted = lake_rows(data_dir, "gold/health_predictions", order="compressor_id, metric, level")
    assert predicted, "the degrading compressor has projected crossings"
    land_readings(
        landing, "minutes.parquet", readings.filter(_between(readings, split, split + timedelta(minutes=5)))
    )
    assert run(settings_for(data_dir), skip_db=True).organizations["altaviz-demo"].work == ["incremental"]
    assert lake_rows(data_dir, "gold/health_predictions", order="compressor_id, metric, level") == predicted
    assert_equals_a_full_recomputation(data_dir, tmp_path / "full", HEALTH_TABLES)


def test_a_repair_restarts_the_warm_up_and_a_scheduled_service_does_not(tmp_path: Path) -> None:
    landing = tmp_path / "landing" / "altaviz-demo"
    write_fleet(landing, ["COMP-001", "COMP-002"])
    land_readings(landing, "readings.parquet", degrading_fleet(days=10))
    at = ON_HOUR_START + timedelta(days=7, minutes=5)
    (landing / "maintenance").mkdir(parents=True)
    pq.write_table(
        pa.table(
            {
                "event_id": ["MX-1", "MX-2"],
                "compressor_id": ["COMP-001", "COMP-002"],
                "performed_at": pa.array([at, at], pa.timestamp("us", tz="UTC")),
                "event_type": ["scheduled", "failure"],
            }
        ),
        landing / "maintenance" / "maintenance.parquet",
    )
    run(settings_for(tmp_path), skip_db=True)
    after = ON_HOUR_START + timedelta(days=7, hours=8)  # past a restart's settling
    statuses = {
        c: {
            r["status"]
            for r in lake_rows(tmp_path, "gold/health", f"compressor_id = '{c}'")
            if r["hour"] >= after
        }
        for c in ("COMP-001", "COMP-002")
    }
    assert statuses == {"COMP-001": {"judged"}, "COMP-002": {"warmup"}}


def test_a_full_run_in_worker_processes_writes_the_same_tables(
    tmp_path: Path, default_landing: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The full run's step over several batches in two worker processes (HealthStage.workers) writes the
    health tables of the one-process run, value for value (floats compared by their exact repr), and so
    does the one-process run in one batch (HEALTH_BATCH_ROWS: the batching changes nothing); by default
    (workers None) it takes the workers only when other processes leave the cores idle."""
    monkeypatch.setattr(engine_module, "COMPRESSOR_BATCH_ROWS", 2_000)  # the 10 × 7 days: several batches
    monkeypatch.setattr(health, "COMPRESSOR_BATCH_ROWS", 2_000)
    pools: list[health.StepPool] = []
    batches: dict[str, list[int]] = {}
    stepped = health.stepped_in

    def recorded_batches(
        engine: Any, step: Any, pool: Any, name: str, sources: list[str], *, case: list[str]
    ) -> None:
        batches[case[0]] = [int(engine.rows(f"SELECT COUNT(*) FROM ({s}) AS b")[0][0]) for s in sources]
        stepped(engine, step, pool, name, sources)

    class Recorded(health.StepPool):
        def close(self) -> None:
            pools.append(self)
            super().close()

    monkeypatch.setattr(health, "StepPool", Recorded)
    monkeypatch.setattr(health.HealthStage, "pool_rows", 0)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)  # as this test's engine threads
    lakes = {}
    cases = (("whole", 1, 2.0), ("one", 1, 2.0), ("two", 2, 0.0), ("busy", None, 0.6), ("idle", None, 1.8))
    for name, workers, idle in cases:
        if name != "whole":
            monkeypatch.setattr(health, "HEALTH_BATCH_ROWS", 2_000)
        monkeypatch.setattr(health, "stepped_in", functools.partial(recorded_batches, case=[name]))
        monkeypatch.setattr(health.HealthStage, "workers", workers)
        monkeypatch.setattr(health, "idle_cores", lambda idle=idle: idle)
        lakes[name] = copy_landing(default_landing, tmp_path / name)
        run(settings_for(lakes[name]), skip_db=True)  # (the engine's threads: 2)
    assert [p.workers for p in pools] == [2, 2]  # "two" and "idle"
    assert len(batches["whole"]) == 1 and len(batches["one"]) > 3, batches
    assert sum(batches["one"]) == batches["whole"][0] and max(batches["one"]) < 4_000, batches
    for table, order in {**HEALTH_TABLES, "gold/health_baseline": "1, 2", "gold/health_prior": "1"}.items():
        one = lake_rows(lakes["one"], table, order=order)
        assert one, table
        for other in ("whole", "two", "busy", "idle"):
            assert repr(one) == repr(lake_rows(lakes[other], table, order=order)), (table, other)
    assert {r["status"] for r in lake_rows(lakes["two"], "gold/health")} >= {"warmup", "judged"}


def test_an_incremental_pass_writes_the_states_uncompressed_with_their_counts_and_no_pandas(
    tmp_path: Path,
) -> None:
    """The state table (pyarrow, uncompressed: tens of MB of floats rewritten every pass) holds each
    compressor's count of silver readings in the late window before `fed_until`, the states kept from
    the previous version included; the incremental pass imports no pandas (a comparison of an Arrow
    column with a Python string would: about 0.3 s of an hour's process)."""
    readings = degrading_fleet(days=3)
    split = ON_HOUR_START + timedelta(days=2, hours=5)
    landing = tmp_path / "landing" / "altaviz-demo"
    write_fleet(landing, ["COMP-001", "COMP-002"])
    land_readings(landing, "first.parquet", readings.filter(_between(readings, ON_HOUR_START, split)))
    run(settings_for(tmp_path), skip_db=True)
    # the next hour of COMP-001 only (COMP-002 sends nothing)
    hour = pc.and_(
        _between(readings, split, split + timedelta(hours=1)), pc.equal(readings["compressor_id"], "COMP-001")
    )
    land_readings(landing, "hour.parquet", readings.filter(hour))
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from altaviz.config import Settings\n"
        "from altaviz.pipeline.run import PipelineOptions, run_pipeline\n"
        "result = run_pipeline(Settings(data_dir=Path(sys.argv[1]), pipeline_threads=2), "
        "PipelineOptions(skip_db=True))\n"
        "print(result.organizations['altaviz-demo'].work, 'pandas' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["['incremental']", "False"]

    (states,) = Lake(tmp_path / "lake").table_files("gold/health_state")
    metadata = pq.ParquetFile(states).metadata
    chunks = [metadata.row_group(g).column(c) for g in range(metadata.num_row_groups) for c in range(6)]
    assert {c.compression for c in chunks} == {"UNCOMPRESSED"}
    rows = lake_rows(tmp_path, "gold/health_state", order="compressor_id")
    assert [r["compressor_id"] for r in rows] == ["COMP-001", "COMP-002"]
    silver = lake_rows(tmp_path, "silver/readings")
    for row in rows:
        window = (row["fed_until"] - timedelta(hours=health.LATE_WINDOW_HOURS), row["fed_until"])
        expected = sum(
            1
            for s in silver
            if s["compressor_id"] == row["compressor_id"] and window[0] <= s["timestamp"] < window[1]
        )
        assert row["recent_count"] == expected > 0


def test_the_late_windows_counts_from_one_scan_equal_the_counted(tmp_path: Path) -> None:
    """RecentCounts (the late window's silver per compressor and hour, scanned once an incremental pass)
    gives each compressor's readings in the late window before its `fed_until` as the SQL count does,
    over two days' files; a `fed_until` it does not cover (before its first hour, off the hour, another
    compressor) is counted by SQL."""
    start = datetime(2026, 12, 6, 18, tzinfo=UTC)
    rows: dict[str, list[Any]] = {"organization": [], "compressor_id": [], "timestamp": []}
    for c, every in (("COMP-001", 10), ("COMP-002", 7), ("COMP-003", 25)):
        for minute in range(0, 40 * 60, every):
            rows["organization"].append("acme")
            rows["compressor_id"].append(c)
            rows["timestamp"].append(start + timedelta(minutes=minute))
    table = pa.table(
        rows, schema=pa.schema([*[(k, pa.string()) for k in list(rows)[:2]], ("timestamp", health.TIME)])
    )
    silver = []
    for day in ("2026-12-06", "2026-12-07", "2026-12-08"):
        directory = tmp_path / "silver" / f"day={day}"
        directory.mkdir(parents=True)
        begin = datetime.fromisoformat(day).replace(tzinfo=UTC)
        in_day = pc.and_(
            pc.greater_equal(table["timestamp"], pa.scalar(begin, health.TIME)),
            pc.less(table["timestamp"], pa.scalar(begin + timedelta(days=1), health.TIME)),
        )
        pq.write_table(table.filter(in_day), directory / "part-0.parquet")
        silver.append(directory / "part-0.parquet")
    local = engine_module.DuckDBEngine(settings_for(tmp_path), tmp_path / "scratch")
    try:
        keys = [("acme", "COMP-001"), ("acme", "COMP-002")]
        first = int(start.timestamp()) // 3600 + 2
        recent = health.recent_counts(local, silver, keys, first)
        hour = 3600
        for fed in (first + 26, first + 30, first + 39, first + 60):
            fed_until = np.array([fed * hour, fed * hour], dtype=np.int64)
            counted = health._window_counts(local, silver, keys, fed_until, None)
            assert recent.counts(keys, fed_until) is not None
            assert health._window_counts(local, silver, keys, fed_until, recent).tolist() == counted.tolist()
            assert counted.min() > 0 or fed == first + 60
        uncovered = [
            (keys, np.array([(first + 25) * hour, (first + 30) * hour])),  # its window begins before `first`
            (keys, np.array([(first + 30) * hour + 60, (first + 30) * hour])),  # off the hour
            ([*keys[:1], ("acme", "COMP-003")], np.array([(first + 30) * hour] * 2)),  # not scanned
        ]
        for these, fed_until in uncovered:
            assert recent.counts(these, fed_until) is None
            counted = health._window_counts(local, silver, these, fed_until, recent)
            assert counted.tolist() == health._window_counts(local, silver, these, fed_until, None).tolist()
            assert counted.min() > 0
    finally:
        local.close()
