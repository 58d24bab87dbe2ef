"""Text columns of fixed values (statuses, metrics, operating states) are written from their lists,
and the keys of silver's and gold's readings from the values of their steps' inputs (ValuesOf): the
files hold the same strings as written plainly, and a value outside its list fails the write."""

from pathlib import Path

import duckdb
import pytest

from altaviz.pipeline.engine import ValuesOf, copy_parquet, load_sql, read_parquet, sql_text
from altaviz.pipeline.stages import GOLD_STEPS, OPERATING_STATES, SILVER_STEPS, STATUSES

ROWS = (
    "SELECT * FROM (VALUES (TIMESTAMPTZ '2026-01-01 10:00:00+00', 'critical', 'a'), "
    "(TIMESTAMPTZ '2026-01-01 11:00:00+00', NULL, 'b'), "
    "(TIMESTAMPTZ '2026-01-02 09:00:00+00', 'normal', 'c')) AS t(timestamp, status, note)"
)


@pytest.mark.parametrize("partition_by", [None, "timestamp"])
def test_a_vocabulary_column_reads_back_as_the_same_text(tmp_path: Path, partition_by: str | None) -> None:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    written = copy_parquet(con, ROWS, tmp_path, partition_by, vocabulary={"status": STATUSES})
    back = f"SELECT timestamp, status, note FROM {read_parquet(written)}"
    assert con.execute(f"DESCRIBE {back}").fetchall()[1][1] == "VARCHAR"
    assert con.execute(f"SELECT COUNT(*) FROM (({back}) EXCEPT ALL ({ROWS}))").fetchone() == (0,)
    assert con.execute(f"SELECT COUNT(*) FROM {read_parquet(written)}").fetchone() == (3,)


def test_a_value_outside_the_vocabulary_fails_the_write(tmp_path: Path) -> None:
    con = duckdb.connect()
    with pytest.raises(duckdb.ConversionException):
        copy_parquet(con, ROWS, tmp_path, vocabulary={"status": ("normal", "warning")})


def test_gold_writes_its_statuses_from_a_vocabulary() -> None:
    readings = next(s for s in GOLD_STEPS if s.name == "gold_readings")
    assert readings.vocabulary is not None
    assert readings.vocabulary["vibration_mms_status"] == STATUSES


def test_gold_types_its_statuses_as_the_enums_it_writes() -> None:
    """gold_readings.sql's statuses and operating states are of the ENUMs its vocabulary writes from the
    CASE on: the write casts no text (engine.copy_parquet)."""
    from sqlglot import exp, parse_one

    readings = next(s for s in GOLD_STEPS if s.name == "gold_readings")
    assert readings.vocabulary is not None
    sql = parse_one(load_sql("gold_readings"), read="duckdb")
    vocabulary = next(cte.this for cte in sql.find_all(exp.CTE) if cte.alias == "vocabulary")
    described = duckdb.connect().execute(f"DESCRIBE {vocabulary.sql(dialect='duckdb')}").fetchall()
    types = {row[0]: row[1] for row in described}
    for column, values in (("normal", STATUSES), ("stopped", OPERATING_STATES)):
        assert types[column] == f"ENUM({', '.join(sql_text(v) for v in values)})"
    assert readings.vocabulary["vibration_mms_status"] == STATUSES
    assert readings.vocabulary["operating_state"] == OPERATING_STATES


@pytest.mark.parametrize("partition_by", [None, "timestamp"])
def test_a_run_vocabulary_reads_back_as_the_same_text(tmp_path: Path, partition_by: str | None) -> None:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"CREATE VIEW notes AS {ROWS}")
    vocabulary = {"note": ValuesOf("notes", "note"), "status": ValuesOf("notes", "status")}
    for write in ("first", "second"):  # the ENUMs are created again for each write
        (tmp_path / write).mkdir()
        written = copy_parquet(con, ROWS, tmp_path / write, partition_by, vocabulary=vocabulary)
    back = f"SELECT timestamp, status, note FROM {read_parquet(written)}"
    assert [row[1] for row in con.execute(f"DESCRIBE {back}").fetchall()][1:] == ["VARCHAR", "VARCHAR"]
    assert con.execute(f"SELECT COUNT(*) FROM (({back}) EXCEPT ALL ({ROWS}))").fetchone() == (0,)
    assert con.execute(f"SELECT COUNT(*) FROM {read_parquet(written)}").fetchone() == (3,)


def test_a_value_outside_the_runs_vocabulary_fails_the_write(tmp_path: Path) -> None:
    con = duckdb.connect()
    con.execute("CREATE VIEW notes AS SELECT 'a' AS note UNION ALL SELECT 'b'")
    with pytest.raises(duckdb.ConversionException):
        copy_parquet(con, ROWS, tmp_path, vocabulary={"note": ValuesOf("notes", "note")})


def test_silver_and_gold_write_their_readings_keys_from_their_inputs() -> None:
    silver = next(s for s in SILVER_STEPS if s.name == "silver_readings")
    gold = next(s for s in GOLD_STEPS if s.name == "gold_readings")
    assert silver.vocabulary is not None and gold.vocabulary is not None
    assert silver.vocabulary["compressor_id"] == ValuesOf("silver_good", "compressor_id")
    assert silver.vocabulary["_source_file"] == ValuesOf("silver_good", "_source_file")
    assert gold.vocabulary["organization"] == ValuesOf("silver_readings", "organization")
