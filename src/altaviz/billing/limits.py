"""Plan limits the data path needs: which compressors a plan covers, and data retention by plan.

Compressor limit (SPEC §5: Free 2, Pro 20, Enterprise unlimited). The rule that decides which
compressors of an organization are within its plan is deterministic and favours what is already
there, so a new compressor never pushes out one that has been reporting:

1. compressors already registered for the organization (compressor_metadata) and not archived,
   oldest registration first (created_at, then compressor id);
2. then compressors not registered yet, by compressor id.

The first `max_compressors` of that order are within the plan; the pipeline quarantines the readings
of the others with the reason "plan limit" and reports them with `record_plan_limit_quarantine`, which
is what the organization is shown (GET /api/billing, and an audit entry the first time a compressor is
held back). Upgrading lifts the limit on the next pipeline run; nothing is lost in the lake.

Registration (the fleet registry: API, import, settings page) applies the same limit at the door:
`registration_refusal` says why one more compressor cannot be registered (or restored from the
archive), naming the plan and how to upgrade; archived compressors do not count.

Retention: `apply_retention` deletes what is older than the plan's history (hourly aggregates, data
quality checks, closed alerts), so a downgraded organization keeps only what its plan covers.
"""

import logging
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from altaviz.accounts import data_version
from altaviz.accounts.auditing import audit_system
from altaviz.accounts.models import Organization
from altaviz.accounts.plans import PLANS, Plan, plan_for
from altaviz.alerts.models import AlertHistory
from altaviz.billing.models import PlanLimitQuarantine
from altaviz.db.base import utcnow
from altaviz.monitoring.models import (
    CompressorMetadata,
    CompressorState,
    DataQualityMetric,
    RecentReading,
    SensorReadingAgg,
)

log = logging.getLogger("altaviz.billing")

PLAN_LIMIT_REASON = "plan limit"


def organization_plan(session: Session, organization_id: uuid.UUID) -> Plan:
    tier = session.scalar(select(Organization.subscription_tier).where(Organization.id == organization_id))
    if tier is None:
        raise LookupError(f"organization {organization_id} does not exist")
    return plan_for(tier)


def compressor_order(
    session: Session, organization_id: uuid.UUID, compressor_ids: Iterable[str] = ()
) -> list[str]:
    """Every compressor of the organization (registered ones and `compressor_ids`), in plan order."""
    registered = [
        row.compressor_id
        for row in session.execute(
            select(CompressorMetadata.compressor_id)
            .where(
                CompressorMetadata.organization_id == organization_id,
                CompressorMetadata.archived_at.is_(None),
            )
            .order_by(CompressorMetadata.created_at, CompressorMetadata.compressor_id)
        )
    ]
    known = set(registered)
    new = sorted({c for c in compressor_ids if c not in known})
    return registered + new


def allowed_compressors(
    session: Session, organization_id: uuid.UUID, compressor_ids: Iterable[str]
) -> set[str]:
    """Those of `compressor_ids` that the organization's plan covers (read from the database now).

    The pipeline calls this once per run with the distinct compressor ids of the batch, and
    quarantines the readings of every other compressor with the reason PLAN_LIMIT_REASON.
    """
    wanted = set(compressor_ids)
    limit = organization_plan(session, organization_id).max_compressors
    if limit is None:
        return wanted
    return wanted & set(compressor_order(session, organization_id, wanted)[:limit])


def registered_compressor_count(session: Session, organization_id: uuid.UUID) -> int:
    """Compressors registered and not archived: what the plan's compressor limit counts."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(CompressorMetadata)
            .where(
                CompressorMetadata.organization_id == organization_id,
                CompressorMetadata.archived_at.is_(None),
            )
        )
        or 0
    )


def registration_refusal(session: Session, organization_id: uuid.UUID, adding: int = 1) -> str | None:
    """Why `adding` more compressors cannot be registered under the organization's plan, or None."""
    plan = organization_plan(session, organization_id)
    limit = plan.max_compressors
    if limit is None:
        return None
    registered = registered_compressor_count(session, organization_id)
    if registered + adding <= limit:
        return None
    bigger = [p for p in PLANS.values() if p.max_compressors is None or p.max_compressors > limit]
    offers = " or ".join(
        f"{p.name} ({'unlimited' if p.max_compressors is None else p.max_compressors} compressors)"
        for p in bigger
    )
    return (
        f"The {plan.name} plan covers {limit} compressors and {registered} are registered: upgrade to "
        f"{offers} in Settings → Billing (/dashboard/settings#billing), or archive a compressor you no "
        "longer monitor"
    )


def record_plan_limit_quarantine(
    session: Session,
    organization_id: uuid.UUID,
    readings_by_compressor: Mapping[str, int],
    at: datetime | None = None,
) -> list[str]:
    """Note readings quarantined for the plan limit, per compressor; returns compressors held back
    for the first time (each gets one audit entry, so the organization is told once, not per run).
    """
    at = at or utcnow()
    first_time: list[str] = []
    for compressor_id, count in sorted(readings_by_compressor.items()):
        if count <= 0:
            continue
        row = session.get(PlanLimitQuarantine, (organization_id, compressor_id))
        if row is None:
            session.add(
                PlanLimitQuarantine(
                    organization_id=organization_id,
                    compressor_id=compressor_id,
                    readings=count,
                    first_at=at,
                    last_at=at,
                )
            )
            first_time.append(compressor_id)
        else:
            row.readings += count
            row.last_at = max(row.last_at, at)
    session.flush()
    if first_time:
        plan = organization_plan(session, organization_id)
        audit_system(
            session,
            organization_id,
            "billing.plan_limit_quarantine",
            what="pipeline",
            target_type="organization",
            target_id=organization_id,
            details={
                "plan": plan.tier,
                "max_compressors": plan.max_compressors,
                "compressors": first_time,
                "reason": PLAN_LIMIT_REASON,
            },
        )
    return first_time


def clear_plan_limit_quarantines(session: Session, organization_id: uuid.UUID) -> int:
    """Forget the notices (after an upgrade lifted the limit); returns how many were cleared."""
    result = session.execute(
        delete(PlanLimitQuarantine).where(PlanLimitQuarantine.organization_id == organization_id)
    )
    return int(getattr(result, "rowcount", 0) or 0)


@dataclass(frozen=True)
class RetentionResult:
    organization_id: uuid.UUID
    tier: str
    history_days: int
    cutoff: datetime
    hourly_aggregates: int
    quality_checks: int
    alerts: int


def apply_retention(
    session: Session, organization_id: uuid.UUID, now: datetime | None = None, dry_run: bool = False
) -> RetentionResult:
    """Delete the organization's data older than its plan's history (see _retention)."""
    return _note_changes(session, [_retention(session, organization_id, now, dry_run)], dry_run)[0]


def apply_retention_everywhere(
    session: Session, now: datetime | None = None, dry_run: bool = False
) -> list[RetentionResult]:
    ids = list(session.scalars(select(Organization.id).order_by(Organization.slug)))
    return _note_changes(session, [_retention(session, org_id, now, dry_run) for org_id in ids], dry_run)


def _note_changes(session: Session, results: list[RetentionResult], dry_run: bool) -> list[RetentionResult]:
    """Bump the data version of each organization that lost rows: after all the deleting, so no
    organization's row stays locked while others' data is deleted."""
    if not dry_run:
        for result in results:
            if result.hourly_aggregates or result.quality_checks or result.alerts:
                data_version.bump(session, result.organization_id)
    return results


def _retention(
    session: Session, organization_id: uuid.UUID, now: datetime | None, dry_run: bool
) -> RetentionResult:
    """Delete the organization's data older than its plan's history.

    Hourly aggregates and data-quality checks older than the cutoff go; alerts go only when closed
    (resolved, or back to normal) and last seen before the cutoff, so an alert still open is never
    lost whatever its age.
    """
    now = now or utcnow()
    plan = organization_plan(session, organization_id)
    cutoff = now - timedelta(days=plan.history_days)
    closed = (AlertHistory.resolved.is_(True)) | (AlertHistory.is_active.is_(False))
    last_seen = AlertHistory.last_violation_at
    targets: list[tuple[Any, list[Any]]] = [
        (
            SensorReadingAgg,
            [SensorReadingAgg.organization_id == organization_id, SensorReadingAgg.agg_timestamp < cutoff],
        ),
        (
            DataQualityMetric,
            [
                DataQualityMetric.organization_id == organization_id,
                DataQualityMetric.metric_timestamp < cutoff,
            ],
        ),
        (
            AlertHistory,
            [
                AlertHistory.organization_id == organization_id,
                closed,
                AlertHistory.alert_timestamp < cutoff,
                last_seen.is_(None) | (last_seen < cutoff),
            ],
        ),
    ]
    counts = []
    for model, conditions in targets:
        if dry_run:
            counts.append(
                int(session.scalar(select(func.count()).select_from(model).where(*conditions)) or 0)
            )
        else:
            result = session.execute(delete(model).where(*conditions))
            counts.append(int(getattr(result, "rowcount", 0) or 0))
    if not dry_run:
        # The dashboard's state (pipeline.dashboard_state) goes with the readings it describes.
        session.execute(
            delete(RecentReading).where(
                RecentReading.organization_id == organization_id, RecentReading.timestamp < cutoff
            )
        )
        session.execute(
            delete(CompressorState).where(
                CompressorState.organization_id == organization_id,
                CompressorState.last_reading_at < cutoff,
            )
        )
    outcome = RetentionResult(organization_id, plan.tier, plan.history_days, cutoff, *counts)
    if not dry_run and any(counts):
        log.info(
            "retention: deleted %d hourly aggregates, %d quality checks, %d closed alerts older than %s",
            *counts,
            cutoff.isoformat(),
            extra={"organization_id": str(organization_id)},
        )
    return outcome
