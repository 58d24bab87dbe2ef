"""The fleet answer read from compressor_state (issue 17 item 3, for issue 16's /api/fleet p95), against
PostgreSQL, in process, without the read cache.

The data set is bench_api's (4,700 compressors, 30 days of hourly aggregates: 3.4 M rows, alert history;
loaded once into the `altaviz_bench` database). Each compressor gets one recent reading and its state
row as the pipeline's load would write them (pipeline.dashboard_state). Then, for N rounds:

- fleet: `monitoring.service.fleet` (first page of 100, worst first, and the fleet summary), the
  /api/fleet answer, which now reads one state row per compressor;
- reference: the same call to `fleet` as the service was before issue 17 (monitoring/service.py at
  commit REFERENCE, read from git and loaded beside the current one): each compressor joined to its
  newest hourly row and the "online" count over the last hours' hourly rows, per request.

Prints CPU and wall milliseconds per answer (median) and the ratio fleet / reference.

    python bench/bench_fleet_state.py [--rounds 40]
"""

import argparse
import statistics
import subprocess
import sys
import time
import types
from pathlib import Path

from sqlalchemy import func, select, text

REFERENCE = "772b1fb"  # the last commit before the fleet read compressor_state
ROOT = Path(__file__).resolve().parents[1]

sys.path.insert(0, str(Path(__file__).parent))

import bench_api  # noqa: E402

from altaviz.accounts.models import Organization  # noqa: E402
from altaviz.accounts.plans import plan_for  # noqa: E402
from altaviz.accounts.scoping import OrgScope  # noqa: E402
from altaviz.db.session import create_db_engine, session_scope  # noqa: E402
from altaviz.monitoring import service  # noqa: E402
from altaviz.monitoring.models import CompressorState  # noqa: E402
from altaviz.pipeline.dashboard_state import RecentReadings, load_dashboard_state  # noqa: E402


def prepare(url: str) -> OrgScope:
    engine = create_db_engine(url)
    with session_scope(engine) as session:
        org = session.query(Organization).filter_by(slug=bench_api.SLUG).one()
        scope = OrgScope(org.id)
        states = session.scalar(
            select(func.count()).select_from(CompressorState).where(CompressorState.organization_id == org.id)
        )
        if not states:
            started = time.perf_counter()
            session.execute(
                text(
                    """INSERT INTO recent_readings (organization_id, compressor_id, timestamp, vibration_mms,
                           discharge_temp_f, suction_pressure_psi, discharge_pressure_psi,
                           horsepower_consumption, gas_flow_mcf, pressure_differential, status)
                       SELECT organization_id, compressor_id, now() - interval '7 minutes', 3.1, 201, 60,
                              1001, 1401, 10001, 941, 'healthy'
                       FROM compressor_metadata WHERE organization_id = :org
                       ON CONFLICT DO NOTHING"""
                ),
                {"org": org.id},
            )
            load_dashboard_state(session, org.id, RecentReadings([], None))
            print(f"state rows written in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        session.execute(text("ANALYZE compressor_state"))  # as autovacuum would after a load
    engine.dispose()
    return scope


def reference_service() -> types.ModuleType:
    """monitoring/service.py as it was at REFERENCE, loaded as a module of its own."""
    source = subprocess.run(
        ["git", "show", f"{REFERENCE}:src/altaviz/monitoring/service.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    module = types.ModuleType("reference_service")
    exec(compile(source, f"{REFERENCE}:monitoring/service.py", "exec"), module.__dict__)
    return module


def measure(url: str, scope: OrgScope, rounds: int) -> None:
    engine = create_db_engine(url)
    plan = plan_for("enterprise")
    before = reference_service()

    def fleet() -> None:
        with session_scope(engine) as session:
            page = service.fleet(session, scope, sort="health", limit=100, plan=plan)
            assert page.summary.compressors == bench_api.COMPRESSORS

    def reference() -> None:
        with session_scope(engine) as session:
            page = before.fleet(session, scope, sort="health", limit=100)
            assert page.summary.compressors == bench_api.COMPRESSORS

    results = {}
    for name, work in (
        ("fleet (compressor_state)", fleet),
        (f"reference (fleet at {REFERENCE})", reference),
    ):
        work()  # warm: statements compiled, connections open, pages cached by PostgreSQL
        cpu, wall = [], []
        for _ in range(rounds):
            c0, w0 = time.process_time(), time.perf_counter()
            work()
            cpu.append((time.process_time() - c0) * 1000)
            wall.append((time.perf_counter() - w0) * 1000)
        results[name] = (statistics.median(cpu), statistics.median(wall))
        print(f"{name:38s} cpu {results[name][0]:6.1f} ms   wall {results[name][1]:6.1f} ms per answer")
    (fleet_cpu, fleet_wall), (ref_cpu, ref_wall) = results.values()
    print(f"ratio fleet / reference: wall {fleet_wall / ref_wall:.2f}, service cpu {fleet_cpu / ref_cpu:.2f}")
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args()
    bench_api.load(rebuild=False)
    url = bench_api.database_url()
    scope = prepare(url)
    measure(url, scope, args.rounds)


if __name__ == "__main__":
    main()
