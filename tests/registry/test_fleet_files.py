"""Landing fleet files and the registry (issue 16 item 1): a fleet file is applied to the database when
it is new, and an unchanged file never undoes what an admin did in the registry since (edits, an
archived or a deleted compressor); a newly landed file applies its values (SQLite and PostgreSQL)."""

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from sqlalchemy import select

from altaviz.accounts.audit import AuditLog
from altaviz.accounts.roles import Role
from altaviz.db.session import session_scope
from altaviz.monitoring.models import CompressorMetadata, StationLocation
from altaviz.pipeline.run import PipelineOptions, PipelineResult, run_pipeline
from tests.api.world import SeededOrg, member_client
from tests.pipeline.helpers import lake_rows, write_fleet, write_readings

FLEET = ("F-1", "F-2", "F-3")  # F-3 never sends a reading
STATION = "F-ST"


def _readings(landing: Path, name: str, start: datetime, compressors: tuple[str, ...]) -> None:
    rows = [
        {"compressor_id": c, "timestamp": start + timedelta(minutes=10 * i)}
        for c in compressors
        for i in range(6)
    ]
    write_readings(landing, name, rows)


def _run(app: FastAPI, org: SeededOrg) -> PipelineResult:
    result = run_pipeline(app.state.settings, PipelineOptions(organization=org.slug))
    assert not result.failed
    return result


def _fleet(app: FastAPI, org: SeededOrg) -> tuple[dict[str, dict[str, Any]], str]:
    c = CompressorMetadata
    with session_scope(app.state.engine) as session:
        compressors = {
            row.compressor_id: {"install_date": row.install_date, "archived": row.archived_at is not None}
            for row in session.scalars(
                select(c).where(c.organization_id == org.id, c.compressor_id.in_(FLEET))
            )
        }
        station = session.scalar(
            select(StationLocation.station_name).where(
                StationLocation.organization_id == org.id, StationLocation.station_id == STATION
            )
        )
    return compressors, str(station)


def _applied(app: FastAPI, org: SeededOrg) -> list[str]:
    with session_scope(app.state.engine) as session:
        return list(
            session.scalars(
                select(AuditLog.target_id)
                .where(AuditLog.organization_id == org.id, AuditLog.action == "fleet.file.apply")
                .order_by(AuditLog.id)
            )
        )


def test_an_unchanged_fleet_file_leaves_registry_edits_alone(app: FastAPI, org_a: SeededOrg) -> None:
    landing = app.state.settings.landing_dir / org_a.slug
    write_fleet(landing, FLEET, station_id=STATION)
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=6)
    _readings(landing, "first.parquet", start, ("F-1", "F-2"))
    _run(app, org_a)
    compressors, station = _fleet(app, org_a)
    assert set(compressors) == set(FLEET) and compressors["F-1"]["install_date"] == date(2022, 1, 1)
    assert _applied(app, org_a) == ["reference/stations", "reference/compressors"]

    admin = member_client(app, org_a.users[Role.ADMIN])
    edited = admin.patch("/api/compressors/F-1", json={"install_date": "2020-05-05", "notes": "rebuilt"})
    assert edited.status_code == 200, edited.text
    assert admin.patch(f"/api/stations/{STATION}", json={"name": "Renamed by the admin"}).status_code == 200
    assert admin.delete("/api/compressors/F-2").json()["outcome"] == "archived"  # it has data
    assert admin.delete("/api/compressors/F-3").json()["outcome"] == "deleted"  # it never had any

    # new readings (one of the deleted compressor too), the fleet file as it was
    _readings(landing, "second.parquet", start + timedelta(hours=1), ("F-1", "F-3"))
    result = _run(app, org_a)
    compressors, station = _fleet(app, org_a)
    assert compressors["F-1"]["install_date"] == date(2020, 5, 5)
    assert station == "Renamed by the admin"
    assert compressors["F-2"]["archived"] and "F-3" not in compressors  # nothing resurrected
    summary = result.organizations[org_a.slug].summary
    assert summary is not None and summary.quarantined.get("unknown compressor") == 6  # F-3's readings
    assert _applied(app, org_a) == ["reference/stations", "reference/compressors"]

    # a newly landed fleet file applies its values (and names F-3 again: it is registered again)
    write_fleet(landing, FLEET, station_id=STATION, install_dates={"F-1": date(2021, 3, 1)})
    _run(app, org_a)
    compressors, station = _fleet(app, org_a)
    assert compressors["F-1"]["install_date"] == date(2021, 3, 1) and station == "Eagle Ford Station A"
    assert set(compressors) == set(FLEET) and compressors["F-2"]["archived"]  # archiving is the registry's
    assert _applied(app, org_a) == ["reference/stations", "reference/compressors"] * 2
    # F-3's readings, quarantined while it was deleted, are judged again with the new fleet
    assert len(lake_rows(app.state.settings.data_dir, "gold/readings", "compressor_id = 'F-3'")) == 6
