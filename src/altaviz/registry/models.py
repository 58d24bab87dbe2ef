"""Fleet registry and threshold tables of an organization (issue 16, SPEC §8).

Stations and compressors live in the tables the pipeline has always loaded (monitoring.models:
station_locations, compressor_metadata, which gained model_id, notes and archived_at); this module
adds what the registry needs beside them:

- compressor_models: the makes an organization runs (manufacturer, model, rated HP), referred to by
  compressors through (organization_id, model_id);
- threshold_overrides: warning/critical limits and on-delay/clear counts set for the organization,
  one compressor model or one compressor; a NULL field inherits from the next wider scope;
- threshold_changes: one row per change of a scope's overrides, numbered per organization. The
  highest number is the organization's thresholds version (0 before any change); the row keeps the
  set before and after the change and who made it, so the history can be read back and audited.
"""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from altaviz.db.base import Base, JSONDocument, UTCDateTime, new_uuid, utcnow

# As in monitoring.models, which imports this module (its compressors refer to compressor_models):
# this module imports nothing of it.
ORG_FK = "organizations.id"
SurrogateKey = BigInteger().with_variant(Integer(), "sqlite")

SCOPE_TYPES = ("organization", "model", "compressor")


class CompressorModel(Base):
    __tablename__ = "compressor_models"
    __table_args__ = (
        UniqueConstraint("organization_id", "manufacturer", "model"),
        # the target of compressor_metadata's (organization_id, model_id) foreign key
        UniqueConstraint("organization_id", "id"),
        CheckConstraint("rated_hp > 0", name="rated_hp_positive"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_uuid)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(ORG_FK, ondelete="CASCADE"))
    manufacturer: Mapped[str] = mapped_column(String(100))
    model: Mapped[str] = mapped_column(String(100))
    rated_hp: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    @property
    def display_name(self) -> str:
        return model_display_name(self.manufacturer, self.model)


def model_display_name(manufacturer: str, model: str) -> str:
    """How a model is named where one text is shown (compressor_metadata.model, the fleet pages)."""
    return f"{manufacturer} {model}".strip()


class ThresholdOverride(Base):
    __tablename__ = "threshold_overrides"
    __table_args__ = (
        UniqueConstraint("organization_id", "scope_type", "scope_id", "metric"),
        CheckConstraint("scope_type IN ('organization', 'model', 'compressor')", name="scope_type"),
        CheckConstraint("on_delay IS NULL OR on_delay > 0", name="on_delay_positive"),
        CheckConstraint("clear_count IS NULL OR clear_count > 0", name="clear_count_positive"),
    )

    id: Mapped[int] = mapped_column(SurrogateKey, primary_key=True, autoincrement=True)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(ORG_FK, ondelete="CASCADE"))
    # 'organization' (scope_id ''), 'model' (scope_id = compressor_models.id) or 'compressor' (its id)
    scope_type: Mapped[str] = mapped_column(String(20))
    scope_id: Mapped[str] = mapped_column(String(64), default="")
    metric: Mapped[str] = mapped_column(String(50))
    warning: Mapped[float | None] = mapped_column(Float)
    critical: Mapped[float | None] = mapped_column(Float)
    on_delay: Mapped[int | None] = mapped_column(Integer)
    clear_count: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class ThresholdChange(Base):
    __tablename__ = "threshold_changes"
    __table_args__ = (
        UniqueConstraint("organization_id", "version"),
        Index("ix_threshold_changes_scope", "organization_id", "scope_type", "scope_id"),
        CheckConstraint("scope_type IN ('organization', 'model', 'compressor')", name="scope_type"),
        CheckConstraint("kind IN ('overrides', 'model_assignment')", name="kind"),
    )

    id: Mapped[int] = mapped_column(SurrogateKey, primary_key=True, autoincrement=True)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(ORG_FK, ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    scope_type: Mapped[str] = mapped_column(String(20))
    scope_id: Mapped[str] = mapped_column(String(64), default="")
    # 'overrides' (a scope's limits were set: before/after are {metric: {field: value}}) or
    # 'model_assignment' (a compressor changed model: before/after are {"model_id": ...})
    kind: Mapped[str] = mapped_column(String(30), default="overrides")
    before: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    after: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    # the compressors whose effective values may differ since the previous version (None: all of them)
    compressors: Mapped[list[str] | None] = mapped_column(JSONDocument)
    changed_by: Mapped[str] = mapped_column(String(200))
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
