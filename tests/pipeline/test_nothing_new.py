"""A run with nothing new changes nothing: organizations.data_version stays (the service's cached
answers stay valid), nothing is loaded, and the run says "nothing new" (issue 18 item 14)."""

from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from altaviz.accounts.models import Organization
from altaviz.config import Settings
from altaviz.db.session import create_db_engine, session_scope
from altaviz.pipeline.run import PipelineOptions, PipelineResult, run_pipeline
from tests.pipeline.helpers import copy_landing, lake_rows, settings_for, write_readings


def _data_version(url: str) -> int:
    engine = create_db_engine(url)
    try:
        with session_scope(engine) as session:
            return int(session.scalars(select(Organization.data_version)).one())
    finally:
        engine.dispose()


def _run(settings: Settings, **options: Any) -> tuple[PipelineResult, list[str]]:
    said: list[str] = []
    return run_pipeline(settings, PipelineOptions(**options), notify=said.append), said


def _nothing_new(said: list[str]) -> bool:
    return any("nothing new" in message for message in said)


def test_a_run_with_nothing_new_leaves_the_data_version_alone(
    default_landing: Path, tmp_path: Path, db_url: str
) -> None:
    data_dir = copy_landing(default_landing, tmp_path)
    settings = settings_for(data_dir, db_url)
    first, said = _run(settings)
    assert first.loaded is not None and not _nothing_new(said)
    version = _data_version(db_url)

    again, said = _run(settings)
    assert _nothing_new(said)
    assert again.loaded is None
    assert _data_version(db_url) == version

    # a new landing file is loaded and bumps it
    newest = max(r["timestamp"] for r in lake_rows(data_dir, "silver/readings", "compressor_id = 'COMP-001'"))
    write_readings(
        data_dir / "landing",
        "later.parquet",
        [{"compressor_id": "COMP-001", "timestamp": newest + timedelta(minutes=10 * i)} for i in (1, 2)],
    )
    later, said = _run(settings)
    assert later.loaded is not None and not _nothing_new(said)
    assert _data_version(db_url) > version


def test_a_skip_db_run_leaves_the_load_pending(default_landing: Path, tmp_path: Path, db_url: str) -> None:
    """Lake stages without the database, then a run with it: the database still gets the lake."""
    data_dir = copy_landing(default_landing, tmp_path)
    _run(settings_for(data_dir), skip_db=True)
    second, _ = _run(settings_for(data_dir, db_url))
    assert second.loaded is not None and second.loaded.hourly > 0
    third, said = _run(settings_for(data_dir, db_url))
    assert _nothing_new(said) and third.loaded is None
