"""The health stage's lake tables → the operational database, in the organization's load transaction.

- compressor_health: the hourly rows from the load's start (all of them on a whole load), upserted;
- compressor_predictions: the organization's rows replaced by the lake's (none unless its plan has
  predictions: Enterprise, SPEC §5);
- alert_history: early-warning episodes as alerts of alert_type 'anomaly' and 'prediction' (the latter
  only with predictions in the plan), severity 'warning', source 'health', written in the columns the
  pipeline owns only (acknowledgements, shelving and resolutions stand); an episode the lake no longer
  has (recomputed away) is removed unless someone acted on it;
- related_alert_id: a threshold alert that starts while an early warning of the same compressor and
  sensor is open, or within LINK_HOURS after it returned to normal, points to it (the latest such);
- compressor_state: each compressor's newest health index and status.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import duckdb
from sqlalchemy import Table, and_, bindparam, delete, func, or_, select
from sqlalchemy.orm import Session

from altaviz.accounts.models import Organization
from altaviz.accounts.plans import plan_for
from altaviz.alerts.models import PIPELINE_OWNED_COLUMNS, AlertHistory
from altaviz.db.bulk import BATCH, upsert
from altaviz.health.models import CompressorHealth, CompressorPrediction
from altaviz.monitoring.models import CompressorState
from altaviz.pipeline.engine import read_parquet, sql_text
from altaviz.pipeline.health import EARLY_WARNINGS, EPISODES, HEALTH, PREDICTIONS
from altaviz.pipeline.lake import Lake

SOURCE = "health"
# A threshold alert this long after an early warning returned to normal still continues its story.
LINK_HOURS = 72
HEALTH_COLUMNS = "compressor_id, hour, health_index, status, drivers"


@dataclass(frozen=True)
class HealthRows:
    hourly: list[dict[str, Any]]
    predictions: list[dict[str, Any]]
    episodes: list[dict[str, Any]]


def read_health(
    lake: Lake, organization: str, since: datetime | None, con: duckdb.DuckDBPyConnection
) -> HealthRows:
    """One organization's rows of the health tables (empty before the stage's first run), on the
    caller's connection (its time zone UTC: a connection costs 15-25 ms of CPU)."""
    manifest = lake.read_manifest()
    mine = f"organization = {sql_text(organization)}"

    def rows(
        table: str, where: str = "TRUE", columns: str = "* EXCLUDE (organization)"
    ) -> list[dict[str, Any]]:
        if not lake.has_table(table, manifest):
            return []
        files = lake.table_files(table, manifest)
        cursor = con.execute(f"SELECT {columns} FROM {read_parquet(files)} WHERE {mine} AND {where}")
        names = [d[0] for d in cursor.description or ()]
        return [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]

    since_sql = "TRUE" if since is None else f"hour >= TIMESTAMPTZ '{since.isoformat()}'"
    # Of the health rows only what compressor_health holds (not the day, anomaly and prediction flags:
    # each column fetched is a Python object per row, the hour a time-zone-aware datetime).
    return HealthRows(rows(HEALTH, since_sql, HEALTH_COLUMNS), rows(PREDICTIONS), rows(EPISODES))


def load_health(session: Session, organization_id: uuid.UUID, health: HealthRows) -> None:
    org = {"organization_id": organization_id}
    tier = session.scalar(select(Organization.subscription_tier).where(Organization.id == organization_id))
    predicts = plan_for(str(tier)).predictions
    hourly = [{**org, **row} for row in health.hourly]
    key = ["organization_id", "compressor_id", "hour"]
    upsert(session, CompressorHealth, hourly, key, ("health_index", "status", "drivers"))

    session.execute(
        delete(CompressorPrediction).where(CompressorPrediction.organization_id == organization_id)
    )
    predictions = [{**org, **row} for row in health.predictions] if predicts else []
    table = _core(CompressorPrediction)
    for start in range(0, len(predictions), BATCH):
        session.execute(table.insert(), predictions[start : start + BATCH])

    kinds = EARLY_WARNINGS if predicts else ("anomaly",)
    alerts = [_alert_row(organization_id, e) for e in health.episodes if e["alert_type"] in kinds]
    escalated = AlertHistory.escalated_at.is_not(None)
    upsert(
        session,
        AlertHistory,
        alerts,
        ["organization_id", "compressor_id", "condition", "alert_timestamp"],
        (*PIPELINE_OWNED_COLUMNS, "sensor_name"),
        stamp="updated_at",
        kept_when={"severity": escalated},
    )
    _remove_stale(session, organization_id, alerts)
    _link(session, organization_id)
    _state(session, organization_id, min((row["hour"] for row in hourly), default=None))


def _alert_row(organization_id: uuid.UUID, episode: dict[str, Any]) -> dict[str, Any]:
    hours = (episode["last_flagged_at"] - episode["started_at"]) / timedelta(hours=1)
    return {
        "organization_id": organization_id,
        "compressor_id": episode["compressor_id"],
        "condition": episode["alert_type"],
        "alert_type": episode["alert_type"],
        "severity": "warning",
        "sensor_name": episode["sensor"],
        "alert_timestamp": episode["started_at"],
        # the flag is known once its hour is complete
        "raised_at": episode["started_at"] + timedelta(hours=1),
        "last_violation_at": episode["last_flagged_at"],
        "returned_to_normal_at": episode["returned_to_normal_at"],
        "is_active": bool(episode["is_active"]),
        "sensor_value": episode["value"],
        "threshold_value": episode["threshold_value"],
        "message": episode["message"],
        "violation_count": int(hours) + 1,
        "source": SOURCE,
    }


def _remove_stale(session: Session, organization_id: uuid.UUID, alerts: list[dict[str, Any]]) -> None:
    """Early warnings the lake no longer has (or the plan no longer shows), unless someone acted on them."""
    t = AlertHistory
    keep = {(a["compressor_id"], a["condition"], a["alert_timestamp"]) for a in alerts}
    existing = session.execute(
        select(t.id, t.compressor_id, t.condition, t.alert_timestamp).where(
            t.organization_id == organization_id,
            t.source == SOURCE,
            t.acknowledged.is_(False),
            t.resolved.is_(False),
            t.shelved_until.is_(None),
            t.escalated_at.is_(None),
            t.notified_at.is_(None),
        )
    ).all()
    stale = [r.id for r in existing if (r.compressor_id, r.condition, r.alert_timestamp) not in keep]
    for start in range(0, len(stale), BATCH):
        session.execute(delete(t).where(t.id.in_(stale[start : start + BATCH])))


def _link(session: Session, organization_id: uuid.UUID) -> None:
    """Threshold alerts not yet linked → the early warning of their compressor and sensor before them."""
    t = AlertHistory
    warnings: dict[tuple[str, str | None], list[Any]] = {}
    for row in session.execute(
        select(t.id, t.compressor_id, t.sensor_name, t.alert_timestamp, t.returned_to_normal_at).where(
            t.organization_id == organization_id, t.alert_type.in_(EARLY_WARNINGS)
        )
    ):
        warnings.setdefault((row.compressor_id, row.sensor_name), []).append(row)
    if not warnings:
        return
    links = []
    for alert_id, compressor_id, sensor, started in session.execute(
        select(t.id, t.compressor_id, t.sensor_name, t.alert_timestamp).where(
            t.organization_id == organization_id,
            t.alert_type.in_(("threshold_warning", "threshold_critical")),
            t.related_alert_id.is_(None),
        )
    ):
        candidates = [
            w
            for w in warnings.get((compressor_id, sensor), [])
            if w.alert_timestamp <= started
            and (
                w.returned_to_normal_at is None
                or started - w.returned_to_normal_at <= timedelta(hours=LINK_HOURS)
            )
        ]
        if candidates:
            links.append(
                {"alert_id": alert_id, "related": max(candidates, key=lambda w: w.alert_timestamp).id}
            )
    if links:
        alerts = _core(AlertHistory)
        session.execute(
            alerts.update()
            .where(alerts.c.id == bindparam("alert_id"))
            .values(related_alert_id=bindparam("related")),
            links,
        )


def _state(session: Session, organization_id: uuid.UUID, since: datetime | None) -> None:
    """compressor_state's health columns: each compressor's newest health row, for the compressors with
    health rows from `since` (the load's oldest hour; None: the load brought none), found through the
    (organization, hour) index. A compressor the load brought no row of keeps the state it has."""
    if since is None:
        return
    h = CompressorHealth
    newest = (
        select(h.compressor_id, func.max(h.hour).label("hour"))
        .where(h.organization_id == organization_id, h.hour >= since)
        .group_by(h.compressor_id)
        .subquery()
    )
    rows = session.execute(
        select(h.compressor_id, h.health_index, h.status)
        .join(newest, and_(h.compressor_id == newest.c.compressor_id, h.hour == newest.c.hour))
        .where(h.organization_id == organization_id)
    ).all()
    if not rows:
        return
    states = _core(CompressorState)
    session.execute(
        states.update()
        .where(
            states.c.organization_id == organization_id,
            states.c.compressor_id == bindparam("compressor"),
            or_(  # touched (updated_at) only when it changed: a reload changes nothing
                states.c.health_index.is_distinct_from(bindparam("index")),
                states.c.health_status.is_distinct_from(bindparam("status")),
            ),
        )
        .values(health_index=bindparam("index"), health_status=bindparam("status")),
        [{"compressor": c, "index": i, "status": st} for c, i, st in rows],
    )


def _core(model: Any) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table
