"""Several organizations through one pipeline (issue 16 items 5, 8): each one's data lands in its own
organization only, one's corrupt file is set aside while its other files flow, one's failure never
blocks another, refused ingest rows and unknown compressors are quarantined with their reason,
incremental state is per organization, and an alarm-limit override recomputes the alerts of its
compressor only."""

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import Engine, delete, select

from altaviz.accounts.models import Organization
from altaviz.accounts.service import create_organization
from altaviz.alerts.models import AlertHistory
from altaviz.config import Settings
from altaviz.db.session import create_db_engine, session_scope
from altaviz.monitoring.models import SensorReadingAgg
from altaviz.pipeline.lake import Lake
from altaviz.pipeline.run import PipelineError, PipelineOptions, run_pipeline
from altaviz.pipeline.stages import GOLD_STEPS
from altaviz.pipeline.watch import waiting_data
from altaviz.registry.models import ThresholdOverride
from altaviz.simulator import SimulationConfig, simulate
from tests.pipeline.helpers import lake_rows, settings_for, write_readings

START = datetime(2026, 1, 1, 0, 0, tzinfo=UTC)
ORGS = ("north", "south")


def _land(data_dir: Path, slug: str, compressors: int, seed: int, days: float = 2) -> Path:
    landing = data_dir / "landing" / slug
    simulate(SimulationConfig(compressors=compressors, days=days, start=START, seed=seed), landing)
    return landing


def _create(url: str, *slugs: str) -> None:
    engine = create_db_engine(url)
    try:
        with session_scope(engine) as session:
            for slug in slugs:
                create_organization(session, slug.title(), slug, tier="enterprise", max_compressors=None)
    finally:
        engine.dispose()


@pytest.fixture
def engine(sqlite_url: str) -> Any:
    engine = create_db_engine(sqlite_url)
    yield engine
    engine.dispose()


def _two_organizations(tmp_path: Path, sqlite_url: str) -> tuple[Path, Path, Settings]:
    """north (3 compressors) and south (2, the same ids), landed and created; their landing zones."""
    north = _land(tmp_path, "north", compressors=3, seed=1)
    south = _land(tmp_path, "south", compressors=2, seed=2)
    _create(sqlite_url, *ORGS)
    return north, south, settings_for(tmp_path, sqlite_url)


def _hourly_by_org(engine: Engine) -> dict[str, set[str]]:
    with session_scope(engine) as session:
        rows = session.execute(
            select(Organization.slug, SensorReadingAgg.compressor_id).join(
                Organization, Organization.id == SensorReadingAgg.organization_id
            )
        ).all()
    found: dict[str, set[str]] = {}
    for slug, compressor in rows:
        found.setdefault(slug, set()).add(compressor)
    return found


def test_two_organizations_in_one_run_land_in_their_own_organizations(
    tmp_path: Path, sqlite_url: str, engine: Engine
) -> None:
    # the same compressor ids in both: only the organization tells them apart
    settings = _two_organizations(tmp_path, sqlite_url)[2]
    result = run_pipeline(settings, PipelineOptions())
    assert set(result.organizations) == set(ORGS) and not result.failed
    assert _hourly_by_org(engine) == {
        "north": {"COMP-001", "COMP-002", "COMP-003"},
        "south": {"COMP-001", "COMP-002"},
    }
    # each organization's rows are its own readings: the same id holds other values in the other
    north = lake_rows(tmp_path, "silver/readings", "organization = 'north' AND compressor_id = 'COMP-001'")
    south = lake_rows(tmp_path, "silver/readings", "organization = 'south' AND compressor_id = 'COMP-001'")
    assert len(north) == len(south) == 288
    assert [r["vibration_mms"] for r in north] != [r["vibration_mms"] for r in south]
    with session_scope(engine) as session:
        per_org = dict(
            session.execute(
                select(Organization.slug, SensorReadingAgg.reading_count)
                .join(Organization, Organization.id == SensorReadingAgg.organization_id)
                .where(SensorReadingAgg.compressor_id == "COMP-003")
            ).all()
        )
    assert set(per_org) == {"north"}
    for slug in ORGS:
        summary = result.organizations[slug].summary
        assert summary is not None and summary.balanced


def _newest_hour(engine: Engine, slug: str) -> datetime | None:
    with session_scope(engine) as session:
        return session.scalar(
            select(SensorReadingAgg.agg_timestamp)
            .join(Organization, Organization.id == SensorReadingAgg.organization_id)
            .where(Organization.slug == slug)
            .order_by(SensorReadingAgg.agg_timestamp.desc())
        )


def _counts(engine: Engine, tmp_path: Path) -> tuple[int, ...]:
    with session_scope(engine) as session:
        hourly = len(session.scalars(select(SensorReadingAgg.id)).all())
    lake = (len(lake_rows(tmp_path, t)) for t in ("silver/readings", "silver/quarantine", "gold/readings"))
    return (hourly, *lake, len(Lake(tmp_path / "lake").bronze_files()))


def test_a_corrupt_file_is_set_aside_and_the_organizations_other_files_flow(
    tmp_path: Path, sqlite_url: str, engine: Engine
) -> None:
    north, south, settings = _two_organizations(tmp_path, sqlite_url)
    run_pipeline(settings, PipelineOptions())

    # south: a Parquet file cut short in transfer, and a good file; north: a good file
    whole = next((south / "readings").glob("*.parquet")).read_bytes()
    (south / "readings" / "broken.parquet").write_bytes(whole[: len(whole) // 2])
    later: dict[str, datetime] = {}
    for slug, landing in (("north", north), ("south", south)):
        newest = max(
            r["timestamp"] for r in lake_rows(tmp_path, "silver/readings", f"organization = '{slug}'")
        )
        later[slug] = newest + timedelta(minutes=30)
        write_readings(
            landing,
            "later.parquet",
            [
                {"compressor_id": "COMP-001", "timestamp": newest + timedelta(minutes=10 * i)}
                for i in (1, 2, 3)
            ],
        )
    said: list[str] = []
    result = run_pipeline(settings, PipelineOptions(), notify=said.append)  # no failure: nothing to fix

    assert not result.failed
    assert result.organizations["north"].set_aside == []
    [aside] = result.organizations["south"].set_aside
    assert aside.startswith("landing/south/readings/broken.parquet is truncated or damaged"), aside
    assert aside.endswith("(set aside to landing/south/quarantine/broken.parquet)")
    assert any(m.startswith("south: landing/south/readings/broken.parquet") for m in said), said
    # the corrupt file is out of the way, as it was, with its reason in one line
    assert not (south / "readings" / "broken.parquet").exists()
    assert (south / "quarantine" / "broken.parquet").read_bytes() == whole[: len(whole) // 2]
    [reason] = (south / "quarantine" / "broken.parquet.reason.txt").read_text().splitlines()
    assert "landing/south/readings/broken.parquet is truncated or damaged" in reason
    # both good files reached gold and the database
    for slug in ORGS:
        got = lake_rows(
            tmp_path, "gold/readings", f"organization = '{slug}' AND timestamp = '{later[slug].isoformat()}'"
        )
        assert [r["compressor_id"] for r in got] == ["COMP-001"], slug
        assert _newest_hour(engine, slug) == later[slug].replace(minute=0, second=0, microsecond=0), slug
    assert "south" not in waiting_data(settings)

    # a second run tries nothing again and stores nothing twice
    counts = _counts(engine, tmp_path)
    again = run_pipeline(settings, PipelineOptions())
    assert not again.failed and all(o.nothing_new and not o.set_aside for o in again.organizations.values())
    assert _counts(engine, tmp_path) == counts
    assert sorted(p.name for p in (south / "quarantine").iterdir()) == [
        "broken.parquet",
        "broken.parquet.reason.txt",
    ]


def test_refused_rows_and_unknown_compressors_are_quarantined_with_their_reason(tmp_path: Path) -> None:
    landing = _land(tmp_path, "north", compressors=2, seed=1, days=1)
    refused = landing / "refused"
    refused.mkdir()
    text = pa.string()
    pq.write_table(
        pa.table(
            {
                "compressor_id": pa.array(["COMP-001", "X" * 65], text),
                "timestamp": pa.array(["2026-01-01T00:05:00Z", "yesterday"], text),
                "vibration_mms": pa.array(["abc", "3.1"], text),
                "source": pa.array(["api", "api"], text),
                "row_number": pa.array([4, 9], pa.int64()),
                "reason": pa.array(["vibration_mms is not a number", "compressor_id is 65 characters"], text),
            }
        ),
        refused / "batch-1.parquet",
    )
    write_readings(landing, "ghost.parquet", [{"compressor_id": "GHOST-1", "timestamp": START}])
    result = run_pipeline(settings_for(tmp_path), PipelineOptions(skip_db=True))
    summary = result.summary
    assert summary.balanced  # bronze (readings + refused rows) = silver + quarantine
    assert summary.quarantined == {"refused at ingest": 2, "unknown compressor": 1}
    reasons = [r["reason"] for r in lake_rows(tmp_path, "silver/quarantine", order="reason")]
    assert reasons == [
        "refused at ingest: compressor_id is 65 characters (api, row 9)",
        "refused at ingest: vibration_mms is not a number (api, row 4)",
        "unknown compressor: not registered in the organization's fleet",
    ]
    kept = lake_rows(
        tmp_path, "silver/quarantine", "_source_file LIKE 'north/refused/%'", order="_source_row"
    )
    assert [r["compressor_id"] for r in kept] == ["COMP-001", "X" * 65] and kept[0]["organization"] == "north"


def test_new_data_of_one_organization_does_not_recompute_another(tmp_path: Path) -> None:
    _land(tmp_path, "north", compressors=2, seed=1)
    _land(tmp_path, "south", compressors=2, seed=2)
    settings = settings_for(tmp_path)
    run_pipeline(settings, PipelineOptions(skip_db=True))
    lake = Lake(settings.lake_dir)
    state_before = lake.read_manifest().organizations["south"]
    tables = {"gold/readings": "compressor_id, timestamp", "gold/hourly": "compressor_id, agg_timestamp"}
    south_before = {t: lake_rows(tmp_path, t, "organization = 'south'", order) for t, order in tables.items()}

    newest = max(r["timestamp"] for r in lake_rows(tmp_path, "silver/readings", "organization = 'north'"))
    write_readings(
        tmp_path / "landing" / "north",
        "later.parquet",
        [{"compressor_id": "COMP-002", "timestamp": newest + timedelta(minutes=10)}],
    )
    said: list[str] = []
    result = run_pipeline(settings, PipelineOptions(skip_db=True), notify=said.append)
    assert result.organizations["north"].work == ["incremental"]
    assert result.organizations["south"].nothing_new
    assert any("1 new bronze files of 1 organizations" in m for m in said), said
    assert lake.read_manifest().organizations["south"] == state_before
    for table, rows in south_before.items():
        assert lake_rows(tmp_path, table, "organization = 'south'", tables[table]) == rows


def test_an_override_changes_the_alerts_of_its_compressor_only(
    default_landing: Path, tmp_path: Path, sqlite_url: str, engine: Engine
) -> None:
    import shutil

    shutil.copytree(default_landing, tmp_path / "landing")  # the demo fleet, single-organization layout
    settings = settings_for(tmp_path, sqlite_url)
    run_pipeline(settings, PipelineOptions())

    def alerts() -> dict[tuple[str, str, datetime], tuple[Any, ...]]:
        with session_scope(engine) as session:
            return {
                (a.compressor_id, a.condition, a.alert_timestamp): (
                    a.id,
                    a.updated_at,
                    a.severity,
                    a.threshold_value,
                )
                for a in session.scalars(select(AlertHistory))
            }

    before = alerts()
    assert not [k for k in before if k[0] == "COMP-001" and k[1] == "vibration_mms"]
    gold_before = lake_rows(
        tmp_path, "gold/readings", "compressor_id <> 'COMP-001'", "compressor_id, timestamp"
    )
    # healthy vibration is about 3 mm/s: a warning limit of 2 makes COMP-001 alarm
    _override(engine, settings.default_organization, "COMP-001", warning=2.0)
    said: list[str] = []
    result = run_pipeline(settings, PipelineOptions(), notify=said.append)
    assert result.summary is not None and result.organizations[settings.default_organization].work == [
        "thresholds"
    ]
    assert any("gold again for 1 compressors" in m for m in said), said
    after = alerts()
    changed = {k for k in set(before) | set(after) if before.get(k) != after.get(k)}
    assert changed and {k[0] for k in changed} == {"COMP-001"}
    assert [a for k, a in after.items() if k[:2] == ("COMP-001", "vibration_mms") and a[3] == 2.0]
    # the other compressors' gold is as it was, row for row
    assert (
        lake_rows(tmp_path, "gold/readings", "compressor_id <> 'COMP-001'", "compressor_id, timestamp")
        == gold_before
    )


def _gold_files(data_dir: Path) -> dict[str, tuple[bytes, int, bool]]:
    """Every file of the gold tables: its bytes, its modification time, and whether it holds a row of
    another compressor than north's COMP-001."""
    import duckdb

    lake = Lake(data_dir / "lake")
    manifest = lake.read_manifest()
    found: dict[str, tuple[bytes, int, bool]] = {}
    with duckdb.connect() as con:
        for table in [s.table for s in GOLD_STEPS if s.table]:
            for path in lake.table_files(table, manifest):
                holds = con.execute(
                    f"SELECT COUNT(*) > 0 FROM read_parquet('{path}', hive_partitioning = false) "
                    "WHERE NOT (organization = 'north' AND compressor_id = 'COMP-001')"
                ).fetchone()
                found[str(path)] = (path.read_bytes(), path.stat().st_mtime_ns, bool(holds and holds[0]))
    return found


def _override(engine: Engine, slug: str, compressor: str, warning: float) -> None:
    with session_scope(engine) as session:
        org = session.scalars(select(Organization).where(Organization.slug == slug)).one()
        session.execute(delete(ThresholdOverride).where(ThresholdOverride.organization_id == org.id))
        session.add(
            ThresholdOverride(
                organization_id=org.id,
                scope_type="compressor",
                scope_id=compressor,
                metric="vibration_mms",
                warning=warning,
                critical=50.0,
            )
        )


def _vibration_alerts(engine: Engine) -> dict[tuple[str, str], list[tuple[datetime, float | None]]]:
    with session_scope(engine) as session:
        rows = session.execute(
            select(
                Organization.slug,
                AlertHistory.compressor_id,
                AlertHistory.alert_timestamp,
                AlertHistory.threshold_value,
            )
            .join(Organization, Organization.id == AlertHistory.organization_id)
            .where(AlertHistory.condition == "vibration_mms")
            .order_by(AlertHistory.alert_timestamp)
        ).all()
    found: dict[tuple[str, str], list[tuple[datetime, float | None]]] = {}
    for slug, compressor, at, value in rows:
        found.setdefault((slug, compressor), []).append((at, value))
    return found


def test_changed_limits_rewrite_the_gold_files_of_their_compressor_only(
    tmp_path: Path, sqlite_url: str, engine: Engine
) -> None:
    settings = _two_organizations(tmp_path, sqlite_url)[2]
    run_pipeline(settings, PipelineOptions())
    # healthy vibration is about 3 mm/s: a warning limit of 2 makes north's COMP-001 alarm
    _override(engine, "north", "COMP-001", warning=2.0)
    assert run_pipeline(settings, PipelineOptions()).organizations["north"].work == ["thresholds"]
    first = _vibration_alerts(engine)
    assert {v for _, v in first[("north", "COMP-001")]} == {2.0}
    before = _gold_files(tmp_path)
    others = {f: v for f, v in before.items() if v[2]}
    apart = [f for f in before if f not in others]
    assert apart and others  # its rows are in files of their own now

    _override(engine, "north", "COMP-001", warning=1.5)  # the admin tunes the limit
    result = run_pipeline(settings, PipelineOptions())
    assert result.organizations["north"].work == ["thresholds"] and result.organizations["south"].nothing_new
    after = _gold_files(tmp_path)
    # every file of the other compressors (north's and south's) is the same file, untouched
    assert {f: v for f, v in after.items() if v[2]} == others
    assert not set(apart) & set(after)  # the changed compressor's files were rewritten
    # and its alerts changed (the others' did not)
    second = _vibration_alerts(engine)
    assert second.get(("north", "COMP-001"), []) != first[("north", "COMP-001")]
    assert {v for _, v in second.get(("north", "COMP-001"), [])} == {1.5}
    assert {k: v for k, v in second.items() if k != ("north", "COMP-001")} == {
        k: v for k, v in first.items() if k != ("north", "COMP-001")
    }


def test_a_lake_of_the_single_organization_layout_is_upgraded(default_landing: Path, tmp_path: Path) -> None:
    """A deployment from before organizations: landing/readings/ and bronze files without an organization
    column at lake/bronze/readings/. The first run makes them ALTAVIZ_ORGANIZATION's and recomputes."""
    import json
    import shutil

    import duckdb

    from tests.pipeline.helpers import assert_tables_equal, copy_landing, run

    fresh = copy_landing(default_landing, tmp_path / "fresh")
    run(settings_for(fresh), skip_db=True)
    legacy = copy_landing(default_landing, tmp_path / "legacy")
    bronze = legacy / "lake" / "bronze" / "readings"
    bronze.mkdir(parents=True)
    con = duckdb.connect()
    for path in Lake(fresh / "lake").bronze_files():
        old_shape = f"SELECT * EXCLUDE (organization, _refused) FROM read_parquet('{path}')"
        con.execute(f"COPY ({old_shape}) TO '{bronze / path.name}' (FORMAT parquet)")
    con.close()
    (legacy / "lake" / "manifest.json").write_text(json.dumps({"tables": {}, "processed_bronze": []}))

    result = run(settings_for(legacy), skip_db=True)
    assert result.organizations["altaviz-demo"].work == ["full"]
    assert not list(bronze.glob("*.parquet")), "the old bronze files moved under their organization"
    assert len(Lake(legacy / "lake").bronze_files("altaviz-demo")) == 7
    assert result.summary.bronze_rows == 10_080
    assert_tables_equal(legacy, fresh)
    shutil.rmtree(tmp_path / "fresh")


def test_a_failed_database_load_of_one_organization_is_retried_and_does_not_stop_another(
    tmp_path: Path, sqlite_url: str, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from altaviz.pipeline import database

    _land(tmp_path, "north", compressors=2, seed=1, days=1)
    _land(tmp_path, "south", compressors=2, seed=2, days=1)
    _create(sqlite_url, *ORGS)
    original = database.load_lake

    def failing_for_south(target: Any, lake: Any, *since: Any) -> Any:
        if target.organization_slug == "south":
            raise RuntimeError("constraint violated")
        return original(target, lake, *since)

    monkeypatch.setattr(database, "load_lake", failing_for_south)
    settings = settings_for(tmp_path, sqlite_url)
    with pytest.raises(PipelineError, match="south: database load: constraint violated") as info:
        run_pipeline(settings, PipelineOptions())
    assert info.value.result is not None and set(info.value.result.failed) == {"south"}
    assert set(_hourly_by_org(engine)) == {"north"}
    assert Lake(settings.lake_dir).read_manifest().organizations["south"].db_pending_since == "all"

    monkeypatch.setattr(database, "load_lake", original)
    result = run_pipeline(settings, PipelineOptions())  # nothing new in the lake; south's load is pending
    assert not result.failed and result.organizations["south"].loaded is not None
    assert set(_hourly_by_org(engine)) == {"north", "south"}
