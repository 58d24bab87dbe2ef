"""Thresholds per organization, model and compressor through the API: precedence, consistency
(422 naming the field), versions, history and audit rows, and the pipeline's contract."""

from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from altaviz.accounts.audit import AuditLog
from altaviz.accounts.roles import Role
from altaviz.db.session import session_scope
from altaviz.registry.thresholds import changed_compressors, effective_thresholds, thresholds_version
from tests.api.world import SeededOrg, key_client, member_client


def _admin(app: FastAPI, org: SeededOrg) -> TestClient:
    return member_client(app, org.users[Role.ADMIN])


def _effective(answer: dict[str, Any], metric: str) -> dict[str, Any]:
    return next(row for row in answer["effective"] if row["metric"] == metric)


def _model_for(admin: TestClient, compressors: list[str]) -> str:
    model = admin.post(
        "/api/compressor-models", json={"manufacturer": "Ajax", "model": "DPC-360", "rated_hp": 1340}
    )
    assert model.status_code == 201, model.text
    for compressor_id in compressors:
        moved = admin.patch(f"/api/compressors/{compressor_id}", json={"model_id": model.json()["id"]})
        assert moved.status_code == 200, moved.text
    return str(model.json()["id"])


def _put(client: TestClient, scope: str, metrics: dict[str, Any]) -> Any:
    return client.put("/api/thresholds", params={"scope": scope}, json={"metrics": metrics})


def test_defaults_when_nothing_is_set(app: FastAPI, org_a: SeededOrg) -> None:
    viewer = key_client(app, org_a.api_keys[Role.VIEWER])
    answer = viewer.get("/api/thresholds").json()
    assert answer["scope"] == "organization" and answer["version"] == 0 and answer["overrides"] == {}
    vibration = _effective(answer, "vibration_mms")
    assert (vibration["warning"], vibration["critical"], vibration["on_delay"], vibration["clear_count"]) == (
        6.0,
        8.0,
        2,
        3,
    )
    assert set(vibration["sources"].values()) == {"default"}
    assert _effective(answer, "gas_flow_mcf")["critical"] is None
    assert len(answer["effective"]) == 8


def test_most_specific_scope_wins_field_by_field(app: FastAPI, org_a: SeededOrg) -> None:
    admin = _admin(app, org_a)
    model_id = _model_for(admin, ["COMP-001", "COMP-002"])
    assert _put(admin, "organization", {"vibration_mms": {"warning": 5.0, "on_delay": 4}}).status_code == 200
    assert (
        _put(admin, f"model:{model_id}", {"vibration_mms": {"warning": 5.5, "critical": 7.5}}).status_code
        == 200
    )
    assert _put(admin, "compressor:COMP-001", {"vibration_mms": {"critical": 9.0}}).status_code == 200

    one = _effective(
        admin.get("/api/thresholds", params={"scope": "compressor:COMP-001"}).json(), "vibration_mms"
    )
    assert (one["warning"], one["critical"], one["on_delay"], one["clear_count"]) == (5.5, 9.0, 4, 3)
    assert one["sources"] == {
        "warning": "model",
        "critical": "compressor",
        "on_delay": "organization",
        "clear_count": "default",
    }
    two = _effective(
        admin.get("/api/thresholds", params={"scope": "compressor:COMP-002"}).json(), "vibration_mms"
    )
    assert (two["warning"], two["critical"]) == (5.5, 7.5)
    three = _effective(
        admin.get("/api/thresholds", params={"scope": "compressor:COMP-003"}).json(), "vibration_mms"
    )
    assert (three["warning"], three["critical"], three["on_delay"]) == (5.0, 8.0, 4)

    # the pipeline's contract gives the same values, one row per compressor and metric
    with session_scope(app.state.engine) as session:
        rows = {(r.compressor_id, r.metric): r for r in effective_thresholds(session, org_a.id)}
        assert len(rows) == 4 * 8
        assert (rows["COMP-001", "vibration_mms"].warning, rows["COMP-001", "vibration_mms"].critical) == (
            5.5,
            9.0,
        )
        assert rows["COMP-003", "vibration_mms"].on_delay == 4
        assert (
            rows["COMP-003", "gas_flow_mcf"].critical is None
            and rows["COMP-003", "gas_flow_mcf"].direction == "low"
        )
        version = thresholds_version(session, org_a.id)
    assert version == 5  # two model assignments, three override sets


def test_inconsistent_sets_are_refused_naming_the_field(app: FastAPI, org_a: SeededOrg) -> None:
    admin = _admin(app, org_a)
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"vibration_mms": {"warning": 9.0}}, "metrics.vibration_mms.warning", "below the critical limit"),
        ({"vibration_mms": {"critical": 5.0}}, "metrics.vibration_mms.critical", "below the critical limit"),
        (
            {"suction_pressure_psi": {"warning": 10.0}},
            "metrics.suction_pressure_psi.warning",
            "above the critical",
        ),
        ({"vibration_mms": {"on_delay": 0}}, "metrics.vibration_mms.on_delay", "greater than or equal to 1"),
        (
            {"vibration_mms": {"clear_count": -2}},
            "metrics.vibration_mms.clear_count",
            "greater than or equal to 1",
        ),
        ({"vibration_mms": {"warning": "high"}}, "metrics.vibration_mms.warning", "valid number"),
        ({"vibration_mms": {"on_delay": 2.5}}, "metrics.vibration_mms.on_delay", "valid integer"),
        ({"no_such_metric": {"warning": 1.0}}, "metrics.no_such_metric.[key]", "vibration_mms"),
    ]
    for metrics, field, words in cases:
        response = _put(admin, "organization", metrics)
        assert response.status_code == 422, (metrics, response.text)
        body = response.json()
        assert body["errors"][0]["parameter"] == field, (metrics, body)
        assert words in body["error"], (metrics, body)
    # an organization-wide change contradicting a compressor's own values is refused too
    assert _put(admin, "compressor:COMP-002", {"vibration_mms": {"warning": 7.0}}).status_code == 200
    clash = _put(admin, "organization", {"vibration_mms": {"critical": 6.5}})
    assert clash.status_code == 422 and "compressor COMP-002" in clash.json()["error"]
    assert admin.get("/api/thresholds").json()["version"] == 1  # only the compressor's change counted


def test_scope_errors(app: FastAPI, org_a: SeededOrg, org_b: SeededOrg) -> None:
    admin = _admin(app, org_a)
    assert admin.get("/api/thresholds", params={"scope": "fleet"}).status_code == 422
    assert admin.get("/api/thresholds", params={"scope": "model:not-a-uuid"}).status_code == 422
    assert (
        admin.get("/api/thresholds", params={"scope": f"compressor:{org_b.own_compressor}"}).status_code
        == 404
    )
    assert _put(admin, f"compressor:{org_b.own_compressor}", {}).status_code == 404
    operator = member_client(app, org_a.users[Role.OPERATOR])
    assert _put(operator, "organization", {}).status_code == 403


def test_changes_are_versioned_audited_and_name_the_affected_compressors(
    app: FastAPI, org_a: SeededOrg
) -> None:
    admin = _admin(app, org_a)
    first = _put(admin, "compressor:COMP-003", {"discharge_temp_f": {"warning": 230, "critical": 250}})
    assert first.status_code == 200 and first.json()["version"] == 1
    assert first.json()["overrides"] == {"discharge_temp_f": {"warning": 230.0, "critical": 250.0}}
    same = _put(admin, "compressor:COMP-003", {"discharge_temp_f": {"warning": 230, "critical": 250}})
    assert same.json()["version"] == 1  # nothing changed: no new version
    second = _put(admin, "organization", {"gas_flow_mcf": {"critical": 4000}})
    assert second.json()["version"] == 2
    cleared = _put(admin, "compressor:COMP-003", {})
    assert cleared.json()["version"] == 3 and cleared.json()["overrides"] == {}

    history = admin.get("/api/thresholds/history").json()
    assert [item["version"] for item in history["items"]] == [3, 2, 1]
    assert history["items"][2]["after"] == {"discharge_temp_f": {"warning": 230.0, "critical": 250.0}}
    assert history["items"][2]["compressors"] == ["COMP-003"]
    assert history["items"][0]["before"] == history["items"][2]["after"]
    with session_scope(app.state.engine) as session:
        assert changed_compressors(session, org_a.id, 2) == {"COMP-003"}
        assert changed_compressors(session, org_a.id, 1) == {
            "COMP-001",
            "COMP-002",
            "COMP-003",
            org_a.own_compressor,
        }
        assert changed_compressors(session, org_a.id, 3) == set()
        entries = session.scalars(
            select(AuditLog)
            .where(AuditLog.organization_id == org_a.id, AuditLog.action == "thresholds.update")
            .order_by(AuditLog.id)
        ).all()
        assert len(entries) == 3
        assert entries[0].target_id == "compressor:COMP-003" and entries[0].details is not None
        assert entries[0].details["version"] == 1 and entries[0].details["before"] == {}
        assert entries[0].actor_name.startswith("Alpha Admin") or "@" in entries[0].actor_name
