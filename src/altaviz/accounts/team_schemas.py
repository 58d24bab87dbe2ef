"""What the team API accepts and returns."""

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field

from altaviz.accounts.passwords import MAX_PASSWORD_LENGTH
from altaviz.accounts.schemas import Line

RoleName = Literal["owner", "admin", "operator", "viewer"]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MemberOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    email: str
    name: str | None
    role: str
    is_active: bool
    last_login_at: datetime | None
    created_at: datetime


class MemberList(BaseModel):
    items: list[MemberOut]
    total: int


class RoleChange(_Request):
    role: RoleName = Field(description="The new role; only an owner can make another owner.")


class InvitationCreate(_Request):
    email: EmailStr
    role: RoleName = Field(
        description="Role the person gets on accepting; only an owner can invite an owner."
    )


class InvitationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    email: str
    role: str
    invited_by: uuid.UUID | None
    created_at: datetime
    expires_at: datetime
    accepted_at: datetime | None
    revoked_at: datetime | None


class InvitationCreated(InvitationOut):
    email_sent: bool = Field(description="Whether the link went out by e-mail.")
    accept_url: str | None = Field(
        None,
        description="Only when this server has no e-mail configured: send this single-use link to the person "
        "yourself. With e-mail configured the link is never shown.",
    )


class InvitationList(BaseModel):
    items: list[InvitationOut]
    total: int


class InvitationToken(_Request):
    token: str = Field(min_length=10, max_length=200, description="The token from the invitation link.")


class InvitationPreviewOut(BaseModel):
    organization_name: str
    email: str
    role: str
    expires_at: datetime
    invited_by: str | None


class InvitationAccept(_Request):
    token: str = Field(min_length=10, max_length=200)
    password: str = Field(max_length=MAX_PASSWORD_LENGTH, description="At least 12 characters.")
    name: Line | None = Field(None, max_length=200)
