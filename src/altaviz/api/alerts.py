"""Alert episodes: the list with filters, one alert, and the lifecycle actions (operator or above):
acknowledge, resolve, shelve, unshelve. Each action is audited; an action the alert's state does not
allow answers 409 with the reason (who got there first, or what to do instead)."""

from typing import Annotated

from fastapi import APIRouter, Body, Path, Query, Request
from fastapi.responses import Response

from altaviz.accounts.dependencies import CallerOf, DbSession, Operator, authorize, begin_write
from altaviz.accounts.roles import Role
from altaviz.alerts import service
from altaviz.alerts.schemas import (
    AlertOut,
    AlertPage,
    AlertStatusFilter,
    ResolveRequest,
    Severity,
    ShelveRequest,
)
from altaviz.api.errors import ApiError, error_responses, read_answer
from altaviz.api.params import CompressorFilter, Offset, limit
from altaviz.api.read_cache import cache_key, cached_answer

router = APIRouter(prefix="/alerts", tags=["alerts"])
AlertId = Annotated[int, Path(ge=1, le=2**62, description="The alert's id.")]
ACTION_ERRORS = error_responses(401, 403, 404, 409, 422, 429, 503)


def client_ip(request: Request) -> str | None:
    """The caller's address (already the real client behind TRUSTED_PROXIES)."""
    return request.client.host if request.client else None


@router.get(
    "",
    response_model=AlertPage,
    responses=error_responses(401, 403, 422, 429, 503),
    summary="Alerts, newest first, filtered by status, severity, compressor, acknowledgement and shelving",
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
    shelved: Annotated[
        bool | None, Query(description="true: only alerts shelved now; false: leave shelved alerts out.")
    ] = None,
    limit: Annotated[int, limit(200)] = 50,
    offset: Offset = 0,
) -> Response:
    principal = authorize(db, who, Role.VIEWER)
    return cached_answer(
        who,
        db,
        cache_key(principal, "alerts", status, severity, compressor, acknowledged, shelved, limit, offset),
        lambda: service.list_alerts(
            db,
            principal.scope,
            status=status,
            severity=severity,
            compressor=compressor,
            acknowledged=acknowledged,
            shelved=shelved,
            limit=limit,
            offset=offset,
            history_days=principal.plan.history_days,  # the plan's history (open alerts always shown)
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
    responses=ACTION_ERRORS,
    summary="Acknowledge an alert (operator or above); records who and when",
)
def acknowledge(alert_id: AlertId, principal: Operator, db: DbSession, request: Request) -> AlertOut:
    begin_write(db)
    alert = service.acknowledge(db, principal.scope, alert_id, principal, ip=client_ip(request))
    db.commit()
    return alert


@router.post(
    "/{alert_id}/resolve",
    response_model=AlertOut,
    responses=ACTION_ERRORS,
    summary="Resolve an alert with an optional note (operator or above); records who and when",
)
def resolve(
    alert_id: AlertId,
    principal: Operator,
    db: DbSession,
    request: Request,
    body: Annotated[ResolveRequest | None, Body()] = None,
) -> AlertOut:
    begin_write(db)
    alert = service.resolve(
        db, principal.scope, alert_id, principal, body.note if body else None, ip=client_ip(request)
    )
    db.commit()
    return alert


@router.post(
    "/{alert_id}/shelve",
    response_model=AlertOut,
    responses=ACTION_ERRORS,
    summary="Shelve an open alert for a time with a reason (operator or above); it returns when the "
    "time is up",
)
def shelve(
    alert_id: AlertId, body: ShelveRequest, principal: Operator, db: DbSession, request: Request
) -> AlertOut:
    if not body.reason.strip():
        raise ApiError(422, "Give a reason for shelving the alert", "validation_error")
    begin_write(db)
    alert = service.shelve(
        db,
        principal.scope,
        alert_id,
        principal,
        minutes=body.minutes,
        reason=body.reason,
        ip=client_ip(request),
    )
    db.commit()
    return alert


@router.post(
    "/{alert_id}/unshelve",
    response_model=AlertOut,
    responses=ACTION_ERRORS,
    summary="Bring a shelved alert back now (operator or above)",
)
def unshelve(alert_id: AlertId, principal: Operator, db: DbSession, request: Request) -> AlertOut:
    begin_write(db)
    alert = service.unshelve(db, principal.scope, alert_id, principal, ip=client_ip(request))
    db.commit()
    return alert
