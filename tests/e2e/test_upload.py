"""The data page in Chromium: an admin uploads a CSV of readings, sees the check (refused rows with
their reason) before anything is stored, stores it, downloads the template; a file over the limit is
sent to the API or the CLI; a viewer cannot open the page."""

import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from altaviz.accounts.roles import Role
from tests.api.world import PASSWORD, SeededOrg
from tests.e2e.conftest import LiveServer, save_screenshot, seed_org, sign_in
from tests.ingest.helpers import as_csv, landed, landed_rows, reading, series


@pytest.fixture(scope="module")
def org(live_server: LiveServer) -> SeededOrg:
    return seed_org(live_server, "upload-co", "Uploadco")


def test_an_admin_checks_then_stores_a_csv(
    live_server: LiveServer, browser: Browser, org: SeededOrg, tmp_path: Path
) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    sign_in(page, live_server, org.emails[Role.ADMIN], PASSWORD)
    page.get_by_role("link", name="Upload data").click()
    page.wait_for_url(f"{live_server.url}/data")
    expect(page.get_by_role("heading", name="Upload readings")).to_be_visible()

    with page.expect_download() as download:
        page.get_by_role("link", name="Download the CSV template").click()
    template = Path(download.value.path()).read_text()
    assert template.splitlines()[0].startswith("compressor_id,timestamp,vibration_mms")
    assert len(template.splitlines()) == 3

    rows = [*series(40), reading("COMP-001", vibration_mms=250), reading("NOT-OURS")]
    upload = tmp_path / "field-export.csv"
    upload.write_bytes(as_csv(rows))
    page.locator("#upload-file").set_input_files(str(upload))
    expect(page.locator('[data-field="accepted"]')).to_have_text("40")
    expect(page.locator('[data-field="refused"]')).to_have_text("2")
    refused = page.locator("#refused-rows tbody tr")
    expect(refused).to_have_count(2)
    expect(refused.nth(0)).to_contain_text("vibration_mms 250 is physically impossible")
    expect(refused.nth(1)).to_contain_text("unknown compressor: NOT-OURS")
    expect(page.locator("#upload-status")).to_contain_text("nothing stored yet")
    assert not landed(live_server.data_dir, org.slug)  # checked, not stored
    save_screenshot(page, "data-upload-check")

    store = page.get_by_role("button", name=re.compile(r"Store 40 readings"))
    store.click()
    expect(page.locator("#upload-status")).to_contain_text("Stored 40 readings")
    assert len(landed_rows(live_server.data_dir, org.slug)) == 40
    assert len(landed_rows(live_server.data_dir, org.slug, "refused")) == 2

    # Dropped rather than chosen: the same check.
    page.get_by_role("button", name="Choose another file").click()
    page.evaluate(
        """text => {
            const transfer = new DataTransfer();
            transfer.items.add(new File([text], "dropped.csv", {type: "text/csv"}));
            document.getElementById("upload").dispatchEvent(
                new DragEvent("drop", {dataTransfer: transfer, bubbles: true, cancelable: true}));
        }""",
        as_csv([reading("COMP-002", minutes_ago=3)]).decode(),
    )
    expect(page.locator('[data-field="file"]')).to_have_text("dropped.csv")
    expect(page.locator('[data-field="accepted"]')).to_have_text("1")
    page.close()


def test_a_file_over_the_limit_is_sent_to_the_api_or_the_cli(
    live_server: LiveServer, browser: Browser, org: SeededOrg, tmp_path: Path
) -> None:
    page = browser.new_page()
    sign_in(page, live_server, org.emails[Role.ADMIN], PASSWORD)
    page.goto(f"{live_server.url}/data")
    big = tmp_path / "year.csv"
    big.write_bytes(b"x" * (live_server.settings.ingest_max_request_body_bytes + 1))
    page.locator("#upload-file").set_input_files(str(big))
    status = page.locator("#upload-status")
    expect(status).to_contain_text("the page takes up to 16 MB")
    expect(status).to_contain_text("POST /api/ingest/readings")
    expect(status).to_contain_text(f"altaviz ingest FILE --organization {org.slug}")
    # Under the bytes but over the rows: the service's 413 says the same.
    many = tmp_path / "many.csv"
    header = as_csv([reading()]).split(b"\n")[0]
    many.write_bytes(header + b"\n" + b"COMP-001,1,1,1,1,1,1,1,1\n" * 100_001)
    page.locator("#upload-file").set_input_files(str(many))
    expect(status).to_contain_text("100,000 readings", timeout=20_000)
    expect(status).to_contain_text("altaviz ingest FILE")
    page.close()


def test_a_viewer_cannot_open_the_data_page(
    live_server: LiveServer, browser: Browser, org: SeededOrg
) -> None:
    page = browser.new_page()
    sign_in(page, live_server, org.emails[Role.VIEWER], PASSWORD)
    expect(page.get_by_role("link", name="Upload data")).to_have_count(0)
    response = page.goto(f"{live_server.url}/data")
    assert response is not None and response.status == 403
    page.close()
