"""Silver's and gold's steps of a full run, per step, against a reference tree measured alternately.

The full run (landing → bronze → silver → gold, no database) runs in a process of its own with the
health stage switched off (HealthStage.full a no-op, as bench_health.py does), once per source tree and
round, the trees alternating in the same minutes (`--reference` an export of the base commit:
`git archive main | tar -x -C /tmp/base`). Printed per run: wall and CPU seconds (all threads) of the
whole run and of its silver and gold stages, and of every SQL step (a per-compressor step, streamed,
is counted in the SQL step that reads it, with the sort feeding it), the process's peak RSS, and the
load average before it.
`--check` keeps the first round's two lakes and compares every lake table of the two (`EXCEPT ALL` both
ways, without the columns that depend on when the run ran), with the largest relative difference of
each float column where rows differ.

    python bench/bench_lake_steps.py --reference /tmp/base/src --rounds 2 --check
    python bench/bench_lake_steps.py --compressors 470 --days 30 --profile out/   # DuckDB's profiles
"""

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def child(landing: Path, work: Path, profile: Path | None) -> dict[str, Any]:
    """One full run in this process; per-step and per-stage wall and CPU seconds."""
    from contextlib import contextmanager

    from altaviz.config import Settings
    from altaviz.pipeline import engine as engine_module
    from altaviz.pipeline import run as run_module
    from altaviz.pipeline.health import HealthStage
    from altaviz.pipeline.run import PipelineOptions, run_pipeline

    HealthStage.full = lambda self, only=None: None  # type: ignore[method-assign]
    steps: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    stages: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])

    def timed_call(name_of: Any, original: Any, profiled: bool = False) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            name = name_of(*args, **kwargs)
            con = args[0].con if profiled else None
            if con is not None and profile is not None:
                con.execute("PRAGMA enable_profiling = 'json'")
                con.execute(f"PRAGMA profiling_output = '{profile}/{name}-{len(steps)}.json'")
            wall, cpu = time.perf_counter(), cpu_seconds()
            try:
                return original(*args, **kwargs)
            finally:
                steps[name][0] += time.perf_counter() - wall
                steps[name][1] += cpu_seconds() - cpu
                if con is not None and profile is not None:
                    con.execute("PRAGMA disable_profiling")

        return call

    engine_module.DuckDBEngine.run = timed_call(  # type: ignore[method-assign]
        lambda self, step, *a, **k: step, engine_module.DuckDBEngine.run, profiled=True
    )
    # a per-compressor step's query runs (its sort, up to the first batch) when the step is bound
    engine_module.DuckDBEngine.map_compressors = timed_call(  # type: ignore[method-assign]
        lambda self, name, *a, **k: f"(sort for {name})", engine_module.DuckDBEngine.map_compressors
    )
    # what run.py calls besides the steps: named as it imported them
    for attribute, label in (
        ("set_recent_apart", "(recent apart)"),
        ("copy_parquet", "(other copies)"),
        ("fleet_chunks", "(fleet chunks)"),
    ):
        shipped = vars(run_module)[attribute]
        vars(run_module)[attribute] = timed_call(lambda *a, label=label, **k: label, shipped)
    original_timed = run_module._timed

    @contextmanager
    def timed(name: str, timings: dict[str, float], notify: Any) -> Any:
        cpu = cpu_seconds()
        with original_timed(name, timings, notify):
            yield
        stages[name][1] += cpu_seconds() - cpu

    run_module._timed = timed
    shipped_whole = engine_module.whole_compressors

    def whole(batches: Any, function: Any) -> Any:
        """The per-compressor function's own CPU (this thread), apart from its SQL step's."""
        name = "  " + getattr(
            function, "__name__", getattr(getattr(function, "func", None), "__name__", "step")
        )

        def counted(table: Any) -> Any:
            cpu = time.thread_time()
            try:
                return function(table)
            finally:
                steps[name][1] += time.thread_time() - cpu

        return shipped_whole(batches, counted)

    engine_module.whole_compressors = whole
    (work / "landing").parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(landing, work / "landing")
    settings = Settings(data_dir=work)
    wall, cpu = time.perf_counter(), cpu_seconds()
    result = run_pipeline(settings, PipelineOptions(skip_db=True))
    wall, cpu = time.perf_counter() - wall, cpu_seconds() - cpu
    for name, seconds in result.stage_seconds.items():
        stages[name][0] = seconds
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux
    return {"wall": wall, "cpu": cpu, "peak_gb": peak, "stages": dict(stages), "steps": dict(steps)}


# what depends on when a run ran, not on its data (gold/row_counts' `file` names the run's version)
RUN_TIME_COLUMNS = {"_loaded_at", "as_of", "freshness", "freshness_passed", "file"}


def compare_lakes(a: Path, b: Path) -> list[str]:
    """Every lake table of two runs' lakes, row for row (EXCEPT ALL both ways, without RUN_TIME_COLUMNS);
    where rows differ, the largest relative difference of each float column, rows matched by their
    key columns (the text and time columns)."""
    import duckdb

    from altaviz.pipeline.engine import read_parquet
    from altaviz.pipeline.lake import Lake

    def tables(root: Path) -> dict[str, list[Path]]:
        lake = Lake(root)
        manifest = lake.read_manifest()
        return {name: lake.table_files(name, manifest) for name in manifest.tables}

    ta, tb = tables(a), tables(b)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")
    lines = []
    for name in sorted(set(ta) | set(tb)):
        if not ta.get(name) or not tb.get(name):
            lines.append(f"  {name}: in one lake only or without files")
            continue
        read = {"a": read_parquet(ta[name]), "b": read_parquet(tb[name])}
        described = con.execute(f"DESCRIBE SELECT * FROM {read['a']}").fetchall()
        kept = [(column, kind) for column, kind, *_ in described if column not in RUN_TIME_COLUMNS]
        columns = ", ".join(column for column, _ in kept)
        a_rows, b_rows = (f"SELECT {columns} FROM {read[side]}" for side in ("a", "b"))
        only_a = con.execute(f"SELECT COUNT(*) FROM ({a_rows} EXCEPT ALL {b_rows})").fetchall()[0][0]
        only_b = con.execute(f"SELECT COUNT(*) FROM ({b_rows} EXCEPT ALL {a_rows})").fetchall()[0][0]
        line = f"  {name}: {only_a} rows only in the branch's, {only_b} only in the reference's"
        floats = [column for column, kind in kept if kind == "DOUBLE"]
        keys = [column for column, kind in kept if kind in ("VARCHAR", "TIMESTAMP WITH TIME ZONE")]
        if (only_a or only_b) and floats and keys:
            on = " AND ".join(f"x.{k} = y.{k}" for k in keys)
            largest = ", ".join(
                f"MAX(ABS(x.{c} - y.{c}) / NULLIF(GREATEST(ABS(x.{c}), ABS(y.{c})), 0))" for c in floats
            )
            others = ", ".join(column for column, _ in kept if column not in floats)
            others_a, others_b = (f"SELECT {others} FROM {read[side]}" for side in ("a", "b"))
            differing = con.execute(f"SELECT COUNT(*) FROM ({others_a} EXCEPT ALL {others_b})").fetchall()[0][
                0
            ]
            worst = max(
                (
                    v
                    for v in con.execute(
                        f"SELECT {largest} FROM {read['a']} AS x JOIN {read['b']} AS y ON {on}"
                    ).fetchall()[0]
                    if v is not None
                ),
                default=0.0,
            )
            line += (
                f"; the other columns differ in {differing} rows, the floats by at most {worst:.1e} relative"
            )
        lines.append(line)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--compressors", type=int, default=470)
    parser.add_argument("--days", type=float, default=30)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--reference", type=Path, help="the src directory of the tree to compare with")
    parser.add_argument("--landing", type=Path, help="a simulated landing zone to reuse (kept)")
    parser.add_argument("--profile", type=Path, help="write DuckDB's JSON profile of each step here")
    parser.add_argument("--check", action="store_true", help="compare the two trees' lake tables (round 0)")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child is not None:  # one run, in this process
        assert args.landing is not None
        print(json.dumps(child(args.landing, args.child, args.profile)))
        return

    root = Path(tempfile.mkdtemp(prefix="altaviz-lake-steps-"))
    try:
        landing = args.landing
        if landing is None or not landing.exists():
            from altaviz.simulator import SimulationConfig, simulate

            landing = landing or root / "landing"
            simulate(SimulationConfig(compressors=args.compressors, days=args.days), landing / "altaviz-demo")
        here = Path(__file__).resolve().parents[1] / "src"
        trees = [("branch", here)] + ([("reference", args.reference.resolve())] if args.reference else [])
        if args.profile is not None:
            args.profile.mkdir(parents=True, exist_ok=True)
        for round_ in range(args.rounds):
            for label, src in trees if round_ % 2 == 0 else trees[::-1]:
                work = root / f"{label}-{round_}"
                load = os.getloadavg()[0]
                command = [sys.executable, __file__, "--child", str(work), "--landing", str(landing)]
                if args.profile is not None:
                    command += ["--profile", str(args.profile.resolve())]
                env = {**os.environ, "PYTHONPATH": str(src)}
                env.pop("DATABASE_URL", None)
                done = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
                figures = json.loads(done.stdout.strip().splitlines()[-1])
                if not (args.check and round_ == 0):
                    shutil.rmtree(work, ignore_errors=True)
                stages = ", ".join(f"{n} {w:.1f} s / {c:.1f} CPU" for n, (w, c) in figures["stages"].items())
                print(
                    f"round {round_} {label:9} (load {load:.1f}): {figures['wall']:.1f} s, "
                    f"{figures['cpu']:.1f} CPU s, peak RSS {figures['peak_gb']:.2f} GB; {stages}",
                    flush=True,
                )
                ranked = sorted(figures["steps"].items(), key=lambda item: -item[1][1])
                print("    " + ", ".join(f"{n} {w:.1f}/{c:.1f}" for n, (w, c) in ranked), flush=True)
            if args.check and round_ == 0 and args.reference:
                for line in compare_lakes(root / "branch-0" / "lake", root / "reference-0" / "lake"):
                    print(line, flush=True)
                for label, _ in trees:
                    shutil.rmtree(root / f"{label}-0", ignore_errors=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
