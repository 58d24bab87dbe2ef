"""The fleet at a glance: compressors with health, stations, newest readings."""

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response

from altaviz.accounts.dependencies import CallerOf, DbSession, authorize
from altaviz.accounts.roles import Role
from altaviz.api.errors import error_responses, read_answer
from altaviz.api.params import Offset, StationFilter, limit
from altaviz.api.read_cache import cache_key, cached_answer
from altaviz.monitoring import service
from altaviz.monitoring.schemas import FleetPage, LatestReadingPage, StationList

router = APIRouter(tags=["fleet"])
READ_ERRORS = error_responses(401, 403, 422, 429, 503)


@router.get(
    "/fleet",
    response_model=FleetPage,
    responses=READ_ERRORS,
    summary="One row per compressor: station, latest values, alerts in alarm, health; and fleet totals",
)
def fleet(
    who: CallerOf,
    db: DbSession,
    station: StationFilter = None,
    status: Annotated[
        Literal["healthy", "warning", "critical", "stale", "not_monitored"] | None,
        Query(description="Only compressors in this state."),
    ] = None,
    sort: Annotated[
        Literal["compressor", "health", "health_index"],
        Query(
            description="compressor: by id; health: worst state first; health_index: lowest health "
            "index first (compressors without one last)."
        ),
    ] = "compressor",
    limit: Annotated[int, limit(1000)] = 100,
    offset: Offset = 0,
) -> Response:
    principal = authorize(db, who, Role.VIEWER)
    return cached_answer(
        who,
        db,
        cache_key(principal, "fleet", station, status, sort, limit, offset),
        lambda: service.fleet(
            db,
            principal.scope,
            station=station,
            status=status,
            sort=sort,
            limit=limit,
            offset=offset,
            plan=principal.plan,
        ),
    )


@router.get(
    "/stations",
    response_model=StationList,
    responses=READ_ERRORS,
    summary="Stations with compressor counts and the health of their worst compressor",
)
def stations(who: CallerOf, db: DbSession) -> Response:
    principal = authorize(db, who, Role.VIEWER)
    return read_answer(db, service.stations(db, principal.scope, plan=principal.plan))


@router.get(
    "/readings/latest",
    response_model=LatestReadingPage,
    responses=READ_ERRORS,
    summary="The newest hourly aggregate of each compressor",
)
def latest_readings(
    who: CallerOf,
    db: DbSession,
    station: StationFilter = None,
    limit: Annotated[int, limit(1000)] = 100,
    offset: Offset = 0,
) -> Response:
    principal = authorize(db, who, Role.VIEWER)
    return read_answer(
        db, service.latest_readings(db, principal.scope, station=station, limit=limit, offset=offset)
    )
