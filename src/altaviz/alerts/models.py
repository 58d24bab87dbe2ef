"""alert_history: one row per alert episode (ISA-18.2 style), not per violating reading.

The pipeline owns the episode columns (when it started, peak, severity, returned to normal);
people and workflows own the acknowledgement/resolution/shelving columns, and no pipeline re-run
ever writes those.
"""

import uuid
from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy import Float as SAFloat
from sqlalchemy.orm import Mapped, mapped_column

from altaviz.db.base import Base, UTCDateTime, utcnow
from altaviz.monitoring.models import ORG_FK, SurrogateKey

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


class AlertHistory(Base):
    __tablename__ = "alert_history"
    __table_args__ = (
        ForeignKeyConstraint(
            ["organization_id", "compressor_id"],
            ["compressor_metadata.organization_id", "compressor_metadata.compressor_id"],
            ondelete="CASCADE",
            name="fk_alert_history_compressor",
        ),
        UniqueConstraint("organization_id", "compressor_id", "condition", "alert_timestamp"),
        Index("ix_alert_history_org_time", "organization_id", "alert_timestamp"),
        Index("ix_alert_history_org_open", "organization_id", "resolved", "is_active"),
        CheckConstraint(
            "alert_type IN ('threshold_warning', 'threshold_critical', 'staleness', 'anomaly', 'prediction')",
            name="alert_type",
        ),
        CheckConstraint("severity IN ('info', 'warning', 'critical')", name="severity"),
    )

    id: Mapped[int] = mapped_column(SurrogateKey, primary_key=True, autoincrement=True)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(ORG_FK, ondelete="CASCADE"))
    compressor_id: Mapped[str] = mapped_column(String(50))
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
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    source: Mapped[str] = mapped_column(String(20), default="pipeline")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
