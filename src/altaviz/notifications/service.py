"""Queueing notifications (in the caller's transaction) and delivering them (outside any workflow).

Grouping, as Alertmanager does it, per channel and compressor:
- group wait: a compressor's first message waits NOTIFY_GROUP_WAIT_SECONDS so the rest of a burst joins it;
- group interval: a new message for a compressor is not sent within NOTIFY_GROUP_INTERVAL_MINUTES of the
  previous one; events arriving meanwhile join the pending message;
- repeat interval: a critical alert still active and unacknowledged is notified again after
  NOTIFY_REPEAT_INTERVAL_HOURS.
Delivery claims due messages (SKIP LOCKED on PostgreSQL, so several dispatchers never send one message
twice), sends each outside any transaction, and records success or schedules a retry with exponential
back-off; after NOTIFY_MAX_ATTEMPTS a message is marked failed with its last error.
"""

import logging
import secrets
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from altaviz.accounts.errors import NotFound
from altaviz.accounts.scoping import OrgScope, scoped
from altaviz.alerts.kinds import EARLY_WARNING_TYPES
from altaviz.alerts.models import AlertHistory
from altaviz.alerts.workflows import NotifyEvent, system_clock
from altaviz.config import Settings
from altaviz.db.session import SQLITE_BEGIN_IMMEDIATE
from altaviz.notifications.models import NotificationChannel, NotificationMessage
from altaviz.notifications.senders import DeliveryFailed, Sender, default_senders

log = logging.getLogger("altaviz.notifications")

Clock = Callable[[], datetime]
FIRST_RETRY_SECONDS = 30
MAX_RETRY_SECONDS = 3600


@dataclass(frozen=True)
class NotifyConfig:
    group_wait: timedelta = timedelta(seconds=30)
    group_interval: timedelta = timedelta(minutes=5)
    repeat_interval: timedelta = timedelta(hours=4)
    max_attempts: int = 8

    @classmethod
    def from_settings(cls, settings: Settings) -> "NotifyConfig":
        return cls(
            group_wait=timedelta(seconds=settings.notify_group_wait_seconds),
            group_interval=timedelta(minutes=settings.notify_group_interval_minutes),
            repeat_interval=timedelta(hours=settings.notify_repeat_interval_hours),
            max_attempts=settings.notify_max_attempts,
        )


# --- channels ------------------------------------------------------------------------------------------


def list_channels(session: Session, scope: OrgScope) -> list[NotificationChannel]:
    c = NotificationChannel
    return list(session.scalars(scoped(select(c).order_by(c.created_at, c.id), scope, c)))


def create_channel(
    session: Session,
    scope: OrgScope,
    *,
    kind: str,
    name: str,
    target: str,
    created_by: str | None,
) -> NotificationChannel:
    """A new e-mail or webhook channel; a webhook gets a fresh signing secret (returned once)."""
    channel = NotificationChannel(
        organization_id=scope.organization_id,
        kind=kind,
        name=name,
        target=target,
        secret=("whsec_" + secrets.token_urlsafe(32)) if kind == "webhook" else None,
        enabled=True,
        created_by=created_by,
    )
    session.add(channel)
    session.flush()
    return channel


def delete_channel(session: Session, scope: OrgScope, channel_id: uuid.UUID) -> NotificationChannel:
    c = NotificationChannel
    channel = session.scalars(scoped(select(c).where(c.id == channel_id), scope, c)).first()
    if channel is None:
        raise NotFound("Notification channel not found")
    session.delete(channel)
    session.flush()
    return channel


def list_messages(
    session: Session, scope: OrgScope, *, limit: int = 50, offset: int = 0
) -> tuple[list[NotificationMessage], int]:
    m = NotificationMessage
    rows = list(
        session.scalars(
            scoped(select(m).order_by(m.created_at.desc(), m.id).limit(limit).offset(offset), scope, m)
        )
    )
    total = int(session.execute(scoped(select(func.count()).select_from(m), scope, m)).scalar_one())
    return rows, total


# --- queueing ------------------------------------------------------------------------------------------


def enqueue(
    session: Session,
    organization_id: uuid.UUID,
    events: Sequence[NotifyEvent],
    now: datetime,
    config: NotifyConfig,
) -> int:
    """Add `events` to the organization's channels, one pending message per channel and compressor.

    Returns the number of messages created (events joining a pending message create none)."""
    if not events:
        return 0
    scope = OrgScope(organization_id)
    c, m = NotificationChannel, NotificationMessage
    channels = list(session.scalars(scoped(select(c).where(c.enabled.is_(True)), scope, c)))
    by_compressor: dict[str, list[NotifyEvent]] = defaultdict(list)
    for event in events:
        by_compressor[event.compressor_id].append(event)
    created = 0
    for channel in channels:
        for compressor_id, group in sorted(by_compressor.items()):
            payload = [event.as_json() for event in group]
            pending = session.scalars(
                scoped(
                    select(m)
                    .where(
                        m.channel_id == channel.id, m.compressor_id == compressor_id, m.status == "pending"
                    )
                    .order_by(m.created_at)
                    .with_for_update(),
                    scope,
                    m,
                )
            ).first()
            if pending is not None:
                known = {(e.get("kind"), e.get("alertId")) for e in pending.events}
                fresh = [e for e in payload if (e["kind"], e["alertId"]) not in known]
                if fresh:
                    pending.events = [*pending.events, *fresh]
                continue
            previous = session.execute(
                scoped(
                    select(func.max(func.coalesce(m.sent_at, m.send_after))).where(
                        m.channel_id == channel.id,
                        m.compressor_id == compressor_id,
                        m.status.in_(("sending", "sent", "failed")),
                    ),
                    scope,
                    m,
                )
            ).scalar_one()
            send_after = now + config.group_wait
            if previous is not None:
                send_after = max(send_after, previous + config.group_interval)
            session.add(
                NotificationMessage(
                    organization_id=organization_id,
                    channel_id=channel.id,
                    compressor_id=compressor_id,
                    status="pending",
                    events=payload,
                    created_at=now,
                    send_after=send_after,
                    attempts=0,
                )
            )
            created += 1
    session.flush()
    return created


def scan_alerts(session: Session, scope: OrgScope, now: datetime, config: NotifyConfig) -> list[NotifyEvent]:
    """New critical alerts not yet notified, unacknowledged critical ones due a repeat, and new early
    warnings (once, at 'warning').

    Marks them notified in the same statement (conditional UPDATE), so concurrent scans never
    produce the same event twice."""
    a = AlertHistory
    live = (
        a.resolved.is_(False),
        a.acknowledged.is_(False),
        a.is_active.is_(True),
        a.severity == "critical",
        or_(a.shelved_until.is_(None), a.shelved_until <= now),
    )
    events: list[NotifyEvent] = []
    fresh = session.execute(
        scoped(
            update(a)
            .where(*live, or_(a.notified_severity.is_(None), a.notified_severity != "critical"))
            .values(notified_severity="critical", notified_at=now)
            .returning(a.id, a.compressor_id, a.condition, a.message),
            scope,
            a,
        )
    ).all()
    for alert_id, compressor_id, condition, message in sorted(fresh):
        events.append(
            NotifyEvent("critical", alert_id, compressor_id, condition, "critical", message or condition, now)
        )
    repeat = session.execute(
        scoped(
            update(a)
            .where(
                *live,
                a.notified_severity == "critical",
                a.notified_at <= now - config.repeat_interval,
            )
            .values(notified_at=now)
            .returning(a.id, a.compressor_id, a.condition, a.message),
            scope,
            a,
        )
    ).all()
    # Early warnings (anomaly, prediction): notified once, at their own 'warning' severity.
    early = session.execute(
        scoped(
            update(a)
            .where(
                a.resolved.is_(False),
                a.acknowledged.is_(False),
                a.is_active.is_(True),
                a.alert_type.in_(EARLY_WARNING_TYPES),
                a.notified_severity.is_(None),
                or_(a.shelved_until.is_(None), a.shelved_until <= now),
            )
            .values(notified_severity="warning", notified_at=now)
            .returning(a.id, a.compressor_id, a.condition, a.message),
            scope,
            a,
        )
    ).all()
    for alert_id, compressor_id, condition, message in sorted(early):
        text = message or condition
        events.append(NotifyEvent("early_warning", alert_id, compressor_id, condition, "warning", text, now))
    fresh_ids = {row[0] for row in fresh}
    for alert_id, compressor_id, condition, message in sorted(repeat):
        if alert_id in fresh_ids:
            continue
        events.append(
            NotifyEvent(
                "repeat",
                alert_id,
                compressor_id,
                condition,
                "critical",
                f"Still critical and unacknowledged: {message or condition}",
                now,
            )
        )
    return events


def notify_organization(
    sessions: sessionmaker[Session], organization_id: uuid.UUID, now: datetime, config: NotifyConfig
) -> int:
    """One transaction: scan the organization's alerts and queue what is new; messages created."""
    with sessions() as session:
        session.connection(execution_options={SQLITE_BEGIN_IMMEDIATE: True})
        events = scan_alerts(session, OrgScope(organization_id), now, config)
        created = enqueue(session, organization_id, events, now, config)
        session.commit()
    return created


# --- delivery ------------------------------------------------------------------------------------------


@dataclass
class DispatchReport:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


def _retry_delay(attempts: int) -> timedelta:
    return timedelta(seconds=min(FIRST_RETRY_SECONDS * 2 ** max(attempts - 1, 0), MAX_RETRY_SECONDS))


def dispatch_due(
    sessions: sessionmaker[Session],
    senders: dict[str, Sender] | None = None,
    *,
    settings: Settings,
    config: NotifyConfig,
    clock: Clock = system_clock,
    limit: int = 100,
) -> DispatchReport:
    """Deliver every message due now (and retry those due a retry)."""
    senders = senders or default_senders(settings)
    report = DispatchReport()
    now = clock()
    claim_for = timedelta(seconds=settings.notify_timeout_seconds * 3 + 60)
    m, c = NotificationMessage, NotificationChannel
    with sessions() as session:
        session.connection(execution_options={SQLITE_BEGIN_IMMEDIATE: True})
        due = (
            select(m.id)
            .where(
                or_(
                    (m.status == "pending") & (m.send_after <= now),
                    (m.status == "sending") & (m.claimed_until <= now),
                )
            )
            .order_by(m.send_after)
            .limit(limit)
        )
        if session.get_bind().dialect.name == "postgresql":
            due = due.with_for_update(skip_locked=True)
        ids = list(session.scalars(due))
        if ids:
            session.execute(
                update(m).where(m.id.in_(ids)).values(status="sending", claimed_until=now + claim_for)
            )
        session.commit()
    for message_id in ids:
        with sessions() as session:
            row = session.execute(
                select(m, c).join(c, c.id == m.channel_id).where(m.id == message_id)
            ).one_or_none()
            session.expunge_all()  # detached with their values loaded; no transaction held while sending
        if row is None:
            continue
        message, channel = row
        error: str | None = None
        try:
            sender = senders.get(channel.kind)
            if sender is None:
                raise DeliveryFailed(f"no sender for {channel.kind} channels")
            sender(channel, message)
        except DeliveryFailed as failure:
            error = str(failure)
        except Exception as failure:  # a bug in a sender must not stop the other deliveries
            log.exception("notification %s: sender crashed", message_id)
            error = f"{failure.__class__.__name__}: {failure}"
        finished = clock()
        with sessions() as session:
            session.connection(execution_options={SQLITE_BEGIN_IMMEDIATE: True})
            attempts = message.attempts + 1
            values: dict[str, Any] = {"attempts": attempts, "claimed_until": None}
            if error is None:
                values |= {"status": "sent", "sent_at": finished, "last_error": None}
                report.sent += 1
            elif attempts >= config.max_attempts:
                values |= {"status": "failed", "last_error": error[:2000]}
                report.failed += 1
                report.errors.append(error)
                log.error(
                    "notification %s to %s channel %s failed for good after %d attempts: %s",
                    message_id,
                    channel.kind,
                    channel.name,
                    attempts,
                    error,
                )
            else:
                values |= {
                    "status": "pending",
                    "send_after": finished + _retry_delay(attempts),
                    "last_error": error[:2000],
                }
                report.retried += 1
                report.errors.append(error)
                log.warning(
                    "notification %s to %s channel %s failed (attempt %d, will retry): %s",
                    message_id,
                    channel.kind,
                    channel.name,
                    attempts,
                    error,
                )
            session.execute(update(m).where(m.id == message_id, m.status == "sending").values(**values))
            session.commit()
    return report


def now_utc() -> datetime:
    return datetime.now(UTC)
