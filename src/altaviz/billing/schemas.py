"""What the billing API accepts and returns."""

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from altaviz.accounts.schemas import PlanOut


class CheckoutRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    plan: Literal["pro", "enterprise"] = Field(description="The plan to subscribe to.")


class CheckoutOut(BaseModel):
    id: str = Field(description="The Stripe Checkout session id.")
    url: str = Field(description="Send the browser here to pay.")


class PortalOut(BaseModel):
    url: str = Field(description="Send the browser here to manage the subscription.")


class QuarantinedCompressor(BaseModel):
    compressor_id: str
    readings: int = Field(description="Readings quarantined with the reason 'plan limit' so far.")
    first_at: datetime
    last_at: datetime


class CompressorUsage(BaseModel):
    compressors: int = Field(description="Compressors registered for the organization.")
    max_compressors: int | None = Field(description="The plan's limit (null: unlimited).")
    over_limit: list[str] = Field(description="Registered compressors beyond the limit (plan order).")
    quarantined: list[QuarantinedCompressor]


class StripeLink(BaseModel):
    configured: bool = Field(description="Whether this server can open checkout and portal sessions.")
    purchasable: list[str] = Field(description="Plans with a configured Stripe price.")
    customer: bool = Field(description="Whether the organization has a Stripe customer.")
    subscription_id: str | None


class BillingEventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    stripe_event_id: str
    event_type: str
    outcome: str
    detail: str | None
    amount_cents: int | None
    currency: str
    created_at: datetime
    stripe_created_at: datetime | None


class BillingOverview(BaseModel):
    plan: PlanOut
    subscription_status: str
    plans: list[PlanOut] = Field(description="Every plan, for comparison.")
    usage: CompressorUsage
    stripe: StripeLink
    notices: list[str] = Field(description="Sentences for the billing page: limits reached, payment failed.")
    recent_events: list[BillingEventOut]


class WebhookAck(BaseModel):
    received: bool = True
    duplicate: bool = False
    outcome: str
    detail: str | None = None


JSONObject = dict[str, Any]
