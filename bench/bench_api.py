"""Web service benchmark: the read API under 50 concurrent clients, against PostgreSQL.

An organization of 4,700 compressors with 30 days of hourly aggregates (3.4 M rows), alert history and
an API key is loaded into its own database (kept between runs; --rebuild to load it again). The
service runs as `altaviz serve --workers 2` (one per core); the load comes from a separate process
of plain asyncio HTTP/1.1 keep-alive clients on loopback, each sending its next request when the
last answer arrived (closed loop). Every phase prints requests/s and p50/p95/p99 latency, and its
ratio against /api/health measured in the same run — the figure to compare between machines.

    python bench/bench_api.py                      # 10 s per phase, 50 clients
    python bench/bench_api.py --seconds 20 --limiter redis
    python bench/bench_api.py --no-read-cache      # every fleet and alert answer computed
    python bench/bench_api.py --rebuild            # reload the data set

Phases: /api/health, /api/fleet (first page of 100 and the fleet summary), /api/alerts (newest 50),
/api/compressors/{id}/readings (24 hourly rows of a random compressor), then all three authenticated
routes mixed. Nothing writes during the run, so the fleet and alert answers come from the service's
read cache after the first (each request still authenticates against the database); --no-read-cache
computes every one. Each phase also reports the CPU per request of the service, PostgreSQL, Redis and
the load generator, and how busy the rest of the machine was. Targets (issue 4): fleet p95 <= 100 ms;
>= 500 authenticated requests/s on 2 cores.
"""

import argparse
import asyncio
import json
import os
import random
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, make_url, text
from sqlalchemy.pool import NullPool

from altaviz.accounts import service
from altaviz.accounts.models import Organization
from altaviz.accounts.roles import Role
from altaviz.accounts.scoping import OrgScope
from altaviz.config import normalize_database_url
from altaviz.db import migrate
from altaviz.db.session import create_db_engine, session_scope

ADMIN_URL = os.environ.get("ALTAVIZ_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
DATABASE = "altaviz_bench"
SLUG = "bench-fleet"
COMPRESSORS = 4_700
DAYS = 30
STATIONS = 470
AUTH_SECRET = "bench-only-5b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c"
KEY_FILE = Path(tempfile.gettempdir()) / "altaviz_bench_api_key"  # the key is stored only hashed
TICKS = os.sysconf("SC_CLK_TCK")


# --- data -------------------------------------------------------------------------------------------


def database_url() -> str:
    return make_url(normalize_database_url(ADMIN_URL)).set(database=DATABASE).render_as_string(False)


def ensure_database(rebuild: bool) -> None:
    admin = create_engine(normalize_database_url(ADMIN_URL), poolclass=NullPool, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        exists = connection.execute(
            text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": DATABASE}
        ).first()
        if exists and rebuild:
            connection.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
                {"n": DATABASE},
            )
            connection.exec_driver_sql(f'DROP DATABASE "{DATABASE}"')
            exists = None
        if not exists:
            connection.exec_driver_sql(f'CREATE DATABASE "{DATABASE}"')
    admin.dispose()


def load(rebuild: bool) -> str:
    """The data set (loaded once) and an admin API key for it."""
    ensure_database(rebuild)
    url = database_url()
    migrate.upgrade(url)
    engine = create_db_engine(url)
    with session_scope(engine) as session:
        org = session.query(Organization).filter_by(slug=SLUG).one_or_none()
        if org is not None and KEY_FILE.exists():
            engine.dispose()
            print(f"data set: reusing organization {SLUG} in database {DATABASE}", file=sys.stderr)
            return KEY_FILE.read_text().strip()
        if org is not None:
            session.delete(org)
            session.flush()
        org = Organization(
            name="Bench Fleet", slug=SLUG, subscription_tier="enterprise", max_compressors=None
        )
        session.add(org)
        session.flush()
        _, key = service.create_api_key(
            session, OrgScope(org.id), name="bench", role=Role.ADMIN, created_by=None, expires_at=None
        )
        org_id = org.id
    started = time.perf_counter()
    statements = [
        f"""INSERT INTO station_locations (organization_id, station_id, station_name, latitude, longitude,
                region, city, state, basin, created_at)
            SELECT :org, 'ST-' || lpad(s::text, 4, '0'), 'Station ' || s, 28 + (s % 50) * 0.1,
                   -104 + (s % 70) * 0.1, 'Texas', 'Midland', 'TX', 'Permian Basin', now()
            FROM generate_series(1, {STATIONS}) AS s""",
        f"""INSERT INTO compressor_metadata (organization_id, compressor_id, station_id, model, horsepower,
                install_date, created_at, updated_at)
            SELECT :org, 'COMP-' || lpad(c::text, 5, '0'),
                   'ST-' || lpad((1 + (c - 1) % {STATIONS})::text, 4, '0'),
                   (ARRAY['Ajax DPC-360', 'Ariel JGK/4', 'Caterpillar G3516', 'Waukesha 7042GSI'])[1 + c % 4],
                   1340 + (c % 4) * 100, DATE '2022-01-01', now(), now()
            FROM generate_series(1, {COMPRESSORS}) AS c""",
        f"""INSERT INTO sensor_readings_agg (organization_id, compressor_id, agg_timestamp, window_type,
                vibration_mean, vibration_std, vibration_min, vibration_max,
                discharge_temp_mean, discharge_temp_std, discharge_temp_min, discharge_temp_max,
                suction_pressure_mean, suction_pressure_std, suction_pressure_min, suction_pressure_max,
                discharge_pressure_mean, discharge_pressure_std,
                discharge_pressure_min, discharge_pressure_max,
                horsepower_mean, horsepower_std, horsepower_min, horsepower_max,
                gas_flow_mean, gas_flow_std, gas_flow_min, gas_flow_max,
                pressure_delta_mean, discharge_temp_rate_of_change,
                reading_count, expected_readings, missing_readings, violation_count)
            SELECT :org, 'COMP-' || lpad(c::text, 5, '0'),
                   date_trunc('hour', now()) - h * interval '1 hour', '1hr',
                   3 + r, 0.1, 2.8 + r, 3.2 + r, 200 + r, 2, 197 + r, 203 + r, 60 + r, 1, 58, 62,
                   1000 + r, 10, 990, 1010, 1400 + r, 20, 1380, 1420, 10000 + r, 100, 9900, 10100,
                   940 + r, 0.5, 6, 6, 0, 0
            FROM generate_series(1, {COMPRESSORS}) AS c
            CROSS JOIN generate_series(0, {DAYS * 24 - 1}) AS h
            CROSS JOIN LATERAL (SELECT ((c * 7919 + h * 104729) % 1000) / 1000.0 AS r) AS noise""",
        f"""INSERT INTO alert_history (organization_id, compressor_id, condition, alert_type, severity,
                sensor_name, alert_timestamp, raised_at, last_violation_at, returned_to_normal_at, is_active,
                sensor_value, threshold_value, message, violation_count, acknowledged, resolved, resolved_at,
                resolved_by, source, created_at, updated_at)
            SELECT :org, 'COMP-' || lpad(c::text, 5, '0'), 'vibration_mms',
                   CASE WHEN e = 0 AND c % 50 = 0 THEN 'threshold_critical' ELSE 'threshold_warning' END,
                   CASE WHEN e = 0 AND c % 50 = 0 THEN 'critical' ELSE 'warning' END,
                   'vibration_mms', t, t + interval '10 minutes', t + interval '2 hours',
                   CASE WHEN e = 0 THEN NULL ELSE t + interval '3 hours' END, e = 0,
                   7.5, 6.0, 'Vibration above threshold', 12, e > 0, e > 0,
                   CASE WHEN e > 0 THEN t + interval '4 hours' END, CASE WHEN e > 0 THEN 'bench' END,
                   'pipeline', now(), now()
            FROM generate_series(1, {COMPRESSORS}) AS c
            CROSS JOIN generate_series(0, 3) AS e
            CROSS JOIN LATERAL (
                SELECT now() - e * interval '7 days' - c * interval '1 minute' AS t
            ) AS stamp
            WHERE e > 0 OR c % 20 = 0""",
    ]
    loader = migrate.migration_engine(url)  # no statement timeout for the bulk load
    with loader.begin() as connection:
        for statement in statements:
            connection.execute(text(statement), {"org": org_id})
    loader.dispose()
    vacuum = create_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    with vacuum.connect() as connection:
        connection.exec_driver_sql("VACUUM ANALYZE")
    vacuum.dispose()
    engine.dispose()
    KEY_FILE.write_text(key + "\n")
    print(f"data set: loaded in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return key


# --- load generator ---------------------------------------------------------------------------------


async def _client(
    port: int,
    paths: Callable[[], str],
    headers: bytes,
    stop_at: float,
    latencies: dict[str, list[float]],
    errors: dict[str, int],
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.perf_counter() < stop_at:
            path = paths()
            route = path.split("?")[0].rsplit("/", 1)[-1] if "/readings" in path else path.split("?")[0]
            started = time.perf_counter()
            writer.write(f"GET {path} HTTP/1.1\r\nHost: bench\r\n".encode() + headers + b"\r\n")
            status_line = await reader.readline()
            length = 0
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b""):
                    break
                name, _, value = line.partition(b":")
                if name.lower() == b"content-length":
                    length = int(value)
            await reader.readexactly(length)
            key = "readings" if "/readings" in path else route
            latencies.setdefault(key, []).append(time.perf_counter() - started)
            if not status_line.startswith(b"HTTP/1.1 2"):
                errors[key] = errors.get(key, 0) + 1
    finally:
        writer.close()


async def _phase(
    port: int, clients: int, seconds: float, paths: Callable[[], str], key: str
) -> dict[str, Any]:
    latencies: dict[str, list[float]] = {}
    errors: dict[str, int] = {}
    headers = f"x-api-key: {key}\r\n".encode()
    started = time.perf_counter()
    stop_at = started + seconds
    await asyncio.gather(*(_client(port, paths, headers, stop_at, latencies, errors) for _ in range(clients)))
    elapsed = time.perf_counter() - started
    return {"elapsed": elapsed, "latencies": latencies, "errors": errors}


def _process_cpu(pid: int) -> tuple[float, str, list[int]]:
    """(user + system CPU seconds, command name, child pids) of one process (Linux /proc)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat.rsplit(")", 1)[1].split()
    name = stat.split("(", 1)[1].rsplit(")", 1)[0]
    try:
        children = [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        children = []
    return (int(fields[11]) + int(fields[12])) / TICKS, name, children


def service_cpu_seconds(root: int) -> float:
    """CPU of the service's process tree so far."""
    total = 0.0
    pids = [root]
    while pids:
        try:
            seconds, _, children = _process_cpu(pids.pop())
        except OSError:
            continue
        total += seconds
        pids.extend(children)
    return total


def named_cpu_seconds() -> dict[str, float]:
    """CPU so far of the PostgreSQL and Redis processes (servers on this same machine)."""
    totals = {"postgres": 0.0, "redis": 0.0}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                seconds, name, _ = _process_cpu(int(entry.name))
            except OSError:
                continue
            for server in totals:
                totals[server] += seconds if name.startswith(server) else 0.0
    return totals


def machine_cpu_seconds() -> float:
    """Busy CPU time of the whole machine so far, all cores (/proc/stat: all but idle and iowait)."""
    user, nice, system, _idle, _iowait, irq, softirq, steal = (
        int(v) for v in Path("/proc/stat").read_text().split()[1:9]
    )
    return (user + nice + system + irq + softirq + steal) / TICKS


def cpu_now(service_pid: int) -> dict[str, float]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "service": service_cpu_seconds(service_pid),
        **named_cpu_seconds(),
        "load": usage.ru_utime + usage.ru_stime,
        "machine": machine_cpu_seconds(),
    }


def run_load(port: int, clients: int, seconds: float, key: str, service_pid: int) -> dict[str, Any]:
    compressors = [f"COMP-{n:05d}" for n in range(1, COMPRESSORS + 1)]
    routes: dict[str, Callable[[], str]] = {
        "/api/health": lambda: "/api/health",
        "/api/fleet": lambda: "/api/fleet",
        "/api/alerts": lambda: "/api/alerts",
        "readings": lambda: f"/api/compressors/{random.choice(compressors)}/readings",
    }
    mixed_cycle = [routes["/api/fleet"], routes["/api/alerts"], routes["readings"]]
    results = {}
    counter = iter(range(10**12))
    phases = {**routes, "mixed": lambda: mixed_cycle[next(counter) % 3]()}
    for name, paths in phases.items():
        asyncio.run(_phase(port, clients, min(3.0, seconds), paths, key))  # warm-up
        before = cpu_now(service_pid)
        results[name] = asyncio.run(_phase(port, clients, seconds, paths, key))
        after = cpu_now(service_pid)
        results[name]["cpu"] = {part: after[part] - before[part] for part in after}
    return results


def _percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


# --- service ----------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_service(
    port: int, workers: int, limiter: str, read_cache: bool, extra_env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "ALTAVIZ_ENV": "production",
        "AUTH_SECRET": AUTH_SECRET,
        "DATABASE_URL": database_url(),
        "RATE_LIMIT_PER_MINUTE": "100000000",
        "RATE_LIMIT_STORAGE_URI": "redis://127.0.0.1:6379/0" if limiter == "redis" else "memory://",
        "RATE_LIMIT_KEY_PREFIX": f"bench-{os.getpid()}",
        "LOG_LEVEL": "WARNING",
        **({} if read_cache else {"READ_CACHE_MAX_BYTES": "0"}),
        **(extra_env or {}),
    }
    command = [sys.executable, "-m", "altaviz", "serve", "--port", str(port), "--workers", str(workers)]
    process = subprocess.Popen(command, env=env, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                time.sleep(1.0)  # the other workers
                return process
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("the service did not start")


def stop_service(process: subprocess.Popen[bytes]) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)


# --- report -----------------------------------------------------------------------------------------


def report(results: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    rows = {}
    for phase, result in results.items():
        everything = [v for values in result["latencies"].values() for v in values]
        count, cpu = max(len(everything), 1), result["cpu"]
        others = cpu["machine"] - cpu["service"] - cpu["postgres"] - cpu["redis"] - cpu["load"]
        rows[phase] = {
            "requests": len(everything),
            "rps": len(everything) / result["elapsed"],
            "p50": _percentile(everything, 50) * 1000,
            "p95": _percentile(everything, 95) * 1000,
            "p99": _percentile(everything, 99) * 1000,
            "errors": sum(result["errors"].values()),
            "service_cpu_ms": 1000 * cpu["service"] / count,
            "postgres_cpu_ms": 1000 * cpu["postgres"] / count,
            "redis_cpu_ms": 1000 * cpu["redis"] / count,
            "load_cpu_ms": 1000 * cpu["load"] / count,
            "other_cores": max(others, 0.0) / result["elapsed"],
            "per_route": {
                route: {
                    "requests": len(values),
                    "p50": _percentile(values, 50) * 1000,
                    "p95": _percentile(values, 95) * 1000,
                    "p99": _percentile(values, 99) * 1000,
                }
                for route, values in result["latencies"].items()
            },
        }
    health = rows["/api/health"]
    cache = "on" if args.read_cache else "off"
    print(
        f"\nAltaviz API, {COMPRESSORS:,} compressors x {DAYS} days of hourly aggregates on PostgreSQL; "
        f"{args.clients} clients, {args.workers} workers, {args.limiter} rate limiter, read cache {cache}, "
        f"{os.cpu_count()} cores\n"
    )
    columns = f"{'req/s':>7}{'p50 ms':>8}{'p95 ms':>8}{'p99 ms':>8}{'errors':>7}"
    cpu_columns = f"{'app':>6}{'PG':>6}{'Redis':>6}{'load':>6}"
    print(f"{'':<33}{'':<38}{'CPU ms per request':>24}")
    print(f"{'phase':<33}{columns}{cpu_columns}{'other cores':>12}{'req/s vs health':>17}")
    for phase, row in rows.items():
        label = "/api/compressors/{id}/readings" if phase == "readings" else phase
        label = "mixed: fleet + alerts + readings" if phase == "mixed" else label
        print(
            f"{label:<33}{row['rps']:>7.0f}{row['p50']:>8.1f}{row['p95']:>8.1f}{row['p99']:>8.1f}"
            f"{row['errors']:>7}{row['service_cpu_ms']:>6.2f}{row['postgres_cpu_ms']:>6.2f}"
            f"{row['redis_cpu_ms']:>6.2f}{row['load_cpu_ms']:>6.2f}{row['other_cores']:>12.2f}"
            f"{row['rps'] / health['rps']:>16.2f}x"
        )
    mixed = rows["mixed"]
    print("\nin the mixed phase, per route (ms):")
    for route, figures in mixed["per_route"].items():
        print(f"  {route:<32}p50 {figures['p50']:6.1f}  p95 {figures['p95']:6.1f}  p99 {figures['p99']:6.1f}")
    fleet_p95 = rows["/api/fleet"]["p95"]
    fleet_met = "met" if fleet_p95 <= 100 else "NOT met"
    mixed_met = "met" if mixed["rps"] >= 500 else "NOT met"
    print(
        f"\ntargets: fleet p95 {fleet_p95:.1f} ms (<= 100: {fleet_met}); "
        f"authenticated mixed {mixed['rps']:.0f} req/s (>= 500: {mixed_met})"
    )
    print(
        "CPU: user + system time per request of the service's processes (app), PostgreSQL, Redis and this\n"
        "load generator; other cores: whatever else kept the machine busy meanwhile (kernel, other jobs),\n"
        "in cores: well above 0.1 means the run shared the machine and its figures are low."
    )
    if args.read_cache:
        print(
            "The fleet and alert answers come from the read cache (nothing writes during the run);\n"
            "--no-read-cache measures them computed on every request."
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each measured phase")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--limiter", choices=("memory", "redis"), default="redis")
    parser.add_argument(
        "--no-read-cache",
        dest="read_cache",
        action="store_false",
        help="compute every fleet and alert answer (READ_CACHE_MAX_BYTES=0)",
    )
    parser.add_argument("--rebuild", action="store_true", help="drop and reload the data set")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    key = load(args.rebuild)
    port = free_port()
    process = start_service(port, args.workers, args.limiter, args.read_cache)
    try:
        results = run_load(port, args.clients, args.seconds, key, process.pid)
    finally:
        stop_service(process)
    rows = report(results, args)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
