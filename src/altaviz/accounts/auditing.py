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


def record_failed_sign_in(session: Session, email: str, ip: str | None) -> bool:
    """Audit a failed sign-in in the organization of the account it named (if there is one: an
    unknown address belongs to no organization). Never records the password tried."""
    from sqlalchemy import select

    from altaviz.accounts.models import User
    from altaviz.accounts.service import normalize_email

    address = normalize_email(email)
    user = session.scalar(select(User).where(User.email == address))
    if user is None:
        return False
    audit.record(
        session,
        organization_id=user.organization_id,
        actor=audit.Actor("user", str(user.id), user.name or user.email),
        action="auth.login_failed",
        target_type="user",
        target_id=str(user.id),
        ip=ip,
        details={"email": address, "reason": "account disabled" if not user.is_active else "wrong password"},
    )
    return True
