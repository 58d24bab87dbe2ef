"""Gold → operational database, for one organization, in one transaction.

Metadata goes before facts (foreign keys). Every table is upserted on its natural key, so loading
the same gold twice leaves the tables exactly as one load does; a load that dies before COMMIT leaves
nothing behind. Alert rows are written only in the columns the pipeline owns: acknowledgements,
resolutions and shelving done by people survive every re-run.

Reference data from landing fleet files (stations and compressors, maintenance) is applied only when
the file is new to the organization's database: each applied file's digest is recorded in the audit
log (`fleet.file.apply`, in the load's transaction), and a load whose lake holds the same files
leaves the registry alone. So the registry is the source of truth for every edit made after a file
was applied (a station moved, a compressor archived or deleted stays so), and a newly landed file
applies its values over the rows it names.
"""

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import duckdb
from sqlalchemy import and_, delete, select
from sqlalchemy.orm import Session

from altaviz.accounts.audit import AuditLog
from altaviz.accounts.auditing import audit_system
from altaviz.accounts.scoping import OrgScope, scoped
from altaviz.alerts.models import PIPELINE_OWNED_COLUMNS, AlertHistory
from altaviz.db.bulk import BATCH, insert_new, upsert
from altaviz.fleet.thresholds import THRESHOLDS_BY_METRIC
from altaviz.monitoring.models import (
    CompressorMetadata,
    DataQualityMetric,
    MaintenanceEvent,
    SensorReadingAgg,
    StationLocation,
)
from altaviz.pipeline.engine import read_parquet, sql_text
from altaviz.pipeline.lake import Lake, LakeError
from altaviz.registry.adoption import adopt_models

# Aggregates are display values; rounding them keeps re-runs bit-identical although a parallel
# engine may sum floating-point numbers in a different order each time.
DECIMALS = 6
QUALITY_METRICS = ("freshness", "completeness", "consistency", "accuracy")


@dataclass(frozen=True)
class GoldTables:
    stations: list[dict[str, Any]]
    compressors: list[dict[str, Any]]
    maintenance: list[dict[str, Any]]
    hourly: list[dict[str, Any]]
    alerts: list[dict[str, Any]]
    quality: list[dict[str, Any]]
    fingerprint: str
    # first and last hour of the lake's hourly table (alerts are loaded whole: they may start anywhere in it)
    span: tuple[datetime, datetime] | None = None
    # reference table -> digest of the landing file its rows come from (OrganizationState.fleet)
    fleet_files: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class LoadCounts:
    stations: int
    compressors: int
    maintenance: int
    hourly: int
    alerts: int
    quality: int
    removed_hourly: int
    removed_alerts: int
    # the compressors whose hourly rows this load wrote or removed (their state is recomputed)
    hourly_compressors: frozenset[str] = frozenset()


def read_gold(
    lake: Lake,
    organization: str,
    hourly_since: datetime | None = None,
    con: duckdb.DuckDBPyConnection | None = None,
) -> GoldTables:
    """One organization's rows of the lake tables the database needs (without the organization
    column): hourly rows from `hourly_since` on (all if None). On `con` when given (its time zone
    UTC), else on a connection of its own."""
    manifest = lake.read_manifest()
    state = manifest.organizations.get(organization)
    if state is None or state.fingerprint is None:
        raise LakeError(
            f"the lake has no silver layer for {organization} yet; "
            "run the pipeline without --skip-silver first"
        )
    own = con is None
    if con is None:
        con = duckdb.connect()
        con.execute("SET TimeZone = 'UTC'")
    mine = f"organization = {sql_text(organization)}"

    def rows(table: str, required: bool = True, where: str = "TRUE") -> list[dict[str, Any]]:
        if not lake.has_table(table, manifest) and (not required or table.startswith("reference/")):
            return []  # an organization whose fleet is only in the registry has no fleet files
        files = lake.table_files(table, manifest)
        cursor = con.execute(
            f"SELECT * EXCLUDE (organization) FROM {read_parquet(files)} WHERE {mine} AND {where}"
        )
        names = [d[0] for d in cursor.description or ()]
        return [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]

    hourly_files = lake.table_files("gold/hourly", manifest)
    span = con.execute(
        f"SELECT MIN(agg_timestamp), MAX(agg_timestamp) FROM {read_parquet(hourly_files)} WHERE {mine}"
    ).fetchone()
    since = "TRUE" if hourly_since is None else f"agg_timestamp >= TIMESTAMPTZ '{hourly_since.isoformat()}'"

    try:
        return GoldTables(
            stations=rows("reference/stations"),
            compressors=[{**r, "horsepower": int(r["horsepower"])} for r in rows("reference/compressors")],
            maintenance=rows("reference/maintenance", required=False),
            hourly=rows("gold/hourly", where=since),
            alerts=rows("gold/alerts"),
            quality=rows("silver/quality"),
            fingerprint=state.fingerprint,
            span=(span[0], span[1] + timedelta(hours=1)) if span and span[0] is not None else None,
            fleet_files=dict(state.fleet),
        )
    finally:
        if own:
            con.close()


def _rounded(row: dict[str, Any]) -> dict[str, Any]:
    return {k: round(v, DECIMALS) if isinstance(v, float) else v for k, v in row.items()}


def _alert_message(alert: dict[str, Any]) -> str:
    threshold = THRESHOLDS_BY_METRIC[alert["metric"]]
    sign = "≤" if threshold.direction == "low" else "≥"
    return (
        f"{threshold.label} reached {alert['peak_value']:.1f} {threshold.unit} "
        f"({sign} {alert['severity']} threshold {alert['threshold_value']:g} {threshold.unit})"
    )


FLEET_FILE_APPLIED = "fleet.file.apply"
# Stations and compressors are applied together (a compressor names its station): a new file of
# either applies both as landed.
FLEET_TABLES = ("reference/stations", "reference/compressors")
MAINTENANCE_TABLE = "reference/maintenance"


def applied_fleet_files(session: Session, organization_id: uuid.UUID) -> dict[str, str]:
    """Reference table -> digest of the landing file last applied to the organization's database."""
    a = AuditLog
    rows = session.execute(
        scoped(select(a.target_id, a.details), OrgScope(organization_id), a)
        .where(a.action == FLEET_FILE_APPLIED)
        .order_by(a.id)
    ).all()
    return {str(target): str((details or {}).get("digest")) for target, details in rows}


def new_fleet_files(landed: Mapping[str, str], applied: Mapping[str, str], tables: Sequence[str]) -> bool:
    """Whether the lake holds a landing file of these tables that the database has not applied yet."""
    return any(digest != applied.get(table) for table, digest in landed.items() if table in tables)


def _apply_fleet_file(
    session: Session, organization_id: uuid.UUID, gold: GoldTables, tables: Sequence[str], rows: int
) -> None:
    for table in tables:
        if table in gold.fleet_files:
            audit_system(
                session,
                organization_id,
                FLEET_FILE_APPLIED,
                what="pipeline",
                target_type="fleet_file",
                target_id=table,
                details={"digest": gold.fleet_files[table], "rows": rows},
            )


def load(session: Session, organization_id: uuid.UUID, gold: GoldTables) -> LoadCounts:
    org = {"organization_id": organization_id}
    applied = applied_fleet_files(session, organization_id) if gold.fleet_files else {}
    stations: list[dict[str, Any]] = []
    compressors: list[dict[str, Any]] = []
    if new_fleet_files(gold.fleet_files, applied, FLEET_TABLES):
        stations = [{**org, **row} for row in gold.stations]
        upsert(
            session,
            StationLocation,
            stations,
            ["organization_id", "station_id"],
            stations[0].keys() if stations else (),
        )
        compressors = [{**org, **row} for row in gold.compressors]
        upsert(
            session,
            CompressorMetadata,
            compressors,
            ["organization_id", "compressor_id"],
            compressors[0].keys() if compressors else (),
            stamp="updated_at",
        )
        adopt_models(session, organization_id)  # fleet files name a model: register it (registry)
        _apply_fleet_file(session, organization_id, gold, FLEET_TABLES, len(stations) + len(compressors))
    maintenance: list[dict[str, Any]] = []
    if new_fleet_files(gold.fleet_files, applied, (MAINTENANCE_TABLE,)):
        maintenance = [{**org, **row, "event_date": row["performed_at"].date()} for row in gold.maintenance]
        upsert(
            session,
            MaintenanceEvent,
            maintenance,
            ["organization_id", "event_id"],
            maintenance[0].keys() if maintenance else (),
        )
        _apply_fleet_file(session, organization_id, gold, (MAINTENANCE_TABLE,), len(maintenance))

    hourly = [{**org, **_rounded(row)} for row in gold.hourly]
    hourly_key = ["organization_id", "compressor_id", "window_type", "agg_timestamp"]
    upsert(session, SensorReadingAgg, hourly, hourly_key, hourly[0].keys() if hourly else ())
    removed_hourly, removed_from = _remove_stale_hourly(
        session, organization_id, hourly, _window(hourly, "agg_timestamp")
    )

    alerts = [_alert_row(organization_id, row) for row in gold.alerts]
    alert_key = ["organization_id", "compressor_id", "condition", "alert_timestamp"]
    # An escalation (a workflow's decision) stands over the severity the episode measured.
    escalated = AlertHistory.escalated_at.is_not(None)
    upsert(
        session,
        AlertHistory,
        alerts,
        alert_key,
        PIPELINE_OWNED_COLUMNS,
        stamp="updated_at",
        kept_when={"severity": escalated, "alert_type": escalated},
    )
    removed_alerts = _remove_stale_alerts(session, organization_id, alerts, gold.span)

    # A batch without a single loadable row has nothing to be measured against.
    measured = [row for row in gold.quality if row["as_of"] is not None]
    quality = [q for row in measured for q in _quality_rows(organization_id, gold.fingerprint, row)]
    quality_key = ["organization_id", "input_fingerprint", "scope", "metric_type"]
    if _new_fingerprint(session, organization_id, gold.fingerprint):
        # a new batch (every incremental pass): its rows are all new, no upsert needed
        insert_new(session, DataQualityMetric, quality, quality_key)
    else:
        upsert(session, DataQualityMetric, quality, quality_key, quality[0].keys() if quality else ())
    return LoadCounts(
        len(stations),
        len(compressors),
        len(maintenance),
        len(hourly),
        len(alerts),
        len(quality),
        removed_hourly,
        removed_alerts,
        frozenset(r["compressor_id"] for r in hourly) | removed_from,
    )


def _new_fingerprint(session: Session, organization_id: uuid.UUID, fingerprint: str) -> bool:
    """Whether the organization's database holds no data-quality row of this input yet."""
    q = DataQualityMetric
    found = session.scalar(
        select(q.id).where(q.organization_id == organization_id, q.input_fingerprint == fingerprint).limit(1)
    )
    return found is None


def _alert_row(organization_id: uuid.UUID, alert: dict[str, Any]) -> dict[str, Any]:
    alert = _rounded(alert)
    return {
        "organization_id": organization_id,
        "compressor_id": alert["compressor_id"],
        "condition": alert["metric"],
        "sensor_name": alert["metric"],
        "alert_type": f"threshold_{alert['severity']}",
        "severity": alert["severity"],
        "alert_timestamp": alert["started_at"],
        "raised_at": alert["raised_at"],
        "last_violation_at": alert["last_violation_at"],
        "returned_to_normal_at": alert["returned_to_normal_at"],
        "is_active": alert["is_active"],
        "sensor_value": alert["peak_value"],
        "threshold_value": alert["threshold_value"],
        "message": _alert_message(alert),
        "violation_count": alert["violation_count"],
        "source": "pipeline",
    }


def _quality_rows(organization_id: uuid.UUID, fingerprint: str, row: dict[str, Any]) -> list[dict[str, Any]]:
    details = {k: row[k] for k in ("bronze_rows", "silver_rows", "invalid_rows", "expected_rows")}
    return [
        {
            "organization_id": organization_id,
            "input_fingerprint": fingerprint,
            "metric_timestamp": row["as_of"],
            "scope": row["scope"],
            "compressor_id": row["compressor_id"],
            "metric_type": metric,
            "metric_value": None if row[metric] is None else round(float(row[metric]), DECIMALS),
            "pass_threshold": bool(row[f"{metric}_passed"]),
            "details": details,
        }
        for metric in QUALITY_METRICS
    ]


def _window(rows: Sequence[dict[str, Any]], column: str) -> tuple[datetime, datetime] | None:
    """The time span this load covers; rows outside it are never removed."""
    if not rows:
        return None
    values = [r[column] for r in rows]
    return min(values), max(values) + timedelta(hours=1)


def _remove_stale_hourly(
    session: Session,
    organization_id: uuid.UUID,
    hourly: list[dict[str, Any]],
    window: tuple[datetime, datetime] | None,
) -> tuple[int, frozenset[str]]:
    """Aggregates inside the loaded time window that this load no longer produces (e.g. now
    quarantined): how many were removed, and of which compressors."""
    if window is None:
        return 0, frozenset()
    t = SensorReadingAgg
    keep = {(r["compressor_id"], r["agg_timestamp"]) for r in hourly}
    existing = session.execute(
        select(t.id, t.compressor_id, t.agg_timestamp).where(
            t.organization_id == organization_id,
            t.window_type == "1hr",
            t.agg_timestamp >= window[0],
            t.agg_timestamp < window[1],
        )
    ).all()
    stale = [row for row in existing if (row.compressor_id, row.agg_timestamp) not in keep]
    ids = [row.id for row in stale]
    for start in range(0, len(ids), BATCH):
        session.execute(delete(t).where(t.id.in_(ids[start : start + BATCH])))
    return len(stale), frozenset(row.compressor_id for row in stale)


def _remove_stale_alerts(
    session: Session,
    organization_id: uuid.UUID,
    alerts: list[dict[str, Any]],
    window: tuple[datetime, datetime] | None,
) -> int:
    """Pipeline episodes in the window this load no longer finds, unless a person or a workflow already
    acted on them (acknowledged, resolved, shelved, escalated or notified)."""
    if window is None:
        return 0
    t = AlertHistory
    keep = {(a["compressor_id"], a["condition"], a["alert_timestamp"]) for a in alerts}
    existing = session.execute(
        select(t.id, t.compressor_id, t.condition, t.alert_timestamp).where(
            t.organization_id == organization_id,
            t.source == "pipeline",
            t.alert_timestamp >= window[0],
            t.alert_timestamp < window[1],
            and_(
                t.acknowledged.is_(False),
                t.resolved.is_(False),
                t.shelved_until.is_(None),
                t.escalated_at.is_(None),
                t.notified_at.is_(None),
            ),
        )
    ).all()
    stale = [r.id for r in existing if (r.compressor_id, r.condition, r.alert_timestamp) not in keep]
    if stale:
        session.execute(delete(t).where(t.id.in_(stale)))
    return len(stale)
