"""State-based alarm suppression (README "Alerts", alert_events.sql) on hand-built 10-minute series of
one compressor that stops and starts the way a real one does (helpers.stop_start_series).

Each suppression test also runs the same series with suppression off (ALERT_STOPPED_SHARE=0,
ALERT_SETTLE_MINUTES=0: every reading judged as running, the rule before it), which must alert, so the
series does exercise what is suppressed."""

from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
from sqlalchemy import select

from altaviz.accounts.models import Organization
from altaviz.alerts.models import AlertHistory
from altaviz.config import Settings
from altaviz.db.session import create_db_engine, session_factory
from altaviz.registry.models import ThresholdOverride
from tests.pipeline.helpers import (
    OFF_HOUR_START,
    Override,
    assert_equals_a_full_recomputation,
    cut_batches,
    lake_rows,
    land_readings,
    run,
    stop_start_series,
    write_fleet,
    write_readings,
)

STEP = timedelta(minutes=10)
# Vibration climbing fast (no reading out of line with its neighbours) and the unit stopping at 36.
TRIP = {33: {"vibration_mms": 5.8}, 34: {"vibration_mms": 5.9}, 35: {"vibration_mms": 6.3}}


def _at(i: int) -> Any:
    return OFF_HOUR_START + i * STEP


def _stop_start(
    before: int = 36, stopped: int = 24, after: int = 72, override: Override | None = None
) -> list[dict[str, Any]]:
    return stop_start_series(OFF_HOUR_START, before, stopped, after, override)


def _settings(data_dir: Path, suppression: bool = True, **values: Any) -> Settings:
    off: dict[str, Any] = {} if suppression else {"alert_stopped_share": 0.0, "alert_settle_minutes": 0}
    return Settings(data_dir=data_dir, pipeline_threads=2, **off, **values)


def _alerts(data_dir: Path, rows: list[dict[str, Any]], suppression: bool = True) -> list[dict[str, Any]]:
    landing = data_dir / "landing"
    write_fleet(landing)
    write_readings(landing, "readings.parquet", rows)
    run(_settings(data_dir, suppression), skip_db=True)
    return lake_rows(data_dir, "gold/alerts", order="started_at, metric")


def test_the_operating_state_is_read_off_the_readings(tmp_path: Path) -> None:
    _alerts(tmp_path, _stop_start())
    states = [r["operating_state"] for r in lake_rows(tmp_path, "gold/readings", order="timestamp")]
    # 240 minutes of settle after the last stopped reading (index 59): readings 60..82 are starting
    assert states == ["running"] * 36 + ["stopped"] * 24 + ["starting"] * 23 + ["running"] * 49


def test_a_stop_and_start_of_a_healthy_unit_raises_no_threshold_alert(tmp_path: Path) -> None:
    rows = _stop_start()
    unsuppressed = _alerts(tmp_path / "off", rows, suppression=False)
    # judged as running, the stop is a low-flow alert and the start a temperature-rate one
    assert {a["metric"] for a in unsuppressed} >= {"gas_flow_mcf", "temp_rate_of_change"}
    assert _alerts(tmp_path / "on", rows) == []
    # the values stay what they were: the stopped unit's flow is still a violation row, marked stopped
    violations = lake_rows(tmp_path / "on", "gold/violations", "metric = 'gas_flow_mcf'")
    assert violations and {v["operating_state"] for v in violations} == {"stopped"}


def test_a_start_crossing_a_limit_it_should_not_is_alerted_at_once(tmp_path: Path) -> None:
    """High vibration is not a start's transient: judged from the first running reading."""
    start = 60
    rows = _stop_start(override=lambda i: {"vibration_mms": 7.0} if i >= start else {})
    (episode,) = _alerts(tmp_path, rows)
    assert episode["metric"] == "vibration_mms"
    assert episode["started_at"] == _at(start) and episode["raised_at"] == _at(start + 1)


def test_a_low_flow_that_outlasts_the_settle_time_is_alerted_when_it_ends(tmp_path: Path) -> None:
    """A unit that restarts with a leak: its low flow is judged once the start's settle time is over."""
    rows = _stop_start(override=lambda i: {"gas_flow_mcf": 5000.0} if i >= 60 else {})
    (episode,) = _alerts(tmp_path, rows)
    assert episode["metric"] == "gas_flow_mcf"
    # readings 60..82 settle; 83 is the first judged one, 84 completes the on-delay
    assert episode["started_at"] == _at(83) and episode["raised_at"] == _at(84)


def test_a_running_units_violation_alerts_as_before(tmp_path: Path) -> None:
    """Low flow with the driver still loaded is a running fault (a leak), not a stop."""
    rows = _stop_start(stopped=0, override=lambda i: {"gas_flow_mcf": 5000.0} if 40 <= i < 50 else {})
    on = _alerts(tmp_path / "on", rows)
    off = _alerts(tmp_path / "off", rows, suppression=False)
    assert on == off
    (episode,) = on
    assert (episode["metric"], episode["started_at"], episode["raised_at"]) == (
        "gas_flow_mcf",
        _at(40),
        _at(41),
    )
    assert episode["returned_to_normal_at"] == _at(52)


def test_a_fault_that_trips_the_unit_stays_alerted_through_the_stop(tmp_path: Path) -> None:
    """Vibration climbs past its limits, the unit stops (trips), is repaired and runs again normally."""

    def bearing(i: int) -> dict[str, float]:
        return {"vibration_mms": 3.0 + 0.25 * (i - 20)} if 20 <= i < 36 else {}

    (episode,) = _alerts(tmp_path, _stop_start(override=bearing))
    # 3 + 0.25·(32 − 20) = 6.0 is the warning limit; critical (8.0) from reading 40, never reached
    assert episode["metric"] == "vibration_mms"
    assert episode["started_at"] == _at(32) and episode["raised_at"] == _at(33)
    assert episode["peak_value"] == 6.75  # the running readings' worst, not the stopped ones'
    assert episode["violation_count"] == 4
    # the stop neither extends nor clears it; the first three normal running readings after it do
    assert episode["returned_to_normal_at"] == _at(62)


def test_a_trip_opens_its_alert_before_the_on_delay(tmp_path: Path) -> None:
    """Vibration rises fast and the unit stops right after its first reading past the limit: it tripped
    on it. The same rise with the unit running on, back to normal after that reading, opens nothing (the
    on-delay); so does a glitch (a reading silver flags as a spike) right before an ordinary stop."""
    (episode,) = _alerts(tmp_path / "trip", _stop_start(override=lambda i: TRIP.get(i, {})))
    assert (episode["metric"], episode["severity"], episode["peak_value"]) == (
        "vibration_mms",
        "warning",
        6.3,
    )
    assert episode["started_at"] == episode["raised_at"] == _at(35)
    running_on = _stop_start(stopped=0, override=lambda i: TRIP.get(i, {}))
    assert _alerts(tmp_path / "running", running_on) == []
    glitch = {35: {"vibration_mms": 9.5}}
    assert _alerts(tmp_path / "glitch", _stop_start(override=lambda i: glitch.get(i, {}))) == []


def test_a_flow_falling_before_a_stop_is_no_trip(tmp_path: Path) -> None:
    """A unit run down before its stop passes its low-flow limit on the way: no alert."""
    ramp = {35: {"gas_flow_mcf": 3000.0, "horsepower_consumption": 700.0}}
    assert _alerts(tmp_path, _stop_start(override=lambda i: ramp.get(i, {}))) == []


def test_the_stopped_state_follows_the_organizations_limits(tmp_path: Path, sqlite_url: str) -> None:
    """A small unit (100 HP, 400 Mcf/day) would read as stopped against the default limits (180 HP,
    600 Mcf/day); with an organization's own limits it runs, and its vibration is judged."""
    small = {"horsepower_consumption": 100.0, "gas_flow_mcf": 400.0}
    rows = _stop_start(stopped=0, override=lambda i: {**small, "vibration_mms": 7.0} if i >= 50 else small)
    assert _alerts(tmp_path / "defaults", rows) == []
    data_dir = tmp_path / "own"
    settings = _settings(data_dir, database_url=sqlite_url)
    write_fleet(data_dir / "landing")
    write_readings(data_dir / "landing", "readings.parquet", rows)
    run(settings)  # the organization and its compressor now exist
    _limits(settings, {"horsepower_consumption": (150.0, None), "gas_flow_mcf": (300.0, None)})
    run(settings)
    (episode,) = lake_rows(data_dir, "gold/alerts")
    assert episode["metric"] == "vibration_mms" and episode["raised_at"] == _at(51)


def _limits(settings: Settings, limits: dict[str, tuple[float, float | None]]) -> None:
    engine = create_db_engine(settings.sqlalchemy_url, settings)
    with session_factory(engine).begin() as session:
        org = session.scalars(
            select(Organization).where(Organization.slug == settings.default_organization)
        ).one()
        for metric, (warning, critical) in limits.items():
            session.add(
                ThresholdOverride(
                    organization_id=org.id,
                    scope_type="organization",
                    scope_id="",
                    metric=metric,
                    warning=warning,
                    critical=critical,
                )
            )
    engine.dispose()


def test_incremental_runs_equal_a_full_run_across_stops(tmp_path: Path) -> None:
    """Batches cut inside a stop, just after a start and 2.5 h into the settle time (further back than
    the temperature rate's two hours of context): the same states and episodes as one full run."""
    rows = _stop_start(override=lambda i: TRIP.get(i, {})) + [
        {**r, "timestamp": r["timestamp"] + 132 * STEP}
        for r in _stop_start(override=lambda i: {"gas_flow_mcf": 5000.0} if i >= 60 else {})
    ]
    table = pa.Table.from_pylist([{**r, "operating_hours": 0.0} for r in rows])
    landing = tmp_path / "data" / "landing"
    write_fleet(landing)
    settings = _settings(tmp_path / "data")
    cuts = [_at(36), _at(45), _at(61), _at(75), _at(132 + 62), _at(132 + 74)]
    for k, batch in enumerate(cut_batches(table, cuts)):
        land_readings(landing, f"batch-{k}.parquet", batch)
        result = run(settings, skip_db=True)
        if k:
            assert result.organizations[settings.default_organization].work == ["incremental"]
    alerts = lake_rows(tmp_path / "data", "gold/alerts", order="started_at")
    assert [(a["metric"], a["raised_at"]) for a in alerts] == [
        ("vibration_mms", _at(35)),
        ("gas_flow_mcf", _at(132 + 84)),
    ]
    assert_equals_a_full_recomputation(tmp_path / "data", tmp_path / "full")


def test_a_stop_loads_no_alert_into_the_database(tmp_path: Path, db_url: str) -> None:
    """The operational database (SQLite and PostgreSQL) gets the trip's alert and nothing of the
    healthy stops."""
    rows = _stop_start(override=lambda i: TRIP.get(i, {})) + [
        {**r, "timestamp": r["timestamp"] + 132 * STEP} for r in _stop_start()
    ]
    settings = _settings(tmp_path, database_url=db_url)
    write_fleet(tmp_path / "landing")
    write_readings(tmp_path / "landing", "readings.parquet", rows)
    run(settings)
    engine = create_db_engine(settings.sqlalchemy_url, settings)
    with session_factory(engine)() as session:
        alerts = [(a.compressor_id, a.condition, a.severity) for a in session.scalars(select(AlertHistory))]
    engine.dispose()
    assert alerts == [("COMP-001", "vibration_mms", "warning")]
