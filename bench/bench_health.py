"""The health stage's added cost (issue 19: ≤ 15 % of a full run without it, ≤ 0.5 s on an incremental hour).

The fleet (default 470 compressors × 30 days; `--scenario realistic` for that scenario) is simulated
and its last hour held back (bench_incremental.hold_back_last_hour). The same landing is then run
twice in this process, each time as a full run (landing → bronze → silver → gold, no database)
followed by an incremental run of the held-back hour: once with the health stage switched off (the
reference: HealthStage.full/incremental replaced by no-ops here, nothing else changed) and once as
shipped. Printed: wall and CPU seconds of each run (CPU of all threads, steadier than wall on a shared
machine), the added time and its ratio to the reference, the health stage's own wall time as the
pipeline measured it and its own CPU seconds (all threads, HealthStage.full/incremental timed here),
and the added CPU per compressor-hour processed.

    python bench/bench_health.py
    python bench/bench_health.py --compressors 4700 --days 30
    python bench/bench_health.py --compressors 4700 --days 7   # an incremental hour at full fleet size
    python bench/bench_health.py --compressors 4700 --days 7 --against /tmp/main/src --rounds 4

`--against SRC` (another checkout's src/, e.g. main's) compares the health stage with that checkout's
instead of measuring it against the pipeline without it: each side builds its own month by a full run
(its state blobs are in its own format) in a process of its own, then the held-back hour is run on a
fresh hard-linked copy of each side's month, the sides alternating, `--rounds` times each (imports
excluded; the health stage's wall time as the pipeline measured it and its CPU seconds, all threads).
On a shared machine the same-minutes ratio is the figure to trust. `--full-rounds N` builds each
side's month N times, alternately (the full run's figures; the last month is the one kept).
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
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench_full_run import cpu_seconds
from bench_incremental import hold_back_last_hour

from altaviz.config import Settings
from altaviz.pipeline.health import HealthStage
from altaviz.pipeline.run import PipelineOptions, run_pipeline
from altaviz.simulator import SimulationConfig, simulate


def cpu_all() -> float:
    """CPU seconds of this process (all threads) and of its ended children: a full run's health step
    runs in worker processes (HealthStage.workers), which have ended when the stage returns."""
    return cpu_seconds() + cpu_seconds(resource.RUSAGE_CHILDREN)


STAGE_CPU: list[float] = []  # the health stage's CPU seconds in the current run
_DEPTH = [0]  # an incremental pass may call full(): counted once


def _cpu_timed(method: Callable[..., None]) -> Callable[..., None]:
    def timed(*args: Any, **kwargs: Any) -> None:
        cpu = cpu_all()
        _DEPTH[0] += 1
        try:
            method(*args, **kwargs)
        finally:
            _DEPTH[0] -= 1
            if not _DEPTH[0]:
                STAGE_CPU.append(cpu_all() - cpu)

    return timed


def timed_run(settings: Settings) -> tuple[float, float, dict[str, float]]:
    STAGE_CPU.clear()
    wall, cpu = time.perf_counter(), cpu_all()
    result = run_pipeline(settings, PipelineOptions(skip_db=True))
    stages = {**result.stage_seconds, "health_cpu": sum(STAGE_CPU)}
    return time.perf_counter() - wall, cpu_all() - cpu, stages


def full_then_hour(landing: Path, held: Path, data_dir: Path) -> dict[str, Any]:
    shutil.copytree(landing, data_dir / "landing")
    settings = Settings(data_dir=data_dir)
    full = timed_run(settings)
    readings = data_dir / "landing" / "altaviz-demo" / "readings"
    shutil.copy(held, readings / "held-back-hour.parquet")
    hour = timed_run(settings)
    return {"full": full, "hour": hour}


def child(data_dir: Path) -> None:
    """One run on `data_dir` (the health stage CPU-timed), as JSON: wall, CPU, stages."""
    shipped = (HealthStage.full, HealthStage.incremental)
    HealthStage.full = _cpu_timed(shipped[0])  # type: ignore[method-assign]
    HealthStage.incremental = _cpu_timed(shipped[1])  # type: ignore[method-assign]
    print(json.dumps(timed_run(Settings(data_dir=data_dir))))


def in_process(data_dir: Path, src: str | None) -> tuple[float, float, dict[str, float]]:
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = os.pathsep.join([src, *filter(None, [os.environ.get("PYTHONPATH")])])
    command = [sys.executable, __file__, "--child", str(data_dir)]
    done = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
    wall, cpu, stages = json.loads(done.stdout.strip().splitlines()[-1])
    return wall, cpu, stages


def alternate(landing: Path, held: Path, work: Path, against: str, rounds: int, full_rounds: int = 1) -> None:
    """Each side's month by its own full run (`full_rounds` times, alternately: the last one's month is
    kept), then the held-back hour on copies of it, alternately."""
    sides: dict[str, str | None] = {"this checkout": None, f"reference ({against})": against}
    months: dict[str, Path] = {}
    for _ in range(full_rounds):
        for number, (name, src) in enumerate(sides.items()):
            months[name] = work / f"month-{number}"
            shutil.rmtree(months[name], ignore_errors=True)
            shutil.copytree(landing, months[name] / "landing")
            wall, cpu, stages = in_process(months[name], src)
            print(
                f"full run, {name}: {wall:.2f} s wall, {cpu:.2f} s CPU; health stage "
                f"{stages.get('health', 0):.2f} s wall, {stages['health_cpu']:.2f} s CPU "
                f"({stages['health_cpu'] / max(cpu - stages['health_cpu'], 1e-9):.0%} of the other stages' "
                f"CPU); load average {os.getloadavg()[0]:.1f}",
                flush=True,
            )
    hours: dict[str, list[tuple[float, float, dict[str, float]]]] = {name: [] for name in sides}
    loads: list[float] = []
    for _ in range(rounds):
        for name, src in sides.items():
            run_dir = work / "hour"
            shutil.rmtree(run_dir, ignore_errors=True)
            shutil.copytree(months[name], run_dir, copy_function=os.link)  # lake files are never rewritten
            shutil.copy(held, run_dir / "landing" / "altaviz-demo" / "readings" / "held-back-hour.parquet")
            hours[name].append(in_process(run_dir, src))
            loads.append(os.getloadavg()[0])
            shutil.rmtree(run_dir, ignore_errors=True)
    medians = {}
    for name, runs in hours.items():
        health = [(r[2].get("health", 0.0), r[2]["health_cpu"]) for r in runs]
        medians[name] = [statistics.median(v) for v in ([r[0] for r in runs], [r[1] for r in runs])]
        medians[name] += [statistics.median(v) for v in zip(*health, strict=True)]
        print(
            f"hour, {name}: median run {medians[name][0]:.2f} s wall {medians[name][1]:.2f} s CPU; health "
            f"stage {medians[name][2]:.2f} s wall {medians[name][3]:.2f} s CPU (each run, health wall/CPU: "
            + ", ".join(f"{w:.2f}/{c:.2f}" for w, c in health)
            + ")"
        )
    if loads:
        print(f"load average during the hours: {min(loads):.1f}–{max(loads):.1f}")
    (_, _, wall_a, cpu_a), (_, _, wall_b, cpu_b) = medians.values()
    print(f"health stage this checkout / reference: wall {wall_a / wall_b:.2f}×, CPU {cpu_a / cpu_b:.2f}×")


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        child(Path(sys.argv[2]))
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--compressors", type=int, default=470)
    parser.add_argument("--days", type=float, default=30)
    parser.add_argument("--scenario", choices=("default", "realistic"), default="default")
    parser.add_argument("--keep", type=Path, help="work here and keep the files")
    parser.add_argument("--against", metavar="SRC", help="another checkout's src/ to compare the stage with")
    parser.add_argument("--rounds", type=int, default=3, help="with --against: hours measured per side")
    parser.add_argument(
        "--full-rounds", type=int, default=1, help="with --against: full runs per side (alternating)"
    )
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="altaviz-health-bench-"))
    landing = work / "landing"
    simulate(
        SimulationConfig(compressors=args.compressors, days=args.days, seed=7, scenario=args.scenario),
        landing / "altaviz-demo",
    )
    held = hold_back_last_hour(landing / "altaviz-demo" / "readings")
    if args.against is not None:
        try:
            alternate(landing, held, work, args.against, args.rounds, args.full_rounds)
        finally:
            if args.keep is None:
                shutil.rmtree(work, ignore_errors=True)
        return

    shipped = (HealthStage.full, HealthStage.incremental)
    HealthStage.full = lambda self, only=None: None  # type: ignore[method-assign]
    HealthStage.incremental = lambda self, changed: None  # type: ignore[method-assign]
    try:
        without = full_then_hour(landing, held, work / "without")
    finally:
        HealthStage.full, HealthStage.incremental = shipped  # type: ignore[method-assign]
    HealthStage.full = _cpu_timed(shipped[0])  # type: ignore[method-assign]
    HealthStage.incremental = _cpu_timed(shipped[1])  # type: ignore[method-assign]
    try:
        with_health = full_then_hour(landing, held, work / "with")
    finally:
        HealthStage.full, HealthStage.incremental = shipped  # type: ignore[method-assign]

    print(f"{args.compressors} compressors × {args.days:g} days, {args.scenario} scenario")
    compressor_hours = {"full": args.compressors * args.days * 24, "hour": args.compressors}
    for run in ("full", "hour"):
        (wall_a, cpu_a, _), (wall_b, cpu_b, stages) = without[run], with_health[run]
        print(
            f"{run:>5}: without health {wall_a:7.2f} s wall {cpu_a:7.2f} s CPU | with {wall_b:7.2f} s wall "
            f"{cpu_b:7.2f} s CPU | added {wall_b - wall_a:+7.2f} s wall ({(wall_b - wall_a) / wall_a:+.0%}), "
            f"{cpu_b - cpu_a:+7.2f} s CPU ({(cpu_b - cpu_a) / cpu_a:+.0%}); health stage "
            f"{stages.get('health', 0.0):.2f} s wall, {stages['health_cpu']:.2f} s CPU; "
            "added CPU per compressor-hour "
            f"{(cpu_b - cpu_a) / compressor_hours[run] * 1e6:.0f} µs"
        )
    if args.keep is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
