"""Page benchmark: server time of every dashboard page on the demo fleet (and a 4,700-compressor one).

Builds the data with the real commands in a temporary directory — `altaviz simulate` and `altaviz
pipeline run` into SQLite (the demo's embedded database) — starts `altaviz serve`, signs in, and
requests every page one after the other on one keep-alive connection over loopback, so each time is
the service's time plus a loopback round trip. Each page prints p50 / p95 / max over --requests
requests and its ratio against /api/health measured in the same run (the figure to compare between
machines). Target (issue 7): every page under 300 ms on the demo fleet.

    python bench/bench_pages.py                  # demo fleet (10 compressors x 7 days) + 4,700 x 1 day
    python bench/bench_pages.py --no-large       # demo fleet only
    python bench/bench_pages.py --requests 50
"""

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from altaviz.accounts import service
from altaviz.accounts.roles import Role
from altaviz.config import Settings
from altaviz.db import migrate
from altaviz.db.session import create_db_engine, session_scope

AUTH_SECRET = "bench-only-7d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e"
PASSWORD = "benchmark pass phrase 2026"
PAGES = (
    "/api/health",
    "/",
    "/pricing",
    "/login",
    "/dashboard",
    "/dashboard?page=2",
    "/dashboard?status=critical",
    "/dashboard/compressors/COMP-007",
    "/dashboard/compressors/COMP-007?window=4hr&range=7D",
    "/dashboard/alerts",
    "/dashboard/alerts?status=all",
    "/dashboard/data-quality",
    "/dashboard/settings",
)


def run(env: dict[str, str], *args: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "altaviz", *args], env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def load(root: Path, database_url: str, slug: str, compressors: int, days: float) -> None:
    data_dir = root / slug
    env = {**os.environ, "ALTAVIZ_DATA_DIR": str(data_dir), "DATABASE_URL": database_url}
    seconds = run(
        env, "orgs", "create", slug.replace("-", " ").title(), "--slug", slug, "--tier", "enterprise"
    )
    seconds += run(env, "simulate", "--compressors", str(compressors), "--days", str(days))
    seconds += run(env, "pipeline", "run", "--organization", slug)
    print(f"loaded {compressors:,} compressors x {days:g} days into '{slug}' in {seconds:.1f} s", flush=True)
    settings = Settings(database_url=database_url, data_dir=data_dir, auth_secret=AUTH_SECRET)
    engine = create_db_engine(database_url, settings)
    with session_scope(engine) as session:
        org = service.get_organization_by_slug(session, slug)
        service.create_user(session, org, email=f"owner@{slug}.example", password=PASSWORD, role=Role.OWNER)
    engine.dispose()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_service(root: Path, database_url: str, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "ALTAVIZ_DATA_DIR": str(root),
        "DATABASE_URL": database_url,
        "AUTH_SECRET": AUTH_SECRET,
        "RATE_LIMIT_PER_MINUTE": "1000000",
        "RATE_LIMIT_AUTH_PER_MINUTE": "1000000",
        "LOG_LEVEL": "WARNING",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "altaviz", "serve", "--port", str(port), "--workers", "1"], env=env
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return process
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("the service did not start")


def sign_in(port: int, email: str) -> str:
    connection = http.client.HTTPConnection("127.0.0.1", port)
    body = json.dumps({"email": email, "password": PASSWORD})
    connection.request("POST", "/api/auth/login", body, {"Content-Type": "application/json"})
    response = connection.getresponse()
    response.read()
    assert response.status == 200, response.status
    cookies = [
        value.split(";", 1)[0] for name, value in response.getheaders() if name.lower() == "set-cookie"
    ]
    return "; ".join(cookies)


def measure(port: int, cookie: str, requests: int) -> dict[str, list[float]]:
    connection = http.client.HTTPConnection("127.0.0.1", port)
    times: dict[str, list[float]] = {}
    for path in PAGES:  # one warm-up each (templates compiled, statements cached)
        connection.request("GET", path, headers={"Cookie": cookie})
        response = connection.getresponse()
        response.read()
        assert response.status == 200, (path, response.status)
    for _ in range(requests):
        for path in PAGES:
            started = time.perf_counter()
            connection.request("GET", path, headers={"Cookie": cookie})
            response = connection.getresponse()
            response.read()
            times.setdefault(path, []).append((time.perf_counter() - started) * 1000)
    return times


def report(title: str, times: dict[str, list[float]]) -> dict[str, Any]:
    health = statistics.median(times["/api/health"])
    print(f"\n{title}")
    print(f"{'page':58} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'p50/health':>11}")
    rows = {}
    for path, values in times.items():
        ordered = sorted(values)
        p50 = statistics.median(ordered)
        p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
        rows[path] = {"p50_ms": round(p50, 1), "p95_ms": round(p95, 1), "max_ms": round(ordered[-1], 1)}
        print(f"{path:58} {p50:8.1f} {p95:8.1f} {ordered[-1]:8.1f} {p50 / health:10.1f}x")
    slowest = max((v["p95_ms"], k) for k, v in rows.items())
    print(f"slowest page p95: {slowest[0]:.1f} ms ({slowest[1]}); target < 300 ms")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=30, help="requests per page (after one warm-up)")
    parser.add_argument("--no-large", action="store_true", help="skip the 4,700-compressor fleet")
    parser.add_argument("--large-days", type=float, default=1.0, help="days of readings of the large fleet")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="altaviz-bench-pages-") as folder:
        root = Path(folder)
        database_url = f"sqlite:///{root / 'altaviz.db'}"
        migrate.upgrade(database_url)
        fleets = [("demo-fleet", 10, 7.0)]
        if not args.no_large:
            fleets.append(("large-fleet", 4_700, args.large_days))
        for slug, compressors, days in fleets:
            load(root, database_url, slug, compressors, days)
        port = free_port()
        process = start_service(root, database_url, port)
        results = {}
        try:
            for slug, compressors, days in fleets:
                cookie = sign_in(port, f"owner@{slug}.example")
                times = measure(port, cookie, args.requests)
                title = (
                    f"{compressors:,} compressors x {days:g} days (SQLite, one worker, sequential requests)"
                )
                results[slug] = report(title, times)
        finally:
            process.terminate()
            process.wait(timeout=30)
    print("\n" + json.dumps(results))


if __name__ == "__main__":
    main()
