"""DuckDB against Spark local mode on the same landing files, each as a whole `altaviz pipeline run`
process (interpreter, imports, JVM start for Spark, bronze → silver → gold, no database).

    python bench/bench_engines.py                     # seed size: 10 compressors × 7 days
    python bench/bench_engines.py --compressors 470 --days 30
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from altaviz.simulator import SimulationConfig, simulate


def run_once(landing: Path, root: Path, engine: str) -> float:
    data_dir = root / engine
    shutil.rmtree(data_dir, ignore_errors=True)
    shutil.copytree(landing, data_dir / "landing")
    env = {**os.environ, "ALTAVIZ_DATA_DIR": str(data_dir), "SPARK_LOCAL_IP": "127.0.0.1"}
    command = [sys.executable, "-m", "altaviz", "pipeline", "run", "--skip-db", "--engine", engine]
    start = time.perf_counter()
    subprocess.run(command, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--compressors", type=int, default=10)
    parser.add_argument("--days", type=float, default=7)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="altaviz-engines-"))
    try:
        landing = root / "source" / "landing"
        simulated = simulate(SimulationConfig(compressors=args.compressors, days=args.days), landing)
        print(
            f"fleet: {args.compressors:,} compressors × {args.days:g} days "
            f"= {simulated.readings_rows:,} readings"
        )
        duck = min(run_once(landing, root, "duckdb") for _ in range(args.repeat))
        spark = min(run_once(landing, root, "spark") for _ in range(args.repeat))
        print(f"duckdb, whole process (best of {args.repeat}): {duck:.2f} s")
        print(f"spark local[*], whole process (best of {args.repeat}): {spark:.2f} s")
        print(f"ratio spark / duckdb: {spark / duck:.1f}× (target ≥ 20× at seed size)")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
