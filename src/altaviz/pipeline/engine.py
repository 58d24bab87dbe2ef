"""Runs the SQL transform files. The only module that knows which engine executes them.

Every transform is a SELECT in `sql/<name>.sql` over named inputs. The engine binds inputs to
Parquet files or small in-memory tables, and writes each output to Parquet (a lake table or a
scratch file) so that no stage has to hold a whole layer in memory.
"""

from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import duckdb

from altaviz.config import Settings


class TransformError(RuntimeError):
    """A transform failed to run; the message names the step."""


def load_sql(name: str) -> str:
    return resources.files("altaviz.pipeline").joinpath("sql", f"{name}.sql").read_text()


def _quote(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def parquet_list(files: Sequence[Path]) -> str:
    """A SQL list literal of file paths, for read_parquet([...])."""
    return "[" + ", ".join(_quote(p) for p in files) + "]"


def _sql_type(values: Sequence[Any]) -> str:
    sample = next((v for v in values if v is not None), None)
    if isinstance(sample, bool):
        return "BOOLEAN"
    if isinstance(sample, int):
        return "BIGINT"
    if isinstance(sample, float):
        return "DOUBLE"
    return "VARCHAR"


class DuckDBEngine:
    name = "duckdb"

    def __init__(self, settings: Settings, scratch_dir: Path) -> None:
        scratch_dir.mkdir(parents=True, exist_ok=True)
        config: dict[str, Any] = {
            "memory_limit": settings.pipeline_memory_limit,
            "temp_directory": str(scratch_dir / "spill"),
            "preserve_insertion_order": False,
        }
        if settings.pipeline_threads:
            config["threads"] = settings.pipeline_threads
        self.con = duckdb.connect(config=config)
        self.con.execute("SET TimeZone = 'UTC'")
        self.scratch_dir = scratch_dir

    def close(self) -> None:
        self.con.close()

    def bind_parquet(self, name: str, files: Sequence[Path]) -> None:
        self.con.execute(
            f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM read_parquet({parquet_list(files)})"
        )

    def bind_rows(self, name: str, rows: Sequence[dict[str, Any]]) -> None:
        """A small table of parameters; typed from its values (every row has the same keys)."""
        columns = list(rows[0])
        types = {c: _sql_type([r[c] for r in rows]) for c in columns}
        ddl = ", ".join(f"{c} {types[c]}" for c in columns)
        self.con.execute(f"CREATE OR REPLACE TABLE {name} ({ddl})")
        placeholders = ", ".join("?" for _ in columns)
        self.con.executemany(
            f"INSERT INTO {name} VALUES ({placeholders})", [[r[c] for c in columns] for r in rows]
        )

    def run(self, step: str, output_dir: Path) -> None:
        """Run sql/<step>.sql into output_dir as Parquet and bind the result under the step's name."""
        target = output_dir / "part-0.parquet"
        try:
            self.con.execute(
                f"COPY ({load_sql(step)}) TO {_quote(target)} (FORMAT parquet, COMPRESSION zstd)"
            )
        except duckdb.Error as exc:
            raise TransformError(f"transform {step} failed: {exc}") from exc
        self.bind_parquet(step, [target])

    def scratch(self, step: str) -> Path:
        path = self.scratch_dir / step
        path.mkdir(parents=True, exist_ok=True)
        return path

    def rows(self, sql: str, parameters: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self.con.execute(sql, list(parameters)).fetchall()

    def records(self, sql: str) -> list[dict[str, Any]]:
        cursor = self.con.execute(sql)
        names = [d[0] for d in cursor.description or ()]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
