"""Stripe webhooks: verify, record once, apply in order.

- The signature is checked by the `stripe` library on the raw request body (STRIPE_WEBHOOK_SECRET,
  300 s tolerance). Anything that fails is refused before we read it.
- Every verified event is written once to billing_events (unique stripe_event_id) with its outcome:
  applied, ignored (a type we do not handle, an unknown customer or price, ...) or stale. A replay
  (`stripe events resend`, Stripe's own retries) finds its row and changes nothing.
- Stripe does not deliver in order. billing_subscriptions keeps, per subscription, the `created` time
  of the event whose state was applied (and a rank for events of the same second: created/checkout <
  updated/payment failed < deleted). An event older than that is recorded as stale and changes
  nothing, so a late `customer.subscription.updated` never rolls an organization back.
- A failed payment marks the organization past_due and keeps its plan (Stripe retries the payment; a
  subscription that finally fails arrives as updated/deleted with status unpaid/canceled).
- Only the organization's current subscription can downgrade it: the cancellation of an older
  subscription after the organization moved to a new one changes nothing.
"""

import json
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import stripe
from sqlalchemy import select
from sqlalchemy.orm import Session

from altaviz.accounts.auditing import audit_system
from altaviz.accounts.errors import ServiceError
from altaviz.accounts.models import Organization
from altaviz.accounts.plans import plan_for
from altaviz.billing.limits import clear_plan_limit_quarantines
from altaviz.billing.models import BillingEvent, BillingSubscription

log = logging.getLogger("altaviz.billing")

TOLERANCE_SECONDS = 300
HANDLED = (
    "checkout.session.completed",
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
    "invoice.payment_failed",
)
RANK = {
    "checkout.session.completed": 0,
    "customer.subscription.created": 0,
    "customer.subscription.updated": 1,
    "invoice.payment_failed": 1,
    "customer.subscription.deleted": 2,
}
# Stripe subscription status → what the organization gets.
GRANTING = {"active": "active", "trialing": "trialing", "past_due": "past_due"}
ENDED = frozenset({"canceled", "unpaid", "incomplete_expired", "paused"})


class WebhookRejected(ServiceError):
    """Bad or missing signature, or a body that is not a Stripe event: 400."""


class WebhookNotConfigured(ServiceError):
    """STRIPE_WEBHOOK_SECRET is not set: 503 (Stripe retries until it is)."""


@dataclass(frozen=True)
class WebhookResult:
    event_id: str
    event_type: str
    outcome: str
    detail: str | None
    duplicate: bool = False


def verify(payload: bytes, signature: str | None, secret: str | None) -> dict[str, Any]:
    """The event in `payload`, once the stripe library has verified its signature."""
    if not secret or not secret.strip():
        raise WebhookNotConfigured(
            "Stripe webhooks are not configured on this server: "
            "its operator has not set STRIPE_WEBHOOK_SECRET"
        )
    if not signature:
        raise WebhookRejected("Missing Stripe-Signature header")
    try:
        stripe.Webhook.construct_event(payload, signature, secret.strip(), tolerance=TOLERANCE_SECONDS)
    except stripe.SignatureVerificationError:
        raise WebhookRejected(
            "Invalid Stripe signature (wrong secret, altered body or expired timestamp)"
        ) from None
    except (ValueError, UnicodeDecodeError):
        raise WebhookRejected("The body is not a Stripe event") from None
    event = json.loads(payload)
    data = event.get("data") if isinstance(event, dict) else None
    if (
        not isinstance(event, dict)
        or not isinstance(event.get("id"), str)
        or not isinstance(event.get("type"), str)
        or not isinstance(event.get("created"), int)
        or not isinstance(data, dict)
        or not isinstance(data.get("object"), dict)
    ):
        raise WebhookRejected("The body is not a Stripe event")
    return event


def already_recorded(session: Session, event_id: str) -> bool:
    return session.scalar(select(BillingEvent.id).where(BillingEvent.stripe_event_id == event_id)) is not None


def process(session: Session, event: dict[str, Any], tiers_by_price: dict[str, str]) -> WebhookResult:
    """Record the event and apply it (inside the caller's transaction; the caller commits).

    A concurrent delivery of the same event makes the flush (or the commit) raise IntegrityError on
    the unique stripe_event_id: the caller rolls back and answers as for a replay.
    """
    event_id, event_type = event["id"], event["type"]
    if already_recorded(session, event_id):
        row = session.scalar(select(BillingEvent).where(BillingEvent.stripe_event_id == event_id))
        assert row is not None
        return WebhookResult(event_id, event_type, row.outcome, row.detail, duplicate=True)
    obj: dict[str, Any] = event["data"]["object"]
    created = datetime.fromtimestamp(event["created"], UTC)
    record = BillingEvent(
        stripe_event_id=event_id,
        event_type=event_type[:100],
        stripe_created_at=created,
        outcome="ignored",
        event_metadata={},
        currency="usd",
    )
    session.add(record)
    session.flush()  # takes the unique key now: a concurrent duplicate waits here, then fails
    handler = _HANDLERS.get(event_type)
    if handler is None:
        record.detail = f"event type {event_type} is not used by Altaviz"
        return WebhookResult(event_id, event_type, record.outcome, record.detail)
    context = _Context(session, event_id, event_type, created, RANK[event_type], obj, tiers_by_price, record)
    handler(context)
    session.flush()
    log.info(
        "stripe event %s (%s): %s%s",
        event_id,
        event_type,
        record.outcome,
        f" - {record.detail}" if record.detail else "",
        extra={"organization_id": str(record.organization_id) if record.organization_id else None},
    )
    return WebhookResult(event_id, event_type, record.outcome, record.detail)


@dataclass
class _Context:
    session: Session
    event_id: str
    event_type: str
    created: datetime
    rank: int
    obj: dict[str, Any]
    tiers_by_price: dict[str, str]
    record: BillingEvent

    def outcome(self, outcome: str, detail: str, **metadata: Any) -> None:
        self.record.outcome = outcome
        self.record.detail = detail
        self.record.event_metadata = {**(self.record.event_metadata or {}), **metadata}


def _text(value: Any) -> str | None:
    if isinstance(value, str) and value:
        return value
    if isinstance(value, dict) and isinstance(value.get("id"), str):
        return str(value["id"])  # an expanded object
    return None


def _organization(ctx: _Context, customer: str | None, claimed: Any) -> Organization | None:
    """The organization of an event: by Stripe customer, else by the organization id we put in the
    metadata when creating the checkout (then the customer is linked to it). Row locked."""
    session = ctx.session
    org = None
    if customer:
        org = session.scalar(
            select(Organization).where(Organization.stripe_customer_id == customer).with_for_update()
        )
    if org is None and isinstance(claimed, str):
        try:
            org_id = uuid.UUID(claimed)
        except ValueError:
            return None
        org = session.scalar(select(Organization).where(Organization.id == org_id).with_for_update())
        if org is not None and customer:
            if org.stripe_customer_id not in (None, customer):
                return None  # the organization is linked to another customer: do not trust the claim
            org.stripe_customer_id = customer
    if org is not None:
        ctx.record.organization_id = org.id
    ctx.record.stripe_customer_id = customer
    return org


def _metadata_org(obj: dict[str, Any]) -> Any:
    metadata = obj.get("metadata") or {}
    return metadata.get("organization_id") if isinstance(metadata, dict) else None


def _subscription_price(subscription: dict[str, Any]) -> str | None:
    items = subscription.get("items")
    data = items.get("data") if isinstance(items, dict) else None
    if not data or not isinstance(data, list) or not isinstance(data[0], dict):
        return None
    price = data[0].get("price")
    return _text(price) if price is not None else _text(data[0].get("plan"))


def _apply_subscription_state(
    ctx: _Context,
    org: Organization,
    subscription_id: str,
    status: str,
    tier: str | None,
    price_id: str | None,
) -> None:
    """Record the subscription's state if this event is the newest seen for it, then bring the
    organization in line with its current subscription."""
    session = ctx.session
    ctx.record.stripe_subscription_id = subscription_id
    state = session.scalar(
        select(BillingSubscription)
        .where(BillingSubscription.stripe_subscription_id == subscription_id)
        .with_for_update()
    )
    if state is not None and (state.event_at, state.event_rank) > (ctx.created, ctx.rank):
        ctx.outcome(
            "stale",
            f"older than {state.event_id} ({state.event_at:%Y-%m-%d %H:%M:%S} UTC), already applied "
            f"for {subscription_id}; nothing changed",
        )
        return
    if state is not None and state.organization_id != org.id:
        ctx.outcome("ignored", f"subscription {subscription_id} belongs to another organization")
        return
    if tier is None and state is not None and state.price_id == price_id:
        tier = state.tier
    if state is None:
        state = BillingSubscription(stripe_subscription_id=subscription_id, organization_id=org.id)
        session.add(state)
    state.stripe_customer_id = org.stripe_customer_id
    state.status = status
    state.tier = tier
    state.price_id = price_id
    state.event_at = ctx.created
    state.event_rank = ctx.rank
    state.event_id = ctx.event_id
    session.flush()
    _settle_organization(ctx, org, subscription_id, status, tier, price_id)


def _settle_organization(
    ctx: _Context,
    org: Organization,
    subscription_id: str,
    status: str,
    tier: str | None,
    price_id: str | None,
) -> None:
    before = (org.subscription_tier, org.subscription_status)
    current = org.stripe_subscription_id
    if status in GRANTING:
        if tier is None:
            ctx.outcome(
                "ignored",
                f"price {price_id or '(none)'} is not the Stripe price of a plan on this server "
                "(STRIPE_PRICE_ID_PRO / STRIPE_PRICE_ID_ENTERPRISE); the plan was left unchanged",
                status=status,
            )
            return
        if status == "past_due" and current not in (None, subscription_id):
            ctx.outcome(
                "ignored",
                f"a payment of subscription {subscription_id} failed, but the organization's current "
                f"subscription is {current}; nothing changed",
                status=status,
            )
            return
        # past_due keeps the subscription's plan while Stripe retries the payment
        org.stripe_subscription_id = subscription_id
        new_tier, new_status = tier, GRANTING[status]
    elif status in ENDED:
        if current not in (None, subscription_id):
            ctx.outcome(
                "ignored",
                f"subscription {subscription_id} is {status}, but the organization's current "
                f"subscription is {current}; nothing changed",
                status=status,
            )
            return
        new_tier, new_status = "free", "canceled"
    else:  # incomplete: the first payment has not gone through yet
        ctx.outcome("ignored", f"subscription {subscription_id} is {status}: waiting for its first payment")
        return
    _set_plan(ctx, org, new_tier, new_status, subscription_id)
    after = (org.subscription_tier, org.subscription_status)
    ctx.outcome(
        "applied",
        _change_sentence(before, after),
        tier=after[0],
        status=after[1],
        previous_tier=before[0],
        previous_status=before[1],
        price_id=price_id,
    )


def _set_plan(ctx: _Context, org: Organization, tier: str, status: str, subscription_id: str | None) -> None:
    before = (org.subscription_tier, org.subscription_status)
    if before == (tier, status):
        return
    if tier != org.subscription_tier:
        clear_plan_limit_quarantines(ctx.session, org.id)
    org.subscription_tier = tier
    org.subscription_status = status
    org.max_compressors = plan_for(tier).max_compressors
    ctx.session.flush()
    audit_system(
        ctx.session,
        org.id,
        "billing.plan_changed",
        what="stripe",
        target_type="subscription",
        target_id=subscription_id,
        details={
            "from_tier": before[0],
            "to_tier": tier,
            "from_status": before[1],
            "to_status": status,
            "stripe_event_id": ctx.event_id,
            "event_type": ctx.event_type,
        },
    )


def _change_sentence(before: tuple[str, str], after: tuple[str, str]) -> str:
    if before == after:
        return f"organization stays on {plan_for(after[0]).name} ({after[1]})"
    return f"{plan_for(before[0]).name} ({before[1]}) → {plan_for(after[0]).name} ({after[1]})"


def _checkout_completed(ctx: _Context) -> None:
    obj = ctx.obj
    amount = obj.get("amount_total")
    ctx.record.amount_cents = amount if isinstance(amount, int) else None
    currency = obj.get("currency")
    if isinstance(currency, str) and len(currency) == 3:
        ctx.record.currency = currency
    claimed = _metadata_org(obj) or obj.get("client_reference_id")
    org = _organization(ctx, _text(obj.get("customer")), claimed)
    if obj.get("mode") != "subscription":
        ctx.outcome("ignored", f"checkout in {obj.get('mode')} mode, not a subscription")
        return
    if org is None:
        ctx.outcome("ignored", "no organization has this Stripe customer")
        return
    subscription_id = _text(obj.get("subscription"))
    metadata = obj.get("metadata") or {}
    tier = metadata.get("plan") if isinstance(metadata, dict) else None
    if subscription_id is None or tier not in ("pro", "enterprise"):
        ctx.outcome("ignored", "the checkout names no subscription or no Altaviz plan")
        return
    if obj.get("payment_status") not in ("paid", "no_payment_required"):
        ctx.outcome("ignored", f"checkout payment is {obj.get('payment_status')}: waiting for the payment")
        return
    _apply_subscription_state(ctx, org, subscription_id, "active", tier, None)


def _subscription_changed(ctx: _Context) -> None:
    obj = ctx.obj
    org = _organization(ctx, _text(obj.get("customer")), _metadata_org(obj))
    subscription_id = _text(obj.get("id"))
    if org is None or subscription_id is None:
        ctx.record.stripe_subscription_id = subscription_id
        ctx.outcome("ignored", "no organization has this Stripe customer")
        return
    status = obj.get("status")
    if ctx.event_type == "customer.subscription.deleted":
        status = "canceled"
    if not isinstance(status, str):
        ctx.outcome("ignored", "the subscription has no status")
        return
    price_id = _subscription_price(obj)
    tier = ctx.tiers_by_price.get(price_id) if price_id else None
    _apply_subscription_state(ctx, org, subscription_id, status, tier, price_id)


def _invoice_subscription(invoice: dict[str, Any]) -> str | None:
    direct = _text(invoice.get("subscription"))
    if direct:
        return direct
    parent = invoice.get("parent")
    details = parent.get("subscription_details") if isinstance(parent, dict) else None
    return _text(details.get("subscription")) if isinstance(details, dict) else None


def _payment_failed(ctx: _Context) -> None:
    obj = ctx.obj
    amount = obj.get("amount_due")
    ctx.record.amount_cents = amount if isinstance(amount, int) else None
    currency = obj.get("currency")
    if isinstance(currency, str) and len(currency) == 3:
        ctx.record.currency = currency
    org = _organization(ctx, _text(obj.get("customer")), None)
    if org is None:
        ctx.outcome("ignored", "no organization has this Stripe customer")
        return
    subscription_id = _invoice_subscription(obj) or org.stripe_subscription_id
    if subscription_id is None or org.subscription_tier == "free":
        ctx.outcome("ignored", "the organization has no paid subscription")
        return
    state = ctx.session.get(BillingSubscription, subscription_id)
    tier = state.tier if state is not None else org.subscription_tier
    price = state.price_id if state is not None else None
    _apply_subscription_state(ctx, org, subscription_id, "past_due", tier, price)


_HANDLERS = {
    "checkout.session.completed": _checkout_completed,
    "customer.subscription.created": _subscription_changed,
    "customer.subscription.updated": _subscription_changed,
    "customer.subscription.deleted": _subscription_changed,
    "invoice.payment_failed": _payment_failed,
}
