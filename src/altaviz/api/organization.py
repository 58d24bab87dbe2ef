"""The caller's organization: its name, plan and time zone."""

from fastapi import APIRouter

from altaviz.accounts import service
from altaviz.accounts.dependencies import DbSession, Owner, Viewer, begin_write
from altaviz.accounts.principal import OrganizationInfo
from altaviz.accounts.schemas import OrganizationOut, OrganizationUpdate
from altaviz.api.auth import organization_out
from altaviz.api.errors import ApiError, error_responses

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
    summary="Rename the organization or set its time zone (owner)",
)
def update_organization(body: OrganizationUpdate, principal: Owner, db: DbSession) -> OrganizationOut:
    if body.name is None and body.time_zone is None:
        raise ApiError(422, "Nothing to change: give a name, a time_zone, or both.", "invalid_parameter")
    begin_write(db)
    org = service.get_organization(db, principal.scope)
    if body.name is not None:
        org = service.rename_organization(db, principal.scope, body.name)
    if body.time_zone is not None:
        org = service.set_time_zone(db, principal.scope, body.time_zone)
    db.commit()
    return organization_out(
        OrganizationInfo(
            org.id,
            org.name,
            org.slug,
            org.subscription_tier,
            org.subscription_status,
            time_zone=org.time_zone,
        )
    )
