"""/api/fleet under 50 concurrent clients while the data changes every pass (issue 16 item 9).

The real service (`altaviz serve --workers 2`, PostgreSQL) over bench_api's data set (4,700
compressors, 470 stations, 30 days of hourly aggregates, alert history; each compressor's state row
as bench_fleet_state writes it). While the clients read, a writer does what one watcher pass does to
what the fleet shows, every --pass-seconds (default 30, PIPELINE_WATCH_SECONDS): it rewrites every
compressor's state row (newest reading time and values) and bumps the organization's data version
in the same transaction, so every worker's read cache misses after each pass and the next fleet
answer is computed from the database.

Phases (closed loop, plain asyncio HTTP/1.1 keep-alive clients on loopback, as bench_api):
  1. /api/health: the reference measured in the same run (authentication, middleware, no data);
  2. /api/fleet?sort=health (the first page of 100 worst first, and the fleet totals) with the
     writer running: the figure asked for (p95 <= 100 ms); then the same without the writer;
  3. the same service with AUTH_CACHE_SECONDS=0 (every request authenticated by a database query, as
     before the principal cache): the reference the principal cache is measured against (ratio of
     p95 and of CPU per request); --no-auth-cache-reference skips it;
  4. with --uncached: the same with the read cache off (READ_CACHE_MAX_BYTES=0): every answer
     computed, the worst case of a cache that misses.
Then, in this process and without the cache, the CPU and wall time of one uncached fleet answer:
monitoring.service.fleet now, and as it was at REFERENCE (read from git and loaded beside it) — the
page and the fleet totals ranked the fleet in two statements there, once here.

    python bench/bench_fleet_read.py [--seconds 60] [--pass-seconds 30] [--uncached]
"""

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import threading
import time
import types
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import bench_api
import bench_fleet_state
from sqlalchemy import text

from altaviz.accounts import data_version
from altaviz.accounts.models import Organization
from altaviz.accounts.plans import plan_for
from altaviz.accounts.scoping import OrgScope
from altaviz.db.session import create_db_engine, session_scope
from altaviz.monitoring import service

REFERENCE = "0a6c138"  # the fleet read before the page carried the fleet totals
FLEET = "/api/fleet?sort=health"


def writer(url: str, every: float, stop: threading.Event, passes: list[float]) -> None:
    """Every `every` seconds: each compressor's state row rewritten and the data version bumped."""
    engine = create_db_engine(url)
    try:
        while every > 0 and not stop.wait(every):
            started = time.perf_counter()
            with session_scope(engine) as session:
                org = session.query(Organization).filter_by(slug=bench_api.SLUG).one()
                session.execute(
                    text(
                        """UPDATE compressor_state
                           SET last_reading_at = now() - interval '1 minute',
                               vibration_mms = round((random() * 6)::numeric, 6)::float,
                               updated_at = now()
                           WHERE organization_id = :org"""
                    ),
                    {"org": org.id},
                )
                data_version.bump(session, org.id)
            passes.append(time.perf_counter() - started)
    finally:
        engine.dispose()


def phase(port: int, clients: int, seconds: float, path: str, key: str, pid: int) -> dict[str, Any]:
    asyncio.run(bench_api._phase(port, clients, min(3.0, seconds), lambda: path, key))  # warm-up
    before = bench_api.cpu_now(pid)
    result = asyncio.run(bench_api._phase(port, clients, seconds, lambda: path, key))
    after = bench_api.cpu_now(pid)
    latencies = next(iter(result["latencies"].values()))
    return {
        "requests": len(latencies),
        "rps": len(latencies) / result["elapsed"],
        "p50": bench_api._percentile(latencies, 50) * 1000,
        "p95": bench_api._percentile(latencies, 95) * 1000,
        "p99": bench_api._percentile(latencies, 99) * 1000,
        "errors": sum(result["errors"].values()),
        "service_cpu_ms": (after["service"] - before["service"]) * 1000 / max(len(latencies), 1),
        "postgres_cpu_ms": (after["postgres"] - before["postgres"]) * 1000 / max(len(latencies), 1),
        "load": os.getloadavg()[0],
    }


def served(
    args: argparse.Namespace, key: str, url: str, read_cache: bool, env: dict[str, str] | None = None
) -> dict[str, dict[str, Any]]:
    port = bench_api.free_port()
    process = bench_api.start_service(port, args.workers, "memory", read_cache, env)
    results = {}
    try:
        results["/api/health"] = phase(port, args.clients, args.seconds, "/api/health", key, process.pid)
        stop = threading.Event()
        passes: list[float] = []
        thread = threading.Thread(target=writer, args=(url, args.pass_seconds, stop, passes), daemon=True)
        thread.start()
        try:
            results[FLEET] = phase(port, args.clients, args.seconds, FLEET, key, process.pid)
        finally:
            stop.set()
            thread.join()
        results[FLEET]["passes"] = len(passes)
        if args.pass_seconds > 0:
            results[FLEET + " no writer"] = phase(port, args.clients, args.seconds, FLEET, key, process.pid)
    finally:
        bench_api.stop_service(process)
    return results


def reference_service() -> types.ModuleType:
    """monitoring/service.py as it was at REFERENCE, loaded as a module of its own."""
    source = subprocess.run(
        ["git", "show", f"{REFERENCE}:src/altaviz/monitoring/service.py"],
        cwd=Path(__file__).resolve().parents[1],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    module = types.ModuleType("reference_service")
    exec(compile(source, f"{REFERENCE}:monitoring/service.py", "exec"), module.__dict__)
    return module


def in_process(url: str, scope: OrgScope, rounds: int) -> dict[str, tuple[float, float]]:
    engine = create_db_engine(url)
    plan = plan_for("enterprise")
    before = reference_service()
    figures = {}
    for name, module in (("now", service), (f"at {REFERENCE}", before)):

        def answer(module: Any = module) -> None:
            with session_scope(engine) as session:
                page = module.fleet(session, scope, sort="health", limit=100, plan=plan)
                page.__pydantic_serializer__.to_json(page)

        answer()
        cpu, wall = [], []
        for _ in range(rounds):
            c0, w0 = time.process_time(), time.perf_counter()
            answer()
            cpu.append((time.process_time() - c0) * 1000)
            wall.append((time.perf_counter() - w0) * 1000)
        figures[name] = (statistics.median(cpu), statistics.median(wall))
    engine.dispose()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=60.0, help="length of each measured phase")
    parser.add_argument(
        "--pass-seconds",
        type=float,
        default=30.0,
        help="time between two writer passes (0: no writer, every fleet answer from the read cache)",
    )
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=40, help="in-process uncached answers timed")
    parser.add_argument("--uncached", action="store_true", help="also run the service without read cache")
    parser.add_argument(
        "--no-auth-cache-reference",
        dest="auth_cache_reference",
        action="store_false",
        help="skip the run with AUTH_CACHE_SECONDS=0 (every request authenticated by the database)",
    )
    args = parser.parse_args()

    key = bench_api.load(rebuild=False)
    url = bench_api.database_url()
    scope = bench_fleet_state.prepare(url)
    runs = {"read cache on": served(args, key, url, True)}
    if args.auth_cache_reference:
        runs["auth cache off"] = served(args, key, url, True, {"AUTH_CACHE_SECONDS": "0"})
    if args.uncached:
        runs["read cache off"] = served(args, key, url, False)
    load = os.getloadavg()[0]
    print(
        f"{args.clients} clients, {args.workers} workers, {args.seconds:.0f} s per phase,"
        f" load average {load:.1f}"
    )
    for run, results in runs.items():
        health = results["/api/health"]
        for route, r in results.items():
            extra = f", {r['passes']} writer passes" if "passes" in r else ""
            print(
                f"{run:15s} {route:34s} {r['rps']:7.0f} req/s  p50 {r['p50']:7.1f} ms  p95 {r['p95']:7.1f} ms"
                f"  p99 {r['p99']:7.1f} ms  cpu/req: service {r['service_cpu_ms']:5.1f} ms"
                f" postgres {r['postgres_cpu_ms']:5.1f} ms non-2xx {r['errors']} load {r['load']:.1f}{extra}"
            )
        fleet = results[FLEET]
        print(f"{run:15s} ratio fleet / health: p95 {fleet['p95'] / health['p95']:.2f}")
    if "auth cache off" in runs:
        on, off = runs["read cache on"][FLEET], runs["auth cache off"][FLEET]
        print(
            f"ratio auth cache on / off, fleet with writer: p95 {on['p95'] / off['p95']:.2f}, "
            f"service cpu/req {on['service_cpu_ms'] / off['service_cpu_ms']:.2f}"
        )
    figures = in_process(url, scope, args.rounds)
    for name, (cpu, wall) in figures.items():
        print(
            f"uncached fleet answer in process, {name:12s}: cpu {cpu:5.1f} ms  wall {wall:6.1f} ms (median)"
        )
    (now_cpu, now_wall), (ref_cpu, ref_wall) = figures.values()
    print(f"ratio now / {REFERENCE}: wall {now_wall / ref_wall:.2f}, cpu {now_cpu / ref_cpu:.2f}")


if __name__ == "__main__":
    main()
