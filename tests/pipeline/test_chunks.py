"""A full run over a large fleet takes it in chunks of compressors; the lake ends exactly as one pass
over the whole fleet leaves it."""

import itertools
import shutil
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from altaviz.config import Settings
from altaviz.pipeline import engine as engine_module
from altaviz.pipeline import landing as landing_module
from altaviz.pipeline.engine import DuckDBEngine
from altaviz.pipeline.run import PipelineOptions, run_pipeline
from altaviz.pipeline.stages import chunk_of, fleet_chunks
from altaviz.simulator import SimulationResult
from tests.pipeline.helpers import COMPARED, assert_tables_equal, copy_landing, run, settings_for

EVERY_TABLE = COMPARED | {
    "silver/quality": "scope, compressor_id",
    "silver/watermarks": "compressor_id",
    "gold/alert_events": "compressor_id, metric, timestamp",
    "gold/violated_pairs": "compressor_id, metric",
}


def in_chunks(data_dir: Path) -> Settings:
    # about 10,000 readings of 10 compressors: four chunks
    return settings_for(data_dir).model_copy(update={"pipeline_chunk_rows": 2_600})


def test_a_run_in_chunks_equals_one_pass(
    tmp_path: Path, faulty_landing: tuple[Path, SimulationResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = copy_landing(faulty_landing[0], tmp_path / "whole")
    run(settings_for(whole), skip_db=True)
    chunked = tmp_path / "chunked"
    shutil.copytree(whole, chunked)
    written: list[Path] = []
    shipped = engine_module.copy_parquet

    def recording(con: object, sql: str, output_dir: Path, *args: object, **kwargs: object) -> list[Path]:
        written.append(output_dir)
        return shipped(con, sql, output_dir, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(engine_module, "copy_parquet", recording)
    run(in_chunks(chunked), skip_bronze=True, skip_db=True, full=True)

    # every reading of a chunk (silver_classified) is held in DuckDB for the chunk's steps, never
    # written; quality reads each chunk's counts per compressor (a small file a chunk)
    assert not any(path.name == "silver_classified" for path in written), written
    assert sum(path.name == "quality_counts" for path in written) == 4

    silver_dir = chunked / "lake" / "silver" / "readings"
    chunks_written = {p.stem.split("-")[1] for p in silver_dir.rglob("part-*.parquet")}
    assert chunks_written - {"older", "recent"} == {"0", "1", "2", "3"}  # the last hours are set apart
    assert not any((whole / "lake" / "silver" / "readings").rglob("part-1-*.parquet"))
    assert_tables_equal(chunked, whole, EVERY_TABLE)


def test_an_incremental_run_continues_a_chunked_one(
    tmp_path: Path, faulty_landing: tuple[Path, SimulationResult]
) -> None:
    """The next incremental run reads the chunked lake's files like any others."""
    source = faulty_landing[0]
    last_day = sorted((source / "readings").glob("*.parquet"))[-1]
    chunked = tmp_path / "chunked"
    shutil.copytree(source, chunked / "landing", ignore=shutil.ignore_patterns(last_day.name))
    run(in_chunks(chunked), skip_db=True)
    shutil.copy(last_day, chunked / "landing" / "readings" / last_day.name)
    notes: list[str] = []
    run_pipeline(in_chunks(chunked), PipelineOptions(skip_db=True), notify=notes.append)
    assert any(m.startswith("incremental:") for m in notes), notes

    whole = tmp_path / "whole"
    shutil.copytree(chunked, whole)
    run(settings_for(whole), skip_bronze=True, skip_db=True, full=True)
    assert_tables_equal(chunked, whole)


def test_chunks_hold_every_row_once_and_each_compressor_whole(tmp_path: Path) -> None:
    # 50 compressors of 1 to 50 readings (1,275 in all), ids with a quote, and rows without an id,
    # over two files
    ids = [f"C-{n:02d}'x" for n in range(1, 51)]
    rows = [c for n, c in enumerate(ids, start=1) for _ in range(n)] + [None] * 7
    files = [tmp_path / "a.parquet", tmp_path / "b.parquet"]
    pq.write_table(pa.table({"compressor_id": rows[::2]}), files[0])
    pq.write_table(pa.table({"compressor_id": rows[1::2]}), files[1])
    engine = DuckDBEngine(settings_for(tmp_path), tmp_path / "scratch")

    starts = fleet_chunks(engine, files, chunk_rows=300)
    chunks = [Counter(r[0] for r in engine.rows(chunk_of(files, starts, k))) for k in range(len(starts) + 1)]

    assert len(chunks) == 5  # ceil(1,275 / 300)
    assert sum(chunks, Counter()) == Counter(rows)
    assert all(sum(1 for chunk in chunks if c in chunk) == 1 for c in ids)
    assert chunks[0][None] == 7
    sizes = [sum(n for c, n in chunk.items() if c is not None) for chunk in chunks]
    assert max(sizes) <= 255 + 50, sizes  # a fifth of the rows, give or take one compressor
    assert fleet_chunks(engine, files, chunk_rows=2_000) == []
    assert Counter(r[0] for r in engine.rows(chunk_of(files, [], 0))) == Counter(rows)


def test_bronze_is_written_in_compressor_order_so_a_chunk_reads_its_own_row_groups(
    tmp_path: Path, default_landing: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each bronze file holds its landing file's rows by compressor id (then as landed), in row groups
    of BRONZE_ROW_GROUP readings whose id ranges do not overlap: a chunk's filter on a range of ids
    skips the other row groups by their statistics (landing files come in time order, where every
    row group spans the whole fleet)."""
    monkeypatch.setattr(landing_module, "BRONZE_ROW_GROUP", 2_048)  # DuckDB's least
    data_dir = copy_landing(default_landing, tmp_path)
    days = sorted((data_dir / "landing" / "readings").glob("*.parquet"))
    week = pa.concat_tables([pq.read_table(day) for day in days])  # 10,080 readings in time order
    for day in days:
        day.unlink()
    pq.write_table(week, data_dir / "landing" / "readings" / "week.parquet")
    run(settings_for(data_dir), skip_db=True)

    [bronze] = sorted((data_dir / "lake" / "bronze").rglob("*.parquet"))
    table = pq.read_table(bronze, columns=["compressor_id", "_source_row"])
    keys = list(zip(table["compressor_id"].to_pylist(), table["_source_row"].to_pylist(), strict=True))
    assert len(keys) == week.num_rows
    assert keys == sorted(keys)
    footer = pq.ParquetFile(bronze).metadata
    assert footer.num_row_groups == 5
    column = footer.schema.names.index("compressor_id")
    ranges = [
        (
            footer.row_group(g).column(column).statistics.min,
            footer.row_group(g).column(column).statistics.max,
        )
        for g in range(footer.num_row_groups)
    ]
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(ranges)), ranges
    assert ranges[0][0] < ranges[-1][1]
