"""The Fleet registry and Thresholds settings pages in Chromium: an admin sees the fleet listed,
downloads the template, checks an import (the dry run shows every row's outcome and changes
nothing), imports it, registers a station by hand, and sets a compressor's threshold, which its
detail page then draws."""

from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from altaviz.accounts.roles import Role
from altaviz.registry.fleet_import import TEMPLATE_COLUMNS
from tests.api.world import PASSWORD, SeededOrg
from tests.e2e.conftest import LiveServer, save_screenshot, seed_org, sign_in

HEADER = ",".join(TEMPLATE_COLUMNS[:11])  # compressor_id ... notes
IMPORT = f"""{HEADER}
UNIT-1,WEST-1,West pad,31.9,-102.1,Permian Basin,Ariel,JGK/4,1480,2023-03-01,new unit
UNIT-2,WEST-1,,,,,Ariel,JGK/4,,2023-03-02,
COMP-001,STATION-A,,,,,,,,,moved notes
BAD ID,WEST-1,,,,,Ariel,JGK/4,,2023-03-03,
"""


@pytest.fixture(scope="module")
def org(live_server: LiveServer) -> SeededOrg:
    return seed_org(live_server, "registry-co", "Registryco")


def test_an_admin_lists_checks_and_imports_the_fleet(
    live_server: LiveServer, browser: Browser, org: SeededOrg, tmp_path: Path
) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    sign_in(page, live_server, org.emails[Role.ADMIN], PASSWORD)
    page.goto(f"{live_server.url}/dashboard/settings")
    page.get_by_role("link", name="Fleet registry").click()
    page.wait_for_url(f"{live_server.url}/dashboard/settings/fleet")
    expect(page.get_by_role("heading", name="Fleet registry", level=1)).to_be_visible()
    for compressor in org.compressors:
        expect(page.locator(f'tr[data-compressor="{compressor}"]')).to_be_visible()

    with page.expect_download() as download:
        page.get_by_role("link", name="Download the CSV template").click()
    assert Path(download.value.path()).read_text().startswith("compressor_id,station_id,station_name")

    upload = tmp_path / "fleet.csv"
    upload.write_text(IMPORT)
    page.locator('#fleet-import input[type="file"]').set_input_files(str(upload))
    page.get_by_role("button", name="Check the file").click()
    summary = page.locator('[data-field="dry-run-summary"]')
    expect(summary).to_contain_text("Dry run — nothing was changed. 4 rows: 3 would apply, 1 refused")
    rows = page.locator('[data-table="import-rows"] tbody tr')
    expect(rows).to_have_count(4)
    expect(rows.nth(0)).to_contain_text(
        "station WEST-1 created; model Ariel JGK/4 created; compressor UNIT-1 created"
    )
    expect(rows.nth(2)).to_contain_text("compressor COMP-001 changed (notes)")
    expect(rows.nth(3)).to_have_attribute("data-status", "refused")
    expect(rows.nth(3)).to_contain_text("compressor_id: compressor_id 'BAD ID' has characters outside")
    save_screenshot(page, "fleet-import-dry-run")

    # nothing changed yet: a fresh look at the registry has no UNIT-1
    check = browser.new_page()
    sign_in(check, live_server, org.emails[Role.VIEWER], PASSWORD)
    check.goto(f"{live_server.url}/dashboard/settings/fleet")
    expect(check.locator('tr[data-compressor="COMP-001"]')).to_be_visible()
    expect(check.locator('tr[data-compressor="UNIT-1"]')).to_have_count(0)

    page.get_by_role("button", name="Import 3 rows").click()
    expect(page.locator('[data-field="import-summary"]')).to_contain_text(
        "Imported. 4 rows: 3 applied, 1 refused"
    )
    page.get_by_role("link", name="Reload the registry").click()
    expect(page.locator('tr[data-compressor="UNIT-1"]')).to_contain_text("West pad")
    expect(page.locator('tr[data-compressor="UNIT-2"]')).to_contain_text("Ariel JGK/4")
    expect(page.locator('tr[data-compressor="COMP-001"]')).to_contain_text("moved notes")
    expect(page.locator('[data-field="plan-count"]')).to_contain_text("6 compressors registered")

    # register a station by hand
    form = page.locator("#add-station")
    form.get_by_label("Id").fill("EAST-9")
    form.get_by_label("Name").fill("East compressor pad")
    form.get_by_label("Latitude").fill("32.25")
    form.get_by_label("Longitude").fill("-94.5")
    form.get_by_role("button", name="Register").click()
    expect(page.locator('tr[data-station="EAST-9"]')).to_contain_text("32.25, -94.5")

    # move a compressor there and note why, from its row
    row = page.locator('tr[data-compressor="UNIT-2"]')
    row.get_by_text("Edit").click()
    row.get_by_label("Station").fill("EAST-9")
    row.get_by_label("Notes").fill("moved east")
    row.get_by_role("button", name="Save").click()
    expect(page.locator('tr[data-compressor="UNIT-2"]')).to_contain_text("East compressor pad")
    expect(page.locator('tr[data-compressor="UNIT-2"]')).to_contain_text("moved east")
    save_screenshot(page, "fleet-registry")

    # the viewer sees the lists but no editing controls
    check.reload()
    expect(check.locator('tr[data-compressor="UNIT-1"]')).to_be_visible()
    expect(check.locator("#fleet-import")).to_have_count(0)
    expect(check.locator("#add-station")).to_have_count(0)


def test_an_admin_sets_a_compressor_threshold(
    live_server: LiveServer, browser: Browser, org: SeededOrg
) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    sign_in(page, live_server, org.emails[Role.ADMIN], PASSWORD)
    page.goto(f"{live_server.url}/dashboard/settings/thresholds?scope=compressor:COMP-002")
    expect(page.get_by_role("heading", name="Scope: compressor COMP-002")).to_be_visible()
    warning = page.locator('input[name="vibration_mms.warning"]')
    expect(warning).to_have_attribute("placeholder", "6.0")

    warning.fill("9")  # beyond the critical limit (8): refused, naming the field
    page.get_by_role("button", name="Save compressor COMP-002's thresholds").click()
    expect(page.locator("#thresholds-form [data-result]")).to_contain_text("must be below the critical limit")
    expect(warning).to_have_attribute("aria-invalid", "true")

    page.locator('input[name="vibration_mms.critical"]').fill("12")
    page.get_by_role("button", name="Save compressor COMP-002's thresholds").click()
    row = page.locator('tr[data-metric="vibration_mms"]')
    expect(row.locator('td[data-field="warning"]')).to_have_attribute("data-source", "compressor")
    expect(row.locator('td[data-field="critical"] [data-value]')).to_have_text("12.0")
    expect(page.locator('[data-table="threshold-history"] tbody tr')).to_have_count(1)
    save_screenshot(page, "thresholds")

    page.goto(f"{live_server.url}/dashboard/compressors/COMP-002")
    expect(page.locator('[data-gauge="vibration"]')).to_contain_text("warning ≥ 9.0, critical ≥ 12.0")
