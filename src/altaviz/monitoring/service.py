"""Read-side queries of the fleet for one organization (the API and the pages call these).

Every query goes through accounts.scoping.scoped with the caller's OrgScope. Readings come from the
hourly aggregates; 4-hour and 24-hour windows are rolled up from them here, in UTC buckets aligned
to the epoch, each bucket complete.
"""

import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, case, func, select
from sqlalchemy.orm import Session, aliased

from altaviz.accounts.errors import NotFound, UpgradeRequired
from altaviz.accounts.plans import Plan, plans_with_window
from altaviz.accounts.scoping import OrgScope, scoped
from altaviz.alerts.models import AlertHistory
from altaviz.monitoring.models import (
    SENSOR_STAT_COLUMNS,
    CompressorMetadata,
    DataQualityMetric,
    MaintenanceEvent,
    SensorReadingAgg,
    StationLocation,
)
from altaviz.monitoring.schemas import (
    HEALTH_BY_RANK,
    RANK_BY_HEALTH,
    CompressorDetail,
    CompressorInfo,
    DataQualityMetricOut,
    DataQualityPage,
    FleetCompressor,
    FleetPage,
    FleetSummary,
    HourlyReading,
    LatestReading,
    LatestReadingPage,
    LatestValues,
    MaintenanceEventOut,
    MaintenancePage,
    ReadingSeries,
    Station,
    StationList,
)

C = CompressorMetadata
S = StationLocation
R = SensorReadingAgg
A = AlertHistory
STORED_WINDOW = "1hr"
DECIMALS = 6  # as the pipeline stores aggregates
WINDOW_HOURS = {"1hr": 1, "4hr": 4, "24hr": 24}
SENSORS = ("vibration", "discharge_temp", "suction_pressure", "discharge_pressure", "horsepower", "gas_flow")

# An alert counts toward a compressor's health while its condition holds and nobody resolved it.
IN_ALARM = and_(A.is_active.is_(True), A.resolved.is_(False))
SEVERITY_RANK = case((A.severity == "critical", 2), (A.severity == "warning", 1), else_=0)

READING_COLUMNS = (
    R.agg_timestamp,
    R.window_type,
    *(getattr(R, name) for name in SENSOR_STAT_COLUMNS),
    R.pressure_delta_mean,
    R.discharge_temp_rate_of_change,
    R.reading_count,
    R.expected_readings,
    R.missing_readings,
    R.violation_count,
)


def _alert_stats(scope: OrgScope) -> Any:
    """Per compressor: alerts in alarm and the worst severity rank among them (0 when none)."""
    query = select(
        A.compressor_id, func.count().label("active"), func.max(SEVERITY_RANK).label("worst")
    ).where(IN_ALARM)
    return scoped(query, scope, A).group_by(A.compressor_id).subquery("alert_stats")


def _compressor_rows(scope: OrgScope) -> tuple[Select[Any], Any, Any]:
    stats = _alert_stats(scope)
    worst = func.coalesce(stats.c.worst, 0)
    active = func.coalesce(stats.c.active, 0)
    query = (
        select(
            C.compressor_id,
            C.model,
            C.horsepower,
            C.install_date,
            C.station_id,
            S.station_name,
            S.latitude,
            S.longitude,
            active.label("active_alert_count"),
            worst.label("worst"),
        )
        .join(S, and_(S.organization_id == C.organization_id, S.station_id == C.station_id))
        .outerjoin(stats, stats.c.compressor_id == C.compressor_id)
    )
    return scoped(query, scope, C, S), worst, active


def _latest_values(session: Session, scope: OrgScope, compressor_ids: Sequence[str]) -> dict[str, Any]:
    """The newest hourly aggregate row of each compressor given."""
    if not compressor_ids:
        return {}
    newer = aliased(R)
    newest = (
        select(func.max(newer.agg_timestamp))
        .where(
            newer.organization_id == R.organization_id,
            newer.compressor_id == R.compressor_id,
            newer.window_type == STORED_WINDOW,
        )
        .scalar_subquery()
    )
    query = select(R.compressor_id, *READING_COLUMNS).where(
        R.window_type == STORED_WINDOW, R.compressor_id.in_(compressor_ids), R.agg_timestamp == newest
    )
    return {row.compressor_id: row for row in session.execute(scoped(query, scope, R))}


def fleet(
    session: Session,
    scope: OrgScope,
    *,
    station: str | None = None,
    status: str | None = None,
    sort: str = "compressor",
    limit: int = 100,
    offset: int = 0,
) -> FleetPage:
    """One row per compressor (station, latest values, alerts in alarm, health), and fleet totals."""
    query, worst, _active = _compressor_rows(scope)
    if station is not None:
        query = query.where(C.station_id == station)
    if status is not None:
        query = query.where(worst == RANK_BY_HEALTH[status])
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    order = (C.compressor_id,) if sort == "compressor" else (worst.desc(), C.compressor_id)
    rows = session.execute(query.order_by(*order).limit(limit).offset(offset)).all()
    latest = _latest_values(session, scope, [row.compressor_id for row in rows])
    items = [
        FleetCompressor(
            compressor_id=row.compressor_id,
            model=row.model,
            horsepower=row.horsepower,
            station_id=row.station_id,
            station_name=row.station_name,
            latitude=row.latitude,
            longitude=row.longitude,
            health_status=HEALTH_BY_RANK[int(row.worst)],
            active_alert_count=int(row.active_alert_count),
            last_reading_at=_get(latest, row.compressor_id, "agg_timestamp"),
            latest=_latest_model(latest, row.compressor_id),
        )
        for row in rows
    ]
    return FleetPage(
        summary=fleet_summary(session, scope), items=items, total=total, limit=limit, offset=offset
    )


def _get(latest: dict[str, Any], compressor_id: str, column: str) -> Any:
    row = latest.get(compressor_id)
    return None if row is None else getattr(row, column)


def _latest_model(latest: dict[str, Any], compressor_id: str) -> LatestValues | None:
    row = latest.get(compressor_id)
    return None if row is None else LatestValues.model_validate(row)


def fleet_summary(session: Session, scope: OrgScope) -> FleetSummary:
    stats = _alert_stats(scope)
    worst = func.coalesce(stats.c.worst, 0)
    counts = session.execute(
        scoped(
            select(
                func.count(),
                func.coalesce(func.sum(case((worst == 2, 1), else_=0)), 0),
                func.coalesce(func.sum(case((worst == 1, 1), else_=0)), 0),
                func.coalesce(func.sum(func.coalesce(stats.c.active, 0)), 0),
            )
            .select_from(C)
            .outerjoin(stats, stats.c.compressor_id == C.compressor_id),
            scope,
            C,
        )
    ).one()
    compressors, critical, warning, active = (int(value) for value in counts)
    stations = session.scalar(scoped(select(func.count()).select_from(S), scope, S)) or 0
    last = session.scalar(scoped(select(func.max(R.agg_timestamp)), scope, R))
    healthy = compressors - critical - warning
    return FleetSummary(
        compressors=compressors,
        stations=stations,
        healthy=healthy,
        warning=warning,
        critical=critical,
        active_alerts=active,
        health_percent=round(100.0 * healthy / compressors, 1) if compressors else None,
        last_reading_at=last,
    )


def stations(session: Session, scope: OrgScope) -> StationList:
    """Every station with its compressor count, alerts in alarm and worst compressor health."""
    per_compressor = _compressor_rows(scope)[0].subquery("per_compressor")
    totals = (
        select(
            per_compressor.c.station_id,
            func.count().label("compressor_count"),
            func.sum(per_compressor.c.active_alert_count).label("active"),
            func.max(per_compressor.c.worst).label("worst"),
        )
        .group_by(per_compressor.c.station_id)
        .subquery("station_totals")
    )
    query = select(
        S.station_id,
        S.station_name,
        S.latitude,
        S.longitude,
        S.region,
        S.city,
        S.state,
        S.basin,
        func.coalesce(totals.c.compressor_count, 0).label("compressor_count"),
        func.coalesce(totals.c.active, 0).label("active"),
        func.coalesce(totals.c.worst, 0).label("worst"),
    ).outerjoin(totals, totals.c.station_id == S.station_id)
    rows = session.execute(scoped(query, scope, S).order_by(S.station_id)).all()
    items = [_station(row) for row in rows]
    return StationList(items=items, total=len(items))


def _station(row: Any) -> Station:
    return Station(
        station_id=row.station_id,
        station_name=row.station_name,
        latitude=row.latitude,
        longitude=row.longitude,
        region=row.region,
        city=row.city,
        state=row.state,
        basin=row.basin,
        compressor_count=int(row.compressor_count),
        active_alert_count=int(row.active),
        health_status=HEALTH_BY_RANK[int(row.worst)],
    )


def require_compressor(session: Session, scope: OrgScope, compressor_id: str) -> None:
    found = session.scalar(scoped(select(C.compressor_id).where(C.compressor_id == compressor_id), scope, C))
    if found is None:
        raise NotFound(f"Compressor {compressor_id} not found")


def compressor_detail(session: Session, scope: OrgScope, compressor_id: str) -> CompressorDetail:
    query, _worst, _active = _compressor_rows(scope)
    row = session.execute(query.where(C.compressor_id == compressor_id)).one_or_none()
    if row is None:
        raise NotFound(f"Compressor {compressor_id} not found")
    station = next(s for s in stations(session, scope).items if s.station_id == row.station_id)
    latest = _latest_values(session, scope, [compressor_id]).get(compressor_id)
    return CompressorDetail(
        compressor=CompressorInfo.model_validate(row),
        station=station,
        latest_reading=HourlyReading.model_validate(latest) if latest is not None else None,
        health_status=HEALTH_BY_RANK[int(row.worst)],
        active_alert_count=int(row.active_alert_count),
    )


def readings(
    session: Session,
    scope: OrgScope,
    plan: Plan,
    compressor_id: str,
    *,
    window: str = "1hr",
    hours: int = 24,
    end: datetime | None = None,
    now: datetime | None = None,
) -> ReadingSeries:
    """Aggregates of one compressor over the `hours` before `end` (default now), in `window` steps.

    The plan decides which windows may be asked for and how far back data is shown.
    """
    now = now or datetime.now(UTC)
    if not plan.allows_window(window):
        raise UpgradeRequired(
            f"The {window} window requires a {plans_with_window(window)} plan", plan=plan.tier
        )
    require_compressor(session, scope, compressor_id)
    end = min(end or now, now)
    history_start = now - timedelta(days=plan.history_days)
    if end < history_start:
        raise UpgradeRequired(
            f"Your {plan.name} plan keeps {plan.history_days} days of history; "
            f"{end:%Y-%m-%d %H:%M} UTC is older",
            plan=plan.tier,
        )
    start = max(end - timedelta(hours=hours), history_start)
    step = WINDOW_HOURS[window]
    first = _bucket_start(start, step) if step > 1 else start
    query = (
        select(*READING_COLUMNS)
        .where(
            R.compressor_id == compressor_id,
            R.window_type == STORED_WINDOW,
            R.agg_timestamp >= max(first, history_start),
            R.agg_timestamp <= end,
        )
        .order_by(R.agg_timestamp)
    )
    rows = session.execute(scoped(query, scope, R)).all()
    items = [HourlyReading.model_validate(row) for row in rows] if step == 1 else _roll_up(rows, window, step)
    return ReadingSeries(
        compressor_id=compressor_id,
        window=window,
        hours=hours,
        start=start,
        end=end,
        history_days=plan.history_days,
        items=items,
    )


def _bucket_start(moment: datetime, step_hours: int) -> datetime:
    seconds = step_hours * 3600
    epoch = int(moment.timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds, UTC)


def _roll_up(rows: Sequence[Any], window: str, step_hours: int) -> list[HourlyReading]:
    buckets: dict[datetime, list[Any]] = {}
    for row in rows:
        buckets.setdefault(_bucket_start(row.agg_timestamp, step_hours), []).append(row)
    return [_combine(start, window, members) for start, members in buckets.items()]


def _combine(start: datetime, window: str, rows: Sequence[Any]) -> HourlyReading:
    """Hourly aggregates merged into one: means weighted by readings, pooled standard deviations."""
    values: dict[str, Any] = {"agg_timestamp": start, "window_type": window}
    for sensor in SENSORS:
        parts = [
            (row.reading_count, getattr(row, f"{sensor}_mean"), getattr(row, f"{sensor}_std"))
            for row in rows
            if getattr(row, f"{sensor}_mean") is not None and row.reading_count > 0
        ]
        values[f"{sensor}_mean"], values[f"{sensor}_std"] = _pooled(parts)
        mins = [getattr(row, f"{sensor}_min") for row in rows if getattr(row, f"{sensor}_min") is not None]
        maxs = [getattr(row, f"{sensor}_max") for row in rows if getattr(row, f"{sensor}_max") is not None]
        values[f"{sensor}_min"] = min(mins) if mins else None
        values[f"{sensor}_max"] = max(maxs) if maxs else None
    for column in ("pressure_delta_mean", "discharge_temp_rate_of_change"):
        weighted = [
            (row.reading_count, getattr(row, column)) for row in rows if getattr(row, column) is not None
        ]
        weight = sum(n for n, _ in weighted)
        values[column] = sum(n * v for n, v in weighted) / weight if weight else None
    for column in ("reading_count", "expected_readings", "missing_readings", "violation_count"):
        values[column] = sum(getattr(row, column) for row in rows)
    rounded = {k: round(v, DECIMALS) if isinstance(v, float) else v for k, v in values.items()}
    return HourlyReading(**rounded)


def _pooled(parts: Sequence[tuple[int, float, float | None]]) -> tuple[float | None, float | None]:
    """Mean and sample standard deviation of the union of groups given as (count, mean, std)."""
    total = sum(n for n, _, _ in parts)
    if total == 0:
        return None, None
    mean = sum(n * m for n, m, _ in parts) / total
    if total < 2:
        return mean, None
    squares = sum((n - 1) * (s or 0.0) ** 2 + n * (m - mean) ** 2 for n, m, s in parts)
    return mean, math.sqrt(max(squares, 0.0) / (total - 1))


def latest_readings(
    session: Session, scope: OrgScope, *, station: str | None = None, limit: int = 100, offset: int = 0
) -> LatestReadingPage:
    """The newest hourly aggregate of each compressor, by compressor id."""
    compressors = scoped(select(C.compressor_id, C.station_id), scope, C)
    if station is not None:
        compressors = compressors.where(C.station_id == station)
    total = session.scalar(select(func.count()).select_from(compressors.subquery())) or 0
    page = session.execute(compressors.order_by(C.compressor_id).limit(limit).offset(offset)).all()
    latest = _latest_values(session, scope, [row.compressor_id for row in page])
    items = [
        LatestReading.model_validate({**latest[row.compressor_id]._mapping, "station_id": row.station_id})
        for row in page
        if row.compressor_id in latest
    ]
    return LatestReadingPage(items=items, total=total, limit=limit, offset=offset)


def maintenance_events(
    session: Session,
    scope: OrgScope,
    *,
    compressor: str | None = None,
    event_type: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> MaintenancePage:
    query = scoped(select(MaintenanceEvent), scope, MaintenanceEvent)
    if compressor is not None:
        query = query.where(MaintenanceEvent.compressor_id == compressor)
    if event_type is not None:
        query = query.where(MaintenanceEvent.event_type == event_type)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    events = session.scalars(
        query.order_by(MaintenanceEvent.performed_at.desc(), MaintenanceEvent.id.desc())
        .limit(limit)
        .offset(offset)
    )
    items = [MaintenanceEventOut.model_validate(event) for event in events]
    return MaintenancePage(items=items, total=total, limit=limit, offset=offset)


def data_quality(
    session: Session,
    scope: OrgScope,
    *,
    hours: int = 24,
    compressor: str | None = None,
    level: str = "all",
    metric_type: str | None = None,
    limit: int = 100,
    offset: int = 0,
    now: datetime | None = None,
) -> DataQualityPage:
    """Quality checks of the last `hours`, newest first; level 'fleet', 'compressor' or 'all'."""
    since = (now or datetime.now(UTC)) - timedelta(hours=hours)
    Q = DataQualityMetric
    query = scoped(select(Q).where(Q.metric_timestamp >= since), scope, Q)
    if compressor is not None:
        query = query.where(Q.compressor_id == compressor)
    if level == "fleet":
        query = query.where(Q.scope == "fleet")
    elif level == "compressor":
        query = query.where(Q.scope != "fleet")
    if metric_type is not None:
        query = query.where(Q.metric_type == metric_type)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.order_by(Q.metric_timestamp.desc(), Q.scope, Q.metric_type).limit(limit).offset(offset)
    )
    items = [DataQualityMetricOut.model_validate(row) for row in rows]
    return DataQualityPage(items=items, total=total, limit=limit, offset=offset)
