"""Organization look-ups and creation (users, sessions and keys arrive with the web service)."""

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from altaviz.accounts.models import Organization

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
