"""One new hour on top of a month: an incremental run against the full run that built the month.

The fleet (default 4,700 compressors × 30 days) is simulated, its last hour held back; a full run
(landing → bronze → silver → gold, no database) builds the lake, then the held-back hour lands
(28,200 readings at the default size) and an incremental run folds it in. The ratio is the
incremental run's time against the full run's, both measured here. Target (issue 21): ≤ 1 s.
Each run also prints its CPU seconds (all threads), steadier than wall time on a shared machine: on
2 cores a run cannot take less wall time than half its CPU time.

    python bench/bench_incremental.py
    python bench/bench_incremental.py --compressors 470 --days 30 --keep /tmp/inc
    python bench/bench_incremental.py --against /tmp/main/src --rounds 3
    python bench/bench_incremental.py --keep /tmp/inc --against /tmp/main/src --reuse

`--reuse` (with `--keep`) starts from the month an earlier run with the same `--keep` built and left
there (its lake and held-back hours), without simulating or running the full run again: at full size
that is most of the bench's time. The kept month is not changed (each run works on a hard-linked copy).

`--ends-at HH:MM` ends the simulated month at that UTC time today (or yesterday, if later than now)
instead of now: `--ends-at 01:30 --hour 1` times an hour whose recomputation starts just after
midnight, so its look-back reads the day before.

`--against SRC` (another checkout's src/, e.g. an export of main) measures one held-back hour instead
(`--hour`, default the first; the hours before it are folded in first, untimed, by the same code), on
the same month (a hard-linked copy of the lake the full run built, fresh for each run), alternately
with this checkout and with SRC, `--rounds` times each, each run in a process of its own (timed around
`run_pipeline`, imports excluded): on a shared machine the ratio is the figure to trust.

`--one-thread` (with `--against`) runs DuckDB on one thread (PIPELINE_THREADS=1), so that every
statement's CPU seconds are those of the thread that runs it, and prints for each side `two idle cores`:
the main thread's CPU seconds plus what of the health stage's thread's (it runs beside gold since
session 11) the main thread's work meanwhile does not cover: the wall time an otherwise idle 2-core
machine would give, whatever the load while it is measured (an estimate: it leaves out the GIL's
contention, and DuckDB's second thread).
"""

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from altaviz.config import Settings
from altaviz.pipeline.run import PipelineOptions, run_pipeline
from altaviz.simulator import SimulationConfig, simulate


def hold_back_last_hour(readings_dir: Path) -> Path:
    """Move the last hour of readings out of the landing zone; returns the file holding it."""
    files = sorted(readings_dir.glob("*.parquet"))
    newest = max(pc.max(pq.read_table(f, columns=["timestamp"])["timestamp"]).as_py() for f in files)
    cut = newest - timedelta(hours=1)
    held = readings_dir.parent / "held-back.parquet"
    hour: list[pa.Table] = []
    for path in files:
        table = pq.read_table(path)
        late = pc.greater(table["timestamp"], pa.scalar(cut, table["timestamp"].type))
        if pc.any(late).as_py():
            hour.append(table.filter(late))
            pq.write_table(table.filter(pc.invert(late)), path)
    pq.write_table(pa.concat_tables(hour), held)
    return held


def cpu_seconds() -> float:
    """This process's CPU seconds and its ended children's (the health stage's worker processes)."""
    return sum(
        usage.ru_utime + usage.ru_stime
        for usage in (resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN))
    )


def timed_run(data_dir: Path) -> tuple[float, dict[str, float]]:
    start = time.perf_counter()
    result = run_pipeline(Settings(data_dir=data_dir), PipelineOptions(skip_db=True))
    return time.perf_counter() - start, result.summary.stage_seconds


def measured_run(data_dir: Path) -> tuple[float, float, dict[str, float]]:
    """Wall seconds, CPU seconds (all threads; on a shared machine the steadier figure) and stages."""
    cpu = cpu_seconds()
    seconds, stages = timed_run(data_dir)
    return seconds, cpu_seconds() - cpu, stages


# One incremental run in a process of its own (with another checkout first on PYTHONPATH, say): its
# wall and CPU seconds around run_pipeline, the stages' wall seconds and the CPU seconds of the
# incremental pass's silver and of the rest of the pass (gold, health, the summaries and the commit:
# since 2026-12-07, session 11, the health stage runs beside gold and the summaries, so the process's
# CPU seconds around one of them would hold the others'), timed around their methods in both
# checkouts, as JSON.
CHILD = """
import json, os, resource, sys, threading, time
from altaviz.config import Settings
from altaviz.pipeline import health, incremental, run
from altaviz.pipeline.run import PipelineOptions, run_pipeline
usage = lambda: sum(sum(resource.getrusage(w)[:2]) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
stage_cpu = {}
def timed(owner, name, stage):
    method = getattr(owner, name)
    def measured(*args, **kwargs):
        before = usage()
        try:
            return method(*args, **kwargs)
        finally:
            stage_cpu[stage] = stage_cpu.get(stage, 0.0) + usage() - before
    setattr(owner, name, measured)
timed(incremental.IncrementalRun, "silver", "silver")
timed(run._Run, "_one_pass", "pass")
# each thread's CPU seconds: the health stage's when it runs in a thread of its own, and the main
# thread's while it does (from run._Beside.start to .finish)
main, beside = threading.get_ident(), {"health": 0.0, "window": 0.0}
def thread_timed(owner, name, measure):
    method = getattr(owner, name)
    def measured(*args, **kwargs):
        before = time.thread_time()
        try:
            return method(*args, **kwargs)
        finally:
            measure(time.thread_time() - before)
    setattr(owner, name, measured)
def health_thread(seconds):
    beside["health"] += 0.0 if threading.get_ident() == main else seconds
thread_timed(health.HealthStage, "incremental", health_thread)
if hasattr(run, "_Beside"):
    def window(method):
        def marked(self, *args, **kwargs):
            beside["window"] += time.thread_time() * (1 if method == "finish" else -1)
            return getattr(run._Beside, "_" + method)(self, *args, **kwargs)
        setattr(run._Beside, "_" + method, getattr(run._Beside, method))
        setattr(run._Beside, method, marked)
    window("start")
    window("finish")
cpu, start, main_cpu = usage(), time.perf_counter(), time.thread_time()
result = run_pipeline(Settings(data_dir=sys.argv[1]), PipelineOptions(skip_db=True))
main_cpu = time.thread_time() - main_cpu
stage_cpu["after silver"] = stage_cpu.pop("pass", 0.0) - stage_cpu.get("silver", 0.0)
if os.environ.get("PIPELINE_THREADS") == "1":  # every statement on the thread that runs it: see --one-thread
    stage_cpu["two idle cores"] = main_cpu + max(0.0, beside["health"] - beside["window"])
print(json.dumps([time.perf_counter() - start, usage() - cpu, result.summary.stage_seconds, stage_cpu]))
"""


def linked_copy(source: Path, target: Path) -> None:
    """A hard-linked copy of a month (the lake's files are never rewritten), less the lake's lock file:
    linked, every copy would lock the same file, and runs on two copies at once would refuse."""
    shutil.copytree(source, target, copy_function=os.link, ignore=shutil.ignore_patterns(".lock"))


def alternate(data_dir: Path, hours: list[Path], against: str, rounds: int, one_thread: bool = False) -> None:
    """The last of `hours` on fresh hard-linked copies of the month (the others folded in first), by
    this checkout and by `against` in turn (with `one_thread`, DuckDB on one thread: see --one-thread)."""
    month = data_dir.with_name(data_dir.name + "-month")
    shutil.rmtree(month, ignore_errors=True)
    linked_copy(data_dir, month)
    sides = {"this checkout": None, f"reference ({against})": against}
    Run = tuple[float, float, dict[str, float], dict[str, float]]  # wall, CPU, stages, passes' CPU
    measured: dict[str, list[Run]] = {name: [] for name in sides}
    for _ in range(rounds):
        for name, src in sides.items():
            run_dir = data_dir.with_name(data_dir.name + "-hour")
            shutil.rmtree(run_dir, ignore_errors=True)
            linked_copy(month, run_dir)
            env = dict(os.environ, **({"PIPELINE_THREADS": "1"} if one_thread else {}))
            if src is not None:
                env["PYTHONPATH"] = os.pathsep.join([src, *filter(None, [os.environ.get("PYTHONPATH")])])
            for hour in hours:
                shutil.copy(hour, run_dir / "landing" / "readings" / hour.name)
                command = [sys.executable, "-c", CHILD, str(run_dir)]
                done = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
            measured[name].append(json.loads(done.stdout.strip().splitlines()[-1]))
            shutil.rmtree(run_dir, ignore_errors=True)
    medians = {}
    for name, runs in measured.items():
        medians[name] = (statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs))
        each = ", ".join(f"{wall:.2f}/{cpu:.2f}" for wall, cpu, _, _ in runs)
        stages = {s: round(statistics.median(r[2].get(s, 0.0) for r in runs), 3) for s in runs[-1][2]}
        stage_cpu = {s: round(statistics.median(r[3].get(s, 0.0) for r in runs), 3) for s in runs[-1][3]}
        print(
            f"incremental hour, {name}: {medians[name][0]:.2f} s, {medians[name][1]:.2f} CPU s (median of "
            f"{len(runs)}: wall/CPU {each}; target ≤ 1 s)  stages (s, medians): {stages}  "
            f"CPU s of the incremental passes (medians): {stage_cpu}"
        )
    (wall_a, cpu_a), (wall_b, cpu_b) = medians.values()
    print(f"ratio this checkout / reference: wall {wall_a / wall_b:.2f}×, CPU {cpu_a / cpu_b:.2f}×")
    shutil.rmtree(month, ignore_errors=True)


def kept_hours(data_dir: Path) -> list[Path]:
    """The held-back hours an earlier run left in `data_dir`'s landing zone, in time order (main holds
    them back from the end: hour-1 is the last, so the highest number comes first)."""
    held = sorted((data_dir / "landing").glob("hour-*.parquet"), key=lambda p: -int(p.stem.split("-")[1]))
    if not (data_dir / "lake").is_dir() or not held:
        raise SystemExit(f"{data_dir} holds no month built by an earlier --keep run (lake/, landing/hour-N)")
    return held


def reuse(args: argparse.Namespace) -> None:
    """The incremental hours on the month kept in args.keep, which stays as it is."""
    held = kept_hours(args.keep)
    if args.against is not None:
        alternate(args.keep, held[: args.hour], args.against, args.rounds, args.one_thread)
        return
    run_dir = args.keep.with_name(args.keep.name + "-hours")
    shutil.rmtree(run_dir, ignore_errors=True)
    linked_copy(args.keep, run_dir)
    try:
        for number, path in enumerate(held[: args.repeat], start=1):
            shutil.copy(path, run_dir / "landing" / "readings" / path.name)
            seconds, cpu, stages = measured_run(run_dir)
            print(
                f"incremental hour {number}: {pq.read_metadata(path).num_rows:,} new readings in "
                f"{seconds:.2f} s ({cpu:.2f} CPU s; target ≤ 1 s)  {stages}"
            )
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--compressors", type=int, default=4_700)
    parser.add_argument("--days", type=float, default=30)
    parser.add_argument("--repeat", type=int, default=3, help="incremental hours measured one after another")
    parser.add_argument("--keep", type=Path, help="data directory to use and keep (default: a temporary one)")
    parser.add_argument("--against", metavar="SRC", help="another checkout's src/ to measure alternately")
    parser.add_argument("--rounds", type=int, default=3, help="with --against: runs per side")
    parser.add_argument("--hour", type=int, default=1, help="with --against: the held-back hour timed")
    parser.add_argument(
        "--ends-at", type=clock_time.fromisoformat, metavar="HH:MM", help="the month's end (UTC), not now"
    )
    parser.add_argument(
        "--one-thread",
        action="store_true",
        help="with --against: DuckDB on one thread, and the wall two idle cores would give (see above)",
    )
    parser.add_argument(
        "--reuse", action="store_true", help="with --keep: the month kept there by an earlier run, as it is"
    )
    args = parser.parse_args()
    if args.reuse:
        if args.keep is None:
            parser.error("--reuse needs --keep (the data directory an earlier run kept)")
        reuse(args)
        return

    data_dir = args.keep or Path(tempfile.mkdtemp(prefix="altaviz-incremental-"))
    landing = data_dir / "landing"
    try:
        days = args.days + args.repeat / 24
        start = None
        if args.ends_at is not None:
            now = datetime.now(UTC)
            end = datetime.combine(now.date(), args.ends_at, tzinfo=UTC)
            end -= timedelta(days=1) if end > now else timedelta(0)
            start = end - timedelta(days=days) + timedelta(minutes=SimulationConfig.interval_minutes)
        config = SimulationConfig(compressors=args.compressors, days=days, start=start)
        rows = simulate(config, landing).readings_rows
        held: list[Path] = []
        for _ in range(args.repeat):
            held.insert(0, hold_back_last_hour(landing / "readings"))
            held[0] = held[0].rename(held[0].with_name(f"hour-{len(held)}.parquet"))
        full_seconds, full_cpu, full_stages = measured_run(data_dir)
        peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
        print(
            f"full run: {rows:,} readings in {full_seconds:.1f} s ({full_cpu:.0f} CPU s; peak RSS of this "
            f"process, simulator included, {peak_gb:.1f} GB; targets ≤ 60 s, ≤ 4 GB)  {full_stages}"
        )
        if args.against is not None:
            alternate(data_dir, held[: args.hour], args.against, args.rounds, args.one_thread)
            return
        for number, path in enumerate(held, start=1):
            new_rows = pq.read_metadata(path).num_rows
            shutil.move(path, landing / "readings" / path.name)
            seconds, cpu, stages = measured_run(data_dir)
            print(
                f"incremental hour {number}: {new_rows:,} new readings in {seconds:.2f} s "
                f"({cpu:.2f} CPU s; {seconds / full_seconds:.3f}× the full run; target ≤ 1 s, the health "
                f"stage ≤ 0.5 s of it)  {stages}"
            )
    finally:
        if args.keep is None:
            shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
