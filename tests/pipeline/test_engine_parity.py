"""DuckDB and Spark (real PySpark, local mode) run the same SQL files on the same fault-injected
bronze and must produce the same tables, row for row, within floating-point tolerance."""

import math
import shutil
from pathlib import Path
from typing import Any

import pytest

from altaviz.pipeline.engine import spark_sql
from altaviz.simulator import SimulationResult
from tests.pipeline.helpers import copy_landing, lake_rows, run, settings_for

KEYS = {
    "silver/readings": "compressor_id, timestamp",
    "silver/quarantine": "_source_file, _source_row",
    "silver/quality": "scope",
    "gold/readings": "compressor_id, timestamp",
    "gold/hourly": "compressor_id, agg_timestamp",
    "gold/violations": "compressor_id, timestamp, metric",
    "gold/alerts": "compressor_id, metric, started_at",
}


@pytest.fixture(scope="module")
def both_engines(
    faulty_landing: tuple[Path, SimulationResult], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Path]:
    duck = copy_landing(faulty_landing[0], tmp_path_factory.mktemp("duckdb"))
    run(settings_for(duck), skip_db=True)
    spark = tmp_path_factory.mktemp("spark") / "data"
    shutil.copytree(duck, spark)  # the same bronze, with the same load times
    run(settings_for(spark), skip_db=True, skip_bronze=True, engine="spark", spark_master="local[2]")
    return duck, spark


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9) or (math.isnan(a) and math.isnan(b))
    return bool(a == b)


@pytest.mark.parametrize("table", sorted(KEYS))
def test_every_table_matches(both_engines: tuple[Path, Path], table: str) -> None:
    duck, spark = both_engines
    expected = lake_rows(duck, table, order=KEYS[table])
    actual = lake_rows(spark, table, order=KEYS[table])
    assert len(actual) == len(expected)
    assert expected, f"{table} is empty: the parity check would prove nothing"
    assert set(actual[0]) == set(expected[0])
    for want, got in zip(expected, actual, strict=True):
        different = {k: (want[k], got[k]) for k in want if not _same(want[k], got[k])}
        assert not different, f"{table} row {[want[k] for k in KEYS[table].split(', ')]}: {different}"


def test_spark_sql_keeps_fractional_epoch_seconds() -> None:
    assert "UNIX_MICROS(timestamp) / 1E6" in spark_sql("SELECT EPOCH(timestamp) FROM t")
    assert "UNIX_TIMESTAMP" not in spark_sql("SELECT EPOCH(timestamp) FROM t")
