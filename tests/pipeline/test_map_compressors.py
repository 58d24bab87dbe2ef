"""TransformEngine.map_compressors: a per-compressor step is handed whole compressors, in order."""

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

from altaviz.config import Settings
from altaviz.pipeline import engine as engines
from altaviz.pipeline.arrow import compressor_starts
from altaviz.pipeline.engine import DuckDBEngine, whole_compressors


def _readings(counts: dict[tuple[str, str], int]) -> pa.Table:
    rows = [
        {"organization": o, "compressor_id": c, "timestamp": i}
        for (o, c), n in sorted(counts.items())
        for i in range(n)
    ]
    return pa.Table.from_pylist(rows)


def _seen(calls: list[pa.Table]) -> list[list[tuple[str, str]]]:
    return [
        sorted(set(zip(t["organization"].to_pylist(), t["compressor_id"].to_pylist(), strict=True)))
        for t in calls
    ]


def test_batches_cut_inside_a_compressor_are_joined(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engines, "COMPRESSOR_BATCH_ROWS", 10)
    counts = {("a", "C1"): 7, ("a", "C2"): 25, ("b", "C1"): 3, ("b", "C2"): 1}
    table = _readings(counts)
    calls: list[pa.Table] = []

    def count(t: pa.Table) -> pa.Table:
        calls.append(t)
        return t

    out = pa.Table.from_batches(list(whole_compressors(table.to_batches(max_chunksize=4), count)))
    assert out.equals(table)
    per_call = _seen(calls)
    # no compressor is split over two calls, and calls hold about COMPRESSOR_BATCH_ROWS readings
    assert sorted(k for keys in per_call for k in keys) == sorted(counts)
    assert len(per_call) > 1


@pytest.fixture
def engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[DuckDBEngine]:
    """A DuckDB engine handing its per-compressor steps batches of about 50 readings."""
    monkeypatch.setattr(engines, "COMPRESSOR_BATCH_ROWS", 50)
    engine = DuckDBEngine(Settings(data_dir=tmp_path), tmp_path / "scratch")
    yield engine
    engine.close()


def test_duckdb_streams_sorted_whole_compressors(engine: DuckDBEngine) -> None:
    engine.con.execute(
        "CREATE VIEW source AS SELECT 'org' AS organization, 'C' || (i % 7)::VARCHAR AS compressor_id, "
        "i // 7 AS timestamp FROM range(1000) t(i)"
    )
    calls: list[pa.Table] = []

    def numbered(t: pa.Table) -> pa.Table:
        calls.append(t)
        return t.append_column("n", pa.array(range(t.num_rows), pa.int64()))

    engine.map_compressors("mapped", "source", numbered)
    rows = engine.rows("SELECT compressor_id, timestamp FROM mapped")
    assert len(rows) == 1000
    assert sum(t.num_rows for t in calls[1:]) == 1000  # the first call only told the schema
    for t in calls[1:]:
        keys = list(zip(t["compressor_id"].to_pylist(), t["timestamp"].to_pylist(), strict=True))
        assert keys == sorted(keys)
    assert len(calls) > 2


def test_duckdb_hands_each_compressor_its_constants_once(engine: DuckDBEngine) -> None:
    """`constants` (one row per compressor) reach the step beside its readings: a row per compressor of
    the readings handed, in their order, without the keys and without going through the sort; a
    compressor without a row gets NULLs. Each compressor's row once, not with each of its readings."""
    engine.con.execute(
        "CREATE VIEW source AS SELECT CASE WHEN i % 2 = 0 THEN 'a' ELSE 'b' END AS organization, "
        "'C' || (i % 7)::VARCHAR AS compressor_id, i // 7 AS timestamp FROM range(700) t(i)"
    )
    engine.con.execute(
        "CREATE VIEW limits AS SELECT organization, compressor_id, "
        "CAST(ASCII(organization) * 10 + ASCII(RIGHT(compressor_id, 1)) AS SMALLINT) AS open, "
        "compressor_id IN ('C1', 'C2') AS transient "
        "FROM (SELECT DISTINCT organization, compressor_id FROM source) WHERE compressor_id <> 'C5'"
    )
    calls: list[tuple[pa.Table, pa.Table]] = []

    def seen(t: pa.Table, limits: pa.Table) -> pa.Table:
        calls.append((t, limits))
        firsts = t.select(["organization", "compressor_id"]).take(compressor_starts(t)) if t.num_rows else t
        return (
            firsts.select(["organization", "compressor_id"])
            .append_column("open", limits["open"])
            .append_column("transient", limits["transient"])
        )

    engine.map_compressors("mapped", "source", seen, constants="limits")
    assert calls[0][0].column_names == ["organization", "compressor_id", "timestamp"]
    assert calls[0][1].column_names == ["open", "transient"]
    assert calls[0][1].schema.field("open").type == pa.int16()
    rows = engine.rows("SELECT organization, compressor_id, open, transient FROM mapped")
    expected = engine.rows(
        "SELECT s.organization, s.compressor_id, l.open, l.transient "
        "FROM (SELECT DISTINCT organization, compressor_id FROM source) AS s "
        "LEFT JOIN limits AS l USING (organization, compressor_id)"
    )
    assert sorted(rows, key=str) == sorted(expected, key=str)
    assert len(rows) == 14
    assert any(r[2] is None for r in rows) and any(r[2] is not None for r in rows)
