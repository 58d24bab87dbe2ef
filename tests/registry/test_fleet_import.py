"""POST /api/fleet/import: CSV and Parquet, row-by-row outcomes, dry run changes nothing, plan limit."""

import io
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from altaviz.accounts.audit import AuditLog
from altaviz.accounts.models import Organization
from altaviz.accounts.roles import Role
from altaviz.db.session import session_scope
from altaviz.monitoring.models import CompressorMetadata, StationLocation
from altaviz.registry.fleet_import import TEMPLATE_COLUMNS, template_csv
from altaviz.registry.models import CompressorModel
from tests.api.world import SeededOrg, member_client, seed_organization

HEADER = ",".join(TEMPLATE_COLUMNS[:11])
FILE = "\n".join(
    [
        HEADER,
        "NEW-1,NEW-ST,New station,31.5,-101.2,Permian,Ariel,JGK/4,1480,2023-01-02,first",  # all new
        "NEW-2,NEW-ST,,,,,Ariel,JGK/4,,2023-02-03,",  # station and model from the row above
        "COMP-001,STATION-A,,,,,Ariel,JGK/4,,,",  # existing compressor moves to the model
        "COMP-002,STATION-A,,,,,,,,,",  # unchanged
        ",STATION-B,Renamed B,,,,,,,,",  # a station-only row
        "BAD ID,NEW-ST,,,,,Ariel,JGK/4,,2023-01-01,",  # refused: id
        "NEW-3,NOWHERE,,,,,Ariel,JGK/4,,2023-01-01,",  # refused: unknown station without its fields
        "NEW-4,NEW-ST,,,,,Cooper,X1,,2023-01-01,",  # refused: new model without rated_hp
        "NEW-5,NEW-ST,,,,,Ariel,JGK/4,,01/02/2023,",  # refused: date
        "NEW-6,NEW-ST,,95,,,Ariel,JGK/4,,2023-01-01,",  # refused: latitude
    ]
)


def _admin(app: FastAPI, org: SeededOrg) -> TestClient:
    return member_client(app, org.users[Role.ADMIN])


def _post(client: TestClient, content: bytes | str, dry_run: bool, media: str = "text/csv") -> Any:
    body = content.encode() if isinstance(content, str) else content
    return client.post(
        "/api/fleet/import",
        params={"dry_run": str(dry_run).lower()},
        content=body,
        headers={"Content-Type": media},
    )


def _snapshot(app: FastAPI, org: SeededOrg) -> tuple[Any, ...]:
    with session_scope(app.state.engine) as session:
        stations = sorted(
            (s.station_id, s.station_name, s.latitude)
            for s in session.scalars(select(StationLocation).where(StationLocation.organization_id == org.id))
        )
        compressors = sorted(
            (c.compressor_id, c.station_id, c.model, c.model_id is not None, c.notes)
            for c in session.scalars(
                select(CompressorMetadata).where(CompressorMetadata.organization_id == org.id)
            )
        )
        models = session.scalar(
            select(func.count()).select_from(CompressorModel).where(CompressorModel.organization_id == org.id)
        )
        audits = session.scalar(
            select(func.count()).select_from(AuditLog).where(AuditLog.organization_id == org.id)
        )
        version = session.scalar(select(Organization.data_version).where(Organization.id == org.id))
    return stations, compressors, models, audits, version


def test_dry_run_answers_row_by_row_and_changes_nothing(app: FastAPI, org_a: SeededOrg) -> None:
    admin = _admin(app, org_a)
    before = _snapshot(app, org_a)
    response = _post(admin, FILE, dry_run=True)
    assert response.status_code == 200, response.text
    dry = response.json()
    assert _snapshot(app, org_a) == before

    assert (dry["dry_run"], dry["committed"], dry["rows"], dry["accepted"], dry["refused"]) == (
        True,
        False,
        10,
        5,
        5,
    )
    rows = {r["row"]: r for r in dry["results"]}
    assert [(c["entity"], c["id"], c["action"]) for c in rows[1]["changes"]] == [
        ("station", "NEW-ST", "created"),
        ("model", "Ariel JGK/4", "created"),
        ("compressor", "NEW-1", "created"),
    ]
    assert ("compressor", "NEW-2", "created") in [
        (c["entity"], c["id"], c["action"]) for c in rows[2]["changes"]
    ]
    assert rows[3]["changes"][-1] == {
        "entity": "compressor",
        "id": "COMP-001",
        "action": "changed",
        "fields": ["model"],
    }
    assert rows[4]["changes"][-1]["action"] == "unchanged"
    assert rows[5]["changes"] == [
        {"entity": "station", "id": "STATION-B", "action": "changed", "fields": ["station_name"]}
    ]
    refused = {n: (rows[n]["field"], rows[n]["reason"]) for n in range(6, 11)}
    assert refused[6][0] == "compressor_id" and "characters outside" in refused[6][1]
    assert refused[7][0] == "station_name" and "station NOWHERE is not registered" in refused[7][1]
    assert refused[8][0] == "rated_hp" and "Cooper X1 is not registered" in refused[8][1]
    assert refused[9][0] == "install_date"
    assert refused[10][0] == "latitude"
    assert dry["compressors"] == {"created": 2, "changed": 1, "unchanged": 1}

    # the import does what the dry run said
    committed = _post(admin, FILE, dry_run=False).json()
    assert committed["committed"] is True
    assert committed["results"] == dry["results"]
    stations, compressors, models, _audits, version = _snapshot(app, org_a)
    assert ("NEW-ST", "New station", 31.5) in stations and ("STATION-B", "Renamed B", 30.0) in stations
    assert ("NEW-1", "NEW-ST", "Ariel JGK/4", True, "first") in compressors
    assert ("COMP-001", "STATION-A", "Ariel JGK/4", True, None) in compressors
    assert models == 2 and version != before[4]  # the seeded model and Ariel JGK/4
    with session_scope(app.state.engine) as session:
        actions = list(session.scalars(select(AuditLog.action).where(AuditLog.organization_id == org_a.id)))
    assert actions.count("fleet.import") == 1 and actions.count("fleet.compressor.create") == 2

    # the same file again: everything unchanged or refused, nothing created
    again = _post(admin, FILE, dry_run=True).json()
    assert again["compressors"]["created"] == 0 and again["stations"]["created"] == 0


def test_parquet_import(app: FastAPI, org_a: SeededOrg) -> None:
    table = pa.table(
        {
            "compressor_id": ["PQ-1", "PQ-2"],
            "station_id": ["STATION-A", "STATION-B"],
            "manufacturer": ["Caterpillar", "Caterpillar"],
            "model": ["G3516", "G3516"],
            "rated_hp": [1775, 1775],
            "install_date": pa.array([__import__("datetime").date(2020, 5, 1)] * 2, pa.date32()),
        }
    )
    sink = io.BytesIO()
    pq.write_table(table, sink)
    answer = _post(_admin(app, org_a), sink.getvalue(), dry_run=False, media="application/vnd.apache.parquet")
    assert answer.status_code == 200, answer.text
    assert answer.json()["compressors"]["created"] == 2 and answer.json()["refused"] == 0
    fleet = {row["compressor_id"]: row for row in _admin(app, org_a).get("/api/compressors").json()["items"]}
    assert fleet["PQ-2"]["model"] == "Caterpillar G3516" and fleet["PQ-2"]["install_date"] == "2020-05-01"


def test_unreadable_files_are_refused_whole(app: FastAPI, org_a: SeededOrg) -> None:
    admin = _admin(app, org_a)
    cases = [
        ("", "body", "empty"),
        ("compressor_id,station_id,colour\nA,B,red\n", "colour", "unknown column 'colour'"),
        ("compressor_id,model\nA,B\n", "station_id", "station_id column"),
        (HEADER + "\n", "body", "no rows"),
    ]
    for content, field, words in cases:
        response = _post(admin, content, dry_run=True)
        assert response.status_code == 422, response.text
        assert response.json()["errors"][0]["parameter"] == field and words in response.json()["error"]
    not_utf8 = _post(admin, b"station_id\n\xff\xfe\n", dry_run=True)
    assert not_utf8.status_code == 422 and "UTF-8" in not_utf8.json()["error"]
    assert _post(admin, b"{}", dry_run=True, media="application/json").status_code == 422
    assert (
        _post(admin, b"PAR1garbage", dry_run=True, media="application/vnd.apache.parquet").status_code == 422
    )


def test_plan_limit_applies_row_by_row(app: FastAPI) -> None:
    free = seed_organization(app.state.engine, "freeco", "Freeco", tier="free")
    with session_scope(app.state.engine) as session:
        for compressor_id in ("COMP-002", "COMP-003", free.own_compressor):
            row = session.get(CompressorMetadata, (free.id, compressor_id))
            assert row is not None
            session.delete(row)
    content = "\n".join([HEADER] + [f"F-{n},STATION-A,,,,,Ajax,DPC-360,1340,2024-01-01," for n in (1, 2)])
    answer = _post(_admin(app, free), content, dry_run=False).json()
    first, second = answer["results"]
    assert first["status"] == "ok" and second["status"] == "refused"
    assert second["field"] == "compressor_id"
    assert "The Free plan covers 2 compressors and 2 are registered" in second["reason"]
    assert "upgrade to Pro" in second["reason"]


def test_template_has_every_column_and_imports_cleanly(app: FastAPI, org_a: SeededOrg) -> None:
    template = template_csv()
    assert template.splitlines()[0] == ",".join(TEMPLATE_COLUMNS)
    answer = _post(_admin(app, org_a), template, dry_run=True).json()
    assert answer["refused"] == 0 and answer["accepted"] == 2, answer


def test_viewer_cannot_import(app: FastAPI, org_a: SeededOrg) -> None:
    viewer = member_client(app, org_a.users[Role.VIEWER])
    assert _post(viewer, FILE, dry_run=True).status_code == 403


def test_a_sixty_five_character_id_is_refused_in_a_file_too(app: FastAPI, org_a: SeededOrg) -> None:
    content = "\n".join(
        [HEADER] + [f"{'C' * n},STATION-A,,,,,Ajax,DPC-360,1340,2024-01-01," for n in (65, 64)]
    )
    answer = _post(_admin(app, org_a), content, dry_run=False).json()
    too_long, longest = answer["results"]
    assert too_long["status"] == "refused" and too_long["field"] == "compressor_id"
    assert "65 characters long; the limit is 64" in too_long["reason"]
    assert longest["status"] == "ok"
    with session_scope(app.state.engine) as session:
        assert session.get(CompressorMetadata, (org_a.id, "C" * 64)) is not None
