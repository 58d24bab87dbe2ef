"""Stripe webhooks, signed with the test secret and verified by the stripe library itself: signature
edges, recording once, replays, out-of-order delivery, payment failure, unknown events."""

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import stripe
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text

from altaviz.accounts.audit import AuditLog
from altaviz.accounts.models import Organization
from altaviz.accounts.roles import Role
from altaviz.billing.models import BillingEvent
from altaviz.config import Settings
from altaviz.db.session import session_scope
from altaviz.server import create_app
from tests.api.conftest import STRIPE_WEBHOOK_SECRET
from tests.api.world import BASE_URL, SeededOrg, close_clients, key_client, open_client, seed_organization

PRO, ENTERPRISE = "price_pro_test", "price_enterprise_test"
CUSTOMER = "cus_alpha"
T0 = 1_790_000_000  # event `created` times: only their order matters


@pytest.fixture
def billing_app(settings_factory: Callable[..., Settings]) -> Iterator[FastAPI]:
    application = create_app(settings_factory(stripe_price_pro=PRO, stripe_price_enterprise=ENTERPRISE))
    yield application
    close_clients()
    application.state.engine.dispose()


@pytest.fixture
def stripe_client(billing_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(billing_app, base_url=BASE_URL) as test_client:
        yield test_client


@pytest.fixture
def free_org(billing_app: FastAPI) -> SeededOrg:
    seeded = seed_organization(billing_app.state.engine, "alpha", "Alpha", tier="free")
    with session_scope(billing_app.state.engine) as db:
        org = db.get(Organization, seeded.id)
        assert org is not None
        org.stripe_customer_id = CUSTOMER
    return seeded


def event(kind: str, obj: dict[str, Any], created: int, event_id: str | None = None) -> dict[str, Any]:
    return {
        "id": event_id or f"evt_{uuid.uuid4().hex[:20]}",
        "object": "event",
        "api_version": "2025-10-29.clover",
        "type": kind,
        "created": created,
        "livemode": False,
        "data": {"object": obj},
    }


def subscription(sub_id: str, status: str, price: str, customer: str = CUSTOMER) -> dict[str, Any]:
    return {
        "id": sub_id,
        "object": "subscription",
        "customer": customer,
        "status": status,
        "items": {"object": "list", "data": [{"id": "si_1", "price": {"id": price, "object": "price"}}]},
        "metadata": {},
    }


def checkout(org: SeededOrg, sub_id: str, plan: str) -> dict[str, Any]:
    return {
        "id": "cs_test_1",
        "object": "checkout.session",
        "mode": "subscription",
        "customer": CUSTOMER,
        "subscription": sub_id,
        "client_reference_id": str(org.id),
        "metadata": {"organization_id": str(org.id), "plan": plan},
        "payment_status": "paid",
        "amount_total": 4900,
        "currency": "usd",
    }


def invoice(sub_id: str) -> dict[str, Any]:
    return {
        "id": "in_1",
        "object": "invoice",
        "customer": CUSTOMER,
        "subscription": sub_id,
        "amount_due": 4900,
        "currency": "usd",
    }


def post(
    client: TestClient,
    evt: dict[str, Any],
    *,
    secret: str = STRIPE_WEBHOOK_SECRET,
    timestamp: int | None = None,
    body: str | None = None,
    header: str | None = None,
) -> Any:
    payload = json.dumps(evt)
    signature = header or stripe.WebhookSignature.generate_signature_header(payload, secret, timestamp)
    return client.post(
        "/api/stripe/webhooks",
        content=body if body is not None else payload,
        headers={"Stripe-Signature": signature, "Content-Type": "application/json"},
    )


def plan_of(app: FastAPI, org: SeededOrg) -> tuple[str, str, int | None]:
    with session_scope(app.state.engine) as db:
        row = db.get(Organization, org.id)
        assert row is not None
        return row.subscription_tier, row.subscription_status, row.max_compressors


def recorded(app: FastAPI) -> list[BillingEvent]:
    with session_scope(app.state.engine) as db:
        return list(
            db.scalars(select(BillingEvent).order_by(BillingEvent.stripe_created_at, BillingEvent.id))
        )


def test_signature_is_verified_on_the_raw_body(
    billing_app: FastAPI, stripe_client: TestClient, free_org: SeededOrg
) -> None:
    evt = event("customer.subscription.updated", subscription("sub_1", "active", PRO), T0)
    payload = json.dumps(evt)
    now = int(time.time())
    refused = {
        "tampered body": post(stripe_client, evt, body=payload.replace(PRO, ENTERPRISE)),
        "re-serialised body": post(stripe_client, evt, body=json.dumps(evt, indent=2)),
        "wrong secret": post(stripe_client, evt, secret="whsec_someone_else"),
        "expired timestamp": post(stripe_client, evt, timestamp=now - 301),
        "no v1 signature": post(stripe_client, evt, header=f"t={now},v0=abc"),
        "garbage header": post(stripe_client, evt, header="nonsense"),
    }
    missing = stripe_client.post("/api/stripe/webhooks", content=payload)
    for name, response in [*refused.items(), ("missing header", missing)]:
        assert response.status_code == 400, (name, response.text)
        assert response.json()["code"] == "invalid_signature", name
    assert recorded(billing_app) == []
    assert plan_of(billing_app, free_org)[0] == "free"

    accepted = post(stripe_client, evt, timestamp=now - 290)  # inside the 300 s tolerance
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["outcome"] == "applied"
    assert plan_of(billing_app, free_org) == ("pro", "active", 20)


def _signed(client: TestClient, body: str, timestamp: int | None = None) -> Any:
    header = stripe.WebhookSignature.generate_signature_header(body, STRIPE_WEBHOOK_SECRET, timestamp)
    return client.post(
        "/api/stripe/webhooks",
        content=body,
        headers={"Stripe-Signature": header, "Content-Type": "application/json"},
    )


def _checkout_body(org: SeededOrg, **changes: Any) -> str:
    evt = event("checkout.session.completed", checkout(org, "sub_1", "pro"), T0)
    obj = evt["data"]["object"]
    for name, value in changes.items():
        (obj if name == "amount_total" else evt)[name] = value
    return json.dumps(evt)


def test_signed_bodies_that_are_not_usable_events_are_recorded_as_refused_and_answered_200(
    billing_app: FastAPI, stripe_client: TestClient, free_org: SeededOrg
) -> None:
    bodies = {
        "not an object": ("[1,2,3]", "JSON list"),
        "no event": (json.dumps({"hello": "world"}), "event id"),
        "300-char id": (_checkout_body(free_org, id="evt_" + "x" * 296), "300 characters"),
        "created 10^12": (_checkout_body(free_org, created=10**12), "1000000000000 is not a plausible time"),
        "amount 2^40": (_checkout_body(free_org, amount_total=2**40), "amount_total` 1099511627776"),
        "100,000 deep": ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        "not JSON": ("{nope", "not JSON"),
    }
    for name, (body, reason) in bodies.items():
        response = _signed(stripe_client, body)
        assert response.status_code == 200, (name, response.text)  # Stripe stops retrying on a 2xx
        answer = response.json()
        assert answer["outcome"] == "refused" and reason in answer["detail"], (name, answer)
        again = _signed(stripe_client, body)  # Stripe's retry of the same body: recorded once
        assert again.status_code == 200 and again.json()["duplicate"] is True, name
    rows = recorded(billing_app)
    assert len(rows) == len(bodies) and {row.outcome for row in rows} == {"refused"}
    assert all(row.detail and row.detail.startswith("refused: ") for row in rows)
    assert all(len(row.stripe_event_id) <= 255 for row in rows)
    assert plan_of(billing_app, free_org) == ("free", "active", 2)  # nothing was applied


def test_the_signature_tolerance_applies_both_ways(
    billing_app: FastAPI, stripe_client: TestClient, free_org: SeededOrg
) -> None:
    body = _checkout_body(free_org)
    now = int(time.time())
    for ahead in (600, 310):
        response = _signed(stripe_client, body, timestamp=now + ahead)
        assert response.status_code == 400, (ahead, response.text)
        assert response.json()["code"] == "invalid_signature" and "future" in response.json()["error"]
    assert recorded(billing_app) == [] and plan_of(billing_app, free_org)[0] == "free"
    accepted = _signed(stripe_client, body, timestamp=now + 240)  # a clock a little ahead: within 300 s
    assert accepted.status_code == 200 and accepted.json()["outcome"] == "applied", accepted.text


def test_checkout_upgrades_and_the_next_request_sees_the_plan(
    billing_app: FastAPI, stripe_client: TestClient, free_org: SeededOrg
) -> None:
    machine = key_client(billing_app, free_org.api_keys[Role.VIEWER])
    assert machine.get("/api/fleet").status_code == 403  # Free: no API access

    response = post(
        stripe_client, event("checkout.session.completed", checkout(free_org, "sub_1", "pro"), T0)
    )
    assert response.status_code == 200 and response.json()["outcome"] == "applied", response.text
    assert plan_of(billing_app, free_org) == ("pro", "active", 20)
    assert machine.get("/api/fleet").status_code == 200  # the same key, the very next request

    (row,) = recorded(billing_app)
    assert row.organization_id == free_org.id and row.event_type == "checkout.session.completed"
    assert row.amount_cents == 4900 and row.outcome == "applied" and row.stripe_subscription_id == "sub_1"
    assert "Free (active) → Pro (active)" in (row.detail or "")
    with session_scope(billing_app.state.engine) as db:
        audit = db.scalars(select(AuditLog).where(AuditLog.action == "billing.plan_changed")).one()
        assert audit.organization_id == free_org.id and audit.target_id == "sub_1"
        assert audit.actor_type == "system" and audit.details is not None
        assert audit.details["from_tier"] == "free" and audit.details["to_tier"] == "pro"
        # the runbook's diagnosis query
        rows = (
            db.execute(text("SELECT * FROM billing_events ORDER BY created_at DESC LIMIT 10"))
            .mappings()
            .all()
        )
        assert [r["event_type"] for r in rows] == ["checkout.session.completed"]
        assert rows[0]["outcome"] == "applied"


def test_replays_change_nothing(billing_app: FastAPI, stripe_client: TestClient, free_org: SeededOrg) -> None:
    upgrade = event("customer.subscription.updated", subscription("sub_1", "active", ENTERPRISE), T0)
    cancel = event("customer.subscription.deleted", subscription("sub_1", "canceled", ENTERPRISE), T0 + 60)
    assert post(stripe_client, upgrade).json()["outcome"] == "applied"
    assert plan_of(billing_app, free_org) == ("enterprise", "active", None)
    assert post(stripe_client, cancel).json()["outcome"] == "applied"
    assert plan_of(billing_app, free_org) == ("free", "canceled", 2)

    for _ in range(3):  # `stripe events resend`, Stripe's own retries
        again = post(stripe_client, upgrade)
        assert again.status_code == 200
        assert again.json()["duplicate"] is True
    assert plan_of(billing_app, free_org) == ("free", "canceled", 2)
    assert [r.stripe_event_id for r in recorded(billing_app)] == [upgrade["id"], cancel["id"]]


def test_an_older_event_never_rolls_the_organization_back(
    billing_app: FastAPI, stripe_client: TestClient, free_org: SeededOrg
) -> None:
    newer = event("customer.subscription.updated", subscription("sub_1", "active", ENTERPRISE), T0 + 200)
    older = event("customer.subscription.updated", subscription("sub_1", "active", PRO), T0 + 100)
    created = event("customer.subscription.created", subscription("sub_1", "incomplete", PRO), T0)
    assert post(stripe_client, newer).json()["outcome"] == "applied"
    assert post(stripe_client, older).json()["outcome"] == "stale"
    assert post(stripe_client, created).json()["outcome"] == "stale"
    assert plan_of(billing_app, free_org) == ("enterprise", "active", None)

    deleted = event("customer.subscription.deleted", subscription("sub_1", "canceled", ENTERPRISE), T0 + 300)
    assert post(stripe_client, deleted).json()["outcome"] == "applied"
    late_update = event(
        "customer.subscription.updated", subscription("sub_1", "active", ENTERPRISE), T0 + 250
    )
    assert post(stripe_client, late_update).json()["outcome"] == "stale"
    # same second as the cancellation: an update never undoes it
    tie = event("customer.subscription.updated", subscription("sub_1", "active", ENTERPRISE), T0 + 300)
    assert post(stripe_client, tie).json()["outcome"] == "stale"
    assert plan_of(billing_app, free_org) == ("free", "canceled", 2)
    outcomes = [(r.event_type, r.outcome) for r in recorded(billing_app)]
    assert len(outcomes) == 6 and outcomes.count(("customer.subscription.updated", "stale")) == 3


def test_checkout_arriving_after_the_subscription_update_does_not_undo_it(
    billing_app: FastAPI, stripe_client: TestClient, free_org: SeededOrg
) -> None:
    updated = event("customer.subscription.updated", subscription("sub_1", "past_due", PRO), T0 + 10)
    assert post(stripe_client, updated).json()["outcome"] == "applied"
    late_checkout = event("checkout.session.completed", checkout(free_org, "sub_1", "pro"), T0)
    assert post(stripe_client, late_checkout).json()["outcome"] == "stale"
    assert plan_of(billing_app, free_org) == ("pro", "past_due", 20)


def test_payment_failed_marks_past_due_and_keeps_the_plan(
    billing_app: FastAPI, stripe_client: TestClient, free_org: SeededOrg
) -> None:
    post(
        stripe_client, event("customer.subscription.created", subscription("sub_1", "active", ENTERPRISE), T0)
    )
    failed = post(stripe_client, event("invoice.payment_failed", invoice("sub_1"), T0 + 100))
    assert failed.json()["outcome"] == "applied", failed.text
    assert plan_of(billing_app, free_org) == ("enterprise", "past_due", None)
    overview = _admin(billing_app, free_org).get("/api/billing").json()
    assert any("payment failed" in notice for notice in overview["notices"])

    paid = event("customer.subscription.updated", subscription("sub_1", "active", ENTERPRISE), T0 + 200)
    assert post(stripe_client, paid).json()["outcome"] == "applied"
    old_failure = post(stripe_client, event("invoice.payment_failed", invoice("sub_1"), T0 + 150))
    assert old_failure.json()["outcome"] == "stale"
    assert plan_of(billing_app, free_org) == ("enterprise", "active", None)
    amounts = [r.amount_cents for r in recorded(billing_app) if r.event_type == "invoice.payment_failed"]
    assert amounts == [4900, 4900]


def test_unknown_types_customers_and_prices_are_recorded_and_ignored(
    billing_app: FastAPI, stripe_client: TestClient, free_org: SeededOrg
) -> None:
    unknown_type = post(stripe_client, event("charge.refunded", {"id": "ch_1", "object": "charge"}, T0))
    assert unknown_type.status_code == 200 and unknown_type.json()["outcome"] == "ignored"
    stranger = subscription("sub_9", "active", PRO, customer="cus_nobody")
    assert (
        post(stripe_client, event("customer.subscription.updated", stranger, T0)).json()["outcome"]
        == "ignored"
    )
    odd_price = subscription("sub_1", "active", "price_from_the_dashboard")
    odd = post(stripe_client, event("customer.subscription.updated", odd_price, T0))
    assert odd.json()["outcome"] == "ignored" and "price_from_the_dashboard" in odd.json()["detail"]
    assert plan_of(billing_app, free_org)[0] == "free"
    rows = recorded(billing_app)
    assert [r.outcome for r in rows] == ["ignored", "ignored", "ignored"]
    assert {r.organization_id for r in rows} == {None, free_org.id}


def test_cancelling_a_replaced_subscription_does_not_downgrade(
    billing_app: FastAPI, stripe_client: TestClient, free_org: SeededOrg
) -> None:
    post(stripe_client, event("customer.subscription.created", subscription("sub_old", "active", PRO), T0))
    post(
        stripe_client,
        event("customer.subscription.created", subscription("sub_new", "active", ENTERPRISE), T0 + 10),
    )
    ended = post(
        stripe_client,
        event("customer.subscription.deleted", subscription("sub_old", "canceled", PRO), T0 + 20),
    )
    assert ended.json()["outcome"] == "ignored" and "sub_new" in ended.json()["detail"]
    assert plan_of(billing_app, free_org) == ("enterprise", "active", None)


def test_unpaid_subscription_ends_the_paid_plan(
    billing_app: FastAPI, stripe_client: TestClient, free_org: SeededOrg
) -> None:
    post(stripe_client, event("customer.subscription.created", subscription("sub_1", "active", PRO), T0))
    post(stripe_client, event("customer.subscription.updated", subscription("sub_1", "unpaid", PRO), T0 + 10))
    assert plan_of(billing_app, free_org) == ("free", "canceled", 2)


def test_without_a_webhook_secret_nothing_is_accepted(
    settings_factory: Callable[..., Settings], free_org: SeededOrg
) -> None:
    application = create_app(settings_factory(stripe_webhook_secret=None))
    try:
        with TestClient(application, base_url=BASE_URL) as unconfigured:
            evt = event("customer.subscription.updated", subscription("sub_1", "active", PRO), T0)
            response = post(unconfigured, evt)
            assert response.status_code == 503 and "STRIPE_WEBHOOK_SECRET" in response.json()["error"]
            assert unconfigured.get("/api/health").status_code == 200
    finally:
        application.state.engine.dispose()


def test_the_same_event_delivered_twice_at_once_is_recorded_once(
    billing_app: FastAPI, free_org: SeededOrg
) -> None:
    evt = event("customer.subscription.updated", subscription("sub_1", "active", PRO), T0)
    answers: list[dict[str, Any]] = []
    start = threading.Barrier(4)

    shared = open_client(billing_app)  # one event loop, as in a real worker; four threads

    def deliver() -> None:
        start.wait()
        response = post(shared, evt)
        assert response.status_code == 200, response.text
        answers.append(response.json())

    threads = [threading.Thread(target=deliver) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(answers) == 4
    assert sorted(a["duplicate"] for a in answers) == [False, True, True, True]
    with session_scope(billing_app.state.engine) as db:
        assert db.scalar(select(func.count()).select_from(BillingEvent)) == 1
    assert plan_of(billing_app, free_org) == ("pro", "active", 20)


def _admin(app: FastAPI, org: SeededOrg) -> TestClient:
    from tests.api.world import member_client

    return member_client(app, org.users[Role.ADMIN])


def test_a_claimed_organization_linked_to_another_customer_is_not_trusted(
    billing_app: FastAPI, stripe_client: TestClient, free_org: SeededOrg
) -> None:
    claim = checkout(free_org, "sub_x", "enterprise")
    claim["customer"] = "cus_someone_else"  # free_org is linked to CUSTOMER
    response = post(stripe_client, event("checkout.session.completed", claim, T0))
    assert response.json()["outcome"] == "ignored"
    assert plan_of(billing_app, free_org)[0] == "free"

    newcomer = seed_organization(billing_app.state.engine, "bravo", "Bravo", tier="free")
    first = checkout(newcomer, "sub_b", "pro")
    first["customer"] = "cus_bravo"  # not linked yet: the metadata we set at checkout links it
    assert post(stripe_client, event("checkout.session.completed", first, T0)).json()["outcome"] == "applied"
    with session_scope(billing_app.state.engine) as db:
        org = db.get(Organization, newcomer.id)
        assert org is not None and org.stripe_customer_id == "cus_bravo" and org.subscription_tier == "pro"
