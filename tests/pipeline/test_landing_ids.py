"""Compressor ids are checked at the landing door with the one rule (issue 18 item 10): a fleet file
holding an id outside it is refused in one line naming the file, row and rule, before anything is
loaded; a reading with such an id is quarantined with its reason; and a 64-character id, the longest
the rule allows, loads into SQLite and PostgreSQL alike."""

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from altaviz.db.session import create_db_engine, session_scope
from altaviz.monitoring.models import CompressorMetadata, SensorReadingAgg
from altaviz.pipeline.run import PipelineError
from tests.pipeline.helpers import OFF_HOUR_START, lake_rows, run, settings_for, write_fleet, write_readings

LONGEST = "C" * 64
TOO_LONG = "C" * 65


def _readings(compressor_id: str, hours: int = 3) -> list[dict[str, object]]:
    return [
        {"compressor_id": compressor_id, "timestamp": OFF_HOUR_START + timedelta(minutes=10 * i)}
        for i in range(6 * hours)
    ]


def test_a_65_character_id_in_the_fleet_file_is_refused_in_one_line(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    write_fleet(landing, ("COMP-001", TOO_LONG))
    write_readings(landing, "r.parquet", _readings("COMP-001"))
    with pytest.raises(PipelineError) as caught:
        run(settings_for(tmp_path), skip_db=True)
    message = str(caught.value)
    assert "\n" not in message
    assert "landing/fleet/compressors.parquet row 2" in message
    assert "65 characters long; the limit is 64" in message
    assert "letters, digits and -_.:/" in message
    assert not (tmp_path / "lake" / "bronze" / "readings").exists() or not any(
        (tmp_path / "lake" / "bronze" / "readings").iterdir()
    )


@pytest.mark.parametrize(
    ("bad", "problem"),
    [("COMP 001", "characters outside"), ("", "empty"), ("COMP-1\n", "characters outside")],
)
def test_fleet_ids_follow_the_rule(tmp_path: Path, bad: str, problem: str) -> None:
    landing = tmp_path / "landing"
    write_fleet(landing, ("COMP-001", "COMP-002", bad))
    write_readings(landing, "r.parquet", _readings("COMP-001"))
    with pytest.raises(PipelineError, match=rf"compressors.parquet row 3: compressor_id .*{problem}"):
        run(settings_for(tmp_path), skip_db=True)


def test_a_reading_with_an_invalid_id_is_quarantined_with_its_reason(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    write_fleet(landing, ("COMP-001",))
    write_readings(landing, "r.parquet", [*_readings("COMP-001"), *_readings(TOO_LONG, 1)])
    summary = run(settings_for(tmp_path), skip_db=True).summary
    assert summary.balanced
    quarantined = lake_rows(tmp_path, "silver/quarantine")
    assert len(quarantined) == 6
    assert {r["compressor_id"] for r in quarantined} == {TOO_LONG}
    assert {r["reason"].split(":")[0] for r in quarantined} == {"invalid compressor id"}


def test_a_64_character_id_loads_into_the_database(tmp_path: Path, db_url: str) -> None:
    landing = tmp_path / "landing"
    write_fleet(landing, ("COMP-001", LONGEST))
    write_readings(landing, "r.parquet", [*_readings("COMP-001"), *_readings(LONGEST)])
    run(settings_for(tmp_path, db_url))
    engine = create_db_engine(db_url)
    try:
        with session_scope(engine) as session:
            ids = set(session.scalars(select(CompressorMetadata.compressor_id)))
            hourly = set(session.scalars(select(SensorReadingAgg.compressor_id)))
    finally:
        engine.dispose()
    assert LONGEST in ids
    assert LONGEST in hourly


def test_a_65_character_id_is_refused_the_same_way_on_both_databases(tmp_path: Path, db_url: str) -> None:
    """The id rule is checked at the door: PostgreSQL and SQLite never see the id, and nothing is loaded."""
    landing = tmp_path / "landing"
    write_fleet(landing, ("COMP-001", TOO_LONG))
    write_readings(landing, "r.parquet", _readings("COMP-001"))
    with pytest.raises(PipelineError) as caught:
        run(settings_for(tmp_path, db_url))
    assert "\n" not in str(caught.value)
    assert "landing/fleet/compressors.parquet row 2: compressor_id is 65 characters long" in str(caught.value)
    engine = create_db_engine(db_url)
    try:
        with session_scope(engine) as session:
            assert session.scalars(select(CompressorMetadata.compressor_id)).all() == []
    finally:
        engine.dispose()
