"""Read-side queries of the fleet for one organization (the API and the pages call these).

Rows read from the database are typed by their columns already, so the hot paths build their answer
plain dicts and validate each answer once, in pydantic's Rust core (several times faster than building
the models field by field in Python).

Every query is scoped by organization through accounts.scoping. The hot statements are built once
(scoped_template binds the organization at execution), so a request pays for executing SQL, not for
building it. Readings come from the hourly aggregates; 4-hour and 24-hour windows are rolled up from
them here, in UTC buckets aligned to the epoch, each bucket complete.
"""

import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import Integer, Select, and_, bindparam, case, false, func, or_, select
from sqlalchemy.orm import Session

from altaviz.accounts.errors import NotFound, UpgradeRequired
from altaviz.accounts.plans import Plan, plans_with_window
from altaviz.accounts.scoping import OrgScope, org_matches, scope_params, scoped_template
from altaviz.alerts.models import AlertHistory
from altaviz.config import get_settings
from altaviz.monitoring.connectivity import CN, IS_OFFLINE, OFFLINE_REASON, OFFLINE_SINCE
from altaviz.monitoring.models import (
    SENSOR_STAT_COLUMNS,
    CompressorMetadata,
    CompressorState,
    DataQualityMetric,
    MaintenanceEvent,
    RecentReading,
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
    FleetPage,
    FleetSummary,
    HourlyReading,
    LatestReadingPage,
    LatestValues,
    MaintenanceEventOut,
    MaintenancePage,
    ReadingSeries,
    Station,
    StationList,
)

C: Any = CompressorMetadata.__table__
S: Any = StationLocation.__table__
R: Any = SensorReadingAgg.__table__
A: Any = AlertHistory.__table__
M: Any = MaintenanceEvent.__table__
Q: Any = DataQualityMetric.__table__
CS: Any = CompressorState.__table__

STORED_WINDOW = "1hr"
DECIMALS = 6  # as the pipeline stores aggregates
WINDOW_HOURS = {"1hr": 1, "4hr": 4, "24hr": 24}
SENSORS = ("vibration", "discharge_temp", "suction_pressure", "discharge_pressure", "horsepower", "gas_flow")
READING_NAMES = (
    "agg_timestamp",
    "window_type",
    *SENSOR_STAT_COLUMNS,
    "pressure_delta_mean",
    "discharge_temp_rate_of_change",
    "reading_count",
    "expected_readings",
    "missing_readings",
    "violation_count",
)
LATEST_NAMES = tuple(LatestValues.model_fields)
NO_LIMIT = 2**31 - 1  # the plan's compressor limit bound when it has none


def _alert_stats() -> Any:
    """Per compressor: unresolved alerts whose condition holds now, and the worst severity rank."""
    rank = case((A.c.severity == "critical", 2), (A.c.severity == "warning", 1), else_=0)
    query = select(A.c.compressor_id, func.count().label("active"), func.max(rank).label("worst")).where(
        A.c.is_active.is_(True), A.c.resolved.is_(False)
    )
    return scoped_template(query, A).group_by(A.c.compressor_id).subquery("alert_stats")


def _compressors(
    stats: Any, archived: bool = False, limited: bool = False, latest: bool = True, station: bool = True
) -> tuple[Select[Any], Any, Any]:
    """Compressors with their station, alert figures and state (organization bound at execution).

    Archived compressors (registry) are left out unless `archived`: the fleet no longer shows them,
    but one's detail still opens (its data is kept).

    `state_rank` orders HEALTH_BY_RANK: alerts in alarm first, then held back by the plan (the first
    `max_compressors` not archived, in plan order, are covered: billing.limits.compressor_order),
    then offline (a connector's death certificate with no newer reading: monitoring.connectivity) or
    no reading since `stale_before`, else healthy. The state row (compressor_state, kept by the
    pipeline's load) gives the newest reading's time and the newest hourly values: no aggregation
    per request."""
    worst = func.coalesce(stats.c.worst, 0)
    active = func.coalesce(stats.c.active, 0)
    joined: Any = C
    if station:
        joined = joined.join(
            S, and_(S.c.organization_id == C.c.organization_id, S.c.station_id == C.c.station_id)
        )
    joined = (
        joined.outerjoin(stats, stats.c.compressor_id == C.c.compressor_id)
        .outerjoin(
            CS, and_(CS.c.organization_id == C.c.organization_id, CS.c.compressor_id == C.c.compressor_id)
        )
        .outerjoin(
            CN, and_(CN.c.organization_id == C.c.organization_id, CN.c.compressor_id == C.c.compressor_id)
        )
    )
    held: Any = false()
    if limited:
        order = func.row_number().over(order_by=(C.c.created_at, C.c.compressor_id))
        ranked = scoped_template(
            select(C.c.compressor_id, order.label("plan_rank")).where(C.c.archived_at.is_(None)), C
        ).subquery("plan_order")
        joined = joined.outerjoin(ranked, ranked.c.compressor_id == C.c.compressor_id)
        held = func.coalesce(ranked.c.plan_rank, NO_LIMIT) > bindparam("max_compressors", type_=Integer())
    stale_before = bindparam("stale_before", type_=CS.c.last_reading_at.type)
    state = case(
        (worst == 2, 4),
        (worst == 1, 3),
        (held, 1),
        (or_(IS_OFFLINE, CS.c.last_reading_at.is_(None), CS.c.last_reading_at < stale_before), 2),
        else_=0,
    )
    columns = (
        (
            C.c.model,
            C.c.horsepower,
            C.c.install_date,
            C.c.station_id,
            S.c.station_name,
            S.c.latitude,
            S.c.longitude,
        )
        if station
        else ()
    )
    query = select(
        C.c.compressor_id,
        *columns,
        active.label("active_alert_count"),
        state.label("state_rank"),
        CS.c.last_reading_at.label("last_reading_at"),
        OFFLINE_SINCE.label("offline_since"),
        OFFLINE_REASON.label("offline_reason"),
        *(CS.c[name].label(f"latest_{name}") for name in (LATEST_NAMES if latest else ())),
    ).select_from(joined)
    if not archived:
        query = query.where(C.c.archived_at.is_(None))
    return scoped_template(query, C, S) if station else scoped_template(query, C), state, active


def _state_params(
    scope: OrgScope, plan: Plan | None, now: datetime | None = None, **params: Any
) -> dict[str, Any]:
    window = timedelta(hours=get_settings().workflow_staleness_hours)
    limit = plan.max_compressors if plan is not None else None
    return scope_params(
        scope,
        stale_before=(now or datetime.now(UTC)) - window,
        max_compressors=NO_LIMIT if limit is None else limit,
        **params,
    )


def _limited(plan: Plan | None) -> bool:
    return plan is not None and plan.max_compressors is not None


def _with_latest(page: Any, order: Sequence[Any], names: Sequence[str] = READING_NAMES) -> Select[Any]:
    """`page` (a subquery with compressor_id) left-joined to each compressor's newest hourly row."""
    latest, newer = R.alias("latest"), R.alias("newer")
    newest = (
        select(func.max(newer.c.agg_timestamp))
        .where(
            org_matches(newer),
            newer.c.compressor_id == page.c.compressor_id,
            newer.c.window_type == STORED_WINDOW,
        )
        .scalar_subquery()
    )
    joined = page.outerjoin(
        latest,
        and_(
            org_matches(latest),
            latest.c.compressor_id == page.c.compressor_id,
            latest.c.window_type == STORED_WINDOW,
            latest.c.agg_timestamp == newest,
        ),
    )
    columns = [latest.c[name].label(f"latest_{name}") for name in names]
    return select(page, *columns).select_from(joined).order_by(*order)


# The fleet's totals (fleet_summary's columns) carried by every row of an unfiltered page.
TOTALS = ("compressors", *HEALTH_BY_RANK.values(), "active", "last_reading_at", "online", "stations")


@cache
def _fleet_page(
    by_station: bool,
    by_status: bool,
    by_health: bool,
    limited: bool,
    totals: bool = False,
    by_index: bool = False,
) -> Select[Any]:
    """A page of compressors: ranked on narrow rows (id, state), then the page's 100 rows widened with
    their station and newest values (widening all 4,700 before the sort cost 4x more). The widening
    joins restrict each tenant table to the organization bound at execution (SCOPE_PARAM), as
    scoped_template does.

    With `totals` (an unfiltered page), each row also carries the fleet's totals as window
    aggregates over every compressor, computed in the same pass as the ranking: the uncached fleet
    answer ranks the fleet once instead of twice (page, then fleet_summary)."""
    narrow, state, active = _compressors(_alert_stats(), limited=limited, latest=False, station=False)
    if totals:
        stale_before = bindparam("stale_before", type_=CS.c.last_reading_at.type)
        fresh = case((IS_OFFLINE, 0), (CS.c.last_reading_at >= stale_before, 1), else_=0)
        narrow = narrow.add_columns(
            func.count().over().label("total_compressors"),
            *(
                func.sum(case((state == rank, 1), else_=0)).over().label(f"total_{name}")
                for rank, name in HEALTH_BY_RANK.items()
            ),
            func.sum(active).over().label("total_active"),
            func.max(CS.c.last_reading_at).over().label("total_last_reading_at"),
            func.sum(fresh).over().label("total_online"),
        )
    if by_station:
        narrow = narrow.where(C.c.station_id == bindparam("station"))
    if by_status:
        narrow = narrow.where(state == bindparam("status_rank", type_=Integer()))
    order: tuple[Any, ...] = (state.desc(), C.c.compressor_id) if by_health else (C.c.compressor_id,)
    if by_index:  # lowest health index first; compressors without one (learning, stopped, none) last
        unjudged = case((CS.c.health_index.is_(None), 1), else_=0)
        narrow = narrow.add_columns(unjudged.label("unjudged"), CS.c.health_index.label("sort_index"))
        order = (unjudged, CS.c.health_index, state.desc(), C.c.compressor_id)
    page = (
        narrow.order_by(*order)
        .limit(bindparam("limit", type_=Integer()))
        .offset(bindparam("offset", type_=Integer()))
        .subquery("page")
    )
    fleet_totals: tuple[Any, ...] = ()
    if totals:
        stations = scoped_template(select(func.count()).select_from(S), S).scalar_subquery()
        fleet_totals = (
            *(page.c[f"total_{name}"] for name in TOTALS[:-1]),
            stations.label("total_stations"),
        )
    wide = select(
        page.c.compressor_id,
        C.c.model,
        C.c.horsepower,
        C.c.install_date,
        C.c.station_id,
        S.c.station_name,
        S.c.latitude,
        S.c.longitude,
        page.c.active_alert_count,
        page.c.state_rank,
        page.c.last_reading_at,
        page.c.offline_since,
        page.c.offline_reason,
        *(CS.c[name].label(f"latest_{name}") for name in LATEST_NAMES),
        CS.c.health_index,
        CS.c.health_status.label("health_index_status"),
        *fleet_totals,
    ).select_from(
        page.join(C, and_(org_matches(C), C.c.compressor_id == page.c.compressor_id))
        .join(S, and_(org_matches(S), S.c.station_id == C.c.station_id))
        .outerjoin(CS, and_(org_matches(CS), CS.c.compressor_id == page.c.compressor_id))
    )
    outer = (page.c.state_rank.desc(), page.c.compressor_id) if by_health else (page.c.compressor_id,)
    if by_index:
        outer = (page.c.unjudged, page.c.sort_index, *outer)
    return wide.order_by(*outer)


@cache
def _fleet_count(by_station: bool, by_status: bool, limited: bool) -> Select[Any]:
    query, state, _active = _compressors(_alert_stats(), limited=limited)
    if by_station:
        query = query.where(C.c.station_id == bindparam("station"))
    if by_status:
        query = query.where(state == bindparam("status_rank", type_=Integer()))
    return select(func.count()).select_from(query.subquery())


@cache
def _summary_statement(limited: bool) -> Select[Any]:
    # the fleet's totals need no station columns nor newest values: one state per compressor
    per = _compressors(_alert_stats(), limited=limited, latest=False, station=False)[0].subquery(
        "per_compressor"
    )
    stations = scoped_template(select(func.count()).select_from(S), S).scalar_subquery()
    stale_before = bindparam("stale_before", type_=CS.c.last_reading_at.type)

    def count(rank: int) -> Any:
        return func.coalesce(func.sum(case((per.c.state_rank == rank, 1), else_=0)), 0)

    fresh = case((per.c.offline_since.is_not(None), 0), (per.c.last_reading_at >= stale_before, 1), else_=0)
    return select(
        func.count().label("compressors"),
        *(count(rank).label(name) for rank, name in HEALTH_BY_RANK.items()),
        func.coalesce(func.sum(per.c.active_alert_count), 0).label("active"),
        stations.label("stations"),
        func.max(per.c.last_reading_at).label("last_reading_at"),
        func.coalesce(func.sum(fresh), 0).label("online"),
    ).select_from(per)


def _latest(row: Any) -> dict[str, Any] | None:
    if row.latest_agg_timestamp is None or row.latest_reading_count is None:
        return None
    mapping = row._mapping
    return {name: mapping[f"latest_{name}"] for name in LATEST_NAMES}


def _reading(row: Any) -> dict[str, Any] | None:
    if row.latest_agg_timestamp is None:
        return None
    mapping = row._mapping
    return {name: mapping[f"latest_{name}"] for name in READING_NAMES}


def _fleet_row(row: Any) -> dict[str, Any]:
    return {
        "compressor_id": row.compressor_id,
        "model": row.model,
        "horsepower": row.horsepower,
        "station_id": row.station_id,
        "station_name": row.station_name,
        "latitude": row.latitude,
        "longitude": row.longitude,
        "health_status": HEALTH_BY_RANK[int(row.state_rank)],
        "active_alert_count": int(row.active_alert_count),
        "last_reading_at": row.last_reading_at,
        "offline_since": row.offline_since,
        "offline_reason": row.offline_reason,
        "latest": _latest(row),
        "health_index": row.health_index,
        "health_index_status": row.health_index_status,
    }


def fleet(
    session: Session,
    scope: OrgScope,
    *,
    station: str | None = None,
    status: str | None = None,
    sort: str = "compressor",
    limit: int = 100,
    offset: int = 0,
    plan: Plan | None = None,
    now: datetime | None = None,
) -> FleetPage:
    """One row per compressor (station, latest values, alerts in alarm, state), and fleet totals.

    `plan` decides which compressors are held back (none when None)."""
    connection = session.connection()
    limited = _limited(plan)
    params = _state_params(scope, plan, now, limit=limit, offset=offset)
    if station is not None:
        params["station"] = station
    if status is not None:
        params["status_rank"] = RANK_BY_HEALTH[status]
    filtered = station is not None or status is not None
    statement = _fleet_page(
        station is not None,
        status is not None,
        sort in ("health", "health_index"),
        limited,
        not filtered,
        sort == "health_index",
    )
    rows = connection.execute(statement, params).all()
    items = [_fleet_row(row) for row in rows]
    if rows and not filtered:  # the totals came with the page
        mapping = rows[0]._mapping
        summary = _summary({name: mapping[f"total_{name}"] for name in TOTALS})
    else:
        summary = fleet_summary(session, scope, now, plan=plan)
    if filtered:
        count = _fleet_count(station is not None, status is not None, limited)
        total = connection.execute(count, params).scalar_one()
    else:
        total = summary.compressors
    page = {"summary": summary, "items": items, "total": total, "limit": limit, "offset": offset}
    return FleetPage.model_validate(page)


def fleet_summary(
    session: Session, scope: OrgScope, now: datetime | None = None, *, plan: Plan | None = None
) -> FleetSummary:
    """Fleet totals by state. Online: compressors whose newest reading is inside the staleness window
    (WORKFLOW_STALENESS_HOURS) and that are not offline. Only healthy compressors count as healthy."""
    params = _state_params(scope, plan, now)
    row = session.connection().execute(_summary_statement(_limited(plan)), params).one()
    return _summary(row._mapping)


def _summary(row: Any) -> FleetSummary:
    """FleetSummary from a mapping of TOTALS (fleet_summary's statement, or a page's window totals)."""
    compressors = int(row["compressors"])
    healthy = int(row["healthy"])
    return FleetSummary(
        compressors=compressors,
        stations=int(row["stations"] or 0),
        healthy=healthy,
        warning=int(row["warning"]),
        critical=int(row["critical"]),
        stale=int(row["stale"]),
        not_monitored=int(row["not_monitored"]),
        active_alerts=int(row["active"]),
        online=int(row["online"] or 0),
        health_percent=round(100.0 * healthy / compressors, 1) if compressors else None,
        last_reading_at=row["last_reading_at"],
    )


@cache
def _stations_statement(one: bool, limited: bool = False) -> Select[Any]:
    per = _compressors(_alert_stats(), limited=limited, latest=False)[0]
    per_compressor = per.subquery("per_compressor")
    totals = (
        select(
            per_compressor.c.station_id,
            func.count().label("compressor_count"),
            func.sum(per_compressor.c.active_alert_count).label("active"),
            func.max(per_compressor.c.state_rank).label("worst"),
        )
        .group_by(per_compressor.c.station_id)
        .subquery("station_totals")
    )
    query = select(
        S.c.station_id,
        S.c.station_name,
        S.c.latitude,
        S.c.longitude,
        S.c.region,
        S.c.city,
        S.c.state,
        S.c.basin,
        func.coalesce(totals.c.compressor_count, 0).label("compressor_count"),
        func.coalesce(totals.c.active, 0).label("active"),
        func.coalesce(totals.c.worst, 0).label("worst"),
    ).select_from(S.outerjoin(totals, totals.c.station_id == S.c.station_id))
    if one:
        query = query.where(S.c.station_id == bindparam("station"))
    return scoped_template(query, S).order_by(S.c.station_id)


def stations(session: Session, scope: OrgScope, *, plan: Plan | None = None) -> StationList:
    """Every station with its compressor count, alerts in alarm and worst compressor state."""
    statement = _stations_statement(False, _limited(plan))
    rows = session.connection().execute(statement, _state_params(scope, plan))
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


@cache
def _detail_statement(limited: bool) -> Select[Any]:
    query = _compressors(_alert_stats(), archived=True, limited=limited, latest=False)[0]
    query = query.where(C.c.compressor_id == bindparam("compressor_id"))
    page = query.subquery("page")
    return _with_latest(page, (page.c.compressor_id,))


def compressor_detail(
    session: Session, scope: OrgScope, compressor_id: str, *, plan: Plan | None = None
) -> CompressorDetail:
    """One compressor: its station, newest hourly aggregate, state and newest reading's time."""
    connection = session.connection()
    limited = _limited(plan)
    row = connection.execute(
        _detail_statement(limited), _state_params(scope, plan, compressor_id=compressor_id)
    ).one_or_none()
    if row is None:
        raise NotFound(f"Compressor {compressor_id} not found")
    station = connection.execute(
        _stations_statement(True, limited), _state_params(scope, plan, station=row.station_id)
    ).one()
    return CompressorDetail(
        compressor=CompressorInfo.model_validate(row),
        station=_station(station),
        latest_reading=HourlyReading.model_validate(latest) if (latest := _reading(row)) else None,
        health_status=HEALTH_BY_RANK[int(row.state_rank)],
        active_alert_count=int(row.active_alert_count),
        last_reading_at=row.last_reading_at,
        offline_since=row.offline_since,
        offline_reason=row.offline_reason,
    )


@cache
def _compressor_exists() -> Select[Any]:
    return scoped_template(
        select(C.c.compressor_id).where(C.c.compressor_id == bindparam("compressor_id")), C
    )


@cache
def _series_statement() -> Select[Any]:
    query = select(*(R.c[name] for name in READING_NAMES)).where(
        R.c.compressor_id == bindparam("compressor_id"),
        R.c.window_type == STORED_WINDOW,
        R.c.agg_timestamp >= bindparam("start", type_=R.c.agg_timestamp.type),
        R.c.agg_timestamp <= bindparam("end", type_=R.c.agg_timestamp.type),
    )
    return scoped_template(query, R).order_by(R.c.agg_timestamp)


def require_compressor(session: Session, scope: OrgScope, compressor_id: str) -> None:
    found = session.connection().execute(
        _compressor_exists(), scope_params(scope, compressor_id=compressor_id)
    )
    if found.first() is None:
        raise NotFound(f"Compressor {compressor_id} not found")


def history_range(
    session: Session,
    scope: OrgScope,
    plan: Plan,
    compressor_id: str,
    *,
    hours: int,
    end: datetime | None,
    now: datetime,
) -> tuple[datetime, datetime]:
    """(start, end): the `hours` before `end` (default and at most now), cut to the plan's history.
    UpgradeRequired when all of it is older than the plan keeps (NotFound first for no compressor)."""
    end = min(end or now, now)
    history_start = now - timedelta(days=plan.history_days)
    if end < history_start:
        require_compressor(session, scope, compressor_id)
        raise UpgradeRequired(
            f"Your {plan.name} plan keeps {plan.history_days} days of history; "
            f"{end:%Y-%m-%d %H:%M} UTC is older",
            plan=plan.tier,
        )
    return max(end - timedelta(hours=hours), history_start), end


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
    start, end = history_range(session, scope, plan, compressor_id, hours=hours, end=end, now=now)
    history_start = now - timedelta(days=plan.history_days)
    step = WINDOW_HOURS[window]
    first = max(_bucket_start(start, step), history_start) if step > 1 else start
    params = scope_params(scope, compressor_id=compressor_id, start=first, end=end)
    rows = session.connection().execute(_series_statement(), params).all()
    if not rows:
        require_compressor(session, scope, compressor_id)
    if step == 1:  # the statement's columns are READING_NAMES, in order
        items: list[Any] = [dict(zip(READING_NAMES, row, strict=True)) for row in rows]
    else:
        items = _roll_up(rows, window, step)
    series = {
        "compressor_id": compressor_id,
        "window": window,
        "hours": hours,
        "start": start,
        "end": end,
        "history_days": plan.history_days,
        "items": items,
    }
    return ReadingSeries.model_validate(series)


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
        weighted = [(row.reading_count, getattr(row, column)) for row in rows]
        present = [(n, v) for n, v in weighted if v is not None]
        weight = sum(n for n, _ in present)
        values[column] = sum(n * v for n, v in present) / weight if weight else None
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


@cache
def _latest_page(by_station: bool) -> tuple[Select[Any], Select[Any]]:
    query = scoped_template(select(C.c.compressor_id, C.c.station_id), C)
    if by_station:
        query = query.where(C.c.station_id == bindparam("station"))
    count = select(func.count()).select_from(query.subquery())
    page = (
        query.order_by(C.c.compressor_id)
        .limit(bindparam("limit", type_=Integer()))
        .offset(bindparam("offset", type_=Integer()))
        .subquery("page")
    )
    return _with_latest(page, (page.c.compressor_id,)), count


def latest_readings(
    session: Session, scope: OrgScope, *, station: str | None = None, limit: int = 100, offset: int = 0
) -> LatestReadingPage:
    """The newest hourly aggregate of each compressor (those with data), by compressor id."""
    statement, count = _latest_page(station is not None)
    params = scope_params(scope, limit=limit, offset=offset)
    if station is not None:
        params["station"] = station
    connection = session.connection()
    items = []
    for row in connection.execute(statement, params):
        reading = _reading(row)
        if reading is not None:
            items.append({**reading, "compressor_id": row.compressor_id, "station_id": row.station_id})
    total = connection.execute(count, params).scalar_one()
    page = {"items": items, "total": total, "limit": limit, "offset": offset}
    return LatestReadingPage.model_validate(page)


def _page(query: Select[Any], order: Sequence[Any]) -> Select[Any]:
    """`query` with its rows' total (a window count) and a bound page."""
    return (
        query.add_columns(func.count().over().label("total_rows"))
        .order_by(*order)
        .limit(bindparam("limit", type_=Integer()))
        .offset(bindparam("offset", type_=Integer()))
    )


def _total(session: Session, query: Select[Any], params: dict[str, Any], rows: Sequence[Any]) -> int:
    if rows:
        return int(rows[0].total_rows)
    return int(
        session.connection().execute(select(func.count()).select_from(query.subquery()), params).scalar_one()
    )


@cache
def _maintenance_statement(by_compressor: bool, by_type: bool) -> tuple[Select[Any], Select[Any]]:
    since = bindparam("history_start", type_=M.c.performed_at.type)
    query = scoped_template(select(*M.c).where(M.c.performed_at >= since), M)
    if by_compressor:
        query = query.where(M.c.compressor_id == bindparam("compressor"))
    if by_type:
        query = query.where(M.c.event_type == bindparam("event_type"))
    return query, _page(query, (M.c.performed_at.desc(), M.c.id.desc()))


def maintenance_events(
    session: Session,
    scope: OrgScope,
    *,
    compressor: str | None = None,
    event_type: str | None = None,
    limit: int = 50,
    offset: int = 0,
    history_days: int | None = None,
    now: datetime | None = None,
) -> MaintenancePage:
    """Maintenance events, newest first, within the plan's history (`history_days`; None: all)."""
    query, page = _maintenance_statement(compressor is not None, event_type is not None)
    history_start = (
        (now or datetime.now(UTC)) - timedelta(days=history_days)
        if history_days is not None
        else datetime(1970, 1, 1, tzinfo=UTC)
    )
    params = scope_params(
        scope,
        limit=limit,
        offset=offset,
        compressor=compressor,
        event_type=event_type,
        history_start=history_start,
    )
    rows = session.connection().execute(page, params).all()
    items = [MaintenanceEventOut.model_validate(dict(row._mapping)) for row in rows]
    return MaintenancePage(
        items=items, total=_total(session, query, params, rows), limit=limit, offset=offset
    )


@cache
def _quality_statement(by_compressor: bool, level: str, by_metric: bool) -> tuple[Select[Any], Select[Any]]:
    query = scoped_template(
        select(*Q.c).where(Q.c.metric_timestamp >= bindparam("since", type_=Q.c.metric_timestamp.type)), Q
    )
    if by_compressor:
        query = query.where(Q.c.compressor_id == bindparam("compressor"))
    if level == "fleet":
        query = query.where(Q.c.scope == "fleet")
    elif level == "compressor":
        query = query.where(Q.c.scope != "fleet")
    if by_metric:
        query = query.where(Q.c.metric_type == bindparam("metric_type"))
    return query, _page(query, (Q.c.metric_timestamp.desc(), Q.c.scope, Q.c.metric_type))


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
    query, page = _quality_statement(compressor is not None, level, metric_type is not None)
    params = scope_params(
        scope, since=since, compressor=compressor, metric_type=metric_type, limit=limit, offset=offset
    )
    rows = session.connection().execute(page, params).all()
    items = [DataQualityMetricOut.model_validate(dict(row._mapping)) for row in rows]
    return DataQualityPage(
        items=items, total=_total(session, query, params, rows), limit=limit, offset=offset
    )


RECENT_VALUES = (
    "vibration_mms",
    "discharge_temp_f",
    "suction_pressure_psi",
    "discharge_pressure_psi",
    "horsepower_consumption",
    "gas_flow_mcf",
    "pressure_differential",
)


@cache
def _recent_statement() -> Select[Any]:
    rr: Any = RecentReading.__table__
    query = select(rr.c.timestamp, *(rr.c[name] for name in RECENT_VALUES), rr.c.status).where(
        rr.c.compressor_id == bindparam("compressor_id"),
        rr.c.timestamp >= bindparam("start", type_=rr.c.timestamp.type),
        rr.c.timestamp <= bindparam("end", type_=rr.c.timestamp.type),
    )
    return scoped_template(query, rr).order_by(rr.c.timestamp)


def recent_readings(
    session: Session, scope: OrgScope, compressor_id: str, *, start: datetime, end: datetime
) -> list[dict[str, Any]]:
    """Every reading of one compressor between `start` and `end` kept in recent_readings (the last
    48 hours, 10-minute resolution: pipeline.dashboard_state), oldest first."""
    params = scope_params(scope, compressor_id=compressor_id, start=start, end=end)
    return [dict(row._mapping) for row in session.connection().execute(_recent_statement(), params)]
