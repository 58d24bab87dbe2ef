"""Ingest benchmark: readings per second through POST /api/ingest/readings, per format, on 2 workers.

An organization of 4,700 registered compressors and an ingest key are created in a fresh SQLite
database; the service runs as `altaviz serve --workers 2` (one per core). Each format sends the same
batches of 100,000 readings (the per-request maximum: 4,700 compressors × 22 timestamps, rounded),
from `--clients` concurrent closed-loop clients, each with its own Idempotency-Key, so every request
parses, judges every row, writes and fsyncs its Parquet file before the answer. Text formats go
gzip-compressed, as a gateway sends them (100,000 JSON readings are ~23 MB raw, over the 16 MB limit).
The figure is readings stored per second of wall time.

The reference, measured in the same script on the same rows: DuckDB writing the batch to Parquet
directly (from memory, no HTTP, no checks, no fsync), one batch after the other — what the machine
does when nothing but the file write is asked. The ratio says what share of that the whole ingest path
reaches. "per CPU s" is readings per CPU second of the service's processes (its workers included): on a
machine shared with other work, wall-clock rates fall with the load, this figure much less.
Targets (issue 16): JSON >= 50,000 readings/s, Parquet >= 250,000 readings/s.

    python bench/bench_ingest.py                 # 8 batches per format, 2 clients
    python bench/bench_ingest.py --batches 16 --formats json,parquet
"""

import argparse
import gzip
import io
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import httpx
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from sqlalchemy.orm import Session

from altaviz.accounts import service as accounts
from altaviz.accounts.models import Organization
from altaviz.accounts.scoping import OrgScope
from altaviz.config import Settings
from altaviz.db import migrate
from altaviz.db.session import create_db_engine
from altaviz.fleet.sensors import SENSORS
from altaviz.monitoring.models import CompressorMetadata, StationLocation

COMPRESSORS = 4_700
ROWS = 100_000
AUTH_SECRET = "bench-only-0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d"
TARGETS = {"json": 50_000, "parquet": 250_000}
CONTENT_TYPES = {
    "json": "application/json",
    "ndjson": "application/x-ndjson",
    "csv": "text/csv",
    "parquet": "application/vnd.apache.parquet",
}


def batch(offset_minutes: int, rows: int) -> pa.Table:
    """`rows` readings: every compressor every 10 minutes, ending `offset_minutes` ago."""
    ids = np.array([f"COMP-{n:05d}" for n in range(COMPRESSORS)])
    slots = -(-rows // COMPRESSORS)
    end = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=offset_minutes)
    index = np.arange(rows)
    stamps = np.array([int((end - timedelta(minutes=10 * s)).timestamp() * 1_000_000) for s in range(slots)])
    rng = np.random.default_rng(offset_minutes)
    columns = {
        "compressor_id": pa.array(ids[index % COMPRESSORS]),
        "timestamp": pa.array(stamps[index // COMPRESSORS], type=pa.timestamp("us", tz="UTC")),
    }
    for sensor in SENSORS:
        low, high = sensor.baseline
        columns[sensor.name] = pa.array(np.round(rng.uniform(low, high, rows), 3))
    columns["operating_hours"] = pa.array(np.round(rng.uniform(0, 50_000, rows), 1))
    return pa.table(columns)


def encode(table: pa.Table, fmt: str) -> bytes:
    if fmt == "parquet":
        sink = io.BytesIO()
        pq.write_table(table, sink, compression="zstd")
        return sink.getvalue()
    stamps = pc.strftime(table.column("timestamp"), format="%Y-%m-%dT%H:%M:%SZ")
    table = table.set_column(1, "timestamp", stamps)
    if fmt == "csv":
        sink = io.BytesIO()
        pacsv.write_csv(table, sink)
        return sink.getvalue()
    rows = table.to_pylist()
    if fmt == "json":
        return json.dumps(rows, separators=(",", ":")).encode()
    return b"".join(json.dumps(r, separators=(",", ":")).encode() + b"\n" for r in rows)


def setup(data_dir: Path) -> tuple[str, str]:
    url = f"sqlite:///{data_dir / 'altaviz.db'}"
    migrate.upgrade(url)
    engine = create_db_engine(url, Settings(database_url=url, data_dir=data_dir, auth_secret=AUTH_SECRET))
    with Session(engine) as session, session.begin():
        org = Organization(name="Bench Gas", slug="bench", subscription_tier="enterprise")
        session.add(org)
        session.flush()
        session.add(
            StationLocation(
                organization_id=org.id, station_id="S-1", station_name="S-1", latitude=30.0, longitude=-97.0
            )
        )
        session.flush()
        session.add_all(
            CompressorMetadata(
                organization_id=org.id,
                compressor_id=f"COMP-{n:05d}",
                station_id="S-1",
                model="Ajax DPC-360",
                horsepower=1340,
                install_date=date(2022, 1, 1),
            )
            for n in range(COMPRESSORS)
        )
        _, key = accounts.create_api_key(
            session, OrgScope(org.id), name="bench gateway", role="ingest", created_by=None, expires_at=None
        )
    engine.dispose()
    return url, key


def service_env(url: str, data_dir: Path) -> dict[str, str]:
    """The environment of the benchmark's service (and of a pipeline watcher beside it)."""
    return {
        **os.environ,
        "ALTAVIZ_ENV": "test",
        "AUTH_SECRET": AUTH_SECRET,
        "DATABASE_URL": url,
        "ALTAVIZ_DATA_DIR": str(data_dir),
        "LOG_LEVEL": "WARNING",
        "INGEST_RATE_LIMIT_PER_MINUTE": "100000",
        "WORKFLOW_SCHEDULER": "false",
    }


def start_server(url: str, data_dir: Path, workers: int) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = service_env(url, data_dir)
    process = subprocess.Popen(
        [sys.executable, "-m", "altaviz", "serve", "--port", str(port), "--workers", str(workers)],
        env=env,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return process, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("the service did not start")


TICKS = os.sysconf("SC_CLK_TCK")


def server_cpu(root: int) -> float:
    """CPU seconds (user + system) used so far by the service: its process and its workers."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid, ppid = int(entry.name), int(fields[1])
        if pid == root or ppid == root:
            total += (int(fields[11]) + int(fields[12])) / TICKS
    return total


def run_format(
    base: str, key: str, fmt: str, bodies: list[bytes], clients: int, gz: bool
) -> tuple[float, int]:
    """Wall seconds to send every body (closed loop, `clients` at a time) and readings stored."""
    queue = list(enumerate(bodies))
    lock = threading.Lock()
    stored = [0]
    failures: list[str] = []
    headers = {"x-api-key": key, "Content-Type": CONTENT_TYPES[fmt]}
    if gz:
        headers["Content-Encoding"] = "gzip"

    def client() -> None:
        with httpx.Client(timeout=300) as http:
            while True:
                with lock:
                    if not queue:
                        return
                    _, body = queue.pop(0)
                response = http.post(
                    base + "/api/ingest/readings",
                    content=body,
                    headers={**headers, "Idempotency-Key": uuid.uuid4().hex},
                )
                if response.status_code != 200:
                    failures.append(f"{response.status_code} {response.text[:200]}")
                    return
                with lock:
                    stored[0] += response.json()["accepted"]

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if failures:
        raise RuntimeError(f"{fmt}: {failures[0]}")
    return elapsed, stored[0]


def duckdb_reference(tables: list[pa.Table], out: Path) -> float:
    """Seconds for DuckDB to write every batch to its own Parquet file (zstd), one after the other."""
    con = duckdb.connect()
    started = time.perf_counter()
    for n, table in enumerate(tables):
        con.register("batch", table)
        con.execute(f"COPY batch TO '{out / f'ref-{n}.parquet'}' (FORMAT parquet, COMPRESSION zstd)")
        con.unregister("batch")
    elapsed = time.perf_counter() - started
    con.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--batches", type=int, default=8, help="batches of 100,000 readings per format")
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--formats", default="json,ndjson,csv,parquet")
    parser.add_argument(
        "--no-gzip",
        dest="gzip",
        action="store_false",
        help="send the text formats uncompressed (100,000 readings of JSON are ~23 MB: over the 16 MB limit, "
        "so use --rows 60000 with it)",
    )
    parser.add_argument("--rows", type=int, default=ROWS, help="readings per batch (at most 100,000)")
    args = parser.parse_args()
    formats = args.formats.split(",")

    with tempfile.TemporaryDirectory(prefix="altaviz-bench-ingest-") as tmp:
        data_dir = Path(tmp)
        url, key = setup(data_dir)
        slots = -(-args.rows // COMPRESSORS)
        tables = [batch(10 + 10 * slots * n, args.rows) for n in range(args.batches)]
        reference_dir = data_dir / "reference"
        reference_dir.mkdir()
        cpu_before = time.process_time()
        reference = duckdb_reference(tables, reference_dir)
        reference_cpu = time.process_time() - cpu_before
        reference_rate = args.rows * args.batches / reference
        process, base = start_server(url, data_dir, args.workers)
        try:
            print(
                f"{args.batches} batches of {args.rows:,} readings per format, {args.clients} clients, "
                f"{args.workers} workers, {os.cpu_count()} cores"
            )
            print(
                f"reference: DuckDB writes them to Parquet at {reference_rate:,.0f} readings/s "
                f"({args.rows * args.batches / reference_cpu:,.0f} per CPU second)"
            )
            print(
                f"{'format':<10}{'MB/batch':>10}{'readings/s':>14}{'vs DuckDB':>11}{'per CPU s':>12}"
                f"{'target':>16}"
            )
            for fmt in formats:
                bodies = [encode(t, fmt) for t in tables]
                if args.gzip and fmt != "parquet":
                    bodies = [gzip.compress(b, 5) for b in bodies]
                http = httpx.post(  # warm up both workers' imports and caches
                    base + "/api/ingest/readings?dry_run=true",
                    content=bodies[0],
                    headers={
                        "x-api-key": key,
                        "Content-Type": CONTENT_TYPES[fmt],
                        **({"Content-Encoding": "gzip"} if args.gzip and fmt != "parquet" else {}),
                    },
                    timeout=300,
                )
                http.raise_for_status()
                cpu_before = server_cpu(process.pid)
                elapsed, stored = run_format(
                    base, key, fmt, bodies, args.clients, args.gzip and fmt != "parquet"
                )
                assert stored == args.rows * args.batches, stored
                rate = stored / elapsed
                target = TARGETS.get(fmt)
                verdict = "" if target is None else (f"{target:,} {'ok' if rate >= target else 'MISSED'}")
                per_cpu = stored / max(1e-9, server_cpu(process.pid) - cpu_before)
                ratio = rate / reference_rate
                print(
                    f"{fmt:<10}{len(bodies[0]) / 1e6:>10.1f}{rate:>14,.0f}{ratio:>10.2f}x{per_cpu:>12,.0f}"
                    f"{verdict:>16}"
                )
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)


if __name__ == "__main__":
    main()
