"""Alert episodes: the list with filters, one alert, acknowledge and resolve (operator or above)."""

from typing import Annotated

from fastapi import APIRouter, Body, Path, Query
from fastapi.responses import Response

from altaviz.accounts.dependencies import CallerOf, DbSession, Operator, authorize, begin_write
from altaviz.accounts.roles import Role
from altaviz.alerts import service
from altaviz.alerts.schemas import AlertOut, AlertPage, AlertStatusFilter, ResolveRequest, Severity
from altaviz.api.errors import error_responses, read_answer
from altaviz.api.params import CompressorFilter, Offset, limit

router = APIRouter(prefix="/alerts", tags=["alerts"])
AlertId = Annotated[int, Path(ge=1, le=2**62, description="The alert's id.")]


@router.get(
    "",
    response_model=AlertPage,
    responses=error_responses(401, 403, 422, 429, 503),
    summary="Alerts, newest first, filtered by status, severity and compressor",
)
def list_alerts(
    who: CallerOf,
    db: DbSession,
    status: Annotated[
        AlertStatusFilter,
        Query(
            description="open: not resolved; active: not resolved and the condition holds now; resolved; all."
        ),
    ] = "all",
    severity: Annotated[Severity | None, Query(description="Only this severity.")] = None,
    compressor: CompressorFilter = None,
    acknowledged: Annotated[bool | None, Query(description="Only (un)acknowledged alerts.")] = None,
    limit: Annotated[int, limit(200)] = 50,
    offset: Offset = 0,
) -> Response:
    principal = authorize(db, who, Role.VIEWER)
    return read_answer(
        db,
        service.list_alerts(
            db,
            principal.scope,
            status=status,
            severity=severity,
            compressor=compressor,
            acknowledged=acknowledged,
            limit=limit,
            offset=offset,
        ),
    )


@router.get(
    "/{alert_id}",
    response_model=AlertOut,
    responses=error_responses(401, 403, 404, 422, 429, 503),
    summary="One alert",
)
def get_alert(alert_id: AlertId, who: CallerOf, db: DbSession) -> Response:
    principal = authorize(db, who, Role.VIEWER)
    return read_answer(db, service.get_alert(db, principal.scope, alert_id))


@router.post(
    "/{alert_id}/acknowledge",
    response_model=AlertOut,
    responses=error_responses(401, 403, 404, 409, 422, 429, 503),
    summary="Acknowledge an alert (operator or above); records who and when",
)
def acknowledge(alert_id: AlertId, principal: Operator, db: DbSession) -> AlertOut:
    begin_write(db)
    alert = service.acknowledge(db, principal.scope, alert_id, principal.actor)
    db.commit()
    return alert


@router.post(
    "/{alert_id}/resolve",
    response_model=AlertOut,
    responses=error_responses(401, 403, 404, 409, 422, 429, 503),
    summary="Resolve an alert with an optional note (operator or above); records who and when",
)
def resolve(
    alert_id: AlertId,
    principal: Operator,
    db: DbSession,
    body: Annotated[ResolveRequest | None, Body()] = None,
) -> AlertOut:
    begin_write(db)
    alert = service.resolve(db, principal.scope, alert_id, principal.actor, body.note if body else None)
    db.commit()
    return alert
