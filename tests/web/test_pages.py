"""The pages over HTTP on SQLite and PostgreSQL: sign-in redirects, roles, organization scope, empty
states, live fragments and the CSP's rules (no inline script or style). The browser tests in
tests/e2e drive the same pages in Chromium."""

import re
from collections.abc import Callable

import pytest
from fastapi import FastAPI
from sqlalchemy import update

from altaviz.accounts.models import Organization
from altaviz.accounts.roles import Role
from altaviz.config import Settings
from altaviz.db.session import session_scope
from altaviz.server import create_app
from altaviz.web import views
from tests.api.world import (
    PASSWORD,
    SeededOrg,
    anonymous_client,
    close_clients,
    member_client,
    seed_organization,
)

PAGES = (
    "/dashboard",
    "/dashboard/compressors/COMP-001",
    "/dashboard/alerts",
    "/dashboard/data-quality",
    "/dashboard/settings",
)
PUBLIC = ("/", "/pricing", "/login", "/signup")


def _no_inline_code(html: str) -> None:
    for tag in re.findall(r"<script\b[^>]*>", html):
        assert "src=" in tag or 'type="application/json"' in tag, tag
    assert not re.search(r"\sstyle=", html)
    assert not re.search(r"\son[a-z]+=", html)


def test_public_pages_render_without_inline_code(app: FastAPI) -> None:
    client = anonymous_client(app)
    for path in PUBLIC:
        response = client.get(path)
        assert response.status_code == 200, path
        assert "script-src 'self'" in response.headers["content-security-policy"]
        _no_inline_code(response.text)
    assert "Enterprise" in client.get("/pricing").text


def test_dashboard_pages_send_strangers_to_sign_in(app: FastAPI) -> None:
    client = anonymous_client(app)
    for path in PAGES:
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/login?next=/dashboard")
    live = client.get("/dashboard", headers={"HX-Request": "true"}, follow_redirects=False)
    assert live.headers["HX-Redirect"] == "/login?next=/dashboard"


def test_every_page_renders_for_a_viewer(app: FastAPI, org_a: SeededOrg) -> None:
    client = member_client(app, org_a.users[Role.VIEWER])
    for path in PAGES:
        response = client.get(path)
        assert response.status_code == 200, path
        _no_inline_code(response.text)
        assert org_a.marker in response.text
    fleet = client.get("/dashboard").text
    assert 'data-compressor="COMP-001" data-status="critical"' in fleet
    assert 'data-station="STATION-A" data-status="critical"' in fleet


def test_viewers_see_no_alert_actions_and_cannot_take_them(app: FastAPI, org_a: SeededOrg) -> None:
    viewer = member_client(app, org_a.users[Role.VIEWER])
    for path in ("/dashboard/alerts", "/dashboard/compressors/COMP-001"):
        html = viewer.get(path).text
        assert "Acknowledge</button>" not in html and "/resolve" not in html
        assert "Your role (viewer) can read alerts" in html or path != "/dashboard/alerts"
    alert = org_a.alert_ids["critical"]
    assert viewer.post(f"/dashboard/alerts/{alert}/acknowledge").status_code == 403
    settings = viewer.get("/dashboard/settings").text
    assert (
        "/dashboard/settings/api-keys" not in settings and "/dashboard/settings/organization" not in settings
    )


def test_an_operator_acknowledges_and_resolves_from_the_alerts_page(app: FastAPI, org_a: SeededOrg) -> None:
    operator = member_client(app, org_a.users[Role.OPERATOR])
    alert = org_a.alert_ids["critical"]
    assert "Acknowledge</button>" in operator.get("/dashboard/alerts").text
    row = operator.post(f"/dashboard/alerts/{alert}/acknowledge")
    assert row.status_code == 200 and 'data-state="acknowledged"' in row.text
    again = operator.post(f"/dashboard/alerts/{alert}/acknowledge")
    assert "already acknowledged" in again.text
    resolved = operator.post(f"/dashboard/alerts/{alert}/resolve", data={"note": "bearing replaced"})
    assert 'data-state="resolved"' in resolved.text and "bearing replaced" in resolved.text
    listing = operator.get("/dashboard/alerts?status=resolved").text
    assert f'data-alert-id="{alert}"' in listing


def test_a_state_change_without_the_csrf_token_is_refused(app: FastAPI, org_a: SeededOrg) -> None:
    operator = member_client(app, org_a.users[Role.OPERATOR])
    alert = org_a.alert_ids["critical"]
    response = operator.post(f"/dashboard/alerts/{alert}/acknowledge", headers={"X-CSRF-Token": "forged"})
    assert response.status_code == 403


def test_another_organizations_compressor_is_not_found(
    app: FastAPI, org_a: SeededOrg, org_b: SeededOrg
) -> None:
    client = member_client(app, org_a.users[Role.OWNER])
    response = client.get(f"/dashboard/compressors/{org_b.own_compressor}")
    assert response.status_code == 404
    assert org_b.marker not in response.text and "was not found" in response.text
    foreign_alert = org_b.alert_ids["critical"]
    operator = member_client(app, org_a.users[Role.OPERATOR])
    assert operator.post(f"/dashboard/alerts/{foreign_alert}/acknowledge").status_code == 404
    assert org_b.marker not in client.get("/dashboard/alerts?status=all").text


def test_live_refresh_returns_only_the_live_fragment(app: FastAPI, org_a: SeededOrg) -> None:
    client = member_client(app, org_a.users[Role.VIEWER])
    for path in PAGES[:4]:
        fragment = client.get(path, headers={"HX-Request": "true"}).text
        assert fragment.lstrip().startswith('<div id="live"'), path
        assert "<html" not in fragment


def test_sign_up_lands_on_the_empty_state_and_sign_in_works(app: FastAPI) -> None:
    client = anonymous_client(app)
    form = {"email": "new@example.com", "password": PASSWORD, "name": "Nia", "company": "Gulf Gas"}
    response = client.post("/signup", data=form, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/dashboard"
    page = client.get("/dashboard").text
    assert "No compressors yet" in page and "altaviz pipeline run --organization gulf-gas" in page
    alerts = client.get("/dashboard/alerts").text
    assert "No alerts — all systems normal." in alerts
    quality = client.get("/dashboard/data-quality").text
    assert "Run the ETL pipeline" in quality
    taken = client.post("/signup", data=form)
    assert taken.status_code == 409 and "already exists" in taken.text
    fresh = anonymous_client(app)
    wrong = fresh.post("/login", data={"email": "new@example.com", "password": "not it at all"})
    assert wrong.status_code == 401 and "Wrong email or password" in wrong.text
    right = fresh.post(
        "/login",
        data={"email": "new@example.com", "password": PASSWORD, "next": "/dashboard/alerts"},
        follow_redirects=False,
    )
    assert right.headers["location"] == "/dashboard/alerts"
    elsewhere = fresh.post(
        "/login",
        data={"email": "new@example.com", "password": PASSWORD, "next": "//evil.example"},
        follow_redirects=False,
    )
    assert elsewhere.headers["location"] == "/dashboard"


def test_sign_in_from_another_site_is_refused(app: FastAPI) -> None:
    client = anonymous_client(app)
    response = client.post(
        "/login", data={"email": "a@b.co", "password": "x" * 12}, headers={"Origin": "https://evil.example"}
    )
    assert response.status_code == 403


def test_sign_out_ends_the_session(app: FastAPI, org_a: SeededOrg) -> None:
    client = member_client(app, org_a.users[Role.VIEWER])
    response = client.post("/logout")
    assert response.headers["HX-Redirect"] == "/login?signed_out=true"
    assert client.get("/dashboard", follow_redirects=False).status_code == 303


def test_settings_forms_go_to_the_api_for_the_roles_that_may_use_them(app: FastAPI, org_a: SeededOrg) -> None:
    owner = member_client(app, org_a.users[Role.OWNER]).get("/dashboard/settings").text
    assert 'data-api="PATCH /api/organization"' in owner and 'data-api="POST /api/api-keys"' in owner
    admin = member_client(app, org_a.users[Role.ADMIN]).get("/dashboard/settings").text
    assert 'data-api="PATCH /api/organization"' not in admin and 'data-api="POST /api/api-keys"' in admin
    viewer = member_client(app, org_a.users[Role.VIEWER]).get("/dashboard/settings").text
    assert 'data-api="POST /api/auth/password"' in viewer and 'data-api="POST /api/api-keys"' not in viewer


def test_sign_in_and_sign_up_on_the_pages_are_audited(app: FastAPI, org_a: SeededOrg) -> None:
    client = anonymous_client(app)
    email = org_a.emails[Role.VIEWER]
    client.post("/login", data={"email": email, "password": "not the password"})
    client.post("/login", data={"email": email, "password": PASSWORD})
    owner = member_client(app, org_a.users[Role.OWNER])
    entries = owner.get("/api/audit", params={"action": "auth."}).json()["items"]
    actions = [entry["action"] for entry in entries]
    assert "auth.login_failed" in actions and "auth.login" in actions


def test_the_fleet_page_pages_and_filters(app: FastAPI, org_a: SeededOrg) -> None:
    client = member_client(app, org_a.users[Role.VIEWER])
    critical = client.get("/dashboard?status=critical").text
    assert 'data-compressor="COMP-001"' in critical and 'data-compressor="COMP-002"' not in critical
    by_station = client.get("/dashboard?station=STATION-B").text
    assert 'data-compressor="COMP-003"' in by_station and 'data-compressor="COMP-001"' not in by_station
    jump = client.get("/dashboard?find=comp-002", follow_redirects=False)
    assert jump.headers["location"] == "/dashboard/compressors/COMP-002"
    detail = client.get("/dashboard/compressors/COMP-001?window=1hr&range=7D").text
    assert 'data-sensor="vibration"' in detail and "Maintenance" in detail


def test_an_operator_shelves_an_alert_out_of_the_active_list_and_back(app: FastAPI, org_a: SeededOrg) -> None:
    operator = member_client(app, org_a.users[Role.OPERATOR])
    alert = org_a.alert_ids["warning"]
    refused = operator.post(f"/dashboard/alerts/{alert}/shelve", data={"minutes": "60", "reason": " "})
    assert "Give a reason" in refused.text
    shelved = operator.post(
        f"/dashboard/alerts/{alert}/shelve", data={"minutes": "240", "reason": "sensor being replaced"}
    )
    assert "sensor being replaced" in shelved.text and "Unshelve</button>" in shelved.text
    assert f'data-alert-id="{alert}"' not in operator.get("/dashboard/alerts?status=active").text
    assert f'data-alert-id="{alert}"' in operator.get("/dashboard/alerts?status=shelved").text
    back = operator.post(f"/dashboard/alerts/{alert}/unshelve")
    assert "Back from the shelf" in back.text
    assert f'data-alert-id="{alert}"' in operator.get("/dashboard/alerts?status=active").text


def test_settings_show_the_team_to_everyone_and_its_controls_to_admins(
    app: FastAPI, org_a: SeededOrg
) -> None:
    viewer = member_client(app, org_a.users[Role.VIEWER]).get("/dashboard/settings").text
    assert org_a.emails[Role.OWNER] in viewer and "/api/team/invitations" not in viewer
    assert "/api/billing" not in viewer and "for admins and owners" in viewer
    admin = member_client(app, org_a.users[Role.ADMIN]).get("/dashboard/settings").text
    assert 'data-api="POST /api/team/invitations"' in admin
    assert f'data-api="DELETE /api/team/members/{org_a.users[Role.OWNER]}"' not in admin  # owners: owner only
    assert f'data-api="DELETE /api/team/members/{org_a.users[Role.VIEWER]}"' in admin
    assert "Stripe key" in admin  # no Stripe configured: said so, no checkout button
    assert 'data-api="POST /api/billing/checkout"' not in admin


def test_an_invalid_invitation_link_says_what_to_do(app: FastAPI) -> None:
    response = anonymous_client(app).get("/invitations/accept?token=not-a-real-token")
    assert response.status_code == 410 and "ask an admin" in response.text


def test_stripe_returns_to_the_billing_section(app: FastAPI, org_a: SeededOrg) -> None:
    client = member_client(app, org_a.users[Role.ADMIN])
    back = client.get("/settings/billing?checkout=canceled", follow_redirects=False)
    assert back.headers["location"] == "/dashboard/settings?checkout=canceled#billing"
    assert "nothing was charged" in client.get(back.headers["location"]).text


def test_page_errors_are_pages_that_say_what_to_do(app: FastAPI, org_a: SeededOrg) -> None:
    client = member_client(app, org_a.users[Role.VIEWER])
    bad = client.get("/dashboard/alerts?page=0")
    assert bad.status_code == 422 and bad.headers["content-type"].startswith("text/html")
    assert "one of its parameters is not valid" in bad.text
    missing = client.get("/no-such-page")
    assert missing.status_code == 404 and "start from the fleet page" in missing.text
    api = client.get("/api/no-such-endpoint")
    assert api.status_code == 404 and api.json()["code"] == "not_found"
    htmx = client.post(
        f"/dashboard/alerts/{org_a.alert_ids['critical']}/acknowledge", headers={"HX-Request": "true"}
    )
    assert htmx.status_code == 403 and "Operator access required" in htmx.json()["error"]


def test_a_big_fleet_is_paged_worst_first(
    app: FastAPI, org_a: SeededOrg, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(views, "PAGE_SIZE", 2)
    client = member_client(app, org_a.users[Role.VIEWER])
    first = client.get("/dashboard").text
    assert "Page 1 of 2" in first and 'rel="next"' in first
    assert first.index('data-compressor="COMP-001"') < first.index(
        'data-compressor="COMP-002"'
    )  # critical first
    second = client.get("/dashboard?page=2").text
    shown = set(re.findall(r'a class="unit[^"]*" href="[^"]+" data-compressor="([^"]+)"', first))
    shown_next = set(re.findall(r'a class="unit[^"]*" href="[^"]+" data-compressor="([^"]+)"', second))
    assert len(shown) == 2 and len(shown_next) == 2 and not shown & shown_next


def test_with_stripe_configured_admins_get_checkout_and_the_portal(
    settings_factory: Callable[..., Settings],
) -> None:
    app = create_app(
        settings_factory(
            stripe_secret_key="sk_test_pages",
            stripe_price_pro="price_pro",
            stripe_price_enterprise="price_ent",
        )
    )
    try:
        org = seed_organization(app.state.engine, "stripey", "Stripey", tier="pro")
        with session_scope(app.state.engine) as session:
            session.execute(
                update(Organization).where(Organization.id == org.id).values(stripe_customer_id="cus_pages")
            )
        admin = member_client(app, org.users[Role.ADMIN]).get("/dashboard/settings").text
        assert 'data-api="POST /api/billing/portal"' in admin and "Manage billing" in admin
        assert 'value="enterprise"' in admin and "Upgrade to Enterprise" in admin
        assert "Upgrade to Pro" not in admin  # the plan it is on
        operator = member_client(app, org.users[Role.OPERATOR]).get("/dashboard/settings").text
        assert "/api/billing/" not in operator
    finally:
        close_clients()
        app.state.engine.dispose()


def test_a_free_plan_sees_the_one_hour_window_and_why(app: FastAPI) -> None:
    org = seed_organization(app.state.engine, "freebie", "Freebie", tier="free")
    client = member_client(app, org.users[Role.VIEWER])
    page = client.get("/dashboard/compressors/COMP-001?window=4hr&range=24H")
    assert page.status_code == 200
    assert "requires a Pro or Enterprise plan" in page.text
    assert 'title="The 4h window needs a Pro or Enterprise plan"' in page.text
    assert "?window=4hr" not in page.text  # no link to a window the plan does not include
