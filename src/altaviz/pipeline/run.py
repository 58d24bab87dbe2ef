"""Orchestration: which organizations and stages run, in what order, and what a run leaves behind.

One run visits every organization with a landing zone (or the one named): each one's landing files
go to its bronze, then one pass per kind of work computes silver and gold for all the organizations
that need it, in one process and one set of queries (the organization is a key of every table, see
lake.py): a full pass for organizations without usable state (first run, changed parameters, plan or
fleet), a pass recomputing the gold of compressors whose alarm limits changed, and an incremental
pass for those with new bronze files. What a pass writes replaces its organizations' rows only.
Each organization is then loaded into the operational database in a transaction of its own.

A readings file that cannot be ingested is set aside with its reason (landing.set_aside) and reported
(`OrganizationResult.set_aside`) while the organization's other files go on. One organization's
failure (a bad fleet file, a failed step, a failed load) never blocks or changes another's: a pass
that fails with several organizations is run again for each alone, the run reports every
organization and fails (PipelineError naming them) when any did.

Stages reuse what is already in the lake when skipped (`--skip-bronze`, `--skip-silver`,
`--skip-gold`); `--skip-db` stops before the operational database. New lake tables become current
together at the end of each pass (one manifest rename).
"""

from __future__ import annotations

import contextlib
import copy
import shutil
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from altaviz.config import Settings
from altaviz.health import HealthConfig
from altaviz.pipeline.engine import (
    DuckDBEngine,
    SparkEngine,
    TransformEngine,
    copy_parquet,
    parquet_list,
    read_parquet,
    sql_text,
)
from altaviz.pipeline.health import HealthStage
from altaviz.pipeline.incremental import (
    FullRunNeeded,
    IncrementalRun,
    batch_span_rows,
    new_bronze_files,
    recent_from,
    set_recent_apart,
)
from altaviz.pipeline.lake import SCRATCH, Lake, LakeError, Manifest, OrganizationState
from altaviz.pipeline.landing import Digests as LandingDigests
from altaviz.pipeline.landing import (
    LandingError,
    OrganizationBronze,
    ingest_organization,
    landing_organizations,
    stage_reference,
)
from altaviz.pipeline.params import changed_compressors, longest_alert_count, threshold_overrides
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
    bind_batch_span,
    bind_parameters,
    bind_thresholds,
    chunk_of,
    fleet_chunks,
    input_fingerprint,
    parameters_fingerprint,
    run_steps,
    run_steps_by_chunk,
)

if TYPE_CHECKING:  # the database layer (SQLAlchemy, models, migrations) loads only when a run uses it
    import duckdb

    from altaviz.pipeline import database

Notify = Callable[[str], None]


class PipelineError(RuntimeError):
    """A run failed; the message says which stage (and organization) and why, in words an operator can
    act on. `result` holds what the run did for the organizations that succeeded, when any."""

    def __init__(self, message: str, result: PipelineResult | None = None) -> None:
        super().__init__(message)
        self.result = result


@dataclass(frozen=True)
class PipelineOptions:
    skip_bronze: bool = False
    skip_silver: bool = False
    skip_gold: bool = False
    skip_db: bool = False
    # one organization (its slug); None: every organization with a landing zone
    organization: str | None = None
    engine: str = "duckdb"
    spark_master: str | None = None
    # recompute silver and gold from all of bronze even where an incremental run would do
    full: bool = False


@dataclass
class OrganizationResult:
    organization: str
    summary: RunSummary | None = None
    loaded: database.LoadCounts | None = None
    error: str | None = None
    # what the run did for it: "full", "thresholds", "incremental", or nothing new
    work: list[str] = field(default_factory=list)
    # landing files that could not be ingested, moved to landing/<org>/quarantine/ (each with its reason)
    set_aside: list[str] = field(default_factory=list)

    @property
    def nothing_new(self) -> bool:
        return not self.work and self.error is None


@dataclass
class PipelineResult:
    run_id: uuid.UUID
    organizations: dict[str, OrganizationResult]
    stages: list[str] = field(default_factory=list)
    stage_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def failed(self) -> dict[str, str]:
        return {o: r.error for o, r in self.organizations.items() if r.error is not None}

    def _single(self) -> OrganizationResult:
        done = [r for r in self.organizations.values() if r.summary is not None]
        if len(done) != 1:
            raise ValueError(f"this run processed {len(done)} organizations; read .organizations")
        return done[0]

    @property
    def summary(self) -> RunSummary:
        """The report of the run's one organization (most runs: the demo's)."""
        summary = self._single().summary
        assert summary is not None
        return summary

    @property
    def loaded(self) -> database.LoadCounts | None:
        return self._single().loaded


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
    timings[name] = round(timings.get(name, 0.0) + time.perf_counter() - start, 3)
    notify(f"{name}: done in {timings[name]:.2f} s")


ALL = "all"
# Loads nothing hourly: the database already has every hourly row of the lake.
NOTHING_PENDING = datetime.max.replace(tzinfo=UTC)


@dataclass
class _Organization:
    """What a run knows of one organization before its passes: its registry and what it needs."""

    slug: str
    target: database.Target | None = None
    run_id: uuid.UUID = field(default_factory=uuid.uuid4)
    registered: dict[str, str] = field(default_factory=dict)  # compressor -> station
    plan_covered: list[str] | None = None
    overrides: list[dict[str, Any]] = field(default_factory=list)
    threshold_digests: dict[str, str] = field(default_factory=dict)
    processed_with: str = ""
    loaded_at: datetime | None = None
    # compressors of its applied (unchanged) landing fleet file deleted from its registry since
    removed: list[str] = field(default_factory=list)

    def fleet(self, fleet_file: list[str]) -> list[str]:
        """Its compressors: the registry's and those of its landing fleet file (less the removed)."""
        return sorted(set(self.registered) | (set(fleet_file) - set(self.removed)))

    def stations(self, fleet_file: dict[str, str]) -> dict[str, str]:
        """Each of its compressors' station: the registry's (where a change through the API lands),
        else its landing fleet file's."""
        return {c: self.registered.get(c) or fleet_file[c] for c in self.fleet(list(fleet_file))}


def run_pipeline(
    settings: Settings, options: PipelineOptions, notify: Notify = lambda _: None
) -> PipelineResult:
    """Run the pipeline; PipelineError when any organization failed (its `result` holds the others').
    Errors before any organization's work (the lake held by another run, the database out of reach,
    nothing landed) are raised as they are. Every run is counted in the metrics by outcome."""
    started = time.perf_counter()
    try:
        result = _run_pipeline(settings, options, notify)
    except PipelineError as exc:
        if exc.result is None:  # failed before any organization's work
            _record_run(settings, "failure", time.perf_counter() - started)
        raise
    except Exception:
        _record_run(settings, "failure", time.perf_counter() - started)
        raise
    return result


def _record_run(settings: Settings, outcome: str, seconds: float, summary: RunSummary | None = None) -> None:
    """Count the run in this process's metrics where anything reads them: a process serving /metrics
    (the web service, a watcher with PIPELINE_WATCH_METRICS_PORT: both load observability.metrics
    before any run) or pushing to METRICS_PUSHGATEWAY_URL. A one-off `altaviz pipeline run` without a
    gateway has no reader, and does not load prometheus-client for nothing."""
    if "altaviz.observability.metrics" not in sys.modules and not settings.metrics_pushgateway_url:
        return
    from altaviz.observability.metrics import record_pipeline_run

    record_pipeline_run(settings, outcome, seconds, summary)


def _run_pipeline(settings: Settings, options: PipelineOptions, notify: Notify) -> PipelineResult:
    started = time.perf_counter()
    stages = _stages(options)
    lake = Lake(settings.lake_dir)
    result = PipelineResult(uuid.uuid4(), {}, stages)
    # The lake lock comes first: only the run holding it may declare other 'running' runs abandoned.
    with lake.exclusive():
        lake.clear_scratch()  # what a killed run left behind
        lake.collect_garbage()
        # The single-organization layout (landing/readings/, as before issue 16) is the organization the
        # run names, as it was, else ALTAVIZ_ORGANIZATION's.
        owner = options.organization or settings.default_organization
        lake.upgrade(owner, _with_organization(owner))
        landing = landing_organizations(settings.landing_dir, owner)
        slugs = _organizations(settings, options, lake, landing)
        db = None
        if not options.skip_db:
            from altaviz.pipeline import database

            db = database.open_database(settings)  # an outage fails the whole run, before any work
        orgs: dict[str, _Organization] = {}
        try:
            orgs = _targets(settings, db, slugs, result, stages)
            run = _Run(settings, options, lake, landing, dict(orgs), result, notify)
            try:
                run.lake_stages()
                if db is not None:
                    with _timed("database", result.stage_seconds, notify):
                        run.load_databases()
            except Exception as exc:  # outside any one organization (the lake, the disk): all failed
                for slug in orgs:
                    if result.organizations[slug].error is None:
                        result.organizations[slug].error = str(exc)
            seconds = time.perf_counter() - started
            for org in orgs.values():
                outcome = result.organizations[org.slug]
                if outcome.summary is not None:
                    outcome.summary.seconds = seconds
                    outcome.summary.stage_seconds = result.stage_seconds
                if org.target is None:
                    continue
                if outcome.error is None and outcome.summary is not None:
                    database.finish_run(org.target, org.run_id, outcome.summary)
                else:
                    database.fail_run(org.target, org.run_id, RuntimeError(outcome.error), seconds)
        finally:
            if db is not None:
                db.dispose()
    seconds = time.perf_counter() - started
    done = [r.summary for r in result.organizations.values() if r.error is None and r.summary is not None]
    _record_run(
        settings, "failure" if result.failed else "success", seconds, done[0] if len(done) == 1 else None
    )
    if result.failed:
        failed = result.failed
        if len(result.organizations) == 1:
            raise PipelineError(next(iter(failed.values())), result)
        named = "; ".join(f"{o}: {message}" for o, message in sorted(failed.items()))
        raise PipelineError(
            f"{len(failed)} of {len(result.organizations)} organizations failed: {named}", result
        )
    return result


def _with_organization(organization: str) -> Callable[[Path, Path], None]:
    """Rewrites a bronze file of the single-organization layout with the organization's column."""

    def rewrite(old: Path, new: Path) -> None:
        import duckdb

        con = duckdb.connect()
        try:
            con.execute("SET TimeZone = 'UTC'")
            con.execute(
                f"COPY (SELECT {sql_text(organization)} AS organization, "
                "* EXCLUDE (_source_file, _source_row, _loaded_at), CAST(NULL AS VARCHAR) AS _refused, "
                "_source_file, _source_row, _loaded_at "
                f"FROM {read_parquet([old])}) TO {sql_text(str(new))} (FORMAT parquet, COMPRESSION zstd)"
            )
        finally:
            con.close()

    return rewrite


def _organizations(
    settings: Settings, options: PipelineOptions, lake: Lake, landing: dict[str, list[Path]]
) -> list[str]:
    """The organizations this run visits: the one named, or every one with a landing zone (with bronze
    already, when bronze is skipped)."""
    known = set(landing) if not options.skip_bronze else set(lake.bronze_organizations())
    if options.organization is not None:
        if options.organization not in known and options.organization not in lake.bronze_organizations():
            raise PipelineError(
                f"no landing files for organization {options.organization!r} in "
                f"{settings.landing_dir / options.organization / 'readings'}: land readings there "
                f"(for a demo: altaviz simulate --organization {options.organization}) and run again"
            )
        return [options.organization]
    if not known and options.skip_bronze:
        raise PipelineError("the lake has no bronze readings: run the pipeline without --skip-bronze first")
    if not known:
        raise PipelineError(
            f"no landing files in {settings.landing_dir}: land readings in "
            f"{settings.landing_dir}/<organization>/readings/ (for a demo: altaviz simulate) and run again"
        )
    return sorted(known)


def _targets(
    settings: Settings, db: Any, slugs: list[str], result: PipelineResult, stages: list[str]
) -> dict[str, _Organization]:
    """Each organization, found in the database when the run uses one (an unknown one fails alone)."""
    orgs: dict[str, _Organization] = {}
    for slug in slugs:
        result.organizations[slug] = OrganizationResult(slug)
        org = _Organization(slug)
        if db is not None:
            from altaviz.pipeline import database

            try:
                org.target = database.find_target(db, settings, slug)
                database.start_run(org.target, org.run_id, stages)
            except Exception as exc:  # the organization does not exist, or its run log failed
                result.organizations[slug].error = str(exc)
                continue
        orgs[slug] = org
    return orgs


class _Run:
    def __init__(
        self,
        settings: Settings,
        options: PipelineOptions,
        lake: Lake,
        landing: dict[str, list[Path]],
        orgs: dict[str, _Organization],
        result: PipelineResult,
        notify: Notify,
    ) -> None:
        self.settings = settings
        self.options = options
        self.lake = lake
        self.landing = landing
        self.orgs = orgs
        self.result = result
        self.notify = notify
        self.timings = result.stage_seconds
        self.passes = 0
        # the fleet files' compressors, by the files read (_reference_compressors)
        self._fleet_files: dict[tuple[Path, ...], dict[str, dict[str, str]]] = {}
        # bronze's engine and its scratch, until the first pass or the report takes them (_bronze)
        self._opened: tuple[DuckDBEngine, Path] | None = None
        # where recent rows start, by pass and watermark files (_set_recent_apart)
        self._recent: dict[tuple[int, tuple[Path, ...]], datetime | None] = {}

    def _fail(self, slug: str, error: BaseException | str) -> None:
        self.result.organizations[slug].error = str(error)
        self.orgs.pop(slug, None)
        self.notify(f"{slug}: failed: {error}")

    # --- lake -------------------------------------------------------------------------------------

    def lake_stages(self) -> None:
        try:
            self._lake_stages()
        finally:
            if self._opened is not None:  # bronze's engine, which no pass or report took
                _close(*self._opened)
                self._opened = None

    def _lake_stages(self) -> None:
        if not self.options.skip_bronze:
            with _timed("bronze", self.timings, self.notify):
                self._bronze()
        self._read_registries()
        if self.options.skip_silver and self.options.skip_gold:
            self._report(list(self.orgs))
            return
        manifest = self.lake.read_manifest()
        full: list[str] = []
        thresholds: dict[str, set[str]] = {}
        incremental: dict[str, list[Path]] = {}
        for slug, org in sorted(self.orgs.items()):
            state = manifest.organization(slug)
            if self.options.skip_silver:
                full.append(slug)  # gold alone, from the current silver
                continue
            mode = self._mode(manifest, state, org)
            if mode is None:
                full.append(slug)
                continue
            new_files, changed = mode
            if changed:
                thresholds[slug] = changed
            if new_files:
                incremental[slug] = new_files
        if full:
            self._pass("full", full, lambda tables, orgs: self._full(tables, orgs))
        if thresholds:
            self._pass(
                "thresholds",
                sorted(thresholds),
                lambda tables, orgs: self._threshold_gold(tables, {o: thresholds[o] for o in orgs}),
            )
        if incremental:
            self._pass(
                "incremental",
                sorted(incremental),
                lambda tables, orgs: self._incremental(tables, {o: incremental[o] for o in orgs}),
            )
        idle = [o for o in self.orgs if not self.result.organizations[o].work]
        for slug in idle:
            self.notify(f"{slug}: nothing new")
        self._report(idle)

    def _scratch(self, number: int) -> Path:
        """Pass `number`'s working files (its DuckDB database's spill, its intermediate steps)."""
        return self.lake.root / SCRATCH / f"{self.result.run_id.hex}-{number}"

    def _bronze(self) -> None:
        # bronze runs on the database the run's first pass (or its report) then uses: opening a DuckDB
        # database costs about 15 ms of CPU, and bronze binds no name in its catalog
        scratch = self._scratch(self.passes + 1)
        local = DuckDBEngine(self.settings, scratch / "duckdb")
        try:
            digests = LandingDigests(self.lake)
            states = self.lake.read_manifest().organizations
            ingested: list[OrganizationBronze] = []
            for slug in sorted(self.orgs):
                org = self.orgs[slug]
                org.loaded_at = datetime.now(UTC)
                try:
                    bronze = ingest_organization(
                        local,
                        self.settings.landing_dir,
                        slug,
                        self.landing.get(slug, [self.settings.landing_dir / slug]),
                        self.lake,
                        org.loaded_at,
                        digests,
                        states[slug].fleet if slug in states else None,
                    )
                except (LandingError, OSError) as exc:
                    self._fail(slug, exc)
                    continue
                ingested.append(bronze)
                self.result.organizations[slug].set_aside = [str(a) for a in bronze.set_aside]
                for aside in bronze.set_aside:
                    self.notify(f"{slug}: {aside}")
                self.notify(
                    f"bronze {slug}: {bronze.files_ingested} new of {bronze.files_seen} landing files, "
                    f"{bronze.rows_ingested:,} rows appended"
                )
            digests.save()
            manifest = self.lake.read_manifest()
            staged = stage_reference(local, self.lake, manifest, ingested)
            self.lake.commit(staged, manifest)  # the fleet files, and each organization's digests
            self._reference_compressors(self.lake.read_manifest(), local.con)  # while a connection is open
        except BaseException:
            _close(local, scratch)
            raise
        self._opened = (local, scratch)

    def _read_registries(self) -> None:
        """Each organization's registered compressors, plan and alarm limits (defaults without a
        database), and what its silver and gold must have been computed with."""
        if any(org.target is not None for org in self.orgs.values()):
            # the database layer (SQLAlchemy, the models) loads only when the run uses one
            from altaviz.pipeline import database

        manifest = self.lake.read_manifest()
        fleet_files = self._reference_compressors(manifest)
        for slug in sorted(self.orgs):
            org = self.orgs[slug]
            state = manifest.organization(slug)
            try:
                if org.target is not None:
                    org.registered = database.registered_compressors(org.target)
                    org.removed = database.removed_from_registry(
                        org.target, list(fleet_files.get(slug, {})), state.fleet
                    )
                    covered = database.plan_compressors(
                        org.target, org.fleet(list(fleet_files.get(slug, {})))
                    )
                    org.plan_covered = None if covered is None else sorted(covered)
                    effective = database.effective_thresholds(org.target)
                else:
                    effective = []
            except Exception as exc:  # the organization's registry could not be read
                self._fail(slug, f"reading the registry: {exc}")
                continue
            org.overrides, org.threshold_digests = threshold_overrides(slug, effective)
            in_file = fleet_files.get(slug, {})
            org.processed_with = parameters_fingerprint(
                self.settings,
                org.plan_covered,
                sorted(state.fleet.values()),
                org.fleet(list(in_file)),
                # a station the registry gives otherwise than the fleet file (or without one): its
                # change, through the API, recomputes the organization (the health stage's proxy)
                sorted((c, st) for c, st in org.registered.items() if in_file.get(c) != st),
            )

    def _reference_compressors(
        self, manifest: Manifest, con: duckdb.DuckDBPyConnection | None = None
    ) -> dict[str, dict[str, str]]:
        """Each organization's compressors in the lake's fleet files (reference/compressors) and their
        stations, read once per version of those files (on `con` when given: a DuckDB connection costs
        15 ms of CPU)."""
        if not self.lake.has_table("reference/compressors", manifest):
            return {}
        files = self.lake.table_files("reference/compressors", manifest)
        key = tuple(files)
        if key in self._fleet_files:
            return self._fleet_files[key]
        found: dict[str, dict[str, str]] = {}
        query = f"SELECT organization, compressor_id, station_id FROM {read_parquet(files)} ORDER BY 1, 2"
        if con is None:
            import duckdb

            with contextlib.closing(duckdb.connect()) as own:
                rows = own.execute(query).fetchall()
        else:
            rows = con.execute(query).fetchall()
        for organization, compressor, station in rows:
            found.setdefault(str(organization), {})[str(compressor)] = str(station)
        self._fleet_files[key] = found
        return found

    def _mode(
        self, manifest: Manifest, state: OrganizationState, org: _Organization
    ) -> tuple[list[Path], set[str]] | None:
        """None when the organization needs a full pass; else its new bronze files and the compressors
        whose alarm limits changed."""
        options = self.options
        if options.full or options.skip_gold or options.engine != "duckdb":
            return None
        try:
            new_files = new_bronze_files(
                self.lake, manifest, state, self.lake.bronze_files(org.slug), org.processed_with
            )
        except FullRunNeeded as reason:
            self.notify(f"{org.slug}: full run: {reason}")
            return None
        changed = changed_compressors(state.thresholds, org.threshold_digests)
        if changed is None:
            self.notify(f"{org.slug}: full run: the default alarm limits changed")
            return None
        return new_files, changed

    def _pass(self, kind: str, slugs: list[str], work: Callable[[Tables, list[str]], None]) -> None:
        """One pass of `work` over these organizations; when it fails with several, each alone again."""
        try:
            self._one_pass(kind, slugs, work)
        except Exception as exc:
            if len(slugs) == 1:
                self._fail(slugs[0], _named(kind, exc))
                return
            self.notify(f"{kind} pass failed ({exc}); running each organization alone")
            for slug in slugs:
                try:
                    self._one_pass(kind, [slug], work)
                except Exception as alone:
                    self._fail(slug, _named(kind, alone))

    def _one_pass(self, kind: str, slugs: list[str], work: Callable[[Tables, list[str]], None]) -> None:
        self.passes += 1
        scratch = self._scratch(self.passes)
        opened, self._opened = self._opened, None
        if opened is not None and opened[1] != scratch:  # not this pass's scratch (never so today)
            _close(*opened)
            opened = None
        # bronze's engine (on this pass's scratch), else one of the pass's own
        self.local = opened[0] if opened is not None else DuckDBEngine(self.settings, scratch / "duckdb")
        self.engine: TransformEngine = self.local
        self.beside = _Beside(self.local, self.timings, self.notify)
        try:
            if kind == "full" and self.options.engine == "spark":
                with _timed("spark start-up", self.timings, self.notify):
                    self.engine = SparkEngine(
                        self.settings,
                        scratch / "spark",
                        self.options.spark_master or self.settings.spark_master,
                    )
            manifest = self.lake.read_manifest()
            tables = Tables(self.lake, manifest, slugs)
            self.following = copy.deepcopy(manifest)
            self.version = f"v-{datetime.now(UTC):%Y%m%dT%H%M%S}-{self.result.run_id.hex[:8]}-{self.passes}"
            for bound in {self.engine, self.local}:
                bound.scope(slugs)
                bind_parameters(bound, self.settings)
            self._bind_fleet(tables, slugs)
            work(tables, slugs)
            summaries = summarize(self.local, tables, slugs, self.version)
            held = self._plan_limited(tables, slugs) if kind != "thresholds" else {}
            self.beside.finish()
            for slug, summary in summaries.items():
                if not summary.balanced:
                    raise PipelineError(
                        f"row balance broken: bronze {summary.bronze_rows} != silver {summary.silver_rows} "
                        f"+ quarantine {summary.quarantined_rows}; nothing was committed"
                    )
                summary.plan_limited = held.get(slug, {})
            for slug in slugs:
                self.following.organization(slug).thresholds = self.orgs[slug].threshold_digests
            tables.keep_others(self.local)
            self.lake.commit(tables.staged, self.following)
            for slug, summary in summaries.items():
                outcome = self.result.organizations[slug]
                summary.fingerprint = self.following.organization(slug).fingerprint
                outcome.summary = summary
                outcome.work.append(kind)
        except Exception:
            self.beside.wait()  # what it staged is removed below too
            with contextlib.suppress(OSError):
                self.lake.collect_garbage()  # the pass's staged versions: nothing names them
            raise
        finally:
            self.beside.wait()
            if self.engine is not self.local:
                self.engine.close()
            self.local.close()
            shutil.rmtree(scratch, ignore_errors=True)

    def _bind_fleet(self, tables: Tables, slugs: list[str]) -> None:
        """compressors (the landing fleet files' and the registries', less those deleted from the
        registry since their file was applied), plan_compressors and the alarm limits of every
        compressor of the pass's organizations."""
        fleet = self._reference_compressors(tables.manifest, self.local.con)
        known = [
            {"organization": s, "compressor_id": c}
            for s in slugs
            for c in self.orgs[s].fleet(list(fleet.get(s, {})))
        ]
        plan = [
            {"organization": s, "compressor_id": c}
            for s in slugs
            for c in self._covered(s, list(fleet.get(s, {})))
        ]
        overrides = [row for s in slugs for row in self.orgs[s].overrides]
        empty = (
            "SELECT CAST(NULL AS VARCHAR) AS organization, CAST(NULL AS VARCHAR) AS compressor_id WHERE FALSE"
        )
        for bound in {self.engine, self.local}:
            if known:
                bound.bind_rows("compressors", known)
            else:
                bound.bind_sql("compressors", empty)
            if plan:
                bound.bind_rows("plan_compressors", plan)
            else:
                bound.bind_sql("plan_compressors", empty)
            bind_thresholds(bound, overrides)

    def _covered(self, slug: str, fleet_files: list[str]) -> list[str]:
        """The compressors the organization's plan covers (without a limit: all it has)."""
        org = self.orgs[slug]
        if org.plan_covered is not None:
            return org.plan_covered
        return org.fleet(fleet_files)

    def _plan_limited(self, tables: Tables, slugs: list[str]) -> dict[str, dict[str, int]]:
        """Readings this run loaded and held back for the plan limit, per organization and compressor
        (one query for the pass)."""
        loaded = {s: self.orgs[s].loaded_at for s in slugs if self.orgs[s].loaded_at is not None}
        if not loaded:
            return {}
        rows = self.local.rows(
            f"SELECT organization, _loaded_at, compressor_id, COUNT(*) "
            f"FROM {read_parquet(tables.files('silver/quarantine'))} "
            "WHERE reason LIKE 'plan limit%' AND _loaded_at >= ? GROUP BY 1, 2, 3",
            [min(t for t in loaded.values() if t is not None)],
        )
        held: dict[str, dict[str, int]] = {}
        for organization, loaded_at, compressor, count in rows:
            if loaded.get(str(organization)) == loaded_at:
                held.setdefault(str(organization), {})[str(compressor)] = int(count)
        return held

    def _state(self, slug: str) -> OrganizationState:
        return self.following.organization(slug)

    def _pending(self, slug: str, since: str | None, readings_since: str | None = None) -> None:
        state = self._state(slug)
        pending = state.db_readings_pending_since or state.db_pending_since
        state.db_readings_pending_since = _earliest(pending, readings_since or since)
        state.db_pending_since = _earliest(state.db_pending_since, since)

    # --- the passes -------------------------------------------------------------------------------

    def _full(self, tables: Tables, slugs: list[str]) -> None:
        """Silver (unless skipped) and gold of these organizations from all of their bronze."""
        if not self.options.skip_silver:
            bronze_files = [f for s in slugs for f in self.lake.bronze_files(s)]
            if not bronze_files:
                raise LakeError(
                    "the lake has no bronze readings: run the pipeline without --skip-bronze first"
                )
            with _timed("silver", self.timings, self.notify):
                self._full_silver(tables, bronze_files)
            for slug in slugs:
                state = self._state(slug)
                state.processed_bronze = [p.name for p in self.lake.bronze_files(slug)]
                state.processed_with = self.orgs[slug].processed_with
                state.fingerprint = input_fingerprint(self.lake.bronze_files(slug))
        if self.options.skip_gold:
            for slug in slugs:
                self._state(slug).processed_with = None  # gold no longer matches silver: next run is full
            return
        with _timed("gold", self.timings, self.notify):
            spans = self._full_gold(tables)  # the pass's spans: silver does not change after
        with _timed("health", self.timings, self.notify):
            self._health(tables).full()
        for slug in slugs:
            state = self._state(slug)
            first, last = spans.get(slug, (None, None))
            state.first_reading = None if first is None else first.isoformat()
            state.last_reading = None if last is None else last.isoformat()
            state.db_pending_since = ALL

    def _spans(self, tables: Tables) -> dict[str, tuple[datetime, datetime]]:
        """Each of the pass's organizations' first and last silver reading."""
        rows = self.local.rows(
            "SELECT organization, MIN(timestamp), MAX(timestamp) "
            f"FROM {read_parquet(tables.files('silver/readings'))} "
            "WHERE organization IN (SELECT organization FROM run_organizations) GROUP BY 1"
        )
        return {str(o): (first, last) for o, first, last in rows if isinstance(first, datetime)}

    def _fleet_steps(
        self, steps: tuple[Step, ...], tables: Tables, input_name: str, files: list[Path]
    ) -> None:
        """Steps that work compressor by compressor over `files`; DuckDB takes the fleet in chunks."""
        engine = self.engine
        if isinstance(engine, DuckDBEngine):
            starts = fleet_chunks(engine, files, self.settings.pipeline_chunk_rows)
            run_steps_by_chunk(
                engine,
                steps,
                tables,
                self.version,
                len(starts) + 1,
                lambda k: engine.bind_sql(input_name, chunk_of(files, starts, k)),
            )
        else:
            engine.bind_parquet(input_name, files)
            run_steps(engine, steps, tables, self.version)

    def _full_silver(self, tables: Tables, bronze_files: list[Path]) -> None:
        self.engine.bind_sql("prior_watermarks", EMPTY_WATERMARKS)
        self._fleet_steps(SILVER_STEPS, tables, "bronze_readings", bronze_files)
        run_steps(self.engine, (QUALITY_STEP,), tables, self.version)
        tables.staged[WATERMARKS] = tables.lake.stage(WATERMARKS, self.version)
        copy_parquet(
            self.local.con,
            "SELECT organization, compressor_id, MAX(timestamp) AS newest "
            f"FROM {read_parquet(tables.files('silver/readings'))} GROUP BY 1, 2",
            tables.staged[WATERMARKS].directory,
        )
        self._set_recent_apart(tables, SILVER_STEPS)

    def _set_recent_apart(self, tables: Tables, steps: tuple[Step, ...]) -> None:
        """The recent rows of each day-partitioned table in files of their own, for the next incremental
        run. Where they start is found once per pass and set of watermark files (silver's, then gold's
        the same: two statements fewer)."""
        key = (self.passes, tuple(tables.files(WATERMARKS)))
        if key not in self._recent:
            newest = self.local.rows(f"SELECT MAX(newest) FROM {read_parquet(list(key[1]))}")[0][0]
            self._recent[key] = recent_from(self.local, newest) if isinstance(newest, datetime) else None
        recent = self._recent[key]
        if recent is None:
            return
        for step in steps:
            if step.table is not None and step.partition_by is not None:
                set_recent_apart(self.local, tables.staged[step.table], step.partition_by, recent)

    def _full_gold(self, tables: Tables, silver: str | None = None) -> dict[str, tuple[datetime, datetime]]:
        """Gold from the silver readings (all of the pass's, or those `silver` selects); returns the
        organizations' spans it used."""
        engine = self.engine
        silver_files = tables.files("silver/readings")
        if silver is None:
            # read once: as a view, every chunk's gold_hourly read all of silver's timestamps again
            spans = self._spans(tables)
        else:  # some of the organizations' compressors: the spans stay the organizations' own
            spans = {
                slug: (
                    datetime.fromisoformat(str(s.first_reading)),
                    datetime.fromisoformat(str(s.last_reading)),
                )
                for slug, s in self.following.organizations.items()
                if slug in tables.organizations and s.first_reading and s.last_reading
            }
        bind_batch_span(engine, batch_span_rows(spans))
        engine.bind_sql("violated_before", EMPTY_VIOLATIONS)
        engine.bind_sql("evaluation", EVERY_READING)
        if silver is None:
            self._fleet_steps(GOLD_STEPS, tables, "silver_readings", silver_files)
        else:
            engine.bind_sql("silver_readings", silver)
            run_steps(engine, GOLD_STEPS, tables, self.version)
        tables.staged[VIOLATED_PAIRS] = tables.lake.stage(VIOLATED_PAIRS, self.version)
        copy_parquet(
            self.local.con,
            "SELECT DISTINCT organization, compressor_id, metric "
            f"FROM {read_parquet(tables.files('gold/violations'))}",
            tables.staged[VIOLATED_PAIRS].directory,
        )
        self._set_recent_apart(tables, GOLD_STEPS)
        return spans

    def _threshold_gold(self, tables: Tables, changed: dict[str, set[str]]) -> None:
        """Gold again for the compressors whose alarm limits changed, from all of their silver, in files
        of their own. Every file holding no row of theirs is kept as it is (same file, same bytes);
        a file they share with other compressors is rewritten without their rows (the others' rows as
        they were). So the first change of a compressor's limits sets its rows apart, and every later
        one rewrites its files only."""
        rows = [
            {"organization": o, "compressor_id": c} for o, cs in sorted(changed.items()) for c in sorted(cs)
        ]
        self.local.bind_rows("recomputed_compressors", rows)
        self.notify(f"alarm limits changed: gold again for {len(rows)} compressors")
        pick = (
            f"SELECT s.* FROM {read_parquet(tables.files('silver/readings'))} AS s "
            "JOIN recomputed_compressors AS r "
            "  ON r.organization = s.organization AND r.compressor_id = s.compressor_id"
        )
        with _timed("gold", self.timings, self.notify):
            self._full_gold(tables, pick)
        with _timed("health", self.timings, self.notify):  # predictions depend on the limits
            self._health(tables).full(only="SELECT organization, compressor_id FROM recomputed_compressors")
        keep = (
            "WHERE (organization, compressor_id) NOT IN "
            "(SELECT organization, compressor_id FROM recomputed_compressors)"
        )
        from altaviz.pipeline.stages import PARTITIONED

        for table in [s.table for s in GOLD_STEPS if s.table] + [VIOLATED_PAIRS]:
            if not self.lake.has_table(table, tables.manifest):
                continue
            old = self.lake.table_files(table, tables.manifest)
            shared = self._holding_recomputed(old)
            tables.staged[table].kept.extend(f for f in old if f not in shared)
            if shared:
                copy_parquet(
                    self.local.con,
                    f"SELECT * FROM {read_parquet(sorted(shared))} {keep}",
                    tables.staged[table].directory,
                    PARTITIONED.get(table),
                    part="kept",
                    schema_if_empty=False,
                )
            tables.complete.add(table)
        for slug in changed:
            self._pending(slug, ALL)

    def _holding_recomputed(self, files: list[Path]) -> set[Path]:
        """The files holding a row of a compressor in recomputed_compressors, and the empty ones (a
        pass writes one where its compressors have no rows: kept, they would pile up)."""
        listed = parquet_list(files)
        rows = self.local.rows(
            f"SELECT DISTINCT t.filename FROM read_parquet({listed}, hive_partitioning = false, "
            "filename = true) AS t JOIN recomputed_compressors AS r "
            "ON r.organization = t.organization AND r.compressor_id = t.compressor_id "
            f"UNION SELECT file_name FROM parquet_file_metadata({listed}) WHERE num_rows = 0"
        )
        return {Path(str(name)) for (name,) in rows}

    def _incremental(self, tables: Tables, new_files: dict[str, list[Path]]) -> None:
        files = [f for slug in sorted(new_files) for f in new_files[slug]]
        overrides = [row for s in tables.organizations for row in self.orgs[s].overrides]
        run = IncrementalRun(
            self.local, self.lake, tables, files, self.version, longest_alert_count(overrides)
        )
        with _timed("silver", self.timings, self.notify):
            bounds = run.silver()
        for slug, slug_files in new_files.items():
            state = self._state(slug)
            state.processed_bronze = [p.name for p in self.lake.bronze_files(slug)]
            state.fingerprint = input_fingerprint(slug_files)
        if bounds is None:
            self.notify("gold: no new good readings, nothing to recompute")
            for slug in new_files:
                self._pending(slug, NOTHING_PENDING.isoformat())  # quarantine and quality rows to load
            return
        self.notify(
            f"incremental: {len(files)} new bronze files of {len(new_files)} organizations, "
            f"recomputing from {bounds.zone_start:%Y-%m-%d %H:%M}"
        )
        # The health stage reads silver only, not gold: it runs beside gold and the pass's summaries
        # (_Beside). Gold's time is mostly DuckDB's (the GIL released), the health stage's mostly its
        # model's Python, so on two cores the hour takes about the longer of the two.
        health = self._health(tables, self.beside.engine())
        self.beside.start(
            "health",
            lambda: health.incremental(
                "SELECT DISTINCT organization, compressor_id FROM new_classified WHERE reason IS NULL"
            ),
        )
        with _timed("gold", self.timings, self.notify):
            run.gold(bounds)
        for slug, (first, last) in run.spans.items():
            state = self._state(slug)
            state.first_reading, state.last_reading = first.isoformat(), last.isoformat()
            self._pending(slug, bounds.hourly_from.isoformat(), bounds.zone_start.isoformat())

    def _health(self, tables: Tables, local: DuckDBEngine | None = None) -> HealthStage:
        """The health stage of the pass, on the pass's engines (or `local` for both)."""
        config = HealthConfig(prediction_horizon_hours=self.settings.prediction_horizon_hours)
        fleet = self._reference_compressors(tables.manifest, self.local.con)
        stations = {
            (slug, compressor): station
            for slug in tables.organizations
            for compressor, station in self.orgs[slug].stations(fleet.get(slug, {})).items()
        }
        engine, local = (self.engine, self.local) if local is None else (local, local)
        return HealthStage(
            engine, local, tables, self.version, config, self.settings.pipeline_chunk_rows, stations
        )

    def _report(self, slugs: list[str]) -> None:
        """The report of organizations no pass touched, from the lake as it is."""
        if not slugs:
            return
        if self._opened is not None:  # bronze's
            (local, scratch), self._opened = self._opened, None
        else:
            scratch = self.lake.root / SCRATCH / f"{self.result.run_id.hex}-report"
            local = DuckDBEngine(self.settings, scratch)
        try:
            local.scope(slugs)
            manifest = self.lake.read_manifest()
            tables = Tables(self.lake, manifest, slugs)
            with_state = [s for s in slugs if manifest.organization(s).fingerprint is not None]
            if not with_state:
                return
            for slug, summary in summarize(local, tables, with_state).items():
                summary.fingerprint = manifest.organization(slug).fingerprint
                self.result.organizations[slug].summary = summary
        except LakeError as exc:
            for slug in slugs:
                self._fail(slug, exc)
        finally:
            _close(local, scratch)

    # --- database ---------------------------------------------------------------------------------

    def load_databases(self) -> None:
        """Each organization's gold into it, each in a transaction of its own."""
        from altaviz.pipeline import database

        options = self.options
        lake_stages_skipped = options.skip_bronze and options.skip_silver and options.skip_gold
        loaded: list[str] = []
        for slug, org in sorted(self.orgs.items()):
            outcome = self.result.organizations[slug]
            state = self.lake.read_manifest().organization(slug)
            pending = state.db_pending_since
            if org.target is None or outcome.summary is None:
                continue
            if pending is None and not lake_stages_skipped:
                continue  # nothing new for the database
            whole = lake_stages_skipped or pending == ALL
            since = None if whole else datetime.fromisoformat(str(pending))
            readings = state.db_readings_pending_since
            readings_since = (
                None if whole or readings in (None, ALL) else datetime.fromisoformat(str(readings))
            )
            try:
                outcome.loaded = database.load_lake(org.target, self.lake, since, readings_since)
                if outcome.summary.plan_limited:
                    database.note_plan_limit(org.target, outcome.summary.plan_limited)
            except Exception as exc:
                self._fail(slug, f"database load: {exc}")
                continue
            loaded.append(slug)
        if loaded:
            manifest = self.lake.read_manifest()
            for slug in loaded:
                manifest.organization(slug).db_pending_since = None
                manifest.organization(slug).db_readings_pending_since = None
            self.lake.write_manifest(manifest)


def _close(engine: DuckDBEngine, scratch: Path) -> None:
    """Close an engine and remove its scratch directory."""
    engine.close()
    shutil.rmtree(scratch, ignore_errors=True)


class _Beside:
    """Work of a pass run in a thread of its own while the pass goes on (the incremental health stage,
    beside gold), on an engine of its own over the pass's database. The two connections share that
    database's catalog: the views and tables each side binds must have names of their own (the health
    stage's all begin with `health_`), or one side would replace the other's mid-statement."""

    def __init__(self, local: DuckDBEngine, timings: dict[str, float], notify: Notify) -> None:
        self.local = local
        self.timings = timings
        self.notify = notify
        self.engines: list[DuckDBEngine] = []
        self.running: list[Future[None]] = []
        self.pool: ThreadPoolExecutor | None = None

    def engine(self) -> DuckDBEngine:
        """An engine on the pass's database (its tables, views and scratch directory) through a
        connection of its own, which may run statements while the pass's runs others."""
        beside = self.local.beside()
        self.engines.append(beside)
        return beside

    def start(self, stage: str, work: Callable[[], None]) -> None:
        """`work`, timed as `stage`, in the thread."""

        def timed() -> None:
            with _timed(stage, self.timings, self.notify):
                work()

        if self.pool is None:
            self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="altaviz-pass")
        self.running.append(self.pool.submit(timed))

    def finish(self) -> None:
        """Wait for the work started; its first error is raised."""
        self.wait()
        for done in self.running:
            done.result()

    def wait(self) -> None:
        """Wait for the work started (its errors are left to `finish`), then close its engines."""
        if self.pool is not None:
            self.pool.shutdown(wait=True)
            self.pool = None
        for beside in self.engines:
            beside.con.close()
        self.engines = []


def _named(kind: str, exc: BaseException) -> str:
    return str(exc) if isinstance(exc, (PipelineError, LakeError)) else f"{kind} pass: {exc}"


def _earliest(a: str | None, b: str | None) -> str | None:
    """The earlier of two 'database lacks rows from' marks (ISO times, or ALL)."""
    if a is None or b is None:
        return a or b
    if ALL in (a, b):
        return ALL
    return min(a, b, key=datetime.fromisoformat)
