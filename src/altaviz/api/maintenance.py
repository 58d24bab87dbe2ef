"""Maintenance events of the organization's compressors."""

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response

from altaviz.accounts.dependencies import CallerOf, DbSession, authorize
from altaviz.accounts.roles import Role
from altaviz.api.errors import error_responses, read_answer
from altaviz.api.params import CompressorFilter, Offset, limit
from altaviz.monitoring import service
from altaviz.monitoring.schemas import MaintenancePage

router = APIRouter(tags=["maintenance"])


@router.get(
    "/maintenance",
    response_model=MaintenancePage,
    responses=error_responses(401, 403, 422, 429, 503),
    summary="Maintenance events, newest first, within the plan's history",
)
def maintenance(
    who: CallerOf,
    db: DbSession,
    compressor: CompressorFilter = None,
    event_type: Annotated[
        Literal["scheduled", "unscheduled", "inspection", "failure"] | None,
        Query(description="Only this type."),
    ] = None,
    limit: Annotated[int, limit(500)] = 50,
    offset: Offset = 0,
) -> Response:
    principal = authorize(db, who, Role.VIEWER)
    return read_answer(
        db,
        service.maintenance_events(
            db,
            principal.scope,
            compressor=compressor,
            event_type=event_type,
            limit=limit,
            offset=offset,
            history_days=principal.plan.history_days,
        ),
    )
