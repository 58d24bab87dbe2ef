"""Reading the audit log (GET /api/audit): an organization's entries, newest first, filtered."""

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from altaviz.accounts.audit import AuditLog
from altaviz.accounts.scoping import OrgScope, scoped


class AuditEntryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    created_at: datetime = Field(description="When it happened (UTC).")
    action: str = Field(
        description='Dotted name, e.g. "auth.login", "team.role_changed", "alert.acknowledge".'
    )
    actor_type: str = Field(description="user, api_key or system.")
    actor_id: str | None = Field(description="The user's or API key's id.")
    actor_name: str
    target_type: str
    target_id: str | None
    ip: str | None
    details: dict[str, Any] | None


class AuditPage(BaseModel):
    items: list[AuditEntryOut]
    total: int
    limit: int
    offset: int


@dataclass(frozen=True)
class AuditFilter:
    action: str | None = None  # exact ("team.invited") or a prefix ending in a dot ("team.")
    actor_type: str | None = None
    actor_id: str | None = None
    target_type: str | None = None
    target_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def _filtered(scope: OrgScope, filters: AuditFilter) -> Select[Any]:
    query = scoped(select(AuditLog), scope, AuditLog)
    if filters.action:
        if filters.action.endswith("."):
            query = query.where(AuditLog.action.startswith(filters.action, autoescape=True))
        else:
            query = query.where(AuditLog.action == filters.action)
    if filters.actor_type:
        query = query.where(AuditLog.actor_type == filters.actor_type)
    if filters.actor_id:
        query = query.where(AuditLog.actor_id == filters.actor_id)
    if filters.target_type:
        query = query.where(AuditLog.target_type == filters.target_type)
    if filters.target_id:
        query = query.where(AuditLog.target_id == filters.target_id)
    if filters.since:
        query = query.where(AuditLog.created_at >= filters.since)
    if filters.until:
        query = query.where(AuditLog.created_at < filters.until)
    return query


def list_entries(
    session: Session, scope: OrgScope, filters: AuditFilter, *, limit: int = 50, offset: int = 0
) -> AuditPage:
    query = _filtered(scope, filters)
    total = int(session.scalar(select(func.count()).select_from(query.subquery())) or 0)
    rows = session.scalars(
        query.order_by(AuditLog.created_at.desc(), AuditLog.id.desc()).limit(limit).offset(offset)
    )
    items = [AuditEntryOut.model_validate(row) for row in rows]
    return AuditPage(items=items, total=total, limit=limit, offset=offset)


def entry_ids(session: Session, organization_id: uuid.UUID) -> list[int]:
    return list(session.scalars(select(AuditLog.id).where(AuditLog.organization_id == organization_id)))
