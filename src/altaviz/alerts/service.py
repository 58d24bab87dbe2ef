"""Alert episodes as people see and act on them: listing, acknowledging, resolving, shelving.

Who acted is always the authenticated principal (never a name from the request body). Each action
is a conditional UPDATE, so two operators acting at once cannot both succeed or overwrite each other;
the one that loses gets a Conflict (409) that says who got there first. Every action writes an audit
record in the same transaction.
"""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import Boolean, Integer, Select, and_, bindparam, func, literal, or_, select, update
from sqlalchemy.orm import Session

from altaviz.accounts import audit, data_version
from altaviz.accounts.errors import Conflict, NotFound
from altaviz.accounts.principal import Principal
from altaviz.accounts.scoping import OrgScope, org_matches, scope_params, scoped, scoped_template
from altaviz.alerts.models import AlertHistory
from altaviz.alerts.schemas import AlertOut, AlertPage
from altaviz.db.base import UTCDateTime
from altaviz.monitoring.models import CompressorMetadata, StationLocation

Clock = Callable[[], datetime]
Who = Principal | audit.Actor | str
MAX_SHELVE_MINUTES = 7 * 24 * 60

A: Any = AlertHistory.__table__
C: Any = CompressorMetadata.__table__
S: Any = StationLocation.__table__
COMPUTED_FIELDS = (
    "compressor_model",
    "station_id",
    "station_name",
    "shelved",
    "state",
    "related_alert_type",
    "related_raised_at",
)
ALERT_FIELDS = tuple(name for name in AlertOut.model_fields if name not in COMPUTED_FIELDS)


def system_clock() -> datetime:
    return datetime.now(UTC)


def _actor(who: Who) -> audit.Actor:
    if isinstance(who, Principal):
        return audit.Actor.of(who)
    if isinstance(who, audit.Actor):
        return who
    return audit.Actor("user", None, who)


def alert_state(item: dict[str, Any], now: datetime) -> tuple[bool, str]:
    """(shelved now, ISA-18.2-style state) of an alert row."""
    until = item.get("shelved_until")
    shelved = until is not None and until > now
    if item["resolved"]:
        return shelved, "resolved"
    if shelved:
        return True, "shelved"
    if item["is_active"]:
        return False, "active_acknowledged" if item["acknowledged"] else "active_unacknowledged"
    return False, "returned_acknowledged" if item["acknowledged"] else "returned_unacknowledged"


def _with_state(row: Any, now: datetime) -> dict[str, Any]:
    item = dict(row._mapping)
    item["shelved"], item["state"] = alert_state(item, now)
    return item


def _listing() -> Select[Any]:
    """Alerts with their compressor's model and station, and the early warning a threshold alert
    followed (organization bound at execution)."""
    early = A.alias("early")
    query = select(
        *(A.c[name] for name in ALERT_FIELDS),
        C.c.model.label("compressor_model"),
        C.c.station_id,
        S.c.station_name,
        early.c.alert_type.label("related_alert_type"),
        early.c.raised_at.label("related_raised_at"),
    ).select_from(
        A.join(C, and_(C.c.organization_id == A.c.organization_id, C.c.compressor_id == A.c.compressor_id))
        .join(S, and_(S.c.organization_id == C.c.organization_id, S.c.station_id == C.c.station_id))
        .outerjoin(early, and_(org_matches(early), early.c.id == A.c.related_alert_id))
    )
    return scoped_template(query, A, C, S)


def _filters(
    status: str,
    by_severity: bool,
    by_compressor: bool,
    by_ack: bool,
    shelved: bool | None = None,
    by_history: bool = False,
) -> list[Any]:
    clauses: list[Any] = []
    if by_history:  # the plan's history: older alerts only while still unresolved
        since = bindparam("history_start", type_=UTCDateTime())
        clauses.append(or_(A.c.resolved.is_(False), A.c.alert_timestamp >= since))
    if shelved is not None:
        now = bindparam("now", type_=UTCDateTime())
        is_shelved = and_(A.c.shelved_until.is_not(None), A.c.shelved_until > now)
        clauses.append(is_shelved if shelved else ~is_shelved)
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
def _list_statement(
    status: str,
    by_severity: bool,
    by_compressor: bool,
    by_ack: bool,
    shelved: bool | None = None,
    by_history: bool = False,
) -> Select[Any]:
    query = _listing()
    for clause in _filters(status, by_severity, by_compressor, by_ack, shelved, by_history):
        query = query.where(clause)
    return query


@cache
def _page_statement(
    status: str,
    by_severity: bool,
    by_compressor: bool,
    by_ack: bool,
    shelved: bool | None = None,
    by_history: bool = False,
) -> Select[Any]:
    return (
        _list_statement(status, by_severity, by_compressor, by_ack, shelved, by_history)
        .order_by(A.c.alert_timestamp.desc(), A.c.id.desc())
        .limit(bindparam("limit", type_=Integer()))
        .offset(bindparam("offset", type_=Integer()))
    )


@cache
def _count_statement(
    status: str,
    by_severity: bool,
    by_compressor: bool,
    by_ack: bool,
    shelved: bool | None = None,
    by_history: bool = False,
) -> Select[Any]:
    """The same filters on alert_history alone: every alert has its compressor and station (foreign
    keys), so the joins of the listing neither add nor remove rows."""
    query = scoped_template(select(func.count()).select_from(A), A)
    for clause in _filters(status, by_severity, by_compressor, by_ack, shelved, by_history):
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
    shelved: bool | None = None,
    limit: int = 50,
    offset: int = 0,
    now: datetime | None = None,
    history_days: int | None = None,
) -> AlertPage:
    """Alerts newest first. status: open (unresolved), active (unresolved, condition holds now),
    resolved, or all; shelved: only alerts shelved now (True) or none of them (False);
    history_days: the plan's history (older alerts are listed only while unresolved)."""
    now = now or system_clock()
    by_history = history_days is not None
    flags = (
        status,
        severity is not None,
        compressor is not None,
        acknowledged is not None,
        shelved,
        by_history,
    )
    params = scope_params(
        scope,
        severity=severity,
        compressor=compressor,
        acknowledged=acknowledged,
        limit=limit,
        offset=offset,
        now=now,
        history_start=now - timedelta(days=history_days) if history_days is not None else None,
    )
    connection = session.connection()
    rows = connection.execute(_page_statement(*flags), params).all()
    if offset == 0 and len(rows) < limit:
        total = len(rows)  # the whole list fits on this page
    else:
        total = int(connection.execute(_count_statement(*flags), params).scalar_one())
    return AlertPage.model_validate(
        {
            "items": [_with_state(row, now) for row in rows],
            "total": total,
            "limit": limit,
            "offset": offset,
        }
    )


def get_alert(session: Session, scope: OrgScope, alert_id: int, now: datetime | None = None) -> AlertOut:
    row = session.connection().execute(_one_statement(), scope_params(scope, alert_id=alert_id)).one_or_none()
    if row is None:
        raise NotFound("Alert not found")
    return AlertOut.model_validate(_with_state(row, now or system_clock()))


def _record_action(
    session: Session,
    scope: OrgScope,
    who: Who,
    action: str,
    alert: AlertOut,
    ip: str | None,
    now: datetime,
    **details: Any,
) -> None:
    """The action's audit record; and the organization's data has changed (the read cache's cue)."""
    audit.record(
        session,
        organization_id=scope.organization_id,
        actor=_actor(who),
        action=action,
        target_type="alert",
        target_id=alert.id,
        ip=ip,
        details={
            "compressorId": alert.compressor_id,
            "condition": alert.condition,
            "severity": alert.severity,
            **{key: value for key, value in details.items() if value is not None},
        },
        at=now,
    )
    data_version.bump(session, scope.organization_id)


def acknowledge(
    session: Session,
    scope: OrgScope,
    alert_id: int,
    actor: Who,
    *,
    ip: str | None = None,
    now: datetime | None = None,
) -> AlertOut:
    """Acknowledge (who and when); a second acknowledgement is a Conflict naming the first."""
    now = now or system_clock()
    name = _actor(actor).name
    statement = scoped(
        update(AlertHistory).where(AlertHistory.id == alert_id, AlertHistory.acknowledged.is_(False)),
        scope,
        AlertHistory,
    )
    result = session.execute(
        statement.values(acknowledged=True, acknowledged_by=name, acknowledged_at=now, updated_at=now)
    )
    alert = get_alert(session, scope, alert_id, now)
    if _rowcount(result) == 0:
        raise Conflict(
            f"Alert {alert_id} was already acknowledged by {alert.acknowledged_by} "
            f"at {_when(alert.acknowledged_at)}"
        )
    _record_action(session, scope, actor, "alert.acknowledge", alert, ip, now)
    return alert


def resolve(
    session: Session,
    scope: OrgScope,
    alert_id: int,
    actor: Who,
    note: str | None = None,
    *,
    ip: str | None = None,
    now: datetime | None = None,
) -> AlertOut:
    """Resolve the alert; one not yet acknowledged is acknowledged by the same person at once."""
    now = now or system_clock()
    name = _actor(actor).name
    note = (note or "").strip() or None
    statement = scoped(
        update(AlertHistory).where(AlertHistory.id == alert_id, AlertHistory.resolved.is_(False)),
        scope,
        AlertHistory,
    )
    result = session.execute(
        statement.values(
            resolved=True,
            resolved_by=name,
            resolved_at=now,
            resolution_note=note,
            acknowledged=True,
            acknowledged_by=func.coalesce(AlertHistory.acknowledged_by, name),
            acknowledged_at=func.coalesce(AlertHistory.acknowledged_at, literal(now, UTCDateTime())),
            updated_at=now,
        )
    )
    alert = get_alert(session, scope, alert_id, now)
    if _rowcount(result) == 0:
        raise Conflict(
            f"Alert {alert_id} was already resolved by {alert.resolved_by} at {_when(alert.resolved_at)}"
        )
    _record_action(session, scope, actor, "alert.resolve", alert, ip, now, note=note)
    return alert


def shelve(
    session: Session,
    scope: OrgScope,
    alert_id: int,
    actor: Who,
    *,
    minutes: int,
    reason: str,
    ip: str | None = None,
    now: datetime | None = None,
) -> AlertOut:
    """Shelve an open alert for `minutes` with a reason; it comes back by itself when the time is up.

    Shelving a resolved alert, or one already shelved, is a Conflict (unshelve first to change it)."""
    now = now or system_clock()
    reason = reason.strip()
    if not reason:
        raise ValueError("Give a reason for shelving the alert")
    if not 1 <= minutes <= MAX_SHELVE_MINUTES:
        raise ValueError(f"Shelve for 1 to {MAX_SHELVE_MINUTES} minutes (7 days)")
    until = now + timedelta(minutes=minutes)
    statement = scoped(
        update(AlertHistory).where(
            AlertHistory.id == alert_id,
            AlertHistory.resolved.is_(False),
            or_(AlertHistory.shelved_until.is_(None), AlertHistory.shelved_until <= now),
        ),
        scope,
        AlertHistory,
    )
    result = session.execute(
        statement.values(
            shelved_until=until,
            shelved_at=now,
            shelved_by=_actor(actor).name,
            shelve_reason=reason,
            updated_at=now,
        )
    )
    alert = get_alert(session, scope, alert_id, now)
    if _rowcount(result) == 0:
        if alert.resolved:
            raise Conflict(
                f"Alert {alert_id} was resolved by {alert.resolved_by} at {_when(alert.resolved_at)}; "
                "a resolved alert cannot be shelved"
            )
        raise Conflict(
            f"Alert {alert_id} is already shelved by {alert.shelved_by} until {_when(alert.shelved_until)}; "
            "unshelve it first to change the shelf"
        )
    _record_action(
        session,
        scope,
        actor,
        "alert.shelve",
        alert,
        ip,
        now,
        reason=reason,
        minutes=minutes,
        until=until.isoformat(),
    )
    return alert


def unshelve(
    session: Session,
    scope: OrgScope,
    alert_id: int,
    actor: Who,
    *,
    ip: str | None = None,
    now: datetime | None = None,
) -> AlertOut:
    """Bring a shelved alert back now (the shelf's history stays on the row and in the audit log)."""
    now = now or system_clock()
    statement = scoped(
        update(AlertHistory).where(
            AlertHistory.id == alert_id,
            AlertHistory.shelved_until.is_not(None),
            AlertHistory.shelved_until > now,
        ),
        scope,
        AlertHistory,
    )
    result = session.execute(statement.values(shelved_until=now, updated_at=now))
    alert = get_alert(session, scope, alert_id, now)
    if _rowcount(result) == 0:
        raise Conflict(f"Alert {alert_id} is not shelved")
    _record_action(session, scope, actor, "alert.unshelve", alert, ip, now)
    return alert


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def _when(moment: datetime | None) -> str:
    return "an unknown time" if moment is None else f"{moment:%Y-%m-%d %H:%M} UTC"
