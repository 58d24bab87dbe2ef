"""End to end (issue 16 item 9): a fleet posting through the gateway, the watcher, the dashboard's read.

4,700 registered compressors send a reading every 10 minutes through `POST /api/ingest/readings` as
`altaviz gateway` sends them (simulator.gateway.Gateway: NDJSON, gzip, an Idempotency-Key per batch,
retries); `altaviz pipeline watch` runs with PIPELINE_WATCH_SECONDS=30; the service runs as
`altaviz serve --workers 2`, on PostgreSQL (a database of its own, made afresh). Time is compressed:
each 10-minute round of the fleet (one reading slot, in the past) is sent in --round-seconds (60 by
default) instead of 600, split into --sites batches (one per field site) spread evenly over the round,
so the watcher sees data arrive continuously, as it would in the field, only ten times denser.

Figures:
- visibility: for every reading of a sample of the fleet (--sample-pages pages of --sample-size
  compressors spread evenly over it in id order, 500 of 4,700 by default, read concurrently every
  --poll-seconds), the seconds from the POST's answer to the answer of the first `/api/fleet` page that
  shows it (the compressor's last_reading_at at or after the reading's time): p50/p95/max. Target p95
  <= 60 s. Reference in the same run: the bound issue 16 states, the watch interval plus one pass
  (median pass time measured here); the ratio says how close the path comes to it;
- breakdown per reading, from the watcher's log: waiting for the pass that brought it (answer -> that
  pass's start; 0 when a pass just starting took it), that pass (its last step, the database load,
  makes the dashboard change), and from the pass's end to the page that showed it (the poll's own
  delay, also reported: a page's request to its answer); each pass's stages (bronze, silver, gold,
  health, database) as its log line names them;
- `/api/fleet` (the first page worst first, with the totals) p95 at --clients (50) closed-loop clients
  while all that goes on (target <= 100 ms); reference: `/api/health` at the same clients in the same
  run, before the rounds (service idle but for the watcher);
- CPU seconds of the service, the watcher and PostgreSQL (the backends of this database, sampled)
  over the rounds, and the wall time.

    python bench/bench_end_to_end.py                   # 4 rounds of 60 s
    python bench/bench_end_to_end.py --rounds 6 --round-seconds 30
"""

import argparse
import asyncio
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

sys.path.insert(0, str(Path(__file__).parent))

import bench_api
import httpx
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.pool import NullPool

from altaviz.accounts import service
from altaviz.accounts.models import Organization
from altaviz.accounts.roles import Role
from altaviz.accounts.scoping import OrgScope
from altaviz.config import normalize_database_url
from altaviz.db import migrate
from altaviz.db.session import create_db_engine, session_scope
from altaviz.simulator.gateway import Gateway, GatewayConfig

DATABASE = "altaviz_bench_e2e"
SLUG = "e2e"
COMPRESSORS = 4_700
INTERVAL_MINUTES = 10
FLEET = "/api/fleet?sort=health"
PASS_LINE = re.compile(r"watch: run of \d+ organizations in ([0-9.]+) s, \d+ failed(?: \((.*)\))?")
STAGE = re.compile(r"([a-z]+) ([0-9.]+) s")
# Seconds between a pass's commit and its log line at most (passes are further apart than that).
LOG_AFTER_COMMIT = 1.0


def database_url() -> str:
    admin = normalize_database_url(bench_api.ADMIN_URL)
    engine = create_engine(admin, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(
            text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"), {"n": DATABASE}
        )
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{DATABASE}"')
        connection.exec_driver_sql(f'CREATE DATABASE "{DATABASE}"')
    engine.dispose()
    return make_url(admin).set(database=DATABASE).render_as_string(False)


def analyze(url: str) -> bool:
    """ANALYZE the benchmark's database (its tables were just filled); whether autovacuum is on.

    PostgreSQL plans from table statistics, which autovacuum gathers by itself when it is on (the
    default). Where it is off, as on the development machine's server, tables filled in bulk keep
    no statistics: the fleet's query then joined 50 rows to every compressor (rows=1 estimated for
    4,700), 0.5-1 s of PostgreSQL per uncached answer instead of a few milliseconds."""
    engine = create_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        autovacuum = connection.exec_driver_sql("SHOW autovacuum").scalar() == "on"
        connection.exec_driver_sql("ANALYZE")
    engine.dispose()
    return autovacuum


def organization(url: str) -> dict[str, str]:
    """A fresh organization (Enterprise) with an admin key (registers the fleet), an ingest key (the
    gateway's) and a viewer key (the dashboard's reads)."""
    migrate.upgrade(url)
    engine = create_db_engine(url)
    keys = {}
    with session_scope(engine) as session:
        org = Organization(name="End to end", slug=SLUG, subscription_tier="enterprise", max_compressors=None)
        session.add(org)
        session.flush()
        roles: dict[str, Role | Literal["ingest"]] = {
            "admin": Role.ADMIN,
            "ingest": "ingest",
            "viewer": Role.VIEWER,
        }
        for name, role in roles.items():
            _, keys[name] = service.create_api_key(
                session, OrgScope(org.id), name=f"e2e {name}", role=role, created_by=None, expires_at=None
            )
    engine.dispose()
    return keys


def environment(url: str, data_dir: Path, watch_seconds: float) -> dict[str, str]:
    return {
        **os.environ,
        "ALTAVIZ_ENV": "production",
        "AUTH_SECRET": bench_api.AUTH_SECRET,
        "DATABASE_URL": url,
        "ALTAVIZ_DATA_DIR": str(data_dir),
        "RATE_LIMIT_PER_MINUTE": "100000000",
        "INGEST_RATE_LIMIT_PER_MINUTE": "100000",
        "RATE_LIMIT_STORAGE_URI": "memory://",
        "LOG_LEVEL": "INFO",
        "PIPELINE_WATCH_SECONDS": str(watch_seconds),
        "PIPELINE_WATCH_METRICS_PORT": "0",
        "WORKFLOW_SCHEDULER": "false",
    }


@dataclass
class Passes:
    """The watcher's passes as its log reports them: (start, end) in this process's perf_counter."""

    spans: list[tuple[float, float]] = field(default_factory=list)
    stages: list[dict[str, float]] = field(default_factory=list)  # per pass, seconds per stage
    lines: list[str] = field(default_factory=list)

    def follow(self, stream: Any, copy: Path | None) -> None:
        out = open(copy, "w") if copy else None  # noqa: SIM115 (open as long as the watcher)
        for raw in iter(stream.readline, b""):
            line = raw.decode(errors="replace").rstrip()
            now = time.perf_counter()
            self.lines.append(line)
            if out is not None:
                out.write(line + "\n")
                out.flush()
            found = PASS_LINE.search(line)
            if found:
                self.spans.append((now - float(found.group(1)), now))
                self.stages.append({k: float(v) for k, v in STAGE.findall(found.group(2) or "")})

    def delivered(self, answered: float, seen: float) -> tuple[float, float] | None:
        """The pass that brought a reading answered at `answered` and first seen at `seen`: the last
        one that ended before it was seen (and after it was answered). It may have started a moment
        before the answer: a pass lists the landing zone a little after it starts. Its log line comes
        a little after its load commits (the run log, closing the connections): a pass ending up to
        LOG_AFTER_COMMIT seconds after the reading was seen counts as the one that brought it."""
        ended = [(s, e) for s, e in self.spans if answered <= e <= seen + LOG_AFTER_COMMIT]
        return ended[-1] if ended else None


@dataclass
class Posted:
    answered: float  # perf_counter when the 2xx arrived
    stamp: datetime
    compressors: list[str]


class Poller:
    """Reads the newest reading time of a sample of the fleet from /api/fleet (`pages` pages of `size`
    compressors spread evenly over it, in id order, read concurrently) and notes when each posted
    reading of a sampled compressor first shows: a reading is seen when the page showing it is
    answered. A sample, because reading the whole fleet (5 pages of 1,000) is itself slow on a busy
    service: a 1,000-row page computed after every pass took seconds under the 50 readers, and the
    poll's cycle (tens of seconds) was most of what this script measured after the pass."""

    def __init__(self, base: str, key: str, every: float, pages: int, size: int) -> None:
        self.base, self.key, self.every = base, key, every
        self.offsets = [round(n * COMPRESSORS / pages) for n in range(pages)]
        self.size = size
        self.sampled: set[str] = set()  # the compressors on those pages
        self.pending: dict[tuple[str, datetime], float] = {}  # (compressor, reading time) -> answered
        self.latencies: list[tuple[float, float]] = []  # (answered, seen)
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.failed_polls = 0
        self.pages: list[float] = []  # seconds per page request (the poll's own delay)
        self.pool = ThreadPoolExecutor(pages)

    def add(self, posted: Posted) -> None:
        with self.lock:
            for compressor in posted.compressors:
                if compressor in self.sampled:
                    self.pending[(compressor, posted.stamp)] = posted.answered

    def _page(self, http: httpx.Client, offset: int) -> dict[str, tuple[datetime, float]]:
        asked = time.perf_counter()
        try:
            answer = http.get(
                f"{self.base}/api/fleet?sort=compressor&limit={self.size}&offset={offset}",
                headers={"x-api-key": self.key},
            )
        except httpx.TimeoutException:
            self.failed_polls += 1
            return {}
        answered = time.perf_counter()
        self.pages.append(answered - asked)
        if answer.status_code != 200:
            self.failed_polls += 1
            return {}
        rows = answer.json()["items"]
        self.sampled.update(row["compressor_id"] for row in rows)
        return {
            row["compressor_id"]: (datetime.fromisoformat(row["last_reading_at"]), answered)
            for row in rows
            if row["last_reading_at"]
        }

    def newest(self, http: httpx.Client) -> dict[str, tuple[datetime, float]]:
        """Each sampled compressor's newest reading time, with the moment the page showing it was
        answered (a page that could not be read, a 503 or a timeout of an overloaded machine, is left
        out and polled again next time)."""
        found: dict[str, tuple[datetime, float]] = {}
        for page in self.pool.map(lambda offset: self._page(http, offset), self.offsets):
            found.update(page)
        return found

    def run(self) -> None:
        with httpx.Client(timeout=30) as http:
            while not self.stop.wait(self.every):
                newest = self.newest(http)
                with self.lock:
                    for k in [k for k in self.pending if k[0] in newest and newest[k[0]][0] >= k[1]]:
                        self.latencies.append((self.pending.pop(k), newest[k[0]][1]))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))] if ordered else float("nan")


def readers(port: int, clients: int, key: str, stop: threading.Event, out: dict[str, Any]) -> None:
    """`clients` closed-loop clients on /api/fleet until `stop` (in rounds of 5 s, as bench_api's phases)."""
    latencies: list[float] = []
    errors = 0
    while not stop.is_set():
        result = asyncio.run(bench_api._phase(port, clients, 5.0, lambda: FLEET, key))
        latencies.extend(next(iter(result["latencies"].values()), []))
        errors += sum(result["errors"].values())
    out["latencies"], out["errors"] = latencies, errors


class PostgresCpu:
    """CPU seconds of the PostgreSQL backends serving this benchmark's database, sampled every
    `every` seconds: a backend's time leaves /proc when it exits (the watcher connects afresh every
    pass), so summing the live processes at two moments can even come out negative. Each backend
    (pid and start time) counts from its first sample, or from zero when it started after `start`;
    what one spends after its last sample (at most `every` seconds) is missed. Backends of other
    databases on the same server (other work on a shared machine) are left out."""

    def __init__(self, database: str, every: float = 0.25) -> None:
        self.marker = f" {database} "
        self.every = every
        self.first: dict[tuple[int, str], float] = {}
        self.last: dict[tuple[int, str], float] = {}
        self.started = False
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                if self.marker not in (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode():
                    continue
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            key = (int(entry.name), fields[19])  # pid, start time (a pid can be reused)
            seconds = (int(fields[11]) + int(fields[12])) / bench_api.TICKS
            if key not in self.first:
                self.first[key] = seconds if not self.started else 0.0
            self.last[key] = seconds

    def _run(self) -> None:
        while not self.stop.wait(self.every):
            self._sample()

    def start(self) -> None:
        self._sample()
        self.started = True
        self.thread.start()

    def seconds(self) -> float:
        self._sample()
        return sum(self.last[k] - self.first[k] for k in self.last)


def cpu(service_pid: int, watcher_pid: int, postgres: PostgresCpu) -> dict[str, float]:
    return {
        "service": bench_api.service_cpu_seconds(service_pid),
        "postgres": postgres.seconds(),
        "watcher": bench_api.service_cpu_seconds(watcher_pid),
    }


def wait_for(port: int) -> None:
    deadline = time.monotonic() + 300  # a loaded machine starts it slowly
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=5)
            time.sleep(2.0)  # the other worker
            return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise RuntimeError("the service did not start")


def split(table: pa.Table, sites: int) -> list[pa.Table]:
    size = -(-table.num_rows // sites)
    return [table.slice(i, size) for i in range(0, table.num_rows, size)]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=4, help="10-minute rounds of the fleet sent")
    parser.add_argument("--round-seconds", type=float, default=60.0, help="wall seconds per round")
    parser.add_argument("--sites", type=int, default=10, help="gateway batches per round")
    parser.add_argument(
        "--warm-hours",
        type=float,
        default=24.0,
        help="history sent before the clock runs (the health model's)",
    )
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--watch-seconds", type=float, default=30.0)
    parser.add_argument("--poll-seconds", type=float, default=1.0)
    parser.add_argument("--sample-pages", type=int, default=10, help="fleet pages polled for visibility")
    parser.add_argument("--sample-size", type=int, default=50, help="compressors per polled page")
    parser.add_argument(
        "--warm-seconds", type=float, default=1800.0, help="wait at most this for the history's first pass"
    )
    parser.add_argument("--watcher-log", type=Path, help="also write the watcher's log to this file")
    parser.add_argument("--drain-seconds", type=float, default=240.0, help="wait at most this for the last")
    args = parser.parse_args()

    url = database_url()
    keys = organization(url)
    data_dir = Path(tempfile.mkdtemp(prefix="altaviz-bench-e2e-"))
    env = environment(url, data_dir, args.watch_seconds)
    port = bench_api.free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "-m", "altaviz", "serve", "--port", str(port), "--workers", str(args.workers)],
        env={**env, "LOG_LEVEL": "WARNING"},
        start_new_session=True,
    )
    watcher: subprocess.Popen[bytes] | None = None
    try:
        wait_for(port)
        config = GatewayConfig(
            url=base,
            compressors=COMPRESSORS,
            days=args.warm_hours / 24 + args.rounds * INTERVAL_MINUTES / 1440,
            batch_rows=100_000,
        )
        state = data_dir / "gateway-state.json"
        Gateway(config, keys["admin"], data_dir / "register-state.json").register()
        gateway = Gateway(config, keys["ingest"], state)
        run = uuid.uuid4().hex[:8]

        def send(table: pa.Table, label: str) -> Posted:
            sent = gateway.send(table, f"e2e-{run}-{label}", label)
            assert sent.accepted == table.num_rows, (label, sent)
            stamps = pc.unique(table.column("timestamp")).to_pylist()
            assert len(stamps) == 1, stamps  # one reading slot
            return Posted(time.perf_counter(), stamps[0], table.column("compressor_id").to_pylist())

        slots = gateway.history_readings
        first_round = slots - args.rounds
        cutoff = gateway.timeline.time_of(first_round)
        warm_ids: set[str] = set()
        # The history before the timed rounds, in batches of 100,000: the lake, the health model and the
        # dashboard's state exist before the clock runs.
        for index, table in gateway.history_batches():
            table = table.filter(
                pc.less(table.column("timestamp"), pa.scalar(cutoff, table.schema.field("timestamp").type))
            )
            if table.num_rows == 0:
                break
            sent = gateway.send(table, f"e2e-{run}-warm-{index}", f"warm-up {index}")
            assert sent.accepted == table.num_rows, sent
            warm_ids.update(pc.unique(table.column("compressor_id")).to_pylist())
        watcher = subprocess.Popen(
            [sys.executable, "-m", "altaviz", "pipeline", "watch"],
            env=env,
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            start_new_session=True,
        )
        passes = Passes()
        threading.Thread(target=passes.follow, args=(watcher.stderr, args.watcher_log), daemon=True).start()
        poller = Poller(base, keys["viewer"], args.poll_seconds, args.sample_pages, args.sample_size)
        with httpx.Client(timeout=30) as http:
            deadline = time.monotonic() + args.warm_seconds
            while len(poller.newest(http)) < min(len(warm_ids), args.sample_pages * args.sample_size):
                assert time.monotonic() < deadline, "the warm-up rounds never showed"
                time.sleep(2)
        poller.pages.clear()
        autovacuum = analyze(url)
        print(
            f"warm-up shown after {len(passes.spans)} passes; database analyzed "
            f"(autovacuum {'on' if autovacuum else 'off'})",
            file=sys.stderr,
        )

        health = asyncio.run(
            bench_api._phase(port, args.clients, 20.0, lambda: "/api/health", keys["viewer"])
        )
        health_latencies = next(iter(health["latencies"].values()))

        poll_thread = threading.Thread(target=poller.run, daemon=True)
        poll_thread.start()
        stop_readers = threading.Event()
        read: dict[str, Any] = {}
        reader_thread = threading.Thread(
            target=readers, args=(port, args.clients, keys["viewer"], stop_readers, read), daemon=True
        )
        reader_thread.start()
        postgres = PostgresCpu(DATABASE)
        postgres.start()
        cpu_before, wall_before = cpu(server.pid, watcher.pid, postgres), time.perf_counter()
        batch_gap = args.round_seconds / args.sites
        next_at = time.perf_counter()
        for k in range(first_round, slots):
            for n, batch in enumerate(split(gateway.slot(k), args.sites)):
                time.sleep(max(0.0, next_at - time.perf_counter()))
                poller.add(send(batch, f"r{k}-s{n}"))
                next_at += batch_gap
        sent_until = time.perf_counter()
        deadline = time.monotonic() + args.drain_seconds
        while poller.pending and time.monotonic() < deadline:
            time.sleep(1)
        wall = time.perf_counter() - wall_before
        cpu_after = cpu(server.pid, watcher.pid, postgres)
        postgres.stop.set()
        stop_readers.set()
        poller.stop.set()
        reader_thread.join()
        poll_thread.join()
    finally:
        for process in (watcher, server):
            if process is not None and process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=60)
                except subprocess.TimeoutExpired:  # a pass in progress: the watcher stops between passes
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
        shutil.rmtree(data_dir, ignore_errors=True)

    visible = [seen - answered for answered, seen in poller.latencies]
    during = [i for i, (s, _) in enumerate(passes.spans) if s >= wall_before - 5]
    spans = [passes.spans[i][1] - passes.spans[i][0] for i in during]
    stage_names = sorted({name for i in during for name in passes.stages[i]})
    stages = {name: [passes.stages[i].get(name, 0.0) for i in during] for name in stage_names}
    waits, runs, afters = [], [], []
    for answered, seen in poller.latencies:
        span = passes.delivered(answered, seen)
        if span is not None:
            waits.append(max(0.0, span[0] - answered))  # 0: taken by a pass that was just starting
            runs.append(span[1] - span[0])
            afters.append(max(0.0, seen - span[1]))  # 0: seen before the pass's log line came
    fleet = read.get("latencies", [])
    median_pass = statistics.median(spans) if spans else float("nan")
    bound = args.watch_seconds + median_pass
    rounds_sent = args.rounds * len(poller.sampled)
    print(
        f"{COMPRESSORS:,} compressors, {args.rounds} rounds of 10 minutes in {args.round_seconds:.0f} s each "
        f"({args.sites} gateway batches per round), watcher every {args.watch_seconds:.0f} s, "
        f"{args.workers} workers, {args.clients} readers, load average {os.getloadavg()[0]:.1f}; "
        f"PostgreSQL autovacuum {'on' if autovacuum else 'off (the script analyzed after the warm-up)'}"
    )
    print(
        f"visible in /api/fleet after the POST's answer: {len(visible):,} of the {rounds_sent:,} readings "
        f"of the {len(poller.sampled)} compressors sampled; "
        f"p50 {percentile(visible, 50):.1f} s, p95 {percentile(visible, 95):.1f} s, "
        f"max {max(visible, default=0):.1f} s"
        f" (target p95 <= 60 s: {'ok' if percentile(visible, 95) <= 60 else 'MISSED'}); "
        f"sending took {sent_until - wall_before:.0f} s; "
        f"polls that failed (503, timeout): {poller.failed_polls}"
    )
    print(
        f"reference: watch interval + median pass = {args.watch_seconds:.0f} + {median_pass:.1f} = "
        f"{bound:.1f} s;"
        f" ratio p95 / reference {percentile(visible, 95) / bound:.2f}"
    )
    print(
        f"breakdown (p50 / p95 s over {len(waits):,} readings): wait for the pass "
        f"{percentile(waits, 50):.1f} / {percentile(waits, 95):.1f}, the pass {percentile(runs, 50):.1f} / "
        f"{percentile(runs, 95):.1f}, pass end to seen (poll every {args.poll_seconds:.0f} s) "
        f"{percentile(afters, 50):.1f} / {percentile(afters, 95):.1f}; passes during the rounds: "
        f"{len(spans)}, each {min(spans, default=0):.1f}-{max(spans, default=0):.1f} s"
    )
    print(
        "stages of those passes (p50 / max s): "
        + ", ".join(f"{n} {percentile(v, 50):.1f} / {max(v):.1f}" for n, v in stages.items())
    )
    print(
        f"the poll's own delay: a page of {args.sample_size} compressors answered in p50 "
        f"{percentile(poller.pages, 50):.2f} s, p95 {percentile(poller.pages, 95):.2f} s "
        f"({len(poller.pages):,} pages)"
    )
    print(
        f"/api/fleet at {args.clients} clients during the rounds: {len(fleet):,} answers, "
        f"p50 {percentile(fleet, 50) * 1000:.0f} ms, p95 {percentile(fleet, 95) * 1000:.0f} ms "
        f"(target <= 100 ms: {'ok' if percentile(fleet, 95) <= 0.1 else 'MISSED'}), "
        f"non-2xx {read.get('errors')}; "
        f"reference /api/health p95 {percentile(health_latencies, 95) * 1000:.0f} ms, ratio "
        f"{percentile(fleet, 95) / percentile(health_latencies, 95):.2f}"
    )
    used = {name: cpu_after[name] - cpu_before[name] for name in cpu_after}
    print(
        f"wall {wall:.0f} s; CPU s: service {used['service']:.0f}, watcher {used['watcher']:.0f}, "
        f"PostgreSQL {used['postgres']:.0f} ({sum(used.values()) / wall:.2f} cores of {os.cpu_count()})"
    )


if __name__ == "__main__":
    main()
