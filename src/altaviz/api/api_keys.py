"""Per-organization API keys: created by an admin, shown once, stored hashed, revocable."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Literal

from fastapi import APIRouter, Request, status

from altaviz.accounts import service
from altaviz.accounts.auditing import audit_action
from altaviz.accounts.dependencies import Admin, DbSession, MemberSession, begin_write, release
from altaviz.accounts.errors import Forbidden, NotFound, UpgradeRequired
from altaviz.accounts.plans import plans_with
from altaviz.accounts.roles import INGEST_KEY_ROLE, Role
from altaviz.accounts.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyList, ApiKeyOut
from altaviz.api.errors import error_responses

router = APIRouter(prefix="/api-keys", tags=["API keys"])


def _member_admin(principal: Admin, member: MemberSession) -> None:
    del principal, member  # both checks ran: an admin or owner, signed in as a person


@router.get("", response_model=ApiKeyList, responses=error_responses(401, 403, 429, 503), summary="List keys")
def list_keys(principal: Admin, member: MemberSession, db: DbSession) -> ApiKeyList:
    keys = [ApiKeyOut.model_validate(key) for key in service.list_api_keys(db, principal.scope)]
    release(db)
    return ApiKeyList(items=keys, total=len(keys))


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ApiKeyCreated,
    responses=error_responses(401, 403, 422, 429, 503),
    summary="Create a key (the key is in this answer only)",
)
def create_key(
    body: ApiKeyCreate, principal: Admin, member: MemberSession, db: DbSession, request: Request
) -> ApiKeyCreated:
    if not principal.plan.api_access:
        raise UpgradeRequired(
            f"API access requires a {plans_with('api_access')} plan", plan=principal.plan.tier
        )
    begin_write(db)
    role: Role | Literal["ingest"] = "ingest" if body.role == INGEST_KEY_ROLE else Role(body.role)
    if role != INGEST_KEY_ROLE and not principal.role.at_least(Role(role)):
        raise Forbidden(f"You cannot create a key with more rights ({role}) than your own")
    expires_at = (
        datetime.now(UTC) + timedelta(days=body.expires_in_days) if body.expires_in_days is not None else None
    )
    record, key = service.create_api_key(
        db, principal.scope, name=body.name, role=role, created_by=principal.user_id, expires_at=expires_at
    )
    audit_action(
        db,
        principal,
        "api_key.created",
        target_type="api_key",
        target_id=record.id,
        ip=request.client.host if request.client else None,
        details={
            "name": record.name,
            "role": record.role,
            "prefix": record.prefix,
            "expires_at": _iso(expires_at),
        },
    )
    db.commit()
    return ApiKeyCreated(**ApiKeyOut.model_validate(record).model_dump(), key=key)


@router.delete(
    "/{key_id}",
    response_model=ApiKeyOut,
    responses=error_responses(401, 403, 404, 422, 429, 503),
    summary="Revoke a key (it stops working at once)",
)
def revoke_key(
    key_id: uuid.UUID, principal: Admin, member: MemberSession, db: DbSession, request: Request
) -> ApiKeyOut:
    begin_write(db)
    record = service.revoke_api_key(db, principal.scope, key_id)
    if record is None:
        raise NotFound("API key not found")
    audit_action(
        db,
        principal,
        "api_key.revoked",
        target_type="api_key",
        target_id=record.id,
        ip=request.client.host if request.client else None,
        details={"name": record.name, "role": record.role, "prefix": record.prefix},
    )
    db.commit()
    return ApiKeyOut.model_validate(record)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None
