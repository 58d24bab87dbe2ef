"""The database stage of one incremental hour (issue 21): `database.load_lake` against the floor.

A fleet (default 4,700 compressors × 2 days) is simulated with its last hour held back; a full run
with the database builds the lake and loads it; the held-back hour (28,200 readings at the default
size) is folded into the lake by an incremental run without the database, and the database is
snapshotted. Then, `--repeat` times: the snapshot is restored and the pending load (what the run's
database stage does for that hour) is timed, wall and CPU seconds, with the time of every SQL statement
summed by statement (`--statements`). Then the same load again on the loaded database (re-running the same
input: nothing may change).

The reference, in the same script: the floor — the same rows (recent readings, hourly rows,
data-quality rows, one state row per compressor) inserted into empty tables of the same columns, no
index or constraint, by a plain executemany (SQLite) or COPY (PostgreSQL), in one transaction.

    python bench/bench_db_load.py                                   # SQLite
    python bench/bench_db_load.py --postgres postgresql+psycopg://postgres@127.0.0.1:5432/postgres
    python bench/bench_db_load.py --compressors 470 --keep /tmp/dbl   # smaller, keep the data
"""

import argparse
import resource
import shutil
import tempfile
import time
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Column, MetaData, Table, create_engine, event, make_url, text
from sqlalchemy.dialects import sqlite
from sqlalchemy.pool import NullPool

from altaviz.config import Settings
from altaviz.pipeline import database
from altaviz.pipeline.dashboard_state import read_recent
from altaviz.pipeline.export import _quality_rows, read_gold
from altaviz.pipeline.lake import Lake
from altaviz.pipeline.run import ALL, PipelineOptions, run_pipeline
from altaviz.simulator import SimulationConfig, simulate

BENCH_DB = "altaviz_bench_dbload"


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Statements:
    """Seconds per SQL statement (its first 90 characters), summed, via the engine's events."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self.on = False

    def attach(self, engine: Any) -> None:
        @event.listens_for(engine, "before_cursor_execute")
        def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            conn.info["bench_started"] = time.perf_counter()

        @event.listens_for(engine, "after_cursor_execute")
        def after(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            if self.on:
                key = " ".join(statement.split())[:90]
                self.seconds[key] += time.perf_counter() - conn.info.pop("bench_started")
                self.calls[key] += 1

    def reset(self) -> None:
        self.seconds.clear()
        self.calls.clear()

    def report(self, total: float, top: int = 12) -> None:
        sql = sum(self.seconds.values())
        print(f"    SQL statements {sql:.2f} s of {total:.2f} s (the rest is Python, COPY and commit)")
        for key, seconds in sorted(self.seconds.items(), key=lambda kv: -kv[1])[:top]:
            print(f"    {seconds:7.3f} s  {self.calls[key]:5d}×  {key}")


def pending(lake: Lake, slug: str) -> tuple[datetime | None, datetime | None]:
    state = lake.read_manifest().organization(slug)
    since = state.db_pending_since
    assert since not in (None, ALL), since
    readings = state.db_readings_pending_since
    return (
        datetime.fromisoformat(str(since)),
        None if readings in (None, ALL) else datetime.fromisoformat(str(readings)),
    )


class Postgres:
    def __init__(self, admin_url: str) -> None:
        self.admin = create_engine(admin_url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
        self.url = make_url(admin_url).set(database=BENCH_DB).render_as_string(hide_password=False)

    def sql(self, statement: str) -> None:
        with self.admin.connect() as c:
            c.exec_driver_sql(statement)

    def fresh(self) -> None:
        self.sql(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
        self.sql(f'DROP DATABASE IF EXISTS "{BENCH_DB}_snap" WITH (FORCE)')
        self.sql(f'CREATE DATABASE "{BENCH_DB}"')

    def snapshot(self) -> None:
        self.sql(f'CREATE DATABASE "{BENCH_DB}_snap" TEMPLATE "{BENCH_DB}"')

    def restore(self) -> None:
        self.sql(f'DROP DATABASE "{BENCH_DB}" WITH (FORCE)')
        self.sql(f'CREATE DATABASE "{BENCH_DB}" TEMPLATE "{BENCH_DB}_snap"')

    def drop(self) -> None:
        self.sql(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
        self.sql(f'DROP DATABASE IF EXISTS "{BENCH_DB}_snap" WITH (FORCE)')


def floor_rows(
    lake: Lake, slug: str, org_id: Any, since: datetime | None, readings_since: datetime | None
) -> dict[str, list[dict[str, Any]]]:
    gold = read_gold(lake, slug, since)
    recent = read_recent(
        lake.table_files("gold/readings", lake.read_manifest()), slug, readings_since or since
    )
    org = {"organization_id": org_id}
    quality = [
        q
        for row in gold.quality
        if row["as_of"] is not None
        for q in _quality_rows(org_id, gold.fingerprint, row)
    ]
    newest = {r["compressor_id"]: r for r in recent.rows}
    return {
        "recent_readings": [{**org, **r} for r in recent.rows],
        "sensor_readings_agg": [{**org, **r} for r in gold.hourly],
        "data_quality_metrics": quality,
        "compressor_state": [
            {
                **org,
                "compressor_id": c,
                "last_reading_at": r["timestamp"],
                "vibration_mms": r["vibration_mms"],
            }
            for c, r in newest.items()
        ],
    }


def floor(engine: Any, rows: dict[str, list[dict[str, Any]]]) -> tuple[float, float, int]:
    """The same rows into empty unindexed tables: executemany (SQLite) or COPY (PostgreSQL)."""
    from sqlalchemy.orm import Session

    from altaviz.db.base import Base
    from altaviz.db.bulk import _copy, _staging

    postgres = engine.dialect.name == "postgresql"
    wall, cpu = time.perf_counter(), cpu_seconds()
    with Session(engine) as session, session.begin():
        for name, table_rows in rows.items():
            table = Base.metadata.tables[name]
            names = list(table_rows[0])
            if postgres:
                staged = _staging(session, table, names)
                _copy(session, table, staged, table_rows)
            else:
                floor_name = f"floor_{name}"
                session.execute(text(f'DROP TABLE IF EXISTS "{floor_name}"'))
                session.execute(
                    text(f'CREATE TABLE "{floor_name}" AS SELECT {", ".join(names)} FROM "{name}" LIMIT 0')
                )
                staged = Table(floor_name, MetaData(), *(Column(n, table.c[n].type) for n in names))
                session.execute(sqlite.insert(staged), table_rows)
        if not postgres:
            for name in rows:
                session.execute(text(f'DROP TABLE "floor_{name}"'))
    return time.perf_counter() - wall, cpu_seconds() - cpu, sum(len(r) for r in rows.values())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--compressors", type=int, default=4_700)
    parser.add_argument("--days", type=float, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--postgres", help="an admin URL of a PostgreSQL server (default: SQLite)")
    parser.add_argument(
        "--keep", type=Path, help="data directory to use and keep (reused when it holds a lake)"
    )
    parser.add_argument("--statements", action="store_true", help="print the time per SQL statement")
    args = parser.parse_args()

    data_dir = args.keep or Path(tempfile.mkdtemp(prefix="altaviz-dbload-"))
    pg = Postgres(args.postgres) if args.postgres else None
    db_file = data_dir / "bench.db"
    snap_file = data_dir / "bench.db.snap"
    url = pg.url if pg else f"sqlite:///{db_file}"
    settings = Settings(data_dir=data_dir, database_url=url)
    try:
        marker = data_dir / ("prepared-pg" if pg else "prepared-sqlite")
        if not marker.exists():
            landing = data_dir / "landing"
            if not (landing / "readings").exists():
                from bench_incremental import hold_back_last_hour

                simulate(SimulationConfig(compressors=args.compressors, days=args.days + 1 / 24), landing)
                hold_back_last_hour(landing / "readings").rename(data_dir / "hour.parquet")
                shutil.rmtree(data_dir / "lake", ignore_errors=True)
            if pg:
                pg.fresh()
            db_file.unlink(missing_ok=True)
            started = time.perf_counter()
            lake_dir = data_dir / "lake"
            if (data_dir / "lake.full").exists():
                shutil.rmtree(lake_dir, ignore_errors=True)
                shutil.copytree(data_dir / "lake.full", lake_dir)
                # the lake is built: only load it (all stages skipped = a whole load)
                run_pipeline(settings, PipelineOptions(skip_bronze=True, skip_silver=True, skip_gold=True))
            else:
                run_pipeline(settings, PipelineOptions())
                shutil.copytree(lake_dir, data_dir / "lake.full")
            print(f"full run with the database: {time.perf_counter() - started:.1f} s")
            shutil.copy(data_dir / "hour.parquet", landing / "readings" / "hour.parquet")
            result = run_pipeline(settings, PipelineOptions(skip_db=True))
            print(f"incremental run without the database: {result.summary.stage_seconds}")
            if pg:
                analyzed = create_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
                with analyzed.connect() as c:
                    c.exec_driver_sql("ANALYZE")  # autovacuum is off here
                analyzed.dispose()
                pg.snapshot()
            else:
                shutil.copy(db_file, snap_file)
            marker.touch()
        lake = Lake(data_dir / "lake")
        slug = settings.default_organization
        since, readings_since = pending(lake, slug)
        print(f"pending since {since}, readings since {readings_since}")

        def once(label: str, restore: bool) -> tuple[float, float]:
            if restore:
                if pg:
                    pg.restore()
                else:
                    shutil.copy(snap_file, db_file)
            target = database.open_target(settings, slug)
            stats.attach(target.engine)
            stats.reset()
            stats.on = True
            wall, cpu = time.perf_counter(), cpu_seconds()
            counts = database.load_lake(target, lake, since, readings_since)
            wall, cpu = time.perf_counter() - wall, cpu_seconds() - cpu
            stats.on = False
            print(
                f"  {label}: {wall:.2f} s, {cpu:.2f} CPU s  (hourly {counts.hourly:,}, quality "
                f"{counts.quality:,}, alerts {counts.alerts:,}, "
                f"compressors {len(counts.hourly_compressors):,})"
            )
            if args.statements:
                stats.report(wall)
            target.engine.dispose()
            return wall, cpu

        stats = Statements()
        runs = [once(f"load {n + 1}", restore=True) for n in range(args.repeat)]
        again = once("same input again", restore=False)
        target = database.open_target(settings, slug)
        rows = floor_rows(lake, slug, target.organization_id, since, readings_since)
        floors = [floor(target.engine, rows) for _ in range(args.repeat)]
        target.engine.dispose()
        f_wall = sorted(f[0] for f in floors)[len(floors) // 2]
        f_cpu = sorted(f[1] for f in floors)[len(floors) // 2]
        wall = sorted(r[0] for r in runs)[len(runs) // 2]
        cpu = sorted(r[1] for r in runs)[len(runs) // 2]
        backend = "PostgreSQL" if pg else "SQLite"
        print(
            f"{backend}: the load {wall:.2f} s, {cpu:.2f} CPU s (median of {len(runs)}); "
            "the same input again "
            f"{again[0]:.2f} s, {again[1]:.2f} CPU s; the floor ({floors[0][2]:,} rows into empty tables) "
            f"{f_wall:.2f} s, {f_cpu:.2f} CPU s: the load is {wall / f_wall:.1f}× the floor "
            f"({cpu / f_cpu:.1f}× in CPU)"
        )
    finally:
        if args.keep is None:
            shutil.rmtree(data_dir, ignore_errors=True)
            if pg:
                pg.drop()


if __name__ == "__main__":
    main()
