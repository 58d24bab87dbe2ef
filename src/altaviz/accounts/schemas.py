"""What the API accepts and returns for accounts, sessions, organizations and API keys."""

import uuid
from datetime import datetime
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field

from altaviz.accounts.passwords import MAX_PASSWORD_LENGTH

_CONTROL = {chr(code) for code in (*range(0x20), 0x7F)}
_LINE_BREAKS = {"\t", "\n", "\r"}


def _single_line(value: str) -> str:
    if any(char in _CONTROL for char in value):
        raise ValueError("must be a single line without control characters")
    return value


def _multi_line(value: str) -> str:
    if any(char in _CONTROL and char not in _LINE_BREAKS for char in value):
        raise ValueError("must not contain control characters")
    return value


Line = Annotated[str, AfterValidator(_single_line)]
Text = Annotated[str, AfterValidator(_multi_line)]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class SignUpRequest(_Request):
    email: EmailStr
    password: str = Field(max_length=MAX_PASSWORD_LENGTH, description="At least 12 characters.")
    name: Line | None = Field(None, max_length=200)
    organization_name: Line | None = Field(
        None, max_length=200, description='Default: "<your name>\'s organization".'
    )


class LoginRequest(_Request):
    email: Line = Field(min_length=3, max_length=320)
    password: str = Field(min_length=1, max_length=MAX_PASSWORD_LENGTH)


class PasswordChangeRequest(_Request):
    current_password: str = Field(min_length=1, max_length=MAX_PASSWORD_LENGTH)
    new_password: str = Field(max_length=MAX_PASSWORD_LENGTH)


class PlanOut(BaseModel):
    tier: str
    name: str
    price_usd_per_month: int
    max_compressors: int | None
    windows: list[str]
    history_days: int
    api_access: bool
    predictions: bool
    bulk_export: bool


class OrganizationOut(BaseModel):
    id: uuid.UUID
    name: str
    slug: str
    subscription_status: str
    plan: PlanOut
    time_zone: str = Field("UTC", description="IANA time zone the pages show times in.")


class UserOut(BaseModel):
    id: uuid.UUID
    email: str
    name: str | None
    role: str


class ApiKeyIdentity(BaseModel):
    id: uuid.UUID
    name: str
    role: str


class SessionOut(BaseModel):
    """Who the caller is; for a browser session also when it ends and the CSRF token to echo."""

    authenticated_by: Literal["session", "api_key"]
    role: str
    organization: OrganizationOut
    user: UserOut | None = None
    api_key: ApiKeyIdentity | None = None
    expires_at: datetime | None = None
    csrf_token: str | None = Field(None, description="Send it back in X-CSRF-Token on POST/PATCH/DELETE.")


class _Named(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def _time_zone(value: str) -> str:
    """An IANA time zone name zoneinfo knows (e.g. America/Chicago)."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {value!r}: use an IANA name such as America/Chicago or UTC"
        ) from None
    return value


TimeZoneName = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_time_zone)]


class OrganizationUpdate(_Named):
    name: Line | None = Field(None, min_length=1, max_length=200)
    time_zone: TimeZoneName | None = Field(
        None, description="IANA time zone every page shows times in, e.g. America/Chicago."
    )


class ApiKeyCreate(_Named):
    name: Line = Field(
        min_length=1, max_length=100, description="What the key is for, e.g. 'cron workflows'."
    )
    role: Literal["viewer", "operator", "admin", "ingest"] = Field(
        "viewer",
        description="viewer, operator or admin: what a member of that role may do. ingest: may only send "
        "readings (POST /api/ingest/readings) and cannot read anything, for field gateways.",
    )
    expires_in_days: int | None = Field(None, ge=1, le=3650, description="Default: never expires.")


class ApiKeyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    prefix: str = Field(description="The key's first characters, to tell keys apart.")
    role: str
    created_by: uuid.UUID | None = Field(description="The member who created it (kept after they leave).")
    created_by_email: str | None = Field(None, description="Their e-mail address when they created it.")
    created_by_name: str | None = None
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="The key itself. It is shown this once and cannot be retrieved later.")


class ApiKeyList(BaseModel):
    items: list[ApiKeyOut]
    total: int
