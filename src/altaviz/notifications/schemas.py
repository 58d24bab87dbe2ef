"""What the API accepts and returns about notification channels and messages."""

import uuid
from datetime import datetime
from typing import Any, Literal
from urllib.parse import urlsplit

from email_validator import EmailNotValidError, validate_email
from pydantic import BaseModel, ConfigDict, Field, model_validator


class ChannelCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["email", "webhook"]
    name: str = Field(min_length=1, max_length=100, description="A name for people, e.g. 'control room'.")
    target: str = Field(
        min_length=3,
        max_length=2000,
        description="email: comma-separated addresses; webhook: the http(s) address to POST to.",
    )

    @model_validator(mode="after")
    def _check_target(self) -> "ChannelCreate":
        self.name = self.name.strip()
        if not self.name:
            raise ValueError("name must not be blank")
        if self.kind == "email":
            addresses = [a.strip() for a in self.target.split(",") if a.strip()]
            if not addresses:
                raise ValueError("target must hold at least one e-mail address")
            normalized = []
            for address in addresses:
                try:
                    normalized.append(validate_email(address, check_deliverability=False).normalized)
                except EmailNotValidError:
                    raise ValueError(f"{address!r} is not an e-mail address") from None
            self.target = ", ".join(normalized)
        else:
            parts = urlsplit(self.target.strip())
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ValueError("target must be an http:// or https:// address")
            self.target = self.target.strip()
        return self


class ChannelOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    kind: str
    name: str
    target: str
    enabled: bool
    created_by: str | None
    created_at: datetime


class ChannelCreated(ChannelOut):
    secret: str | None = Field(
        description="Webhooks: the key of the X-Altaviz-Signature HMAC-SHA256; shown only now."
    )


class ChannelList(BaseModel):
    items: list[ChannelOut]


class MessageOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    channel_id: uuid.UUID
    compressor_id: str
    status: str
    events: list[dict[str, Any]]
    created_at: datetime
    send_after: datetime
    attempts: int
    sent_at: datetime | None
    last_error: str | None


class MessagePage(BaseModel):
    items: list[MessageOut]
    total: int
    limit: int
    offset: int
