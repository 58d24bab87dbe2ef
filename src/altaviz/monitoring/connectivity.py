"""Whether a compressor is connected: the last online/offline event a field connector reported.

A Sparkplug B death certificate (NDEATH of the edge node, DDEATH of one device) says a compressor
stopped reporting *now*; its birth certificate says it is back. The connector reports both through
POST /api/ingest/status (altaviz.ingest.status), one row per compressor holding the newest event.

A compressor is **offline** while its newest event is 'offline' and no reading newer than that event
has arrived (compressor_state.last_reading_at): the next reading clears it as a birth does, and the
readings the connector forwards from its buffer after the death (all older than it) do not. The
fleet reads it with OFFLINE_SINCE in the same statement as the rest of a compressor's state; the
staleness workflow with `offline_compressors`.
"""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    String,
    and_,
    case,
    or_,
    select,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from altaviz.accounts.scoping import OrgScope, scoped
from altaviz.db.base import Base, UTCDateTime, compressor_fk, utcnow
from altaviz.monitoring.models import CompressorState

STATES = ("offline", "online")
REASON_LENGTH = 200


class CompressorConnectivity(Base):
    """The newest online/offline event of a compressor (a death or birth certificate)."""

    __tablename__ = "compressor_connectivity"
    __table_args__ = (
        compressor_fk("compressor_connectivity"),
        CheckConstraint("state IN ('offline', 'online')", name="state"),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    compressor_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    state: Mapped[str] = mapped_column(String(7))
    # when it happened at the source (the certificate's timestamp), not when it arrived
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    reason: Mapped[str | None] = mapped_column(String(REASON_LENGTH))
    source: Mapped[str] = mapped_column(String(200))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


CN: Any = CompressorConnectivity.__table__
CS: Any = CompressorState.__table__

# For a statement that outer-joins CN and CS on the compressor: is it offline now, and since when.
IS_OFFLINE: Any = and_(
    CN.c.state == "offline",
    or_(CS.c.last_reading_at.is_(None), CS.c.last_reading_at <= CN.c.changed_at),
)
OFFLINE_SINCE: Any = case((IS_OFFLINE, CN.c.changed_at), else_=None)
OFFLINE_REASON: Any = case((IS_OFFLINE, CN.c.reason), else_=None)


def offline_compressors(session: Session, scope: OrgScope) -> dict[str, tuple[datetime, str | None]]:
    """The organization's offline compressors: since when, and why (as the connector said)."""
    query = select(CN.c.compressor_id, CN.c.changed_at, CN.c.reason).select_from(
        CN.outerjoin(
            CS,
            and_(CS.c.organization_id == CN.c.organization_id, CS.c.compressor_id == CN.c.compressor_id),
        )
    )
    rows = session.execute(scoped(query.where(IS_OFFLINE), scope, CompressorConnectivity))
    return {row.compressor_id: (row.changed_at, row.reason) for row in rows}
