"""The organization's time zone (issue 17 item 5): set by the owner through the API, checked against the
IANA database, shown by the organization's answer and used by the pages."""

from fastapi import FastAPI

from altaviz.accounts.roles import Role
from tests.api.world import SeededOrg, member_client


def test_the_owner_sets_a_time_zone_that_pages_use(app: FastAPI, org_a: SeededOrg) -> None:
    owner = member_client(app, org_a.users[Role.OWNER])
    assert owner.get("/api/organization").json()["time_zone"] == "UTC"
    refused = owner.patch("/api/organization", json={"time_zone": "America/Chikago"})
    assert refused.status_code == 422
    assert "unknown time zone 'America/Chikago'" in refused.json()["error"]
    assert "America/Chicago" in refused.json()["error"]
    assert owner.patch("/api/organization", json={}).status_code == 422  # nothing to change
    saved = owner.patch("/api/organization", json={"time_zone": "America/Chicago"})
    assert saved.status_code == 200 and saved.json()["time_zone"] == "America/Chicago"
    assert saved.json()["name"] == "Alpha Gas"  # unchanged
    assert owner.get("/api/organization").json()["time_zone"] == "America/Chicago"
    # the pages show times in the zone (CST/CDT), with UTC on hover
    page = owner.get("/dashboard/alerts?status=all").text
    assert 'data-tz="America/Chicago"' in page
    assert " CST</span>" in page or " CDT</span>" in page
    assert 'title="20' in page and ' UTC"' in page


def test_only_the_owner_sets_the_time_zone(app: FastAPI, org_a: SeededOrg) -> None:
    admin = member_client(app, org_a.users[Role.ADMIN])
    assert admin.patch("/api/organization", json={"time_zone": "America/Chicago"}).status_code == 403
