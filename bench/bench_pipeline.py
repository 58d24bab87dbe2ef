"""End-to-end pipeline benchmark: landing files → bronze → silver → gold → operational database.

Prints the pipeline's time at the requested fleet size, in-process (fresh lake and fresh SQLite file
each repetition) and as a whole `altaviz pipeline run` process, next to a reference measured in this
same script on the same files: DuckDB alone reading the landing Parquet and grouping it by compressor
and hour (the least work any pipeline must do). The ratio is what to compare between machines and
commits; absolute times on a shared machine drift.

    python bench/bench_pipeline.py                       # the seed size: 10 compressors × 7 days
    python bench/bench_pipeline.py --compressors 470 --days 30 --skip-db --repeat 1
"""

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

from altaviz.config import Settings
from altaviz.pipeline.run import PipelineOptions, run_pipeline
from altaviz.simulator import SimulationConfig, simulate


def reference_seconds(landing: Path) -> float:
    start = time.perf_counter()
    con = duckdb.connect()
    con.execute(
        "SELECT compressor_id, date_trunc('hour', timestamp), avg(vibration_mms), count(*) "
        f"FROM read_parquet('{landing}/readings/*.parquet') GROUP BY ALL"
    ).fetchall()
    con.close()
    return time.perf_counter() - start


def fresh_copy(landing: Path, root: Path, name: str) -> Path:
    data_dir = root / name
    shutil.rmtree(data_dir, ignore_errors=True)
    shutil.copytree(landing, data_dir / "landing")
    return data_dir


def in_process_seconds(landing: Path, root: Path, skip_db: bool) -> tuple[float, str]:
    data_dir = fresh_copy(landing, root, "in-process")
    settings = Settings(data_dir=data_dir)
    start = time.perf_counter()
    result = run_pipeline(settings, PipelineOptions(skip_db=skip_db))
    return time.perf_counter() - start, result.summary.text()


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def process_seconds(landing: Path, root: Path, skip_db: bool) -> tuple[float, float]:
    """Wall and CPU seconds (user + system, all threads) of one whole `altaviz pipeline run` process."""
    data_dir = fresh_copy(landing, root, "process")
    env = {**os.environ, "ALTAVIZ_DATA_DIR": str(data_dir)}
    env.pop("DATABASE_URL", None)
    command = [sys.executable, "-m", "altaviz", "pipeline", "run", *(["--skip-db"] if skip_db else [])]
    start, cpu = time.perf_counter(), children_cpu()
    subprocess.run(command, env=env, check=True, capture_output=True)
    return time.perf_counter() - start, children_cpu() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--compressors", type=int, default=10)
    parser.add_argument("--days", type=float, default=7)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--skip-db", action="store_true", help="stop before the operational database")
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="altaviz-bench-"))
    try:
        landing = root / "source" / "landing"
        simulated = simulate(SimulationConfig(compressors=args.compressors, days=args.days), landing)
        print(
            f"fleet: {args.compressors:,} compressors × {args.days:g} days "
            f"= {simulated.readings_rows:,} readings"
        )
        reference = statistics.median(reference_seconds(landing) for _ in range(args.repeat))
        runs = [in_process_seconds(landing, root, args.skip_db) for _ in range(args.repeat)]
        pipeline = statistics.median(seconds for seconds, _ in runs)
        processes = [process_seconds(landing, root, args.skip_db) for _ in range(min(args.repeat, 3))]
        whole = statistics.median(wall for wall, _ in processes)
        whole_cpu = statistics.median(cpu for _, cpu in processes)
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        target = "landing → bronze → silver → gold" + ("" if args.skip_db else " → database (SQLite)")
        print(f"report: {runs[-1][1]}")
        print(f"pipeline, in process ({target}): {pipeline:.3f} s median of {args.repeat}")
        print(
            "pipeline, whole `altaviz pipeline run` process incl. interpreter start and imports: "
            f"{whole:.3f} s, {whole_cpu:.2f} CPU s (median of {len(processes)}; target at the seed size "
            "≤ 1 s)"
        )
        print(f"reference, DuckDB hourly GROUP BY over the same landing files: {reference:.3f} s")
        print(f"ratio pipeline / reference: {pipeline / reference:.1f}×")
        print(f"readings per second (in process): {simulated.readings_rows / pipeline:,.0f}")
        print(f"peak RSS of this script: {peak_mb:,.0f} MB")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
