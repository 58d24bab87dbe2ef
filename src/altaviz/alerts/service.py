"""Alert episodes as people see and act on them: listing, acknowledging, resolving.

Who acted is always the authenticated principal (never a name from the request body). Each action
is a conditional UPDATE, so two operators acting at once cannot both succeed or overwrite each other.
"""

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, and_, func, literal, select, update
from sqlalchemy.orm import Session

from altaviz.accounts.errors import Conflict, NotFound
from altaviz.accounts.scoping import OrgScope, scoped
from altaviz.alerts.models import AlertHistory
from altaviz.alerts.schemas import AlertOut, AlertPage
from altaviz.db.base import UTCDateTime
from altaviz.monitoring.models import CompressorMetadata, StationLocation

A = AlertHistory
C = CompressorMetadata
S = StationLocation


def _listing(scope: OrgScope) -> Select[AlertHistory, str, str, str]:
    query = (
        select(A, C.model.label("compressor_model"), C.station_id, S.station_name)
        .join(C, and_(C.organization_id == A.organization_id, C.compressor_id == A.compressor_id))
        .join(S, and_(S.organization_id == C.organization_id, S.station_id == C.station_id))
    )
    return scoped(query, scope, A, C, S)


def _out(row: Any) -> AlertOut:
    alert: AlertHistory = row[0]
    values = {column.key: getattr(alert, column.key) for column in A.__mapper__.column_attrs}
    return AlertOut.model_validate(
        {
            **values,
            "compressor_model": row.compressor_model,
            "station_id": row.station_id,
            "station_name": row.station_name,
        }
    )


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
    query = _listing(scope)
    if status == "open":
        query = query.where(A.resolved.is_(False))
    elif status == "active":
        query = query.where(A.resolved.is_(False), A.is_active.is_(True))
    elif status == "resolved":
        query = query.where(A.resolved.is_(True))
    if severity is not None:
        query = query.where(A.severity == severity)
    if compressor is not None:
        query = query.where(A.compressor_id == compressor)
    if acknowledged is not None:
        query = query.where(A.acknowledged.is_(acknowledged))
    total = session.scalar(select(func.count()).select_from(query.with_only_columns(A.id).subquery())) or 0
    rows = session.execute(query.order_by(A.alert_timestamp.desc(), A.id.desc()).limit(limit).offset(offset))
    return AlertPage(items=[_out(row) for row in rows], total=total, limit=limit, offset=offset)


def get_alert(session: Session, scope: OrgScope, alert_id: int) -> AlertOut:
    row = session.execute(_listing(scope).where(A.id == alert_id)).one_or_none()
    if row is None:
        raise NotFound("Alert not found")
    return _out(row)


def acknowledge(session: Session, scope: OrgScope, alert_id: int, actor: str) -> AlertOut:
    now = datetime.now(UTC)
    statement = scoped(update(A).where(A.id == alert_id, A.acknowledged.is_(False)), scope, A)
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
    statement = scoped(update(A).where(A.id == alert_id, A.resolved.is_(False)), scope, A)
    result = session.execute(
        statement.values(
            resolved=True,
            resolved_by=actor,
            resolved_at=now,
            resolution_note=(note or "").strip() or None,
            acknowledged=True,
            acknowledged_by=func.coalesce(A.acknowledged_by, actor),
            acknowledged_at=func.coalesce(A.acknowledged_at, literal(now, UTCDateTime())),
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
