"""The transform steps of each layer, in order, and where their outputs go."""

import hashlib
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from altaviz.config import Settings
from altaviz.fleet import METRIC_NAMES
from altaviz.pipeline.engine import (
    COMPRESSOR_ORDER,
    RUN_ORGANIZATIONS,
    DuckDBEngine,
    PerCompressor,
    PerCompressorWithConstants,
    TransformEngine,
    ValuesOf,
    Vocabulary,
    copy_parquet,
    load_sql,
    read_parquet,
    sql_text,
)
from altaviz.pipeline.episodes import alert_streaks
from altaviz.pipeline.flags import append_quality_flags
from altaviz.pipeline.lake import Lake, Manifest, StagedTable
from altaviz.pipeline.params import RATE_MIN_READINGS, params_row, threshold_rows
from altaviz.pipeline.rolling import append_gold_pass


@dataclass(frozen=True)
class Step:
    name: str
    # the lake table it becomes; None: a scratch intermediate no one reads after the run
    table: str | None = None
    # the timestamp column a partitioned table is split by (one directory per UTC day)
    partition_by: str | None = None
    # A per-compressor step: this function over the readings of `source`, whole compressors at a time
    # (TransformEngine.map_compressors), instead of sql/<name>.sql; its result is read by the next step.
    # (a PerCompressorWithConstants with `constants`)
    per_compressor: PerCompressor | PerCompressorWithConstants | None = None
    source: str | None = None
    # `source` is sql/<source>.sql, bound as a view (nothing written) before the per-compressor step
    source_view: bool = False
    # the order a per-compressor step reads its source in (whole compressors, each in time order)
    order: tuple[str, ...] = COMPRESSOR_ORDER
    # its text columns of fixed values, written from their lists (engine.copy_parquet)
    vocabulary: Vocabulary | None = None
    # a bound relation of per-compressor values a per-compressor step gets with every reading, without
    # their going through its sort (TransformEngine.map_compressors)
    constants: str | None = None
    # scratch a DuckDB run of the fleet in chunks keeps in a table of its database for the chunk's later
    # steps (replaced by the next chunk's) instead of writing it as Parquet (run_steps_by_chunk)
    held: bool = False


# The values of gold's text columns of fixed values (gold_readings.sql, violations.sql)
STATUSES = ("normal", "warning", "critical")
OPERATING_STATES = ("running", "starting", "stopped")
SERIES_VOCABULARY = {"metric": METRIC_NAMES, "operating_state": OPERATING_STATES}


def keys_of(relation: str) -> dict[str, ValuesOf]:
    """The organizations and compressor ids of a step's readings, as those of its input `relation`
    (its per-compressor step's stream cannot be read twice)."""
    return {column: ValuesOf(relation, column) for column in ("organization", "compressor_id")}


# Every step but quality works compressor by compressor, so a large fleet can run in chunks of it.
SILVER_STEPS = (
    # every reading of the chunk, read by the steps below only: held in DuckDB, not written (a
    # Parquet write and read of every column of every bronze reading)
    Step("silver_classified", held=True),
    # the quality flags of every good reading, in one pass per compressor (flags.py)
    Step("flagged_readings", per_compressor=append_quality_flags, source="silver_good", source_view=True),
    Step(
        "silver_readings",
        "silver/readings",
        "timestamp",
        vocabulary={**keys_of("silver_good"), "_source_file": ValuesOf("silver_good", "_source_file")},
    ),
    Step("quarantine", "silver/quarantine"),
    # each compressor's counts for quality (scratch, a row per compressor): quality reads them of every
    # chunk instead of all of the fleet's classified readings again
    Step("quality_counts"),
)
QUALITY_STEP = Step("quality", "silver/quality")
GOLD_STEPS = (
    # the temperature rate of change and the latest stopped reading of every silver reading, in one
    # pass per compressor (rolling.py)
    Step(
        "rated_readings",
        per_compressor=partial(append_gold_pass, rate_min_readings=RATE_MIN_READINGS),
        source="stopped_readings",
        source_view=True,
    ),
    Step(
        "gold_readings",
        "gold/readings",
        "timestamp",
        vocabulary={
            "operating_state": OPERATING_STATES,
            **{f"{m}_status": STATUSES for m in METRIC_NAMES},
            **keys_of("silver_readings"),
        },
    ),
    Step("gold_hourly", "gold/hourly", "agg_timestamp"),
    Step("violations", "gold/violations", "timestamp", vocabulary=SERIES_VOCABULARY | {"severity": STATUSES}),
    # Every reading that decides an alert episode; kept so a later run can continue the episodes. The
    # streaks of each compressor's series are counted in one pass per compressor (episodes.py), over
    # its gold readings in time order with the eight metrics side by side (alert_inputs.sql), and its
    # compressor's on-delays, clear counts and earlier violations (alert_limits.sql, scratch).
    Step("alert_limits"),
    Step(
        "alert_streaks",
        per_compressor=alert_streaks,
        source="alert_inputs",
        source_view=True,
        constants="alert_limits",
    ),
    Step(
        "alert_events",
        "gold/alert_events",
        "timestamp",
        vocabulary={"metric": METRIC_NAMES, "status": STATUSES},
    ),
    Step("alerts", "gold/alerts"),
)
# The limits that apply to each compressor and metric of the run's organizations (scratch).
THRESHOLDS_STEP = Step("compressor_thresholds")
# Small state tables an incremental run starts from, derived from the tables above.
WATERMARKS = "silver/watermarks"
VIOLATED_PAIRS = "gold/violated_pairs"
# The day-partitioned tables and the timestamp column each is split by.
PARTITIONED = {s.table: s.partition_by for s in (*SILVER_STEPS, *GOLD_STEPS) if s.table and s.partition_by}

EMPTY_WATERMARKS = (
    "SELECT CAST(NULL AS VARCHAR) AS organization, CAST(NULL AS VARCHAR) AS compressor_id, "
    "CAST(NULL AS TIMESTAMPTZ) AS newest WHERE FALSE"
)
# gold_readings computes the features of every reading in a full run
EVERY_READING = "SELECT CAST(NULL AS TIMESTAMPTZ) AS evaluate_from"
EMPTY_VIOLATIONS = (
    "SELECT CAST(NULL AS VARCHAR) AS organization, CAST(NULL AS VARCHAR) AS compressor_id, "
    "CAST(NULL AS VARCHAR) AS metric WHERE FALSE"
)
NO_SPANS = (
    "SELECT CAST(NULL AS VARCHAR) AS organization, CAST(NULL AS DOUBLE) AS first_epoch, "
    "CAST(NULL AS DOUBLE) AS last_epoch WHERE FALSE"
)
NO_OVERRIDES = (
    "SELECT CAST(NULL AS VARCHAR) AS organization, CAST(NULL AS VARCHAR) AS compressor_id, "
    "CAST(NULL AS VARCHAR) AS metric, CAST(NULL AS DOUBLE) AS warning, CAST(NULL AS DOUBLE) AS critical, "
    "CAST(NULL AS BIGINT) AS on_delay, CAST(NULL AS BIGINT) AS clear_count WHERE FALSE"
)


class Tables:
    """Resolves a lake table to the files a step should read: this run's staged version, else the current.

    A pass works on some organizations (`organizations`); the engines read only their rows (see
    TransformEngine.scope). What the pass stages replaces their rows only: `keep_others` adds every
    other organization's rows to each staged table that does not hold them already (`complete`).
    """

    def __init__(self, lake: Lake, manifest: Manifest, organizations: list[str] | None = None) -> None:
        self.lake = lake
        self.manifest = manifest
        self.organizations = organizations or []
        self.staged: dict[str, StagedTable] = {}
        # staged tables that already hold the other organizations' rows (kept files, merged rows)
        self.complete: set[str] = set()

    def files(self, table: str) -> list[Path]:
        if table in self.staged:
            return self.staged[table].files()
        return self.lake.table_files(table, self.manifest)

    def keep_others(self, engine: DuckDBEngine) -> None:
        """Copy the other organizations' rows of every staged table into its next version."""
        for table, staged in self.staged.items():
            if table in self.complete or not self.lake.has_table(table, self.manifest):
                continue
            old = self.lake.table_files(table, self.manifest)
            copy_parquet(
                engine.con,
                f"SELECT * FROM {read_parquet(old)} "
                f"WHERE organization NOT IN (SELECT organization FROM {RUN_ORGANIZATIONS})",
                staged.directory,
                PARTITIONED.get(table),
                part="others",
                schema_if_empty=False,
            )
            self.complete.add(table)


def bind_parameters(engine: TransformEngine, settings: Settings) -> None:
    engine.bind_rows("params", [params_row(settings)])
    engine.bind_rows("thresholds", threshold_rows())


def bind_batch_span(engine: TransformEngine, rows: list[dict[str, object]]) -> None:
    """gold_hourly's `batch_span`, each organization's first and last good reading as epochs
    (incremental.batch_span_rows), also when none has one."""
    if rows:
        engine.bind_rows("batch_span", rows)
    else:
        engine.bind_sql("batch_span", NO_SPANS)


def bind_thresholds(engine: TransformEngine, overrides: list[dict[str, object]]) -> None:
    """The limits of every compressor of the pass (`compressors` must be bound): the defaults, or the
    organization's effective values where `overrides` (complete rows) say otherwise."""
    if overrides:
        engine.bind_rows("threshold_overrides", overrides)
    else:
        engine.bind_sql("threshold_overrides", NO_OVERRIDES)
    engine.run(THRESHOLDS_STEP.name, engine.scratch(THRESHOLDS_STEP.name))


def parameters_fingerprint(
    settings: Settings,
    plan_covered: list[str] | None,
    fleet: list[str],
    known: list[str],
    registry_stations: list[tuple[str, str]] | None = None,
) -> str:
    """What an organization's silver and gold were computed with: parameters, the compressors its plan
    covers, its fleet metadata (the landing fleet files' digests), the compressors it has (those of
    its landing fleet files and its registry) and the stations its registry gives otherwise than its
    fleet files (the health stage's station proxy; none: the fingerprint is as before they counted). A
    change recomputes the organization, so an upgrade releases the readings the plan held back.
    (Alarm limits are tracked per compressor: OrganizationState.thresholds.)"""
    parts: list[object] = [params_row(settings), plan_covered, sorted(fleet), sorted(known)]
    if registry_stations:
        parts.append(sorted(registry_stations))
    h = hashlib.sha256()
    h.update(json.dumps(parts, sort_keys=True, default=str).encode())
    return h.hexdigest()


def _output(engine: TransformEngine, step: Step, tables: Tables, version: str) -> Path:
    """Where a step writes: its lake table's next version, or scratch for an intermediate."""
    if step.table is None:
        return engine.scratch(step.name)
    tables.staged[step.table] = tables.lake.stage(step.table, version)
    return tables.staged[step.table].directory


def run_step(engine: TransformEngine, step: Step, output_dir: Path | None, part: str = "0") -> None:
    """One step into output_dir (none for a per-compressor step: its result is bound, not written)."""
    if step.per_compressor is not None:
        assert step.source is not None
        if step.source_view:
            engine.bind_sql(step.source, load_sql(step.source))
        engine.map_compressors(step.name, step.source, step.per_compressor, step.order, step.constants)
        return
    assert output_dir is not None
    if isinstance(engine, DuckDBEngine):
        engine.run(step.name, output_dir, step.partition_by, part=part, vocabulary=step.vocabulary)
    else:
        engine.run(step.name, output_dir, step.partition_by)


def run_steps(engine: TransformEngine, steps: tuple[Step, ...], tables: Tables, version: str) -> None:
    for step in steps:
        run_step(engine, step, _output(engine, step, tables, version))


def run_steps_by_chunk(
    engine: DuckDBEngine,
    steps: tuple[Step, ...],
    tables: Tables,
    version: str,
    chunks: int,
    bind_chunk: Callable[[int], None],
) -> None:
    """Run steps that work compressor by compressor once per chunk of the fleet.

    `bind_chunk(k)` binds the first step's input to chunk k; each step then reads what the step before
    wrote (or held: Step.held) for the same chunk. Afterwards every written step's name is bound to the
    output of all chunks. Each chunk's windows and sorts fit in memory, so a fleet's run grows linearly
    instead of spilling.
    """
    outputs = {
        step.name: _output(engine, step, tables, version)
        for step in steps
        if step.per_compressor is None and not step.held
    }
    for chunk in range(chunks):
        bind_chunk(chunk)
        for step in steps:
            if step.held:
                engine.hold(step.name)
            else:
                run_step(engine, step, outputs.get(step.name), part=str(chunk))
    for step in steps:
        if step.held:  # the last chunk's: read by nothing after the chunks
            engine.con.execute(f"DROP TABLE {step.name}")
    if chunks == 1:
        return  # each step's name is bound to what its one chunk wrote already (DuckDBEngine.run)
    for name, output in outputs.items():
        engine.bind_parquet(name, sorted(output.rglob("*.parquet")))


def fleet_chunks(engine: DuckDBEngine, files: list[Path], chunk_rows: int) -> list[str]:
    """Cut the fleet in these files into chunks of about chunk_rows readings: the compressor ids the
    chunks after the first start at (empty: one chunk).

    A chunk is a range of compressor ids, so all readings of a compressor are in one chunk, and the
    files a step writes chunk by chunk each hold one range: the next step reading a chunk skips the
    other chunks' files by their statistics instead of filtering every row of every file.
    """
    counts = engine.rows(
        f"SELECT compressor_id, COUNT(*) FROM {read_parquet(files)} "
        "WHERE compressor_id IS NOT NULL GROUP BY compressor_id ORDER BY compressor_id"
    )
    total = sum(count for _, count in counts)
    chunks = max(1, math.ceil(total / chunk_rows))
    starts: list[str] = []
    so_far = 0
    for compressor, count in counts:
        if so_far >= total * (len(starts) + 1) / chunks:
            starts.append(compressor)
        so_far += count
    return starts


def chunk_of(files: list[Path], starts: list[str], chunk: int) -> str:
    """The rows of one chunk of the fleet (see fleet_chunks); rows without a compressor id go to the first."""
    return f"SELECT * FROM {read_parquet(files)}{chunk_where(starts, chunk)}"


def chunk_where(starts: list[str], chunk: int) -> str:
    """The WHERE clause (with its leading space; empty for a single chunk) of chunk_of's rows."""
    bounds = []
    if chunk > 0:
        bounds.append(f"compressor_id >= {sql_text(starts[chunk - 1])}")
    if chunk < len(starts):
        below = f"compressor_id < {sql_text(starts[chunk])}"
        bounds.append(f"({below} OR compressor_id IS NULL)" if chunk == 0 else below)
    return f" WHERE {' AND '.join(bounds)}" if bounds else ""


def input_fingerprint(bronze_files: list[Path]) -> str:
    """Identifies a batch of bronze files (content-named): keys that batch's data-quality rows."""
    h = hashlib.sha256()
    for path in bronze_files:
        h.update(path.name.encode())
    return h.hexdigest()
