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
from collections.abc import Collection, Sequence
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
    files: Sequence[Path],
    organization: str | None = None,
    since: datetime | None = None,
    con: duckdb.DuckDBPyConnection | None = None,
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
    own = con is None  # else the caller's connection, its time zone UTC
    if con is None:
        con = duckdb.connect()
    try:
        if own:
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
        if own:
            con.close()


def _text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


@dataclass(frozen=True)
class StateCounts:
    recent: int
    removed_recent: int
    compressors: int


def load_dashboard_state(
    session: Session,
    organization_id: uuid.UUID,
    recent: RecentReadings,
    since: datetime | None = None,
    hourly_compressors: Collection[str] = (),
) -> StateCounts:
    """Upsert the recent readings, trim those out of the window, recompute the compressors' states.

    Runs in the load's transaction, after the hourly aggregates and the compressors were written.
    `since` None: the load brought everything, every compressor's state is recomputed. Else it
    brought the readings and hourly rows from `since` on: the states recomputed are those of the
    compressors with a reading in `recent` or in `hourly_compressors` (hourly rows written or removed),
    plus any with a reading or hourly row from `since` on in the database; no other compressor's
    newest reading or hour can have changed (trimming never removes a compressor's newest reading:
    a compressor silent for the whole window keeps the one its state row holds)."""
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
    changed = None if since is None else {r["compressor_id"] for r in recent.rows} | set(hourly_compressors)
    current = _current_states(session, organization_id, since, changed)
    key = ["organization_id", "compressor_id"]
    upsert(session, states, current, key, current[0].keys() if current else (), stamp="updated_at")
    return StateCounts(len(rows), removed, len(current))


# Compressors named per IN list (SQLite allows 32,766 bound parameters, PostgreSQL 65,535).
IN_LIST = 5_000


def _newest(
    session: Session,
    table: Table,
    time_column: str,
    organization_id: uuid.UUID,
    since: datetime | None,
    compressors: Sequence[str] | None,
    where: Any = None,
) -> dict[str, Any]:
    """Each compressor's newest row of `table` (by `time_column`): among the rows from `since` on
    (all if None), of `compressors` only (all if None), as {compressor_id: row}."""
    if compressors is not None and len(compressors) > IN_LIST:
        found: dict[str, Any] = {}
        for start in range(0, len(compressors), IN_LIST):
            part = compressors[start : start + IN_LIST]
            found.update(_newest(session, table, time_column, organization_id, since, part, where))
        return found
    t = table.c
    mine = [t.organization_id == organization_id, *([] if where is None else [where])]
    conditions = list(mine)
    if since is not None:
        conditions.append(t[time_column] >= since)
    if compressors is not None:
        if not compressors:
            return {}
        conditions.append(t.compressor_id.in_(compressors))
    newest = (
        select(t.compressor_id, func.max(t[time_column]).label("newest"))
        .where(*conditions)
        .group_by(t.compressor_id)
        .subquery()
    )
    query = (
        select(table)
        .join(newest, and_(t.compressor_id == newest.c.compressor_id, t[time_column] == newest.c.newest))
        .where(*mine)
    )
    return {row.compressor_id: row for row in session.execute(query)}


def _current_states(
    session: Session, organization_id: uuid.UUID, since: datetime | None, changed: set[str] | None
) -> list[dict[str, Any]]:
    """The state rows of the compressors to recompute (every compressor when `changed` is None; see
    load_dashboard_state): each one's newest recent reading and newest hourly aggregate, read from
    the database. A compressor silent for longer than the recent window keeps the newest reading its
    state row already holds (its hourly aggregate still updates). Rows from `since` on are looked up
    by time (an index), the few others of the changed compressors by compressor."""
    readings_table, hourly_table, states_table = (
        RecentReading.__table__,
        SensorReadingAgg.__table__,
        CompressorState.__table__,
    )
    assert isinstance(readings_table, Table) and isinstance(hourly_table, Table)
    assert isinstance(states_table, Table)
    hour_only = hourly_table.c.window_type == "1hr"
    readings = _newest(session, readings_table, "timestamp", organization_id, since, None)
    hourly = _newest(session, hourly_table, "agg_timestamp", organization_id, since, None, hour_only)
    wanted = set(readings) | set(hourly)
    if changed is not None:
        wanted |= changed
        older = sorted(changed - set(readings))
        readings.update(_newest(session, readings_table, "timestamp", organization_id, None, older))
        older = sorted(changed - set(hourly))
        hourly.update(
            _newest(session, hourly_table, "agg_timestamp", organization_id, None, older, hour_only)
        )
    silent = sorted(c for c in wanted if c not in readings)
    kept: dict[str, Any] = {}
    for start in range(0, len(silent), IN_LIST):
        part = silent[start : start + IN_LIST]
        for row in session.execute(
            select(states_table).where(
                states_table.c.organization_id == organization_id, states_table.c.compressor_id.in_(part)
            )
        ):
            kept[row.compressor_id] = row
    now = utcnow()
    states = []
    for compressor_id in sorted(c for c in wanted if c in readings or c in hourly):
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
