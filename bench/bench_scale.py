"""How pipeline time grows with the data: the same fleet shape at 1×, 4× and 16× the compressors.

Each size runs landing → bronze → silver → gold in process (no database) on a fresh lake. Linear
growth means time per reading stays flat; the last column is each size's time against 1× divided by
its size factor (≤ 1.0: no worse than linear). CPU seconds (all threads of this process and of its ended
children, the health stage's workers) are printed too, the steadier figure on a shared machine.

    python bench/bench_scale.py                  # 47 compressors × 30 days at 1× (203,040 readings)
    python bench/bench_scale.py --compressors 100 --days 7
"""

import argparse
import resource
import shutil
import tempfile
import time
from pathlib import Path

from altaviz.config import Settings
from altaviz.pipeline.run import PipelineOptions, run_pipeline
from altaviz.simulator import SimulationConfig, simulate

FACTORS = (1, 4, 16)


def cpu_seconds() -> float:
    """This process's CPU seconds (all threads) plus those of its ended children: the health stage's
    worker processes (`StepPool`) step a full run's batches and end with the stage."""
    return sum(
        usage.ru_utime + usage.ru_stime
        for usage in (resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN))
    )


def pipeline_seconds(compressors: int, days: float, root: Path) -> tuple[int, float, float]:
    """Readings, wall seconds and CPU seconds of a full run on a fresh lake."""
    data_dir = root / f"x{compressors}"
    readings = simulate(
        SimulationConfig(compressors=compressors, days=days), data_dir / "landing"
    ).readings_rows
    start, cpu = time.perf_counter(), cpu_seconds()
    run_pipeline(Settings(data_dir=data_dir), PipelineOptions(skip_db=True))
    seconds, cpu = time.perf_counter() - start, cpu_seconds() - cpu
    shutil.rmtree(data_dir, ignore_errors=True)
    return readings, seconds, cpu


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--compressors", type=int, default=47)
    parser.add_argument("--days", type=float, default=30)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="altaviz-scale-"))
    try:
        base: tuple[float, float] | None = None
        print(
            f"{'size':>5} {'readings':>12} {'seconds':>9} {'µs/reading':>11} {'vs 1× / size':>13} "
            f"{'CPU s':>8} {'CPU vs 1× / size':>17}"
        )
        for factor in FACTORS:
            readings, seconds, cpu = pipeline_seconds(args.compressors * factor, args.days, root)
            base = base or (seconds, cpu)
            print(
                f"{factor:>4}× {readings:>12,} {seconds:>9.2f} {seconds / readings * 1e6:>11.2f} "
                f"{seconds / base[0] / factor:>13.2f} {cpu:>8.1f} {cpu / base[1] / factor:>17.2f}",
                flush=True,
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
