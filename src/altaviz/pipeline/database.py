"""The pipeline's side of the operational database: the organizations a run loads into, what their
registries say (compressors, plan, alarm limits) and the run log."""

import uuid
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
from sqlalchemy import Engine, make_url, select, update
from sqlalchemy.exc import SQLAlchemyError

from altaviz.accounts import data_version
from altaviz.accounts.scoping import OrgScope, scoped
from altaviz.accounts.service import OrganizationNotFound, ensure_demo_organization, get_organization_by_slug
from altaviz.billing.limits import allowed_compressors, record_plan_limit_quarantine
from altaviz.config import Settings
from altaviz.db.migrate import ensure_schema
from altaviz.db.session import SQLITE_BEGIN_IMMEDIATE, create_db_engine, session_scope
from altaviz.monitoring.models import CompressorMetadata, PipelineRun
from altaviz.pipeline.dashboard_state import load_dashboard_state, read_recent
from altaviz.pipeline.export import (
    FLEET_TABLES,
    LoadCounts,
    applied_fleet_files,
    load,
    new_fleet_files,
    read_gold,
)
from altaviz.pipeline.health_load import load_health, read_health
from altaviz.pipeline.lake import Lake
from altaviz.pipeline.report import RunSummary

__all__ = [
    "DatabaseUnavailable",
    "LoadCounts",
    "Target",
    "fail_run",
    "finish_run",
    "load_lake",
    "open_target",
    "start_run",
]


@dataclass(frozen=True)
class Target:
    engine: Engine
    organization_id: uuid.UUID
    organization_slug: str


class DatabaseUnavailable(RuntimeError):
    """The operational database cannot be reached or migrated."""


def open_target(settings: Settings, slug: str) -> Target:
    """Migrate the database if needed and find the organization, before any heavy work starts."""
    return find_target(open_database(settings), settings, slug)


def open_database(settings: Settings) -> Engine:
    """Migrate the database if needed and connect: DatabaseUnavailable when it cannot be reached."""
    url = settings.sqlalchemy_url
    try:
        ensure_schema(url)
    except SQLAlchemyError as exc:
        shown = make_url(url).render_as_string(hide_password=True)
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise DatabaseUnavailable(f"cannot reach or migrate the database at {shown}: {reason}") from None
    return create_db_engine(url, settings)


def find_target(engine: Engine, settings: Settings, slug: str) -> Target:
    """The organization `slug` in the database (the demo organization is created when missing)."""
    with session_scope(engine) as session:
        if slug == settings.default_organization:
            org = ensure_demo_organization(session, slug)
        else:
            try:
                org = get_organization_by_slug(session, slug)
            except OrganizationNotFound:
                raise OrganizationNotFound(
                    f"organization {slug!r} does not exist; "
                    f"create it with: altaviz orgs create --slug {slug} NAME"
                ) from None
        return Target(engine, org.id, org.slug)


def start_run(target: Target, run_id: uuid.UUID, stages: list[str]) -> None:
    """Log the run as running; runs left 'running' by a killed process become 'abandoned'.

    Only one run holds the lake at a time, so any other 'running' row of this organization is dead.
    """
    with session_scope(target.engine) as session:
        session.execute(
            update(PipelineRun)
            .where(PipelineRun.organization_id == target.organization_id, PipelineRun.status == "running")
            .values(status="abandoned", finished_at=datetime.now(UTC))
        )
        session.add(PipelineRun(id=run_id, organization_id=target.organization_id, stages=stages))


def load_lake(
    target: Target, lake: Lake, hourly_since: datetime | None = None, readings_since: datetime | None = None
) -> LoadCounts:
    """Load the organization's gold into it: hourly rows from `hourly_since` on (all if None), recent
    readings from `readings_since` on (from `hourly_since` if None: an incremental run recomputes the
    readings from its zone's start, later than the hour its hourly rows start in)."""
    # one connection for the three reads, to the module's in-memory database: a database of its own
    # costs 15-25 ms of CPU to open (the CLI's interval check after the run opens one there too)
    with closing(duckdb.default_connection().cursor()) as con:
        con.execute("SET TimeZone = 'UTC'")
        gold = read_gold(lake, target.organization_slug, hourly_since, con)
        recent = read_recent(
            lake.table_files("gold/readings", lake.read_manifest()),
            target.organization_slug,
            None if hourly_since is None else readings_since or hourly_since,
            con,
        )
        health = read_health(lake, target.organization_slug, hourly_since, con)
    # Take SQLite's write lock up front: the load reads before it writes.
    with session_scope(target.engine.execution_options(**{SQLITE_BEGIN_IMMEDIATE: True})) as session:
        counts = load(session, target.organization_id, gold)
        # The dashboard's recent readings and compressor states (pipeline.dashboard_state): the states
        # of the compressors this load brought rows of.
        load_dashboard_state(session, target.organization_id, recent, hourly_since, counts.hourly_compressors)
        # Health, predictions and early warnings (pipeline.health_load), after the states it updates.
        load_health(session, target.organization_id, health)
        data_version.bump(session, target.organization_id)  # the service's cached answers are now old
        return counts


def registered_compressors(target: Target) -> dict[str, str]:
    """The compressors in the organization's registry (not archived) and their stations: its fleet,
    with or without a landing fleet file."""
    c = CompressorMetadata
    with session_scope(target.engine) as session:
        rows = session.execute(
            select(c.compressor_id, c.station_id).where(
                c.organization_id == target.organization_id, c.archived_at.is_(None)
            )
        )
        return {str(compressor): str(station) for compressor, station in sorted(rows)}


def removed_from_registry(
    target: Target, file_compressors: list[str], fleet_files: dict[str, str]
) -> list[str]:
    """The compressors of the organization's landing fleet file that its registry no longer has
    (deleted there), once the database has applied that very file: an unchanged file does not bring
    them back. A file not applied yet removes nothing (its load registers what it names)."""
    if not file_compressors:
        return []
    c = CompressorMetadata
    with session_scope(target.engine) as session:
        if new_fleet_files(fleet_files, applied_fleet_files(session, target.organization_id), FLEET_TABLES):
            return []
        present = set(session.scalars(scoped(select(c.compressor_id), OrgScope(target.organization_id), c)))
    return sorted(set(file_compressors) - present)


def effective_thresholds(target: Target) -> list[Any]:
    """The organization's alarm limits per registered compressor and metric (altaviz.registry)."""
    from altaviz.registry.thresholds import effective_thresholds as effective

    with session_scope(target.engine) as session:
        return list(effective(session, target.organization_id))


def plan_compressors(target: Target, compressor_ids: list[str]) -> set[str] | None:
    """The fleet's compressors the organization's plan covers; None when it covers them all."""
    with session_scope(target.engine) as session:
        covered = allowed_compressors(session, target.organization_id, compressor_ids)
    return None if covered >= set(compressor_ids) else covered


def note_plan_limit(target: Target, readings_by_compressor: dict[str, int]) -> None:
    """Tell the organization which compressors' readings its plan held back (billing keeps the count)."""
    with session_scope(target.engine) as session:
        record_plan_limit_quarantine(session, target.organization_id, readings_by_compressor)


def finish_run(target: Target, run_id: uuid.UUID, summary: RunSummary) -> None:
    with session_scope(target.engine) as session:
        run = session.get_one(PipelineRun, run_id)
        run.status = "succeeded"
        run.finished_at = datetime.now(UTC)
        run.duration_seconds = round(summary.seconds, 3)
        run.counts = summary.as_counts()
        run.report = summary.text()
        run.input_fingerprint = summary.fingerprint


def fail_run(target: Target, run_id: uuid.UUID, error: BaseException, seconds: float) -> None:
    with session_scope(target.engine) as session:
        run = session.get(PipelineRun, run_id)
        if run is None:
            return
        run.status = "failed"
        run.finished_at = datetime.now(UTC)
        run.duration_seconds = round(seconds, 3)
        run.error = str(error)[:2000]


WATCH_LEASE = "pipeline-watch"


def acquire_lease(engine: Engine, holder: str, ttl: timedelta, name: str = WATCH_LEASE) -> bool:
    """Take (or renew) the named lease for `ttl` unless another holder has it; True if ours.

    One row per lease in job_locks (the workflow scheduler's table): works alike on SQLite and
    PostgreSQL. A holder killed without releasing blocks the others until `ttl` runs out.
    """
    from sqlalchemy import or_
    from sqlalchemy.dialects import postgresql, sqlite

    from altaviz.alerts.models import JobLock

    now = datetime.now(UTC)
    with session_scope(engine.execution_options(**{SQLITE_BEGIN_IMMEDIATE: True})) as session:
        insert_of = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
        session.execute(insert_of(JobLock).values(name=name).on_conflict_do_nothing())
        taken = session.execute(
            update(JobLock)
            .where(
                JobLock.name == name,
                or_(JobLock.expires_at.is_(None), JobLock.expires_at <= now, JobLock.holder == holder),
            )
            .values(holder=holder, acquired_at=now, expires_at=now + ttl)
        )
        return int(getattr(taken, "rowcount", 0) or 0) == 1


def release_lease(engine: Engine, holder: str, name: str = WATCH_LEASE) -> None:
    from altaviz.alerts.models import JobLock

    with session_scope(engine) as session:
        session.execute(
            update(JobLock).where(JobLock.name == name, JobLock.holder == holder).values(expires_at=None)
        )


def threshold_versions(engine: Engine) -> dict[str, int]:
    """Every organization's alarm-limits version (altaviz.registry), by organization slug."""
    from sqlalchemy import func

    from altaviz.accounts.models import Organization
    from altaviz.registry.models import ThresholdChange

    c = ThresholdChange
    with session_scope(engine) as session:
        rows = session.execute(
            select(Organization.slug, func.max(c.version))
            .join(Organization, Organization.id == c.organization_id)
            .group_by(Organization.slug)
        )
        return {str(slug): int(version or 0) for slug, version in rows}
