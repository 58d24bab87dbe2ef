"""Honest states on the dashboard (issue 17 items 2 and 3), for a Free organization with the demo fleet:
compressors the plan holds back, compressors gone quiet, failing refreshes, and short ranges drawn
from every reading."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest
from playwright.sync_api import Browser, expect
from sqlalchemy import func, select, update

from altaviz.accounts import service as accounts
from altaviz.accounts.scoping import OrgScope
from altaviz.db.session import create_db_engine, session_scope
from altaviz.ingest import status
from altaviz.ingest.status import StatusReport
from altaviz.monitoring.models import CompressorState, RecentReading
from tests.e2e.conftest import LiveServer
from tests.e2e.test_dashboard_live import altaviz, new_organization, sign_in, watch

OWNER = "lead@freegas.example"


@pytest.fixture(scope="module")
def free(live_server: LiveServer) -> Iterator[str]:
    slug = new_organization(live_server, OWNER, "Free Gas", "free")
    altaviz(live_server, "simulate", "--organization", slug)
    altaviz(live_server, "pipeline", "run", "--organization", slug)
    yield slug


def _organization_id(server: LiveServer, slug: str) -> UUID:
    engine = create_db_engine(str(server.settings.database_url), server.settings)
    with session_scope(engine) as session:
        org_id = accounts.get_organization_by_slug(session, slug).id
    engine.dispose()
    return org_id


def test_a_compressor_the_plan_holds_back_is_not_shown_healthy(
    live_server: LiveServer, browser: Browser, free: str
) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    sign_in(page, live_server, OWNER)
    # The Free plan covers two of the ten demo compressors; COMP-007 (failing) is held back.
    comp7 = page.locator('a.unit[data-compressor="COMP-007"]')
    expect(comp7).to_have_attribute("data-status", "not_monitored")
    expect(comp7).to_contain_text("not monitored on the Free plan")
    expect(comp7.get_by_role("link", name="upgrade")).to_have_count(0)  # the card is a link itself
    expect(page.locator('[data-metric="health"]')).not_to_have_text("100 %")
    expect(page.locator('[data-metric="health"]')).to_have_text("20 %")  # 2 of 10 monitored, healthy
    points = page.locator('[data-for="map"]').get_attribute("data-json") or "[]"
    assert '"status":"healthy"' not in points or '"not_monitored"' in points
    page.goto(f"{live_server.url}/dashboard/compressors/COMP-007")
    state = page.locator('[data-field="state"]')
    expect(state).to_contain_text("not monitored on the Free plan")
    expect(state.get_by_role("link", name="upgrade")).to_have_attribute("href", "/dashboard/settings#billing")
    page.close()


def test_a_quiet_compressor_says_since_when_and_the_last_reading_is_its_real_time(
    live_server: LiveServer, browser: Browser, free: str
) -> None:
    org_id = _organization_id(live_server, free)
    engine = create_db_engine(str(live_server.settings.database_url), live_server.settings)
    with session_scope(engine) as session:
        newest = session.scalar(
            select(func.max(RecentReading.timestamp)).where(
                RecentReading.organization_id == org_id, RecentReading.compressor_id == "COMP-001"
            )
        )
    assert newest is not None
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    sign_in(page, live_server, OWNER)
    page.goto(f"{live_server.url}/dashboard/compressors/COMP-001")
    shown = page.locator('[data-field="last-reading"] time').get_attribute("datetime") or ""
    assert datetime.fromisoformat(shown) == newest.replace(tzinfo=UTC) if newest.tzinfo is None else newest

    quiet = datetime.now(UTC) - timedelta(hours=live_server.settings.workflow_staleness_hours + 2)
    with session_scope(engine) as session:
        session.execute(
            update(CompressorState)
            .where(CompressorState.organization_id == org_id, CompressorState.compressor_id == "COMP-001")
            .values(last_reading_at=quiet)
        )
    engine.dispose()
    page.goto(f"{live_server.url}/dashboard")
    comp1 = page.locator('a.unit[data-compressor="COMP-001"]')
    expect(comp1).to_have_attribute("data-status", "stale")
    expect(comp1).to_contain_text(f"no data since {quiet:%Y-%m-%d %H:%M}")
    expect(page.locator('[data-metric="health"]')).to_have_text("10 %")
    page.close()


def test_failing_refreshes_say_the_page_is_stale_and_retrying(
    live_server: LiveServer, browser: Browser, free: str
) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors = watch(page)
    sign_in(page, live_server, OWNER)
    banner = page.locator("#stale-banner")
    expect(banner).to_be_hidden()
    page.route("**/dashboard?*", lambda route: route.fulfill(status=503, body="down"))
    expect(banner).to_be_visible(timeout=10_000)
    expect(banner).to_contain_text("Stale since")
    expect(banner).to_contain_text("retrying")
    page.unroute("**/dashboard?*")
    expect(banner).to_be_hidden(timeout=10_000)
    page.route("**/dashboard?*", lambda route: route.abort())  # the network itself fails
    expect(banner).to_be_visible(timeout=10_000)
    assert errors == []
    page.close()


def test_short_ranges_draw_every_reading_over_the_range(
    live_server: LiveServer, browser: Browser, free: str
) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    sign_in(page, live_server, OWNER)
    page.goto(f"{live_server.url}/dashboard/compressors/COMP-002?range=4H")
    page.wait_for_function("() => document.body.getAttribute('data-ready') === 'true'")
    option = page.evaluate(
        "() => { var el = document.getElementById('trend-vibration');"
        " var o = window.echarts.getInstanceByDom(el).getOption();"
        " return {points: o.series[0].data.length, min: o.xAxis[0].min, max: o.xAxis[0].max}; }"
    )
    # 10-minute readings: about 24 in four hours (the newest may be a few minutes old), not 4 hourly
    assert option["points"] >= 20, option
    span = datetime.fromisoformat(option["max"]) - datetime.fromisoformat(option["min"])
    assert span == timedelta(hours=4)
    page.close()


def test_the_fleet_filters_by_state(live_server: LiveServer, browser: Browser, free: str) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    sign_in(page, live_server, OWNER)
    page.get_by_label("Status").select_option("not_monitored")
    page.get_by_role("button", name="Filter").first.click()
    page.wait_for_url("**status=not_monitored**")
    statuses = page.locator("a.unit").evaluate_all("els => els.map(e => e.getAttribute('data-status'))")
    assert statuses and set(statuses) == {"not_monitored"}
    page.close()


def test_a_compressor_a_connector_reported_offline_says_since_when(
    live_server: LiveServer, browser: Browser, free: str
) -> None:
    # recorded as POST /api/ingest/status does (the Free plan has no API access; tests/ingest covers
    # the route)
    org_id = _organization_id(live_server, free)
    death = datetime.now(UTC).replace(second=0, microsecond=0)
    report = StatusReport(
        compressor_ids=["COMP-002"],
        state="offline",
        timestamp=death.isoformat(),
        reason="NDEATH of STATION-A",
    )
    engine = create_db_engine(str(live_server.settings.database_url), live_server.settings)
    with session_scope(engine) as session:
        answer = status.record(
            session, OrgScope(org_id), report, history_days=7, source="api:station connector"
        )
    engine.dispose()
    assert (answer.status_code, answer.body["recorded"]) == (200, 1)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    sign_in(page, live_server, OWNER)
    comp2 = page.locator('a.unit[data-compressor="COMP-002"]')
    expect(comp2).to_have_attribute("data-status", "stale")
    expect(comp2).to_contain_text(f"offline since {death:%Y-%m-%d %H:%M}")
    page.goto(f"{live_server.url}/dashboard/compressors/COMP-002")
    state = page.locator('[data-field="state"]')
    expect(state).to_contain_text(f"offline since {death:%Y-%m-%d %H:%M} UTC (NDEATH of STATION-A)")
    page.close()
