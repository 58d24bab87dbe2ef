"""Early warning (issue 19): a compressor's health trend, and the fleet's projected threshold crossings."""

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from altaviz.accounts.dependencies import CallerOf, DbSession, authorize
from altaviz.accounts.roles import Role
from altaviz.api.errors import error_responses, read_answer
from altaviz.api.params import CompressorPath, Hours, Offset, RangeEnd, limit
from altaviz.api.read_cache import cache_key, cached_answer
from altaviz.health import service
from altaviz.health.schemas import CompressorHealthOut, PredictionPage

router = APIRouter(tags=["early warning"])


@router.get(
    "/compressors/{compressor_id}/health",
    response_model=CompressorHealthOut,
    responses=error_responses(401, 403, 404, 422, 429, 503),
    summary="Health index 0–100 per hour over the last 1–168 hours, the sensors driving it, and the "
    "projected threshold crossings (predictions: Enterprise)",
)
def compressor_health(
    compressor_id: CompressorPath,
    who: CallerOf,
    db: DbSession,
    hours: Hours = 24,
    end: RangeEnd = None,
) -> Response:
    principal = authorize(db, who, Role.VIEWER)
    return read_answer(
        db,
        service.compressor_health(db, principal.scope, principal.plan, compressor_id, hours=hours, end=end),
    )


@router.get(
    "/predictions",
    response_model=PredictionPage,
    responses=error_responses(401, 403, 422, 429, 503),
    summary="Compressors with a projected warning or critical crossing within the horizon, soonest "
    "first (Enterprise)",
)
def predictions(
    who: CallerOf,
    db: DbSession,
    horizon_hours: Annotated[
        int,
        Query(ge=1, le=8760, description="Only crossings projected within this many hours (default 7 days)."),
    ] = 168,
    limit: Annotated[int, limit(500)] = 100,
    offset: Offset = 0,
) -> Response:
    principal = authorize(db, who, Role.VIEWER)
    return cached_answer(
        who,
        db,
        cache_key(principal, "predictions", horizon_hours, limit, offset),
        lambda: service.predictions(
            db, principal.scope, principal.plan, horizon_hours=horizon_hours, limit=limit, offset=offset
        ),
    )
