"""alert_history: one row per alert episode (ISA-18.2 style), not per violating reading.

The pipeline owns the episode columns (when it started, peak, severity, returned to normal);
people and workflows own the acknowledgement/resolution/shelving/escalation/notification columns,
and no pipeline re-run ever writes those.

Lifecycle (ISA-18.2 / OPC UA Part 9, orthogonal states):
- active (the condition holds, `is_active`) or returned to normal (`returned_to_normal_at`);
- unacknowledged or acknowledged (`acknowledged_by`, `acknowledged_at`);
- open or resolved (`resolved_by`, `resolved_at`, `resolution_note`); resolving also acknowledges;
- shelved while `shelved_until` is in the future (`shelved_by`, `shelved_at`, `shelve_reason`): a shelved
  alert is hidden from the active list and not escalated or notified, and comes back by itself when the
  shelf expires (nothing has to run for that).

Data-staleness alerts (`condition = 'data_staleness'`, `source = 'workflow'`) are created and resolved
by the staleness workflow; a partial unique index allows one open staleness alert per compressor.

workflow_runs logs every execution of every workflow; job_locks is the lease that lets one service
instance at a time run the scheduled workflows.
"""

import uuid
from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy import Float as SAFloat
from sqlalchemy.orm import Mapped, mapped_column

from altaviz.db.base import (
    ORG_FK,
    Base,
    JSONDocument,
    SurrogateKey,
    UTCDateTime,
    compressor_fk,
    new_uuid,
    utcnow,
)

PIPELINE_OWNED_COLUMNS: tuple[str, ...] = (
    "severity",
    "alert_type",
    "raised_at",
    "last_violation_at",
    "returned_to_normal_at",
    "is_active",
    "sensor_value",
    "threshold_value",
    "message",
    "violation_count",
)


STALENESS_CONDITION = "data_staleness"
OPEN_STALENESS = "condition = 'data_staleness' AND NOT resolved"


class AlertHistory(Base):
    __tablename__ = "alert_history"
    __table_args__ = (
        compressor_fk("alert_history"),
        UniqueConstraint("organization_id", "compressor_id", "condition", "alert_timestamp"),
        Index("ix_alert_history_org_time", "organization_id", "alert_timestamp"),
        Index("ix_alert_history_org_open", "organization_id", "resolved", "is_active"),
        Index("ix_alert_history_related_alert_id", "related_alert_id"),
        CheckConstraint(
            "alert_type IN ('threshold_warning', 'threshold_critical', 'staleness', 'anomaly', 'prediction')",
            name="alert_type",
        ),
        CheckConstraint("severity IN ('info', 'warning', 'critical')", name="severity"),
        Index(
            "uq_alert_history_open_staleness",
            "organization_id",
            "compressor_id",
            unique=True,
            sqlite_where=text(OPEN_STALENESS),
            postgresql_where=text(OPEN_STALENESS),
        ),
    )

    id: Mapped[int] = mapped_column(SurrogateKey, primary_key=True, autoincrement=True)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(ORG_FK, ondelete="CASCADE"))
    compressor_id: Mapped[str] = mapped_column(String(64))
    # What is alarmed: a threshold metric ("vibration_mms", ...) or "data_staleness".
    condition: Mapped[str] = mapped_column(String(50))
    alert_type: Mapped[str] = mapped_column(String(30))
    severity: Mapped[str] = mapped_column(String(10))
    sensor_name: Mapped[str | None] = mapped_column(String(50))
    # First violating reading of the episode; with (organization, compressor, condition) the episode key.
    alert_timestamp: Mapped[datetime] = mapped_column(UTCDateTime)
    # When the on-delay was met and the alert became visible.
    raised_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_violation_at: Mapped[datetime] = mapped_column(UTCDateTime)
    returned_to_normal_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    sensor_value: Mapped[float | None] = mapped_column(SAFloat)
    threshold_value: Mapped[float | None] = mapped_column(SAFloat)
    message: Mapped[str | None] = mapped_column(Text)
    violation_count: Mapped[int] = mapped_column(Integer, default=0)
    acknowledged: Mapped[bool] = mapped_column(Boolean, default=False)
    acknowledged_by: Mapped[str | None] = mapped_column(String(200))
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved: Mapped[bool] = mapped_column(Boolean, default=False)
    resolved_by: Mapped[str | None] = mapped_column(String(200))
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolution_note: Mapped[str | None] = mapped_column(Text)
    shelved_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    shelved_by: Mapped[str | None] = mapped_column(String(200))
    shelve_reason: Mapped[str | None] = mapped_column(Text)
    shelved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    escalation_note: Mapped[str | None] = mapped_column(Text)
    # The severity last notified and when (notifications: new critical alerts, escalations, repeats).
    notified_severity: Mapped[str | None] = mapped_column(String(10))
    notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    source: Mapped[str] = mapped_column(String(20), default="pipeline")
    # A threshold alert that follows an early warning ('anomaly' or 'prediction') of the same
    # compressor (and sensor, where the warning named one) points to it: one story, not two alerts.
    related_alert_id: Mapped[int | None] = mapped_column(
        SurrogateKey, ForeignKey("alert_history.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


WORKFLOW_NAMES: tuple[str, ...] = ("escalation", "auto_resolve", "staleness", "cleanup")


class WorkflowRun(Base):
    """One execution of one workflow for one organization: when, how long, what it changed."""

    __tablename__ = "workflow_runs"
    __table_args__ = (
        Index("ix_workflow_runs_org_started", "organization_id", "started_at"),
        Index("ix_workflow_runs_started", "started_at"),
        CheckConstraint(
            "workflow IN ('escalation', 'auto_resolve', 'staleness', 'cleanup')", name="workflow"
        ),
        CheckConstraint("outcome IN ('succeeded', 'failed')", name="outcome"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_uuid)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(ORG_FK, ondelete="CASCADE"))
    workflow: Mapped[str] = mapped_column(String(30))
    # What started it: scheduler, cli, api (API key or session).
    trigger: Mapped[str] = mapped_column(String(20))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The clock the workflow judged ages against (the same as started_at unless a test or replay set it).
    as_of: Mapped[datetime] = mapped_column(UTCDateTime)
    duration_ms: Mapped[float] = mapped_column(SAFloat)
    result_count: Mapped[int] = mapped_column(Integer, default=0)
    outcome: Mapped[str] = mapped_column(String(20))
    details: Mapped[list[str] | None] = mapped_column(JSONDocument)
    error: Mapped[str | None] = mapped_column(Text)


class JobLock(Base):
    """A named lease: the holder may run the job until `expires_at` (one instance at a time)."""

    __tablename__ = "job_locks"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    holder: Mapped[str | None] = mapped_column(String(200))
    acquired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
