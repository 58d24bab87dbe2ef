"""Orchestration: which stages run, in what order, and what a run leaves behind.

Stages reuse what is already in the lake when skipped (`--skip-bronze`, `--skip-silver`,
`--skip-gold`); `--skip-db` stops before the operational database. New lake tables become current
together when the lake stages finish; the database load is one transaction after that.
"""

import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

from altaviz.config import Settings
from altaviz.pipeline import database
from altaviz.pipeline.engine import DuckDBEngine, SparkEngine, TransformEngine
from altaviz.pipeline.lake import Lake, LakeError
from altaviz.pipeline.landing import ingest
from altaviz.pipeline.report import RunSummary, summarize
from altaviz.pipeline.stages import (
    GOLD_STEPS,
    SILVER_STEPS,
    Tables,
    bind_parameters,
    input_fingerprint,
    run_steps,
)

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
    lake = Lake(settings.lake_dir)
    # The lake lock comes first: only the run holding it may declare other 'running' runs abandoned.
    with lake.exclusive():
        target = None
        if not options.skip_db:
            target = database.open_target(settings, options.organization or settings.default_organization)
        try:
            if target is not None:
                database.start_run(target, run_id, stages)
            summary = _run_lake_stages(settings, options, lake, run_id, notify)
            result = PipelineResult(run_id, summary, stages)
            if target is not None:
                with _timed("database", summary.stage_seconds, notify):
                    result.loaded = database.load_lake(target, lake)
            summary.seconds = time.perf_counter() - started
            if target is not None:
                database.finish_run(target, run_id, summary)
            return result
        except Exception as exc:
            if target is not None:
                database.fail_run(target, run_id, exc, time.perf_counter() - started)
            if isinstance(exc, PipelineError):
                raise
            raise PipelineError(str(exc)) from exc
        finally:
            if target is not None:
                target.engine.dispose()


def _run_lake_stages(
    settings: Settings, options: PipelineOptions, lake: Lake, run_id: uuid.UUID, notify: Notify
) -> RunSummary:
    lake.collect_garbage()
    scratch = lake.root / ".scratch" / run_id.hex
    # DuckDB always checks and ingests the landing files and writes the report; the transforms run
    # on the engine asked for.
    local = DuckDBEngine(settings, scratch / "duckdb")
    engine: TransformEngine = local
    timings: dict[str, float] = {}
    try:
        if options.engine == "spark":
            with _timed("spark start-up", timings, notify):
                engine = SparkEngine(
                    settings, scratch / "spark", options.spark_master or settings.spark_master
                )
        manifest = lake.read_manifest()
        tables = Tables(lake, manifest)
        version = f"v-{datetime.now(UTC):%Y%m%dT%H%M%S}-{run_id.hex[:8]}"
        bind_parameters(engine, settings)
        fingerprint = manifest.fingerprint
        if not options.skip_bronze:
            with _timed("bronze", timings, notify):
                bronze = ingest(local, settings.landing_dir, lake, datetime.now(UTC))
                tables.staged.update(bronze.staged_reference)
            notify(
                f"bronze: {bronze.files_ingested} new of {bronze.files_seen} landing files, "
                f"{bronze.rows_ingested:,} rows appended"
            )
        if not options.skip_silver:
            with _timed("silver", timings, notify):
                bronze_files = lake.bronze_files()
                if not bronze_files:
                    raise LakeError(
                        "the lake has no bronze readings: run the pipeline without --skip-bronze first"
                    )
                engine.bind_parquet("bronze_readings", bronze_files)
                engine.bind_parquet("compressors", tables.files("reference/compressors"))
                run_steps(engine, SILVER_STEPS, tables, lake, version)
                fingerprint = input_fingerprint(bronze_files, tables)
        if not options.skip_gold:
            with _timed("gold", timings, notify):
                engine.bind_parquet("silver_readings", tables.files("silver/readings"))
                run_steps(engine, GOLD_STEPS, tables, lake, version)
        summary = summarize(local, tables)
        summary.stage_seconds = timings
        summary.fingerprint = fingerprint
        if not summary.balanced:
            raise PipelineError(
                f"row balance broken: bronze {summary.bronze_rows} != silver {summary.silver_rows} "
                f"+ quarantine {summary.quarantined_rows}; nothing was committed"
            )
        lake.commit(tables.staged, fingerprint)
        return summary
    finally:
        if engine is not local:
            engine.close()
        local.close()
        shutil.rmtree(scratch, ignore_errors=True)
