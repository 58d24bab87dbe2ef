"""The plan chosen on the pricing page carries through sign-up (issue 17 item 9): "Start with Pro" leads
to Pro's Stripe checkout (a local stub of the Stripe API here), or — without Stripe — to a page that
says billing is not configured, never silently to a Free organization that looks like the choice."""

import re
from collections.abc import Callable, Iterator

import pytest
from fastapi import FastAPI
from sqlalchemy import select

from altaviz.accounts.audit import AuditLog
from altaviz.accounts.models import Organization
from altaviz.config import Settings
from altaviz.server import create_app
from tests.api.world import PASSWORD, anonymous_client, close_clients
from tests.billing.stripe_stub import StripeStub, running_stub

PRO, ENTERPRISE = "price_pro_signup", "price_enterprise_signup"


@pytest.fixture
def stub() -> Iterator[StripeStub]:
    with running_stub() as running:
        yield running


@pytest.fixture
def stripe_app(settings_factory: Callable[..., Settings], stub: StripeStub) -> Iterator[FastAPI]:
    application = create_app(
        settings_factory(
            stripe_secret_key="sk_test_signup_0123456789",
            stripe_api_base=stub.url,
            stripe_price_pro=PRO,
            stripe_price_enterprise=ENTERPRISE,
            public_url="https://ops.example.com",
        )
    )
    yield application
    close_clients()
    application.state.engine.dispose()


def _form(email: str, plan: str | None) -> dict[str, str]:
    form = {"email": email, "password": PASSWORD, "name": "Nia", "company": f"Co {email.split('@')[0]}"}
    if plan is not None:
        form["plan"] = plan
    return form


def test_the_pricing_page_links_each_paid_plan_to_its_own_sign_up(app: FastAPI) -> None:
    client = anonymous_client(app)
    for path in ("/pricing", "/"):
        html = client.get(path).text
        links = {
            text: href for href, text in re.findall(r'href="([^"]+)"[^>]*>(Start (?:with \w+|free))<', html)
        }
        assert links == {
            "Start with Pro": "/signup?plan=pro",
            "Start with Enterprise": "/signup?plan=enterprise",
            "Start free": "/signup",
        }, (path, links)
    page = client.get("/signup?plan=enterprise").text
    assert 'name="plan" value="enterprise"' in page
    assert "Enterprise" in page and "checkout" in page
    free = client.get("/signup").text
    assert 'name="plan"' not in free and "Free plan" in free
    unknown = client.get("/signup?plan=platinum").text
    assert 'name="plan"' not in unknown


def test_start_with_pro_signs_up_and_goes_to_pros_checkout(stripe_app: FastAPI, stub: StripeStub) -> None:
    client = anonymous_client(stripe_app)
    response = client.post("/signup", data=_form("pro@example.com", "pro"), follow_redirects=False)
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "https://checkout.stripe.test/c/pay/cs_test_stub"
    (session,) = stub.calls("/v1/checkout/sessions")
    assert session.form["line_items[0][price]"] == PRO
    assert session.form["mode"] == "subscription"
    # Signed in: coming back from Stripe lands in the organization's billing section.
    back = client.get("/settings/billing?checkout=canceled")
    assert back.status_code == 200 and "Checkout canceled" in back.text
    with stripe_app.state.session_factory() as db:
        org = db.scalar(select(Organization).where(Organization.name == "Co pro"))
        assert org is not None and org.stripe_customer_id == "cus_stub_1"
        actions = set(db.scalars(select(AuditLog.action).where(AuditLog.organization_id == org.id)))
    assert {"auth.signup", "billing.checkout_started"} <= actions


def test_start_with_enterprise_goes_to_enterprises_checkout(stripe_app: FastAPI, stub: StripeStub) -> None:
    client = anonymous_client(stripe_app)
    response = client.post("/signup", data=_form("ent@example.com", "enterprise"), follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("https://checkout.stripe.test/")
    (session,) = stub.calls("/v1/checkout/sessions")
    assert session.form["line_items[0][price]"] == ENTERPRISE


def test_without_stripe_the_choice_is_answered_billing_is_not_configured(app: FastAPI) -> None:
    client = anonymous_client(app)
    response = client.post("/signup", data=_form("nostripe@example.com", "pro"), follow_redirects=False)
    assert response.status_code == 303
    target = response.headers["location"]
    assert target.startswith("/dashboard/settings") and target.endswith("#billing")
    page = client.get(target).text
    notice = re.search(r'<p class="notice[^"]*"[^>]*>(.*?)</p>', page, re.S)
    assert notice is not None
    assert "Pro" in notice.group(1) and "billing is not configured" in notice.group(1).lower()
    assert "Free" in notice.group(1)


def test_when_stripe_refuses_the_account_exists_and_the_page_says_why(
    stripe_app: FastAPI, stub: StripeStub
) -> None:
    stub.fail_with = 400
    client = anonymous_client(stripe_app)
    response = client.post("/signup", data=_form("refused@example.com", "pro"), follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/dashboard/settings")
    page = client.get(response.headers["location"]).text
    assert "Stripe" in page and "Pro" in page


def test_free_sign_up_and_unknown_plans_go_to_the_dashboard(stripe_app: FastAPI, stub: StripeStub) -> None:
    client = anonymous_client(stripe_app)
    free = client.post("/signup", data=_form("free@example.com", None), follow_redirects=False)
    assert free.headers["location"] == "/dashboard"
    odd = anonymous_client(stripe_app).post(
        "/signup", data=_form("odd@example.com", "platinum"), follow_redirects=False
    )
    assert odd.headers["location"] == "/dashboard"
    assert stub.calls("/v1/checkout/sessions") == []


def test_signed_in_the_paid_plans_lead_to_the_billing_section(app: FastAPI) -> None:
    client = anonymous_client(app)
    client.post("/signup", data=_form("member@example.com", None), follow_redirects=False)
    html = client.get("/pricing").text
    links = {text: href for href, text in re.findall(r'href="([^"]+)"[^>]*>(Start (?:with \w+|free))<', html)}
    assert links["Start with Pro"] == "/dashboard/settings#billing"
    assert links["Start with Enterprise"] == "/dashboard/settings#billing"
    assert links["Start free"] == "/dashboard"
