"""The dashboard's state in the operational database, kept by the pipeline's load (issue 17).

Two tables, so the web service never reads the lake and the fleet needs no aggregation per request:

- recent_readings: every reading of the last RECENT_HOURS hours (counted back from the lake's newest
  reading), with the pressure differential and the worst threshold status of the reading. Short
  chart ranges (1H, 4H) draw these 10-minute readings. Each load upserts the readings it brings and
  deletes those that fell out of the window; loading the same lake twice changes nothing.
- compressor_state: one row per compressor: its newest reading (real time, values, worst status) and
  its newest hourly aggregate (what a fleet row shows). Recomputed for the organization on every load
  from the database's own tables, so it always agrees with them.

Inputs: the gold/readings Parquet files of the organization (one row per reading, per-metric
`<metric>_status` columns from gold_readings.sql) and what `export.load` already wrote.
"""

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
from sqlalchemy import Table, and_, delete, func, select
from sqlalchemy.orm import Session

from altaviz.db.base import utcnow
from altaviz.db.bulk import upsert
from altaviz.monitoring.models import CompressorState, RecentReading, SensorReadingAgg
from altaviz.pipeline.engine import read_parquet

RECENT_HOURS = 48
DECIMALS = 6
VALUES = (
    "vibration_mms",
    "discharge_temp_f",
    "suction_pressure_psi",
    "discharge_pressure_psi",
    "horsepower_consumption",
    "gas_flow_mcf",
    "pressure_differential",
)
# Columns of gold/readings holding a per-metric status ('healthy', 'warning', 'critical').
STATUS_COLUMNS = tuple(f"{metric}_status" for metric in VALUES)
HOURLY = (
    "agg_timestamp",
    "vibration_mean",
    "vibration_max",
    "discharge_temp_mean",
    "discharge_temp_max",
    "suction_pressure_mean",
    "discharge_pressure_mean",
    "horsepower_mean",
    "gas_flow_mean",
    "pressure_delta_mean",
    "discharge_temp_rate_of_change",
    "reading_count",
    "missing_readings",
)
_DAY = re.compile(r"day=(\d{4}-\d{2}-\d{2})")


@dataclass(frozen=True)
class RecentReadings:
    rows: list[dict[str, Any]]
    # readings before this moment are no longer recent (None: the lake has no reading)
    cutoff: datetime | None


def _day(path: Path) -> date | None:
    found = _DAY.search(str(path))
    return date.fromisoformat(found.group(1)) if found else None


def read_recent(
    files: Sequence[Path], organization: str | None = None, since: datetime | None = None
) -> RecentReadings:
    """The readings of the last RECENT_HOURS hours of gold/readings `files` (only those from `since`
    on, when given: what the database already has is not read again), of `organization` where the
    files hold several organizations (an `organization` column)."""
    if not files:
        return RecentReadings([], None)
    days = [d for d in (_day(f) for f in files) if d is not None]
    if days:  # day partitions: only the last three days can hold the last 48 hours
        first = max(days) - timedelta(days=RECENT_HOURS // 24 + 1)
        files = [f for f in files if (_day(f) or first) >= first]
    worst = ", ".join(STATUS_COLUMNS)
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        source = read_parquet(files)
        columns = [d[0] for d in con.execute(f"SELECT * FROM {source} LIMIT 0").description or ()]
        if organization is not None and "organization" in columns:
            source = f"(SELECT * FROM {source} WHERE organization = {_text(organization)})"
        newest = con.execute(f"SELECT MAX(timestamp) FROM {source}").fetchone()
        if newest is None or newest[0] is None:
            return RecentReadings([], None)
        cutoff: datetime = newest[0] - timedelta(hours=RECENT_HOURS)
        start = max(cutoff, since) if since is not None else cutoff
        cursor = con.execute(
            f"""
            SELECT compressor_id, timestamp, {", ".join(VALUES)},
                   CASE WHEN 'critical' IN ({worst}) THEN 'critical'
                        WHEN 'warning' IN ({worst}) THEN 'warning'
                        ELSE 'healthy' END AS status
            FROM {source}
            WHERE timestamp >= ?
            ORDER BY compressor_id, timestamp
            """,
            [start],
        )
        names = [d[0] for d in cursor.description or ()]
        rows = [
            {k: round(v, DECIMALS) if isinstance(v, float) else v for k, v in zip(names, r, strict=True)}
            for r in cursor.fetchall()
        ]
        return RecentReadings(rows, cutoff)
    finally:
        con.close()


def _text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


@dataclass(frozen=True)
class StateCounts:
    recent: int
    removed_recent: int
    compressors: int


def load_dashboard_state(session: Session, organization_id: uuid.UUID, recent: RecentReadings) -> StateCounts:
    """Upsert the recent readings, trim those out of the window, recompute every compressor's state.

    Runs in the load's transaction, after the hourly aggregates and the compressors were written."""
    readings = RecentReading.__table__
    states = CompressorState.__table__
    assert isinstance(readings, Table) and isinstance(states, Table)
    rows = [{"organization_id": organization_id, **row} for row in recent.rows]
    key = ["organization_id", "compressor_id", "timestamp"]
    upsert(session, readings, rows, key, rows[0].keys() if rows else ())
    removed = 0
    if recent.cutoff is not None:
        result = session.execute(
            delete(RecentReading).where(
                RecentReading.organization_id == organization_id, RecentReading.timestamp < recent.cutoff
            )
        )
        removed = int(getattr(result, "rowcount", 0) or 0)
    current = _current_states(session, organization_id)
    key = ["organization_id", "compressor_id"]
    upsert(session, states, current, key, current[0].keys() if current else (), stamp="updated_at")
    return StateCounts(len(rows), removed, len(current))


def _current_states(session: Session, organization_id: uuid.UUID) -> list[dict[str, Any]]:
    """Each compressor's newest recent reading and newest hourly aggregate, read from the database.

    A compressor silent for longer than the recent window keeps the newest reading its state row
    already holds (its hourly aggregate still updates)."""
    r, h = RecentReading, SensorReadingAgg
    newest_reading = (
        select(r.compressor_id, func.max(r.timestamp).label("newest"))
        .where(r.organization_id == organization_id)
        .group_by(r.compressor_id)
        .subquery()
    )
    readings = {
        row.compressor_id: row
        for row in session.execute(
            select(r)
            .join(
                newest_reading,
                and_(
                    r.compressor_id == newest_reading.c.compressor_id, r.timestamp == newest_reading.c.newest
                ),
            )
            .where(r.organization_id == organization_id)
        ).scalars()
    }
    newest_hour = (
        select(h.compressor_id, func.max(h.agg_timestamp).label("newest"))
        .where(h.organization_id == organization_id, h.window_type == "1hr")
        .group_by(h.compressor_id)
        .subquery()
    )
    hourly = {
        row.compressor_id: row
        for row in session.execute(
            select(h)
            .join(
                newest_hour,
                and_(h.compressor_id == newest_hour.c.compressor_id, h.agg_timestamp == newest_hour.c.newest),
            )
            .where(h.organization_id == organization_id, h.window_type == "1hr")
        ).scalars()
    }
    kept = {
        row.compressor_id: row
        for row in session.execute(
            select(CompressorState).where(CompressorState.organization_id == organization_id)
        ).scalars()
    }
    now = utcnow()
    states = []
    for compressor_id in sorted(set(readings) | set(hourly)):
        reading = readings.get(compressor_id)
        source: Any = reading or kept.get(compressor_id)
        state: dict[str, Any] = {
            "organization_id": organization_id,
            "compressor_id": compressor_id,
            "last_reading_at": reading.timestamp if reading else (source.last_reading_at if source else None),
            **{name: getattr(source, name) if source else None for name in VALUES},
            "reading_status": (reading.status if reading else (source.reading_status if source else None)),
        }
        hour = hourly.get(compressor_id)
        state.update({name: getattr(hour, name) if hour else None for name in HOURLY})
        state["updated_at"] = now
        states.append(state)
    return states
