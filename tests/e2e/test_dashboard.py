"""The dashboard in Chromium: an operator's first day, a viewer, and a phone.

sign up → empty state → load the demo fleet with the CLI (simulate + pipeline for the new
organization) → the open fleet page updates by itself → COMP-007 critical on the cards and the map
→ its detail page charts the threshold crossing → acknowledge and resolve its alert → the alert
list shows it resolved. A viewer of the same organization sees no action; at 375 px wide no page
scrolls sideways. Screenshots of every main page land in artifacts/screenshots/.
"""

import json
import re
import subprocess
import sys

import pytest
from playwright.sync_api import Browser, expect

from altaviz.accounts import service as accounts
from altaviz.accounts.roles import Role
from altaviz.db.session import create_db_engine, session_scope
from tests.e2e.conftest import PHONE, LiveServer, save_screenshot, sign_in

PASSWORD = "pumps and pipelines 2026"
OWNER = "nia@gulfgas.example"
VIEWER = "val@gulfgas.example"


def _altaviz(server: LiveServer, *args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "altaviz", *args], env=server.env(), check=True, capture_output=True
    )


@pytest.fixture(scope="module")
def loaded(live_server: LiveServer, browser: Browser) -> dict[str, str]:
    """The first-day journey up to the loaded fleet; later tests reuse the organization it made."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{live_server.url}/")
    expect(page.get_by_role("heading", level=1)).to_contain_text("failing compressor")
    save_screenshot(page, "landing")
    page.goto(f"{live_server.url}/pricing")
    save_screenshot(page, "pricing")
    page.get_by_role("link", name="Start free").first.click()
    page.get_by_label("Your name").fill("Nia Owens")
    page.get_by_label("Company").fill("Gulf Gas")
    page.get_by_label("Email").fill(OWNER)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url(f"{live_server.url}/dashboard")

    # The empty state says what to do, down to the organization's own pipeline command.
    expect(page.get_by_role("heading", name="No compressors yet")).to_be_visible()
    command = page.locator(".empty pre").inner_text()
    slug = re.search(r"--organization (\S+)", command)
    assert slug is not None
    save_screenshot(page, "fleet-empty")

    # Load the demo fleet as an operator would. The ten demo units exceed the Free plan's two, so the
    # organization goes on Enterprise first (`billing set-plan`, as for a contract billed outside Stripe).
    _altaviz(live_server, "billing", "set-plan", slug.group(1), "enterprise")
    engine = create_db_engine(str(live_server.settings.database_url), live_server.settings)
    with session_scope(engine) as session:
        org = accounts.get_organization_by_slug(session, slug.group(1))
        accounts.create_user(session, org, email=VIEWER, password=PASSWORD, role=Role.VIEWER, name="Val")
    engine.dispose()
    _altaviz(live_server, "simulate", "--organization", slug.group(1))
    _altaviz(live_server, "pipeline", "run", "--organization", slug.group(1))

    # No reload: the page's live region refreshes itself and the failing unit appears.
    comp7 = page.locator('a.unit[data-compressor="COMP-007"]')
    expect(comp7).to_have_attribute("data-status", "critical", timeout=15_000)
    expect(comp7.locator(".status")).to_have_text("critical")
    page.close()
    return {"slug": slug.group(1)}


def test_fleet_page_shows_comp_007_critical_on_cards_and_map(
    live_server: LiveServer, browser: Browser, loaded: dict[str, str]
) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    sign_in(page, live_server, OWNER, PASSWORD)
    expect(page.locator('[data-metric="online"]')).to_have_text("10 / 10")
    # Haynesville (STATION-C) holds COMP-007: red on the map and in its legend.
    station = page.locator('li[data-station="STATION-C"]')
    expect(station).to_have_attribute("data-status", "critical")
    expect(station.get_by_role("link", name="COMP-007")).to_be_visible()
    points = json.loads(page.locator('[data-for="map"]').get_attribute("data-json") or "[]")
    haynesville = next(point for point in points if point["id"] == "STATION-C")
    assert haynesville["status"] == "critical" and "COMP-007" in haynesville["worst"]
    expect(page.locator(".map canvas")).to_have_count(1)
    page.wait_for_timeout(300)  # let the map's first frame paint
    save_screenshot(page, "fleet", docs=True)
    page.close()


def test_comp_007_charts_cross_the_threshold_and_its_alert_is_worked(
    live_server: LiveServer, browser: Browser, loaded: dict[str, str]
) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    sign_in(page, live_server, OWNER, PASSWORD)
    page.locator('a.unit[data-compressor="COMP-007"]').click()
    page.wait_for_url(re.compile(r".*/dashboard/compressors/COMP-007$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("COMP-007")
    vibration = page.locator('figure.chart[data-sensor="vibration"]')
    expect(vibration).to_have_attribute("data-crossed", "critical")
    expect(vibration).to_contain_text("above the critical line")
    expect(vibration.locator("canvas")).to_have_count(1)
    series = json.loads(vibration.locator('[data-for="trend"]').get_attribute("data-json") or "{}")
    assert series["critical"] == 8.0 and max(p[2] for p in series["points"]) >= 8.0
    expect(page.locator('figure[data-gauge="vibration"]')).to_have_attribute("data-status", "critical")
    page.get_by_role("link", name="7D").click()
    expect(page.locator('figure.chart[data-sensor="discharge_temp"]')).to_have_attribute(
        "data-crossed", "critical"
    )
    page.get_by_role("tab", name=re.compile("Maintenance")).click()
    expect(page.locator("#panel-maint")).to_contain_text("failure")
    page.get_by_role("tab", name=re.compile("Alerts")).click()
    page.wait_for_timeout(300)
    save_screenshot(page, "compressor", docs=True)

    page.goto(f"{live_server.url}/dashboard/alerts?status=active&compressor=COMP-007")
    save_screenshot(page, "alerts")
    row = page.locator("tr[data-alert-id]").first
    alert_id = row.get_attribute("data-alert-id")
    active_before = int(page.locator('[data-metric="active"]').inner_text())
    row = page.locator(f'tr[data-alert-id="{alert_id}"]')
    row.get_by_role("button", name="Acknowledge").click()
    expect(row).to_have_attribute("data-state", "acknowledged")
    expect(row).to_contain_text("Acknowledged by Nia Owens")
    row.locator("summary", has_text="Resolve").click()
    row.get_by_label("Note").fill("Replaced the bearing")
    row.get_by_role("button", name="Resolve alert").click()
    # The row turns resolved, then the live refresh drops it from the active list; the count follows.
    expect(page.locator(f'tr[data-alert-id="{alert_id}"]')).to_have_count(0, timeout=10_000)
    expect(page.locator('[data-metric="active"]')).to_have_text(str(active_before - 1))
    page.get_by_role("link", name="Resolved").click()
    resolved = page.locator(f'tr[data-alert-id="{alert_id}"]')
    expect(resolved).to_contain_text("Replaced the bearing")
    expect(resolved).to_have_attribute("data-state", "resolved")

    page.goto(f"{live_server.url}/dashboard/data-quality")
    expect(page.locator('[data-metric="health-score"]')).to_have_text("100")
    save_screenshot(page, "data-quality")
    page.goto(f"{live_server.url}/dashboard/settings")
    expect(page.locator('[data-field="org-name"]')).to_have_text("Gulf Gas")
    save_screenshot(page, "settings")
    page.close()


def test_a_viewer_sees_no_action_they_cannot_take(
    live_server: LiveServer, browser: Browser, loaded: dict[str, str]
) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    sign_in(page, live_server, VIEWER, PASSWORD)
    page.goto(f"{live_server.url}/dashboard/alerts?status=all")
    expect(page.locator("tr[data-alert-id]").first).to_be_visible()
    alert_id = page.locator("tr[data-alert-id]").first.get_attribute("data-alert-id")
    expect(page.get_by_role("button", name="Acknowledge")).to_have_count(0)
    expect(page.locator("summary", has_text="Resolve")).to_have_count(0)
    expect(page.get_by_text("Your role (viewer) can read alerts")).to_be_visible()
    page.goto(f"{live_server.url}/dashboard/compressors/COMP-007")
    expect(page.get_by_role("button", name="Acknowledge")).to_have_count(0)
    page.goto(f"{live_server.url}/dashboard/settings")
    expect(page.get_by_role("button", name="Save")).to_have_count(0)
    expect(page.get_by_role("button", name="Create key")).to_have_count(0)
    # Even a hand-made request with the viewer's own CSRF token is refused.
    token = page.locator('meta[name="csrf-token"]').get_attribute("content") or ""
    response = page.request.post(
        f"{live_server.url}/dashboard/alerts/{alert_id}/acknowledge", headers={"X-CSRF-Token": token}
    )
    assert response.status == 403
    page.close()


def test_phone_layout_has_no_horizontal_scroll(
    live_server: LiveServer, browser: Browser, loaded: dict[str, str]
) -> None:
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, device_scale_factor=2)
    page = context.new_page()
    sign_in(page, live_server, OWNER, PASSWORD)
    for name, path in (
        ("fleet", "/dashboard"),
        ("compressor", "/dashboard/compressors/COMP-007"),
        ("alerts", "/dashboard/alerts?status=all"),
        ("data-quality", "/dashboard/data-quality"),
        ("settings", "/dashboard/settings"),
        ("landing", "/"),
    ):
        page.goto(f"{live_server.url}{path}")
        page.wait_for_load_state("networkidle")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"{path} is {width}px wide on a {PHONE['width']}px screen"
        save_screenshot(page, f"phone-{name}")
    context.close()


def test_the_owner_invites_a_technician_who_joins_from_the_link(
    live_server: LiveServer, browser: Browser, loaded: dict[str, str]
) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    sign_in(page, live_server, OWNER, PASSWORD)
    page.goto(f"{live_server.url}/dashboard/settings#team")
    invite = page.locator('form[data-api="POST /api/team/invitations"]')
    invite.get_by_label("Email").fill("tech@gulfgas.example")
    invite.get_by_label("Role").select_option("operator")
    invite.get_by_role("button", name="Send invitation").click()
    # No e-mail server here: the page hands over the single-use link.
    message = page.locator("#settings-flash .notice")
    expect(message).to_contain_text("single-use link")
    link = re.search(r"(http\S+/invitations/accept\?token=\S+)", message.inner_text())
    assert link is not None
    expect(page.locator('li[data-invitation="tech@gulfgas.example"]')).to_be_visible()

    # An API key is shown once, and works.
    keys = page.locator('form[data-api="POST /api/api-keys"]')
    keys.get_by_label("Name").fill("scada-export")
    keys.get_by_role("button", name="Create key").click()
    secret = page.locator('#settings-flash [data-field="new-key"]')
    expect(secret).to_have_text(re.compile(r"^avz_"))
    answer = page.request.get(f"{live_server.url}/api/fleet", headers={"x-api-key": secret.inner_text()})
    assert answer.status == 200 and answer.json()["total"] == 10
    expect(page.locator("#api-keys tbody tr")).to_have_count(1)
    page.close()

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    joiner = context.new_page()
    joiner.goto(link.group(1))
    expect(joiner.get_by_role("heading", level=1)).to_have_text("Join Gulf Gas")
    joiner.get_by_label("Your name").fill("Theo Tech")
    joiner.get_by_label("Password").fill(PASSWORD)
    joiner.get_by_role("button", name="Create account and sign in").click()
    joiner.wait_for_url(f"{live_server.url}/dashboard")
    expect(joiner.locator(".sidebar .who")).to_contain_text("operator")
    joiner.goto(f"{live_server.url}/dashboard/settings")
    expect(joiner.locator('tr[data-member="nia@gulfgas.example"]')).to_contain_text("owner")
    context.close()
