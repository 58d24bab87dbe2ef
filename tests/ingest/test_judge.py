"""The row judgement itself (no service): the id rules checked once per registered compressor, the
duplicate check run in DuckDB, the shared DuckDB database judged from several threads at once."""

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pyarrow.parquet as pq

from altaviz.ingest.formats import parse
from altaviz.ingest.judge import judge
from altaviz.ingest.landing import write_durably
from tests.ingest.helpers import reading, series


def reasons_of(rows: list[dict[str, object]], registered: dict[str, bool]) -> dict[int, str]:
    batch = parse(json.dumps(rows).encode(), "json")
    judged = judge(batch, registered=registered, now=datetime.now(UTC), history_days=365, source="test")
    assert judged.accepted.num_rows + judged.refused.num_rows == len(rows)
    return dict(
        zip(
            judged.refused.column("row_number").to_pylist(),
            judged.refused.column("reason").to_pylist(),
            strict=True,
        )
    )


def test_a_registered_id_that_breaks_the_id_rules_is_still_refused_by_those_rules() -> None:
    # Ids registered before the rules existed (or written to the database by hand) are not trusted.
    registered = {"COMP-001": False, "bad id!": False, "B" * 65: False, "OLD-1": True, "": False}
    reasons = reasons_of(
        [
            reading("COMP-001"),
            reading("bad id!"),
            reading("B" * 65),
            reading("OLD-1"),
            reading(""),
            reading("NEW-1"),
        ],
        registered,
    )
    assert reasons == {
        2: "compressor_id bad id! has characters outside letters, digits and -_.:/",
        3: "compressor_id is 65 characters long; the limit is 64",
        4: "archived compressor: OLD-1 is archived; restore it to send readings",
        5: "missing compressor_id",
        6: "unknown compressor: NEW-1 is not registered in this organization's fleet (register it first)",
    }


def test_duplicates_are_decided_among_good_rows_only() -> None:
    registered = {"COMP-001": False, "COMP-002": False}
    first = reading("COMP-001", 30)
    reasons = reasons_of(
        [
            {**first, "vibration_mms": "broken"},  # 1 refused: not a duplicate source
            first,  # 2 the first good copy
            first,  # 3 duplicate of row 2
            reading("COMP-002", 30),  # 4 another compressor, same time: fine
            reading("COMP-001", 40),  # 5 same compressor, another time: fine
        ],
        registered,
    )
    assert reasons == {
        1: "vibration_mms is not a number: broken",
        3: "duplicate of row 2 (same compressor_id and timestamp)",
    }
    assert reasons_of(series(30, ("COMP-001", "COMP-002")), registered) == {}


def test_judgements_from_several_threads_at_once_stay_apart() -> None:
    registered = {f"C-{n}": False for n in range(4)}

    def one(n: int) -> tuple[int, int, set[str]]:
        rows = [reading(f"C-{n % 4}", 10 * (i + 1)) for i in range(200)] + [reading("UNKNOWN", 5)]
        batch = parse(json.dumps(rows).encode(), "json")
        judged = judge(batch, registered=registered, now=datetime.now(UTC), history_days=365, source="t")
        return (
            judged.accepted.num_rows,
            judged.refused.num_rows,
            set(judged.accepted["compressor_id"].to_pylist()),
        )

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(one, range(8)))
    assert results == [(200, 1, {f"C-{n % 4}"}) for n in range(8)]


def test_landing_files_encode_ids_and_times_as_dictionaries_and_read_back_whole(tmp_path) -> None:  # type: ignore[no-untyped-def]
    batch = parse(json.dumps(series(50)).encode(), "json")
    judged = judge(
        batch,
        registered={f"COMP-00{n}": False for n in (1, 2, 3)},
        now=datetime.now(UTC),
        history_days=365,
        source="t",
    )
    path = write_durably(judged.accepted, tmp_path, "batch.parquet")
    assert pq.read_table(path).equals(judged.accepted)
    columns = pq.ParquetFile(path).metadata.row_group(0)
    encodings = {
        columns.column(i).path_in_schema: columns.column(i).encodings for i in range(columns.num_columns)
    }
    assert "RLE_DICTIONARY" in encodings["compressor_id"]
    assert "RLE_DICTIONARY" not in encodings["vibration_mms"]
