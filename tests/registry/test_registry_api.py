"""The fleet registry through the HTTP API: stations, models, compressors, archive, plan limit,
identifier rule, audit rows (SQLite and PostgreSQL)."""

from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from altaviz.accounts.audit import AuditLog
from altaviz.accounts.models import Organization
from altaviz.accounts.roles import Role
from altaviz.db.session import session_scope
from altaviz.monitoring.models import CompressorMetadata
from tests.api.world import SeededOrg, key_client, member_client, seed_organization

STATION = {
    "station_id": "NEW-ST",
    "name": "New station",
    "latitude": 31.5,
    "longitude": -101.25,
    "basin": "Permian",
}


def _admin(app: FastAPI, org: SeededOrg) -> TestClient:
    return member_client(app, org.users[Role.ADMIN])


def _model(
    client: TestClient, manufacturer: str = "Ajax", model: str = "DPC-360", hp: int = 1340
) -> dict[str, Any]:
    response = client.post(
        "/api/compressor-models", json={"manufacturer": manufacturer, "model": model, "rated_hp": hp}
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def _audit(app: FastAPI, org: SeededOrg, action: str) -> list[AuditLog]:
    with session_scope(app.state.engine) as session:
        rows = session.scalars(
            select(AuditLog).where(AuditLog.organization_id == org.id, AuditLog.action == action)
        ).all()
        session.expunge_all()
        return list(rows)


def _error_field(response: Any) -> str:
    body = response.json()
    return str(body["errors"][0]["parameter"])


def test_station_lifecycle_is_audited(app: FastAPI, org_a: SeededOrg) -> None:
    admin = _admin(app, org_a)
    created = admin.post("/api/stations", json=STATION)
    assert created.status_code == 201, created.text
    assert created.json()["name"] == "New station" and created.json()["compressor_count"] == 0
    assert admin.post("/api/stations", json=STATION).status_code == 409

    changed = admin.patch("/api/stations/NEW-ST", json={"latitude": 32.0, "basin": None})
    assert changed.status_code == 200, changed.text
    assert changed.json()["latitude"] == 32.0 and changed.json()["basin"] is None
    listed = {s["station_id"]: s for s in admin.get("/api/stations").json()["items"]}
    assert listed["NEW-ST"]["latitude"] == 32.0

    # a station with compressors cannot go; an empty one can
    busy = admin.delete("/api/stations/STATION-A")
    assert busy.status_code == 409 and "2 compressors" in busy.json()["error"]
    assert admin.delete("/api/stations/NEW-ST").status_code == 204
    assert admin.delete("/api/stations/NEW-ST").status_code == 404

    assert len(_audit(app, org_a, "fleet.station.create")) == 1
    update = _audit(app, org_a, "fleet.station.update")
    assert len(update) == 1 and update[0].details is not None
    assert update[0].details["changes"]["latitude"] == {"from": 31.5, "to": 32.0}
    assert len(_audit(app, org_a, "fleet.station.delete")) == 1


def test_station_fields_are_checked(app: FastAPI, org_a: SeededOrg) -> None:
    admin = _admin(app, org_a)
    bad = admin.post("/api/stations", json={**STATION, "latitude": 91})
    assert bad.status_code == 422 and _error_field(bad) == "latitude"
    bad = admin.post("/api/stations", json={**STATION, "longitude": "west"})
    assert bad.status_code == 422 and _error_field(bad) == "longitude"
    bad = admin.post("/api/stations", json={**STATION, "station_id": "has space"})
    assert bad.status_code == 422 and _error_field(bad) == "station_id"
    bad = admin.patch("/api/stations/STATION-A", json={"name": None})
    assert bad.status_code == 422 and _error_field(bad) == "name"


def test_models_and_compressors(app: FastAPI, org_a: SeededOrg) -> None:
    admin = _admin(app, org_a)
    model = _model(admin, "Ariel", "JGK/4", 1480)
    assert model["name"] == "Ariel JGK/4" and model["compressor_count"] == 0
    assert (
        admin.post(
            "/api/compressor-models", json={"manufacturer": "Ariel", "model": "JGK/4", "rated_hp": 1}
        ).status_code
        == 409
    )
    bad = admin.post("/api/compressor-models", json={"manufacturer": "Ariel", "model": "X", "rated_hp": 0})
    assert bad.status_code == 422 and _error_field(bad) == "rated_hp"
    # a control character (a NUL, which PostgreSQL refuses in text: it was a 500 there) is a 422
    nul_model = {"manufacturer": "Ariel", "model": "X\u0000", "rated_hp": 9}
    nul = admin.post("/api/compressor-models", json=nul_model)
    assert nul.status_code == 422 and _error_field(nul) == "model", nul.text

    body = {
        "compressor_id": "site-7/unit:2.b_x",
        "station_id": "STATION-B",
        "model_id": model["id"],
        "install_date": "2023-04-05",
        "notes": "moved from Midland",
    }
    created = admin.post("/api/compressors", json=body)
    assert created.status_code == 201, created.text
    unit = created.json()
    assert (unit["model"], unit["horsepower"], unit["station_name"]) == (
        "Ariel JGK/4",
        1480,
        "Alpha STATION-B",
    )
    assert admin.post("/api/compressors", json=body).status_code == 409

    # ids with "/" and ":" reach their compressor in the path
    patched = admin.patch("/api/compressors/site-7/unit:2.b_x", json={"notes": "overhauled"})
    assert patched.status_code == 200, patched.text
    assert patched.json()["notes"] == "overhauled"

    # renaming the model renames it on its compressors
    renamed = admin.patch(
        f"/api/compressor-models/{model['id']}", json={"model": "JGK/4 Plus", "rated_hp": 1500}
    )
    assert renamed.status_code == 200 and renamed.json()["compressor_count"] == 1
    fleet = {row["compressor_id"]: row for row in admin.get("/api/fleet").json()["items"]}
    assert (
        fleet["site-7/unit:2.b_x"]["model"] == "Ariel JGK/4 Plus"
        and fleet["site-7/unit:2.b_x"]["horsepower"] == 1500
    )

    # a model in use cannot be deleted
    assert admin.delete(f"/api/compressor-models/{model['id']}").status_code == 409
    listing = admin.get("/api/compressors").json()
    assert listing["total"] == 5 and listing["max_compressors"] is None and listing["registered"] == 5

    # unknown station or model: 404 naming it
    missing = admin.post("/api/compressors", json={**body, "compressor_id": "C-9", "station_id": "NOPE"})
    assert missing.status_code == 404 and "NOPE" in missing.json()["error"]
    assert len(_audit(app, org_a, "fleet.compressor.create")) == 1
    assert len(_audit(app, org_a, "fleet.model.update")) == 1


def test_sixty_five_character_id_is_refused_at_the_door(app: FastAPI, org_a: SeededOrg) -> None:
    admin = _admin(app, org_a)
    model = _model(admin)
    base = {"station_id": "STATION-A", "model_id": model["id"], "install_date": "2024-01-01"}
    too_long = admin.post("/api/compressors", json={**base, "compressor_id": "C" * 65})
    assert too_long.status_code == 422 and _error_field(too_long) == "compressor_id"
    assert "65 characters long; the limit is 64" in too_long.json()["error"]
    assert admin.patch("/api/compressors/" + "C" * 65, json={"notes": "x"}).status_code == 422
    longest = admin.post("/api/compressors", json={**base, "compressor_id": "C" * 64})
    assert longest.status_code == 201, longest.text
    with session_scope(app.state.engine) as session:
        ids = set(
            session.scalars(
                select(CompressorMetadata.compressor_id).where(CompressorMetadata.organization_id == org_a.id)
            )
        )
    assert "C" * 64 in ids and "C" * 65 not in ids


def test_removing_a_compressor_archives_it_when_it_has_data(app: FastAPI, org_a: SeededOrg) -> None:
    admin = _admin(app, org_a)
    removed = admin.delete("/api/compressors/COMP-001")  # it has readings, alerts, maintenance
    assert removed.status_code == 200, removed.text
    assert removed.json()["outcome"] == "archived" and removed.json()["archived_at"]
    fleet = admin.get("/api/fleet").json()
    assert "COMP-001" not in {row["compressor_id"] for row in fleet["items"]}
    assert fleet["summary"]["compressors"] == 3
    # its data is kept and its detail still opens
    assert admin.get("/api/compressors/COMP-001").status_code == 200
    assert admin.get("/api/compressors/COMP-001/readings").json()["items"]
    archived = admin.get("/api/compressors", params={"archived": "true"}).json()
    assert [row["compressor_id"] for row in archived["items"]] == ["COMP-001"]
    assert archived["registered"] == 3

    # registering the same id again is refused with the way to restore it
    model = _model(admin)
    again = admin.post(
        "/api/compressors",
        json={
            "compressor_id": "COMP-001",
            "station_id": "STATION-A",
            "model_id": model["id"],
            "install_date": "2024-01-01",
        },
    )
    assert again.status_code == 409 and "archived=false" in again.json()["error"]
    restored = admin.patch("/api/compressors/COMP-001", json={"archived": False})
    assert restored.status_code == 200 and restored.json()["archived_at"] is None
    assert admin.get("/api/fleet").json()["summary"]["compressors"] == 4
    assert len(_audit(app, org_a, "fleet.compressor.archive")) == 1
    assert len(_audit(app, org_a, "fleet.compressor.restore")) == 1

    # a compressor that never had data is deleted outright
    admin.post(
        "/api/compressors",
        json={
            "compressor_id": "TYPO-1",
            "station_id": "STATION-A",
            "model_id": model["id"],
            "install_date": "2024-01-01",
        },
    )
    gone = admin.delete("/api/compressors/TYPO-1")
    assert gone.json() == {"compressor_id": "TYPO-1", "outcome": "deleted", "archived_at": None}
    assert admin.get("/api/compressors/TYPO-1").status_code == 404


def test_free_plan_refuses_a_third_compressor_naming_the_plan(app: FastAPI) -> None:
    free = seed_organization(app.state.engine, "freeco", "Freeco", tier="free")
    admin = _admin(app, free)
    with session_scope(app.state.engine) as session:  # the seeded fleet has 4: keep two
        for compressor_id in ("COMP-003", free.own_compressor):
            row = session.get(CompressorMetadata, (free.id, compressor_id))
            assert row is not None
            session.delete(row)
    model = _model(admin)
    body = {
        "compressor_id": "THIRD",
        "station_id": "STATION-A",
        "model_id": model["id"],
        "install_date": "2024-01-01",
    }
    refused = admin.post("/api/compressors", json=body)
    assert refused.status_code == 403, refused.text
    answer = refused.json()
    assert answer["code"] == "upgrade_required" and answer["plan"] == "free"
    assert "The Free plan covers 2 compressors and 2 are registered" in answer["error"]
    assert "upgrade to Pro (20 compressors) or Enterprise (unlimited compressors)" in answer["error"]
    assert "/dashboard/settings#billing" in answer["error"]

    # archiving one frees a place; restoring it while full is refused the same way
    assert admin.delete("/api/compressors/COMP-002").json()["outcome"] == "archived"
    assert admin.post("/api/compressors", json=body).status_code == 201
    blocked = admin.patch("/api/compressors/COMP-002", json={"archived": False})
    assert blocked.status_code == 403 and blocked.json()["code"] == "upgrade_required"

    # an upgrade applies at once
    with session_scope(app.state.engine) as session:
        org = session.get(Organization, free.id)
        assert org is not None
        org.subscription_tier = "pro"
    assert admin.patch("/api/compressors/COMP-002", json={"archived": False}).status_code == 200


def test_reads_for_members_writes_for_admins(app: FastAPI, org_a: SeededOrg) -> None:
    viewer = key_client(app, org_a.api_keys[Role.VIEWER])
    assert viewer.get("/api/compressors").status_code == 200
    assert viewer.get("/api/compressor-models").status_code == 200
    refused = viewer.post("/api/stations", json=STATION)
    assert refused.status_code == 403 and "Admin access required" in refused.json()["error"]
    operator = member_client(app, org_a.users[Role.OPERATOR])
    assert operator.delete("/api/compressors/COMP-002").status_code == 403
    admin_key = key_client(app, org_a.api_keys[Role.ADMIN])
    assert admin_key.post("/api/stations", json=STATION).status_code == 201
    entry = _audit(app, org_a, "fleet.station.create")[0]
    assert entry.actor_type == "api_key"


def test_other_organizations_objects_are_not_found(app: FastAPI, org_a: SeededOrg, org_b: SeededOrg) -> None:
    b_model = _model(_admin(app, org_b), "Waukesha", "7042GSI", 1340)
    admin = _admin(app, org_a)
    assert admin.patch(f"/api/compressor-models/{b_model['id']}", json={"rated_hp": 1}).status_code == 404
    assert admin.delete(f"/api/compressor-models/{b_model['id']}").status_code == 404
    assert admin.patch(f"/api/compressors/{org_b.own_compressor}", json={"notes": "x"}).status_code == 404
    sneaky = admin.post(
        "/api/compressors",
        json={
            "compressor_id": "SNEAK",
            "station_id": "STATION-A",
            "model_id": b_model["id"],
            "install_date": "2024-01-01",
        },
    )
    assert sneaky.status_code == 404
    assert org_b.marker not in admin.get("/api/compressor-models").text
    assert org_b.marker not in admin.get("/api/compressors", params={"archived": "all"}).text
