"""The dashboard under live refresh, for an operator of an Enterprise organization (issue 17).

The service refreshes its live regions every second here (WEB_REFRESH_SECONDS=1 in the fixture), so
a test that waits a few seconds has seen several refresh cycles. Charts are read through ECharts'
own instances (`echarts.getInstanceByDom`), which is what the screen shows.
"""

import re
import subprocess
import sys
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from altaviz.accounts import service as accounts
from altaviz.db.session import create_db_engine, session_scope
from tests.e2e.conftest import LiveServer

PASSWORD = "pumps and pipelines 2026"
OWNER = "ops@permian.example"


def altaviz(server: LiveServer, *args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "altaviz", *args], env=server.env(), check=True, capture_output=True
    )


def new_organization(server: LiveServer, email: str, company: str, tier: str) -> str:
    """An organization with its owner (signed up as on the page), on `tier`; returns its slug."""
    engine = create_db_engine(str(server.settings.database_url), server.settings)
    with session_scope(engine) as session:
        _user, org = accounts.sign_up(
            session, email=email, password=PASSWORD, name="Ops Lead", organization_name=company
        )
        slug = org.slug
    engine.dispose()
    if tier != "free":
        altaviz(server, "billing", "set-plan", slug, tier)
    return slug


def sign_in(page: Page, server: LiveServer, email: str) -> None:
    page.goto(f"{server.url}/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{server.url}/dashboard")


def watch(page: Page) -> list[str]:
    """Collect the page's uncaught errors; count the live region's refreshes in window.__refreshes."""
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.add_init_script(
        "window.__refreshes = 0; document.addEventListener('htmx:afterSwap', function (e) {"
        " if (e.detail.target && e.detail.target.id === 'live') { window.__refreshes += 1; } });"
    )
    return errors


# Every chart element's ECharts instance: how many series points each series draws.
CHART_DATA = """() => Array.from(document.querySelectorAll('[data-chart]')).map(function (el) {
  var chart = window.echarts && window.echarts.getInstanceByDom(el);
  var option = chart ? chart.getOption() : null;
  return {kind: el.getAttribute('data-chart'), key: el.id || el.getAttribute('data-chart'),
          instance: chart ? chart.id : null,
          series: option ? option.series.map(function (s) { return (s.data || []).length; }) : null};
})"""


def wait_for_refreshes(page: Page, cycles: int) -> None:
    page.wait_for_function(f"() => window.__refreshes >= {cycles}", timeout=20_000)
    page.wait_for_timeout(300)  # the last swap's charts are drawn after it settles


@pytest.fixture(scope="module")
def enterprise(live_server: LiveServer) -> Iterator[str]:
    slug = new_organization(live_server, OWNER, "Permian Ops", "enterprise")
    altaviz(live_server, "simulate", "--organization", slug)
    altaviz(live_server, "pipeline", "run", "--organization", slug)
    yield slug


def test_compressor_charts_survive_live_refreshes(
    live_server: LiveServer, browser: Browser, enterprise: str
) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors = watch(page)
    sign_in(page, live_server, OWNER)
    page.goto(f"{live_server.url}/dashboard/compressors/COMP-007?range=24H")
    page.wait_for_function("() => document.body.getAttribute('data-ready') === 'true'")
    before = page.evaluate(CHART_DATA)
    kinds = [c["kind"] for c in before]
    assert kinds.count("gauge") == 6 and kinds.count("trend") >= 6
    wait_for_refreshes(page, 3)
    after = page.evaluate(CHART_DATA)
    assert errors == []
    # Updated in place: the instances drawn first are the ones still on the page.
    assert [c["instance"] for c in after] == [c["instance"] for c in before]
    for chart in after:
        assert chart["series"], f"{chart['key']} lost its chart"
        assert all(n > 0 for n in chart["series"][:1]), f"{chart['key']} draws no data: {chart}"
    page.close()


def test_fleet_map_keeps_its_stations_through_refreshes(
    live_server: LiveServer, browser: Browser, enterprise: str
) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors = watch(page)
    sign_in(page, live_server, OWNER)
    expect(page.locator('[data-metric="online"]')).to_have_text(re.compile(r"10\s*/\s*10"))
    # COMP-003 and COMP-007 are critical: the health card is red, whatever the share of healthy units
    health_card = page.locator(".card.metric", has=page.locator('[data-metric="health"]'))
    expect(health_card).to_have_class(re.compile(r"status-border-critical"))
    page.wait_for_function(
        "() => { var el = document.querySelector('[data-chart=\"map\"]');"
        " return !!(el && window.echarts && window.echarts.getInstanceByDom(el)); }"
    )
    wait_for_refreshes(page, 3)
    charts = page.evaluate(CHART_DATA)
    assert errors == []
    (fleet_map,) = [c for c in charts if c["kind"] == "map"]
    stations = page.locator(".legend li[data-station]").count()
    assert stations >= 3 and fleet_map["series"] == [stations], fleet_map  # a dot per station
    page.close()


def test_an_alert_action_updates_the_page_at_once_announces_it_and_moves_focus(
    live_server: LiveServer, browser: Browser, enterprise: str
) -> None:
    settings = live_server.settings
    every = settings.web_refresh_seconds
    settings.web_refresh_seconds = 600  # no periodic refresh: whatever updates comes from the action
    try:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        errors = watch(page)
        sign_in(page, live_server, OWNER)
        page.goto(f"{live_server.url}/dashboard/alerts?status=active")
        rows = page.locator("tr[data-alert-id]")
        ids = [rows.nth(i).get_attribute("data-alert-id") for i in range(rows.count())]
        assert len(ids) >= 2
        active = int(page.locator('[data-metric="active"]').inner_text())
        shelved = int(page.locator('[data-metric="shelved"]').inner_text())
        row = page.locator(f'tr[data-alert-id="{ids[0]}"]')
        row.locator("summary", has_text="Shelve").click()
        row.get_by_label("Reason").fill("sensor being replaced")
        row.get_by_role("button", name="Shelve alert").click()
        # counts, tab counts and the list follow at once (the periodic refresh is 10 minutes away)
        expect(page.locator('[data-metric="active"]')).to_have_text(str(active - 1), timeout=5_000)
        expect(page.locator('[data-metric="shelved"]')).to_have_text(str(shelved + 1))
        expect(page.locator('.tabs-nav a[href*="status=shelved"] .count')).to_have_text(str(shelved + 1))
        expect(page.locator(f'tr[data-alert-id="{ids[0]}"]')).to_have_count(0)
        expect(page.locator("#announcer")).to_contain_text("Shelved")
        focused = page.evaluate(
            "() => { var row = document.activeElement && document.activeElement.closest('tr');"
            " return row ? row.getAttribute('data-alert-id') : null; }"
        )
        assert focused == ids[1]
        assert errors == []
        page.close()
    finally:
        settings.web_refresh_seconds = every


TREND = """(id) => { var chart = window.echarts.getInstanceByDom(document.getElementById(id));
  var o = chart.getOption();
  return {group: chart.group, legend: o.legend[0].data, axis: o.xAxis[0].name, zoom: o.dataZoom.length,
          points: o.series[0].data.length,
          marks: o.series[0].markLine.data.filter(function (m) { return m.xAxis !== undefined; })
                   .length}; }"""


def test_trend_view_zone_marks_legend_zoom_and_units(
    live_server: LiveServer, browser: Browser, enterprise: str
) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors = watch(page)
    sign_in(page, live_server, OWNER)
    token = page.locator('meta[name="csrf-token"]').get_attribute("content") or ""
    headers = {"X-CSRF-Token": token}
    refused = page.request.patch(
        f"{live_server.url}/api/organization", data={"time_zone": "Mars/Olympus"}, headers=headers
    )
    assert refused.status == 422 and "America/Chicago" in refused.text()
    saved = page.request.patch(
        f"{live_server.url}/api/organization", data={"time_zone": "America/Chicago"}, headers=headers
    )
    assert saved.status == 200 and saved.json()["time_zone"] == "America/Chicago"
    try:
        page.goto(f"{live_server.url}/dashboard/compressors/COMP-007?range=7D")
        page.wait_for_function("() => document.body.getAttribute('data-ready') === 'true'")
        expect(page.locator('[data-field="last-reading"] time')).to_contain_text("CST")
        expect(page.locator('[data-field="last-reading"] time')).to_have_attribute(
            "title", re.compile("UTC$")
        )
        vibration = page.evaluate(TREND, "trend-vibration")
        assert vibration["group"] == "trends" and vibration["legend"] == ["mean", "max"]
        assert vibration["axis"] == "America/Chicago" and vibration["zoom"] >= 1
        assert vibration["marks"] >= 1  # COMP-007's vibration alert opened within the week
        differential = page.evaluate(TREND, "trend-pressure_delta")
        assert differential["points"] > 0
        # the caption's peak reads as the alert's peak (same value, unit and decimals)
        caption = page.locator('figure.chart[data-sensor="vibration"] [data-field="peak"]').inner_text()
        row = page.locator("tr[data-alert-id]").filter(has_text="Vibration").first
        assert row.locator('[data-field="peak"]').inner_text().split(" / ")[0] == caption
        assert caption.endswith(" mm/s")
        page.goto(f"{live_server.url}/dashboard/settings")
        expect(page.locator('[data-field="org-time-zone"]')).to_have_text("America/Chicago")
        assert errors == []
    finally:
        page.request.patch(f"{live_server.url}/api/organization", data={"time_zone": "UTC"}, headers=headers)
        page.close()
