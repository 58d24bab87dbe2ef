"""Idempotency records of ingest requests: one row per organization and Idempotency-Key.

A request claims its key by inserting the row (status_code NULL: in progress), then records the
answer it sent. A retry with the same key and the same body gets that answer back; another body
under the same key is refused with 409. Rows are kept for INGEST_IDEMPOTENCY_HOURS (24 h by
default) and deleted after that.
"""

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from altaviz.db.base import ORG_FK, Base, UTCDateTime, utcnow


class IngestRequest(Base):
    __tablename__ = "ingest_requests"
    __table_args__ = (Index("ix_ingest_requests_created_at", "created_at"),)

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(ORG_FK, ondelete="CASCADE"), primary_key=True
    )
    idempotency_key: Mapped[str] = mapped_column(String(255), primary_key=True)
    # SHA-256 of the request (content type, encoding, dry-run flag and body bytes).
    request_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    status_code: Mapped[int | None] = mapped_column(Integer)  # NULL while the first request runs
    response_body: Mapped[str | None] = mapped_column(Text)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
