"""Billing: the plan overview, Stripe checkout and portal sessions (admins), and Stripe's webhooks."""

from typing import Any

import stripe
from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.exc import IntegrityError

from altaviz.accounts.auditing import audit_action
from altaviz.accounts.dependencies import Admin, DbSession, MemberSession, begin_write, release
from altaviz.api.errors import ApiError, ErrorBody, error_responses
from altaviz.billing import service, webhooks
from altaviz.billing.schemas import BillingOverview, CheckoutOut, CheckoutRequest, PortalOut, WebhookAck

router = APIRouter(tags=["billing"])
_UNSET = object()


def stripe_client_of(request: Request) -> stripe.StripeClient | None:
    """The service's Stripe client (built once from the settings; None without STRIPE_SECRET_KEY)."""
    client: Any = getattr(request.app.state, "stripe_client", _UNSET)
    if client is _UNSET:
        client = service.stripe_client(request.app.state.settings)
        request.app.state.stripe_client = client
    return client  # type: ignore[no-any-return]


def base_url(request: Request) -> str:
    configured: str | None = request.app.state.settings.public_url
    return configured or str(request.base_url).rstrip("/")


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def _billing_errors(error: Exception) -> ApiError:
    if isinstance(error, service.BillingNotConfigured):
        return ApiError(503, str(error), "billing_not_configured")
    return ApiError(502, str(error), "stripe_unavailable")


_STRIPE_RESPONSES: dict[int | str, dict[str, Any]] = {
    502: {"model": ErrorBody, "description": "Stripe refused the request or could not be reached."},
    503: {
        "model": ErrorBody,
        "description": "Billing is not configured on this server, or the database is down.",
    },
}


@router.get(
    "/billing",
    response_model=BillingOverview,
    responses=error_responses(401, 403, 429, 503),
    summary="Plan, limits and usage, Stripe status and recent billing events (admin)",
)
def billing_overview(principal: Admin, db: DbSession, request: Request) -> BillingOverview:
    answer = service.overview(db, principal.scope, request.app.state.settings)
    release(db)
    return answer


@router.post(
    "/billing/checkout",
    response_model=CheckoutOut,
    responses={**error_responses(401, 403, 409, 422, 429), **_STRIPE_RESPONSES},
    summary="Start a Stripe Checkout to subscribe to Pro or Enterprise (admin); send the browser to `url`",
)
def checkout(
    body: CheckoutRequest, principal: Admin, member: MemberSession, db: DbSession, request: Request
) -> CheckoutOut:
    client = stripe_client_of(request)
    begin_write(db)
    try:
        session_id, url = service.start_checkout(
            db,
            principal.scope,
            client,
            request.app.state.settings,
            tier=body.plan,
            email=principal.email,
            base_url=base_url(request),
        )
    except (service.BillingNotConfigured, service.StripeUnavailable) as error:
        db.rollback()
        raise _billing_errors(error) from None
    audit_action(
        db,
        principal,
        "billing.checkout_started",
        target_type="organization",
        target_id=principal.organization.id,
        ip=client_ip(request),
        details={"plan": body.plan, "checkout_session": session_id},
    )
    db.commit()
    return CheckoutOut(id=session_id, url=url)


@router.post(
    "/billing/portal",
    response_model=PortalOut,
    responses={**error_responses(401, 403, 409, 429), **_STRIPE_RESPONSES},
    summary="Open the Stripe customer portal (admin): payment method, invoices, plan change, cancellation",
)
def portal(principal: Admin, member: MemberSession, db: DbSession, request: Request) -> PortalOut:
    client = stripe_client_of(request)
    begin_write(db)
    try:
        url = service.open_portal(db, principal.scope, client, base_url=base_url(request))
    except (service.BillingNotConfigured, service.StripeUnavailable) as error:
        db.rollback()
        raise _billing_errors(error) from None
    audit_action(
        db,
        principal,
        "billing.portal_opened",
        target_type="organization",
        target_id=principal.organization.id,
        ip=client_ip(request),
    )
    db.commit()
    return PortalOut(url=url)


@router.post(
    "/stripe/webhooks",
    response_model=WebhookAck,
    responses={
        400: {
            "model": ErrorBody,
            "description": "Missing or invalid Stripe-Signature (or its timestamp more than 300 s away). "
            "A validly signed body that is not an event Altaviz can take answers 200 with outcome "
            "`refused` and the reason (recorded in billing_events), so Stripe stops retrying it.",
        },
        503: {
            "model": ErrorBody,
            "description": "STRIPE_WEBHOOK_SECRET is not set, or the database is down.",
        },
    },
    summary="Stripe webhook endpoint (signed by Stripe; no session)",
)
async def stripe_webhook(request: Request, db: DbSession) -> WebhookAck:
    payload = await request.body()  # the raw bytes: the signature covers them exactly
    settings = request.app.state.settings
    secret = settings.stripe_webhook_secret.get_secret_value() if settings.stripe_webhook_secret else None
    try:
        event = webhooks.verify(payload, request.headers.get("stripe-signature"), secret)
    except webhooks.WebhookNotConfigured as error:
        raise ApiError(503, str(error), "webhooks_not_configured") from None
    except webhooks.WebhookRejected as error:
        raise ApiError(400, str(error), "invalid_signature") from None
    if isinstance(event, webhooks.Refusal):
        result = await run_in_threadpool(_refuse, db, event)
    else:
        result = await run_in_threadpool(_process, db, event, service.tiers_by_price(settings))
    return WebhookAck(duplicate=result.duplicate, outcome=result.outcome, detail=result.detail)


def _refuse(db: DbSession, refusal: webhooks.Refusal) -> webhooks.WebhookResult:
    begin_write(db)
    try:
        result = webhooks.record_refusal(db, refusal)
        db.commit()
    except IntegrityError:  # the same body, delivered twice at once
        db.rollback()
        release(db)
        return webhooks.WebhookResult(refusal.event_id or "", "", "refused", None, duplicate=True)
    return result


def _process(db: DbSession, event: dict[str, Any], tiers: dict[str, str]) -> webhooks.WebhookResult:
    begin_write(db)
    try:
        result = webhooks.process(db, event, tiers)
        db.commit()
    except IntegrityError:
        # the same event, delivered twice at once, was recorded by the other delivery
        db.rollback()
        if not webhooks.already_recorded(db, event["id"]):
            raise
        release(db)
        return webhooks.WebhookResult(event["id"], event["type"], "duplicate", None, duplicate=True)
    return result
