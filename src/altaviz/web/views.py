"""What each page shows, assembled from the domain services (no SQL here, no HTTP here).

Each function takes a database session and the organization scope, calls the services the API
calls, and returns plain values for a template.
"""

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
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
from altaviz.fleet.sensors import SENSORS
from altaviz.fleet.thresholds import THRESHOLDS_BY_METRIC, Threshold
from altaviz.health import service as health
from altaviz.health.model import HealthConfig
from altaviz.health.schemas import CompressorHealthOut, Prediction
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
RANK = {"healthy": 0, "not_monitored": 1, "stale": 2, "warning": 3, "critical": 4}
# What each state is called on the pages (the map's tooltip and legend say it in words).
STATE_LABELS = {
    "healthy": "healthy",
    "warning": "warning",
    "critical": "critical",
    "stale": "no recent data",
    "not_monitored": "not monitored on your plan",
}
# Ranges up to this many hours draw every reading (recent_readings keeps 48 hours of them).
RAW_RANGE_HOURS = 4
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

    def status(self, value: float | None, limits: Limits | None = None, *, running: bool = True) -> str:
        """healthy, warning or critical against `limits` (the compressor's effective values); "stopped"
        for a limit a stop or start takes the value past (low flow, low suction pressure) when the unit
        is not `running`: the alerts do not judge it then either (state-based suppression)."""
        if value is None:
            return "unknown"
        if not running and self.threshold.start_transient:
            return "stopped"
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
# The pressure differential (discharge - suction) has alerts, so it has a chart too (no gauge).
DIFFERENTIAL = Gauge("pressure_delta", "pressure_differential", "Pressure differential", "PSI", 600, 1500, 0)
# The column of a reading (recent_readings) each chart draws.
READING_COLUMN = {
    "vibration": "vibration_mms",
    "discharge_temp": "discharge_temp_f",
    "suction_pressure": "suction_pressure_psi",
    "discharge_pressure": "discharge_pressure_psi",
    "horsepower": "horsepower_consumption",
    "gas_flow": "gas_flow_mcf",
    "pressure_delta": "pressure_differential",
}
WINDOWS = {"1hr": "1h", "4hr": "4h", "24hr": "24h"}
RANGES = {"1H": 1, "4H": 4, "24H": 24, "7D": 168}
# The health index in words, at the early-warning model's own levels: below ANOMALY for long it
# raises an anomaly warning, which clears at CLEAR and above (altaviz.health.model.HealthConfig).
HEALTH_ANOMALY = HealthConfig.anomaly_health
HEALTH_CLEAR = HealthConfig.clear_health
# The fleet page's Predicted panel: crossings projected within this many hours.
PREDICTED_HOURS = 168
PREDICTED_LINES = 12
SENSOR_LABELS = {sensor.name: sensor.label for sensor in SENSORS}
# Fleet sort orders (the compressor cards): worst state first, or lowest health index first.
FLEET_SORTS = {"health": "worst state first", "health_index": "lowest health index first"}


def health_words(index: float | None, status: str | None) -> dict[str, Any]:
    """A health index as a card or the compressor page says it: text, status colour, explanation."""
    if status == "warmup":
        return {
            "text": "learning",
            "class": "unknown",
            "state": "warmup",
            "title": "The health model is still learning this compressor's normal behaviour (its first "
            f"{HealthConfig.warmup_hours} running hours, and again after maintenance); then it judges "
            "every hour",
        }
    if status == "stopped":
        return {
            "text": "stopped",
            "class": "unknown",
            "state": "stopped",
            "title": "Not running (or settling after a start): health is not judged",
        }
    if index is None:
        return {
            "text": "not computed yet",
            "class": "unknown",
            "state": "none",
            "title": "No health index yet: the pipeline computes it from the readings",
        }
    shown = round(index)  # the band of the number shown, so "80" never reads "degrading"
    if shown >= HEALTH_CLEAR:
        word, status_class = "good", "healthy"
    elif shown >= HEALTH_ANOMALY:
        word, status_class = "degrading", "warning"
    else:
        word, status_class = "poor", "critical"
    return {
        "text": f"{shown} — {word}",
        "class": status_class,
        "state": "judged",
        "value": shown,
        "title": f"Health index {shown} of 100 ({word}: below {HEALTH_ANOMALY:.0f} for long raises an "
        f"early warning)",
    }


def predicted_lines(items: list[Any]) -> list[dict[str, Any]]:
    """Projected crossings (soonest first) as lines: one per compressor and metric, its levels in order."""
    lines: dict[tuple[str, str], dict[str, Any]] = {}
    for item in items:
        line = lines.setdefault(
            (item.compressor_id, item.metric),
            {
                "compressor_id": item.compressor_id,
                "station_name": item.station_name,
                "metric": item.metric,
                "label": item.label,
                "levels": [],
            },
        )
        line["levels"].append(item)
    return list(lines.values())


def _predicted(db: Session, scope: OrgScope, plan: Plan | None) -> dict[str, Any]:
    """The Predicted panel: crossings within PREDICTED_HOURS, or why the plan shows none."""
    refusal = health.predictions_refusal(plan) if plan is not None else None
    if refusal is not None:
        return {"refusal": refusal, "lines": [], "more": 0}
    page = health.predictions(db, scope, plan, horizon_hours=PREDICTED_HOURS, limit=500) if plan else None
    lines = predicted_lines(page.items) if page is not None else []
    return {
        "refusal": None,
        "lines": lines[:PREDICTED_LINES],
        "more": max(0, len(lines) - PREDICTED_LINES),
        "hours": PREDICTED_HOURS,
    }


def fleet_overview(
    db: Session,
    scope: OrgScope,
    *,
    page: int,
    station: str | None,
    status: str | None,
    plan: Plan | None = None,
    sort: str = "health",
) -> dict[str, Any]:
    """Cards, map, compressor cards (worst first, a page at a time), the projected threshold
    crossings (Predicted) and the newest active alerts."""
    fleet: FleetPage = monitoring.fleet(
        db,
        scope,
        station=station,
        status=status,
        sort=sort,
        limit=PAGE_SIZE,
        offset=(page - 1) * PAGE_SIZE,
        plan=plan,
    )
    # Worst stations first: with hundreds of stations the list under the map names the ones that matter.
    stations = sorted(
        monitoring.stations(db, scope, plan=plan).items,
        key=lambda s: (-RANK.get(s.health_status, 0), -s.active_alert_count, s.station_id),
    )
    critical = monitoring.fleet(db, scope, status="critical", sort="health", limit=200, plan=plan).items
    warning = monitoring.fleet(db, scope, status="warning", sort="health", limit=200, plan=plan).items
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
            "label": STATE_LABELS.get(s.health_status, s.health_status),
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
        "health_class": _worst_class(summary),
        "state_labels": STATE_LABELS,
        "sort": sort,
        "sorts": FLEET_SORTS,
        "health_of": {
            c.compressor_id: health_words(c.health_index, c.health_index_status) for c in fleet.items
        },
        "predicted": _predicted(db, scope, plan),
    }


def _worst_class(summary: Any) -> str:
    """The fleet health card's colour: the worst state of the fleet, not a share of it."""
    if summary.compressors == 0:
        return "unknown"
    if summary.critical:
        return "critical"
    if summary.warning or summary.stale:
        return "warning"
    return "unknown" if summary.not_monitored and not summary.healthy else "healthy"


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
    detail: CompressorDetail = monitoring.compressor_detail(db, scope, compressor_id, plan=plan)
    upgrade: str | None = None
    if not plan.allows_window(window):
        upgrade = str(UpgradeRequired(f"The {window} window requires a Pro or Enterprise plan", plan.tier))
        window = "1hr"
    hours = RANGES[range_key]
    end = now or datetime.now(UTC)
    start = end - timedelta(hours=hours)
    items: list[HourlyReading] = []
    raw: list[dict[str, Any]] = []
    if hours <= RAW_RANGE_HOURS:  # short ranges: every reading (kept by the pipeline's load)
        raw = monitoring.recent_readings(db, scope, compressor_id, start=start, end=end)
    else:
        try:
            series = monitoring.readings(db, scope, plan, compressor_id, window=window, hours=hours, now=end)
            items = series.items
        except UpgradeRequired as error:
            upgrade = str(error)
    latest = detail.latest_reading
    # the compressor's own limits: compressor > model > organization > defaults
    limits = registry_thresholds.for_compressor(db, scope, compressor_id)
    trend = health.compressor_health(db, scope, plan, compressor_id, hours=hours, now=end)
    # the health model's newest hour says whether the unit runs (it judges running hours only)
    running = trend.current is None or trend.current.status != "stopped"
    gauges = []
    for gauge in GAUGES:
        value = getattr(latest, f"{gauge.column}_mean") if latest else None
        own = limits[gauge.metric]
        status = gauge.status(value, own, running=running)
        gauges.append({"gauge": gauge, "value": value, "status": status, "threshold": own})
    alert_page = alerts.list_alerts(db, scope, compressor=compressor_id, limit=20)
    maintenance = monitoring.maintenance_events(
        db, scope, compressor=compressor_id, limit=50, history_days=plan.history_days
    )
    span = (start, end)
    predictions = trend.predictions or []
    charts = []
    for gauge in (*GAUGES, DIFFERENTIAL):
        mine = limits.get(gauge.metric)
        chart = _raw_chart(gauge, raw, mine) if hours <= RAW_RANGE_HOURS else _chart(gauge, items, mine)
        chart["marks"] = _marks(gauge.metric, alert_page.items, maintenance.items, span)
        chart["projection"] = _projection(chart, predictions)
        charts.append(chart)
    health_chart = _health_chart(trend)
    until = _axis_end(end, hours, [c["projection"] for c in charts])
    for chart in (*charts, *([health_chart] if health_chart else [])):
        chart.update(
            start=start.isoformat(), end=until.isoformat(), now=end.isoformat() if until > end else None
        )
    return {
        "health": trend,
        "health_now": health_words(
            trend.current.health_index if trend.current else None,
            trend.current.status if trend.current else None,
        ),
        "health_chart": health_chart,
        "drivers": _drivers_in_words(trend),
        "predictions": predictions,
        "detail": detail,
        "gauges": gauges,
        "charts": charts,
        "alerts": alert_page,
        "maintenance": maintenance,
        "window": window,
        "range_key": range_key,
        "upgrade": upgrade,
        "plan": plan,
        "has_readings": bool(items or raw),
        "raw": hours <= RAW_RANGE_HOURS,
        "state_labels": STATE_LABELS,
    }


def _chart(gauge: Gauge, items: list[HourlyReading], limits: Limits | None = None) -> dict[str, Any]:
    """A sensor's trend: mean and max per window, the warning/critical lines, and what was crossed."""
    t = limits or gauge.threshold
    points = []
    peak: float | None = None
    extreme_name = f"{gauge.column}_max" if t.direction == "high" else f"{gauge.column}_min"
    has_extreme = extreme_name in HourlyReading.model_fields  # the differential has a mean only
    for row in items:
        mean = getattr(row, f"{gauge.column}_mean")
        extreme = getattr(row, extreme_name) if has_extreme else mean
        points.append([row.agg_timestamp.isoformat(), _round(mean), _round(extreme)])
        if extreme is not None:
            worse = peak is None or (extreme > peak if t.direction == "high" else extreme < peak)
            peak = extreme if worse else peak
    crossed = gauge.status(peak, t) if peak is not None else "unknown"
    names = ["mean", "max" if t.direction == "high" else "min"] if has_extreme else ["mean"]
    return {
        "id": gauge.column,
        "metric": gauge.metric,
        "names": names,
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


def _axis_end(end: datetime, hours: int, projections: list[dict[str, Any] | None]) -> datetime:
    """Where every chart's time axis ends (they share it: zoom and crosshair are linked): past `end`
    up to the furthest cone drawn, at most twice the range; never before `end`."""
    cones = [p["until"] for p in projections if p]
    return max(end, min(max(cones), end + timedelta(hours=2 * hours))) if cones else end


def _health_chart(trend: CompressorHealthOut) -> dict[str, Any] | None:
    """The health index per hour (0-100) with its two levels; hours not judged drawn as gaps, their
    runs shaded and named (learning, stopped)."""
    if not trend.items:
        return None
    areas: list[dict[str, str]] = []
    for point in trend.items:
        if point.status == "judged":
            continue
        text = "learning" if point.status == "warmup" else "stopped"
        to = (point.hour + timedelta(hours=1)).isoformat()
        if areas and areas[-1]["text"] == text and areas[-1]["to"] == point.hour.isoformat():
            areas[-1]["to"] = to
        else:
            areas.append({"from": point.hour.isoformat(), "to": to, "text": text})
    return {
        "id": "health",
        "metric": "health_index",
        "names": ["health index"],
        "raw": False,
        "marks": [],
        "areas": areas,
        "label": "Health index",
        "unit": "of 100",
        "direction": "low",
        "warning": HEALTH_CLEAR,
        "critical": HEALTH_ANOMALY,
        "line_names": {"warning": "good", "critical": "early warning"},
        "min": 0,
        "max": 100,
        "points": [[p.hour.isoformat(), _round(p.health_index)] for p in trend.items],
        "decimals": 0,
        "projection": None,
    }


def _drivers_in_words(trend: CompressorHealthOut) -> list[str]:
    """The sensors pulling the newest health down, each in a sentence (largest first)."""
    if trend.current is None or trend.current.status != "judged":
        return []
    config = HealthConfig()
    words = []
    for driver in trend.current.drivers:
        size = abs(driver.score)
        strength = (
            "far " if size >= config.score_zero else ("clearly " if size >= 2 * config.score_healthy else "")
        )
        side = "higher" if driver.score > 0 else "lower"
        label = SENSOR_LABELS.get(driver.sensor, driver.sensor)
        words.append(
            f"{label}: {strength}{side} than this compressor's own model expects at its operating point "
            f"(score {driver.score:+.1f}; {config.score_healthy:.0f} is unusual)"
        )
    return words


CONE_STEPS = 16


def _projection(chart: dict[str, Any], predictions: list[Prediction]) -> dict[str, Any] | None:
    """A metric's projected crossings on its trend: the central line from its newest value to the
    threshold, the 80 % range as a cone (fastest to slowest crossing of the worst level projected),
    and each level's crossing in words."""
    mine = [p for p in predictions if p.metric == chart["metric"]]
    last = next((point for point in reversed(chart["points"]) if point[1] is not None), None)
    if not mine or last is None:
        return None
    lead = next((p for p in mine if p.level == "critical"), mine[0])
    origin, value = lead.computed_at, float(last[1])
    threshold = lead.threshold_value
    fast = max(lead.hours_low, 0.0)
    slow = lead.hours_high if lead.hours_high is not None else 2 * lead.hours
    slow = max(slow, lead.hours, fast + 1e-6)
    cone = []
    for step in sorted({*(slow * i / CONE_STEPS for i in range(CONE_STEPS + 1)), fast}):
        slowest = value + (threshold - value) * step / slow
        fastest = threshold if step >= fast else value + (threshold - value) * step / fast
        low, high = sorted((slowest, fastest))
        cone.append([(origin + timedelta(hours=step)).isoformat(), _round(low), _round(high)])
    levels = [
        {
            "level": p.level,
            "threshold": p.threshold_value,
            "at": p.projected_at.isoformat(),
            "hours": p.hours,
            "low": p.hours_low,
            "high": p.hours_high,
        }
        for p in mine
    ]
    return {
        "from": [origin.isoformat(), _round(value)],
        "to": [lead.projected_at.isoformat(), threshold],
        "cone": cone,
        "levels": levels,
        "until": origin + timedelta(hours=slow),
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _raw_chart(gauge: Gauge, readings: list[dict[str, Any]], limits: Limits | None = None) -> dict[str, Any]:
    """A sensor's every reading (short ranges), the warning/critical lines, and the worst value."""
    t = limits or gauge.threshold
    column = READING_COLUMN[gauge.column]
    points = [[r["timestamp"].isoformat(), _round(r[column])] for r in readings]
    values = [r[column] for r in readings if r[column] is not None]
    peak = (max(values) if t.direction == "high" else min(values)) if values else None
    return {
        "id": gauge.column,
        "metric": gauge.metric,
        "names": ["reading"],
        "raw": True,
        "marks": [],
        "label": gauge.label,
        "unit": gauge.unit,
        "direction": t.direction,
        "warning": t.warning,
        "critical": t.critical,
        "points": points,
        "peak": peak,
        "crossed": gauge.status(peak, t) if peak is not None else "unknown",
        "decimals": gauge.decimals,
    }


def _marks(
    metric: str, alert_items: list[Any], maintenance: list[Any], span: tuple[datetime, datetime]
) -> list[dict[str, str]]:
    """What happened on a chart's time axis: its metric's alerts opening and clearing, maintenance."""
    start, end = span
    marks = []
    for alert in alert_items:
        if alert.condition != metric:
            continue
        opened = alert.alert_timestamp
        if start <= opened <= end:
            text = f"{alert.severity} alert opened"
            marks.append({"at": opened.isoformat(), "kind": "opened", "text": text})
        cleared = alert.returned_to_normal_at
        if cleared is not None and start <= cleared <= end:
            marks.append({"at": cleared.isoformat(), "kind": "cleared", "text": "alert cleared"})
    for event in maintenance:
        if start <= event.performed_at <= end:
            text = f"{event.event_type} maintenance"
            marks.append({"at": event.performed_at.isoformat(), "kind": "maintenance", "text": text})
    return marks


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
