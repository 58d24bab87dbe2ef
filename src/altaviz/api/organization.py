"""The caller's organization: its name and plan."""

from fastapi import APIRouter

from altaviz.accounts import service
from altaviz.accounts.dependencies import DbSession, Owner, Viewer, begin_write
from altaviz.accounts.principal import OrganizationInfo
from altaviz.accounts.schemas import OrganizationOut, OrganizationUpdate
from altaviz.api.auth import organization_out
from altaviz.api.errors import error_responses

router = APIRouter(prefix="/organization", tags=["accounts"])


@router.get(
    "",
    response_model=OrganizationOut,
    responses=error_responses(401, 403, 429, 503),
    summary="Your organization and its plan",
)
def get_organization(principal: Viewer) -> OrganizationOut:
    return organization_out(principal.organization)


@router.patch(
    "",
    response_model=OrganizationOut,
    responses=error_responses(401, 403, 422, 429, 503),
    summary="Rename the organization (owner)",
)
def update_organization(body: OrganizationUpdate, principal: Owner, db: DbSession) -> OrganizationOut:
    begin_write(db)
    org = service.rename_organization(db, principal.scope, body.name)
    db.commit()
    return organization_out(
        OrganizationInfo(org.id, org.name, org.slug, org.subscription_tier, org.subscription_status)
    )
