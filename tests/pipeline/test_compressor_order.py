"""engine.compressor_ordered: the per-compressor steps' sort by each compressor's rank, its keys put back
by with_keys, is the order and the rows of sorting by the organization and compressor id themselves."""

import random

import duckdb
import pyarrow as pa

from altaviz.pipeline.engine import compressor_ordered, compressor_ranks, with_keys


def test_the_rank_order_is_the_text_keys_order() -> None:
    rng = random.Random(7)
    # ids whose text order differs from their numbers, case and accents, one id in two organizations
    ids = ["COMP-9", "COMP-10", "comp-1", "Comp-2", "é-1", "e-1", "Z", "a.b:c/d", "-x_"]
    rows = [
        (organization, compressor, rng.randrange(10_000))
        for organization in ("west", "East", "ümlaut")
        for compressor in rng.sample(ids, 6)
        for _ in range(rng.randrange(1, 30))
    ]
    rng.shuffle(rows)
    con = duckdb.connect()
    con.execute("CREATE TABLE readings (organization VARCHAR, compressor_id VARCHAR, t BIGINT, n INTEGER)")
    con.executemany("INSERT INTO readings VALUES (?, ?, ?, ?)", [(*r, i) for i, r in enumerate(rows)])
    # each compressor's times unique, as the steps' inputs are
    con.execute(
        "CREATE TABLE source AS SELECT organization, compressor_id, ANY_VALUE(n) AS n, t FROM readings "
        "GROUP BY organization, compressor_id, t"
    )
    ranks = con.sql(f"{compressor_ranks('source')} ORDER BY compressor_rank").to_arrow_table()
    con.register("ranks", ranks)
    query = compressor_ordered("source", "ranks", ("organization", "compressor_id", "t"))
    columns = con.sql("SELECT * FROM source").columns
    batches = with_keys(con.sql(query).to_arrow_reader(16), ranks, columns)
    ranked = [tuple(row.values()) for row in pa.Table.from_batches(list(batches)).to_pylist()]
    plain = con.execute("SELECT * FROM source ORDER BY organization, compressor_id, t").fetchall()
    assert ranked == plain
    assert len(ranked) == con.execute("SELECT COUNT(*) FROM source").fetchall()[0][0]
