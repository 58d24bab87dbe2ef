"""TransformEngine.map_compressors: a per-compressor step is handed whole compressors, in order."""

from pathlib import Path

import pyarrow as pa
import pytest

from altaviz.config import Settings
from altaviz.pipeline import engine as engines
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


def test_duckdb_streams_sorted_whole_compressors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engines, "COMPRESSOR_BATCH_ROWS", 50)
    engine = DuckDBEngine(Settings(data_dir=tmp_path), tmp_path / "scratch")
    try:
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
    finally:
        engine.close()
