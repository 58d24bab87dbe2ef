"""Checkout and customer-portal sessions against a local stub of the Stripe API: what we send, who may
ask, and what happens without Stripe configured or when Stripe refuses."""

from collections.abc import Callable, Iterator

import pytest
from fastapi import FastAPI
from sqlalchemy import select, update

from altaviz.accounts.audit import AuditLog
from altaviz.accounts.models import Organization
from altaviz.accounts.roles import Role
from altaviz.config import Settings
from altaviz.db.session import session_scope
from altaviz.server import create_app
from tests.api.world import SeededOrg, close_clients, key_client, member_client, seed_organization
from tests.billing.stripe_stub import StripeStub, running_stub

SECRET_KEY = "sk_test_altaviz_0123456789"
PRO, ENTERPRISE = "price_pro_test", "price_enterprise_test"


@pytest.fixture
def stub() -> Iterator[StripeStub]:
    with running_stub() as running:
        yield running


@pytest.fixture
def stripe_app(settings_factory: Callable[..., Settings], stub: StripeStub) -> Iterator[FastAPI]:
    application = create_app(
        settings_factory(
            stripe_secret_key=SECRET_KEY,
            stripe_api_base=stub.url,
            stripe_price_pro=PRO,
            stripe_price_enterprise=ENTERPRISE,
            public_url="https://ops.example.com",
        )
    )
    yield application
    close_clients()
    application.state.engine.dispose()


@pytest.fixture
def free_org(stripe_app: FastAPI) -> SeededOrg:
    return seed_organization(stripe_app.state.engine, "alpha", "Alpha", tier="free")


def test_checkout_creates_the_customer_once_and_a_subscription_session(
    stripe_app: FastAPI, stub: StripeStub, free_org: SeededOrg
) -> None:
    admin = member_client(stripe_app, free_org.users[Role.ADMIN])
    response = admin.post("/api/billing/checkout", json={"plan": "pro"})
    assert response.status_code == 200, response.text
    assert response.json() == {"id": "cs_test_stub", "url": "https://checkout.stripe.test/c/pay/cs_test_stub"}

    (customer,) = stub.calls("/v1/customers")
    assert customer.headers["authorization"] == f"Bearer {SECRET_KEY}"
    assert customer.headers["idempotency-key"] == f"altaviz-customer-{free_org.id}"
    assert customer.form["email"] == free_org.emails[Role.ADMIN]
    assert customer.form["name"] == "Alpha Gas"
    assert customer.form["metadata[organization_id]"] == str(free_org.id)

    (session,) = stub.calls("/v1/checkout/sessions")
    form = session.form
    assert session.headers["authorization"] == f"Bearer {SECRET_KEY}"
    assert form["mode"] == "subscription" and form["customer"] == "cus_stub_1"
    assert form["line_items[0][price]"] == PRO and form["line_items[0][quantity]"] == "1"
    assert form["client_reference_id"] == str(free_org.id)
    assert form["metadata[organization_id]"] == str(free_org.id) and form["metadata[plan]"] == "pro"
    assert form["subscription_data[metadata][organization_id]"] == str(free_org.id)
    assert form["success_url"].startswith("https://ops.example.com/settings/billing?checkout=success")
    assert "{CHECKOUT_SESSION_ID}" in form["success_url"]
    assert form["cancel_url"] == "https://ops.example.com/settings/billing?checkout=canceled"

    with session_scope(stripe_app.state.engine) as db:
        org = db.get(Organization, free_org.id)
        assert org is not None and org.stripe_customer_id == "cus_stub_1"
        assert org.subscription_tier == "free"  # only the webhook changes the plan
        audit = db.scalars(select(AuditLog).where(AuditLog.action == "billing.checkout_started")).one()
        assert audit.actor_id == str(free_org.users[Role.ADMIN]) and audit.details == {
            "plan": "pro",
            "checkout_session": "cs_test_stub",
        }

    again = member_client(stripe_app, free_org.users[Role.OWNER]).post(
        "/api/billing/checkout", json={"plan": "enterprise"}
    )
    assert again.status_code == 200
    assert len(stub.calls("/v1/customers")) == 1  # the customer is reused
    assert stub.calls("/v1/checkout/sessions")[1].form["line_items[0][price]"] == ENTERPRISE


def test_only_admins_signed_in_may_open_billing(
    stripe_app: FastAPI, stub: StripeStub, free_org: SeededOrg
) -> None:
    for role in (Role.VIEWER, Role.OPERATOR):
        client = member_client(stripe_app, free_org.users[role])
        for path in ("/api/billing/checkout", "/api/billing/portal"):
            response = client.post(path, json={"plan": "pro"} if path.endswith("checkout") else None)
            assert response.status_code == 403, (role, path, response.text)
            assert "Admin access required" in response.json()["error"]
        assert client.get("/api/billing").status_code == 403
    bad_plan = member_client(stripe_app, free_org.users[Role.ADMIN]).post(
        "/api/billing/checkout", json={"plan": "free"}
    )
    assert bad_plan.status_code == 422
    assert stub.requests == []


def test_an_organization_with_a_subscription_uses_the_portal(
    stripe_app: FastAPI, stub: StripeStub, free_org: SeededOrg
) -> None:
    admin = member_client(stripe_app, free_org.users[Role.ADMIN])
    no_customer = admin.post("/api/billing/portal")
    assert no_customer.status_code == 409 and "subscribe to a plan first" in no_customer.json()["error"]

    with session_scope(stripe_app.state.engine) as db:
        db.execute(
            update(Organization)
            .where(Organization.id == free_org.id)
            .values(subscription_tier="pro", subscription_status="active", stripe_customer_id="cus_known")
        )
    twice = admin.post("/api/billing/checkout", json={"plan": "enterprise"})
    assert twice.status_code == 409 and "billing portal" in twice.json()["error"]

    portal = admin.post("/api/billing/portal")
    assert portal.status_code == 200, portal.text
    assert portal.json() == {"url": "https://billing.stripe.test/p/session/bps_stub"}
    (call,) = stub.calls("/v1/billing_portal/sessions")
    assert call.form == {"customer": "cus_known", "return_url": "https://ops.example.com/settings/billing"}
    assert stub.calls("/v1/checkout/sessions") == []


def test_stripe_refusing_answers_502_and_changes_nothing(
    stripe_app: FastAPI, stub: StripeStub, free_org: SeededOrg
) -> None:
    stub.fail_with = 400
    response = member_client(stripe_app, free_org.users[Role.ADMIN]).post(
        "/api/billing/checkout", json={"plan": "pro"}
    )
    assert response.status_code == 502, response.text
    assert response.json()["code"] == "stripe_unavailable"
    assert SECRET_KEY not in response.text
    with session_scope(stripe_app.state.engine) as db:
        org = db.get(Organization, free_org.id)
        assert org is not None and org.stripe_customer_id is None
        assert db.scalars(select(AuditLog).where(AuditLog.action.startswith("billing."))).all() == []


def test_without_stripe_billing_answers_503_and_the_rest_works(app: FastAPI, org_a: SeededOrg) -> None:
    admin = member_client(app, org_a.users[Role.ADMIN])
    for path, body in (("/api/billing/checkout", {"plan": "pro"}), ("/api/billing/portal", None)):
        response = admin.post(path, json=body)
        assert response.status_code == 503, response.text
        assert response.json()["error"].startswith("Billing is not configured")
        assert response.json()["code"] == "billing_not_configured"
    overview = admin.get("/api/billing")
    assert overview.status_code == 200 and overview.json()["stripe"]["configured"] is False
    assert admin.get("/api/fleet").status_code == 200
    assert admin.get("/api/alerts").status_code == 200


def test_a_plan_without_a_price_is_not_for_sale(
    settings_factory: Callable[..., Settings], stub: StripeStub
) -> None:
    application = create_app(settings_factory(stripe_secret_key=SECRET_KEY, stripe_api_base=stub.url))
    try:
        org = seed_organization(application.state.engine, "alpha", "Alpha", tier="free")
        response = member_client(application, org.users[Role.ADMIN]).post(
            "/api/billing/checkout", json={"plan": "pro"}
        )
        assert response.status_code == 503 and "STRIPE_PRICE_ID_PRO" in response.json()["error"]
        assert stub.requests == []
    finally:
        close_clients()
        application.state.engine.dispose()


def test_api_keys_cannot_open_checkout(stripe_app: FastAPI, stub: StripeStub) -> None:
    org = seed_organization(stripe_app.state.engine, "bravo", "Bravo", tier="pro")
    response = key_client(stripe_app, org.api_keys[Role.ADMIN]).post(
        "/api/billing/checkout", json={"plan": "pro"}
    )
    assert response.status_code == 403
    assert stub.requests == []


def test_overview_shows_plan_usage_and_events(stripe_app: FastAPI, free_org: SeededOrg) -> None:
    body = member_client(stripe_app, free_org.users[Role.ADMIN]).get("/api/billing").json()
    assert body["plan"]["tier"] == "free" and body["plan"]["max_compressors"] == 2
    assert body["usage"]["compressors"] == 4 and body["usage"]["max_compressors"] == 2
    assert len(body["usage"]["over_limit"]) == 2
    assert body["stripe"] == {
        "configured": True,
        "purchasable": ["pro", "enterprise"],
        "customer": False,
        "subscription_id": None,
    }
    assert any("plan limit" in notice for notice in body["notices"])
    assert [plan["tier"] for plan in body["plans"]] == ["free", "pro", "enterprise"]
