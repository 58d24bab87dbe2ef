"""The audit log: who did what to which object, when and from where, per organization.

`record` adds one row in the caller's transaction, so an action and its audit record commit (or roll
back) together: there is never an alert acknowledged without its record, nor a record of an action
that did not happen. Details are JSON; keys that look like secrets are redacted before storing.
"""

import ipaddress
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, Session, mapped_column

from altaviz.accounts.principal import Principal
from altaviz.db.base import ORG_FK, Base, JSONDocument, SurrogateKey, UTCDateTime, utcnow

ActorType = Literal["user", "api_key", "system"]
SECRET_MARKERS = ("password", "secret", "token", "api_key", "apikey", "authorization", "cookie")
REDACTED = "[redacted]"


class AuditLog(Base):
    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_org_created", "organization_id", "created_at"),
        Index("ix_audit_log_org_target", "organization_id", "target_type", "target_id"),
    )

    id: Mapped[int] = mapped_column(SurrogateKey, primary_key=True, autoincrement=True)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(ORG_FK, ondelete="CASCADE"))
    # 'user' (actor_id = users.id), 'api_key' (actor_id = api_keys.id) or 'system' (actor_id NULL).
    actor_type: Mapped[str] = mapped_column(String(20))
    actor_id: Mapped[str | None] = mapped_column(String(64))
    # How the actor is shown: a user's name or e-mail, "api-key:<name>", "system (workflow ...)".
    actor_name: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(100))  # dotted: "alert.acknowledge", "workflow.execute"
    target_type: Mapped[str] = mapped_column(String(50))
    target_id: Mapped[str | None] = mapped_column(String(255))
    ip: Mapped[str | None] = mapped_column(String(45))
    details: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


@dataclass(frozen=True, slots=True)
class Actor:
    type: ActorType
    id: str | None
    name: str

    @classmethod
    def of(cls, principal: Principal) -> "Actor":
        if principal.kind == "api_key":
            return cls("api_key", str(principal.api_key_id), principal.actor)
        return cls("user", str(principal.user_id), principal.actor)

    @classmethod
    def system(cls, what: str | None = None) -> "Actor":
        return cls("system", None, f"system ({what})" if what else "system")


def clean_ip(value: str | None) -> str | None:
    """A single valid IP address, or None (never a comma list or a header's raw text)."""
    if not value:
        return None
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None


def redact(details: Any) -> Any:
    """`details` with every value under a secret-looking key replaced, at any depth."""
    if isinstance(details, dict):
        return {
            str(key): REDACTED
            if any(marker in str(key).lower().replace("-", "_") for marker in SECRET_MARKERS)
            else redact(value)
            for key, value in details.items()
        }
    if isinstance(details, list | tuple):
        return [redact(value) for value in details]
    return details


def record(
    session: Session,
    *,
    organization_id: uuid.UUID,
    actor: Actor,
    action: str,
    target_type: str,
    target_id: str | int | None = None,
    ip: str | None = None,
    details: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> AuditLog:
    """Add one audit row to the caller's transaction (flushed, not committed)."""
    entry = AuditLog(
        organization_id=organization_id,
        actor_type=actor.type,
        actor_id=actor.id,
        actor_name=actor.name[:200],
        action=action,
        target_type=target_type,
        target_id=None if target_id is None else str(target_id)[:255],
        ip=clean_ip(ip),
        details=redact(details) if details is not None else None,
        created_at=at or utcnow(),
    )
    session.add(entry)
    session.flush()
    return entry
