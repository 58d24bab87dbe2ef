"""Who is making a request: a signed-in member or an API key, with role and plan read fresh."""

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from altaviz.accounts.plans import Plan, plan_for
from altaviz.accounts.roles import Role
from altaviz.accounts.scoping import OrgScope


@dataclass(frozen=True, slots=True)
class OrganizationInfo:
    id: uuid.UUID
    name: str
    slug: str
    tier: str
    status: str
    data_version: int = 0  # as read when the caller was authenticated (accounts.data_version)
    time_zone: str = "UTC"  # the IANA zone the pages show times in

    @property
    def plan(self) -> Plan:
        return plan_for(self.tier)


@dataclass(frozen=True, slots=True)
class Principal:
    kind: Literal["session", "api_key"]
    role: Role
    organization: OrganizationInfo
    user_id: uuid.UUID | None = None
    email: str | None = None
    name: str | None = None
    session_id: uuid.UUID | None = None
    session_token: str | None = None
    session_expires_at: datetime | None = None
    api_key_id: uuid.UUID | None = None
    api_key_name: str | None = None
    api_key_expires_at: datetime | None = None
    last_activity_at: datetime | None = None
    # An ingest key (roles.INGEST_KEY_ROLE): may send readings and nothing else; it holds no role.
    ingest_only: bool = False

    @property
    def scope(self) -> OrgScope:
        return OrgScope(self.organization.id)

    @property
    def plan(self) -> Plan:
        return self.organization.plan

    @property
    def actor(self) -> str:
        """How this principal is recorded in `acknowledged_by`, `resolved_by`, ... columns."""
        if self.kind == "api_key":
            return f"api-key:{self.api_key_name}"
        return self.name or self.email or str(self.user_id)

    def has_role(self, role: Role) -> bool:
        return not self.ingest_only and self.role.at_least(role)

    @property
    def may_ingest(self) -> bool:
        """Whether it may send readings: an ingest key, or an admin (member or key)."""
        return self.ingest_only or self.has_role(Role.ADMIN)
