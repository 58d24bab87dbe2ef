"""Read side of early warning for one organization: a compressor's health trend with the sensors
driving it, and the projected threshold crossings of the fleet (the API and the pages call these).

The pipeline writes compressor_health (one row per compressor and data hour) and
compressor_predictions (one row per degrading metric and level; no row: no trend); this module only
reads them, scoped by organization through accounts.scoping. Predictions are an Enterprise feature
(accounts.plans: `predictions`); the health index is shown on every plan.
"""

import json
from datetime import UTC, datetime
from functools import cache
from typing import Any

from sqlalchemy import Integer, Select, and_, bindparam, func, select
from sqlalchemy.orm import Session

from altaviz.accounts.errors import UpgradeRequired
from altaviz.accounts.plans import Plan, plans_with
from altaviz.accounts.scoping import OrgScope, scope_params, scoped_template
from altaviz.fleet.thresholds import THRESHOLDS_BY_METRIC
from altaviz.health.models import CompressorHealth, CompressorPrediction
from altaviz.health.schemas import CompressorHealthOut, PredictionPage
from altaviz.monitoring import service as monitoring
from altaviz.monitoring.models import CompressorMetadata, StationLocation

H: Any = CompressorHealth.__table__
P: Any = CompressorPrediction.__table__
C: Any = CompressorMetadata.__table__
S: Any = StationLocation.__table__

POINT = ("hour", "health_index", "status", "drivers")
PREDICTION = (
    "metric",
    "level",
    "threshold_value",
    "hours",
    "hours_low",
    "hours_high",
    "projected_at",
    "computed_at",
)


def predictions_refusal(plan: Plan) -> str | None:
    """Why `plan` shows no predictions (the sentence every gated feature gives), or None."""
    if plan.predictions:
        return None
    offered = plans_with("predictions")
    return f"Failure predictions require the {offered} plan; this organization is on {plan.name}"


def require_predictions(plan: Plan) -> None:
    if (refusal := predictions_refusal(plan)) is not None:
        raise UpgradeRequired(refusal, plan=plan.tier)


def drivers_of(text: str | None) -> list[dict[str, Any]]:
    """The stored JSON list of {"sensor", "score"}, as given (largest |score| first)."""
    if not text:
        return []
    return [{"sensor": str(d["sensor"]), "score": float(d["score"])} for d in json.loads(text)]


def _point(row: Any) -> dict[str, Any]:
    return {
        "hour": row.hour,
        "health_index": row.health_index,
        "status": row.status,
        "drivers": drivers_of(row.drivers),
    }


def _prediction(row: Any) -> dict[str, Any]:
    threshold = THRESHOLDS_BY_METRIC.get(row.metric)
    return {
        **{name: getattr(row, name) for name in PREDICTION},
        "label": threshold.label if threshold else row.metric,
        "unit": threshold.unit if threshold else "",
    }


@cache
def _series_statement() -> Select[Any]:
    query = select(*(H.c[name] for name in POINT)).where(
        H.c.compressor_id == bindparam("compressor_id"),
        H.c.hour >= bindparam("start", type_=H.c.hour.type),
        H.c.hour <= bindparam("end", type_=H.c.hour.type),
    )
    return scoped_template(query, H).order_by(H.c.hour)


@cache
def _newest_statement() -> Select[Any]:
    query = select(*(H.c[name] for name in POINT)).where(H.c.compressor_id == bindparam("compressor_id"))
    return scoped_template(query, H).order_by(H.c.hour.desc()).limit(1)


@cache
def _compressor_predictions() -> Select[Any]:
    query = select(*(P.c[name] for name in PREDICTION)).where(P.c.compressor_id == bindparam("compressor_id"))
    return scoped_template(query, P).order_by(P.c.hours, P.c.metric, P.c.level)


def compressor_health(
    session: Session,
    scope: OrgScope,
    plan: Plan,
    compressor_id: str,
    *,
    hours: int = 24,
    end: datetime | None = None,
    now: datetime | None = None,
) -> CompressorHealthOut:
    """The health index of one compressor per hour over the `hours` before `end` (default now), its
    newest hour with the sensors driving it, and its projected threshold crossings (plan allowing)."""
    now = now or datetime.now(UTC)
    start, end = monitoring.history_range(session, scope, plan, compressor_id, hours=hours, end=end, now=now)
    connection = session.connection()
    params = scope_params(scope, compressor_id=compressor_id, start=start, end=end)
    items = [_point(row) for row in connection.execute(_series_statement(), params)]
    newest = connection.execute(_newest_statement(), params).one_or_none()
    if newest is None and not items:
        monitoring.require_compressor(session, scope, compressor_id)
    refusal = predictions_refusal(plan)
    predictions = None
    if refusal is None:
        predictions = [_prediction(row) for row in connection.execute(_compressor_predictions(), params)]
    answer = {
        "compressor_id": compressor_id,
        "hours": hours,
        "start": start,
        "end": end,
        "history_days": plan.history_days,
        "current": _point(newest) if newest is not None else None,
        "items": items,
        "predictions": predictions,
        "predictions_note": refusal,
    }
    return CompressorHealthOut.model_validate(answer)


@cache
def _fleet_predictions() -> Select[Any]:
    """Crossings within the horizon of compressors the fleet shows (not archived), soonest first,
    with the total as a window count."""
    query = select(
        P.c.compressor_id,
        *(P.c[name] for name in PREDICTION),
        C.c.station_id,
        S.c.station_name,
        func.count().over().label("total_rows"),
    ).select_from(
        P.join(
            C, and_(C.c.organization_id == P.c.organization_id, C.c.compressor_id == P.c.compressor_id)
        ).join(S, and_(S.c.organization_id == C.c.organization_id, S.c.station_id == C.c.station_id))
    )
    query = query.where(C.c.archived_at.is_(None), P.c.hours <= bindparam("horizon"))
    return (
        scoped_template(query, P, C, S)
        .order_by(P.c.hours, P.c.compressor_id, P.c.metric, P.c.level)
        .limit(bindparam("limit", type_=Integer()))
        .offset(bindparam("offset", type_=Integer()))
    )


def predictions(
    session: Session,
    scope: OrgScope,
    plan: Plan,
    *,
    horizon_hours: int = 168,
    limit: int = 100,
    offset: int = 0,
) -> PredictionPage:
    """The organization's projected threshold crossings within `horizon_hours` of the data hour they
    were computed from, soonest first (one item per compressor, metric and level)."""
    require_predictions(plan)
    params = scope_params(scope, horizon=float(horizon_hours), limit=limit, offset=offset)
    rows = session.connection().execute(_fleet_predictions(), params).all()
    if rows:
        total = int(rows[0].total_rows)
    else:  # past the last page, the first row still carries the total
        first = (
            session.connection().execute(_fleet_predictions(), {**params, "offset": 0, "limit": 1}).first()
        )
        total = int(first.total_rows) if first is not None else 0
    items = [
        {
            **_prediction(row),
            "compressor_id": row.compressor_id,
            "station_id": row.station_id,
            "station_name": row.station_name,
        }
        for row in rows
    ]
    page = {"horizon_hours": horizon_hours, "items": items, "total": total, "limit": limit, "offset": offset}
    return PredictionPage.model_validate(page)
