"""Every page on a phone, under axe-core, and what a chart page weighs (issue 17 items 6, 7 and 8).

One Enterprise organization with the demo fleet, alerts in every state (new, acknowledged, shelved,
resolved; an early warning a threshold alert followed), a compressor with projected crossings, an API
key, a pending invitation and a viewer; one Free organization with the same fleet
(compressors held back by the plan). Then, for every page (31, public and signed in):

- at 375 px wide: the page is no wider than the screen, nothing in it scrolls sideways, and tables are
  reflowed into cards whose cells name their column;
- axe-core (vendored under tests/e2e/vendor, injected through the DevTools protocol, so the CSP stays
  on) finds no serious or critical violation, on a phone and on a desktop;
- the fleet map and the station legend say each station's health in words;
- a chart page transfers at most 450 KB cold and 60 KB warm (Chrome's own byte counts, CDP Network
  events), and the ECharts bundle holds every chart type and component the pages ask for.
"""

import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, ViewportSize, expect

from altaviz.accounts import service as accounts
from altaviz.accounts.roles import Role
from altaviz.db.session import create_db_engine, session_scope
from tests.e2e.conftest import (
    DESKTOP,
    PHONE,
    LiveServer,
    add_early_warning,
    link_early_warning,
    save_screenshot,
)

PASSWORD = "pumps and pipelines 2026"
OWNER = "owner@bayou-compression.example"
VIEWER = "viewer@bayou-compression.example"
FREE_OWNER = "owner@small-field.example"
SLUG = "bayou-compression"
FREE_SLUG = "small-field"
PEOPLE = {"owner": OWNER, "viewer": VIEWER, "free": FREE_OWNER}
AXE = Path(__file__).parent / "vendor" / "axe-4.14.1.min.js"
COLD_LIMIT, WARM_LIMIT = 450_000, 60_000

# (name, path, who): every page a person can reach, in the states that make them longest.
PAGES: list[tuple[str, str, str]] = [
    ("landing", "/", "anonymous"),
    ("pricing", "/pricing", "anonymous"),
    ("login", "/login", "anonymous"),
    ("login-next", "/login?next=/dashboard/alerts", "anonymous"),
    ("signup", "/signup", "anonymous"),
    ("signup-pro", "/signup?plan=pro", "anonymous"),
    ("invitation", "/invitations/accept?token={token}", "anonymous"),
    ("invitation-gone", "/invitations/accept?token=this-link-was-never-issued", "anonymous"),
    ("fleet", "/dashboard", "owner"),
    ("fleet-critical", "/dashboard?status=critical", "owner"),
    ("fleet-station", "/dashboard?station=STATION-C", "owner"),
    ("fleet-by-health-index", "/dashboard?sort=health_index", "owner"),
    ("compressor", "/dashboard/compressors/COMP-007", "owner"),
    ("compressor-7d", "/dashboard/compressors/COMP-007?window=4hr&range=7D", "owner"),
    ("compressor-predicted", "/dashboard/compressors/COMP-005", "owner"),
    ("compressor-missing", "/dashboard/compressors/NO-SUCH-UNIT", "owner"),
    ("alerts", "/dashboard/alerts", "owner"),
    ("alerts-all", "/dashboard/alerts?status=all", "owner"),
    ("alerts-shelved", "/dashboard/alerts?status=shelved", "owner"),
    ("alerts-resolved", "/dashboard/alerts?status=resolved", "owner"),
    ("data-quality", "/dashboard/data-quality?hours=720", "owner"),
    ("settings", "/dashboard/settings", "owner"),
    ("fleet-registry", "/dashboard/settings/fleet", "owner"),
    ("thresholds", "/dashboard/settings/thresholds", "owner"),
    ("upload", "/data", "owner"),
    ("alerts-viewer", "/dashboard/alerts?status=all", "viewer"),
    ("settings-viewer", "/dashboard/settings", "viewer"),
    ("fleet-free", "/dashboard", "free"),
    ("compressor-free", "/dashboard/compressors/COMP-001", "free"),
    ("compressor-held-back", "/dashboard/compressors/COMP-007", "free"),
    ("settings-free", "/dashboard/settings", "free"),
]

# Everything wider than the screen, and every box that scrolls sideways (what a phone hides).
OVERFLOW_JS = """() => {
  const width = document.documentElement.clientWidth;
  const classes = (el) => typeof el.className === 'string' && el.className.trim()
    ? '.' + el.className.trim().split(/\\s+/).join('.') : '';
  const name = (el) => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + classes(el);
  const wide = [], scrollers = [];
  for (const el of document.body.querySelectorAll('*')) {
    const style = getComputedStyle(el);
    if (style.display === 'none' || style.visibility === 'hidden' || style.position === 'fixed') { continue; }
    const box = el.getBoundingClientRect();
    if (box.width === 0 || box.height === 0 || box.width <= 1) { continue; }
    // What a clipping ancestor cuts off is not on the page (the screen-reader-only table headers);
    // html and body clip sideways too, but what they hide is exactly what this looks for.
    let right = box.right;
    for (let up = el.parentElement; up && up !== document.body; up = up.parentElement) {
      if (['hidden', 'clip'].includes(getComputedStyle(up).overflowX)) {
        right = Math.min(right, up.getBoundingClientRect().right);
      }
    }
    if (right > width + 0.5) { wide.push(name(el) + ' ends at ' + Math.round(right) + 'px'); }
    if (['auto', 'scroll'].includes(style.overflowX) && el.scrollWidth > el.clientWidth + 1) {
      scrollers.push(name(el) + ' scrolls ' + el.scrollWidth + 'px in ' + el.clientWidth + 'px');
    }
  }
  return { scrollWidth: document.documentElement.scrollWidth, wide: wide.slice(0, 8), scrollers };
}"""

# Tables on a phone: rows are cards (not table rows), and each cell with a column shows its name.
TABLES_JS = """() => {
  const problems = [];
  let cells = 0;
  for (const table of document.querySelectorAll('main table')) {
    if (!table.getClientRects().length) { continue; }
    // A column whose header is only for screen readers (Actions) needs no visible name.
    const heads = Array.from(table.querySelectorAll('thead th')).map((th) => {
      const hidden = th.querySelector('.sr-only');
      return hidden && hidden.textContent.trim() === th.textContent.trim() ? '' : th.textContent.trim();
    });
    for (const row of table.querySelectorAll('tbody tr')) {
      if (getComputedStyle(row).display === 'table-row') {
        problems.push('a row is still a table row');
        break;
      }
      Array.from(row.children).forEach((td, index) => {
        const head = heads[index];
        if (!head || !td.textContent.trim() || !td.getClientRects().length) { return; }
        cells += 1;
        const label = getComputedStyle(td, '::before').content;
        if (!label || label === 'none' || !label.includes(head)) {
          problems.push('cell "' + td.textContent.trim().slice(0, 30) + '" does not say "' + head + '"');
        }
      });
    }
  }
  return { problems: Array.from(new Set(problems)).slice(0, 8), cells };
}"""

AXE_RUN_JS = """async () => {
  const result = await axe.run(document, { resultTypes: ['violations'] });
  return result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.slice(0, 4).map((n) =>
      n.target.join(' ') + ' — ' + (n.failureSummary || '').replace(/\\s+/g, ' ')),
  }));
}"""

# Wraps echarts.init so the test sees what each chart asked for (series types, option keys).
RECORD_OPTIONS_JS = """(() => {
  window.__asked = [];
  let held;
  Object.defineProperty(window, 'echarts', { configurable: true, get() { return held; }, set(lib) {
    held = lib;
    const init = lib.init;
    lib.init = function () {
      const chart = init.apply(lib, arguments);
      const setOption = chart.setOption;
      chart.setOption = function (option) {
        window.__asked.push({ chart: chart, option: option });
        return setOption.apply(chart, arguments);
      };
      return chart;
    };
  } });
})();"""

# What the bundle made of what was asked: a top-level component or a series type it lacks disappears
# from getOption(); a marker it lacks leaves no marker model.
MISSING_JS = """() => {
  const notComponents = new Set(['animation', 'animationDuration', 'useUTC', 'color', 'backgroundColor',
    'textStyle', 'media', 'baseOption', 'options', 'darkMode', 'aria', 'stateAnimation', 'blendMode',
    'hoverLayerThreshold', 'progressive', 'progressiveThreshold']);
  const missing = new Set();
  for (const asked of window.__asked) {
    if (asked.chart.isDisposed()) { continue; }
    const got = asked.chart.getOption();
    for (const key of Object.keys(asked.option)) {
      if (!notComponents.has(key) && asked.option[key] !== undefined && !(key in got)) { missing.add(key); }
    }
    const series = [].concat(asked.option.series || []);
    const types = new Set(asked.chart.getModel().getSeries().map((s) => s.subType));
    for (const s of series) {
      if (s.type && !types.has(s.type)) { missing.add('series ' + s.type); }
    }
  }
  return Array.from(missing);
}"""


def _altaviz(server: LiveServer, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "altaviz", *args], env=server.env(), check=True, capture_output=True, text=True
    )
    return done.stdout


def _csrf(page: Page) -> str:
    return page.locator('meta[name="csrf-token"]').get_attribute("content") or ""


def _api(page: Page, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    response = page.request.fetch(
        page.url.split("/dashboard")[0] + path,
        method=method,
        headers={"X-CSRF-Token": _csrf(page), "Content-Type": "application/json"},
        data=json.dumps(body or {}),
    )
    assert response.ok, (path, response.status, response.text())
    return (
        response.json() if response.headers.get("content-type", "").startswith("application/json") else None
    )


def _sign_in(context: BrowserContext, server: LiveServer, email: str) -> None:
    response = context.request.post(
        f"{server.url}/api/auth/login",
        data=json.dumps({"email": email, "password": PASSWORD}),
        headers={"Content-Type": "application/json"},
    )
    assert response.ok, response.text()


@pytest.fixture(scope="module")
def world(live_server: LiveServer, browser: Browser) -> dict[str, str]:
    """The organization every page is looked at in, with something in every list."""
    _altaviz(
        live_server, "orgs", "create", "Bayou Compression Partners", "--slug", SLUG, "--tier", "enterprise"
    )
    engine = create_db_engine(str(live_server.settings.database_url), live_server.settings)
    with session_scope(engine) as session:
        org = accounts.get_organization_by_slug(session, SLUG)
        accounts.create_user(
            session, org, email=OWNER, password=PASSWORD, role=Role.OWNER, name="Marguerite Thibodeaux-Landry"
        )
        accounts.create_user(session, org, email=VIEWER, password=PASSWORD, role=Role.VIEWER, name="Val")
    engine.dispose()
    _altaviz(live_server, "simulate", "--organization", SLUG)
    _altaviz(live_server, "pipeline", "run", "--organization", SLUG)
    # A Free organization with the same demo fleet: two compressors monitored, the rest held back.
    _altaviz(live_server, "orgs", "create", "Small Field Services", "--slug", FREE_SLUG, "--tier", "free")
    engine = create_db_engine(str(live_server.settings.database_url), live_server.settings)
    with session_scope(engine) as session:
        org = accounts.get_organization_by_slug(session, FREE_SLUG)
        accounts.create_user(session, org, email=FREE_OWNER, password=PASSWORD, role=Role.OWNER, name="Sam")
    engine.dispose()
    _altaviz(live_server, "simulate", "--organization", FREE_SLUG)
    _altaviz(live_server, "pipeline", "run", "--organization", FREE_SLUG)

    context = browser.new_context(viewport=DESKTOP)
    _sign_in(context, live_server, OWNER)
    page = context.new_page()
    page.goto(f"{live_server.url}/dashboard/alerts?status=active")
    _api(page, "POST", "/api/api-keys", {"name": "scada-historian-export-nightly", "role": "viewer"})
    invitation = _api(
        page,
        "POST",
        "/api/team/invitations",
        {"email": "field.technician@bayou-compression.example", "role": "operator"},
    )
    token = re.search(r"token=([^&\s]+)", invitation["accept_url"])
    assert token is not None
    ids = [row.get_attribute("data-alert-id") for row in page.locator("tr[data-alert-id]").all()]
    assert len(ids) >= 3, "the demo fleet should raise at least three alerts"
    headers = {"X-CSRF-Token": _csrf(page)}
    base = f"{live_server.url}/dashboard/alerts"
    assert page.request.post(f"{base}/{ids[0]}/acknowledge", headers=headers).ok
    assert page.request.post(
        f"{base}/{ids[1]}/shelve",
        headers=headers,
        form={"minutes": "1440", "reason": "sensor being replaced"},
    ).ok
    assert page.request.post(
        f"{base}/{ids[2]}/resolve",
        headers=headers,
        form={"note": "Replaced the bearing and realigned the coupling"},
    ).ok
    context.close()
    # Early warning (issue 19): a degrading compressor with projected crossings, and a threshold alert
    # that followed an early warning, so every page is checked with them shown.
    engine = create_db_engine(str(live_server.settings.database_url), live_server.settings)
    with session_scope(engine) as session:
        org_id = accounts.get_organization_by_slug(session, SLUG).id
    engine.dispose()
    add_early_warning(live_server, org_id, "COMP-005", "discharge_temp_f")
    link_early_warning(live_server, org_id, "COMP-007")
    return {"token": token.group(1)}


def _pages(world: dict[str, str], who: str | None = None) -> list[tuple[str, str, str]]:
    return [(name, path.format(**world), person) for name, path, person in PAGES if who in (None, person)]


def _context(browser: Browser, server: LiveServer, who: str, viewport: ViewportSize) -> BrowserContext:
    phone = viewport == PHONE
    context = browser.new_context(
        viewport=viewport, is_mobile=phone, has_touch=phone, device_scale_factor=2 if phone else 1
    )
    if who != "anonymous":
        _sign_in(context, server, PEOPLE[who])
    return context


# A page is drawn once htmx has loaded it (app.js then sets data-ready; pages without htmx are done at
# their load event) and each fleet map has its chart: the map draws when its outline (the only request
# a page makes after its load event, besides the live region's refreshes) has arrived; the other
# charts draw when htmx loads the page. No web fonts (system fonts only). Waited for as such instead
# of a network-idle moment and a fixed pause, 0.5 + 0.4 s a page.
DRAWN_JS = """() => (document.body.getAttribute('data-ready') === 'true' || !window.htmx)
  && document.fonts.status === 'loaded'
  && Array.from(document.querySelectorAll('[data-chart="map"]'))
    .every((el) => window.echarts && window.echarts.getInstanceByDom(el))"""


def _open(page: Page, url: str) -> None:
    page.goto(url)  # to its load event: the page's scripts, styles and images
    page.wait_for_function(DRAWN_JS)


def _axe(page: Page) -> list[dict[str, Any]]:
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text())  # through DevTools, not a <script> tag: the page's CSP stays on
    return page.evaluate(AXE_RUN_JS)  # type: ignore[no-any-return]


def _violations(page: Page, path: str, who: str, viewport: str) -> list[str]:
    """What axe finds serious or critical on the open page, one text each."""
    return [
        f"{path} ({who}, {viewport}): {violation['id']} [{violation['impact']}] "
        f"{violation['help']}\n    " + "\n    ".join(violation["nodes"])
        for violation in _axe(page)
    ]


@dataclass
class PhoneVisit:
    path: str
    who: str
    layout: dict[str, Any]  # OVERFLOW_JS
    tables: dict[str, Any]  # TABLES_JS
    violations: list[str]  # axe's, measured after the layout


@pytest.fixture(scope="module")
def phone_visits(live_server: LiveServer, browser: Browser, world: dict[str, str]) -> list[PhoneVisit]:
    """Every page opened once on a phone (a context per person, signed in once): its layout and tables
    measured, a screenshot taken, then axe run on it. The layout test and the phone axe test read these
    (a page load each instead of two)."""
    contexts = {who: _context(browser, live_server, who, PHONE) for who in ("anonymous", *PEOPLE)}
    pages = {who: context.new_page() for who, context in contexts.items()}
    visits = []
    try:
        for name, path, who in _pages(world):
            page = pages[who]
            _open(page, f"{live_server.url}{path}")
            layout = page.evaluate(OVERFLOW_JS)
            tables = page.evaluate(TABLES_JS)
            save_screenshot(page, f"phone-{name}")
            visits.append(PhoneVisit(path, who, layout, tables, _violations(page, path, who, "phone")))
    finally:
        for context in contexts.values():
            context.close()
    return visits


def test_no_page_is_wider_than_a_phone_and_tables_become_cards(phone_visits: list[PhoneVisit]) -> None:
    failures = []
    for visit in phone_visits:
        path, who, layout, tables = visit.path, visit.who, visit.layout, visit.tables
        if layout["scrollWidth"] > PHONE["width"] or layout["wide"]:
            failures.append(f"{path} ({who}) is {layout['scrollWidth']} px wide: {layout['wide']}")
        if layout["scrollers"]:
            failures.append(f"{path} ({who}) hides content in a sideways scroller: {layout['scrollers']}")
        if tables["problems"]:
            failures.append(f"{path} ({who}) tables are not cards: {tables['problems']}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_axe_finds_no_serious_or_critical_violation_on_any_page(
    live_server: LiveServer,
    browser: Browser,
    world: dict[str, str],
    viewport: str,
    request: pytest.FixtureRequest,
) -> None:
    found = []
    if viewport == "phone":  # the pages the layout test opened on a phone
        visits: list[PhoneVisit] = request.getfixturevalue("phone_visits")
        found = [violation for visit in visits for violation in visit.violations]
    else:
        contexts = {who: _context(browser, live_server, who, DESKTOP) for who in ("anonymous", *PEOPLE)}
        pages = {who: context.new_page() for who, context in contexts.items()}
        try:
            for _name, path, who in _pages(world):
                page = pages[who]
                _open(page, f"{live_server.url}{path}")
                found += _violations(page, path, who, viewport)
        finally:
            for context in contexts.values():
                context.close()
    assert not found, "\n".join(found)


def test_the_map_and_the_station_legend_say_health_in_words(
    live_server: LiveServer, browser: Browser, world: dict[str, str]
) -> None:
    context = _context(browser, live_server, "owner", DESKTOP)
    page = context.new_page()
    _open(page, f"{live_server.url}/dashboard")
    block = page.locator('[data-for="map"]').first
    points = json.loads(block.evaluate("el => el.getAttribute('data-json') || el.textContent"))
    assert {p["id"]: p["status"] for p in points}["STATION-C"] == "critical"
    # The legend: each station's state as visible text, not only the colour of a dot.
    for point in points:
        item = page.locator(f'li[data-station="{point["id"]}"]')
        if item.count():
            expect(item.locator(".status")).to_be_visible()
            expect(item.locator(".status")).to_contain_text(point.get("label") or point["status"])
    # The map: its accessible name tells every station and its state (what a screen reader says) ...
    name = page.locator('[data-chart="map"]').evaluate(
        "el => (el.getAttribute('aria-labelledby') || '').split(' ').map((id) =>"
        " (document.getElementById(id) || {}).textContent || '').join(' ') || el.getAttribute('aria-label')"
    )
    for point in points:
        assert point["name"] in name and (point.get("label") or point["status"]) in name, (point, name)
    assert "COMP-007" in name
    expect(page.get_by_role("img", name=re.compile("Haynesville.*critical"))).to_have_count(1)
    # ... and the dots on the map are labelled with the state of every station that is not healthy.
    labels = page.evaluate(
        """() => {
      const chart = echarts.getInstanceByDom(document.querySelector('[data-chart="map"]'));
      const series = chart.getOption().series[0];
      return series.data.map((d) => [d.status, series.label.formatter({ data: d })]);
    }"""
    )
    assert labels and all(status in text for status, text in labels if status != "healthy"), labels
    assert any("critical" in text for _status, text in labels), labels
    context.close()


def _transfer(page: Page, context: BrowserContext, url: str) -> dict[str, int]:
    """Bytes Chrome received (headers and bodies, as on the wire) for a page load, per resource;
    the live region's own refreshes (htmx requests) are not part of loading the page, nor is a request
    sent before the recording began (the previous page's refresh, still arriving)."""
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    urls: dict[str, str] = {}
    refreshes: set[str] = set()
    received: dict[str, int] = {}

    def sent(event: dict[str, Any]) -> None:
        urls[event["requestId"]] = event["request"]["url"]
        if any(k.lower() == "hx-request" for k in event["request"]["headers"]):
            refreshes.add(event["requestId"])

    cdp.on("Network.requestWillBeSent", sent)
    cdp.on(
        "Network.loadingFinished", lambda e: received.__setitem__(e["requestId"], int(e["encodedDataLength"]))
    )
    _open(page, url)
    page.wait_for_load_state("networkidle")  # every request of the load counted (the favicon's too)
    page.wait_for_timeout(300)
    cdp.detach()
    sizes: dict[str, int] = {}
    for request_id, size in received.items():
        if request_id in refreshes or request_id not in urls:
            continue
        name = urls[request_id].split("?")[0].replace(url.split("/dashboard")[0], "")
        sizes[name] = sizes.get(name, 0) + size
    return sizes


@pytest.mark.parametrize("path", ["/dashboard/compressors/COMP-007", "/dashboard"])
def test_a_chart_page_is_light_cold_and_warm(
    live_server: LiveServer, browser: Browser, world: dict[str, str], path: str
) -> None:
    context = browser.new_context(viewport=DESKTOP)
    context.add_init_script(RECORD_OPTIONS_JS)
    _sign_in(context, live_server, OWNER)  # over the API: no page has warmed the cache yet
    page = context.new_page()
    url = f"{live_server.url}{path}"
    cold = _transfer(page, context, url)
    warm = _transfer(page, context, url)
    print(
        f"\n{path}: cold {sum(cold.values()) / 1000:.1f} KB, warm {sum(warm.values()) / 1000:.1f} KB "
        f"(targets {COLD_LIMIT // 1000} KB and {WARM_LIMIT // 1000} KB)"
    )
    for name, size in sorted(cold.items(), key=lambda item: -item[1]):
        print(f"  {name:60} cold {size / 1000:7.1f} KB   warm {warm.get(name, 0) / 1000:6.1f} KB")
    assert any("echarts" in name for name in cold), cold
    assert sum(cold.values()) <= COLD_LIMIT, cold
    assert sum(warm.values()) <= WARM_LIMIT, warm
    assert page.locator("[data-chart] canvas").count() >= 1
    assert page.evaluate(MISSING_JS) == [], "the ECharts bundle lacks what a chart asked for"
    context.close()
