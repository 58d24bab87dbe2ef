"""Orchestration: which stages run, in what order, and what a run leaves behind.

Stages reuse what is already in the lake when skipped (`--skip-bronze`, `--skip-silver`,
`--skip-gold`); `--skip-db` stops before the operational database. New lake tables become current
together when the lake stages finish; the database load is one transaction after that.
"""

from __future__ import annotations

import contextlib
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from altaviz.config import Settings
from altaviz.pipeline.engine import DuckDBEngine, SparkEngine, TransformEngine, copy_parquet, read_parquet
from altaviz.pipeline.incremental import (
    FullRunNeeded,
    IncrementalRun,
    new_bronze_files,
    recent_from,
    set_recent_apart,
)
from altaviz.pipeline.lake import SCRATCH, Lake, LakeError, Manifest
from altaviz.pipeline.landing import ingest
from altaviz.pipeline.report import RunSummary, summarize
from altaviz.pipeline.stages import (
    EMPTY_VIOLATIONS,
    EMPTY_WATERMARKS,
    EVERY_READING,
    GOLD_STEPS,
    QUALITY_STEP,
    SILVER_STEPS,
    VIOLATED_PAIRS,
    WATERMARKS,
    Step,
    Tables,
    bind_parameters,
    chunk_of,
    fleet_chunks,
    input_fingerprint,
    parameters_fingerprint,
    run_steps,
    run_steps_by_chunk,
)

if TYPE_CHECKING:  # the database layer (SQLAlchemy, models, migrations) loads only when a run uses it
    from altaviz.pipeline import database

Notify = Callable[[str], None]


class PipelineError(RuntimeError):
    """A run failed; the message says which stage and why, in words an operator can act on."""


@dataclass(frozen=True)
class PipelineOptions:
    skip_bronze: bool = False
    skip_silver: bool = False
    skip_gold: bool = False
    skip_db: bool = False
    organization: str | None = None
    engine: str = "duckdb"
    spark_master: str | None = None
    # recompute silver and gold from all of bronze even where an incremental run would do
    full: bool = False


@dataclass
class PipelineResult:
    run_id: uuid.UUID
    summary: RunSummary
    stages: list[str] = field(default_factory=list)
    loaded: database.LoadCounts | None = None


def _stages(options: PipelineOptions) -> list[str]:
    flags = {
        "bronze": options.skip_bronze,
        "silver": options.skip_silver,
        "gold": options.skip_gold,
        "database": options.skip_db,
    }
    return [name for name, skipped in flags.items() if not skipped]


@contextmanager
def _timed(name: str, timings: dict[str, float], notify: Notify) -> Iterator[None]:
    notify(f"{name}: running")
    start = time.perf_counter()
    yield
    timings[name] = round(time.perf_counter() - start, 3)
    notify(f"{name}: done in {timings[name]:.2f} s")


def run_pipeline(
    settings: Settings, options: PipelineOptions, notify: Notify = lambda _: None
) -> PipelineResult:
    started = time.perf_counter()
    run_id = uuid.uuid4()
    stages = _stages(options)
    from altaviz.observability.metrics import record_pipeline_run

    lake = Lake(settings.lake_dir)
    # The lake lock comes first: only the run holding it may declare other 'running' runs abandoned.
    with lake.exclusive():
        target = None
        if not options.skip_db:
            from altaviz.pipeline import database

            target = database.open_target(settings, options.organization or settings.default_organization)
        try:
            if target is not None:
                database.start_run(target, run_id, stages)
            summary = _run_lake_stages(settings, options, lake, run_id, target, notify)
            result = PipelineResult(run_id, summary, stages)
            if summary.nothing_new:
                notify("nothing new: the lake and the database are up to date")
            elif target is not None:
                with _timed("database", summary.stage_seconds, notify):
                    result.loaded = _load_database(target, lake, options)
                    if summary.plan_limited:
                        database.note_plan_limit(target, summary.plan_limited)
            summary.seconds = time.perf_counter() - started
            if target is not None:
                database.finish_run(target, run_id, summary)
            record_pipeline_run(settings, "success", summary.seconds, summary)
            return result
        except Exception as exc:
            with contextlib.suppress(OSError):
                lake.collect_garbage()  # the run's staged versions: nothing names them
            if target is not None:
                database.fail_run(target, run_id, exc, time.perf_counter() - started)
            record_pipeline_run(settings, "failure", time.perf_counter() - started)
            if isinstance(exc, PipelineError):
                raise
            raise PipelineError(str(exc)) from exc
        finally:
            if target is not None:
                target.engine.dispose()


def _run_lake_stages(
    settings: Settings,
    options: PipelineOptions,
    lake: Lake,
    run_id: uuid.UUID,
    target: database.Target | None,
    notify: Notify,
) -> RunSummary:
    lake.collect_garbage()
    lake.clear_scratch()  # what a killed run left behind
    scratch = lake.root / SCRATCH / run_id.hex
    # DuckDB always checks and ingests the landing files, runs incremental passes and writes the
    # report; full passes run on the engine asked for.
    local = DuckDBEngine(settings, scratch / "duckdb")
    engine: TransformEngine = local
    timings: dict[str, float] = {}
    ingested = 0
    try:
        if options.engine == "spark":
            with _timed("spark start-up", timings, notify):
                engine = SparkEngine(
                    settings, scratch / "spark", options.spark_master or settings.spark_master
                )
        manifest = lake.read_manifest()
        tables = Tables(lake, manifest)
        following = replace(manifest, tables=dict(manifest.tables))
        version = f"v-{datetime.now(UTC):%Y%m%dT%H%M%S}-{run_id.hex[:8]}"
        for bound in {engine, local}:
            bind_parameters(bound, settings)
        if not options.skip_bronze:
            with _timed("bronze", timings, notify):
                loaded_at = datetime.now(UTC)
                bronze = ingest(local, settings.landing_dir, lake, manifest, loaded_at)
                tables.staged.update(bronze.staged_reference)
                ingested = bronze.files_ingested
            notify(
                f"bronze: {bronze.files_ingested} new of {bronze.files_seen} landing files, "
                f"{bronze.rows_ingested:,} rows appended"
            )
        pending: str | None = None
        if not options.skip_silver:
            _bind_plan_compressors(engine, local, tables, target)
            pending = _silver_and_gold(
                settings, options, engine, local, tables, following, version, timings, notify
            )
        elif not options.skip_gold:
            with _timed("gold", timings, notify):
                _full_gold(settings, engine, local, tables, version)
            pending = ALL
        summary = summarize(local, tables)
        summary.stage_seconds = timings
        if not options.skip_bronze and not options.skip_silver:
            summary.plan_limited = _plan_limited(local, tables, loaded_at)
        summary.fingerprint = following.fingerprint
        # No new landing file, no table written and the database already has the lake: a run that
        # changes nothing must not invalidate the service's cached answers (data_version) either.
        summary.nothing_new = (
            not (options.skip_bronze and options.skip_silver and options.skip_gold)
            and ingested == 0
            and not tables.staged
            and manifest.db_pending_since is None
        )
        if not summary.balanced:
            raise PipelineError(
                f"row balance broken: bronze {summary.bronze_rows} != silver {summary.silver_rows} "
                f"+ quarantine {summary.quarantined_rows}; nothing was committed"
            )
        following.db_pending_since = _earliest(manifest.db_pending_since, pending)
        lake.commit(tables.staged, following)
        return summary
    finally:
        if engine is not local:
            engine.close()
        local.close()
        shutil.rmtree(scratch, ignore_errors=True)


ALL = "all"
# Loads nothing hourly: the database already has every hourly row of the lake.
NOTHING_PENDING = datetime.max.replace(tzinfo=UTC)


def _load_database(target: database.Target, lake: Lake, options: PipelineOptions) -> database.LoadCounts:
    """Load what the database lacks (everything when only the database stage runs), then mark it loaded."""
    manifest = lake.read_manifest()
    pending = manifest.db_pending_since
    lake_stages_skipped = options.skip_bronze and options.skip_silver and options.skip_gold
    if lake_stages_skipped or pending == ALL:
        since = None
    elif pending is None:
        since = NOTHING_PENDING
    else:
        since = datetime.fromisoformat(pending)
    from altaviz.pipeline import database

    loaded = database.load_lake(target, lake, since)
    if pending is not None:
        manifest.db_pending_since = None
        lake.write_manifest(manifest)
    return loaded


def _earliest(a: str | None, b: str | None) -> str | None:
    """The earlier of two 'database lacks rows from' marks (ISO times, or ALL)."""
    if a is None or b is None:
        return a or b
    if ALL in (a, b):
        return ALL
    return min(a, b, key=datetime.fromisoformat)


def _bind_plan_compressors(
    engine: TransformEngine, local: DuckDBEngine, tables: Tables, target: database.Target | None
) -> None:
    """The compressors the organization's plan covers, as the table silver checks (all without a target)."""
    fleet = [
        str(row[0])
        for row in local.rows(
            f"SELECT compressor_id FROM {read_parquet(tables.files('reference/compressors'))}"
        )
    ]
    covered = None
    if target is not None:
        from altaviz.pipeline import database

        covered = database.plan_compressors(target, fleet)
    tables.plan_covered = None if covered is None else sorted(covered)
    for bound in {engine, local}:
        if covered is None:
            bound.bind_parquet("plan_compressors", tables.files("reference/compressors"))
        elif covered:
            bound.bind_rows("plan_compressors", [{"compressor_id": c} for c in sorted(covered)])
        else:
            bound.bind_sql("plan_compressors", "SELECT CAST(NULL AS VARCHAR) AS compressor_id WHERE FALSE")


def _plan_limited(local: DuckDBEngine, tables: Tables, loaded_at: datetime) -> dict[str, int]:
    """Readings this run loaded and held back for the plan limit, per compressor."""
    rows = local.rows(
        f"SELECT compressor_id, COUNT(*) FROM {read_parquet(tables.files('silver/quarantine'))} "
        "WHERE reason LIKE 'plan limit%' AND _loaded_at = ? GROUP BY 1",
        [loaded_at],
    )
    return {str(compressor): int(count) for compressor, count in rows}


def _silver_and_gold(
    settings: Settings,
    options: PipelineOptions,
    engine: TransformEngine,
    local: DuckDBEngine,
    tables: Tables,
    following: Manifest,
    version: str,
    timings: dict[str, float],
    notify: Notify,
) -> str | None:
    """Silver, and gold unless skipped: incrementally where possible. Returns the database's new gap."""
    bronze_files = tables.lake.bronze_files()
    if not bronze_files:
        raise LakeError("the lake has no bronze readings: run the pipeline without --skip-bronze first")
    for bound in {engine, local}:
        bound.bind_parquet("compressors", tables.files("reference/compressors"))
    processed_with = parameters_fingerprint(settings, tables, tables.plan_covered)
    new_files = _incremental_input(options, tables, bronze_files, processed_with, notify)
    following.processed_with = processed_with
    following.processed_bronze = [p.name for p in bronze_files]
    if new_files is not None:
        if not new_files:
            notify("silver, gold: no new bronze files, nothing to recompute")
            return None
        try:
            return _incremental(local, tables, new_files, following, version, timings, notify)
        except FullRunNeeded as reason:
            notify(f"full run: {reason}")
            tables.staged = {k: v for k, v in tables.staged.items() if k.startswith("reference/")}
    with _timed("silver", timings, notify):
        _full_silver(settings, engine, local, tables, bronze_files, version)
    following.fingerprint = input_fingerprint(bronze_files)
    if options.skip_gold:
        following.processed_with = None  # gold no longer matches silver: the next run is a full one
        return None
    with _timed("gold", timings, notify):
        _full_gold(settings, engine, local, tables, version)
    return ALL


def _incremental_input(
    options: PipelineOptions, tables: Tables, bronze_files: list[Path], processed_with: str, notify: Notify
) -> list[Path] | None:
    """The bronze files an incremental run would process, or None when this run must be a full one."""
    if options.full or options.skip_gold or options.engine != "duckdb":
        return None
    try:
        return new_bronze_files(tables.lake, tables.manifest, bronze_files, processed_with)
    except FullRunNeeded as reason:
        notify(f"full run: {reason}")
        return None


def _incremental(
    local: DuckDBEngine,
    tables: Tables,
    new_files: list[Path],
    following: Manifest,
    version: str,
    timings: dict[str, float],
    notify: Notify,
) -> str | None:
    run = IncrementalRun(local, tables.lake, tables, new_files, version)
    with _timed("silver", timings, notify):
        bounds = run.silver()
    following.fingerprint = input_fingerprint(new_files)
    if bounds is None:
        notify("gold: no new good readings, nothing to recompute")
        return None
    notify(
        f"incremental: {len(new_files)} new bronze files, recomputing from {bounds.zone_start:%Y-%m-%d %H:%M}"
    )
    with _timed("gold", timings, notify):
        run.gold(bounds)
    return bounds.hourly_from.isoformat()


def _fleet_steps(
    settings: Settings,
    engine: TransformEngine,
    steps: tuple[Step, ...],
    tables: Tables,
    version: str,
    input_name: str,
    input_files: list[Path],
) -> None:
    """Run steps that work compressor by compressor over input_files; DuckDB takes the fleet in chunks."""
    if isinstance(engine, DuckDBEngine):
        starts = fleet_chunks(engine, input_files, settings.pipeline_chunk_rows)
        run_steps_by_chunk(
            engine,
            steps,
            tables,
            version,
            len(starts) + 1,
            lambda k: engine.bind_sql(input_name, chunk_of(input_files, starts, k)),
        )
    else:
        engine.bind_parquet(input_name, input_files)
        run_steps(engine, steps, tables, version)


def _full_silver(
    settings: Settings,
    engine: TransformEngine,
    local: DuckDBEngine,
    tables: Tables,
    bronze_files: list[Path],
    version: str,
) -> None:
    engine.bind_sql("prior_watermarks", EMPTY_WATERMARKS)
    _fleet_steps(settings, engine, SILVER_STEPS, tables, version, "bronze_readings", bronze_files)
    run_steps(engine, (QUALITY_STEP,), tables, version)
    tables.staged[WATERMARKS] = tables.lake.stage(WATERMARKS, version)
    copy_parquet(
        local.con,
        "SELECT compressor_id, MAX(timestamp) AS newest "
        f"FROM {read_parquet(tables.files('silver/readings'))} GROUP BY 1",
        tables.staged[WATERMARKS].directory,
    )
    _set_recent_apart(local, tables, SILVER_STEPS)


def _set_recent_apart(local: DuckDBEngine, tables: Tables, steps: tuple[Step, ...]) -> None:
    """The recent rows of each day-partitioned table in files of their own, for the next incremental run."""
    newest = local.rows(f"SELECT MAX(newest) FROM {read_parquet(tables.files(WATERMARKS))}")[0][0]
    if not isinstance(newest, datetime):
        return
    recent = recent_from(local, newest)
    for step in steps:
        if step.table is not None and step.partition_by is not None:
            set_recent_apart(local, tables.staged[step.table], step.partition_by, recent)


def _full_gold(
    settings: Settings, engine: TransformEngine, local: DuckDBEngine, tables: Tables, version: str
) -> None:
    silver_files = tables.files("silver/readings")
    engine.bind_parquet("all_silver_readings", silver_files)
    engine.bind_sql(
        "batch_span",
        "SELECT EPOCH(MIN(timestamp)) AS first_epoch, EPOCH(MAX(timestamp)) AS last_epoch "
        "FROM all_silver_readings",
    )
    engine.bind_sql("prior_violations", EMPTY_VIOLATIONS)
    engine.bind_sql("violated_before", EMPTY_VIOLATIONS)
    engine.bind_sql("evaluation", EVERY_READING)
    _fleet_steps(settings, engine, GOLD_STEPS, tables, version, "silver_readings", silver_files)
    tables.staged[VIOLATED_PAIRS] = tables.lake.stage(VIOLATED_PAIRS, version)
    copy_parquet(
        local.con,
        f"SELECT DISTINCT compressor_id, metric FROM {read_parquet(tables.files('gold/violations'))}",
        tables.staged[VIOLATED_PAIRS].directory,
    )
    _set_recent_apart(local, tables, GOLD_STEPS)
