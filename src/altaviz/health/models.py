"""Health tables the pipeline loads (issue 19): the hourly health index of each compressor and its
projected threshold crossings.

compressor_health: one row per compressor and data hour, kept for the plan's history window like the
hourly readings. `status` says whether the hour was judged ('judged'), still learned ('warmup') or not
judged because the unit was stopped, settling after a start or without data ('stopped');
`health_index` is NULL unless judged. `drivers` is a JSON list of {"sensor": name, "score": float},
largest |score| first: the sensors that pull the health down.

compressor_predictions: for each degrading metric of a compressor, the projected hours to its
warning and critical thresholds (the organization's effective thresholds) with an 80 % range
(`hours_high` NULL: no upper bound), as of the data hour `computed_at`; `projected_at` is
`computed_at` + `hours`. A compressor's rows are replaced each time its health is computed; no row
means no trend.
"""

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, Float, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from altaviz.db.base import ORG_FK, Base, UTCDateTime, compressor_fk

HEALTH_STATUSES: tuple[str, ...] = ("warmup", "stopped", "judged")
PREDICTION_LEVELS: tuple[str, ...] = ("warning", "critical")


class CompressorHealth(Base):
    __tablename__ = "compressor_health"
    __table_args__ = (
        compressor_fk("compressor_health"),
        Index("ix_compressor_health_org_hour", "organization_id", "hour"),
        CheckConstraint("status IN ('warmup', 'stopped', 'judged')", name="status"),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(ORG_FK, ondelete="CASCADE"), primary_key=True
    )
    compressor_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    hour: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    health_index: Mapped[float | None] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(12))
    drivers: Mapped[str | None] = mapped_column(Text)


class CompressorPrediction(Base):
    __tablename__ = "compressor_predictions"
    __table_args__ = (
        compressor_fk("compressor_predictions"),
        CheckConstraint("level IN ('warning', 'critical')", name="level"),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(ORG_FK, ondelete="CASCADE"), primary_key=True
    )
    compressor_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    metric: Mapped[str] = mapped_column(String(50), primary_key=True)
    level: Mapped[str] = mapped_column(String(10), primary_key=True)
    threshold_value: Mapped[float] = mapped_column(Float)
    hours: Mapped[float] = mapped_column(Float)
    hours_low: Mapped[float] = mapped_column(Float)
    hours_high: Mapped[float | None] = mapped_column(Float)  # NULL: no upper bound (the trend may stall)
    projected_at: Mapped[datetime] = mapped_column(UTCDateTime)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime)
