"""The four alert workflows (SPEC §4) and how one execution of them runs.

- escalation: active warnings nobody acknowledged within WORKFLOW_ESCALATION_HOURS of being raised
  become critical, with a note of the escalation (shelved alerts wait until their shelf ends).
- auto_resolve: a compressor whose alerts have all returned to normal, and whose readings have stayed
  normal for WORKFLOW_AUTO_RESOLVE_HOURS since the last of them did, has its open alerts resolved by
  the system (with a note saying so).
- staleness: a compressor without data for WORKFLOW_STALENESS_HOURS gets one data-staleness alert
  (a partial unique index makes a second open one impossible); it is resolved when data returns. A
  compressor a field connector reported offline (a death certificate: monitoring.connectivity) is
  known to be without data: it gets that alert at once, and keeps it until it is back.
- cleanup: alerts left unacknowledged (and not shelved) for WORKFLOW_CLEANUP_DAYS since they were
  raised are acknowledged by the system.

Each execution of one workflow for one organization is one transaction: its changes, its
`workflow_runs` row, its audit record and the notifications it queues commit together, or not at
all (a failure is then logged as a failed run in a transaction of its own). Every change is a
conditional UPDATE (or an INSERT that yields to the unique index), so running a workflow twice
changes nothing the second time, and two instances running it at once cannot both act on a row. On
PostgreSQL the run also takes a transaction-level advisory lock per (organization, workflow), so
concurrent runs queue and the second reports exactly what was left to do. Ages are judged against an
injectable clock.
"""

import json
import logging
import time
import uuid
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import Counter, Histogram
from sqlalchemy import and_, case, func, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from altaviz.accounts import audit, data_version
from altaviz.accounts.errors import NotFound
from altaviz.accounts.models import Organization
from altaviz.accounts.scoping import OrgScope, scoped
from altaviz.alerts.kinds import EARLY_WARNING_TYPES
from altaviz.alerts.models import (
    STALENESS_CONDITION,
    WORKFLOW_NAMES,
    AlertHistory,
    WorkflowRun,
)
from altaviz.config import Settings
from altaviz.db.session import SQLITE_BEGIN_IMMEDIATE
from altaviz.monitoring.connectivity import offline_compressors
from altaviz.monitoring.models import CompressorMetadata, DataQualityMetric, SensorReadingAgg

log = logging.getLogger("altaviz.workflows")

Clock = Callable[[], datetime]
# Names the original system (and its cron job) used, accepted as aliases.
ALIASES = {
    "alert_escalation": "escalation",
    "alert_auto_resolve": "auto_resolve",
    "auto-resolve": "auto_resolve",
    "autoresolve": "auto_resolve",
    "data_freshness_check": "staleness",
    "data_staleness": "staleness",
    "stale_alert_cleanup": "cleanup",
}
CHOICES = ("all", *WORKFLOW_NAMES)

WORKFLOW_EXECUTIONS = Counter(
    "altaviz_workflow_executions_total",
    "Workflow executions (workflow_executed events), by workflow, organization, trigger and outcome.",
    ["workflow", "organization", "trigger", "outcome"],
)
WORKFLOW_RESULTS = Counter(
    "altaviz_workflow_results_total",
    "Alerts changed or created by workflows (the result counts of workflow_executed events).",
    ["workflow", "organization"],
)
WORKFLOW_SECONDS = Histogram(
    "altaviz_workflow_duration_seconds",
    "Duration of one workflow execution for one organization.",
    ["workflow"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)


def system_clock() -> datetime:
    return datetime.now(UTC)


def workflow_names(requested: str) -> tuple[str, ...]:
    """The workflows `requested` stands for, in the order `all` runs them; ValueError if unknown."""
    name = ALIASES.get(requested.strip().lower(), requested.strip().lower())
    if name == "all":
        return WORKFLOW_NAMES
    if name not in WORKFLOW_NAMES:
        raise ValueError(f"Unknown workflow {requested!r}; use one of: {', '.join(CHOICES)}")
    return (name,)


@dataclass(frozen=True)
class WorkflowConfig:
    escalation_hours: float = 4
    auto_resolve_hours: float = 2
    staleness_hours: float = 3
    cleanup_days: float = 7

    @classmethod
    def from_settings(cls, settings: Settings) -> "WorkflowConfig":
        return cls(
            escalation_hours=settings.workflow_escalation_hours,
            auto_resolve_hours=settings.workflow_auto_resolve_hours,
            staleness_hours=settings.workflow_staleness_hours,
            cleanup_days=settings.workflow_cleanup_days,
        )


@dataclass(frozen=True)
class NotifyEvent:
    """Something to tell the organization about (queued in the same transaction)."""

    kind: str  # critical | escalated | repeat | early_warning
    alert_id: int
    compressor_id: str
    condition: str
    severity: str
    message: str
    at: datetime

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "alertId": self.alert_id,
            "compressorId": self.compressor_id,
            "condition": self.condition,
            "severity": self.severity,
            "message": self.message,
            "at": self.at.isoformat(),
        }


@dataclass
class Outcome:
    """What one workflow did: alerts changed or created, one line each, and what to notify."""

    details: list[str] = field(default_factory=list)
    alert_ids: list[int] = field(default_factory=list)
    events: list[NotifyEvent] = field(default_factory=list)

    def add(self, alert_id: int, detail: str) -> None:
        self.alert_ids.append(alert_id)
        self.details.append(detail)

    @property
    def count(self) -> int:
        return len(self.alert_ids)


@dataclass(frozen=True)
class WorkflowResult:
    workflow: str
    organization_id: uuid.UUID
    result_count: int
    details: list[str]
    outcome: str  # succeeded | failed
    started_at: datetime
    duration_ms: float
    run_id: uuid.UUID
    trigger: str
    notifications: int = 0
    error: str | None = None


def _stamp(moment: datetime) -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def _hours(value: float) -> str:
    return f"{value:g} h"


def _not_shelved(now: datetime) -> Any:
    return or_(AlertHistory.shelved_until.is_(None), AlertHistory.shelved_until <= now)


# --- readings ----------------------------------------------------------------------------------------


def newest_readings(session: Session, scope: OrgScope) -> dict[str, datetime]:
    """Per compressor, the time of its newest reading in the database.

    The database keeps hourly aggregates, which place a reading within its clock hour; the
    pipeline's freshness check (load time minus minutes since the newest reading) places it exactly.
    The exact time is used when it falls inside the newest hour with readings, else the hour's start
    (never later than the truth, so staleness is never understated).
    """
    r = SensorReadingAgg
    hours = session.execute(
        scoped(
            select(r.compressor_id, func.max(r.agg_timestamp))
            .where(r.window_type == "1hr", r.reading_count > 0)
            .group_by(r.compressor_id),
            scope,
            r,
        )
    ).all()
    newest: dict[str, datetime] = {row[0]: row[1] for row in hours if row[1] is not None}
    if not newest:
        return newest
    q = DataQualityMetric
    last_check = (
        scoped(
            select(q.compressor_id, func.max(q.metric_timestamp).label("checked_at"))
            .where(q.metric_type == "freshness", q.compressor_id.is_not(None), q.metric_value.is_not(None))
            .group_by(q.compressor_id),
            scope,
            q,
        )
    ).subquery()
    checks = session.execute(
        scoped(
            select(q.compressor_id, q.metric_timestamp, q.metric_value)
            .join(
                last_check,
                and_(
                    last_check.c.compressor_id == q.compressor_id,
                    last_check.c.checked_at == q.metric_timestamp,
                ),
            )
            .where(q.metric_type == "freshness", q.metric_value.is_not(None)),
            scope,
            q,
        )
    ).all()
    for compressor_id, checked_at, minutes in checks:
        hour = newest.get(compressor_id) if compressor_id else None
        if compressor_id is None or hour is None or checked_at is None or minutes is None:
            continue
        exact = checked_at - timedelta(minutes=float(minutes))
        if hour <= exact < hour + timedelta(hours=1):
            newest[compressor_id] = exact
    return newest


# --- the four workflows --------------------------------------------------------------------------------


def escalate(session: Session, scope: OrgScope, now: datetime, config: WorkflowConfig) -> Outcome:
    outcome = Outcome()
    a = AlertHistory
    # A pipeline re-run rewrites the episode's measured severity; an escalation stands until resolved.
    reapplied = session.execute(
        scoped(
            update(a)
            .where(a.escalated_at.is_not(None), a.severity != "critical", a.resolved.is_(False))
            .values(severity="critical", updated_at=now)
            .returning(a.id),
            scope,
            a,
        )
    ).all()
    for (alert_id,) in reapplied:
        outcome.details.append(f"Alert #{alert_id}: escalation re-applied after a pipeline reload")
    cutoff = now - timedelta(hours=config.escalation_hours)
    note = (
        f"Escalated from warning to critical at {_stamp(now)}: active and unacknowledged for "
        f"{_hours(config.escalation_hours)} or more"
    )
    rows = session.execute(
        scoped(
            update(a)
            .where(
                a.severity == "warning",
                a.alert_type.not_in(EARLY_WARNING_TYPES),  # an early warning stays a warning
                a.is_active.is_(True),
                a.acknowledged.is_(False),
                a.resolved.is_(False),
                a.escalated_at.is_(None),
                a.raised_at <= cutoff,
                _not_shelved(now),
            )
            .values(
                severity="critical",
                escalated_at=now,
                escalation_note=note,
                notified_severity="critical",
                notified_at=now,
                updated_at=now,
            )
            .returning(a.id, a.compressor_id, a.condition, a.raised_at, a.message),
            scope,
            a,
        )
    ).all()
    for alert_id, compressor_id, condition, raised_at, message in sorted(rows):
        outcome.add(
            alert_id,
            f"Alert #{alert_id} on {compressor_id} ({condition}) escalated to critical "
            f"(raised {_stamp(raised_at)}, unacknowledged)",
        )
        outcome.events.append(
            NotifyEvent(
                "escalated",
                alert_id,
                compressor_id,
                condition,
                "critical",
                f"{message or condition} — {note}",
                now,
            )
        )
    return outcome


def auto_resolve(session: Session, scope: OrgScope, now: datetime, config: WorkflowConfig) -> Outcome:
    outcome = Outcome()
    a = AlertHistory
    threshold = a.condition != STALENESS_CONDITION
    open_returned = session.execute(
        scoped(
            select(a.id, a.compressor_id).where(threshold, a.resolved.is_(False), a.is_active.is_(False)),
            scope,
            a,
        )
    ).all()
    if not open_returned:
        return outcome
    compressors = sorted({row.compressor_id for row in open_returned})
    state = session.execute(
        scoped(
            select(
                a.compressor_id,
                func.max(a.returned_to_normal_at),
                func.max(case((a.is_active.is_(True), 1), else_=0)),
            )
            .where(threshold, a.compressor_id.in_(compressors))
            .group_by(a.compressor_id),
            scope,
            a,
        )
    ).all()
    newest = newest_readings(session, scope)
    needed = timedelta(hours=config.auto_resolve_hours)
    actor = "system (auto-resolve)"
    for compressor_id, normal_since, active in sorted(state):
        reading = newest.get(compressor_id)
        if active or normal_since is None or reading is None or reading - normal_since < needed:
            continue
        note = (
            f"Auto-resolved at {_stamp(now)}: {compressor_id}'s readings back to normal since "
            f"{_stamp(normal_since)} ({_hours(config.auto_resolve_hours)} or more of normal data, newest "
            f"reading {_stamp(reading)})"
        )
        rows = session.execute(
            scoped(
                update(a)
                .where(
                    threshold,
                    a.compressor_id == compressor_id,
                    a.resolved.is_(False),
                    a.is_active.is_(False),
                )
                .values(
                    resolved=True,
                    resolved_by=actor,
                    resolved_at=now,
                    resolution_note=note,
                    acknowledged=True,
                    acknowledged_by=func.coalesce(a.acknowledged_by, actor),
                    acknowledged_at=func.coalesce(a.acknowledged_at, now),
                    updated_at=now,
                )
                .returning(a.id, a.condition),
                scope,
                a,
            )
        ).all()
        for alert_id, condition in sorted(rows):
            outcome.add(
                alert_id,
                f"Alert #{alert_id} on {compressor_id} ({condition}) auto-resolved: readings normal since "
                f"{_stamp(normal_since)}",
            )
    return outcome


def staleness(session: Session, scope: OrgScope, now: datetime, config: WorkflowConfig) -> Outcome:
    outcome = Outcome()
    a = AlertHistory
    c = CompressorMetadata
    limit = timedelta(hours=config.staleness_hours)
    compressors = session.execute(
        scoped(select(c.compressor_id, c.created_at).order_by(c.compressor_id), scope, c)
    ).all()
    newest = newest_readings(session, scope)
    offline = offline_compressors(session, scope)
    open_alerts = {
        row.compressor_id: row
        for row in session.execute(
            scoped(
                select(a.id, a.compressor_id, a.alert_timestamp).where(
                    a.condition == STALENESS_CONDITION, a.resolved.is_(False)
                ),
                scope,
                a,
            )
        ).all()
    }
    actor = "system (staleness)"
    # Data came back: resolve the open staleness alert.
    for compressor_id, alert in sorted(open_alerts.items()):
        reading = newest.get(compressor_id)
        if reading is None or now - reading >= limit or compressor_id in offline:
            continue
        note = f"Data returned: newest reading at {_stamp(reading)}"
        rows = session.execute(
            scoped(
                update(a)
                .where(a.id == alert.id, a.resolved.is_(False))
                .values(
                    resolved=True,
                    resolved_by=actor,
                    resolved_at=now,
                    resolution_note=note,
                    is_active=False,
                    returned_to_normal_at=reading,
                    acknowledged=True,
                    acknowledged_by=func.coalesce(a.acknowledged_by, actor),
                    acknowledged_at=func.coalesce(a.acknowledged_at, now),
                    updated_at=now,
                )
                .returning(a.id),
                scope,
                a,
            )
        ).all()
        for (alert_id,) in rows:
            outcome.add(alert_id, f"Staleness alert #{alert_id} on {compressor_id} resolved: {note.lower()}")
    # No data for too long: one staleness alert, unless one is open.
    dialect = session.get_bind().dialect.name
    insert_of = postgresql.insert if dialect == "postgresql" else sqlite.insert
    for compressor_id, registered_at in compressors:
        reading = newest.get(compressor_id)
        since = reading or registered_at
        went_offline = offline.get(compressor_id)
        if since is None or compressor_id in open_alerts or (now - since < limit and went_offline is None):
            continue
        age = (now - since).total_seconds() / 3600
        if went_offline is not None:
            at, reason = went_offline
            newest_text = f"newest reading at {_stamp(reading)}" if reading is not None else "no reading yet"
            message = (
                f"Offline: {compressor_id} stopped reporting at {_stamp(at)}"
                f"{f' ({reason})' if reason else ''}; {newest_text}"
            )
        elif reading is None:
            message = (
                f"No data from {compressor_id} since it was registered at {_stamp(since)} "
                f"({age:.1f} h; limit {_hours(config.staleness_hours)})"
            )
        else:
            message = (
                f"Data staleness: no readings from {compressor_id} since {_stamp(since)} "
                f"({age:.1f} h; limit {_hours(config.staleness_hours)})"
            )
        statement = (
            insert_of(a)
            .values(
                organization_id=scope.organization_id,
                compressor_id=compressor_id,
                condition=STALENESS_CONDITION,
                alert_type="staleness",
                severity="warning",
                sensor_name=None,
                alert_timestamp=since,
                raised_at=now,
                last_violation_at=now,
                is_active=True,
                sensor_value=round(age, 3),
                threshold_value=config.staleness_hours,
                message=message,
                violation_count=0,
                acknowledged=False,
                resolved=False,
                source="workflow",
                created_at=now,
                updated_at=now,
            )
            .on_conflict_do_nothing()
            .returning(a.id)
        )
        created = session.execute(statement).all()
        for (alert_id,) in created:
            outcome.add(alert_id, f"Staleness alert #{alert_id} created for {compressor_id}: {message}")
    return outcome


def cleanup(session: Session, scope: OrgScope, now: datetime, config: WorkflowConfig) -> Outcome:
    outcome = Outcome()
    a = AlertHistory
    cutoff = now - timedelta(days=config.cleanup_days)
    actor = "system (cleanup)"
    rows = session.execute(
        scoped(
            update(a)
            .where(
                a.acknowledged.is_(False),
                a.resolved.is_(False),
                a.raised_at <= cutoff,
                _not_shelved(now),
            )
            .values(acknowledged=True, acknowledged_by=actor, acknowledged_at=now, updated_at=now)
            .returning(a.id, a.compressor_id, a.condition, a.raised_at),
            scope,
            a,
        )
    ).all()
    for alert_id, compressor_id, condition, raised_at in sorted(rows):
        outcome.add(
            alert_id,
            f"Alert #{alert_id} on {compressor_id} ({condition}) auto-acknowledged: unactioned since "
            f"{_stamp(raised_at)} (over {config.cleanup_days:g} days)",
        )
    return outcome


WORKFLOWS: dict[str, Callable[[Session, OrgScope, datetime, WorkflowConfig], Outcome]] = {
    "escalation": escalate,
    "auto_resolve": auto_resolve,
    "staleness": staleness,
    "cleanup": cleanup,
}


# --- running them -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Runner:
    """Runs workflows against one database: configuration, clock, and what to notify."""

    sessions: sessionmaker[Session]
    config: WorkflowConfig = field(default_factory=WorkflowConfig)
    clock: Clock = system_clock
    # Called inside each run's transaction with the events it produced; returns messages queued.
    notify: Callable[[Session, uuid.UUID, Sequence[NotifyEvent], datetime], int] | None = None
    # PostgreSQL: queue concurrent runs of the same workflow and organization (advisory lock).
    serialize: bool = True

    def organizations(self) -> list[uuid.UUID]:
        with self.sessions() as session:
            return list(session.scalars(select(Organization.id).order_by(Organization.created_at)))

    def organization(self, reference: str) -> uuid.UUID:
        """An organization by id or slug; NotFound otherwise."""
        with self.sessions() as session:
            try:
                found = session.get(Organization, uuid.UUID(reference))
            except ValueError:
                found = session.scalars(select(Organization).where(Organization.slug == reference)).first()
            if found is None:
                raise NotFound(f"No organization {reference!r} (give its id or slug)")
            return found.id

    def run(
        self,
        requested: str,
        organizations: Iterable[uuid.UUID] | None = None,
        *,
        trigger: str,
        actor: audit.Actor | None = None,
        ip: str | None = None,
    ) -> list[WorkflowResult]:
        """`requested` (a name or `all`) for each organization (default: every one), in order."""
        names = workflow_names(requested)
        results: list[WorkflowResult] = []
        for organization_id in organizations if organizations is not None else self.organizations():
            for name in names:
                results.append(self.run_one(name, organization_id, trigger=trigger, actor=actor, ip=ip))
        return results

    def run_one(
        self,
        name: str,
        organization_id: uuid.UUID,
        *,
        trigger: str,
        actor: audit.Actor | None = None,
        ip: str | None = None,
    ) -> WorkflowResult:
        actor = actor or audit.Actor.system(trigger)
        run_id = uuid.uuid4()
        started = time.perf_counter()
        now = self.clock()
        scope = OrgScope(organization_id)
        try:
            with self.sessions() as session:
                session.connection(execution_options={SQLITE_BEGIN_IMMEDIATE: True})
                if self.serialize and session.get_bind().dialect.name == "postgresql":
                    session.execute(
                        text("SELECT pg_advisory_xact_lock(:space, :key)"),
                        {"space": LOCK_SPACE, "key": _lock_key(organization_id, name)},
                    )
                    now = self.clock()  # ages are judged once the lock is ours
                outcome = WORKFLOWS[name](session, scope, now, self.config)
                queued = self.notify(session, organization_id, outcome.events, now) if self.notify else 0
                duration_ms = (time.perf_counter() - started) * 1000
                session.add(
                    WorkflowRun(
                        id=run_id,
                        organization_id=organization_id,
                        workflow=name,
                        trigger=trigger,
                        started_at=now,
                        as_of=now,
                        duration_ms=round(duration_ms, 3),
                        result_count=outcome.count,
                        outcome="succeeded",
                        details=outcome.details[:1000],
                    )
                )
                audit.record(
                    session,
                    organization_id=organization_id,
                    actor=actor,
                    action="workflow.execute",
                    target_type="workflow",
                    target_id=name,
                    ip=ip,
                    details={
                        "trigger": trigger,
                        "runId": str(run_id),
                        "resultCount": outcome.count,
                        "alertIds": outcome.alert_ids[:200],
                    },
                    at=now,
                )
                data_version.bump(session, organization_id)  # whatever the run changed, readers see it
                session.commit()
        except Exception as error:
            duration_ms = (time.perf_counter() - started) * 1000
            log.exception("workflow %s failed for organization %s", name, organization_id)
            message = f"{error.__class__.__name__}: {error}"[:2000]
            self._record_failure(run_id, name, organization_id, trigger, now, duration_ms, message)
            result = WorkflowResult(
                name, organization_id, 0, [], "failed", now, duration_ms, run_id, trigger, 0, message
            )
            _emit(result)
            return result
        result = WorkflowResult(
            name,
            organization_id,
            outcome.count,
            outcome.details,
            "succeeded",
            now,
            duration_ms,
            run_id,
            trigger,
            queued,
        )
        _emit(result)
        return result

    def _record_failure(
        self,
        run_id: uuid.UUID,
        name: str,
        organization_id: uuid.UUID,
        trigger: str,
        now: datetime,
        duration_ms: float,
        message: str,
    ) -> None:
        try:
            with self.sessions() as session, session.begin():
                session.add(
                    WorkflowRun(
                        id=run_id,
                        organization_id=organization_id,
                        workflow=name,
                        trigger=trigger,
                        started_at=now,
                        as_of=now,
                        duration_ms=round(duration_ms, 3),
                        result_count=0,
                        outcome="failed",
                        error=message,
                    )
                )
        except Exception:
            log.exception("could not record the failed run of workflow %s", name)


LOCK_SPACE = 0x616C7476  # "altv": the advisory-lock namespace of workflow runs


def _lock_key(organization_id: uuid.UUID, name: str) -> int:
    value = zlib.crc32(f"{organization_id}:{name}".encode())
    return value - 2**32 if value >= 2**31 else value


def _emit(result: WorkflowResult) -> None:
    """The workflow_executed event: a structured log line and the Prometheus counters."""
    organization = str(result.organization_id)
    fields = {
        "event": "workflow_executed",
        "workflow": result.workflow,
        "organizationId": organization,
        "resultCount": result.result_count,
        "outcome": result.outcome,
        "trigger": result.trigger,
        "durationMs": round(result.duration_ms, 3),
        "runId": str(result.run_id),
        "asOf": result.started_at.isoformat(),
    }
    log.info("workflow_executed %s", json.dumps(fields, sort_keys=True), extra={"workflow_event": fields})
    WORKFLOW_EXECUTIONS.labels(result.workflow, organization, result.trigger, result.outcome).inc()
    WORKFLOW_RESULTS.labels(result.workflow, organization).inc(result.result_count)
    WORKFLOW_SECONDS.labels(result.workflow).observe(result.duration_ms / 1000)


def recent_runs(
    session: Session, scope: OrgScope, *, workflow: str | None = None, limit: int = 50, offset: int = 0
) -> tuple[list[WorkflowRun], int]:
    w = WorkflowRun
    query = scoped(select(w), scope, w)
    count = scoped(select(func.count()).select_from(w), scope, w)
    if workflow:
        query = query.where(w.workflow == workflow)
        count = count.where(w.workflow == workflow)
    rows = list(session.scalars(query.order_by(w.started_at.desc(), w.id).limit(limit).offset(offset)))
    return rows, int(session.execute(count).scalar_one())
