"""Billing: the plan overview, Stripe checkout and customer-portal sessions.

The Stripe client is built from the settings (`stripe_client`) and handed in by the caller, so tests
can point it at a local stub. Without STRIPE_SECRET_KEY there is no client and checkout/portal raise
BillingNotConfigured (the API answers 503); every other part of the service works without Stripe.
Webhooks are in billing/webhooks.py.
"""

import logging
from dataclasses import asdict
from typing import Any

import stripe
from sqlalchemy import select
from sqlalchemy.orm import Session

from altaviz.accounts.errors import Conflict, ServiceError
from altaviz.accounts.models import Organization
from altaviz.accounts.plans import PLANS, Plan, plan_for, plans_with
from altaviz.accounts.schemas import PlanOut
from altaviz.accounts.scoping import OrgScope, scoped
from altaviz.billing.limits import compressor_order
from altaviz.billing.models import BillingEvent, PlanLimitQuarantine
from altaviz.billing.schemas import (
    BillingEventOut,
    BillingOverview,
    CompressorUsage,
    QuarantinedCompressor,
    StripeLink,
)
from altaviz.config import Settings

log = logging.getLogger("altaviz.billing")

PAID_TIERS = ("pro", "enterprise")
LIVE_STATUSES = frozenset({"active", "trialing", "past_due"})
BILLING_PAGE = "/settings/billing"
STRIPE_TIMEOUT_SECONDS = 20


class BillingNotConfigured(ServiceError):
    """STRIPE_SECRET_KEY (or a plan's price id) is missing: the API answers 503."""


class StripeUnavailable(ServiceError):
    """Stripe refused the request or could not be reached: the API answers 502."""


def stripe_client(settings: Settings) -> stripe.StripeClient | None:
    """A Stripe client for the configured key (and API base, e.g. stripe-mock), or None."""
    key = settings.stripe_secret_key.get_secret_value().strip() if settings.stripe_secret_key else ""
    if not key:
        return None
    base = {"api": settings.stripe_api_base} if settings.stripe_api_base else None
    return stripe.StripeClient(
        key,
        base_addresses=base,  # type: ignore[arg-type]
        max_network_retries=2,
        http_client=_http_client(),
    )


def _http_client() -> Any:
    """The library's default HTTP client with a shorter timeout than its 80 s: checkout holds the
    organization's row while it talks to Stripe."""
    try:
        return stripe.new_default_http_client(timeout=STRIPE_TIMEOUT_SECONDS)
    except TypeError:  # a client without a timeout setting
        return None


def price_ids(settings: Settings) -> dict[str, str]:
    """tier → configured Stripe price id (only the tiers that have one)."""
    configured = {"pro": settings.stripe_price_pro, "enterprise": settings.stripe_price_enterprise}
    return {tier: price.strip() for tier, price in configured.items() if price and price.strip()}


def tiers_by_price(settings: Settings) -> dict[str, str]:
    """price id → tier; an unknown price maps to nothing (never to a paid plan by accident)."""
    return {price: tier for tier, price in price_ids(settings).items()}


def _require_client(client: stripe.StripeClient | None) -> stripe.StripeClient:
    if client is None:
        raise BillingNotConfigured(
            "Billing is not configured on this server: its operator has not set STRIPE_SECRET_KEY"
        )
    return client


def _stripe_failed(error: stripe.StripeError, doing: str) -> StripeUnavailable:
    log.warning(
        "stripe %s failed: %s (status %s, request %s)",
        doing,
        error.__class__.__name__,
        error.http_status,
        getattr(error, "request_id", None),
    )
    return StripeUnavailable(f"Stripe could not {doing} just now; try again in a moment")


def _locked_organization(session: Session, scope: OrgScope) -> Organization:
    # organizations is the tenant root: the scope's id is the row's own key.
    org = session.scalar(
        select(Organization).where(Organization.id == scope.organization_id).with_for_update()
    )
    if org is None:
        raise LookupError("organization no longer exists")
    return org


def ensure_customer(
    session: Session, scope: OrgScope, client: stripe.StripeClient, *, email: str | None
) -> str:
    """The organization's Stripe customer id, creating the customer the first time (row locked, so two
    concurrent checkouts do not make two customers; Stripe's idempotency key covers a retry)."""
    org = _locked_organization(session, scope)
    if org.stripe_customer_id:
        return org.stripe_customer_id
    params: dict[str, Any] = {"name": org.name, "metadata": {"organization_id": str(org.id)}}
    if email:
        params["email"] = email
    try:
        customer = client.v1.customers.create(
            params,  # type: ignore[arg-type]
            {"idempotency_key": f"altaviz-customer-{org.id}"},
        )
    except stripe.StripeError as error:
        raise _stripe_failed(error, "create the customer") from None
    org.stripe_customer_id = customer.id
    session.flush()
    return customer.id


def start_checkout(
    session: Session,
    scope: OrgScope,
    client: stripe.StripeClient | None,
    settings: Settings,
    *,
    tier: str,
    email: str | None,
    base_url: str,
) -> tuple[str, str]:
    """A hosted Checkout session subscribing the organization to `tier`; returns (id, url)."""
    client = _require_client(client)
    if tier not in PAID_TIERS:
        raise ValueError(f"choose a paid plan: {', '.join(PAID_TIERS)}")
    price = price_ids(settings).get(tier)
    if price is None:
        name = plan_for(tier).name
        raise BillingNotConfigured(
            f"Billing is not configured for the {name} plan on this server: "
            f"its operator has not set STRIPE_PRICE_ID_{tier.upper()}"
        )
    org = _locked_organization(session, scope)
    if org.subscription_tier in PAID_TIERS and org.subscription_status in LIVE_STATUSES:
        raise Conflict(
            f"Your organization already has a {plan_for(org.subscription_tier).name} subscription; "
            "change or cancel it in the billing portal"
        )
    customer = ensure_customer(session, scope, client, email=email)
    metadata = {"organization_id": str(scope.organization_id), "plan": tier}
    params: dict[str, Any] = {
        "mode": "subscription",
        "customer": customer,
        "client_reference_id": str(scope.organization_id),
        "line_items": [{"price": price, "quantity": 1}],
        "metadata": metadata,
        "subscription_data": {"metadata": metadata},
        "success_url": f"{base_url}{BILLING_PAGE}?checkout=success&session_id={{CHECKOUT_SESSION_ID}}",
        "cancel_url": f"{base_url}{BILLING_PAGE}?checkout=canceled",
    }
    try:
        checkout = client.v1.checkout.sessions.create(params)  # type: ignore[arg-type]
    except stripe.StripeError as error:
        raise _stripe_failed(error, "start the checkout") from None
    if not checkout.url:
        raise StripeUnavailable("Stripe did not return a checkout address; try again in a moment")
    return checkout.id, checkout.url


def open_portal(
    session: Session, scope: OrgScope, client: stripe.StripeClient | None, *, base_url: str
) -> str:
    """A customer-portal session (payment method, invoices, plan change, cancellation); its URL."""
    client = _require_client(client)
    org = session.get(Organization, scope.organization_id)
    if org is None or not org.stripe_customer_id:
        raise Conflict("Your organization has no Stripe subscription yet: subscribe to a plan first")
    params = {"customer": org.stripe_customer_id, "return_url": f"{base_url}{BILLING_PAGE}"}
    try:
        portal = client.v1.billing_portal.sessions.create(params)  # type: ignore[arg-type]
    except stripe.StripeError as error:
        raise _stripe_failed(error, "open the billing portal") from None
    return str(portal.url)


def plan_out(plan: Plan) -> PlanOut:
    return PlanOut(**{**asdict(plan), "windows": list(plan.windows)})


def overview(session: Session, scope: OrgScope, settings: Settings, *, events: int = 10) -> BillingOverview:
    """The plan, its limits against what the organization uses, Stripe linkage and recent events."""
    org = session.get(Organization, scope.organization_id)
    if org is None:
        raise LookupError("organization no longer exists")
    plan = plan_for(org.subscription_tier)
    order = compressor_order(session, scope.organization_id)
    limit = plan.max_compressors
    over = order[limit:] if limit is not None else []
    held = list(
        session.scalars(
            scoped(select(PlanLimitQuarantine), scope, PlanLimitQuarantine).order_by(
                PlanLimitQuarantine.compressor_id
            )
        )
    )
    quarantined = [
        QuarantinedCompressor(
            compressor_id=row.compressor_id, readings=row.readings, first_at=row.first_at, last_at=row.last_at
        )
        for row in held
    ]
    recent = session.scalars(
        scoped(select(BillingEvent), scope, BillingEvent)
        .order_by(BillingEvent.created_at.desc(), BillingEvent.id)
        .limit(events)
    )
    notices = _notices(plan, org, over, quarantined)
    return BillingOverview(
        plan=plan_out(plan),
        subscription_status=org.subscription_status,
        plans=[plan_out(p) for p in PLANS.values()],
        usage=CompressorUsage(
            compressors=len(order),
            max_compressors=limit,
            over_limit=over,
            quarantined=quarantined,
        ),
        stripe=StripeLink(
            configured=stripe_client(settings) is not None,
            purchasable=[t for t in price_ids(settings) if t in PAID_TIERS],
            customer=org.stripe_customer_id is not None,
            subscription_id=org.stripe_subscription_id,
        ),
        notices=notices,
        recent_events=[BillingEventOut.model_validate(event) for event in recent],
    )


def _notices(
    plan: Plan, org: Organization, over: list[str], quarantined: list[QuarantinedCompressor]
) -> list[str]:
    notices = []
    held = sorted(set(over) | {q.compressor_id for q in quarantined})
    if held and plan.max_compressors is not None:
        readings = sum(q.readings for q in quarantined)
        shown = ", ".join(held[:10]) + (f" and {len(held) - 10} more" if len(held) > 10 else "")
        needed = plan.max_compressors + len(held)
        bigger = [p.name for p in PLANS.values() if p.max_compressors is None or p.max_compressors >= needed]
        notices.append(
            f"Your {plan.name} plan covers {plan.max_compressors} compressors; readings of {shown} are "
            f"quarantined (plan limit){f', {readings:,} so far' if readings else ''}. "
            f"Upgrade to {' or '.join(bigger) or 'a larger plan'} to monitor them."
        )
    if org.subscription_status == "past_due":
        notices.append(
            "The last payment failed: update the payment method in the billing portal. "
            f"Your {plan.name} plan stays active while Stripe retries the payment."
        )
    if org.subscription_status == "canceled" and org.subscription_tier == "free":
        notices.append(
            "Your subscription was canceled; the organization is on the Free plan "
            f"(API access needs {plans_with('api_access')})."
        )
    return notices
