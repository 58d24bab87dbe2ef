"""Stripe webhooks: verify, record once, apply in order.

- The signature is checked by the `stripe` library on the raw request body (STRIPE_WEBHOOK_SECRET,
  300 s tolerance, applied both ways: a timestamp more than 300 s ahead is refused too). Anything that
  fails is refused (400) before we read it.
- A validly signed body that is not an event we can take (not a JSON object, nested too deeply, an id
  longer than 255 characters, an implausible `created`, an amount beyond a 32-bit number of cents) is
  recorded in billing_events as `refused` with the reason and answered 200: Stripe's guidance is a 2xx
  for events received but not processed, and a retry would carry the same body anyway.
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

import hashlib
import json
import logging
import time
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

TOLERANCE_SECONDS = 300  # both ways: a signature older, or dated further ahead, is refused
MAX_ID = 255  # the width of billing_events.stripe_event_id (and of the customer/subscription/price ids)
EARLIEST_CREATED = 1_293_840_000  # 2011-01-01: no Stripe event is older
MAX_CREATED_AHEAD_SECONDS = 86_400
MAX_AMOUNT_CENTS = 2**31 - 1  # billing_events.amount_cents is a 32-bit integer
KNOWN_STATUSES = frozenset(
    {"incomplete", "incomplete_expired", "trialing", "active", "past_due", "canceled", "unpaid", "paused"}
)
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


@dataclass(frozen=True)
class Refusal:
    """A validly signed body that is not an event Altaviz can take, and why."""

    reason: str
    payload: bytes
    event_id: str | None = None
    event_type: str | None = None
    created: datetime | None = None


def verify(payload: bytes, signature: str | None, secret: str | None) -> dict[str, Any] | Refusal:
    """The event in `payload` once its signature is verified, or a Refusal saying why a validly
    signed body is not an event Altaviz can take (recorded, and answered 2xx so Stripe stops
    retrying: a retry would carry the same body)."""
    if not secret or not secret.strip():
        raise WebhookNotConfigured(
            "Stripe webhooks are not configured on this server: "
            "its operator has not set STRIPE_WEBHOOK_SECRET"
        )
    if not signature:
        raise WebhookRejected("Missing Stripe-Signature header")
    try:
        stripe.WebhookSignature.verify_header(payload, signature, secret.strip(), tolerance=TOLERANCE_SECONDS)
    except stripe.SignatureVerificationError:
        raise WebhookRejected(
            "Invalid Stripe signature (wrong secret, altered body or expired timestamp)"
        ) from None
    except (ValueError, UnicodeDecodeError):
        raise WebhookRejected("The body is not a Stripe event") from None
    # The library checks only the past side of the tolerance; a signature dated ahead is refused too.
    if _signed_at(signature) > time.time() + TOLERANCE_SECONDS:
        raise WebhookRejected(
            f"Invalid Stripe signature: its timestamp is more than {TOLERANCE_SECONDS} s in the future"
        )
    return parse_event(payload)


def _signed_at(signature: str) -> int:
    for item in signature.split(","):
        name, _, value = item.partition("=")
        if name.strip() == "t":
            return int(value)
    raise WebhookRejected("Invalid Stripe signature (no timestamp)")  # verify_header checked it already


def parse_event(payload: bytes) -> dict[str, Any] | Refusal:
    """The event, checked for the shape and bounds Altaviz relies on, or a Refusal."""
    try:
        event = json.loads(payload)
    except RecursionError:
        return Refusal("the body is JSON nested too deeply to read", payload)
    except ValueError:
        return Refusal("the body is not JSON", payload)
    if not isinstance(event, dict):
        return Refusal(f"the body is a JSON {type(event).__name__}, not an event object", payload)
    event_id, event_type, created = event.get("id"), event.get("type"), event.get("created")
    usable_id = event_id if _is_id(event_id) else None
    usable_type = event_type if isinstance(event_type, str) and 0 < len(event_type) <= 100 else None

    def refused(reason: str, when: datetime | None = None) -> Refusal:
        return Refusal(reason, payload, usable_id, usable_type, when)

    if usable_id is None:
        shown = f"{len(event_id)} characters" if isinstance(event_id, str) else type(event_id).__name__
        return refused(f"the event id is not a Stripe id of 1-{MAX_ID} characters ({shown})")
    if usable_type is None:
        return refused("the event has no type of 1-100 characters")
    if isinstance(created, bool) or not isinstance(created, int):
        return refused("the event has no integer `created` time")
    if not EARLIEST_CREATED <= created <= time.time() + MAX_CREATED_AHEAD_SECONDS:
        return refused(
            f"the event's `created` time {created} is not a plausible time (after 2011, and at most a "
            "day ahead of this server's clock)"
        )
    when = datetime.fromtimestamp(created, UTC)
    data = event.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("object"), dict):
        return refused("the event has no `data.object`", when)
    obj = data["object"]
    for field in ("amount_total", "amount_due"):
        amount = obj.get(field)
        if amount is not None and (isinstance(amount, bool) or not isinstance(amount, int)):
            return refused(f"`{field}` is not an integer number of cents", when)
        if isinstance(amount, int) and not 0 <= amount <= MAX_AMOUNT_CENTS:
            return refused(
                f"`{field}` {amount} is outside what Altaviz records (0 to {MAX_AMOUNT_CENTS:,})",
                when,
            )
    return event


def _is_id(value: Any) -> bool:
    return isinstance(value, str) and 0 < len(value) <= MAX_ID and value.isprintable()


def record_refusal(session: Session, refusal: Refusal) -> WebhookResult:
    """Writes the refused body's row once (a retry of the same body finds it): outcome `refused`,
    the reason in `detail`. Inside the caller's transaction."""
    digest = hashlib.sha256(refusal.payload).hexdigest()
    event_id = refusal.event_id or f"refused_{digest[:48]}"
    event_type = refusal.event_type or "(not an event)"
    existing = session.scalar(select(BillingEvent).where(BillingEvent.stripe_event_id == event_id))
    if existing is not None:
        return WebhookResult(event_id, event_type, existing.outcome, existing.detail, duplicate=True)
    session.add(
        BillingEvent(
            stripe_event_id=event_id,
            event_type=event_type,
            stripe_created_at=refusal.created,
            outcome="refused",
            detail=f"refused: {refusal.reason}; nothing changed",
            event_metadata={"payload_sha256": digest, "payload_bytes": len(refusal.payload)},
            currency="usd",
        )
    )
    session.flush()
    log.warning("stripe webhook refused (%s): %s", event_id, refusal.reason)
    return WebhookResult(event_id, event_type, "refused", f"refused: {refusal.reason}; nothing changed")


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
    """A Stripe id (customer, subscription, price), or None when absent or not an id we can store."""
    if isinstance(value, dict):
        value = value.get("id")  # an expanded object
    return value if _is_id(value) else None


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
    if not isinstance(status, str) or status not in KNOWN_STATUSES:
        ctx.outcome("ignored", "the subscription has no status Stripe documents")
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
