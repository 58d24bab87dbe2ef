"""Simulator throughput: a large fleet (default 4,700 compressors × 30 days ≈ 20.3 M readings) against
the default 10-compressor, 7-day demo run measured in the same process as the reference, then the same
large fleet in the realistic scenario (--scenario realistic) against the default scenario's large run.

    .venv/bin/python bench/bench_simulator.py [--compressors N] [--days D] [--faults] [--no-realistic]

Peak RSS is the process maximum (resource.getrusage), reached by the large run.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from altaviz.simulator import FAULT_KINDS, SimulationConfig, simulate

START = datetime(2026, 1, 1, tzinfo=UTC)


def timed(config: SimulationConfig) -> tuple[int, float]:
    with tempfile.TemporaryDirectory(prefix="altaviz-bench-") as landing:
        began = time.perf_counter()
        result = simulate(config, Path(landing))
        return result.readings_rows, time.perf_counter() - began


def peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 / 1024 if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--compressors", type=int, default=4700)
    parser.add_argument("--days", type=float, default=30)
    parser.add_argument("--faults", action="store_true", help="inject every fault kind in the large run")
    parser.add_argument("--no-realistic", action="store_true", help="skip the realistic scenario's run")
    args = parser.parse_args()

    timed(SimulationConfig(start=START))  # warm-up: imports and first-call costs out of the reference
    ref_rows, ref_seconds = timed(SimulationConfig(start=START))
    faults = frozenset(FAULT_KINDS) if args.faults else frozenset()
    rows, seconds = timed(
        SimulationConfig(compressors=args.compressors, days=args.days, start=START, faults=faults)
    )

    ref_rate, rate = ref_rows / ref_seconds, rows / seconds
    print(f"reference  10 compressors × 7 days: {ref_rows:,} rows {ref_seconds:.3f} s {ref_rate:,.0f} rows/s")
    print(
        f"large      {args.compressors} compressors × {args.days:g} days"
        f"{' (all faults)' if args.faults else ''}: {rows:,} rows {seconds:.2f} s {rate:,.0f} rows/s"
    )
    print(f"peak RSS   {peak_rss_mb():,.0f} MB")
    print(
        f"ratio      large/reference: {rows / ref_rows:,.0f}× rows in {seconds / ref_seconds:,.0f}× time "
        f"(throughput {rate / ref_rate:.1f}×)"
    )
    if args.no_realistic:
        return
    real_rows, real_seconds = timed(
        SimulationConfig(
            compressors=args.compressors, days=args.days, start=START, faults=faults, scenario="realistic"
        )
    )
    print(
        f"realistic  {args.compressors} compressors × {args.days:g} days: {real_rows:,} rows "
        f"{real_seconds:.2f} s {real_rows / real_seconds:,.0f} rows/s"
    )
    print(f"ratio      realistic/default large run: {real_seconds / seconds:.2f}× time")
    print(f"peak RSS   {peak_rss_mb():,.0f} MB (after the realistic run)")


if __name__ == "__main__":
    main()
