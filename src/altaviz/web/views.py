"""What each page shows, assembled from the domain services (no SQL here, no HTTP here).

Each function takes a database session and the organization scope, calls the services the API
calls, and returns plain values for a template.
"""

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from altaviz.accounts import service as accounts
from altaviz.accounts import team
from altaviz.accounts.errors import UpgradeRequired
from altaviz.accounts.plans import Plan
from altaviz.accounts.principal import Principal
from altaviz.accounts.roles import Role
from altaviz.accounts.scoping import OrgScope
from altaviz.alerts import service as alerts
from altaviz.billing import service as billing
from altaviz.config import Settings
from altaviz.fleet.thresholds import THRESHOLDS_BY_METRIC, Threshold
from altaviz.monitoring import service as monitoring
from altaviz.monitoring.schemas import CompressorDetail, DataQualityMetricOut, FleetPage, HourlyReading
from altaviz.registry import service as registry
from altaviz.registry import thresholds as registry_thresholds
from altaviz.registry.fleet_import import MAX_IMPORT_ROWS, TEMPLATE_COLUMNS
from altaviz.registry.thresholds import ResolvedThreshold

# The limits a gauge or chart draws: the defaults, or a compressor's effective values (registry).
Limits = Threshold | ResolvedThreshold

PAGE_SIZE = 24
LEGEND_STATIONS = 12
RANK = {"healthy": 0, "warning": 1, "critical": 2}
ALERT_PAGE_SIZE = 50


@dataclass(frozen=True)
class Gauge:
    """A sensor as the detail page shows it: scale, bands from the thresholds, latest value."""

    column: str  # the aggregate column prefix, e.g. "vibration"
    metric: str  # the threshold metric, e.g. "vibration_mms"
    label: str
    unit: str
    scale_min: float
    scale_max: float
    decimals: int

    @property
    def threshold(self) -> Threshold:
        return THRESHOLDS_BY_METRIC[self.metric]

    def status(self, value: float | None, limits: Limits | None = None) -> str:
        """healthy, warning or critical against `limits` (the compressor's effective values)."""
        if value is None:
            return "unknown"
        t = limits or self.threshold
        if t.direction == "high":
            if t.critical is not None and value >= t.critical:
                return "critical"
            return "warning" if value >= t.warning else "healthy"
        if t.critical is not None and value <= t.critical:
            return "critical"
        return "warning" if value <= t.warning else "healthy"


GAUGES: tuple[Gauge, ...] = (
    Gauge("vibration", "vibration_mms", "Vibration", "mm/s", 0, 12, 1),
    Gauge("discharge_temp", "discharge_temp_f", "Discharge temperature", "°F", 100, 300, 0),
    Gauge("suction_pressure", "suction_pressure_psi", "Suction pressure", "PSI", 0, 100, 0),
    Gauge("discharge_pressure", "discharge_pressure_psi", "Discharge pressure", "PSI", 700, 1600, 0),
    Gauge("horsepower", "horsepower_consumption", "Horsepower", "HP", 0, 2400, 0),
    Gauge("gas_flow", "gas_flow_mcf", "Gas flow", "Mcf/day", 0, 16000, 0),
)
WINDOWS = {"1hr": "1h", "4hr": "4h", "24hr": "24h"}
RANGES = {"1H": 1, "4H": 4, "24H": 24, "7D": 168}


def fleet_overview(
    db: Session,
    scope: OrgScope,
    *,
    page: int,
    station: str | None,
    status: str | None,
) -> dict[str, Any]:
    """Cards, map, compressor cards (worst first, a page at a time) and the newest active alerts."""
    fleet: FleetPage = monitoring.fleet(
        db,
        scope,
        station=station,
        status=status,
        sort="health",
        limit=PAGE_SIZE,
        offset=(page - 1) * PAGE_SIZE,
    )
    # Worst stations first: with hundreds of stations the list under the map names the ones that matter.
    stations = sorted(
        monitoring.stations(db, scope).items,
        key=lambda s: (-RANK.get(s.health_status, 0), -s.active_alert_count, s.station_id),
    )
    critical = monitoring.fleet(db, scope, status="critical", sort="health", limit=200).items
    warning = monitoring.fleet(db, scope, status="warning", sort="health", limit=200).items
    worst: dict[str, list[str]] = {}
    for unit in (*critical, *warning):
        worst.setdefault(unit.station_id, []).append(unit.compressor_id)
    recent = alerts.list_alerts(db, scope, status="active", shelved=False, limit=10).items
    summary = fleet.summary
    pages = max(1, math.ceil(fleet.total / PAGE_SIZE))
    map_points = [
        {
            "id": s.station_id,
            "name": s.station_name,
            "value": [s.longitude, s.latitude],
            "status": s.health_status,
            "compressors": s.compressor_count,
            "alerts": s.active_alert_count,
            "worst": worst.get(s.station_id, [])[:5],
        }
        for s in stations
    ]
    return {
        "summary": summary,
        "fleet": fleet,
        "stations": stations,
        "legend": stations[:LEGEND_STATIONS],
        "worst_by_station": worst,
        "map_points": map_points,
        "recent_alerts": recent,
        "page": page,
        "pages": pages,
        "station": station,
        "status": status,
        "has_data": summary.compressors > 0,
        "health_class": _health_class(summary.health_percent),
    }


def _health_class(percent: float | None) -> str:
    if percent is None:
        return "unknown"
    if percent >= 80:
        return "healthy"
    return "warning" if percent >= 50 else "critical"


def compressor_page(
    db: Session,
    scope: OrgScope,
    plan: Plan,
    compressor_id: str,
    *,
    window: str,
    range_key: str,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Detail, gauges, one trend chart per sensor with its thresholds, alerts and maintenance."""
    detail: CompressorDetail = monitoring.compressor_detail(db, scope, compressor_id)
    upgrade: str | None = None
    if not plan.allows_window(window):
        upgrade = str(UpgradeRequired(f"The {window} window requires a Pro or Enterprise plan", plan.tier))
        window = "1hr"
    hours = RANGES[range_key]
    items: list[HourlyReading] = []
    try:
        series = monitoring.readings(db, scope, plan, compressor_id, window=window, hours=hours, now=now)
        items = series.items
    except UpgradeRequired as error:
        upgrade = str(error)
    latest = detail.latest_reading
    # the compressor's own limits: compressor > model > organization > defaults
    limits = registry_thresholds.for_compressor(db, scope, compressor_id)
    gauges = []
    for gauge in GAUGES:
        value = getattr(latest, f"{gauge.column}_mean") if latest else None
        own = limits[gauge.metric]
        gauges.append({"gauge": gauge, "value": value, "status": gauge.status(value, own), "threshold": own})
    charts = [_chart(gauge, items, limits[gauge.metric]) for gauge in GAUGES]
    alert_page = alerts.list_alerts(db, scope, compressor=compressor_id, limit=20)
    maintenance = monitoring.maintenance_events(
        db, scope, compressor=compressor_id, limit=50, history_days=plan.history_days
    )
    return {
        "detail": detail,
        "gauges": gauges,
        "charts": charts,
        "alerts": alert_page,
        "maintenance": maintenance,
        "window": window,
        "range_key": range_key,
        "upgrade": upgrade,
        "plan": plan,
        "has_readings": bool(items),
    }


def _chart(gauge: Gauge, items: list[HourlyReading], limits: Limits | None = None) -> dict[str, Any]:
    """A sensor's trend: mean and max per window, the warning/critical lines, and what was crossed."""
    t = limits or gauge.threshold
    points = []
    peak: float | None = None
    for row in items:
        mean = getattr(row, f"{gauge.column}_mean")
        extreme = getattr(row, f"{gauge.column}_max" if t.direction == "high" else f"{gauge.column}_min")
        points.append([row.agg_timestamp.isoformat(), _round(mean), _round(extreme)])
        if extreme is not None:
            worse = peak is None or (extreme > peak if t.direction == "high" else extreme < peak)
            peak = extreme if worse else peak
    crossed = gauge.status(peak, t) if peak is not None else "unknown"
    return {
        "id": gauge.column,
        "names": ["mean", "max" if t.direction == "high" else "min"],
        "raw": False,
        "marks": [],
        "label": gauge.label,
        "unit": gauge.unit,
        "direction": t.direction,
        "warning": t.warning,
        "critical": t.critical,
        "points": points,
        "peak": peak,
        "crossed": crossed,
        "decimals": gauge.decimals,
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def alerts_page(
    db: Session,
    scope: OrgScope,
    *,
    status: str,
    severity: str | None,
    compressor: str | None,
    page: int,
    history_days: int | None = None,
) -> dict[str, Any]:
    """The alerts page; resolved alerts older than the plan's history (`history_days`) are left out."""
    # Shelved alerts leave the active list (ISA-18.2) and have their own tab.
    shelved = {"active": False, "shelved": True}.get(status)
    listing = alerts.list_alerts(
        db,
        scope,
        status="open" if status == "shelved" else status,
        severity=severity,
        compressor=compressor,
        shelved=shelved,
        limit=ALERT_PAGE_SIZE,
        offset=(page - 1) * ALERT_PAGE_SIZE,
        history_days=history_days,
    )

    def count(**filters: Any) -> int:
        return alerts.list_alerts(db, scope, limit=1, history_days=history_days, **filters).total

    counts = {
        "active": count(status="active", shelved=False),
        "critical": count(status="active", shelved=False, severity="critical"),
        "warning": count(status="active", shelved=False, severity="warning"),
        "shelved": count(status="open", shelved=True),
        "open": count(status="open"),
    }
    return {
        "listing": listing,
        "counts": counts,
        "status": status,
        "severity": severity,
        "compressor": compressor,
        "page": page,
        "pages": max(1, math.ceil(listing.total / ALERT_PAGE_SIZE)),
    }


METRICS = {
    "freshness": "Time since the newest reading vs the freshness SLA",
    "completeness": "Share of expected readings received (target ≥ 95 %)",
    "consistency": "Share of rows passing schema and type checks",
    "accuracy": "Share of readings kept (not quarantined as impossible, duplicate or future)",
}


def quality_page(
    db: Session, scope: OrgScope, *, hours: int, sla_minutes: int, now: datetime | None = None
) -> dict[str, Any]:
    """The pipeline health score, the newest fleet-level value of each metric, the recent checks."""
    now = now or datetime.now(UTC)
    fleet_level = monitoring.data_quality(db, scope, hours=hours, level="fleet", limit=40, now=now).items
    recent = monitoring.data_quality(db, scope, hours=hours, limit=20, now=now)
    newest: dict[str, DataQualityMetricOut] = {}
    for check in fleet_level:
        newest.setdefault(check.metric_type, check)
    cards = []
    scores = []
    for metric, description in METRICS.items():
        newest_check = newest.get(metric)
        score = _score(newest_check, sla_minutes)
        scores.append(score or 0.0)
        cards.append({"metric": metric, "description": description, "item": newest_check, "score": score})
    health = round(100 * sum(scores) / len(scores)) if newest else None
    failing = [check.metric_type for check in newest.values() if not check.pass_threshold]
    return {
        "cards": cards,
        "health": health,
        "failing": failing,
        "recent": recent,
        "hours": hours,
        "sla_minutes": sla_minutes,
        "health_class": _health_class(health),
    }


def _score(item: DataQualityMetricOut | None, sla_minutes: int) -> float | None:
    """0..1: the share for ratio metrics; for freshness (minutes behind), 1 within the SLA, less after."""
    if item is None or item.metric_value is None:
        return None
    if item.metric_type == "freshness":
        lag = max(item.metric_value, 0.0)
        return 1.0 if lag <= sla_minutes else sla_minutes / lag
    return max(0.0, min(1.0, item.metric_value))


def settings_page(db: Session, principal: Principal, settings: Settings) -> dict[str, Any]:
    """Organization, profile, billing, team and API keys; what only admins may see only for admins."""
    scope = principal.scope
    admin = principal.has_role(Role.ADMIN)
    assert principal.user_id is not None
    return {
        "organization": accounts.get_organization(db, scope),
        "user": accounts.get_user(db, principal.user_id),
        "plan": principal.plan,
        "members": team.list_members(db, scope),
        "invitations": team.list_invitations(db, scope, datetime.now(UTC)) if admin else [],
        "billing": billing.overview(db, scope, settings) if admin else None,
        "keys": accounts.list_api_keys(db, scope) if admin else [],
    }


# --- fleet registry and thresholds (settings) ---------------------------------------------------------

REGISTRY_PAGE_SIZE = 200


def fleet_registry_page(db: Session, principal: Principal, *, archived: str, page: int) -> dict[str, Any]:
    """Stations, models and compressors of the organization, and what the import page needs."""
    scope = principal.scope
    compressors = registry.list_compressors(
        db, principal, archived=archived, limit=REGISTRY_PAGE_SIZE, offset=(page - 1) * REGISTRY_PAGE_SIZE
    )
    return {
        "stations": monitoring.stations(db, scope).items,
        "models": registry.list_models(db, scope).items,
        "compressors": compressors,
        "archived": archived,
        "page": page,
        "pages": max(1, math.ceil(compressors.total / REGISTRY_PAGE_SIZE)),
        "plan": principal.plan,
        "template_columns": TEMPLATE_COLUMNS,
        "max_rows": MAX_IMPORT_ROWS,
    }


def thresholds_page(db: Session, principal: Principal, scope_text: str) -> dict[str, Any]:
    """A scope's effective values with their sources, its own overrides, and the recent changes."""
    scope = principal.scope
    target = registry_thresholds.parse_target(db, scope, scope_text)
    answer = registry_thresholds.get_thresholds(db, scope, target.text)
    fallback = registry_thresholds.inherited(db, scope, target)
    return {
        "answer": answer,
        "target": target,
        "inherited": fallback,
        "models": registry.list_models(db, scope).items,
        "history": registry_thresholds.history(db, scope, limit=10),
    }
