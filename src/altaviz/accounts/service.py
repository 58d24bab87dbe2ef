"""Organizations, members, sign-up and sign-in, sessions and API keys (plain functions on a Session)."""

import re
import secrets
import uuid
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from altaviz.accounts import changes
from altaviz.accounts.models import ApiKey, Organization, User, UserSession
from altaviz.accounts.passwords import (
    burn_verification_time,
    check_password_policy,
    hash_password,
    needs_rehash,
    verify_password,
)
from altaviz.accounts.plans import plans_with
from altaviz.accounts.principal import OrganizationInfo, Principal
from altaviz.accounts.roles import API_KEY_ROLES, INGEST_KEY_ROLE, Role
from altaviz.accounts.scoping import OrgScope, scoped
from altaviz.accounts.tokens import (
    SessionClaims,
    looks_like_api_key,
    new_api_key,
    new_session_token,
    sha256_hex,
)
from altaviz.db.base import utcnow

DEMO_ORGANIZATION_NAME = "Altaviz Demo"


class OrganizationNotFound(LookupError):
    pass


def slugify(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    if not slug:
        raise ValueError(f"cannot make a slug from {name!r}: use letters or digits")
    return slug


def get_organization_by_slug(session: Session, slug: str) -> Organization:
    org = session.scalar(select(Organization).where(Organization.slug == slug))
    if org is None:
        raise OrganizationNotFound(f"organization {slug!r} does not exist")
    return org


def create_organization(
    session: Session, name: str, slug: str | None = None, tier: str = "free", max_compressors: int | None = 2
) -> Organization:
    org = Organization(
        name=name, slug=slug or slugify(name), subscription_tier=tier, max_compressors=max_compressors
    )
    session.add(org)
    session.flush()
    return org


def ensure_demo_organization(session: Session, slug: str) -> Organization:
    """The demo tenant the pipeline loads into by default: Enterprise, so no plan limit hides data."""
    try:
        return get_organization_by_slug(session, slug)
    except OrganizationNotFound:
        return create_organization(
            session, DEMO_ORGANIZATION_NAME, slug, tier="enterprise", max_compressors=None
        )


# --- accounts: sign-up, sign-in, sessions, API keys -------------------------------------------------

SESSION_TOUCH_INTERVAL = timedelta(minutes=5)
API_KEY_TOUCH_INTERVAL = timedelta(minutes=1)
SLUG_MAX_LENGTH = 100


class EmailTaken(ValueError):
    pass


class ApiAccessNotInPlan(PermissionError):
    pass


def normalize_email(email: str) -> str:
    return email.strip().lower()


def unique_slug(session: Session, name: str) -> str:
    """A free slug derived from `name` (letters and digits), suffixed when the plain one is taken."""
    try:
        base = slugify(name)[: SLUG_MAX_LENGTH - 7].strip("-")
    except ValueError:
        base = "org"
    candidate = base
    while session.scalar(select(Organization.id).where(Organization.slug == candidate)) is not None:
        candidate = f"{base}-{secrets.token_hex(3)}"
    return candidate


def sign_up(
    session: Session, *, email: str, password: str, name: str | None, organization_name: str | None
) -> tuple[User, Organization]:
    """Create an organization on the Free plan and its owner. Raises EmailTaken or WeakPassword."""
    email = normalize_email(email)
    check_password_policy(password, email)
    if session.scalar(select(User.id).where(User.email == email)) is not None:
        raise EmailTaken("An account with this email already exists")
    display = (name or "").strip() or None
    org_name = (organization_name or "").strip() or f"{display or email.split('@')[0]}'s organization"
    slug = unique_slug(session, org_name)
    org = create_organization(session, org_name, slug, tier="free", max_compressors=2)
    now = utcnow()
    user = User(
        organization_id=org.id,
        email=email,
        name=display,
        password_hash=hash_password(password),
        role=Role.OWNER.value,
        is_active=True,
        password_changed_at=now,
    )
    session.add(user)
    session.flush()
    return user, org


def create_user(
    session: Session,
    organization: Organization,
    *,
    email: str,
    password: str | None,
    role: Role,
    name: str | None = None,
) -> User:
    """A member of an existing organization (CLI, demo and tests; invitations come with the team)."""
    email = normalize_email(email)
    if password is not None:
        check_password_policy(password, email)
    if session.scalar(select(User.id).where(User.email == email)) is not None:
        raise EmailTaken("An account with this email already exists")
    user = User(
        organization_id=organization.id,
        email=email,
        name=name,
        password_hash=hash_password(password) if password is not None else None,
        role=role.value,
        is_active=True,
        password_changed_at=utcnow() if password is not None else None,
    )
    session.add(user)
    session.flush()
    return user


def authenticate(session: Session, email: str, password: str) -> User | None:
    """The active user with this e-mail and password, or None (in about the same time either way)."""
    user = session.scalar(select(User).where(User.email == normalize_email(email)))
    if user is None or user.password_hash is None or not user.is_active:
        burn_verification_time(password)
        return None
    if not verify_password(user.password_hash, password):
        return None
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_login_at = utcnow()
    return user


def start_session(
    session: Session,
    user: User,
    lifetime: timedelta,
    ip_address: str | None = None,
    user_agent: str | None = None,
) -> tuple[UserSession, str]:
    """Record a sign-in; returns the row and the secret token that goes (signed) into the cookie."""
    token = new_session_token()
    now = utcnow()
    record = UserSession(
        token_hash=sha256_hex(token),
        user_id=user.id,
        created_at=now,
        expires_at=now + lifetime,
        last_seen_at=now,
        ip_address=(ip_address or None) and ip_address[:45],
        user_agent=(user_agent or None) and user_agent[:300],
    )
    session.add(record)
    session.flush()
    return record, token


def principal_for_session(session: Session, claims: SessionClaims, now: datetime) -> Principal | None:
    """The member behind a valid session cookie, with role and plan as the database has them now."""
    row = (
        session.connection()
        .execute(_SESSION_LOOKUP, {"token_hash": sha256_hex(claims.session_token)})
        .one_or_none()
    )
    if (
        row is None
        or row.revoked_at is not None
        or row.expires_at <= now
        or not row.is_active
        or row.user_id != claims.user_id
    ):
        return None
    return Principal(
        kind="session",
        role=Role(row.role),
        organization=_organization_info(row),
        user_id=row.user_id,
        email=row.email,
        name=row.name,
        session_id=row.id,
        session_token=claims.session_token,
        session_expires_at=row.expires_at,
        last_activity_at=row.last_seen_at,
    )


def end_session(session: Session, session_id: uuid.UUID) -> None:
    session.execute(
        update(UserSession)
        .where(UserSession.id == session_id, UserSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


def end_other_sessions(session: Session, user_id: uuid.UUID, keep: uuid.UUID | None) -> int:
    """Sign the user out everywhere else (after a password change); returns how many ended."""
    statement = update(UserSession).where(UserSession.user_id == user_id, UserSession.revoked_at.is_(None))
    if keep is not None:
        statement = statement.where(UserSession.id != keep)
    result = session.execute(statement.values(revoked_at=utcnow()))
    return int(getattr(result, "rowcount", 0) or 0)


def change_password(session: Session, user_id: uuid.UUID, current: str, new: str) -> bool:
    """False when `current` is wrong; raises WeakPassword for a new password that breaks the policy."""
    user = session.get(User, user_id)
    if user is None or user.password_hash is None or not verify_password(user.password_hash, current):
        return False
    check_password_policy(new, user.email)
    user.password_hash = hash_password(new)
    user.password_changed_at = utcnow()
    return True


def get_user(session: Session, user_id: uuid.UUID) -> User | None:
    return session.get(User, user_id)


def get_organization(session: Session, scope: OrgScope) -> Organization:
    org = session.get(Organization, scope.organization_id)
    if org is None:
        raise OrganizationNotFound("organization no longer exists")
    return org


def rename_organization(session: Session, scope: OrgScope, name: str) -> Organization:
    org = get_organization(session, scope)
    org.name = name.strip()
    return org


def set_time_zone(session: Session, scope: OrgScope, time_zone: str) -> Organization:
    """The IANA zone every page shows the organization's times in (validated by the schema)."""
    org = get_organization(session, scope)
    org.time_zone = time_zone
    return org


def create_api_key(
    session: Session,
    scope: OrgScope,
    *,
    name: str,
    role: Role | Literal["ingest"],
    created_by: uuid.UUID | None,
    expires_at: datetime | None,
) -> tuple[ApiKey, str]:
    """A new key for the organization; the key itself is returned once and never stored.

    `role` is a Role, or "ingest" for a key that can only send readings (roles.INGEST_KEY_ROLE).
    """
    if role != INGEST_KEY_ROLE and role not in API_KEY_ROLES_ENUM:
        raise ValueError(f"an API key cannot have the role {role}")
    key, prefix = new_api_key()
    creator = session.get(User, created_by) if created_by is not None else None
    record = ApiKey(
        organization_id=scope.organization_id,
        name=name.strip(),
        prefix=prefix,
        key_hash=sha256_hex(key),
        role=str(role),
        created_by=created_by,
        created_by_email=creator.email if creator is not None else None,
        created_by_name=creator.name if creator is not None else None,
        created_at=utcnow(),
        expires_at=expires_at,
    )
    session.add(record)
    session.flush()
    return record, key


def list_api_keys(session: Session, scope: OrgScope) -> list[ApiKey]:
    query = scoped(select(ApiKey), scope, ApiKey).order_by(ApiKey.created_at.desc(), ApiKey.id)
    return list(session.scalars(query))


def revoke_api_key(session: Session, scope: OrgScope, key_id: uuid.UUID) -> ApiKey | None:
    """Revoke the organization's key (idempotent); None when it has no such key."""
    key = session.scalar(scoped(select(ApiKey).where(ApiKey.id == key_id), scope, ApiKey))
    if key is None:
        return None
    if key.revoked_at is None:
        key.revoked_at = utcnow()
    return key


def principal_for_api_key(session: Session, key: str, now: datetime) -> Principal | None:
    """The organization and role of a valid key; raises ApiAccessNotInPlan when its plan lacks API access."""
    if not looks_like_api_key(key):
        return None
    row = session.connection().execute(_KEY_LOOKUP, {"key_hash": sha256_hex(key)}).one_or_none()
    if row is None or row.revoked_at is not None or (row.expires_at is not None and row.expires_at <= now):
        return None
    organization = _organization_info(row)
    if not organization.plan.api_access:
        raise ApiAccessNotInPlan(
            f"API access requires a {plans_with('api_access')} plan; "
            f"this organization is on {organization.plan.name}"
        )
    ingest_only = row.role == INGEST_KEY_ROLE
    return Principal(
        kind="api_key",
        role=Role.VIEWER if ingest_only else Role(row.role),
        organization=organization,
        api_key_id=row.id,
        api_key_name=row.name,
        api_key_expires_at=row.expires_at,
        last_activity_at=row.last_used_at,
        ingest_only=ingest_only,
    )


def activity_due(principal: Principal, now: datetime) -> bool:
    """Whether the session's or key's last-use time is old enough to be written again."""
    interval = SESSION_TOUCH_INTERVAL if principal.kind == "session" else API_KEY_TOUCH_INTERVAL
    return principal.last_activity_at is None or now - principal.last_activity_at >= interval


def record_activity(session: Session, principal: Principal, now: datetime) -> None:
    """Note when a session or key was last used."""
    if principal.kind == "session" and principal.session_id is not None:
        statement = update(UserSession).where(UserSession.id == principal.session_id)
        session.execute(statement.values(last_seen_at=now), execution_options=changes.ACTIVITY)
    elif principal.kind == "api_key" and principal.api_key_id is not None:
        statement = update(ApiKey).where(ApiKey.id == principal.api_key_id)
        session.execute(statement.values(last_used_at=now), execution_options=changes.ACTIVITY)


_ORGANIZATION_COLUMNS = (
    Organization.id.label("org_id"),
    Organization.name.label("org_name"),
    Organization.slug.label("org_slug"),
    Organization.subscription_tier.label("org_tier"),
    Organization.subscription_status.label("org_status"),
    Organization.data_version.label("org_data_version"),
    Organization.time_zone.label("org_time_zone"),
)
API_KEY_ROLES_ENUM = frozenset(Role(value) for value in API_KEY_ROLES)


def _organization_info(row: Any) -> OrganizationInfo:
    return OrganizationInfo(
        id=row.org_id,
        name=row.org_name,
        slug=row.org_slug,
        tier=row.org_tier,
        status=row.org_status,
        data_version=row.org_data_version,
        time_zone=row.org_time_zone,
    )


def session_principal(session: Session, user: User, record: UserSession, token: str) -> Principal:
    """The principal of a session just started (what the sign-in answer describes)."""
    org = get_organization(session, OrgScope(user.organization_id))
    return Principal(
        kind="session",
        role=Role(user.role),
        organization=OrganizationInfo(
            org.id,
            org.name,
            org.slug,
            org.subscription_tier,
            org.subscription_status,
            time_zone=org.time_zone,
        ),
        user_id=user.id,
        email=user.email,
        name=user.name,
        session_id=record.id,
        session_token=token,
        session_expires_at=record.expires_at,
        last_activity_at=record.last_seen_at,
    )


DEMO_OWNER_EMAIL = "owner@altaviz-demo.com"
DEMO_OWNER_NAME = "Demo Owner"


def ensure_demo_owner(session: Session, organization: Organization) -> tuple[User, str]:
    """The demo organization's owner, with a freshly generated password (returned once, to print)."""
    password = secrets.token_urlsafe(12)
    user = session.scalar(select(User).where(User.email == DEMO_OWNER_EMAIL))
    if user is None:
        user = create_user(
            session,
            organization,
            email=DEMO_OWNER_EMAIL,
            password=password,
            role=Role.OWNER,
            name=DEMO_OWNER_NAME,
        )
        return user, password
    if user.organization_id != organization.id:
        raise ValueError(f"{DEMO_OWNER_EMAIL} belongs to another organization; the demo will not move it")
    user.password_hash = hash_password(password)
    user.password_changed_at = utcnow()
    user.role = Role.OWNER.value
    user.is_active = True
    end_other_sessions(session, user.id, keep=None)
    return user, password


_SESSION_LOOKUP = (
    select(
        UserSession.id,
        UserSession.expires_at,
        UserSession.revoked_at,
        UserSession.last_seen_at,
        User.id.label("user_id"),
        User.email,
        User.name,
        User.role,
        User.is_active,
        *_ORGANIZATION_COLUMNS,
    )
    .join(User, User.id == UserSession.user_id)
    .join(Organization, Organization.id == User.organization_id)
    .where(UserSession.token_hash == bindparam("token_hash"))
)
_KEY_LOOKUP = (
    select(
        ApiKey.id,
        ApiKey.name,
        ApiKey.role,
        ApiKey.expires_at,
        ApiKey.revoked_at,
        ApiKey.last_used_at,
        *_ORGANIZATION_COLUMNS,
    )
    .join(Organization, Organization.id == ApiKey.organization_id)
    .where(ApiKey.key_hash == bindparam("key_hash"))
)
