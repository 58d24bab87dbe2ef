"""The organization-scoped read API: what each route returns, its filters, pages and limits."""

import math
import threading
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import update

from altaviz.accounts.models import Organization
from altaviz.accounts.roles import Role
from altaviz.db.session import session_scope
from tests.api.world import HOURS, SeededOrg, current_hour, hourly_values, key_client, member_client


@pytest.fixture
def viewer(app: FastAPI, org_a: SeededOrg) -> TestClient:
    return key_client(app, org_a.api_keys[Role.VIEWER])


def _invalid(response: Any, parameter: str) -> None:
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["code"] == "invalid_parameter"
    assert f"'{parameter}'" in body["error"]
    assert body["errors"][0]["parameter"] == parameter


def test_fleet_rows_health_and_summary(viewer: TestClient, org_a: SeededOrg) -> None:
    fleet = viewer.get("/api/fleet").json()
    rows = {row["compressor_id"]: row for row in fleet["items"]}
    assert list(rows) == sorted(rows)
    # COMP-001 has a critical and a warning alert in alarm: the worst wins.
    assert rows["COMP-001"]["health_status"] == "critical" and rows["COMP-001"]["active_alert_count"] == 2
    assert rows["COMP-002"]["health_status"] == "warning"
    # Returned to normal (even unresolved) or resolved alerts do not make a compressor unhealthy.
    assert rows["COMP-003"]["health_status"] == "healthy" and rows["COMP-003"]["active_alert_count"] == 0
    assert rows[org_a.own_compressor]["health_status"] == "healthy"
    hour = org_a.hour
    latest = rows["COMP-002"]["latest"]
    assert (
        rows["COMP-002"]["last_reading_at"] == latest["agg_timestamp"] == hour.strftime("%Y-%m-%dT%H:%M:%SZ")
    )
    assert latest["vibration_mean"] == pytest.approx(hourly_values(1, HOURS - 1)["vibration_mean"])
    assert rows["COMP-001"]["station_name"] == "Alpha STATION-A" and rows["COMP-001"]["latitude"] == 30.0
    assert fleet["summary"] == {
        "compressors": 4,
        "online": 4,
        "stations": 3,
        "healthy": 2,
        "warning": 1,
        "critical": 1,
        "stale": 0,
        "not_monitored": 0,
        "active_alerts": 3,
        "health_percent": 50.0,
        "last_reading_at": hour.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    assert (fleet["total"], fleet["limit"], fleet["offset"]) == (4, 100, 0)


def test_fleet_filters_sorting_and_pages(viewer: TestClient, org_a: SeededOrg) -> None:
    def ids(**params: Any) -> list[str]:
        return [row["compressor_id"] for row in viewer.get("/api/fleet", params=params).json()["items"]]

    everyone = sorted(org_a.compressors)  # ALPHA-9 sorts first
    assert ids(limit=2, offset=1) == everyone[1:3]
    assert viewer.get("/api/fleet", params={"limit": 2}).json()["total"] == 4
    assert ids(sort="health")[:2] == ["COMP-001", "COMP-002"]
    assert ids(status="warning") == ["COMP-002"]
    assert ids(status="healthy") == sorted(["COMP-003", org_a.own_compressor])
    assert ids(station="STATION-B") == sorted(["COMP-003", org_a.own_compressor])
    assert viewer.get("/api/fleet", params={"status": "healthy"}).json()["total"] == 2
    _invalid(viewer.get("/api/fleet", params={"limit": 0}), "limit")
    _invalid(viewer.get("/api/fleet", params={"limit": 1001}), "limit")
    _invalid(viewer.get("/api/fleet", params={"offset": -1}), "offset")
    _invalid(viewer.get("/api/fleet", params={"status": "fine"}), "status")
    _invalid(viewer.get("/api/fleet", params={"station": "A;DROP TABLE"}), "station")


def test_stations(viewer: TestClient) -> None:
    stations = viewer.get("/api/stations").json()
    assert stations["total"] == 3
    own, a, b = stations["items"]  # ALPHA-ST sorts first: a station of its own, no compressor
    assert (own["station_id"], own["compressor_count"], own["health_status"]) == ("ALPHA-ST", 0, "healthy")
    assert (a["station_id"], a["compressor_count"], a["active_alert_count"], a["health_status"]) == (
        "STATION-A",
        2,
        3,
        "critical",
    )
    assert (b["station_id"], b["compressor_count"], b["active_alert_count"], b["health_status"]) == (
        "STATION-B",
        2,
        0,
        "healthy",
    )
    assert a["city"] == "Austin" and a["basin"] == "Permian Basin"


def test_compressor_detail(viewer: TestClient, org_a: SeededOrg) -> None:
    detail = viewer.get("/api/compressors/COMP-001").json()
    assert detail["compressor"]["model"] == "Alpha Ajax DPC-360"
    assert detail["compressor"]["install_date"] == "2022-01-01"
    assert detail["station"]["station_id"] == "STATION-A" and detail["station"]["compressor_count"] == 2
    assert detail["health_status"] == "critical" and detail["active_alert_count"] == 2
    assert detail["latest_reading"]["agg_timestamp"] == org_a.hour.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert detail["latest_reading"]["reading_count"] == 6
    missing = viewer.get("/api/compressors/COMP-404")
    assert missing.status_code == 404 and missing.json()["error"] == "Compressor COMP-404 not found"
    _invalid(viewer.get("/api/compressors/bad id!"), "compressor_id")


def _pooled(parts: list[tuple[int, float, float]]) -> tuple[float, float]:
    total = sum(n for n, _, _ in parts)
    mean = sum(n * m for n, m, _ in parts) / total
    squares = sum((n - 1) * s * s + n * (m - mean) ** 2 for n, m, s in parts)
    return mean, math.sqrt(squares / (total - 1))


@pytest.mark.parametrize("window,step", [("1hr", 1), ("4hr", 4), ("24hr", 24)])
def test_readings_windows(viewer: TestClient, org_a: SeededOrg, window: str, step: int) -> None:
    hour = org_a.hour
    end = hour + timedelta(minutes=30)
    series = viewer.get(
        "/api/compressors/COMP-002/readings", params={"window": window, "hours": 24, "end": end.isoformat()}
    ).json()
    assert series["window"] == window and series["hours"] == 24 and series["history_days"] == 365
    items = series["items"]
    stamps = [item["agg_timestamp"] for item in items]
    assert stamps == sorted(stamps)
    first_hour_index = HOURS - 1  # index of `hour` in the seeded series
    if step == 1:
        assert len(items) == 24
        assert items[-1]["vibration_mean"] == pytest.approx(
            hourly_values(1, first_hour_index)["vibration_mean"]
        )
        return
    for item in items:
        start = item["agg_timestamp"]
        members = [
            h
            for h in range(HOURS)
            if (hour - timedelta(hours=first_hour_index - h)).strftime("%Y-%m-%dT%H:%M:%SZ") >= start
            and (hour - timedelta(hours=first_hour_index - h)) < _parse(start) + timedelta(hours=step)
        ]
        assert members, item
        assert item["reading_count"] == 6 * len(members)
        assert item["expected_readings"] == 6 * len(members)
        values = [hourly_values(1, h) for h in members]
        mean, std = _pooled([(6, v["vibration_mean"], v["vibration_std"]) for v in values])
        assert item["vibration_mean"] == pytest.approx(mean, abs=1e-6)
        assert item["vibration_std"] == pytest.approx(std, abs=1e-6)
        assert item["vibration_min"] == pytest.approx(min(v["vibration_min"] for v in values))
        assert item["vibration_max"] == pytest.approx(max(v["vibration_max"] for v in values))
        assert _parse(start).timestamp() % (step * 3600) == 0  # buckets aligned in UTC
    assert _parse(items[-1]["agg_timestamp"]) <= hour


def _parse(value: str) -> Any:
    from datetime import datetime

    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_readings_parameters_and_plan_limits(app: FastAPI, viewer: TestClient, org_a: SeededOrg) -> None:
    url = "/api/compressors/COMP-001/readings"
    _invalid(viewer.get(url, params={"hours": 0}), "hours")
    _invalid(viewer.get(url, params={"hours": 169}), "hours")
    _invalid(viewer.get(url, params={"hours": "a day"}), "hours")
    _invalid(viewer.get(url, params={"window": "2hr"}), "window")
    _invalid(viewer.get(url, params={"end": "2026-01-01T00:00:00"}), "end")
    assert viewer.get("/api/compressors/NOPE-1/readings").status_code == 404
    with session_scope(app.state.engine) as db:
        db.execute(update(Organization).where(Organization.id == org_a.id).values(subscription_tier="free"))
    member = member_client(app, org_a.users[Role.VIEWER])
    assert member.get(url, params={"window": "24hr"}).status_code == 403
    free = member.get(url, params={"hours": 168}).json()
    assert free["history_days"] == 7 and len(free["items"]) == HOURS
    old = (current_hour() - timedelta(days=8)).isoformat()
    too_old = member.get(url, params={"end": old})
    assert too_old.status_code == 403 and "7 days of history" in too_old.json()["error"]


def test_latest_readings(viewer: TestClient, org_a: SeededOrg) -> None:
    latest = viewer.get("/api/readings/latest").json()
    assert latest["total"] == 4
    assert [row["compressor_id"] for row in latest["items"]] == sorted(org_a.compressors)
    assert {row["agg_timestamp"] for row in latest["items"]} == {org_a.hour.strftime("%Y-%m-%dT%H:%M:%SZ")}
    only_b = viewer.get("/api/readings/latest", params={"station": "STATION-B"}).json()
    assert {row["station_id"] for row in only_b["items"]} == {"STATION-B"} and only_b["total"] == 2


def test_alert_filters_and_pages(viewer: TestClient, org_a: SeededOrg) -> None:
    def ids(**params: Any) -> list[int]:
        response = viewer.get("/api/alerts", params=params)
        assert response.status_code == 200, response.text
        return [alert["id"] for alert in response.json()["items"]]

    alerts = org_a.alert_ids
    newest_first = [alerts[k] for k in ("resolved", "returned", "warning2", "warning", "critical")]
    assert ids() == newest_first
    assert ids(status="open") == [alerts[k] for k in ("returned", "warning2", "warning", "critical")]
    assert ids(status="active") == [alerts[k] for k in ("warning2", "warning", "critical")]
    assert ids(status="resolved") == [alerts["resolved"]]
    assert ids(severity="critical") == [alerts["resolved"], alerts["critical"]]
    assert ids(compressor="COMP-003") == [alerts["resolved"], alerts["returned"]]
    assert ids(acknowledged="false", status="active", severity="warning") == [
        alerts["warning2"],
        alerts["warning"],
    ]
    page = viewer.get("/api/alerts", params={"limit": 2, "offset": 2}).json()
    assert [a["id"] for a in page["items"]] == newest_first[2:4] and page["total"] == 5
    first = viewer.get("/api/alerts", params={"limit": 1}).json()["items"][0]
    assert first["compressor_model"] == "Alpha Ajax DPC-360" and first["station_name"] == "Alpha STATION-B"
    for bad in ({"limit": 0}, {"limit": 201}, {"offset": -1}):
        _invalid(viewer.get("/api/alerts", params=bad), next(iter(bad)))
    _invalid(viewer.get("/api/alerts", params={"severity": "urgent"}), "severity")
    _invalid(viewer.get("/api/alerts", params={"status": "pending"}), "status")
    assert viewer.get("/api/alerts", params={"limit": 200}).status_code == 200
    _invalid(viewer.get("/api/alerts/abc"), "alert_id")
    assert viewer.get("/api/alerts/999999").status_code == 404


def test_acknowledge_and_resolve_record_who_and_when(app: FastAPI, org_a: SeededOrg) -> None:
    operator = member_client(app, org_a.users[Role.OPERATOR])
    alert = org_a.alert_ids["critical"]
    acked = operator.post(f"/api/alerts/{alert}/acknowledge", json={"acknowledged_by": "someone else"})
    assert acked.status_code == 200, acked.text
    body = acked.json()
    assert body["acknowledged"] is True and body["acknowledged_by"] == "Alpha Operator"  # never from the body
    assert body["acknowledged_at"] is not None and body["resolved"] is False
    again = operator.post(f"/api/alerts/{alert}/acknowledge")
    assert again.status_code == 409 and "already acknowledged by Alpha Operator" in again.json()["error"]

    resolved = operator.post(f"/api/alerts/{alert}/resolve", json={"note": "bearing replaced"}).json()
    assert resolved["resolved"] is True and resolved["resolved_by"] == "Alpha Operator"
    assert (
        resolved["resolution_note"] == "bearing replaced"
        and resolved["resolved_at"] >= body["acknowledged_at"]
    )
    assert resolved["acknowledged_at"] == body["acknowledged_at"]  # the first acknowledgement stands
    assert operator.post(f"/api/alerts/{alert}/resolve").status_code == 409

    other = org_a.alert_ids["warning"]
    direct = operator.post(f"/api/alerts/{other}/resolve")  # no body at all
    assert direct.status_code == 200 and direct.json()["acknowledged_by"] == "Alpha Operator"
    assert operator.post("/api/alerts/999999/acknowledge").status_code == 404
    _invalid(
        operator.post(f"/api/alerts/{org_a.alert_ids['warning2']}/resolve", json={"note": "x" * 2001}), "note"
    )
    viewer = member_client(app, org_a.users[Role.VIEWER])
    listed = viewer.get("/api/alerts", params={"status": "resolved"}).json()
    assert {a["id"] for a in listed["items"]} == {alert, other, org_a.alert_ids["resolved"]}


def test_two_operators_acknowledging_at_once(app: FastAPI, org_a: SeededOrg) -> None:
    alert = org_a.alert_ids["warning2"]
    clients = [member_client(app, org_a.users[Role.OPERATOR]), key_client(app, org_a.api_keys[Role.OPERATOR])]
    statuses: list[int] = []
    barrier = threading.Barrier(2)

    def act(client: TestClient) -> None:
        barrier.wait()
        statuses.append(client.post(f"/api/alerts/{alert}/acknowledge").status_code)

    threads = [threading.Thread(target=act, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200, 409]


def test_maintenance(viewer: TestClient) -> None:
    events = viewer.get("/api/maintenance").json()
    assert events["total"] == 2
    assert [e["event_id"] for e in events["items"]] == ["Alpha-EV-0", "Alpha-EV-1"]  # newest first
    assert viewer.get("/api/maintenance", params={"event_type": "failure"}).json()["items"][0][
        "event_id"
    ] == ("Alpha-EV-1")
    assert viewer.get("/api/maintenance", params={"compressor": "COMP-002"}).json()["total"] == 0
    _invalid(viewer.get("/api/maintenance", params={"event_type": "repair"}), "event_type")


def test_data_quality(viewer: TestClient) -> None:
    everything = viewer.get("/api/data-quality", params={"hours": 168}).json()
    assert everything["total"] == 8
    fleet = viewer.get("/api/data-quality", params={"level": "fleet"}).json()
    assert {row["scope"] for row in fleet["items"]} == {"fleet"} and fleet["total"] == 4
    one = viewer.get(
        "/api/data-quality", params={"compressor": "COMP-001", "metric_type": "freshness"}
    ).json()
    assert one["total"] == 1 and one["items"][0]["details"] == {"marker": "Alpha"}
    _invalid(viewer.get("/api/data-quality", params={"hours": 500}), "hours")
    _invalid(viewer.get("/api/data-quality", params={"level": "site"}), "level")
