"""Runs the SQL transform files. The only module that knows which engine executes them.

Every transform is a SELECT in `sql/<name>.sql`, written in DuckDB's dialect, over named inputs.
An engine binds inputs to Parquet files or small in-memory tables, and writes each output to Parquet
(a lake table or a scratch directory) so that no stage has to hold a whole layer in memory.

DuckDB runs the files as they are. Spark runs them transpiled by sqlglot (`spark_sql`), with two
rewrites of our own: EPOCH(ts) becomes UNIX_MICROS(ts) / 1E6 (a double), because sqlglot's
UNIX_TIMESTAMP would drop the fractional seconds DuckDB keeps; and a cast to an ENUM (DuckDB's type of a
text column of fixed values, which Spark has not) is one to STRING.
"""

import copy
import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import wraps
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, cast

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from altaviz.config import Settings
from altaviz.pipeline.arrow import combined, compressor_starts, int_array, python_array

if TYPE_CHECKING:  # sqlglot loads only for Spark (spark_sql)
    from sqlglot import exp

ENGINES = ("duckdb", "spark")
# Partitioned lake tables keep one directory per UTC day, named day=<date> (a path, not a column).
PARTITION_COLUMN = "day"


class TransformError(RuntimeError):
    """A transform failed to run; the message names the step."""


@contextmanager
def naming_failed_step(step: str) -> Iterator[None]:
    """DuckDB errors raised inside become a TransformError naming the step."""
    try:
        yield
    except duckdb.Error as exc:
        raise TransformError(f"transform {step} failed: {exc}") from exc


def load_sql(name: str) -> str:
    """sql/<name>.sql, each `COMPRESSOR_RANKS(relation)` in it replaced by compressor_ranks' query."""
    text = resources.files("altaviz.pipeline").joinpath("sql", f"{name}.sql").read_text()
    return re.sub(r"COMPRESSOR_RANKS\((\w+)\)", lambda call: compressor_ranks(call[1]), text)


def compressor_ranks(source: str, keys: str = "organization, compressor_id") -> str:
    """The query numbering each compressor of the relation `source` (its `keys`, distinct) in the keys'
    order from 0, as `compressor_rank` (with_keys' index): a window partitioned or a sort ordered by
    this one integer instead of the text keys makes the same partitions and order for less CPU
    (compressor_ordered, quality.sql, the CLI's reporting intervals)."""
    return (
        f"SELECT {keys}, ROW_NUMBER() OVER (ORDER BY {keys}) - 1 AS compressor_rank "
        f"FROM (SELECT DISTINCT {keys} FROM {source}) AS compressors"
    )


def _exact_epoch(node: "exp.Expression") -> "exp.Expression":
    from sqlglot import exp

    if isinstance(node, exp.TimeToUnix):
        micros = exp.Anonymous(this="UNIX_MICROS", expressions=[node.this])
        # 1E6 is a DOUBLE in Spark; 1000000.0 would be a DECIMAL and turn every epoch sum into one.
        return exp.Div(this=micros, expression=exp.Literal.number("1E6"))
    return node


def _enum_as_text(node: "exp.Expression") -> "exp.Expression":
    from sqlglot import exp

    if isinstance(node, exp.DataType) and node.this == exp.DataType.Type.ENUM:
        return exp.DataType.build("STRING")
    return node


def spark_sql(sql: str) -> str:
    """A transform file as Spark SQL."""
    import sqlglot

    tree = sqlglot.parse_one(sql, read="duckdb").transform(_exact_epoch).transform(_enum_as_text)
    return tree.sql(dialect="spark", pretty=True)


# The organizations a pass works on, as a table every engine binds (see TransformEngine.scope).
RUN_ORGANIZATIONS = "run_organizations"
# A per-compressor step: a function from an Arrow table of whole compressors' readings, sorted by
# organization, compressor_id and timestamp, to a table (e.g. rolling.append_rolling).
PerCompressor = Callable[[pa.Table], pa.Table]
# A per-compressor step with constants (map_compressors' `constants`): also handed its compressors' row
# of them each (per_compressor_constants), e.g. episodes.alert_streaks.
PerCompressorWithConstants = Callable[[pa.Table, pa.Table], pa.Table]
COMPRESSOR_ORDER = ("organization", "compressor_id", "timestamp")
# Readings a per-compressor step is handed at a time (whole compressors: one may make it more).
COMPRESSOR_BATCH_ROWS = 500_000


def compressor_ordered(source: str, ranks: str, order: Sequence[str] = COMPRESSOR_ORDER) -> str:
    """DuckDB's query of the relation `source` sorted by `order` (organization and compressor_id first),
    the two text keys sorted as one integer: each compressor's rank among the source's compressors in
    (organization, compressor_id) order, the relation `ranks` (compressor_ranks over `source`). The
    same order as sorting by the text columns themselves (a compressor's rank is unique, and in their
    order), for less CPU: comparing one integer a row instead of two strings (a full run at 470 × 30
    days: the flags' sort 1.0 → 0.6 CPU s, gold's 0.8 → 0.7, the alert path's 1.6 → 1.5). The rows
    carry the rank instead of the two keys, which with_keys puts back after the sort: strings moved
    through a sort cost more than their comparisons (the alert path's rows sorted without them, 1 M
    readings: 0.38-0.43 against 0.48-0.52 CPU s)."""
    assert tuple(order[:2]) == COMPRESSOR_ORDER[:2]
    rest = "".join(f", s.{column}" for column in order[2:])
    return (
        f"SELECT r.compressor_rank, s.* EXCLUDE (organization, compressor_id) FROM {source} AS s "
        f"JOIN {ranks} AS r ON r.organization = s.organization AND r.compressor_id = s.compressor_id "
        f"ORDER BY r.compressor_rank{rest}"
    )


def with_keys(
    batches: Iterable[pa.RecordBatch], ranks: pa.Table, columns: Sequence[str]
) -> Iterator[pa.RecordBatch]:
    """compressor_ordered's batches with `columns` (the source's, in its order) again: each row's
    organization and compressor_id, and every other column of `ranks` (compressor_ranks' rows, in rank
    order), taken from `ranks` by its compressor_rank, which goes."""
    keys = {key: combined(ranks[key]) for key in ranks.column_names if key != "compressor_rank"}
    for batch in batches:
        index = batch["compressor_rank"]
        yield pa.RecordBatch.from_arrays(
            [keys[c].take(index) if c in keys else batch[c] for c in columns], names=list(columns)
        )


def compressor_tables(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.Table]:
    """Batches of readings sorted by organization and compressor, regrouped as tables of whole
    compressors (about COMPRESSOR_BATCH_ROWS each): the last compressor of a batch waits for the next
    batch, which may continue it."""
    waiting: list[pa.RecordBatch] = []
    rows = 0
    for batch in batches:
        if batch.num_rows == 0:
            continue
        last = batch.slice(batch.num_rows - 1)
        same = pc.and_(
            pc.equal(batch["organization"], last["organization"][0]),
            pc.equal(batch["compressor_id"], last["compressor_id"][0]),
        )
        # the last compressor's first row: sorted, so its rows are the batch's tail
        tail = batch.num_rows - int(pc.sum(same).as_py() or 0)  # keys are never NULL
        if tail > 0 and rows + tail >= COMPRESSOR_BATCH_ROWS:
            yield pa.Table.from_batches([*waiting, batch.slice(0, tail)])
            waiting, rows = [batch.slice(tail)], batch.num_rows - tail
        else:
            waiting.append(batch)
            rows += batch.num_rows
    if waiting:
        yield pa.Table.from_batches(waiting)


def per_compressor_constants(function: PerCompressorWithConstants, constants: pa.Table) -> PerCompressor:
    """`function` handed, with each table of whole compressors' readings, a table of their constants:
    a row per compressor of the readings, in their order, of `constants` (a row per organization and
    compressor_id) without its keys; NULLs for a compressor without a row. Each compressor's row once,
    not with each of its readings: taking the alert step's 32 constants for each of 4.3 M readings cost
    about 0.45 CPU s, where the step reads them once per compressor."""
    keys = zip(constants["organization"].to_pylist(), constants["compressor_id"].to_pylist(), strict=True)
    rows = {key: row for row, key in enumerate(keys)}
    values = constants.drop_columns(["organization", "compressor_id"])

    @wraps(function)
    def handed(readings: pa.Table) -> pa.Table:
        if readings.num_rows == 0:
            return function(readings, values.slice(0, 0))
        # (take given Arrow indices: given NumPy ones, pyarrow converts them through pa.array, which
        # imports pandas wherever it is installed)
        starts = int_array(compressor_starts(readings))
        firsts = readings.select(["organization", "compressor_id"]).take(starts)
        found = zip(firsts["organization"].to_pylist(), firsts["compressor_id"].to_pylist(), strict=True)
        return function(readings, values.take(python_array([rows.get(key) for key in found], pa.int64())))

    return handed


def handing(
    function: PerCompressor | PerCompressorWithConstants, constants: pa.Table | None
) -> PerCompressor:
    """A map_compressors step's function: with `constants` (the relation's rows), handed them too."""
    if constants is None:
        return cast(PerCompressor, function)
    return per_compressor_constants(cast(PerCompressorWithConstants, function), constants)


def whole_compressors(batches: Iterable[pa.RecordBatch], function: PerCompressor) -> Iterator[pa.RecordBatch]:
    """`function` over batches of readings sorted by organization and compressor, each call given whole
    compressors (compressor_tables)."""
    for table in compressor_tables(batches):
        yield from function(table).to_batches()


class TransformEngine(Protocol):
    name: str

    def scope(self, organizations: Sequence[str]) -> None:
        """Work on these organizations only: every lake table bound afterwards (bind_parquet) shows
        their rows only, and `run_organizations` names them."""
        ...

    def bind_parquet(self, name: str, files: Sequence[Path]) -> None: ...

    def bind_rows(self, name: str, rows: Sequence[dict[str, Any]]) -> None: ...

    def bind_sql(self, name: str, sql: str) -> None: ...

    def run(self, step: str, output_dir: Path, partition_by: str | None = None) -> None: ...

    def map_compressors(
        self,
        name: str,
        source: str,
        function: PerCompressor | PerCompressorWithConstants,
        order: Sequence[str] = COMPRESSOR_ORDER,
        constants: str | None = None,
    ) -> None:
        """Bind `name` to `function` over the readings of `source`, whole compressors at a time, sorted
        by `order` (organization and compressor_id first). With `constants` (a bound relation, one row
        per organization and compressor_id), `function` is a PerCompressorWithConstants, also handed
        each of its compressors' row of it (per_compressor_constants)."""
        ...

    def scratch(self, step: str) -> Path: ...

    def close(self) -> None: ...


def sql_text(value: str) -> str:
    """A SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def _quote(path: Path) -> str:
    return sql_text(str(path))


def parquet_list(files: Sequence[Path]) -> str:
    """A SQL list literal of file paths, for read_parquet([...])."""
    return "[" + ", ".join(_quote(p) for p in files) + "]"


def read_parquet(files: Sequence[Path]) -> str:
    """DuckDB's read of exactly these files (the day=... directories are not columns)."""
    return f"read_parquet({parquet_list(files)}, hive_partitioning = false)"


@dataclass(frozen=True)
class ValuesOf:
    """A vocabulary known only to the run: the distinct values of `column` in the bound `relation` when
    the step runs (the compressor ids and source files of the readings it writes)."""

    relation: str
    column: str


# A text column whose values come from a list (a status, a metric's name) or from the run (ValuesOf):
# column -> its values.
Vocabulary = Mapping[str, Sequence[str] | ValuesOf]


def _as_enums(con: duckdb.DuckDBPyConnection, vocabulary: Vocabulary) -> str:
    """DuckDB's REPLACE list casting each column of `vocabulary` to an ENUM of its values.

    Parquet stores an ENUM as the same text column (every reader reads the same strings back), but
    DuckDB writes it from the ENUM's own dictionary instead of hashing every value into one: a third
    of writing gold's readings, eight status columns and the operating state, and a quarter of writing
    silver's from its per-compressor step's stream (the organization, compressor and source file, whose
    ENUMs are the values of the step's input: ValuesOf, a type created here). A value outside the list
    fails the statement rather than being written wrong. The dictionary of each file written holds
    every value of its ENUM, so a ValuesOf names the rows written, not a superset."""
    casts = []
    for column, values in vocabulary.items():
        if isinstance(values, ValuesOf):
            enum = f"vocabulary_{column}"
            con.execute(f"DROP TYPE IF EXISTS {enum}")
            con.execute(
                f"CREATE TYPE {enum} AS ENUM (SELECT DISTINCT {values.column} FROM {values.relation} "
                f"WHERE {values.column} IS NOT NULL)"
            )
        else:
            enum = f"ENUM({', '.join(sql_text(v) for v in values)})"
        casts.append(f"CAST({column} AS {enum}) AS {column}")
    return f" REPLACE ({', '.join(casts)})" if casts else ""


def copy_parquet(
    con: duckdb.DuckDBPyConnection,
    sql: str,
    output_dir: Path,
    partition_by: str | None = None,
    part: str = "0",
    schema_if_empty: bool = True,
    vocabulary: Vocabulary | None = None,
    compression: str = "zstd",
) -> list[Path]:
    """Write a query's result as Parquet into output_dir: one file, or one directory per UTC day.

    The files are named after `part`, so several parts (chunks of the fleet) can share a directory.
    A partitioned result without rows writes one empty file holding the schema, unless told not to.
    The columns of `vocabulary` are written from their lists of values (see _as_enums).
    `compression`: zstd for the lake, at level 1 (DuckDB's default is 3: writing 2 M readings of
    `gold/readings` took 1.3 against 1.55 CPU s for 12 % more bytes, `silver/readings` 1.23 against
    1.40 for 2 % more); a scratch file, read back within the run, is written uncompressed.
    Returns the files written.
    """
    enums = _as_enums(con, vocabulary or {})
    options = f"FORMAT parquet, COMPRESSION {compression}" + (
        ", COMPRESSION_LEVEL 1" if compression == "zstd" else ""
    )
    if partition_by is None:
        target = output_dir / f"part-{part}.parquet"
        selected = f"SELECT *{enums} FROM ({sql}\n) AS result" if enums else sql
        con.execute(f"COPY ({selected}) TO {_quote(target)} ({options})")
        return [target]
    # the UTC day by arithmetic on the epoch: CAST(... AS DATE) of a TIMESTAMPTZ goes through ICU's
    # calendar, about 0.07 µs a row more
    day = f"DATE '1970-01-01' + CAST(FLOOR(EPOCH({partition_by}) / 86400) AS INTEGER)"
    con.execute(
        f"COPY (SELECT *{enums}, {day} AS {PARTITION_COLUMN} FROM ({sql}\n) AS result) "
        f"TO {_quote(output_dir)} ({options}, "
        f"PARTITION_BY ({PARTITION_COLUMN}), FILENAME_PATTERN 'part-{part}-{{i}}', OVERWRITE_OR_IGNORE true)"
    )
    written = sorted(output_dir.rglob(f"part-{part}-*.parquet"))
    if written or not schema_if_empty:
        return written
    # no rows, no days: keep the schema in one empty file
    empty = output_dir / f"part-{part}.parquet"
    con.execute(f"COPY (SELECT * FROM ({sql}\n) AS result LIMIT 0) TO {_quote(empty)} (FORMAT parquet)")
    return [empty]


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
        self._connected()
        self.scratch_dir = scratch_dir
        self.scoped = False

    def _connected(self) -> None:
        """A new connection's own settings (the database's are set once, in __init__)."""
        self.con.execute("SET TimeZone = 'UTC'")
        # a run reads the same lake files in several steps: their footers are parsed once (the cache
        # is the database's; the setting is the connection's)
        self.con.execute("SET parquet_metadata_cache = true")
        # the relations bound to a per-compressor step's stream (map_compressors)
        self.streams: set[str] = set()

    def beside(self) -> "DuckDBEngine":
        """An engine on this one's database (its tables, views and scratch directory) through a
        connection of its own, which may run statements while this one runs others. The two share
        the database's catalog: what each binds needs a name of its own."""
        other = copy.copy(self)
        other.con = self.con.cursor()
        other._connected()
        return other

    def close(self) -> None:
        self.con.close()

    def scope(self, organizations: Sequence[str]) -> None:
        self.con.execute(f"CREATE OR REPLACE TABLE {RUN_ORGANIZATIONS} (organization VARCHAR)")
        self.con.executemany(f"INSERT INTO {RUN_ORGANIZATIONS} VALUES (?)", [[o] for o in organizations])
        self.scoped = True

    def bind_parquet(self, name: str, files: Sequence[Path]) -> None:
        where = (
            f" WHERE organization IN (SELECT organization FROM {RUN_ORGANIZATIONS})" if self.scoped else ""
        )
        self.con.execute(f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM {read_parquet(files)}{where}")

    def bind_sql(self, name: str, sql: str) -> None:
        """`name` as a view of a query (DuckDB dialect) over what is bound already."""
        self.con.execute(f"CREATE OR REPLACE VIEW {name} AS {sql}")

    def bind_rows(self, name: str, rows: Sequence[dict[str, Any]]) -> None:
        """A small table of parameters; typed from its values (every row has the same keys)."""
        columns = list(rows[0])
        types = {c: _sql_type([r[c] for r in rows]) for c in columns}
        ddl = ", ".join(f"{c} {types[c]}" for c in columns)
        self.con.execute(f"CREATE OR REPLACE TABLE {name} ({ddl})")
        # one list per column, in one statement: not row by row (an executemany of the 8 default limits
        # and the one row of params cost 15 against 6-7 ms of CPU), and not through pa.Table.from_pylist
        # (which loads pandas wherever it is installed)
        unnested = ", ".join("UNNEST(?)" for _ in columns)
        self.con.execute(f"INSERT INTO {name} SELECT {unnested}", [[r[c] for r in rows] for c in columns])

    def map_compressors(
        self,
        name: str,
        source: str,
        function: PerCompressor | PerCompressorWithConstants,
        order: Sequence[str] = COMPRESSOR_ORDER,
        constants: str | None = None,
    ) -> None:
        """`name` as `function` over the readings of the bound relation `source`, whole compressors at a
        time, streamed (read once, by the next statement that reads `name`). `constants`
        (TransformEngine.map_compressors) are read apart, not through the sort (the alert step's 32
        constants: its sort of 4.3 M readings 5.1-5.3 against 6.4-7.4 CPU s with them)."""
        assert tuple(order[:2]) == COMPRESSOR_ORDER[:2]
        # read on a connection of its own: the statement reading `name` runs on this one meanwhile
        reading = self.con.cursor()
        reading.execute("SET TimeZone = 'UTC'")
        ranked = compressor_ranks(source)
        columns = reading.sql(f"SELECT * FROM {source}").columns
        ranks = reading.sql(f"{ranked} ORDER BY compressor_rank").to_arrow_table()
        rows = None if constants is None else reading.sql(f"SELECT * FROM {constants}").to_arrow_table()
        each = handing(function, rows)
        reading.register("compressor_ranks", ranks)
        sorted_rows = reading.sql(compressor_ordered(source, "compressor_ranks", order))
        batches = sorted_rows.to_arrow_reader(COMPRESSOR_BATCH_ROWS)
        fields = {field.name: field for schema in (batches.schema, ranks.schema) for field in schema}
        readings = pa.schema([fields[column] for column in columns])
        schema = each(pa.Table.from_batches([], schema=readings)).schema
        mapped = whole_compressors(with_keys(batches, ranks, columns), each)
        self.con.register(name, pa.RecordBatchReader.from_batches(schema, mapped))
        self.streams.add(name)

    def run(
        self,
        step: str,
        output_dir: Path,
        partition_by: str | None = None,
        part: str = "0",
        vocabulary: Vocabulary | None = None,
    ) -> None:
        """Run sql/<step>.sql into output_dir as Parquet and bind the files it wrote under the step's name.

        With `partition_by` (a timestamp column) the output is split into one directory per UTC day;
        `part` names the files, so each chunk of the fleet writes its own; `vocabulary` names the
        columns of fixed values (copy_parquet).
        """
        sql = load_sql(step)
        # A stream has no row estimate (DuckDB takes it for one row), so the optimizer would build a
        # join's hash table on it, the big side of every join the steps write (gold_readings' limits):
        # a statement reading one keeps its joins' sides as written.
        streamed = any(re.search(rf"\b{name}\b", sql) for name in self.streams)
        with naming_failed_step(step):
            if streamed:
                self.con.execute("SET disabled_optimizers = 'build_side_probe_side'")
            try:
                written = copy_parquet(
                    self.con,
                    sql,
                    output_dir,
                    partition_by,
                    part,
                    vocabulary=vocabulary,
                    # scratch (silver_classified, all of a chunk's readings) is read back once or twice
                    # and deleted: compressing it cost more CPU than it saves reading
                    compression="uncompressed" if output_dir.is_relative_to(self.scratch_dir) else "zstd",
                )
            finally:
                if streamed:
                    self.con.execute("RESET disabled_optimizers")
        self.bind_parquet(step, written)

    def hold(self, step: str) -> None:
        """Run sql/<step>.sql into a table of this database under the step's name (replacing the one it
        held before): scratch its next steps read, without a Parquet file's write and read."""
        with naming_failed_step(step):
            self.con.execute(f"CREATE OR REPLACE TABLE {step} AS {load_sql(step)}")

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


class SparkNotInstalled(RuntimeError):
    pass


class SparkEngine:
    """The same transforms on Apache Spark: local mode by default, or a cluster via `master`."""

    name = "spark"

    def __init__(self, settings: Settings, scratch_dir: Path, master: str) -> None:
        try:
            from pyspark.sql import SparkSession
        except ImportError:
            raise SparkNotInstalled(
                "the Spark engine needs PySpark and Java 17: pip install 'altaviz[spark]'"
            ) from None
        scratch_dir.mkdir(parents=True, exist_ok=True)
        self.scratch_dir = scratch_dir
        if master.startswith("local"):
            # the per-compressor steps run Python on the executors: locally, this interpreter (with
            # altaviz); a cluster's executors need altaviz installed, their Python set by PYSPARK_PYTHON
            os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        self.spark = (
            SparkSession.builder.master(master)
            .appName("altaviz-pipeline")
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
            .config("spark.driver.memory", settings.spark_driver_memory)
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .getOrCreate()
        )
        self.spark.sparkContext.setLogLevel("ERROR")
        self.organizations: list[str] | None = None

    def close(self) -> None:
        self.spark.catalog.clearCache()

    def scope(self, organizations: Sequence[str]) -> None:
        self.organizations = list(organizations)
        self.spark.createDataFrame(
            [(o,) for o in self.organizations], schema="organization string"
        ).createOrReplaceTempView(RUN_ORGANIZATIONS)

    def bind_parquet(self, name: str, files: Sequence[Path]) -> None:
        frame = self.spark.read.parquet(*(str(f) for f in files))
        if PARTITION_COLUMN in frame.columns:
            frame = frame.drop(PARTITION_COLUMN)
        if self.organizations is not None:
            frame = frame.where(frame["organization"].isin(self.organizations))
        frame.createOrReplaceTempView(name)

    def bind_sql(self, name: str, sql: str) -> None:
        self.spark.sql(spark_sql(sql)).createOrReplaceTempView(name)

    def bind_rows(self, name: str, rows: Sequence[dict[str, Any]]) -> None:
        columns = list(rows[0])
        types = {c: _sql_type([r[c] for r in rows]) for c in columns}
        spark_types = {"BOOLEAN": "boolean", "BIGINT": "bigint", "DOUBLE": "double", "VARCHAR": "string"}
        schema = ", ".join(f"{c} {spark_types[types[c]]}" for c in columns)
        data = [
            tuple(float(r[c]) if types[c] == "DOUBLE" and r[c] is not None else r[c] for c in columns)
            for r in rows
        ]
        self.spark.createDataFrame(data, schema=schema).createOrReplaceTempView(name)

    def map_compressors(
        self,
        name: str,
        source: str,
        function: PerCompressor | PerCompressorWithConstants,
        order: Sequence[str] = COMPRESSOR_ORDER,
        constants: str | None = None,
    ) -> None:
        """The same function on the executors: each compressor's readings in one partition, sorted,
        handed over as Arrow batches (mapInArrow), whole compressors at a time; `constants`' rows (one a
        compressor) collected here and shipped with the function."""
        from pyspark.sql.pandas.types import from_arrow_schema, to_arrow_schema

        frame = self.spark.table(source)
        each = handing(function, None if constants is None else self.spark.table(constants).toArrow())
        arrow = to_arrow_schema(frame.schema, timezone="UTC")
        schema = from_arrow_schema(each(pa.Table.from_batches([], schema=arrow)).schema)
        mapped = (
            frame.repartition(*COMPRESSOR_ORDER[:2])
            .sortWithinPartitions(*order)
            .mapInArrow(lambda batches: whole_compressors(batches, each), schema)
        )
        mapped.createOrReplaceTempView(name)

    def run(self, step: str, output_dir: Path, partition_by: str | None = None) -> None:
        from pyspark.sql import functions

        try:
            frame = self.spark.sql(spark_sql(load_sql(step)))
            writer = frame.write.mode("overwrite")
            if partition_by is not None:
                frame = frame.withColumn(PARTITION_COLUMN, functions.to_date(partition_by))
                writer = frame.write.mode("overwrite").partitionBy(PARTITION_COLUMN)
            writer.parquet(str(output_dir))
            if not any(output_dir.rglob("*.parquet")):  # no rows, no days: keep the schema
                frame.drop(PARTITION_COLUMN).limit(0).write.mode("overwrite").parquet(str(output_dir))
        except Exception as exc:  # Spark raises many unrelated types; all mean the step failed
            raise TransformError(f"transform {step} failed on Spark: {exc}") from exc
        self.bind_parquet(step, sorted(output_dir.rglob("*.parquet")))

    def scratch(self, step: str) -> Path:
        return self.scratch_dir / step
