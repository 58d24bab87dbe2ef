"""Notification channels (admins): where new critical alerts and escalations are sent, and the log of
messages with their delivery state."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import Response

from altaviz.accounts import audit
from altaviz.accounts.dependencies import Admin, CallerOf, DbSession, authorize, begin_write
from altaviz.accounts.roles import Role
from altaviz.api.alerts import client_ip
from altaviz.api.errors import error_responses, read_answer
from altaviz.api.params import Offset, limit
from altaviz.notifications import service
from altaviz.notifications.schemas import (
    ChannelCreate,
    ChannelCreated,
    ChannelList,
    ChannelOut,
    MessageOut,
    MessagePage,
)

router = APIRouter(prefix="/notifications", tags=["notifications"])


@router.get(
    "/channels",
    response_model=ChannelList,
    responses=error_responses(401, 403, 429, 503),
    summary="The organization's notification channels (admin)",
)
def list_channels(who: CallerOf, db: DbSession) -> Response:
    principal = authorize(db, who, Role.ADMIN)
    channels = service.list_channels(db, principal.scope)
    return read_answer(db, ChannelList(items=[ChannelOut.model_validate(c) for c in channels]))


@router.post(
    "/channels",
    response_model=ChannelCreated,
    status_code=201,
    responses=error_responses(401, 403, 422, 429, 503),
    summary="Add an e-mail or webhook channel (admin); a webhook's signing secret is shown once",
)
def create_channel(body: ChannelCreate, principal: Admin, db: DbSession, request: Request) -> ChannelCreated:
    begin_write(db)
    channel = service.create_channel(
        db, principal.scope, kind=body.kind, name=body.name, target=body.target, created_by=principal.actor
    )
    audit.record(
        db,
        organization_id=principal.organization.id,
        actor=audit.Actor.of(principal),
        action="notification_channel.create",
        target_type="notification_channel",
        target_id=str(channel.id),
        ip=client_ip(request),
        details={"kind": channel.kind, "name": channel.name, "target": channel.target},
    )
    db.commit()
    return ChannelCreated.model_validate(channel)


@router.delete(
    "/channels/{channel_id}",
    status_code=204,
    responses=error_responses(401, 403, 404, 422, 429, 503),
    summary="Remove a notification channel (admin)",
)
def delete_channel(channel_id: uuid.UUID, principal: Admin, db: DbSession, request: Request) -> Response:
    begin_write(db)
    channel = service.delete_channel(db, principal.scope, channel_id)
    audit.record(
        db,
        organization_id=principal.organization.id,
        actor=audit.Actor.of(principal),
        action="notification_channel.delete",
        target_type="notification_channel",
        target_id=str(channel.id),
        ip=client_ip(request),
        details={"kind": channel.kind, "name": channel.name},
    )
    db.commit()
    return Response(status_code=204)


@router.get(
    "/messages",
    response_model=MessagePage,
    responses=error_responses(401, 403, 422, 429, 503),
    summary="Notification messages, newest first, with their delivery state (admin)",
)
def list_messages(
    who: CallerOf, db: DbSession, limit: Annotated[int, limit(200)] = 50, offset: Offset = 0
) -> Response:
    principal = authorize(db, who, Role.ADMIN)
    rows, total = service.list_messages(db, principal.scope, limit=limit, offset=offset)
    return read_answer(
        db,
        MessagePage(
            items=[MessageOut.model_validate(row) for row in rows], total=total, limit=limit, offset=offset
        ),
    )
