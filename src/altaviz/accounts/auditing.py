"""Audit entries written by sign-in, API keys, team and billing, through accounts/audit.py's `record`.

Every helper adds its row to the caller's transaction, so the action and its record commit together.
"""

import uuid
from typing import Any

from sqlalchemy.orm import Session

from altaviz.accounts import audit
from altaviz.accounts.principal import Principal


def audit_action(
    session: Session,
    principal: Principal,
    action: str,
    *,
    target_type: str,
    target_id: str | int | uuid.UUID | None = None,
    ip: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """An action by a member or an API key, in the principal's organization."""
    audit.record(
        session,
        organization_id=principal.organization.id,
        actor=audit.Actor.of(principal),
        action=action,
        target_type=target_type,
        target_id=None if target_id is None else str(target_id),
        ip=ip,
        details=details,
    )


def audit_user(
    session: Session,
    organization_id: uuid.UUID,
    user_id: uuid.UUID,
    name: str,
    action: str,
    *,
    target_type: str,
    target_id: str | int | uuid.UUID | None = None,
    ip: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """An action by a person who has no session yet (signing in, accepting an invitation)."""
    audit.record(
        session,
        organization_id=organization_id,
        actor=audit.Actor("user", str(user_id), name),
        action=action,
        target_type=target_type,
        target_id=None if target_id is None else str(target_id),
        ip=ip,
        details=details,
    )


def audit_system(
    session: Session,
    organization_id: uuid.UUID,
    action: str,
    *,
    what: str | None = None,
    target_type: str,
    target_id: str | int | uuid.UUID | None = None,
    ip: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """An action by the system or by Stripe (`what` says which: "stripe", "pipeline", ...)."""
    audit.record(
        session,
        organization_id=organization_id,
        actor=audit.Actor.system(what),
        action=action,
        target_type=target_type,
        target_id=None if target_id is None else str(target_id),
        ip=ip,
        details=details,
    )
