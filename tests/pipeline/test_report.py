"""The run report's counts: the rows of each organization in a table, from the Parquet footers where a
row group holds one organization, by reading the rows elsewhere; the same counts either way."""

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from altaviz.pipeline.engine import DuckDBEngine
from altaviz.pipeline.report import rows_by_organization
from tests.pipeline.helpers import settings_for


def _write(
    engine: DuckDBEngine, path: Path, rows: Sequence[tuple[str | None, int]], per_group: int = 0
) -> Path:
    """A Parquet file of (organization, n) rows, written by DuckDB as the lake's files are."""
    values = ", ".join(f"({'NULL' if o is None else repr(o)}, {n})" for o, n in rows) or "(NULL, 0)"
    where = "" if rows else " WHERE FALSE"
    group = f", ROW_GROUP_SIZE {per_group}" if per_group else ""
    engine.con.execute(
        f"COPY (SELECT * FROM (VALUES {values}) AS t(organization, n){where}) "
        f"TO '{path}' (FORMAT parquet{group})"
    )
    return path


@pytest.fixture
def engine(tmp_path: Path) -> DuckDBEngine:
    engine = DuckDBEngine(settings_for(tmp_path), tmp_path / "scratch")
    engine.scope(["acme", "globex"])
    return engine


def test_counts_from_footers_and_reads_equal_a_count_of_every_row(
    engine: DuckDBEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = [
        _write(engine, tmp_path / "acme.parquet", [("acme", i) for i in range(5)]),
        # one row group of both organizations (and one of another, outside the run): read
        _write(
            engine, tmp_path / "mixed.parquet", [("acme", 1), ("globex", 2), ("initech", 3), ("globex", 4)]
        ),
        # row groups of one organization each, in one file
        _write(
            engine, tmp_path / "groups.parquet", [("globex", i) for i in range(2048)] + [("acme", 0)], 2048
        ),
        _write(engine, tmp_path / "initech.parquet", [("initech", 1)]),
        _write(engine, tmp_path / "nulls.parquet", [(None, 1), ("acme", 2)]),
        _write(engine, tmp_path / "empty.parquet", []),
    ]
    every_row = dict(
        engine.rows(
            "SELECT organization, COUNT(*) FROM read_parquet(?) "
            "WHERE organization IN ('acme', 'globex') GROUP BY 1",
            [[str(f) for f in files]],
        )
    )
    assert every_row == {"acme": 8, "globex": 2050}
    queries: list[str] = []
    rows = engine.rows

    def recorded(sql: str, parameters: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        queries.append(sql)
        return rows(sql, parameters)

    monkeypatch.setattr(engine, "rows", recorded)
    assert rows_by_organization(engine, files, ["acme", "globex"]) == every_row
    assert rows_by_organization(engine, files, ["globex"]) == {"globex": 2050}
    # only the files with a row group of several organizations, or of NULL, were read
    read = queries
    assert len(read) == 2
    for name in ("mixed", "nulls"):
        assert all(f"{name}.parquet" in q for q in read)
    for name in ("acme", "groups", "initech", "empty"):
        assert not any(f"{name}.parquet" in q for q in read)
    assert rows_by_organization(engine, [], ["acme"]) == {"acme": 0}


def test_files_counted_by_an_earlier_run_are_not_looked_at_again(
    engine: DuckDBEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The report keeps each counted file's rows per organization (a lake table, every organization's):
    the next run counts the same from it, reading neither footers nor rows of those files, and counts
    only a new file."""
    from altaviz.pipeline import report
    from altaviz.pipeline.lake import Lake, Manifest
    from altaviz.pipeline.stages import Tables

    lake = Lake(tmp_path / "lake")
    directory = tmp_path / "lake" / "silver" / "readings" / "v-1"
    directory.mkdir(parents=True)
    files = [
        _write(engine, directory / "acme.parquet", [("acme", i) for i in range(5)]),
        _write(engine, directory / "mixed.parquet", [("acme", 1), ("globex", 2), ("initech", 3)]),
    ]
    counts = report.FileCounts(engine, lake.root, [])
    first = rows_by_organization(engine, files, ["acme", "globex"], counts)
    assert first == {"acme": 6, "globex": 1}
    tables = Tables(lake, Manifest(), ["acme", "globex"])
    counts.stage(tables, files, "v-2")
    kept = tables.staged[report.ROW_COUNTS].files()

    looked: list[Path] = []
    footer = report._row_groups

    def row_groups(path: Path) -> Any:
        looked.append(path)
        return footer(path)

    monkeypatch.setattr(report, "_row_groups", row_groups)
    again = report.FileCounts(engine, lake.root, kept)
    monkeypatch.setattr(engine, "rows", lambda sql, parameters=(): pytest.fail(f"read rows: {sql}"))
    assert rows_by_organization(engine, files, ["acme", "globex"], again) == first
    assert rows_by_organization(engine, files, ["initech"], again) == {"initech": 1}
    assert not looked and not again.learned
    new = _write(engine, directory / "globex.parquet", [("globex", 7)])
    assert rows_by_organization(engine, [*files, new], ["globex"], again) == {"globex": 2}
    assert looked == [new]
