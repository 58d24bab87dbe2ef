"""The audit log of the organization (admin or above)."""

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import AwareDatetime

from altaviz.accounts.audit_query import AuditFilter, AuditPage, list_entries
from altaviz.accounts.dependencies import Admin, DbSession, release
from altaviz.api.errors import error_responses
from altaviz.api.params import Offset, limit

router = APIRouter(prefix="/audit", tags=["audit"])
NO_CONTROL = r"^[^\x00-\x1f\x7f]*$"


def text_filter(description: str) -> object:
    return Query(max_length=255, pattern=NO_CONTROL, description=description)


@router.get(
    "",
    response_model=AuditPage,
    responses=error_responses(401, 403, 422, 429, 503),
    summary="Who did what, when and from where: newest first, filtered and paginated (admin)",
)
def audit_log(
    principal: Admin,
    db: DbSession,
    action: Annotated[
        str | None,
        Query(
            max_length=100,
            pattern=r"^[a-z_]+(\.[a-z_]+)*\.?$",
            description='An action ("team.invited") or a family ending in a dot ("team.", "auth.").',
        ),
    ] = None,
    actor_type: Annotated[Literal["user", "api_key", "system"] | None, Query()] = None,
    actor_id: Annotated[str | None, text_filter("A user's or API key's id.")] = None,
    target_type: Annotated[
        str | None, text_filter('e.g. "alert", "user", "api_key", "subscription".')
    ] = None,
    target_id: Annotated[str | None, text_filter("The target's id.")] = None,
    since: Annotated[
        AwareDatetime | None, Query(description="From this time on (ISO 8601, with zone).")
    ] = None,
    until: Annotated[
        AwareDatetime | None, Query(description="Before this time (ISO 8601, with zone).")
    ] = None,
    limit: Annotated[int, limit(200)] = 50,
    offset: Offset = 0,
) -> AuditPage:
    filters = AuditFilter(action, actor_type, actor_id, target_type, target_id, since, until)
    page = list_entries(db, principal.scope, filters, limit=limit, offset=offset)
    release(db)
    return page
