"""End-to-end pipeline benchmark: landing files → bronze → silver → gold → operational database.

Prints the pipeline's time at the requested fleet size, in-process (fresh lake and fresh SQLite file
each repetition) and as a whole `altaviz pipeline run` process, next to a reference measured in this
same script on the same files: DuckDB alone reading the landing Parquet and grouping it by compressor
and hour (the least work any pipeline must do). The ratio is what to compare between machines and
commits; absolute times on a shared machine drift.

    python bench/bench_pipeline.py                       # the seed size: 10 compressors × 7 days
    python bench/bench_pipeline.py --compressors 470 --days 30 --skip-db --repeat 1
    python bench/bench_pipeline.py --against /work/main/src --processes 6 --imports

`--against SRC` (another checkout's src/, e.g. main's) runs the whole-process measurement alternately
with this checkout and with SRC (put first on PYTHONPATH), in the same minutes, and prints both and
their ratio: on a shared machine that ratio is the figure to trust. `--imports` adds each side's
`python -X importtime` of the same command (three processes each, alternating: the sum of each
module's least own time, and the largest top-level imports); `--collector` each side's garbage
collections in the same command (CPU spent in them and their number by generation, measured by a
collector callback: a figure the machine's load hardly moves).
"""

import argparse
import os
import re
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


# `python -m altaviz ARGS` with a collector callback: at exit, the CPU seconds spent in collections and
# their number by generation, on stderr's last line.
COLLECTOR = (
    "import atexit, gc, runpy, sys, time\n"
    "spent, counts, started = [0.0], [0, 0, 0], [0.0]\n"
    "def noted(phase, info):\n"
    "    if phase == 'start':\n"
    "        started[0] = time.process_time()\n"
    "    else:\n"
    "        spent[0] += time.process_time() - started[0]\n"
    "        counts[info['generation']] += 1\n"
    "gc.callbacks.append(noted)\n"
    "atexit.register(lambda: print('collector', spent[0], *counts, file=sys.stderr))\n"
    "sys.argv = ['altaviz', *sys.argv[1:]]\n"
    "runpy.run_module('altaviz', run_name='__main__', alter_sys=True)\n"
)


def process_seconds(
    landing: Path,
    root: Path,
    skip_db: bool,
    src: str | None = None,
    importtime: bool = False,
    collector: bool = False,
) -> tuple[float, float, str]:
    """Wall and CPU seconds (user + system, all threads) of one whole `altaviz pipeline run` process
    (with `src` first on PYTHONPATH: another checkout's code), and its stderr."""
    data_dir = fresh_copy(landing, root, "process")
    env = {**os.environ, "ALTAVIZ_DATA_DIR": str(data_dir)}
    env.pop("DATABASE_URL", None)
    if src is not None:
        env["PYTHONPATH"] = os.pathsep.join([src, *filter(None, [os.environ.get("PYTHONPATH")])])
    command = [
        sys.executable,
        *(["-X", "importtime"] if importtime else []),
        *(["-c", COLLECTOR] if collector else ["-m", "altaviz"]),
        "pipeline",
        "run",
        *(["--skip-db"] if skip_db else []),
    ]
    start, cpu = time.perf_counter(), children_cpu()
    done = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
    return time.perf_counter() - start, children_cpu() - cpu, done.stderr


IMPORT_LINE = re.compile(r"import time:\s*(\d+) \|\s*(\d+) \| ( *)(\S+)")


def import_figures(stderr: str) -> tuple[dict[str, float], dict[str, float]]:
    """From `-X importtime` output: every module's own time, and each top-level import's cumulative
    time (s)."""
    own: dict[str, float] = {}
    top: dict[str, float] = {}
    for match in IMPORT_LINE.finditer(stderr):
        self_us, cumulative, indent, name = match.groups()
        own[name] = int(self_us) / 1e6
        if not indent:
            top[name] = int(cumulative) / 1e6
    return own, top


def whole_processes(
    landing: Path, root: Path, skip_db: bool, count: int, against: str | None
) -> dict[str, list[tuple[float, float]]]:
    """`count` whole processes of this checkout (and of `against`, alternately)."""
    sides: dict[str, str | None] = {"this checkout": None}
    if against is not None:
        sides[f"reference ({against})"] = against
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in sides}
    for _ in range(count):
        for name, src in sides.items():
            wall, cpu, _ = process_seconds(landing, root, skip_db, src)
            runs[name].append((wall, cpu))
    return runs


def print_imports(landing: Path, root: Path, skip_db: bool, against: str | None, count: int = 3) -> None:
    """Each side's imports over `count` processes, alternating: the sum of each module's least own time
    (a figure the machine's load moves far less than one process's sum) and the largest top-level
    imports by their least cumulative time."""
    sides: dict[str, str | None] = {"this checkout": None}
    if against is not None:
        sides[f"reference ({against})"] = against
    runs: dict[str, list[tuple[dict[str, float], dict[str, float]]]] = {name: [] for name in sides}
    for _ in range(count):
        for name, src in sides.items():
            runs[name].append(import_figures(process_seconds(landing, root, skip_db, src, True)[2]))
    for name, figures in runs.items():
        own: dict[str, float] = {}
        top: dict[str, float] = {}
        for module_own, module_top in figures:
            for module, seconds in module_own.items():
                own[module] = min(seconds, own.get(module, seconds))
            for module, seconds in module_top.items():
                top[module] = min(seconds, top.get(module, seconds))
        ranked = sorted(top.items(), key=lambda item: -item[1])
        largest = ", ".join(f"{module} {seconds * 1000:.0f}" for module, seconds in ranked[:8])
        print(
            f"imports, {name}: {len(own)} modules, {sum(own.values()) * 1000:,.0f} ms (sum of each module's "
            f"least own time over {count} processes); largest top-level (ms, least): {largest}"
        )


def print_collector(landing: Path, root: Path, skip_db: bool, count: int, against: str | None) -> None:
    sides: dict[str, str | None] = {"this checkout": None}
    if against is not None:
        sides[f"reference ({against})"] = against
    runs: dict[str, list[list[float]]] = {name: [] for name in sides}
    for _ in range(count):
        for name, src in sides.items():
            stderr = process_seconds(landing, root, skip_db, src, collector=True)[2]
            runs[name].append([float(v) for v in stderr.strip().splitlines()[-1].split()[1:]])
    for name, measured in runs.items():
        spent = ", ".join(f"{run[0] * 1000:.0f}" for run in measured)
        counts = sorted({f"{int(run[1])}/{int(run[2])}/{int(run[3])}" for run in measured})
        print(
            f"garbage collector, {name}: {statistics.median(run[0] for run in measured) * 1000:.0f} ms "
            f"of CPU (median of {count}: {spent}); collections young/middle/full: {', '.join(counts)}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--compressors", type=int, default=10)
    parser.add_argument("--days", type=float, default=7)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--skip-db", action="store_true", help="stop before the operational database")
    parser.add_argument("--processes", type=int, default=3, help="whole processes per side")
    parser.add_argument("--against", metavar="SRC", help="another checkout's src/ to measure alternately")
    parser.add_argument("--imports", action="store_true", help="also each side's -X importtime")
    parser.add_argument(
        "--collector", action="store_true", help="also each side's garbage collections (--processes each)"
    )
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="altaviz-bench-"))
    try:
        landing = root / "source" / "landing"
        simulated = simulate(SimulationConfig(compressors=args.compressors, days=args.days), landing)
        print(
            f"fleet: {args.compressors:,} compressors × {args.days:g} days "
            f"= {simulated.readings_rows:,} readings"
        )
        if os.environ.get("PYTHONDONTWRITEBYTECODE"):
            # about 0.1 CPU s of a seed-size process (2026-12-07), on both sides of --against
            print("PYTHONDONTWRITEBYTECODE is set: every process compiles the project's modules afresh")
        reference = statistics.median(reference_seconds(landing) for _ in range(args.repeat))
        runs = [in_process_seconds(landing, root, args.skip_db) for _ in range(args.repeat)]
        pipeline = statistics.median(seconds for seconds, _ in runs)
        processes = whole_processes(landing, root, args.skip_db, args.processes, args.against)
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        target = "landing → bronze → silver → gold" + ("" if args.skip_db else " → database (SQLite)")
        print(f"report: {runs[-1][1]}")
        print(f"pipeline, in process ({target}): {pipeline:.3f} s median of {args.repeat}")
        medians = {}
        for name, measured in processes.items():
            whole = statistics.median(wall for wall, _ in measured)
            whole_cpu = statistics.median(cpu for _, cpu in measured)
            medians[name] = (whole, whole_cpu)
            each = ", ".join(f"{wall:.2f}/{cpu:.2f}" for wall, cpu in measured)
            print(
                f"whole `altaviz pipeline run` process, {name}, incl. interpreter start and imports: "
                f"{whole:.3f} s, {whole_cpu:.2f} CPU s (median of {len(measured)}: wall/CPU {each}; "
                "target at the seed size ≤ 1 s)"
            )
        if len(medians) == 2:
            (wall_a, cpu_a), (wall_b, cpu_b) = medians.values()
            print(f"ratio this checkout / reference: wall {wall_a / wall_b:.2f}×, CPU {cpu_a / cpu_b:.2f}×")
        if args.imports:
            print_imports(landing, root, args.skip_db, args.against)
        if args.collector:
            print_collector(landing, root, args.skip_db, args.processes, args.against)
        print(f"reference, DuckDB hourly GROUP BY over the same landing files: {reference:.3f} s")
        print(f"ratio pipeline / reference: {pipeline / reference:.1f}×")
        print(f"readings per second (in process): {simulated.readings_rows / pipeline:,.0f}")
        print(f"peak RSS of this script: {peak_mb:,.0f} MB")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
