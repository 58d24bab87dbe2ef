"""The reporting-interval warning reads the spacings summary the runs keep (SPACINGS, issue 21), not two
days of readings, and gives the same answer as reading them: full and incremental runs alike (after a
Spark run too: tests/pipeline/test_engine_parity.py, on the parity test's lakes)."""

import random
import shutil
from datetime import timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from altaviz.pipeline import intervals
from altaviz.pipeline.intervals import SPACINGS, reporting_intervals
from altaviz.pipeline.lake import Lake
from tests.pipeline.helpers import OFF_HOUR_START, cut_batches, run, settings_for, write_fleet, write_readings

FLEET = ("COMP-001", "COMP-002", "COMP-003", "COMP-004", "COMP-005")
END = OFF_HOUR_START + timedelta(days=3, hours=5, minutes=37, seconds=13)  # the window starts mid-hour


def _readings(seed: int) -> list[dict[str, object]]:
    """Readings at several intervals, with jitter, gaps, a silence across the window's start, a change
    of interval and repeated timestamps."""
    rng = random.Random(seed)
    rows: list[dict[str, object]] = []
    for n, compressor in enumerate(FLEET):
        t = OFF_HOUR_START + timedelta(seconds=rng.randrange(600))
        every = [600, 900, 300, 600, 1200][n]
        while t < END:
            rows.append({"compressor_id": compressor, "timestamp": t})
            if n == 3 and rng.random() < 0.05:
                rows.append({"compressor_id": compressor, "timestamp": t})  # the same moment again
            step = every + (rng.randrange(-40, 41) if n in (1, 4) else 0)
            if n == 2 and t > END - timedelta(days=1):
                step = 900  # reports less often lately
            if rng.random() < 0.02:
                step += rng.randrange(3600, 4 * 3600)  # a gap
            t += timedelta(seconds=step)
            if n == 0 and abs(t - (END - timedelta(days=2))) < timedelta(hours=1):
                t += timedelta(hours=3)  # silent across the window's start
    return rows


def _from_silver(lake: Lake) -> list[intervals.ReportingInterval]:
    files = lake.table_files("silver/readings")
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        return intervals._from_silver(con, files)
    finally:
        con.close()


def _one_run(data_dir: Path, seed: int, **options: object) -> Lake:
    """A lake made by one run over _readings(seed)."""
    landing = data_dir / "landing"
    write_fleet(landing, FLEET)
    write_readings(landing, "readings.parquet", _readings(seed))
    run(settings_for(data_dir), skip_db=True, **options)
    return Lake(data_dir / "lake")


def _summary_used(lake: Lake) -> bool:
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        return intervals._from_summary(con, lake, lake.table_files("silver/readings")) is not None
    finally:
        con.close()


@pytest.mark.parametrize("seed", [3, 8])
def test_the_summary_gives_the_answer_of_the_readings_in_full_and_incremental_runs(
    tmp_path: Path, seed: int
) -> None:
    from altaviz.pipeline.run import PipelineOptions, run_pipeline

    rows = _readings(seed)
    source = tmp_path / "source"
    write_fleet(source, FLEET)
    readings = pq.read_table(write_readings(source, "all.parquet", rows))
    data_dir = tmp_path / "data"
    landing = data_dir / "landing"
    write_fleet(landing, FLEET)
    (landing / "readings").mkdir()
    rng = random.Random(seed)
    cuts = sorted(OFF_HOUR_START + timedelta(hours=30 + 47 * rng.random()) for _ in range(4))
    settings = settings_for(data_dir)
    lake = Lake(data_dir / "lake")
    for number, batch in enumerate(cut_batches(readings, cuts)):
        pq.write_table(batch, landing / "readings" / f"batch-{number}.parquet")
        notes: list[str] = []
        run_pipeline(settings, PipelineOptions(skip_db=True), notify=notes.append)
        assert number == 0 or any(m.startswith("incremental:") for m in notes), notes
        assert _summary_used(lake)
        assert reporting_intervals(lake) == _from_silver(lake)
    measured = reporting_intervals(lake)
    assert len(measured) == len(FLEET)
    assert len({round(i.minutes, 1) for i in measured}) > 2  # jitter and the change of interval tell

    full = tmp_path / "full"
    shutil.copytree(data_dir, full, symlinks=True)
    run(settings.model_copy(update={"data_dir": full}), skip_bronze=True, skip_db=True, full=True)
    assert _summary_used(Lake(full / "lake"))
    assert reporting_intervals(Lake(full / "lake")) == measured


def test_a_lake_without_the_summary_is_read_as_before(tmp_path: Path) -> None:
    lake = _one_run(tmp_path, 5)
    answer = reporting_intervals(lake)
    manifest = lake.read_manifest()
    del manifest.tables[SPACINGS]  # a lake of before the summary
    lake.write_manifest(manifest)
    assert not _summary_used(lake)
    assert reporting_intervals(lake) == answer
    run(settings_for(tmp_path), skip_db=True)  # nothing new: the lake is left as it is
    assert reporting_intervals(lake) == answer


def test_files_whose_times_overlap_are_read_from_silver(tmp_path: Path) -> None:
    """Summarized files of one compressor whose times overlap say nothing of their readings' order."""
    lake = _one_run(tmp_path, 6)
    assert _summary_used(lake)
    *_, other, newest = lake.table_files(SPACINGS)  # the window's last two days
    table = pq.read_table(newest)
    other_file = pq.read_table(other)["file"][0]
    relabelled = table.set_column(
        0, table.schema.field(0), pa.array([other_file.as_py()] * table.num_rows, pa.string())
    )
    pq.write_table(
        pa.concat_tables([table, relabelled]).replace_schema_metadata(table.schema.metadata), newest
    )
    assert not _summary_used(lake)
    assert reporting_intervals(lake) == _from_silver(lake)
