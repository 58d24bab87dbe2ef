"""The team: members, roles, removal and invitations (admins); accepting an invitation (public)."""

import logging
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response, status

from altaviz.accounts import team
from altaviz.accounts.auditing import audit_action, audit_user
from altaviz.accounts.dependencies import (
    Admin,
    AuthConfig,
    DbSession,
    MemberSession,
    Viewer,
    auth_config,
    begin_write,
    release,
)
from altaviz.accounts.mailer import EmailFailed, email_configured, send_email
from altaviz.accounts.roles import Role
from altaviz.accounts.schemas import SessionOut
from altaviz.accounts.team_schemas import (
    InvitationAccept,
    InvitationCreate,
    InvitationCreated,
    InvitationList,
    InvitationOut,
    InvitationPreviewOut,
    InvitationToken,
    MemberList,
    MemberOut,
    RoleChange,
)
from altaviz.api.auth import SameOrigin, _sign_in
from altaviz.api.billing import base_url, client_ip
from altaviz.api.errors import ApiError, ErrorBody, error_responses
from altaviz.db.base import utcnow

log = logging.getLogger("altaviz.team")

router = APIRouter(prefix="/team", tags=["team"])
accept_router = APIRouter(prefix="/auth/invitations", tags=["team"])
UserId = Annotated[uuid.UUID, Path(description="The member's user id.")]
InvitationId = Annotated[uuid.UUID, Path(description="The invitation's id.")]
ACCEPT_PAGE = "/invitations/accept"
_GONE: dict[int | str, dict[str, Any]] = {
    410: {"model": ErrorBody, "description": "The invitation link is invalid, expired or already used."}
}


@router.get(
    "/members",
    response_model=MemberList,
    responses=error_responses(401, 403, 429, 503),
    summary="Members of the organization with their roles",
)
def list_members(principal: Viewer, db: DbSession) -> MemberList:
    members = [MemberOut.model_validate(m) for m in team.list_members(db, principal.scope)]
    release(db)
    return MemberList(items=members, total=len(members))


@router.patch(
    "/members/{user_id}",
    response_model=MemberOut,
    responses=error_responses(401, 403, 404, 409, 422, 429, 503),
    summary="Change a member's role (admin; only an owner makes or changes an owner; never the last owner)",
)
def change_role(
    user_id: UserId,
    body: RoleChange,
    principal: Admin,
    member: MemberSession,
    db: DbSession,
    request: Request,
) -> MemberOut:
    begin_write(db)
    target, previous = team.change_role(db, principal.scope, principal, user_id, Role(body.role))
    if previous != target.role:
        keys = team.fit_keys_to_role(db, principal.scope, target.id, Role(target.role))
        audit_action(
            db,
            principal,
            "team.role_changed",
            target_type="user",
            target_id=target.id,
            ip=client_ip(request),
            details={"email": target.email, "from": previous, "to": target.role, **_key_details(keys)},
        )
    db.commit()
    return MemberOut.model_validate(target)


@router.delete(
    "/members/{user_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(401, 403, 404, 409, 422, 429, 503),
    summary="Remove a member (admin; only an owner removes an owner; never the last owner; not yourself)",
)
def remove_member(
    user_id: UserId, principal: Admin, member: MemberSession, db: DbSession, request: Request
) -> None:
    begin_write(db)
    removed = team.remove_member(db, principal.scope, principal, user_id)
    keys = team.fit_keys_to_role(db, principal.scope, user_id, None)
    audit_action(
        db,
        principal,
        "team.member_removed",
        target_type="user",
        target_id=user_id,
        ip=client_ip(request),
        details={"email": removed.email, "role": removed.role, **_key_details(keys)},
    )
    db.commit()


def _key_details(changes: list[team.KeyChange]) -> dict[str, list[dict[str, str | None]]]:
    """The audit entry's account of the API keys the change revoked or capped."""
    if not changes:
        return {}
    return {
        "keys_changed": [
            {"id": str(c.key_id), "name": c.name, "from": c.before, "to": c.after or "revoked"}
            for c in changes
        ]
    }


@router.get(
    "/invitations",
    response_model=InvitationList,
    responses=error_responses(401, 403, 429, 503),
    summary="Pending invitations (admin)",
)
def list_invitations(principal: Admin, db: DbSession) -> InvitationList:
    items = [InvitationOut.model_validate(i) for i in team.list_invitations(db, principal.scope, utcnow())]
    release(db)
    return InvitationList(items=items, total=len(items))


@router.post(
    "/invitations",
    status_code=status.HTTP_201_CREATED,
    response_model=InvitationCreated,
    responses={
        **error_responses(401, 403, 409, 422, 429, 503),
        502: {"model": ErrorBody, "description": "The e-mail server did not accept the invitation."},
    },
    summary="Invite someone by e-mail with a role (admin): a single-use link, valid 7 days",
)
def invite(
    body: InvitationCreate, principal: Admin, member: MemberSession, db: DbSession, request: Request
) -> InvitationCreated:
    settings = request.app.state.settings
    begin_write(db)
    invitation, token = team.invite(
        db, principal.scope, principal, email=str(body.email), role=Role(body.role)
    )
    link = f"{base_url(request)}{ACCEPT_PAGE}?token={token}"
    emailed = email_configured(settings)
    audit_action(
        db,
        principal,
        "team.invited",
        target_type="invitation",
        target_id=invitation.id,
        ip=client_ip(request),
        details={"email": invitation.email, "role": invitation.role, "emailed": emailed},
    )
    if emailed:
        subject, text, html = team.invitation_email(
            organization=principal.organization.name,
            inviter=principal.name or principal.email,
            role=invitation.role,
            link=link,
            expires_at=invitation.expires_at,
        )
        try:
            send_email(settings, invitation.email, subject, text, html)
        except EmailFailed as error:
            db.rollback()  # no invitation without its e-mail
            raise ApiError(502, str(error), "email_failed") from None
    db.commit()
    out = InvitationOut.model_validate(invitation).model_dump()
    return InvitationCreated(**out, email_sent=emailed, accept_url=None if emailed else link)


@router.delete(
    "/invitations/{invitation_id}",
    response_model=InvitationOut,
    responses=error_responses(401, 403, 404, 409, 422, 429, 503),
    summary="Revoke a pending invitation (admin): its link stops working",
)
def revoke_invitation(
    invitation_id: InvitationId, principal: Admin, member: MemberSession, db: DbSession, request: Request
) -> InvitationOut:
    begin_write(db)
    invitation = team.revoke_invitation(db, principal.scope, invitation_id)
    audit_action(
        db,
        principal,
        "team.invitation_revoked",
        target_type="invitation",
        target_id=invitation.id,
        ip=client_ip(request),
        details={"email": invitation.email, "role": invitation.role},
    )
    db.commit()
    return InvitationOut.model_validate(invitation)


@accept_router.post(
    "/preview",
    response_model=InvitationPreviewOut,
    responses={**error_responses(422, 429, 503), **_GONE},
    summary="What an invitation link offers: organization, address and role (consumes nothing)",
)
def preview(body: InvitationToken, db: DbSession) -> InvitationPreviewOut:
    try:
        found = team.preview_invitation(db, body.token)
    except team.InvitationInvalid as error:
        raise ApiError(410, str(error), "invitation_invalid") from None
    finally:
        release(db)
    return InvitationPreviewOut(**found.__dict__)


@accept_router.post(
    "/accept",
    status_code=status.HTTP_201_CREATED,
    response_model=SessionOut,
    dependencies=[SameOrigin],
    responses={**error_responses(403, 409, 422, 429, 503), **_GONE},
    summary="Accept an invitation: create your account in the organization and sign in",
)
def accept(
    body: InvitationAccept,
    request: Request,
    response: Response,
    db: DbSession,
    config: Annotated[AuthConfig, Depends(auth_config)],
) -> SessionOut:
    begin_write(db)
    try:
        user, invitation = team.accept_invitation(db, body.token, password=body.password, name=body.name)
    except team.InvitationInvalid as error:
        db.rollback()
        raise ApiError(410, str(error), "invitation_invalid") from None
    audit_user(
        db,
        user.organization_id,
        user.id,
        user.name or user.email,
        "team.invitation_accepted",
        target_type="user",
        target_id=user.id,
        ip=client_ip(request),
        details={"email": user.email, "role": user.role, "invitation": str(invitation.id)},
    )
    db.commit()
    return _sign_in(request, response, db, config, user)
