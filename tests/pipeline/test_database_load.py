"""Loading gold into the operational database, on SQLite and PostgreSQL: counts, idempotence,
atomicity, what people did surviving re-runs, and bad input leaving the database untouched."""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest
from sqlalchemy import Engine, MetaData, select, text, update

from altaviz.alerts.kinds import EARLY_WARNING_TYPES
from altaviz.alerts.models import AlertHistory
from altaviz.db.session import create_db_engine, session_scope
from altaviz.monitoring.models import PipelineRun
from altaviz.pipeline import database
from altaviz.pipeline.run import PipelineError
from tests.pipeline.helpers import copy_landing, run, settings_for

DATA_TABLES = (
    "organizations",
    "station_locations",
    "compressor_metadata",
    "maintenance_events",
    "sensor_readings_agg",
    "alert_history",
    "data_quality_metrics",
    "billing_events",
)
# Columns that differ between two databases loaded with the same data: surrogate keys (a registered
# model's id too) and load times
# (a quality check is stamped with the time its input was loaded, and freshness is measured from it).
VOLATILE = {"id", "organization_id", "model_id", "created_at", "updated_at", "metric_timestamp"}
# Every load bumps its organization's data version (the web service's cue that cached answers are
# old), even a load that changes nothing: a count of loads, not data.
LOAD_COUNTERS = {"data_version"}


def snapshot(engine: Engine, portable: bool = False) -> dict[str, list[tuple[Any, ...]]]:
    """Every data table's rows, sorted; `portable` drops the columns that vary between databases."""
    meta = MetaData()
    meta.reflect(engine, only=DATA_TABLES)
    result = {}
    with engine.connect() as connection:
        for name in DATA_TABLES:
            table = meta.tables[name]
            columns = [
                c
                for c in table.columns
                if c.name not in LOAD_COUNTERS and not (portable and c.name in VOLATILE)
            ]
            rows = [tuple(_naive_utc(v) for v in r) for r in connection.execute(select(*columns)).all()]
            if portable and name == "data_quality_metrics":
                rows = [r for r in rows if "freshness" not in r]
            result[name] = sorted(rows, key=repr)
    return result


def _naive_utc(value: Any) -> Any:
    """Reflected tables give SQLite timestamps without a zone and PostgreSQL's with one: compare in UTC."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


@pytest.fixture
def loaded(default_landing: Path, tmp_path: Path, db_url: str) -> Iterator[tuple[Path, str, Engine]]:
    data_dir = copy_landing(default_landing, tmp_path)
    engine = create_db_engine(db_url)
    yield data_dir, db_url, engine
    engine.dispose()


def test_load_counts(loaded: tuple[Path, str, Engine]) -> None:
    data_dir, url, engine = loaded
    result = run(settings_for(data_dir, url))
    assert result.loaded is not None
    snap = snapshot(engine)
    assert len(snap["organizations"]) == 1
    assert len(snap["station_locations"]) == 4
    assert len(snap["compressor_metadata"]) == 10
    assert (
        len(snap["maintenance_events"]) == 11
    )  # 10 scheduled + COMP-007's failure (COMP-003's is after day 7)
    assert len(snap["sensor_readings_agg"]) == 1_690
    # the run's report counts threshold alerts; the health model's early warnings come beside them,
    # on the failing unit only (a week of the demo fleet: COMP-003 after its warm-up)
    with session_scope(engine) as session:
        alerts = session.execute(select(AlertHistory.compressor_id, AlertHistory.alert_type)).all()
    assert len(alerts) == len(snap["alert_history"])
    threshold = [a for a in alerts if a.alert_type.startswith("threshold_")]
    assert len(threshold) == result.summary.alerts["total"]
    early = {(a.compressor_id, a.alert_type) for a in alerts if not a.alert_type.startswith("threshold_")}
    assert early <= {("COMP-003", "anomaly"), ("COMP-003", "prediction")}
    assert len(snap["data_quality_metrics"]) == 4 * 11  # four checks for the fleet and each compressor
    with session_scope(engine) as session:
        runs = session.scalars(select(PipelineRun)).all()
        assert [(r.status, r.report) for r in runs] == [("succeeded", result.summary.text())]
        critical = session.scalars(select(AlertHistory).where(AlertHistory.severity == "critical")).all()
        assert {a.compressor_id for a in critical} >= {"COMP-007"}
        assert all(a.message and "critical threshold" in a.message for a in critical)


def test_the_load_reads_the_lake_on_one_connection(
    loaded: tuple[Path, str, Engine], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The load's reads of the lake (gold, the recent readings, the health tables) share one DuckDB
    connection, to the module's in-memory database: no database of their own (opening one costs 15-25
    ms of CPU, a tenth of a seed-size load)."""
    data_dir, url, _ = loaded
    loading: list[bool] = []
    opened: list[bool] = []
    real_load, real_connect = database.load_lake, duckdb.connect

    def load_lake(*args: Any, **kwargs: Any) -> Any:
        loading.append(True)
        try:
            return real_load(*args, **kwargs)
        finally:
            loading.pop()

    def connect(*args: Any, **kwargs: Any) -> duckdb.DuckDBPyConnection:
        opened.append(bool(loading))
        return real_connect(*args, **kwargs)

    monkeypatch.setattr(database, "load_lake", load_lake)
    monkeypatch.setattr(duckdb, "connect", connect)
    assert run(settings_for(data_dir, url)).loaded is not None
    assert opened.count(True) == 0


def test_rerun_leaves_identical_tables(loaded: tuple[Path, str, Engine]) -> None:
    data_dir, url, engine = loaded
    run(settings_for(data_dir, url))
    first = snapshot(engine)
    run(settings_for(data_dir, url))
    assert snapshot(engine) == first
    run(settings_for(data_dir, url), skip_bronze=True, skip_silver=True, skip_gold=True)
    assert snapshot(engine) == first


def test_acknowledgements_and_resolutions_survive_reruns(loaded: tuple[Path, str, Engine]) -> None:
    data_dir, url, engine = loaded
    run(settings_for(data_dir, url))
    when = datetime(2026, 1, 9, 12, 0, tzinfo=UTC)
    with session_scope(engine) as session:
        first, second = session.scalars(select(AlertHistory).order_by(AlertHistory.id).limit(2)).all()
        session.execute(
            update(AlertHistory)
            .where(AlertHistory.id == first.id)
            .values(acknowledged=True, acknowledged_by="op@example.com", acknowledged_at=when)
        )
        session.execute(
            update(AlertHistory)
            .where(AlertHistory.id == second.id)
            .values(
                resolved=True,
                resolved_by="lead@example.com",
                resolved_at=when,
                resolution_note="bearing replaced",
            )
        )
        ids = (first.id, second.id)
    before = snapshot(engine)
    run(settings_for(data_dir, url))
    assert snapshot(engine) == before
    with session_scope(engine) as session:
        a, b = (session.get_one(AlertHistory, i) for i in ids)
        assert (a.acknowledged, a.acknowledged_by, a.acknowledged_at) == (True, "op@example.com", when)
        assert (b.resolved, b.resolved_by, b.resolution_note) == (
            True,
            "lead@example.com",
            "bearing replaced",
        )


def test_an_escalation_survives_reruns(loaded: tuple[Path, str, Engine]) -> None:
    """Escalation is a workflow's decision: a reload keeps it critical, and never removes the episode."""
    data_dir, url, engine = loaded
    run(settings_for(data_dir, url))
    when = datetime(2026, 1, 9, 12, 0, tzinfo=UTC)
    with session_scope(engine) as session:
        # a threshold warning (the escalation workflow leaves early warnings as warnings), the same
        # one on every backend
        warning = session.scalars(
            select(AlertHistory)
            .where(AlertHistory.severity == "warning", AlertHistory.alert_type.not_in(EARLY_WARNING_TYPES))
            .order_by(AlertHistory.alert_timestamp, AlertHistory.compressor_id, AlertHistory.condition)
        ).first()
        assert warning is not None
        session.execute(
            update(AlertHistory)
            .where(AlertHistory.id == warning.id)
            .values(severity="critical", alert_type="threshold_critical", escalated_at=when)
        )
        escalated = warning.id
    run(settings_for(data_dir, url), skip_bronze=True, full=True)
    with session_scope(engine) as session:
        alert = session.get_one(AlertHistory, escalated)
        assert (alert.severity, alert.alert_type, alert.escalated_at) == (
            "critical",
            "threshold_critical",
            when,
        )


def test_no_landing_files_fails_clearly_and_leaves_the_database_untouched(
    loaded: tuple[Path, str, Engine],
) -> None:
    data_dir, url, engine = loaded
    run(settings_for(data_dir, url))
    before = snapshot(engine)
    for path in (data_dir / "landing" / "readings").glob("*.parquet"):
        path.unlink()
    with pytest.raises(PipelineError, match="no landing files"):
        run(settings_for(data_dir, url))
    assert snapshot(engine) == before
    with session_scope(engine) as session:
        last = session.scalars(select(PipelineRun).order_by(PipelineRun.started_at.desc())).first()
        assert last is not None and last.status == "failed" and "no" in (last.error or "")


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("wrong_schema", "column vibration_mms is VARCHAR, expected a number"),
        ("corrupt", "is truncated or damaged"),
    ],
)
def test_a_bad_file_is_set_aside_and_leaves_the_database_untouched(
    loaded: tuple[Path, str, Engine], damage: str, message: str
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    data_dir, url, engine = loaded
    run(settings_for(data_dir, url))
    before = snapshot(engine)
    readings = sorted((data_dir / "landing" / "readings").glob("*.parquet"))
    if damage == "wrong_schema":
        table = pq.read_table(readings[0])
        column = pa.array([str(v) for v in table["vibration_mms"].to_pylist()])
        pq.write_table(table.set_column(2, "vibration_mms", column), readings[0])
    else:
        readings[0].write_bytes(b"PAR1 this is not parquet")
    result = run(settings_for(data_dir, url))
    [aside] = result.organizations["altaviz-demo"].set_aside
    assert message in aside and not readings[0].exists()
    assert (data_dir / "landing" / "quarantine" / readings[0].name).exists()
    assert snapshot(engine) == before  # what it held before is what the lake still holds


def _cli(data_dir: Path, url: str, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "ALTAVIZ_DATA_DIR": str(data_dir), "DATABASE_URL": url}
    return subprocess.Popen(
        [sys.executable, "-m", "altaviz", *args],
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def test_cli_reports_and_fails_with_exit_code(loaded: tuple[Path, str, Engine]) -> None:
    data_dir, url, _ = loaded
    done = _cli(data_dir, url, "pipeline", "run")
    out, err = done.communicate(timeout=120)
    assert done.returncode == 0, err
    assert "10,080 readings → 1,690 hourly aggregates (83% reduction)" in " ".join(out.split())
    for path in (data_dir / "landing" / "readings").glob("*.parquet"):
        path.unlink()
    failed = _cli(data_dir, url, "pipeline", "run")
    out, err = failed.communicate(timeout=120)
    assert failed.returncode == 1
    assert "error:" in err and "no landing files" in " ".join(err.split())


def test_killed_load_leaves_no_partial_data(
    loaded: tuple[Path, str, Engine],
    db_backend: str,
    default_landing: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """SIGKILL while the database load is inside its transaction, then re-run: one clean run's state."""
    data_dir, url, engine = loaded
    reference_dir = copy_landing(default_landing, tmp_path_factory.mktemp("reference"))
    reference_url = f"sqlite:///{reference_dir / 'reference.db'}"
    run(settings_for(reference_dir, reference_url))
    reference_engine = create_db_engine(reference_url)
    clean = snapshot(reference_engine, portable=True)
    reference_engine.dispose()

    if db_backend == "postgresql":
        _kill_while_blocked_inside_the_load(data_dir, url, engine)
    else:
        _kill_at_increasing_delays(data_dir, url, engine, clean)
    after_kill = snapshot(engine, portable=True)
    assert after_kill["sensor_readings_agg"] in ([], clean["sensor_readings_agg"])
    done = _cli(data_dir, url, "pipeline", "run")
    assert done.wait(timeout=120) == 0
    assert snapshot(engine, portable=True) == clean
    with session_scope(engine) as session:
        statuses = sorted(r.status for r in session.scalars(select(PipelineRun)))
        assert "succeeded" in statuses and "running" not in statuses


def _kill_while_blocked_inside_the_load(data_dir: Path, url: str, engine: Engine) -> None:
    """Hold a lock on alert_history so the load stops after writing the hourly aggregates, then kill it."""
    with engine.connect() as blocker:
        blocker.execute(text("LOCK TABLE alert_history IN EXCLUSIVE MODE"))
        process = _cli(data_dir, url, "pipeline", "run")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with engine.connect() as probe:
                waiting = probe.execute(
                    text(
                        # this database only: parallel test workers block in databases of their own
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                        "AND wait_event_type = 'Lock' AND query ILIKE '%alert_history%' "
                        "AND pid <> pg_backend_pid()"
                    )
                ).scalar_one()
            if waiting:
                break
            time.sleep(0.05)
        else:
            process.kill()
            pytest.fail("the load never reached alert_history")
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        blocker.rollback()
    with engine.connect() as probe:  # the killed backend's transaction is gone: nothing of it committed
        assert probe.execute(text("SELECT count(*) FROM sensor_readings_agg")).scalar_one() == 0


def _kill_at_increasing_delays(data_dir: Path, url: str, engine: Engine, clean: dict[str, Any]) -> None:
    """SQLite locks the whole file, so the load cannot be held mid-way from outside: kill at a range of
    moments instead and check after each that the database holds nothing or exactly one run's data."""
    for delay in (0.5, 0.8, 1.1, 1.4, 1.7, 2.0, 2.4, 2.8):
        process = _cli(data_dir, url, "pipeline", "run")
        time.sleep(delay)
        if process.poll() is not None:
            break
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        state = snapshot(engine, portable=True)
        assert state["sensor_readings_agg"] in ([], clean["sensor_readings_agg"])
        assert state["alert_history"] in ([], clean["alert_history"])
