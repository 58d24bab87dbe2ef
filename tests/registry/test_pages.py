"""The Fleet and Thresholds settings pages (server-rendered), the CSV template, and the compressor
page's gauges and chart lines drawn at the compressor's effective thresholds."""

import csv
import io
import json
import re

from fastapi import FastAPI

from altaviz.accounts.roles import Role
from altaviz.registry.fleet_import import TEMPLATE_COLUMNS
from tests.api.world import SeededOrg, member_client


def test_fleet_page_lists_the_registry(app: FastAPI, org_a: SeededOrg, org_b: SeededOrg) -> None:
    admin = member_client(app, org_a.users[Role.ADMIN])
    page = admin.get("/dashboard/settings/fleet")
    assert page.status_code == 200, page.text
    html = page.text
    for compressor in org_a.compressors:
        assert f'data-compressor="{compressor}"' in html
    assert 'data-station="ALPHA-ST"' in html and 'data-model="Alpha Ajax DPC-360"' in html
    assert 'id="fleet-import"' in html and 'data-registry="POST /api/compressors"' in html
    assert "4 compressors registered (the Enterprise plan has no limit)" in html
    assert org_b.marker not in html

    archived = admin.delete("/api/compressors/COMP-002").json()
    assert archived["outcome"] == "archived"
    assert 'data-compressor="COMP-002"' not in admin.get("/dashboard/settings/fleet").text
    archive = admin.get("/dashboard/settings/fleet", params={"archived": "true"}).text
    assert 'data-compressor="COMP-002"' in archive and "Restore" in archive

    # a viewer sees the lists without the editing controls
    viewer = member_client(app, org_a.users[Role.VIEWER])
    html = viewer.get("/dashboard/settings/fleet").text
    assert (
        'data-compressor="COMP-001"' in html
        and "data-registry" not in html
        and 'id="fleet-import"' not in html
    )


def test_csv_template_download(app: FastAPI, org_a: SeededOrg) -> None:
    response = member_client(app, org_a.users[Role.VIEWER]).get("/dashboard/settings/fleet/template.csv")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(response.text)))
    assert tuple(rows[0]) == TEMPLATE_COLUMNS and len(rows) == 3


def test_thresholds_page_shows_effective_values_and_sources(app: FastAPI, org_a: SeededOrg) -> None:
    admin = member_client(app, org_a.users[Role.ADMIN])
    assert (
        admin.put(
            "/api/thresholds",
            params={"scope": "compressor:COMP-003"},
            json={"metrics": {"vibration_mms": {"warning": 5.0}}},
        ).status_code
        == 200
    )
    html = admin.get("/dashboard/settings/thresholds", params={"scope": "compressor:COMP-003"}).text
    row = re.search(r'<tr data-metric="vibration_mms">(.*?)</tr>', html, re.S)
    assert row is not None
    assert 'data-field="warning" data-source="compressor"' in row.group(1)
    assert 'name="vibration_mms.warning" value="5.0"' in row.group(1) and 'placeholder="6.0"' in row.group(1)
    assert 'data-field="critical" data-source="default"' in row.group(1)
    assert "Version 1 of the organization" in html
    organization = admin.get("/dashboard/settings/thresholds").text
    assert 'data-source="compressor"' not in organization
    missing = admin.get("/dashboard/settings/thresholds", params={"scope": "compressor:NOPE"})
    assert missing.status_code == 404


def test_compressor_page_draws_the_effective_thresholds(app: FastAPI, org_a: SeededOrg) -> None:
    admin = member_client(app, org_a.users[Role.ADMIN])
    # the seeded vibration mean is about 11 (tests/api/world.hourly_values): critical by default
    before = admin.get("/dashboard/compressors/COMP-002").text
    gauges = [
        json.loads(m.replace("&#34;", '"'))
        for m in re.findall(r'data-for="gauge" data-json="([^"]*)"', before)
    ]
    assert gauges[0]["warning"] == 6.0 and gauges[0]["critical"] == 8.0
    assert (
        admin.put(
            "/api/thresholds",
            params={"scope": f"model:{org_a.model_id}"},
            json={"metrics": {"vibration_mms": {"warning": 15.0, "critical": 20.0}}},
        ).status_code
        == 200
    )
    assert (
        admin.put(
            "/api/thresholds",
            params={"scope": "compressor:COMP-002"},
            json={"metrics": {"vibration_mms": {"critical": 25.0}}},
        ).status_code
        == 200
    )
    after = admin.get("/dashboard/compressors/COMP-002").text
    gauges = [
        json.loads(m.replace("&#34;", '"'))
        for m in re.findall(r'data-for="gauge" data-json="([^"]*)"', after)
    ]
    assert (gauges[0]["warning"], gauges[0]["critical"]) == (15.0, 25.0)
    assert "warning ≥ 15.0, critical ≥ 25.0" in after
    trends = [
        json.loads(m.replace("&#34;", '"'))
        for m in re.findall(r'data-for="trend" data-json="([^"]*)"', after)
    ]
    vibration = next(t for t in trends if t["id"] == "vibration")
    assert (vibration["warning"], vibration["critical"], vibration["crossed"]) == (
        15.0,
        25.0,
        "warning",
    )  # critical at the defaults
    # another compressor of the model has the model's values, the default elsewhere stays
    other = admin.get("/dashboard/compressors/COMP-003").text
    assert "warning ≥ 15.0, critical ≥ 20.0" in other
