"""Tenants. Every tenant row elsewhere carries an organization_id that points here."""

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from altaviz.db.base import Base, UTCDateTime, new_uuid, utcnow


class Organization(Base):
    __tablename__ = "organizations"
    __table_args__ = (
        CheckConstraint("subscription_tier IN ('free', 'pro', 'enterprise')", name="tier"),
        CheckConstraint(
            "subscription_status IN ('active', 'past_due', 'canceled', 'trialing')", name="status"
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_uuid)
    name: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(100), unique=True)
    subscription_tier: Mapped[str] = mapped_column(String(20), default="free")
    subscription_status: Mapped[str] = mapped_column(String(20), default="active")
    max_compressors: Mapped[int | None] = mapped_column(Integer, default=2)
    stripe_customer_id: Mapped[str | None] = mapped_column(String(100), index=True)
    stripe_subscription_id: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
