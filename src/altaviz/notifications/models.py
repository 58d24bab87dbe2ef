"""Notification channels of an organization and the outbox of messages to deliver through them.

A message groups the events of one compressor for one channel (Alertmanager-style): events that
arrive while a message is still pending join it; a new message for the same compressor and channel
is not sent before the group interval has passed since the previous one. Messages are written in the
transaction of the workflow that produced the events and delivered later by a dispatcher, with
retries, so delivery never blocks or fails a workflow.
"""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from altaviz.db.base import ORG_FK, Base, JSONDocument, UTCDateTime, new_uuid, utcnow


class NotificationChannel(Base):
    __tablename__ = "notification_channels"
    __table_args__ = (
        CheckConstraint("kind IN ('email', 'webhook')", name="kind"),
        Index("ix_notification_channels_organization_id", "organization_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_uuid)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(ORG_FK, ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(100))
    # email: comma-separated addresses; webhook: the https:// (or http://) address to POST to.
    target: Mapped[str] = mapped_column(String(2000))
    # webhook: key of the HMAC-SHA256 signature of each body (shown once, when the channel is created).
    secret: Mapped[str | None] = mapped_column(String(200))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class NotificationMessage(Base):
    __tablename__ = "notification_messages"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'sending', 'sent', 'failed')", name="status"),
        Index("ix_notification_messages_due", "status", "send_after"),
        Index("ix_notification_messages_group", "channel_id", "compressor_id", "status"),
        Index("ix_notification_messages_org_created", "organization_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_uuid)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(ORG_FK, ondelete="CASCADE"))
    channel_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("notification_channels.id", ondelete="CASCADE"))
    compressor_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20), default="pending")
    # [{"kind": "critical"|"escalated"|"repeat", "alert_id": ..., "severity": ..., "message": ..., "at": ...}]
    events: Mapped[list[dict[str, Any]]] = mapped_column(JSONDocument)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    send_after: Mapped[datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # While 'sending': until when the dispatcher that claimed it owns it (a crashed one's claim lapses).
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
