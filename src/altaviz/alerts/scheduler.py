"""Running the workflows from the service (APScheduler), the CLI and the API, and the lease that lets
one service instance at a time run the scheduled ones.

`execute` is what all three triggers call: the requested workflows for the organizations asked for,
then a scan for critical alerts to notify. Queued notifications are delivered by `dispatch` (the
service runs it every NOTIFY_DISPATCH_SECONDS; the CLI once after its run), never inside a workflow.
"""

import logging
import os
import socket
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import Engine, or_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from altaviz.accounts import audit
from altaviz.alerts.models import JobLock
from altaviz.alerts.workflows import (
    Clock,
    NotifyEvent,
    Runner,
    WorkflowConfig,
    WorkflowResult,
    system_clock,
)
from altaviz.billing.limits import RetentionResult, apply_retention_everywhere
from altaviz.config import Settings
from altaviz.db.session import SQLITE_BEGIN_IMMEDIATE, session_factory
from altaviz.notifications import service as notifications
from altaviz.notifications.senders import Sender

log = logging.getLogger("altaviz.scheduler")

SCHEDULED_JOB = "workflows:all"
RETENTION_JOB = "billing:retention"
RETENTION_EVERY = timedelta(days=1)


@dataclass
class Execution:
    results: list[WorkflowResult] = field(default_factory=list)
    notifications_queued: int = 0

    @property
    def succeeded(self) -> bool:
        return all(result.outcome == "succeeded" for result in self.results)


@dataclass
class Workflows:
    """The workflows of one database, with their settings and clock."""

    sessions: sessionmaker[Session]
    settings: Settings
    clock: Clock = system_clock
    senders: dict[str, Sender] | None = None
    serialize: bool = True

    @classmethod
    def for_engine(cls, engine: Engine, settings: Settings, clock: Clock = system_clock) -> "Workflows":
        return cls(session_factory(engine), settings, clock)

    @property
    def notify_config(self) -> notifications.NotifyConfig:
        return notifications.NotifyConfig.from_settings(self.settings)

    @property
    def runner(self) -> Runner:
        config = self.notify_config

        def notify(
            session: Session, organization_id: uuid.UUID, events: Sequence[NotifyEvent], now: datetime
        ) -> int:
            return notifications.enqueue(session, organization_id, events, now, config)

        return Runner(
            self.sessions,
            WorkflowConfig.from_settings(self.settings),
            self.clock,
            notify,
            self.serialize,
        )

    def execute(
        self,
        requested: str = "all",
        organizations: Iterable[uuid.UUID] | None = None,
        *,
        trigger: str,
        actor: audit.Actor | None = None,
        ip: str | None = None,
    ) -> Execution:
        runner = self.runner
        targets = list(organizations) if organizations is not None else runner.organizations()
        execution = Execution(runner.run(requested, targets, trigger=trigger, actor=actor, ip=ip))
        for organization_id in targets:
            try:
                execution.notifications_queued += notifications.notify_organization(
                    self.sessions, organization_id, self.clock(), self.notify_config
                )
            except Exception:
                log.exception("scanning organization %s for notifications failed", organization_id)
        execution.notifications_queued += sum(result.notifications for result in execution.results)
        return execution

    def run_retention(self, holder: str) -> list[RetentionResult] | None:
        """Daily: delete what every organization's plan no longer keeps, if this instance holds the lease."""
        if not self.acquire(RETENTION_JOB, holder, RETENTION_EVERY * 0.9):
            return None
        with self.sessions() as session:
            results = apply_retention_everywhere(session, self.clock())
            session.commit()
        log.info("retention: %d organizations checked", len(results))
        return results

    def dispatch(self) -> notifications.DispatchReport:
        return notifications.dispatch_due(
            self.sessions, self.senders, settings=self.settings, config=self.notify_config, clock=self.clock
        )

    # --- the lease ---

    def acquire(self, name: str, holder: str, ttl: timedelta) -> bool:
        """Take (or renew) the lease `name` for `ttl` unless another holder has it; True if ours."""
        now = self.clock()
        with self.sessions() as session:
            session.connection(execution_options={SQLITE_BEGIN_IMMEDIATE: True})
            insert_of = (
                postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
            )
            session.execute(insert_of(JobLock).values(name=name).on_conflict_do_nothing())
            taken = session.execute(
                update(JobLock)
                .where(
                    JobLock.name == name,
                    or_(JobLock.expires_at.is_(None), JobLock.expires_at <= now, JobLock.holder == holder),
                )
                .values(holder=holder, acquired_at=now, expires_at=now + ttl)
            )
            session.commit()
        return int(getattr(taken, "rowcount", 0) or 0) == 1

    def run_scheduled(self, holder: str) -> Execution | None:
        """The scheduler's job: `all` for every organization, if this instance holds the lease."""
        interval = timedelta(minutes=self.settings.workflow_interval_minutes)
        if not self.acquire(SCHEDULED_JOB, holder, max(interval * 0.9, timedelta(seconds=30))):
            log.info("scheduled workflows skipped: another instance holds the lease")
            return None
        execution = self.execute("all", trigger="scheduler", actor=audit.Actor.system("scheduler"))
        failed = [r for r in execution.results if r.outcome != "succeeded"]
        log.info(
            "scheduled workflows: %d runs, %d alerts changed, %d failed, %d notifications queued",
            len(execution.results),
            sum(r.result_count for r in execution.results),
            len(failed),
            execution.notifications_queued,
        )
        return execution


def instance_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class ServiceScheduler:
    """APScheduler in the service: workflow=all every WORKFLOW_INTERVAL_MINUTES (one instance at a time,
    by the lease) and notification delivery every NOTIFY_DISPATCH_SECONDS."""

    def __init__(self, workflows: Workflows) -> None:
        self.workflows = workflows
        self.holder = instance_name()
        self.scheduler = BackgroundScheduler(timezone="UTC")
        settings = workflows.settings
        self.scheduler.add_job(
            self._workflows,
            "interval",
            minutes=settings.workflow_interval_minutes,
            id="workflows",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=60,
        )
        self.scheduler.add_job(
            self._retention,
            "interval",
            seconds=RETENTION_EVERY.total_seconds(),
            id="retention",
            max_instances=1,
            coalesce=True,
        )
        self.scheduler.add_job(
            self._dispatch,
            "interval",
            seconds=settings.notify_dispatch_seconds,
            id="notifications",
            max_instances=1,
            coalesce=True,
        )

    def _workflows(self) -> None:
        try:
            self.workflows.run_scheduled(self.holder)
        except Exception:
            log.exception("scheduled workflows failed")

    def _retention(self) -> None:
        try:
            self.workflows.run_retention(self.holder)
        except Exception:
            log.exception("scheduled retention failed")

    def _dispatch(self) -> None:
        try:
            report = self.workflows.dispatch()
            if report.sent or report.retried or report.failed:
                log.info(
                    "notifications: %d sent, %d to retry, %d failed",
                    report.sent,
                    report.retried,
                    report.failed,
                )
        except Exception:
            log.exception("notification delivery failed")

    def start(self) -> None:
        self.scheduler.start()
        log.info(
            "scheduler started: workflow=all every %g min, notifications every %g s (instance %s)",
            self.workflows.settings.workflow_interval_minutes,
            self.workflows.settings.notify_dispatch_seconds,
            self.holder,
        )

    def stop(self) -> None:
        self.scheduler.shutdown(wait=True)
