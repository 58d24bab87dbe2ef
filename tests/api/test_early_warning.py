"""Early warning through the API (issue 19 item 5): a compressor's health trend with its drivers and
predictions, the fleet's projected crossings soonest first, the health index on the fleet, the
plan gate, and a threshold alert linked to the early warning it followed. Rows as the pipeline
loads them (tests.api.world.seed_health), on SQLite and PostgreSQL."""

from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlalchemy.orm import Session

from altaviz.accounts.models import Organization
from altaviz.accounts.roles import Role
from altaviz.alerts.models import AlertHistory
from altaviz.db.session import session_scope
from altaviz.health.models import CompressorPrediction
from tests.api.world import (
    HOURS,
    SeededOrg,
    current_hour,
    health_index,
    key_client,
    member_client,
    seed_organization,
)

Z = "%Y-%m-%dT%H:%M:%SZ"


@pytest.fixture
def viewer(app: FastAPI, org_a: SeededOrg) -> TestClient:
    return key_client(app, org_a.api_keys[Role.VIEWER])


def _set_tier(app: FastAPI, org: SeededOrg, tier: str) -> None:
    with session_scope(app.state.engine) as session:
        session.execute(update(Organization).where(Organization.id == org.id).values(subscription_tier=tier))


def test_health_trend_newest_hour_drivers_and_predictions(viewer: TestClient) -> None:
    hour = current_hour()
    answer = viewer.get("/api/compressors/COMP-001/health", params={"hours": 24}).json()
    items = answer["items"]
    # the last 24 hours (now is past the top of the hour), oldest first, each with its index
    # (COMP-001 loses an index point an hour)
    assert [item["hour"] for item in items] == [
        (hour - timedelta(hours=23 - h)).strftime(Z) for h in range(24)
    ]
    assert [item["health_index"] for item in items] == [health_index(0, h) for h in range(HOURS - 24, HOURS)]
    assert {item["status"] for item in items} == {"judged"}
    current = answer["current"]
    assert current["hour"] == hour.strftime(Z) and current["health_index"] == health_index(0, HOURS - 1)
    assert [d["sensor"] for d in current["drivers"]] == ["vibration_mms", "discharge_temp_f"]
    assert current["drivers"][1]["score"] == -2.5
    # soonest first, in words and units, with the 80 % range and when
    predictions = answer["predictions"]
    assert [(p["metric"], p["level"], p["hours"]) for p in predictions] == [
        ("vibration_mms", "warning", 5.0),
        ("vibration_mms", "critical", 31.0),
    ]
    critical = predictions[1]
    assert (
        critical["label"] == "Vibration" and critical["unit"] == "mm/s" and critical["threshold_value"] == 8.0
    )
    assert (critical["hours_low"], critical["hours_high"]) == (22.0, 45.0)
    assert critical["projected_at"] == (hour + timedelta(hours=31)).strftime(Z)
    assert answer["predictions_note"] is None


def test_health_while_learning_and_range_end(viewer: TestClient) -> None:
    hour = current_hour()
    end = hour - timedelta(hours=HOURS - 7)  # the first 6 hours learned, no index; then judged
    answer = viewer.get(
        "/api/compressors/COMP-002/health", params={"hours": 10, "end": end.isoformat()}
    ).json()
    assert [item["status"] for item in answer["items"]] == ["warmup"] * 6 + ["judged"]
    assert [item["health_index"] for item in answer["items"]][:6] == [None] * 6
    assert answer["current"]["hour"] == hour.strftime(Z)  # the newest hour, whatever the range
    assert answer["predictions"][0]["metric"] == "gas_flow_mcf"  # beyond a week, but a trend
    other = viewer.get("/api/compressors/COMP-003/health").json()
    assert other["predictions"] == [] and len(other["items"]) == 24  # the last 24 hours up to now


def test_unknown_compressor_is_404_and_bad_range_is_422(viewer: TestClient) -> None:
    response = viewer.get("/api/compressors/NO-SUCH/health")
    assert response.status_code == 404 and response.json()["code"] == "not_found"
    assert viewer.get("/api/compressors/COMP-001/health", params={"hours": 0}).status_code == 422
    assert viewer.get("/api/compressors/COMP-001/health", params={"hours": 169}).status_code == 422


def test_fleet_predictions_soonest_first_within_the_horizon(viewer: TestClient, org_a: SeededOrg) -> None:
    page = viewer.get("/api/predictions").json()
    assert page["horizon_hours"] == 168 and page["total"] == 3
    assert [(p["compressor_id"], p["metric"], p["level"], p["hours"]) for p in page["items"]] == [
        ("COMP-001", "vibration_mms", "warning", 5.0),
        (org_a.own_compressor, "discharge_temp_f", "warning", 20.0),
        ("COMP-001", "vibration_mms", "critical", 31.0),
    ]
    first = page["items"][0]
    assert first["station_name"] == "Alpha STATION-A" and first["label"] == "Vibration"
    assert (first["hours_low"], first["hours_high"], first["threshold_value"]) == (3.0, 8.0, 6.0)
    longer = viewer.get("/api/predictions", params={"horizon_hours": 400}).json()
    assert longer["total"] == 4 and longer["items"][-1]["metric"] == "gas_flow_mcf"
    shorter = viewer.get("/api/predictions", params={"horizon_hours": 24}).json()
    assert [p["hours"] for p in shorter["items"]] == [5.0, 20.0]
    second = viewer.get("/api/predictions", params={"limit": 2, "offset": 2}).json()
    assert second["total"] == 3 and [p["hours"] for p in second["items"]] == [31.0]
    beyond = viewer.get("/api/predictions", params={"offset": 10}).json()
    assert beyond["total"] == 3 and beyond["items"] == []
    assert viewer.get("/api/predictions", params={"horizon_hours": 0}).status_code == 422


def test_a_new_projection_shows_at_once(app: FastAPI, viewer: TestClient, org_a: SeededOrg) -> None:
    assert viewer.get("/api/predictions").json()["total"] == 3  # cached now
    with session_scope(app.state.engine) as session:
        session.execute(
            update(CompressorPrediction)
            .where(
                CompressorPrediction.organization_id == org_a.id,
                CompressorPrediction.metric == "gas_flow_mcf",
            )
            .values(hours=2.0, hours_low=1.0, hours_high=4.0)
        )
        session.execute(
            update(Organization)
            .where(Organization.id == org_a.id)
            .values(data_version=Organization.data_version + 1)
        )
    items = viewer.get("/api/predictions").json()["items"]
    assert (items[0]["compressor_id"], items[0]["metric"]) == ("COMP-002", "gas_flow_mcf")


@pytest.mark.parametrize("tier", ["free", "pro"])
def test_predictions_are_an_enterprise_feature(app: FastAPI, org_a: SeededOrg, tier: str) -> None:
    _set_tier(app, org_a, tier)
    viewer = member_client(app, org_a.users[Role.VIEWER])  # Free has no API keys
    refused = viewer.get("/api/predictions")
    assert refused.status_code == 403, refused.text
    body = refused.json()
    assert body["code"] == "upgrade_required" and body["plan"] == tier
    name = tier.title()
    assert body["error"] == f"Failure predictions require the Enterprise plan; this organization is on {name}"
    # the health index is on every plan; the projections say why they are missing
    health = viewer.get("/api/compressors/COMP-001/health").json()
    assert health["predictions"] is None and health["predictions_note"] == body["error"]
    assert health["current"]["health_index"] == health_index(0, HOURS - 1)


def test_fleet_rows_carry_the_health_index_and_sort_by_it(viewer: TestClient, org_a: SeededOrg) -> None:
    rows = viewer.get("/api/fleet", params={"sort": "health_index"}).json()["items"]
    assert [row["compressor_id"] for row in rows] == [
        "COMP-001",
        org_a.own_compressor,
        "COMP-003",
        "COMP-002",
    ]
    assert [row["health_index"] for row in rows] == [health_index(i, HOURS - 1) for i in (0, 3, 2, 1)]
    assert {row["health_index_status"] for row in rows} == {"judged"}
    by_state = viewer.get("/api/fleet", params={"sort": "health"}).json()["items"]
    assert [row["compressor_id"] for row in by_state][:2] == ["COMP-001", "COMP-002"]


def test_compressors_without_an_index_sort_last(app: FastAPI, viewer: TestClient, org_a: SeededOrg) -> None:
    from altaviz.monitoring.models import CompressorState

    with session_scope(app.state.engine) as session:
        session.execute(
            update(CompressorState)
            .where(CompressorState.organization_id == org_a.id, CompressorState.compressor_id == "COMP-001")
            .values(health_index=None, health_status="stopped")
        )
        session.execute(
            update(Organization)
            .where(Organization.id == org_a.id)
            .values(data_version=Organization.data_version + 1)
        )
    rows = viewer.get("/api/fleet", params={"sort": "health_index"}).json()["items"]
    assert rows[-1]["compressor_id"] == "COMP-001" and rows[-1]["health_index_status"] == "stopped"
    assert rows[-1]["health_index"] is None


def test_a_threshold_alert_names_the_early_warning_it_followed(
    app: FastAPI, viewer: TestClient, org_a: SeededOrg
) -> None:
    hour = current_hour()

    def alert(session: Session, opened_hours_ago: int, **fields: Any) -> int:
        row = AlertHistory(
            organization_id=org_a.id,
            compressor_id="COMP-003",
            alert_timestamp=hour - timedelta(hours=opened_hours_ago),
            raised_at=hour - timedelta(hours=opened_hours_ago - 1),
            is_active=True,
            source="pipeline",
            **fields,
        )
        session.add(row)
        session.flush()
        return row.id

    with session_scope(app.state.engine) as session:
        early_id = alert(
            session,
            40,
            condition="health",
            alert_type="anomaly",
            severity="warning",
            last_violation_at=hour - timedelta(hours=2),
            message="Health index below 50",
        )
        follow_id = alert(
            session,
            4,
            condition="vibration_mms",
            alert_type="threshold_critical",
            severity="critical",
            last_violation_at=hour - timedelta(hours=1),
            sensor_value=8.4,
            threshold_value=8.0,
            related_alert_id=early_id,
        )
    linked = viewer.get(f"/api/alerts/{follow_id}").json()
    assert linked["related_alert_id"] == early_id and linked["related_alert_type"] == "anomaly"
    assert linked["related_raised_at"] == (hour - timedelta(hours=39)).strftime(Z)
    listed = {
        a["id"]: a for a in viewer.get("/api/alerts", params={"compressor": "COMP-003"}).json()["items"]
    }
    assert listed[follow_id]["related_alert_id"] == early_id
    assert listed[early_id]["alert_type"] == "anomaly" and listed[early_id]["related_alert_id"] is None


def test_another_organizations_projections_stay_its_own(app: FastAPI, org_a: SeededOrg) -> None:
    other = seed_organization(app.state.engine, "charlie", "Charlie")
    with session_scope(app.state.engine) as session:
        session.execute(
            update(CompressorPrediction)
            .where(CompressorPrediction.organization_id == other.id)
            .values(hours=0.5)
        )
    mine = key_client(app, org_a.api_keys[Role.VIEWER]).get("/api/predictions").json()
    assert [p["hours"] for p in mine["items"]] == [5.0, 20.0, 31.0]
    assert all(p["station_name"].startswith("Alpha") for p in mine["items"])
