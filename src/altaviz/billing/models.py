"""Billing tables.

billing_events: every verified Stripe event we received, once (unique stripe_event_id), with what we
did about it; the runbook's `SELECT * FROM billing_events ORDER BY created_at DESC LIMIT 10` reads it.
billing_subscriptions: the last state applied for each Stripe subscription, with the time of the event
that carried it, so an older event delivered late never rolls an organization back.
plan_limit_quarantines: per organization and compressor, readings the pipeline quarantined because the
compressor is beyond the plan's compressor limit (what the organization is shown).
"""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from altaviz.db.base import Base, JSONDocument, UTCDateTime, new_uuid, utcnow

ORG_FK = "organizations.id"


class BillingEvent(Base):
    __tablename__ = "billing_events"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_uuid)
    organization_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey(ORG_FK, ondelete="CASCADE"), index=True
    )
    stripe_event_id: Mapped[str] = mapped_column(String(255), unique=True)
    event_type: Mapped[str] = mapped_column(String(100))
    amount_cents: Mapped[int | None] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3), default="usd")
    event_metadata: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSONDocument)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    # When Stripe created the event (its `created`), which orders events of one subscription.
    stripe_created_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    stripe_customer_id: Mapped[str | None] = mapped_column(String(255))
    stripe_subscription_id: Mapped[str | None] = mapped_column(String(255))
    # applied: the organization changed (or was confirmed); ignored: nothing to do (unknown type,
    # unknown customer, ...); stale: older than the state already applied for its subscription.
    outcome: Mapped[str] = mapped_column(String(20), default="applied")
    detail: Mapped[str | None] = mapped_column(Text)


class BillingSubscription(Base):
    __tablename__ = "billing_subscriptions"
    __table_args__ = (Index("ix_billing_subscriptions_organization_id", "organization_id"),)

    stripe_subscription_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(ORG_FK, ondelete="CASCADE"))
    stripe_customer_id: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(30))
    tier: Mapped[str | None] = mapped_column(String(20))
    price_id: Mapped[str | None] = mapped_column(String(255))
    # The applied event's `created` and its rank among events of the same second
    # (created/checkout 0 < updated/payment 1 < deleted 2): a tie never undoes a cancellation.
    event_at: Mapped[datetime] = mapped_column(UTCDateTime)
    event_rank: Mapped[int] = mapped_column(Integer, default=0)
    event_id: Mapped[str] = mapped_column(String(255))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class PlanLimitQuarantine(Base):
    __tablename__ = "plan_limit_quarantines"

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(ORG_FK, ondelete="CASCADE"), primary_key=True
    )
    compressor_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    readings: Mapped[int] = mapped_column(Integer, default=0)
    first_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
