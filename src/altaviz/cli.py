"""The `altaviz` command line: demo, simulate, pipeline, db, orgs."""

import atexit
import gc
import re
import shutil
import sys
from collections.abc import Callable, Iterator, MutableMapping
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from typer.core import TyperGroup
from typer.main import get_group_from_info
from typer.models import TyperInfo

from altaviz.config import Settings, get_settings
from altaviz.observability.console import terminal_console

# Command groups whose modules load only when a command line names them (or the help lists them):
# a `pipeline run` needs none of them (their modules and their commands' Click objects were about
# 15 ms of its CPU). name -> (module, its Typer app); listed after the other groups, in this order.
LAZY_GROUPS = {
    "billing": ("altaviz.billing.cli", "billing_app"),
    "workflows": ("altaviz.alerts.cli", "workflows_app"),
    "alerts": ("altaviz.alerts.cli", "alerts_app"),
    "notifications": ("altaviz.alerts.cli", "notifications_app"),
    "connect": ("altaviz.connectors.cli", "connect_app"),
}


class _Commands(MutableMapping[str, Any]):
    """A group's commands, LAZY_GROUPS' built from their apps when first looked up (as `add_typer`
    would have built them with the rest)."""

    def __init__(self, built: MutableMapping[str, Any], group: TyperGroup) -> None:
        self._built = built
        self._group = group

    def __getitem__(self, name: str) -> Any:
        if name not in self._built and name in LAZY_GROUPS:
            import importlib

            module, attribute = LAZY_GROUPS[name]
            sub_app = getattr(importlib.import_module(module), attribute)
            self._built[name] = get_group_from_info(
                TyperInfo(sub_app, name=name),
                pretty_exceptions_short=app.pretty_exceptions_short,
                rich_markup_mode=self._group.rich_markup_mode,
                suggest_commands=self._group.suggest_commands,
            )
        return self._built[name]

    def __setitem__(self, name: str, command: Any) -> None:
        self._built[name] = command

    def __delitem__(self, name: str) -> None:
        del self._built[name]

    def __iter__(self) -> Iterator[str]:
        yield from self._built
        yield from (name for name in LAZY_GROUPS if name not in self._built)

    def __len__(self) -> int:
        return len(set(self._built) | set(LAZY_GROUPS))


class _LazyGroups(TyperGroup):
    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self.commands = _Commands(self.commands, self)


app = typer.Typer(
    help="Altaviz: predictive maintenance for natural-gas compressor fleets.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # Click's plain help: flags show as flags (`--skip-db`), where Typer's Rich panels print `<bool>`
    # after them as if they took a value.
    rich_markup_mode=None,
    cls=_LazyGroups,
)
pipeline_app = typer.Typer(help="Run the Bronze → Silver → Gold pipeline.", no_args_is_help=True)
db_app = typer.Typer(help="Operational database migrations.", no_args_is_help=True)
orgs_app = typer.Typer(help="Organizations (tenants).", no_args_is_help=True)
app.add_typer(pipeline_app, name="pipeline")
app.add_typer(db_app, name="db")
app.add_typer(orgs_app, name="orgs")


# At exit the command's objects are left to the operating system: Python's finalization would walk every
# one of them in its last garbage collections (0.1 CPU s after a seed-size `pipeline run --skip-db`, 0.3
# with the database's SQLAlchemy objects). Frozen, they are still freed as the modules go, only not
# traversed; open files and connections are closed by the code that opened them, not by that collection.
atexit.register(gc.freeze)


def _loaded() -> None:
    """The command's modules are loaded: the garbage collector, off while they were (`altaviz.__main__`
    turns it off first thing), is turned on again, and what exists now (the modules' classes,
    functions, tables) is frozen out of its collections: it lives as long as the process. Loading
    with the collector on ran about 250 young and 2 full collections, each walking the modules loaded
    so far (0.1 CPU s of a seed-size `pipeline run`, with nothing to free). A no-op where the collector
    is on (the CLI called in a test or another program)."""
    if not gc.isenabled():
        gc.freeze()
        gc.enable()


# Piped into a file or a CI log, lines are as long as they need to be (Rich would wrap at 80).
out = terminal_console()
err = terminal_console(stderr=True)


def _error(message: object) -> None:
    """One `error:` line: the message is never read as Rich markup and never wrapped."""
    err.print(f"[bold red]error:[/] {escape(_one_line(message))}", soft_wrap=True, highlight=False)


# Settings whose value an error line never repeats.
SECRET_NAMES = re.compile("SECRET|KEY|PASSWORD|TOKEN|URL|URI")
FAILING_SHOWN = 12  # `simulate` names this many failing compressors, then counts the rest


def _one_line(message: object) -> str:
    from pydantic import ValidationError

    if isinstance(message, ValidationError):  # settings read from the environment
        problems = []
        for e in message.errors(include_url=False):
            name = ".".join(str(part) for part in e["loc"]).upper() or "settings"
            shown = isinstance(e.get("input"), str | int | float) and not SECRET_NAMES.search(name)
            problems.append(f"{name}: {e['msg']}" + (f" (got {e['input']!r})" if shown else ""))
        return "invalid setting " + "; ".join(problems)
    return " ".join(str(message).split("\n"))


@app.callback()
def _check_settings(context: typer.Context) -> None:
    """Settings come from the environment: a bad one is one line before any command starts."""
    from pydantic import ValidationError

    if context.invoked_subcommand != "pipeline":
        _loaded()  # `pipeline run` loads the run's modules first (the pipeline group's callback)
    if context.invoked_subcommand == "check-config" or context.resilient_parsing:
        return  # check-config reports every setting itself
    try:
        get_settings()
    except ValidationError as exc:
        _error(exc)
        raise typer.Exit(1) from None


# Errors an operator can act on: print the message, exit 1, no traceback.
def _user_errors() -> tuple[type[Exception], ...]:
    from altaviz.accounts.authsecret import AuthSecretError
    from altaviz.accounts.service import OrganizationNotFound
    from altaviz.ops.ports import PortUnavailable
    from altaviz.pipeline.database import DatabaseUnavailable
    from altaviz.pipeline.engine import SparkNotInstalled, TransformError
    from altaviz.pipeline.lake import LakeError
    from altaviz.pipeline.landing import LandingError
    from altaviz.pipeline.run import PipelineError
    from altaviz.server import ServiceNotReady

    return (
        AuthSecretError,
        PortUnavailable,
        ServiceNotReady,
        PipelineError,
        LandingError,
        LakeError,
        OrganizationNotFound,
        DatabaseUnavailable,
        SparkNotInstalled,
        TransformError,
        ValueError,
    )


def _fail_cleanly(action: Callable[[], Any]) -> Any:
    try:
        return action()
    except _user_errors() as exc:
        _error(exc)
        raise typer.Exit(1) from None
    except _database_errors() as exc:  # a migration refused, a database out of reach
        from altaviz.db.migrate import problem

        _error(problem(get_settings().sqlalchemy_url, exc))
        raise typer.Exit(1) from None


def _database_errors() -> tuple[type[Exception], ...]:
    """Alembic's and SQLAlchemy's errors, of those loaded: a command that never touched a database
    (a pipeline run with --skip-db) neither loads them nor can raise them."""
    loaded = (("alembic.util.exc", "CommandError"), ("sqlalchemy.exc", "SQLAlchemyError"))
    return tuple(getattr(sys.modules[m], name) for m, name in loaded if m in sys.modules)


def _parse_start(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        start = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not an ISO time such as 2026-01-01T00:00:00Z") from None
    if start.tzinfo is None:
        raise typer.BadParameter(f"{value!r} has no timezone; add Z or +00:00")
    return start


@app.command()
def simulate(
    compressors: Annotated[int, typer.Option(min=1, help="Number of compressors.")] = 10,
    days: Annotated[float, typer.Option(min=0.01, help="Days of readings.")] = 7,
    interval_minutes: Annotated[int, typer.Option(min=1, max=1440, help="Minutes between readings.")] = 10,
    start: Annotated[
        str | None, typer.Option(help="First reading, ISO time with zone; default now − days.")
    ] = None,
    seed: Annotated[int, typer.Option(min=0, help="Random seed; same seed, same data.")] = 42,
    fault: Annotated[
        list[str] | None,
        typer.Option(
            help="Inject a fault (repeatable): gaps, stuck, duplicates, nulls, out_of_range, late, "
            "future, or all."
        ),
    ] = None,
    stream: Annotated[
        bool, typer.Option("--stream", help="After the history, keep writing one file per reading slot.")
    ] = False,
    speedup: Annotated[float, typer.Option(min=0.001, help="Stream: how much faster than real time.")] = 1.0,
    replay_days: Annotated[
        float, typer.Option(min=0, help="Stream: hold back the last N days of history and stream them.")
    ] = 0.0,
    ticks: Annotated[
        int | None, typer.Option(min=1, help="Stream: stop after N slots (default: never).")
    ] = None,
    organization: Annotated[
        str | None,
        typer.Option(help="Land into this organization's landing zone (default $ALTAVIZ_ORGANIZATION)."),
    ] = None,
    scenario: Annotated[
        str,
        typer.Option(
            help="default: the demo fleet (SPEC §1); realistic: load changes, weather, stops, "
            "recalibrations and failures of five modes drawn per seed, with the truth in "
            "$ALTAVIZ_DATA_DIR/truth/failures.parquet (SPEC §9)."
        ),
    ] = "default",
) -> None:
    """Write a synthetic fleet as Parquet landing files under $ALTAVIZ_DATA_DIR/landing/<organization>.

    With --stream it goes on writing readings as they happen (Ctrl-C stops it); --replay-days with
    --speedup replays the recent past quickly first, so a demo can watch failures develop.
    """
    from altaviz.simulator import FAULT_KINDS

    faults = set(fault or [])
    if "all" in faults:
        faults = set(FAULT_KINDS)
    unknown = faults - set(FAULT_KINDS)
    if unknown:
        raise typer.BadParameter(
            f"unknown fault {', '.join(sorted(unknown))}; choose from {', '.join(FAULT_KINDS)}",
            param_hint="--fault",
        )
    if scenario not in ("default", "realistic"):
        raise typer.BadParameter(
            f"unknown scenario {scenario!r}; choose default or realistic", param_hint="--scenario"
        )
    if stream:
        if faults or start:
            raise typer.BadParameter("a stream writes clean data ending now: drop --fault and --start")
        if scenario != "default":
            raise typer.BadParameter("--stream writes the default scenario only: drop --scenario")
        _fail_cleanly(
            lambda: _stream(
                get_settings(),
                compressors,
                days,
                interval_minutes,
                seed,
                speedup,
                replay_days,
                ticks,
                organization,
            )
        )
        return
    _fail_cleanly(
        lambda: _simulate(
            get_settings(),
            compressors,
            days,
            interval_minutes,
            _parse_start(start),
            seed,
            frozenset(faults),
            organization,
            scenario,
        )
    )


def _organization_landing(settings: Settings, organization: str | None) -> Path:
    """An organization's landing zone: landing/<slug>/ (the pipeline reads readings/, fleet/, ...)."""
    slug = organization or settings.default_organization
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", slug):
        raise typer.BadParameter(f"{slug!r} is not an organization slug (lowercase letters, digits, -)")
    return settings.landing_dir / slug


def _stream(
    settings: Settings,
    compressors: int,
    days: float,
    interval_minutes: int,
    seed: int,
    speedup: float,
    replay_days: float,
    ticks: int | None,
    organization: str | None = None,
) -> None:
    from altaviz.simulator import SimulationConfig
    from altaviz.simulator import stream as run_stream

    landing = _organization_landing(settings, organization)

    config = SimulationConfig(
        compressors=compressors, days=days, interval_minutes=interval_minutes, seed=seed
    )
    err.print(f"streaming {compressors:,} compressors into {landing}/readings (Ctrl-C stops)")
    try:
        run_stream(
            config,
            landing,
            speedup=speedup,
            replay_days=replay_days,
            ticks=ticks,
            on_slot=lambda at, rows: out.print(f"{at:%Y-%m-%d %H:%M} UTC: {rows:,} readings"),
        )
    except KeyboardInterrupt:
        err.print("stream stopped")


def _simulate(
    settings: Settings,
    compressors: int,
    days: float,
    interval_minutes: int,
    start: datetime | None,
    seed: int,
    faults: frozenset[str],
    organization: str | None = None,
    scenario: str = "default",
) -> None:
    from rich.progress import Progress

    from altaviz.simulator import SimulationConfig
    from altaviz.simulator import simulate as run_simulation

    config = SimulationConfig(
        compressors=compressors,
        days=days,
        interval_minutes=interval_minutes,
        start=start,
        seed=seed,
        faults=faults,
        scenario=scenario,
    )
    with Progress(console=err, transient=True) as progress:
        task = progress.add_task("simulating", total=None)
        landing = _organization_landing(settings, organization)
        result = run_simulation(
            config,
            landing,
            progress=lambda done, total: progress.update(task, completed=done, total=total),
            truth_dir=settings.data_dir / "truth",
        )
    shown = [f"{c} from day {d:g}" for c, d in sorted(result.failing.items())[:FAILING_SHOWN]]
    more = len(result.failing) - len(shown)
    failing = ", ".join(shown) + (f" and {more:,} more ({len(result.failing):,} in all)" if more > 0 else "")
    out.print(
        f"{result.readings_rows:,} readings from {compressors:,} compressors, "
        f"{result.start:%Y-%m-%d %H:%M} → "
        f"{result.end:%Y-%m-%d %H:%M} UTC, in {sum(f.parent.name == 'readings' for f in result.files)} "
        f"files under {landing}/readings"
    )
    if result.truth is not None:
        out.print(
            f"failures: {result.truth.num_rows} (truth in {result.truth_file}, never read by the pipeline)"
        )
    else:
        out.print(f"failing: {failing or 'none'}")
    injected = {k: v for k, v in sorted(result.fault_counts.items()) if v}
    if injected:
        out.print("faults: " + ", ".join(f"{k} {v:,}" for k, v in injected.items()))


@pipeline_app.callback()
def _pipeline(context: typer.Context) -> None:
    if context.invoked_subcommand != "run":
        _loaded()  # `pipeline run` turns the collector on once its modules are loaded


@pipeline_app.command("run")
def pipeline_run(
    skip_bronze: Annotated[
        bool, typer.Option("--skip-bronze", help="Reuse the bronze layer in the lake.")
    ] = False,
    skip_silver: Annotated[
        bool, typer.Option("--skip-silver", help="Reuse the silver layer in the lake.")
    ] = False,
    skip_gold: Annotated[bool, typer.Option("--skip-gold", help="Reuse the gold layer in the lake.")] = False,
    skip_db: Annotated[bool, typer.Option("--skip-db", help="Stop before the operational database.")] = False,
    organization: Annotated[
        str | None,
        typer.Option(
            help="Process this organization only (its slug); default: every organization with a "
            "landing zone under $ALTAVIZ_DATA_DIR/landing/<organization>/."
        ),
    ] = None,
    engine: Annotated[str, typer.Option(help="duckdb (embedded, default) or spark.")] = "duckdb",
    spark_master: Annotated[
        str | None, typer.Option(help="Spark master for --engine spark (default $SPARK_MASTER, local[*]).")
    ] = None,
    full: Annotated[
        bool,
        typer.Option(
            "--full", help="Recompute silver and gold from all of bronze, even where only new files changed."
        ),
    ] = False,
) -> None:
    """Landing → bronze → silver → gold → operational database, with a run report.

    Silver and gold are incremental on DuckDB: only new bronze files, plus the look-back their windows
    need, are processed (a change of parameters or fleet metadata recomputes everything).
    """
    from altaviz.pipeline.engine import ENGINES
    from altaviz.pipeline.run import PipelineOptions

    if not skip_db:
        import altaviz.pipeline.database  # noqa: F401 (the run opens it first)
    _loaded()
    if engine not in ENGINES:
        raise typer.BadParameter(f"choose one of {', '.join(ENGINES)}", param_hint="--engine")
    options = PipelineOptions(
        skip_bronze, skip_silver, skip_gold, skip_db, organization, engine, spark_master, full
    )
    _fail_cleanly(lambda: _run_pipeline(get_settings(), options))


def _run_pipeline(settings: Settings, options: Any) -> Any:
    from altaviz.pipeline.run import PipelineError, run_pipeline

    try:
        with _status("pipeline running") as update:
            result = run_pipeline(settings, options, notify=update)
    except PipelineError as exc:
        if exc.result is not None and len(exc.result.organizations) > 1:
            _print_run(exc.result)  # the organizations that succeeded, then the error naming the others
        raise
    _print_run(result)
    _warn_about_intervals(settings)
    return result


@contextmanager
def _status(message: str) -> Iterator[Callable[[str], None]]:
    """A spinner showing the run's progress, on a terminal only: piped (a log, cron, CI) Rich shows a
    transient status not at all, so none is started there, nor its refresh thread, and Rich's live
    display, spinner and table modules stay unloaded (16 ms of a seed-size run's imports)."""
    if not err.is_terminal:
        yield lambda _message: None
        return
    with err.status(message) as status:
        yield status.update


def _warn_about_intervals(settings: Settings) -> None:
    """Say so when compressors report at another interval than PIPELINE_INTERVAL_MINUTES (completeness
    and missing readings are counted against the setting). A warning never fails the run."""
    from altaviz.pipeline.intervals import interval_warning, reporting_intervals
    from altaviz.pipeline.lake import Lake

    try:
        intervals = reporting_intervals(Lake(settings.lake_dir))
        warning = interval_warning(intervals, settings.reading_interval_minutes)
    except Exception as exc:  # a failed check is itself only worth a line
        warning = f"warning: could not compare the reporting interval with PIPELINE_INTERVAL_MINUTES: {exc}"
    if warning:
        err.print(f"[bold yellow]{escape(warning)}[/]", soft_wrap=True, highlight=False)


def _print_run(result: Any) -> None:
    """The run's report, per organization when it visited several."""
    for stage, seconds in result.stage_seconds.items():
        err.print(f"[dim]{stage}: {seconds:.2f} s[/]")
    several = len(result.organizations) > 1
    for slug, outcome in sorted(result.organizations.items()):
        prefix = f"{slug}: " if several else ""
        for aside in outcome.set_aside:
            err.print(f"[bold yellow]{escape(prefix + aside)}[/]", soft_wrap=True, highlight=False)
        if outcome.error is not None:
            if several:
                out.print(f"{prefix}FAILED: {outcome.error}", markup=False)
        elif outcome.nothing_new:
            held = f"; the lake holds {outcome.summary.text()}" if outcome.summary is not None else ""
            out.print(f"{prefix}nothing new{held}", markup=False)
        elif outcome.summary is not None:
            out.print(f"{prefix}{outcome.summary.text()}", markup=False)


@pipeline_app.command("watch")
def pipeline_watch(
    skip_db: Annotated[
        bool,
        typer.Option("--skip-db", help="Lake only: no database load (and no lease: one watcher per lake)."),
    ] = False,
    ticks: Annotated[int | None, typer.Option(min=1, help="Stop after N looks (default: never).")] = None,
) -> None:
    """Run incremental passes whenever data is waiting, at most every $PIPELINE_WATCH_SECONDS.

    One watcher at a time (a lease in the database); a failing organization or a database outage is
    logged and retried, never the end of the watcher. Serves /metrics (per-organization lag) on
    $PIPELINE_WATCH_METRICS_PORT. SIGTERM or Ctrl-C stops it between passes.
    """
    import signal

    from altaviz.observability.logging import configure_logging
    from altaviz.pipeline.watch import Watcher, serve_metrics

    settings = get_settings()
    configure_logging(settings)
    watcher = Watcher(settings, skip_db=skip_db)
    signal.signal(signal.SIGTERM, lambda *_: watcher.stop())
    _fail_cleanly(lambda: serve_metrics(settings))
    try:
        watcher.run(ticks)
    except KeyboardInterrupt:
        watcher.close()
        err.print("watch stopped")


@pipeline_app.command("sql")
def pipeline_sql(
    step: Annotated[
        str | None, typer.Argument(help="One transform (e.g. gold_readings); default all.")
    ] = None,
    dialect: Annotated[str, typer.Option(help="duckdb (as written) or spark (as Spark runs it).")] = "duckdb",
) -> None:
    """Print the SQL of the transforms, in DuckDB's dialect or as transpiled for Spark."""
    from altaviz.pipeline.engine import ENGINES, load_sql, spark_sql
    from altaviz.pipeline.stages import GOLD_STEPS, SILVER_STEPS

    # every SQL file a run executes: each step's, and the views the per-compressor steps read
    steps = [
        name
        for s in (*SILVER_STEPS, *GOLD_STEPS)
        for name in ([s.source] if s.source_view and s.source else [] if s.per_compressor else [s.name])
    ]
    if step is not None and step not in steps:
        raise typer.BadParameter(f"unknown transform; choose from {', '.join(steps)}", param_hint="STEP")
    if dialect not in ENGINES:
        raise typer.BadParameter(f"choose one of {', '.join(ENGINES)}", param_hint="--dialect")
    for name in [step] if step else steps:
        sql = load_sql(name)
        out.print(f"-- {name}.sql ({dialect})", markup=False, highlight=False)
        out.print(
            spark_sql(sql) if dialect == "spark" else sql, markup=False, highlight=False, soft_wrap=True
        )


@pipeline_app.command("features")
def pipeline_features(
    output: Annotated[Path, typer.Argument(help="The Parquet file to write.")],
    organization: Annotated[
        str | None, typer.Option(help="The organization's slug (default $ALTAVIZ_ORGANIZATION).")
    ] = None,
    compressor: Annotated[
        list[str] | None,
        typer.Option("--compressor", help="A compressor id; repeat for several; default all."),
    ] = None,
    since: Annotated[datetime | None, typer.Option(help="First reading's time (UTC unless zoned).")] = None,
    until: Annotated[datetime | None, typer.Option(help="Last reading's time (UTC unless zoned).")] = None,
) -> None:
    """Write every per-reading feature of gold (rolling windows, rate, time features) from the lake's
    silver readings: those the lake does not store, derived as the pipeline derives them."""
    import pyarrow.parquet as pq

    from altaviz.pipeline.features import reading_features
    from altaviz.pipeline.lake import Lake, LakeError

    settings = get_settings()
    try:
        table = reading_features(
            Lake(settings.lake_dir),
            organization or settings.default_organization,
            compressor or (),
            _utc(since),
            _utc(until),
        )
    except LakeError as exc:
        err.print(f"[red]{escape(str(exc))}[/red]")
        raise typer.Exit(1) from None
    output.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, output, compression="zstd")
    out.print(f"{table.num_rows:,} readings with their features written to {output}")


def _utc(moment: datetime | None) -> datetime | None:
    from datetime import UTC

    return None if moment is None or moment.tzinfo else moment.replace(tzinfo=UTC)


@app.command()
def demo(
    keep: Annotated[
        bool, typer.Option("--keep", help="Keep existing data instead of starting fresh.")
    ] = False,
    seed: Annotated[int, typer.Option(min=0)] = 42,
    serve_after: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Start the web service once the data is loaded.")
    ] = True,
    host: Annotated[str | None, typer.Option(help="Address to listen on (default $ALTAVIZ_HOST).")] = None,
    port: Annotated[int | None, typer.Option(min=1, max=65535, help="Port (default $ALTAVIZ_PORT).")] = None,
) -> None:
    """Simulate the default fleet, run the pipeline into the embedded database, show what was loaded,
    create the demo login and serve the API."""
    from altaviz.ops.ports import check_port
    from altaviz.pipeline.run import PipelineOptions

    settings = get_settings()
    host, port = host or settings.server_host, port or settings.server_port
    if serve_after:  # a port in use is said before the simulation and the pipeline, not after them
        _fail_cleanly(lambda: check_port(host, port))
    if not keep:
        _reset_demo_data(settings)
    _fail_cleanly(lambda: _simulate(settings, 10, 7, 10, None, seed, frozenset()))
    _fail_cleanly(lambda: _run_pipeline(settings, PipelineOptions()))
    _fail_cleanly(lambda: _print_loaded(settings, settings.default_organization))
    _fail_cleanly(lambda: _demo_login(settings, host, port))
    if serve_after:
        _fail_cleanly(lambda: _serve(settings, host, port, 1))


def _demo_login(settings: Settings, host: str, port: int) -> None:
    from altaviz.accounts.authsecret import SECRET_FILE_NAME, resolve_auth_secret
    from altaviz.accounts.service import ensure_demo_owner, get_organization_by_slug
    from altaviz.db.session import create_db_engine, session_scope

    resolve_auth_secret(settings)  # generated once and kept in the data directory (development)
    engine = create_db_engine(settings.sqlalchemy_url, settings)
    try:
        with session_scope(engine) as session:
            org = get_organization_by_slug(session, settings.default_organization)
            user, password = ensure_demo_owner(session, org)
            email = user.email
    finally:
        engine.dispose()
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104 — comparing, not binding
    out.print(f"\n[bold]Altaviz is at http://{shown}:{port}/[/]  (API docs: http://{shown}:{port}/api/docs)")
    out.print(f"demo login: [bold]{email}[/] / [bold]{password}[/]  (owner of '{org.slug}'; shown only now)")
    if settings.auth_secret is None:
        kept = settings.data_dir / SECRET_FILE_NAME
        out.print(f"[dim]sessions are signed with the AUTH_SECRET kept in {kept}[/]")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on (default $ALTAVIZ_HOST).")] = None,
    port: Annotated[int | None, typer.Option(min=1, max=65535, help="Port (default $ALTAVIZ_PORT).")] = None,
    workers: Annotated[
        int | None, typer.Option(min=1, max=64, help="Worker processes (default $WEB_CONCURRENCY or 1).")
    ] = None,
) -> None:
    """Run the web service (Uvicorn). Stops gracefully on SIGTERM: in-flight requests finish."""
    settings = get_settings()
    host, port = host or settings.server_host, port or settings.server_port
    _fail_cleanly(lambda: _serve(settings, host, port, workers or settings.server_workers))


def _serve(settings: Settings, host: str, port: int, workers: int) -> None:
    import uvicorn

    from altaviz.ops.ports import check_port
    from altaviz.server import prepare_to_serve

    check_port(host, port)
    prepare_to_serve(settings)
    uvicorn.run(
        "altaviz.server:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        # The app applies TRUSTED_PROXIES itself; Uvicorn's own default would trust 127.0.0.1.
        proxy_headers=False,
        server_header=False,
        # Requests Uvicorn cannot parse (an address over ~64 KB) answered in the API's JSON error format.
        http="altaviz.api.http_protocol:JsonErrorHttpProtocol",
        timeout_graceful_shutdown=int(settings.shutdown_grace_seconds),
        log_level=settings.log_level.lower(),
        # Every request is logged once, by altaviz.access (route template, status, duration, request id).
        access_log=False,
    )


def _reset_demo_data(settings: Settings) -> None:
    for folder in (settings.landing_dir, settings.lake_dir):
        shutil.rmtree(folder, ignore_errors=True)
    if settings.database_url is None:  # only ever delete the embedded database we created ourselves
        for suffix in ("", "-wal", "-shm"):
            Path(f"{settings.data_dir / 'altaviz.db'}{suffix}").unlink(missing_ok=True)


def _print_loaded(settings: Settings, slug: str) -> None:
    from rich.table import Table  # here only: `pipeline run` prints no table
    from sqlalchemy import make_url

    from altaviz.db.session import create_db_engine, session_scope
    from altaviz.monitoring.inventory import loaded_counts, open_alerts

    engine = create_db_engine(settings.sqlalchemy_url, settings)
    try:
        with session_scope(engine) as session:
            counts = loaded_counts(session, slug)
            alerts = open_alerts(session, slug)
    finally:
        engine.dispose()
    where = make_url(settings.sqlalchemy_url).render_as_string(hide_password=True)
    table = Table(title=f"Loaded for organization '{slug}' into {where}")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, count in counts.items():
        table.add_row(name, f"{count:,}")
    out.print(table)
    listing = Table(title="Alerts not yet resolved")
    for column in ("compressor", "condition", "severity", "since", "state", "message"):
        listing.add_column(column)
    for alert in alerts:
        listing.add_row(
            alert.compressor_id,
            alert.condition,
            alert.severity,
            f"{alert.alert_timestamp:%Y-%m-%d %H:%M}",
            "active" if alert.is_active else "returned to normal",
            alert.message or "",
        )
    out.print(listing)


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Migrate the database up to REVISION (default: the latest)."""
    from altaviz.db.migrate import current, upgrade

    url = get_settings().sqlalchemy_url
    _fail_cleanly(lambda: upgrade(url, revision))
    out.print(f"database at revision {_fail_cleanly(lambda: current(url))}")


@db_app.command("downgrade")
def db_downgrade(
    revision: Annotated[
        str, typer.Argument(help="Target revision, e.g. 0003 or base (a relative one after --: -- -1).")
    ],
) -> None:
    """Roll the database schema back to REVISION."""
    from altaviz.db.migrate import current, downgrade

    url = get_settings().sqlalchemy_url
    _fail_cleanly(lambda: downgrade(url, revision))
    out.print(f"database at revision {_fail_cleanly(lambda: current(url)) or 'base (empty)'}")


@db_app.command("current")
def db_current() -> None:
    """Print the database's migration revision."""
    from altaviz.db.migrate import current

    url = get_settings().sqlalchemy_url
    out.print(_fail_cleanly(lambda: current(url)) or "base (not migrated)")


@app.command("check-config")
def check_config() -> None:
    """Check this environment's settings for production: a line per setting; exit 1 on a problem with a
    required setting, 0 when only optional ones (SMTP, public URL, workflow key) are missing (warnings)."""
    from altaviz.ops.config_check import check

    found = check()
    for finding in found:
        mark = (
            "[green]ok[/]     "
            if finding.ok
            else "[yellow]warning[/]"
            if finding.warns
            else "[red]problem[/]"
        )
        out.print(f"{mark} {finding.setting}" + ("" if finding.ok else f" {finding.problem}"), soft_wrap=True)
    problems = sum(f.fails for f in found)
    warnings = sum(f.warns for f in found)
    optional = (
        f"; {warnings} optional setting{'s' if warnings != 1 else ''} not set (warnings)" if warnings else ""
    )
    out.print(
        f"{problems} problem{'s' if problems != 1 else ''}{optional}"
        if problems
        else f"all required production settings ok{optional}"
    )
    raise typer.Exit(1 if problems else 0)


@app.command()
def smoke(
    url: Annotated[str, typer.Argument(help="The deployment's address, e.g. https://ops.example.com.")],
    timeout: Annotated[float, typer.Option(min=0.1, help="Seconds to wait for each answer.")] = 10.0,
) -> None:
    """Post-deploy checks: health is healthy, /api/fleet is 401 without credentials, 429 after 60 calls."""
    from altaviz.ops.smoke import run_smoke

    if not url.startswith(("http://", "https://")):
        err.print(f"[bold red]error:[/] {url!r} is not an http:// or https:// address")
        raise typer.Exit(2)
    results = run_smoke(url, timeout=timeout)
    for result in results:
        mark = "[green]PASS[/]" if result.passed else "[bold red]FAIL[/]"
        out.print(f"{mark} {result.name}: {result.detail}", highlight=False, soft_wrap=True)
    failed = [result.name for result in results if not result.passed]
    if failed:
        err.print(f"[bold red]smoke failed:[/] {', '.join(failed)}")
        raise typer.Exit(1)
    out.print(f"all {len(results)} checks passed against {url}")


@orgs_app.command("create")
def orgs_create(
    name: Annotated[str, typer.Argument(help="Display name, e.g. 'Permian Midstream'.")],
    slug: Annotated[str | None, typer.Option(help="URL name; default derived from the name.")] = None,
    tier: Annotated[str, typer.Option(help="free, pro or enterprise.")] = "free",
) -> None:
    """Create an organization the pipeline can load into."""
    from altaviz.accounts.service import create_organization
    from altaviz.db.migrate import ensure_schema
    from altaviz.db.session import create_db_engine, session_scope

    if tier not in ("free", "pro", "enterprise"):
        raise typer.BadParameter("tier must be free, pro or enterprise", param_hint="--tier")
    settings = get_settings()
    ensure_schema(settings.sqlalchemy_url)
    engine = create_db_engine(settings.sqlalchemy_url, settings)
    try:
        with session_scope(engine) as session:
            org = _fail_cleanly(lambda: create_organization(session, name, slug, tier=tier))
            out.print(f"created organization {org.slug} ({org.id})")
    finally:
        engine.dispose()


@app.command()
def ingest(
    file: Annotated[
        Path, typer.Argument(help="Readings: .csv, .json, .ndjson/.jsonl or .parquet (optionally .gz).")
    ],
    organization: Annotated[str, typer.Option(help="Slug of the organization the readings belong to.")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Judge the rows, store nothing.")] = False,
) -> None:
    """Readings from a file into an organization's landing zone, with the API's row checks.

    The same rules as POST /api/ingest/readings (columns, registered compressors, time window,
    physical limits, duplicates) without its per-request limits: for files too big to upload.
    Refused rows are kept in landing/<org>/refused/ with their reason. Exit code 1 when no row was stored.
    """
    from altaviz.db.migrate import ensure_schema
    from altaviz.db.session import create_db_engine, session_factory
    from altaviz.ingest import service
    from altaviz.ingest.formats import IngestError
    from altaviz.ingest.rules import FORMAT_CONTENT_TYPE

    suffixes = [s.lower().lstrip(".") for s in file.suffixes] or [""]
    compressed = suffixes[-1] == "gz"
    kind = suffixes[-2] if compressed and len(suffixes) > 1 else suffixes[-1]
    fmt = {"jsonl": "ndjson", "pq": "parquet"}.get(kind, kind)
    if fmt not in FORMAT_CONTENT_TYPE:
        raise typer.BadParameter("name a .csv, .json, .ndjson, .jsonl or .parquet file (optionally .gz)")
    if not file.is_file():
        _error(f"{file} is not a file")
        raise typer.Exit(1)
    settings = get_settings()
    ensure_schema(settings.sqlalchemy_url)
    engine = create_db_engine(settings.sqlalchemy_url, settings)
    try:
        with session_factory(engine)() as db:
            try:
                tenant = service.tenant_for_slug(db, organization)
                request = service.Request(
                    body=file.read_bytes(),
                    content_type=FORMAT_CONTENT_TYPE[fmt],
                    content_encoding="gzip" if compressed else None,
                    dry_run=dry_run,
                    source=f"cli:{file.name}",
                    max_rows=None,
                )
                answer = service.ingest(db, tenant, settings.landing_dir, request)
            except (IngestError, service.UnknownOrganization) as error:
                _error(error)
                raise typer.Exit(1) from None
    finally:
        engine.dispose()
    body = answer.body
    verb = "would store" if dry_run else "stored"
    kept = (
        "" if dry_run or not body["refused"] else f" (kept in {settings.landing_dir}/{organization}/refused)"
    )
    out.print(
        f"{body['rows']:,} readings: {verb} {body['accepted']:,}, refused {body['refused']:,}{kept}",
        highlight=False,
        soft_wrap=True,
    )
    for row in body["refused_rows"][:20]:
        out.print(f"  row {row['row']}: {escape(row['reason'])}", highlight=False, soft_wrap=True)
    if body["refused"] > 20:
        out.print(f"  … and {body['refused'] - 20:,} more", highlight=False)
    if body["accepted"] == 0:
        raise typer.Exit(1)


@app.command()
def gateway(
    url: Annotated[str, typer.Argument(help="The service's address, e.g. https://ops.example.com.")],
    api_key: Annotated[str, typer.Option(help="An ingest key (or admin key) of the organization.")],
    compressors: Annotated[int, typer.Option(min=1, help="Number of compressors (registered ones).")] = 10,
    days: Annotated[float, typer.Option(min=0.01, help="Days of history to send first.")] = 1.0,
    interval_minutes: Annotated[int, typer.Option(min=1, max=1440, help="Minutes between readings.")] = 10,
    seed: Annotated[int, typer.Option(min=0, help="Random seed; same seed, same data.")] = 42,
    batch_rows: Annotated[int, typer.Option(min=1, max=100_000, help="Readings per request.")] = 10_000,
    format: Annotated[str, typer.Option(help="ndjson, json, csv or parquet.")] = "ndjson",
    gzip: Annotated[bool, typer.Option("--gzip/--no-gzip", help="Compress text bodies.")] = True,
    state: Annotated[Path, typer.Option(help="Where the gateway remembers what it sent (resume).")] = Path(
        "altaviz-gateway.json"
    ),
    follow: Annotated[
        bool, typer.Option("--follow", help="After the history, send each new reading slot as it happens.")
    ] = False,
    ticks: Annotated[int | None, typer.Option(min=1, help="Follow: stop after N slots.")] = None,
    speedup: Annotated[float, typer.Option(min=0.001, help="Follow: how much faster than real time.")] = 1.0,
    max_attempts: Annotated[int, typer.Option(min=1, help="Attempts per batch before giving up.")] = 10,
    register: Annotated[
        bool, typer.Option("--register", help="First register the simulated fleet (needs an admin key).")
    ] = False,
) -> None:
    """Send a simulated fleet through POST /api/ingest/readings as a field gateway would.

    Batches, gzip, an Idempotency-Key per batch, retries with back-off on 429 and 5xx (honouring
    Retry-After); stopped and run again with the same --state, it resumes where it stopped and
    stores nothing twice. The compressors (COMP-001, ...) must be registered in the organization.
    """
    from altaviz.simulator.gateway import FORMATS, Gateway, GatewayConfig, GatewayError, Sent

    if format not in FORMATS:
        raise typer.BadParameter(f"choose one of {', '.join(FORMATS)}", param_hint="--format")
    if not url.startswith(("http://", "https://")):
        raise typer.BadParameter(f"{url!r} is not an http:// or https:// address", param_hint="URL")

    def report(sent: Sent) -> None:
        note = " (answered from the idempotency record)" if sent.replayed else ""
        tries = f" after {sent.attempts} attempts" if sent.attempts > 1 else ""
        refused = f", refused {sent.refused:,} (first: {sent.first_reason})" if sent.refused else ""
        out.print(
            f"{sent.label}: {sent.rows:,} readings, accepted {sent.accepted:,}{refused}{tries}{note}",
            highlight=False,
            soft_wrap=True,
        )

    config = GatewayConfig(
        url=url,
        compressors=compressors,
        days=days,
        interval_minutes=interval_minutes,
        seed=seed,
        batch_rows=batch_rows,
        format=format,
        gzip=gzip,
    )
    try:
        sender = Gateway(config, api_key, state, max_attempts=max_attempts, report=report)
        if register:
            result = sender.register()
            out.print(
                f"fleet registered: {result.get('accepted', 0):,} rows accepted, "
                f"{result.get('refused', 0):,} refused (compressors: {result.get('compressors')})",
                highlight=False,
                soft_wrap=True,
            )
        sent = sender.run_history()
        out.print(
            f"history sent ({sent} batches now; {sender.state.accepted:,} accepted, "
            f"{sender.state.refused:,} refused in all); state in {state}",
            highlight=False,
            soft_wrap=True,
        )
        if follow:
            sender.follow(ticks=ticks, speedup=speedup)
    except GatewayError as error:
        _error(error)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        err.print(f"gateway stopped; run the same command again to resume (state in {state})")
