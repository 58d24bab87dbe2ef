"""Early warning as a person sees it (issue 19 item 5), in headless Chromium, under live refresh
(WEB_REFRESH_SECONDS=1): the health index on every fleet card in words, the cards sorted by it, the
Predicted panel soonest first and reordered when a projection changes; on the compressor page the
health trend drawn, the forecast cone and the projected crossing on the metric's trend, the driving
sensors in words; the alert list labelling early warnings and linking the threshold alert that
followed one. Data as the pipeline's health step loads it (tests.api.world.seed_health)."""

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import update

from altaviz.accounts import data_version
from altaviz.accounts.roles import Role
from altaviz.db.session import create_db_engine, session_scope
from altaviz.health.models import CompressorHealth
from altaviz.monitoring.models import CompressorState
from tests.api.world import PASSWORD, SeededOrg, current_hour, projection
from tests.e2e.conftest import LiveServer, link_early_warning, seed_org, sign_in

READY = "() => document.body.getAttribute('data-ready') === 'true'"
COUNT_REFRESHES = (
    "window.__refreshes = 0; document.addEventListener('htmx:afterSwap', function (e) {"
    " if (e.detail.target && e.detail.target.id === 'live') { window.__refreshes += 1; } });"
)
# What a trend chart's ECharts instance draws: its series (name, points, widths of a stacked band,
# marked points) and axes.
CHART = """(id) => { var chart = window.echarts.getInstanceByDom(document.getElementById(id));
  if (!chart) { return null; }
  var o = chart.getOption();
  return {instance: chart.id, group: chart.group, yMin: o.yAxis[0].min, yMax: o.yAxis[0].max,
    xMax: o.xAxis[0].max,
    lines: (o.series[0].markLine.data || []).map(function (m) {
      return m.yAxis !== undefined ? m.yAxis : m.name; }),
    areas: ((o.series[0].markArea || {}).data || []).map(function (a) { return a[0].name; }),
    series: o.series.map(function (s) { return {name: s.name, data: s.data,
      points: ((s.markPoint || {}).data || []).map(function (p) { return p.coord; })}; })}; }"""


@pytest.fixture(scope="module")
def org(live_server: LiveServer) -> SeededOrg:
    return seed_org(live_server, "gulf-early", "Gulf")


@pytest.fixture
def page(browser: Browser, live_server: LiveServer, org: SeededOrg) -> Iterator[Page]:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.add_init_script(COUNT_REFRESHES)
    sign_in(page, live_server, org.emails[Role.OWNER], PASSWORD)
    yield page
    page.close()
    assert errors == [], errors


def _refreshed(page: Page, cycles: int) -> None:
    start = page.evaluate("window.__refreshes")
    page.wait_for_function(f"() => window.__refreshes >= {start + cycles}", timeout=20_000)
    page.wait_for_timeout(300)  # the last swap's charts are drawn after it settles


def _change(server: LiveServer, org: SeededOrg) -> None:
    """COMP-003 goes back to learning (its newest hour and state), and a critical temperature
    crossing is projected for it in 2 h."""
    hour = org.hour  # its newest seeded hour (the clock may have passed into the next since)
    engine = create_db_engine(str(server.settings.database_url), server.settings)
    with session_scope(engine) as session:
        mine = {"organization_id": org.id, "compressor_id": "COMP-003"}
        session.execute(
            update(CompressorState).filter_by(**mine).values(health_index=None, health_status="warmup")
        )
        session.execute(
            update(CompressorHealth)
            .filter_by(**mine, hour=hour)
            .values(health_index=None, status="warmup", drivers=None)
        )
        session.add(
            projection(org.id, "COMP-003", hour, "discharge_temp_f", "critical", 260.0, (2.0, 1.0, None))
        )
        data_version.bump(session, org.id)
    engine.dispose()


def _predicted(page: Page) -> list[str | None]:
    items = page.locator('[data-panel="predicted"] li[data-predicted]')
    return [items.nth(i).get_attribute("data-predicted") for i in range(items.count())]


def test_fleet_cards_say_health_and_predicted_is_soonest_first_through_refreshes(
    page: Page, live_server: LiveServer, org: SeededOrg
) -> None:
    page.wait_for_function(READY)
    card = page.locator('.unit[data-compressor="COMP-001"] .health-index')
    expect(card).to_contain_text("Health 59 — degrading")  # words, and the warning colour
    expect(card.locator(".health-badge")).to_have_class(re.compile("health-warning"))
    expect(page.locator('.unit[data-compressor="COMP-002"] .health-index')).to_contain_text("94 — good")
    # soonest first; COMP-002's crossing (300 h away) is beyond the week
    assert _predicted(page) == ["COMP-001", org.own_compressor]
    first = page.locator('[data-panel="predicted"] li').first
    expect(first).to_contain_text("COMP-001 Vibration → warning 6.00 mm/s in 5 h (3–8 h)")
    expect(first).to_contain_text("critical 8.00 mm/s in 31 h (22–45 h)")
    _refreshed(page, 2)
    assert _predicted(page) == ["COMP-001", org.own_compressor]
    _change(live_server, org)
    _refreshed(page, 2)
    assert _predicted(page) == ["COMP-003", "COMP-001", org.own_compressor]
    expect(page.locator('[data-panel="predicted"] li').first).to_contain_text(
        "Discharge temperature → critical 260.0 °F in 2 h (1–? h)"
    )
    expect(page.locator('.unit[data-compressor="COMP-003"] .health-index')).to_contain_text("learning")
    # worst health first, learning last
    page.get_by_label("Sort").select_option("health_index")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url(re.compile("sort=health_index"))
    cards = page.locator(".unit[data-compressor]")
    order = [cards.nth(i).get_attribute("data-compressor") for i in range(cards.count())]
    assert order == ["COMP-001", org.own_compressor, "COMP-002", "COMP-003"]
    _refreshed(page, 2)  # the live refresh keeps the order asked for
    assert [cards.nth(i).get_attribute("data-compressor") for i in range(cards.count())] == order
    # learning again: the compressor page says so, and why
    page.goto(f"{live_server.url}/dashboard/compressors/COMP-003")
    expect(page.locator('[data-field="health-now"]')).to_contain_text("learning")
    expect(page.locator('[data-field="health-why"]')).to_contain_text("its first 120 running hours")


def test_compressor_page_draws_health_cone_crossing_and_drivers_through_refreshes(
    page: Page, live_server: LiveServer, org: SeededOrg
) -> None:
    page.goto(f"{live_server.url}/dashboard/compressors/COMP-001?range=24H")
    page.wait_for_function(READY)
    page.wait_for_timeout(300)
    # the last 24 hours: the seeded hours' newest 24, fewer by the hours the clock has moved on since
    since = (current_hour() - org.hour) // timedelta(hours=1)
    health = page.evaluate(CHART, "trend-health")
    points = [p[1] for p in health["series"][0]["data"] if p[1] is not None]
    assert len(points) == 24 - since and points[-1] == 59.0 and points == sorted(points, reverse=True)
    assert (health["yMin"], health["yMax"]) == (0, 100) and health["group"] == "trends"
    assert 80 in health["lines"] and 50 in health["lines"]
    vibration = page.evaluate(CHART, "trend-vibration")
    series = {s["name"]: s for s in vibration["series"]}
    assert (
        8.0 in vibration["lines"] and "now" in vibration["lines"]
    )  # the critical line; the axis runs past now
    cone = [width for _t, width in series["_cone"]["data"]]
    assert len(cone) >= 16 and min(cone) >= 0 and max(cone) > 0  # a band of real width
    assert len(series["projected"]["data"]) == 2 and series["projected"]["data"][1][1] == 8.0
    crossings = series["projected"]["points"]
    assert [c[1] for c in crossings] == [6.0, 8.0]
    assert health["xMax"] == vibration["xMax"]  # one time axis for every chart (linked zoom)
    caption = page.locator('figure[data-sensor="vibration"] [data-field="projection"]')
    expect(caption).to_contain_text("critical 8.00 mm/s in 31 h (22–45 h)")
    expect(page.locator('[data-field="drivers"] li').first).to_contain_text(
        "Vibration: clearly higher than this compressor's own model expects"
    )
    expect(page.locator('[data-field="health-now"]')).to_contain_text("59 — degrading")
    _refreshed(page, 3)
    again = page.evaluate(CHART, "trend-vibration")
    assert again["instance"] == vibration["instance"]  # updated in place
    assert [s["name"] for s in again["series"]] == [s["name"] for s in vibration["series"]]
    assert page.evaluate(CHART, "trend-health")["instance"] == health["instance"]


def test_alerts_label_early_warnings_and_link_the_story(
    page: Page, live_server: LiveServer, org: SeededOrg
) -> None:
    early, follow = link_early_warning(live_server, org.id, "COMP-003")
    page.goto(f"{live_server.url}/dashboard/alerts?status=all&compressor=COMP-003")
    page.wait_for_function(READY)
    expect(page.locator(f'tr[data-alert-id="{early}"] [data-early-warning="anomaly"]')).to_have_text(
        "Early warning · health index"
    )
    story = page.locator(f'tr[data-alert-id="{follow}"] [data-field="preceded"]')
    expect(story).to_have_text("preceded by an early warning (health index) raised 36 h earlier")
    story.get_by_role("link").click()
    page.wait_for_url(re.compile(f"#alert-{early}$"))
    expect(page.locator(f"#alert-{early}")).to_be_in_viewport()
