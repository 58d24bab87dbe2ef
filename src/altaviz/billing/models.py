"""Every Stripe event we received, once (the runbook queries this table)."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from altaviz.db.base import Base, JSONDocument, UTCDateTime, new_uuid, utcnow


class BillingEvent(Base):
    __tablename__ = "billing_events"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_uuid)
    organization_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    stripe_event_id: Mapped[str] = mapped_column(String(255), unique=True)
    event_type: Mapped[str] = mapped_column(String(100))
    amount_cents: Mapped[int | None] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3), default="usd")
    event_metadata: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSONDocument)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
