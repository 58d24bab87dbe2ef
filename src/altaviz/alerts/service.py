"""Alert episodes as people see and act on them: listing, acknowledging, resolving.

Who acted is always the authenticated principal (never a name from the request body). Each action
is a conditional UPDATE, so two operators acting at once cannot both succeed or overwrite each other.
"""

from datetime import UTC, datetime
from functools import cache
from typing import Any

from sqlalchemy import Boolean, Integer, Select, and_, bindparam, func, literal, select, update
from sqlalchemy.orm import Session

from altaviz.accounts.errors import Conflict, NotFound
from altaviz.accounts.scoping import OrgScope, scope_params, scoped, scoped_template
from altaviz.alerts.models import AlertHistory
from altaviz.alerts.schemas import AlertOut, AlertPage
from altaviz.db.base import UTCDateTime
from altaviz.monitoring.models import CompressorMetadata, StationLocation

A: Any = AlertHistory.__table__
C: Any = CompressorMetadata.__table__
S: Any = StationLocation.__table__
ALERT_FIELDS = tuple(
    name for name in AlertOut.model_fields if name not in ("compressor_model", "station_id", "station_name")
)


def _listing() -> Select[Any]:
    """Alerts with their compressor's model and station (organization bound at execution)."""
    query = select(
        *(A.c[name] for name in ALERT_FIELDS),
        C.c.model.label("compressor_model"),
        C.c.station_id,
        S.c.station_name,
    ).select_from(
        A.join(
            C, and_(C.c.organization_id == A.c.organization_id, C.c.compressor_id == A.c.compressor_id)
        ).join(S, and_(S.c.organization_id == C.c.organization_id, S.c.station_id == C.c.station_id))
    )
    return scoped_template(query, A, C, S)


def _filters(status: str, by_severity: bool, by_compressor: bool, by_ack: bool) -> list[Any]:
    clauses: list[Any] = []
    if status == "open":
        clauses.append(A.c.resolved.is_(False))
    elif status == "active":
        clauses += [A.c.resolved.is_(False), A.c.is_active.is_(True)]
    elif status == "resolved":
        clauses.append(A.c.resolved.is_(True))
    if by_severity:
        clauses.append(A.c.severity == bindparam("severity"))
    if by_compressor:
        clauses.append(A.c.compressor_id == bindparam("compressor"))
    if by_ack:
        clauses.append(A.c.acknowledged == bindparam("acknowledged", type_=Boolean()))
    return clauses


@cache
def _list_statement(status: str, by_severity: bool, by_compressor: bool, by_ack: bool) -> Select[Any]:
    query = _listing()
    for clause in _filters(status, by_severity, by_compressor, by_ack):
        query = query.where(clause)
    return query


@cache
def _page_statement(status: str, by_severity: bool, by_compressor: bool, by_ack: bool) -> Select[Any]:
    return (
        _list_statement(status, by_severity, by_compressor, by_ack)
        .order_by(A.c.alert_timestamp.desc(), A.c.id.desc())
        .limit(bindparam("limit", type_=Integer()))
        .offset(bindparam("offset", type_=Integer()))
    )


@cache
def _count_statement(status: str, by_severity: bool, by_compressor: bool, by_ack: bool) -> Select[Any]:
    """The same filters on alert_history alone: every alert has its compressor and station (foreign
    keys), so the joins of the listing neither add nor remove rows."""
    query = scoped_template(select(func.count()).select_from(A), A)
    for clause in _filters(status, by_severity, by_compressor, by_ack):
        query = query.where(clause)
    return query


@cache
def _one_statement() -> Select[Any]:
    return _listing().where(A.c.id == bindparam("alert_id", type_=A.c.id.type))


def list_alerts(
    session: Session,
    scope: OrgScope,
    *,
    status: str = "all",
    severity: str | None = None,
    compressor: str | None = None,
    acknowledged: bool | None = None,
    limit: int = 50,
    offset: int = 0,
) -> AlertPage:
    """Alerts newest first. status: open (unresolved), active (unresolved, condition holds now),
    resolved, or all."""
    flags = (status, severity is not None, compressor is not None, acknowledged is not None)
    params = scope_params(
        scope, severity=severity, compressor=compressor, acknowledged=acknowledged, limit=limit, offset=offset
    )
    connection = session.connection()
    rows = connection.execute(_page_statement(*flags), params).all()
    if offset == 0 and len(rows) < limit:
        total = len(rows)  # the whole list fits on this page
    else:
        total = int(connection.execute(_count_statement(*flags), params).scalar_one())
    return AlertPage.model_validate(
        {
            "items": [dict(row._mapping) for row in rows],
            "total": total,
            "limit": limit,
            "offset": offset,
        }
    )


def get_alert(session: Session, scope: OrgScope, alert_id: int) -> AlertOut:
    row = session.connection().execute(_one_statement(), scope_params(scope, alert_id=alert_id)).one_or_none()
    if row is None:
        raise NotFound("Alert not found")
    return AlertOut.model_validate(dict(row._mapping))


def acknowledge(session: Session, scope: OrgScope, alert_id: int, actor: str) -> AlertOut:
    now = datetime.now(UTC)
    statement = scoped(
        update(AlertHistory).where(AlertHistory.id == alert_id, AlertHistory.acknowledged.is_(False)),
        scope,
        AlertHistory,
    )
    result = session.execute(
        statement.values(acknowledged=True, acknowledged_by=actor, acknowledged_at=now, updated_at=now)
    )
    alert = get_alert(session, scope, alert_id)
    if _rowcount(result) == 0:
        raise Conflict(
            f"Alert {alert_id} was already acknowledged by {alert.acknowledged_by} "
            f"at {_when(alert.acknowledged_at)}"
        )
    return alert


def resolve(session: Session, scope: OrgScope, alert_id: int, actor: str, note: str | None) -> AlertOut:
    """Resolve the alert; one not yet acknowledged is acknowledged by the same person at once."""
    now = datetime.now(UTC)
    statement = scoped(
        update(AlertHistory).where(AlertHistory.id == alert_id, AlertHistory.resolved.is_(False)),
        scope,
        AlertHistory,
    )
    result = session.execute(
        statement.values(
            resolved=True,
            resolved_by=actor,
            resolved_at=now,
            resolution_note=(note or "").strip() or None,
            acknowledged=True,
            acknowledged_by=func.coalesce(AlertHistory.acknowledged_by, actor),
            acknowledged_at=func.coalesce(AlertHistory.acknowledged_at, literal(now, UTCDateTime())),
            updated_at=now,
        )
    )
    alert = get_alert(session, scope, alert_id)
    if _rowcount(result) == 0:
        raise Conflict(
            f"Alert {alert_id} was already resolved by {alert.resolved_by} at {_when(alert.resolved_at)}"
        )
    return alert


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def _when(moment: datetime | None) -> str:
    return "an unknown time" if moment is None else f"{moment:%Y-%m-%d %H:%M} UTC"
