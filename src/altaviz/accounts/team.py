"""The team: members and their roles, invitations by e-mail, removal.

Rules (SPEC §5, issue 6):
- admins and owners invite, change roles and remove members; only an owner makes, demotes or removes
  an owner;
- nobody demotes or removes the last owner (owners are counted under a row lock, so two concurrent
  demotions cannot both pass);
- an invitation is a single-use link valid for INVITATION_DAYS; accepting it creates the account in
  the inviting organization. An address that already has an account elsewhere is never moved between
  organizations: the invitation is answered and sent like any other (the inviter learns nothing about
  accounts outside their organization), and accepting it is refused with a message to the address's
  owner.
"""

import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from altaviz.accounts.errors import Conflict, Forbidden, NotFound, ServiceError
from altaviz.accounts.models import ApiKey, Invitation, Organization, User
from altaviz.accounts.passwords import check_password_policy, hash_password
from altaviz.accounts.principal import Principal
from altaviz.accounts.roles import INGEST_KEY_ROLE, Role
from altaviz.accounts.scoping import OrgScope, scoped
from altaviz.accounts.service import normalize_email
from altaviz.accounts.tokens import sha256_hex
from altaviz.db.base import utcnow

INVITATION_DAYS = 7
TOKEN_BYTES = 32


class InvitationInvalid(ServiceError):
    """The link is unknown, used, revoked or expired."""


INVALID_LINK = (
    "This invitation link is invalid, expired or already used; ask an admin of the organization for a new one"
)


def list_members(session: Session, scope: OrgScope) -> list[User]:
    query = scoped(select(User), scope, User).order_by(User.created_at, User.email)
    return list(session.scalars(query))


def get_member(session: Session, scope: OrgScope, user_id: uuid.UUID, *, lock: bool = False) -> User:
    query = scoped(select(User).where(User.id == user_id), scope, User)
    member = session.scalar(query.with_for_update() if lock else query)
    if member is None:
        raise NotFound("Member not found")
    return member


def _owners(session: Session, scope: OrgScope) -> list[uuid.UUID]:
    """Ids of the active owners, their rows locked until the transaction ends."""
    query = scoped(
        select(User.id).where(User.role == Role.OWNER.value, User.is_active.is_(True)), scope, User
    )
    return list(session.scalars(query.order_by(User.id).with_for_update()))


def _check_owner_rules(actor: Principal, target_role: str, new_role: str | None) -> None:
    if new_role == Role.OWNER.value and actor.role != Role.OWNER:
        raise Forbidden("Only an owner can make another member owner")
    if target_role == Role.OWNER.value and actor.role != Role.OWNER:
        raise Forbidden("Only an owner can change or remove an owner")


@dataclass(frozen=True)
class KeyChange:
    """What a member's removal or demotion did to an API key they had created."""

    key_id: uuid.UUID
    name: str
    before: str  # its role before
    after: str | None  # its role now; None: revoked


def _keys_created_by(session: Session, scope: OrgScope, user_id: uuid.UUID) -> list[ApiKey]:
    query = scoped(select(ApiKey), scope, ApiKey).where(
        ApiKey.created_by == user_id, ApiKey.revoked_at.is_(None)
    )
    return list(session.scalars(query.order_by(ApiKey.created_at, ApiKey.id).with_for_update()))


def fit_keys_to_role(
    session: Session, scope: OrgScope, user_id: uuid.UUID, role: Role | None
) -> list[KeyChange]:
    """A key never carries more than its creator's current membership allows.

    Creator removed (role None): every key they created is revoked. Creator given a lower role: their
    keys above it are capped to it (an admin key of a member now operator becomes an operator key);
    their ingest keys (sending readings needs admin) are revoked once they are no longer admin.
    """
    now = utcnow()
    changes = []
    for key in _keys_created_by(session, scope, user_id):
        if role is None or (key.role == INGEST_KEY_ROLE and not role.at_least(Role.ADMIN)):
            key.revoked_at = now
            changes.append(KeyChange(key.id, key.name, key.role, None))
        elif key.role != INGEST_KEY_ROLE and Role(key.role).rank > role.rank:
            changes.append(KeyChange(key.id, key.name, key.role, role.value))
            key.role = role.value
    session.flush()
    return changes


def change_role(
    session: Session, scope: OrgScope, actor: Principal, user_id: uuid.UUID, role: Role
) -> tuple[User, str]:
    """Give a member another role (the API keys they created are capped to it: fit_keys_to_role);
    returns the member and its previous role."""
    owners = _owners(session, scope)
    member = get_member(session, scope, user_id, lock=True)
    previous = member.role
    _check_owner_rules(actor, previous, role.value)
    if previous == role.value:
        return member, previous
    if previous == Role.OWNER.value and owners == [member.id]:
        raise Conflict(f"{member.email} is the organization's last owner; make another member owner first")
    member.role = role.value
    session.flush()
    return member, previous


def remove_member(session: Session, scope: OrgScope, actor: Principal, user_id: uuid.UUID) -> User:
    """Delete a member's account (their sessions end at once, the API keys they created are revoked
    by the caller with fit_keys_to_role); returns the removed row."""
    owners = _owners(session, scope)
    member = get_member(session, scope, user_id, lock=True)
    if member.id == actor.user_id:
        raise Conflict("You cannot remove yourself; another admin or owner can")
    _check_owner_rules(actor, member.role, None)
    if member.role == Role.OWNER.value and owners == [member.id]:
        raise Conflict(f"{member.email} is the organization's last owner and cannot be removed")
    session.delete(member)
    session.flush()
    return member


# --- invitations -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class InvitationPreview:
    organization_name: str
    email: str
    role: str
    expires_at: datetime
    invited_by: str | None


def list_invitations(
    session: Session, scope: OrgScope, now: datetime, pending_only: bool = True
) -> list[Invitation]:
    query = scoped(select(Invitation), scope, Invitation)
    if pending_only:
        query = query.where(
            Invitation.accepted_at.is_(None), Invitation.revoked_at.is_(None), Invitation.expires_at > now
        )
    return list(session.scalars(query.order_by(Invitation.created_at.desc(), Invitation.id)))


def invite(
    session: Session,
    scope: OrgScope,
    actor: Principal,
    *,
    email: str,
    role: Role,
    now: datetime | None = None,
) -> tuple[Invitation, str]:
    """A new invitation (earlier pending ones to the same address are revoked); returns it and the
    token for the link, which is sent by e-mail and never stored."""
    now = now or utcnow()
    email = normalize_email(email)
    if role == Role.OWNER and actor.role != Role.OWNER:
        raise Forbidden("Only an owner can invite another owner")
    existing = session.scalar(select(User).where(User.email == email))
    if existing is not None and existing.organization_id == scope.organization_id:
        raise Conflict(f"{email} is already a member of this organization")
    # An account in another organization is not revealed to the inviter: the invitation is made and
    # sent as any other, and only the address's owner, opening the link, learns it cannot be accepted.
    session.execute(
        scoped(
            update(Invitation).where(
                Invitation.email == email, Invitation.accepted_at.is_(None), Invitation.revoked_at.is_(None)
            ),
            scope,
            Invitation,
        ).values(revoked_at=now)
    )
    token = secrets.token_urlsafe(TOKEN_BYTES)
    invitation = Invitation(
        organization_id=scope.organization_id,
        email=email,
        role=role.value,
        token_hash=sha256_hex(token),
        invited_by=actor.user_id,
        created_at=now,
        expires_at=now + timedelta(days=INVITATION_DAYS),
    )
    session.add(invitation)
    session.flush()
    return invitation, token


def revoke_invitation(
    session: Session, scope: OrgScope, invitation_id: uuid.UUID, now: datetime | None = None
) -> Invitation:
    invitation = session.scalar(
        scoped(select(Invitation).where(Invitation.id == invitation_id), scope, Invitation)
    )
    if invitation is None:
        raise NotFound("Invitation not found")
    if invitation.accepted_at is not None:
        raise Conflict("This invitation was already accepted; remove the member instead")
    if invitation.revoked_at is None:
        invitation.revoked_at = now or utcnow()
    return invitation


def _pending(session: Session, token: str, now: datetime) -> Invitation:
    invitation = session.scalar(select(Invitation).where(Invitation.token_hash == sha256_hex(token)))
    if (
        invitation is None
        or invitation.accepted_at is not None
        or invitation.revoked_at is not None
        or invitation.expires_at <= now
    ):
        raise InvitationInvalid(INVALID_LINK)
    return invitation


def preview_invitation(session: Session, token: str, now: datetime | None = None) -> InvitationPreview:
    """What an invitation link offers (for the page that accepts it); consumes nothing."""
    invitation = _pending(session, token, now or utcnow())
    org = session.get(Organization, invitation.organization_id)
    inviter = session.get(User, invitation.invited_by) if invitation.invited_by else None
    assert org is not None
    return InvitationPreview(
        organization_name=org.name,
        email=invitation.email,
        role=invitation.role,
        expires_at=invitation.expires_at,
        invited_by=(inviter.name or inviter.email) if inviter else None,
    )


def accept_invitation(
    session: Session, token: str, *, password: str, name: str | None, now: datetime | None = None
) -> tuple[User, Invitation]:
    """Create the invited account in the inviting organization; the link works once."""
    now = now or utcnow()
    invitation = _pending(session, token, now)
    email = invitation.email
    existing = session.scalar(select(User).where(User.email == email))
    if existing is not None:
        if existing.organization_id == invitation.organization_id:
            raise Conflict(f"{email} is already a member of this organization; sign in instead")
        raise Conflict(
            f"{email} already has an Altaviz account in another organization, so it cannot join this one; "
            "ask for an invitation to another address"
        )
    check_password_policy(password, email)
    claimed = session.execute(
        update(Invitation)
        .where(
            Invitation.id == invitation.id,
            Invitation.accepted_at.is_(None),
            Invitation.revoked_at.is_(None),
            Invitation.expires_at > now,
        )
        .values(accepted_at=now)
        .execution_options(synchronize_session=False)
    )
    if int(getattr(claimed, "rowcount", 0) or 0) != 1:
        raise InvitationInvalid(INVALID_LINK)  # accepted (or revoked) a moment ago
    user = User(
        organization_id=invitation.organization_id,
        email=email,
        name=(name or "").strip() or None,
        password_hash=hash_password(password),
        role=invitation.role,
        is_active=True,
        password_changed_at=now,
        last_login_at=now,
    )
    session.add(user)
    session.flush()
    invitation.accepted_at = now
    invitation.accepted_user_id = user.id
    session.flush()
    return user, invitation


def owner_count(session: Session, scope: OrgScope) -> int:
    query = scoped(select(func.count()).select_from(User).where(User.role == Role.OWNER.value), scope, User)
    return int(session.scalar(query) or 0)


def invitation_email(
    *, organization: str, inviter: str | None, role: str, link: str, expires_at: datetime
) -> tuple[str, str, str]:
    """Subject, plain text and HTML of the invitation e-mail."""
    from html import escape

    who = inviter or "An administrator"
    subject = f"You have been invited to {organization} on Altaviz"
    text = (
        f"{who} invited you to join {organization} on Altaviz as {role}.\n\n"
        f"Accept the invitation and choose your password here:\n{link}\n\n"
        f"The link works once and expires on {expires_at:%Y-%m-%d %H:%M} UTC.\n"
        "If you did not expect this e-mail, ignore it.\n"
    )
    html = (
        f"<p>{escape(who)} invited you to join <strong>{escape(organization)}</strong> on Altaviz as "
        f"{escape(role)}.</p>"
        f'<p><a href="{escape(link, quote=True)}">Accept the invitation</a> and choose your password.</p>'
        f"<p>The link works once and expires on {expires_at:%Y-%m-%d %H:%M} UTC. "
        "If you did not expect this e-mail, ignore it.</p>"
    )
    return subject, text, html
