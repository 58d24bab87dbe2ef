"""Data-quality checks of the pipeline's inputs: freshness, completeness, consistency, accuracy."""

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response

from altaviz.accounts.dependencies import CallerOf, DbSession, authorize
from altaviz.accounts.roles import Role
from altaviz.api.errors import error_responses, read_answer
from altaviz.api.params import CompressorFilter, Hours, Offset, limit
from altaviz.monitoring import service
from altaviz.monitoring.schemas import DataQualityPage

router = APIRouter(tags=["data quality"])


@router.get(
    "/data-quality",
    response_model=DataQualityPage,
    responses=error_responses(401, 403, 422, 429, 503),
    summary="Quality checks of the last hours, newest first",
)
def data_quality(
    who: CallerOf,
    db: DbSession,
    hours: Hours = 24,
    compressor: CompressorFilter = None,
    level: Annotated[
        Literal["fleet", "compressor", "all"],
        Query(description="Fleet-wide checks, per-compressor, or both."),
    ] = "all",
    metric_type: Annotated[
        Literal["freshness", "completeness", "consistency", "accuracy"] | None,
        Query(description="Only this check."),
    ] = None,
    limit: Annotated[int, limit(1000)] = 100,
    offset: Offset = 0,
) -> Response:
    principal = authorize(db, who, Role.VIEWER)
    return read_answer(
        db,
        service.data_quality(
            db,
            principal.scope,
            hours=hours,
            compressor=compressor,
            level=level,
            metric_type=metric_type,
            limit=limit,
            offset=offset,
        ),
    )
