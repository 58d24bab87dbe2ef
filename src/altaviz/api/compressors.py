"""One compressor: its detail and its readings over time."""

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from altaviz.accounts.dependencies import CallerOf, DbSession, authorize
from altaviz.accounts.roles import Role
from altaviz.api.errors import error_responses, read_answer
from altaviz.api.params import CompressorPath, Hours, RangeEnd, Window
from altaviz.monitoring import service
from altaviz.monitoring.schemas import CompressorDetail, ReadingSeries

router = APIRouter(prefix="/compressors", tags=["compressors"])


@router.get(
    "/{compressor_id}",
    response_model=CompressorDetail,
    responses=error_responses(401, 403, 404, 422, 429, 503),
    summary="Metadata, station, newest reading and health of one compressor",
)
def compressor_detail(compressor_id: CompressorPath, who: CallerOf, db: DbSession) -> Response:
    principal = authorize(db, who, Role.VIEWER)
    return read_answer(db, service.compressor_detail(db, principal.scope, compressor_id, plan=principal.plan))


@router.get(
    "/{compressor_id}/readings",
    response_model=ReadingSeries,
    responses=error_responses(401, 403, 404, 422, 429, 503),
    summary="Aggregated readings (1hr, 4hr or 24hr windows) over the last 1–168 hours",
)
def compressor_readings(
    compressor_id: CompressorPath,
    who: CallerOf,
    db: DbSession,
    window: Annotated[
        Window, Query(description="Aggregation window; 4hr and 24hr need Pro or above.")
    ] = "1hr",
    hours: Hours = 24,
    end: RangeEnd = None,
) -> Response:
    principal = authorize(db, who, Role.VIEWER)
    return read_answer(
        db,
        service.readings(
            db, principal.scope, principal.plan, compressor_id, window=window, hours=hours, end=end
        ),
    )
