"""A full run of a large fleet against the least work any run producing the same lake must do.

Default: 4,700 compressors × 30 days (≈ 20.3 M readings), issue 21's full-size figure (targets ≤ 60 s
and ≤ 4 GB peak memory on 2 cores). The pipeline runs as a whole `altaviz pipeline run --skip-db`
process (bronze → silver → gold, hourly, violations, alerts); its time, CPU seconds and peak RSS
are measured from here.

References, measured in this script on the same files and engine settings:
- the I/O floor: the lake's tables copied with no feature computed at all — landing → bronze,
  bronze → silver (day-partitioned), silver → a per-reading gold table of the width the run wrote
  (every feature column a plain per-row expression), and the hourly GROUP BY. Any run writing this
  lake does at least this much;
- the rolling windows as window functions, today's formulation before issue 21 (every window aggregate
  of tests/pipeline/rolling_reference.sql, by chunk of the fleet as the pipeline chunks it, counted but
  not written), against the same windows in one pass per compressor (pipeline/rolling.py, every window
  and the rate, fed by DuckDB as Arrow, also not written).
CPU seconds are the steadier figure on a shared machine: on N cores a run cannot take less wall time
than its CPU seconds / N.

    python bench/bench_full_run.py
    python bench/bench_full_run.py --compressors 470 --days 30
"""

import argparse
import functools
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import duckdb

from altaviz.config import Settings
from altaviz.pipeline.engine import DuckDBEngine
from altaviz.pipeline.params import RATE_MIN_READINGS
from altaviz.pipeline.rolling import append_rolling
from altaviz.pipeline.stages import chunk_of, fleet_chunks
from altaviz.simulator import SimulationConfig, simulate

REFERENCE = Path(__file__).parents[1] / "tests" / "pipeline" / "rolling_reference.sql"

SENSORS = (
    "vibration_mms",
    "discharge_temp_f",
    "suction_pressure_psi",
    "discharge_pressure_psi",
    "horsepower_consumption",
    "gas_flow_mcf",
)


def cpu_seconds(who: int = resource.RUSAGE_SELF) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def measured(run: Callable[[], object]) -> tuple[float, float]:
    """Wall and CPU seconds (this process, all threads) of run()."""
    wall, cpu = time.perf_counter(), cpu_seconds()
    run()
    return time.perf_counter() - wall, cpu_seconds() - cpu


def pipeline_process(data_dir: Path) -> tuple[float, float, float, dict[str, float]]:
    """Wall seconds, CPU seconds, peak RSS (GB) and the stages' wall seconds (as the run printed them)
    of one `altaviz pipeline run --skip-db` process."""
    env = {**os.environ, "ALTAVIZ_DATA_DIR": str(data_dir)}
    env.pop("DATABASE_URL", None)
    command = [sys.executable, "-m", "altaviz", "pipeline", "run", "--skip-db"]
    cpu = cpu_seconds(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
    wall = time.perf_counter() - start
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    stages = {m[1]: float(m[2]) for m in re.finditer(r"^([a-z -]+): ([0-9.]+) s$", done.stderr, re.M)}
    return wall, cpu_seconds(resource.RUSAGE_CHILDREN) - cpu, usage.ru_maxrss / 1024**2, stages


def day_partitioned(sql: str, target: Path) -> str:
    return (
        f"COPY (SELECT *, CAST(timestamp AS DATE) AS day FROM ({sql})) TO '{target}' "
        "(FORMAT parquet, COMPRESSION zstd, PARTITION_BY (day), OVERWRITE_OR_IGNORE true)"
    )


def gold_width_columns(con: duckdb.DuckDBPyConnection, lake: Path) -> str:
    """The gold readings table's columns, one for one: silver's where gold has them, the others as
    per-row stand-ins."""
    gold = f"read_parquet('{lake}/gold/readings/**/*.parquet', hive_partitioning = false)"
    silver = f"read_parquet('{lake}/silver/readings/**/*.parquet', hive_partitioning = false)"
    silver_columns = {row[0] for row in con.execute(f"DESCRIBE SELECT * FROM {silver}").fetchall()}
    stand_ins = []
    for i, (name, type_name, *_) in enumerate(con.execute(f"DESCRIBE SELECT * FROM {gold}").fetchall()):
        if name in silver_columns:
            stand_ins.append(name)
            continue
        sensor = SENSORS[i % len(SENSORS)]
        value = {
            "DOUBLE": f"{sensor} * 1.01",
            "VARCHAR": f"CASE WHEN {sensor} > 100 THEN 'warning' ELSE 'normal' END",
            "BOOLEAN": f"{sensor} > 100",
            "DATE": "CAST(timestamp AS DATE)",
        }.get(type_name, f"CAST(EPOCH(timestamp) AS {type_name})")
        stand_ins.append(f"{value} AS {name}")
    return ", ".join(stand_ins)


def io_floor(landing: Path, lake: Path, work: Path) -> dict[str, tuple[float, float]]:
    """Copy the lake's tables with no feature computed; wall and CPU seconds of each copy."""
    work.mkdir(parents=True)
    con = duckdb.connect(config={"preserve_insertion_order": False, "temp_directory": str(work / "spill")})
    con.execute("SET TimeZone = 'UTC'")
    organization = "'" + Settings(data_dir=work).default_organization.replace("'", "''") + "'"
    hourly = ", ".join(
        f"AVG({s}) AS {s}_mean, STDDEV_SAMP({s}) AS {s}_std, MIN({s}) AS {s}_min, MAX({s}) AS {s}_max"
        for s in SENSORS
    )
    copies = {
        # as bronze: the organization (the single-organization landing layout's), the refusal column
        "bronze": f"COPY (SELECT {organization} AS organization, * EXCLUDE (filename, file_row_number), "
        "CAST(NULL AS VARCHAR) AS _refused, filename AS _source_file, "
        "file_row_number AS _source_row, NOW() AS _loaded_at "
        f"FROM read_parquet('{landing}/**/readings/*.parquet', filename = true, file_row_number = true)) "
        f"TO '{work}/bronze.parquet' (FORMAT parquet, COMPRESSION zstd)",
        "silver": day_partitioned(
            "SELECT * EXCLUDE (_source_row), CAST(NULL AS VARCHAR) AS quality_flags "
            f"FROM '{work}/bronze.parquet'",
            work / "silver",
        ),
        "gold readings": day_partitioned(
            f"SELECT {gold_width_columns(con, lake)} "
            f"FROM read_parquet('{work}/silver/**/*.parquet', hive_partitioning = true)",
            work / "gold",
        ),
        "hourly": f"COPY (SELECT compressor_id, date_trunc('hour', timestamp) AS agg_timestamp, {hourly}, "
        f"COUNT(*) AS reading_count FROM read_parquet('{work}/gold/**/*.parquet') GROUP BY ALL) "
        f"TO '{work}/hourly.parquet' (FORMAT parquet, COMPRESSION zstd)",
    }
    try:
        return {name: measured(functools.partial(con.execute, sql)) for name, sql in copies.items()}
    finally:
        con.close()


def windows(data_dir: Path, work: Path, one_pass: bool) -> tuple[float, float]:
    """Every rolling-window aggregate of every reading, by chunk of the fleet as the pipeline runs: as
    window functions (the reference SQL) or in one pass (rolling.py), counted, not written."""
    settings = Settings(data_dir=data_dir)
    engine = DuckDBEngine(settings, work / ("one-pass" if one_pass else "window-functions"))
    silver = sorted((data_dir / "lake" / "silver" / "readings").rglob("*.parquet"))
    starts = fleet_chunks(engine, silver, settings.pipeline_chunk_rows)
    query = REFERENCE.read_text().replace("$min_readings", str(RATE_MIN_READINGS))

    def run() -> None:
        for chunk in range(len(starts) + 1):
            engine.bind_sql("readings", chunk_of(silver, starts, chunk))
            if one_pass:
                engine.map_compressors(
                    "rolled", "readings", lambda t: append_rolling(t, RATE_MIN_READINGS, windows=True)
                )
                engine.rows("SELECT MAX(COLUMNS(*)) FROM rolled")
            else:  # every column is aggregated, so no window aggregate is pruned as unused
                engine.rows(f"SELECT MAX(COLUMNS(*)) FROM ({query})")

    try:
        return measured(run)
    finally:
        engine.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--compressors", type=int, default=4_700)
    parser.add_argument("--days", type=float, default=30)
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="altaviz-full-run-"))
    try:
        data_dir = root / "data"
        simulated = simulate(
            SimulationConfig(compressors=args.compressors, days=args.days), data_dir / "landing"
        )
        rows_text = (
            f"{simulated.readings_rows:,} readings ({args.compressors:,} compressors × {args.days:g} days)"
        )
        wall, cpu, peak_gb, stages = pipeline_process(data_dir)
        print(
            f"full run, {rows_text}: {wall:.1f} s, {cpu:.1f} CPU s, peak RSS {peak_gb:.2f} GB "
            "(targets ≤ 60 s, ≤ 4 GB)",
            flush=True,
        )
        health = stages.get("health", 0.0)
        print(
            "  stages (wall s): "
            + ", ".join(f"{name} {seconds:.1f}" for name, seconds in stages.items())
            + f"; the health stage {health / wall:.0%} of the run (issue 19: its added cost ≤ 15 %, "
            "bench/bench_health.py measures it against a run without it)",
            flush=True,
        )
        copies = io_floor(data_dir / "landing", data_dir / "lake", root / "floor")
        floor_wall, floor_cpu = (sum(figures) for figures in zip(*copies.values(), strict=True))
        parts = ", ".join(f"{name} {seconds:.1f} s" for name, (seconds, _) in copies.items())
        print(
            f"I/O floor (the lake's tables copied, no feature computed): {floor_wall:.1f} s, "
            f"{floor_cpu:.1f} CPU s ({parts})",
            flush=True,
        )
        reference_wall, reference_cpu = windows(data_dir, root / "work", one_pass=False)
        print(
            f"rolling windows as window functions (the reference, not written): "
            f"{reference_wall:.1f} s, {reference_cpu:.1f} CPU s",
            flush=True,
        )
        one_wall, one_cpu = windows(data_dir, root / "work", one_pass=True)
        print(
            f"rolling windows in one pass (rolling.py, every window, not written): {one_wall:.1f} s, "
            f"{one_cpu:.1f} CPU s; {reference_wall / one_wall:.1f}× faster wall, "
            f"{reference_cpu / one_cpu:.1f}× CPU than the reference",
            flush=True,
        )
        cores = os.cpu_count() or 1
        print(
            f"full run / I/O floor: {wall / floor_wall:.2f}× wall, {cpu / floor_cpu:.2f}× CPU "
            f"(the floor's CPU on {cores} cores: ≥ {floor_cpu / cores:.1f} s)"
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
