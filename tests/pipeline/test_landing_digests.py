"""Bronze knows landing files by content; a file's digest is remembered by its size and modification
time, so unchanged files are not hashed again on every run, and a file rewritten in place is."""

import os
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from altaviz.pipeline import landing
from altaviz.pipeline.lake import Lake
from tests.pipeline.helpers import copy_landing, run, settings_for

NO_DATABASE = {"skip_db": True}


@pytest.fixture
def hashed(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The files hashed from now on."""
    calls: list[Path] = []
    original = landing._digest

    def counting(path: Path) -> str:
        calls.append(path)
        return original(path)

    monkeypatch.setattr(landing, "_digest", counting)
    return calls


def test_unchanged_landing_files_are_not_hashed_again(
    default_landing: Path, tmp_path: Path, hashed: list[Path]
) -> None:
    data_dir = copy_landing(default_landing, tmp_path)
    run(settings_for(data_dir), **NO_DATABASE)
    first = len(hashed)
    assert first == len(list((data_dir / "landing").rglob("*.parquet")))
    run(settings_for(data_dir), **NO_DATABASE)
    assert len(hashed) == first


def test_a_file_rewritten_in_place_is_hashed_and_ingested_again(
    default_landing: Path, tmp_path: Path, hashed: list[Path]
) -> None:
    data_dir = copy_landing(default_landing, tmp_path)
    settings = settings_for(data_dir)
    run(settings, **NO_DATABASE)
    before = Lake(settings.lake_dir).bronze_files()
    path = sorted((data_dir / "landing" / "readings").glob("*.parquet"))[0]
    status = path.stat()
    table = pq.read_table(path)
    pq.write_table(table.slice(0, table.num_rows - 1), path)
    os.utime(path, ns=(status.st_atime_ns, status.st_mtime_ns))  # same time: the size tells
    hashed.clear()

    run(settings, **NO_DATABASE)
    assert hashed == [path]
    assert len(Lake(settings.lake_dir).bronze_files()) == len(before) + 1


def test_a_lost_digest_record_is_rebuilt(default_landing: Path, tmp_path: Path, hashed: list[Path]) -> None:
    data_dir = copy_landing(default_landing, tmp_path)
    settings = settings_for(data_dir)
    run(settings, **NO_DATABASE)
    (settings.lake_dir / "landing-digests.json").write_text("{not json")
    hashed.clear()
    result = run(settings, **NO_DATABASE)
    assert len(hashed) == len(list((data_dir / "landing").rglob("*.parquet")))
    assert result.summary.bronze_rows == sum(
        pq.read_metadata(p).num_rows for p in Lake(settings.lake_dir).bronze_files()
    )
