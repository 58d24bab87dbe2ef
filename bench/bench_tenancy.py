"""Tenancy overhead: the same readings as 1,000 organizations × 5 compressors and as 1 organization
× 5,000 compressors, one incremental pass each (issue 16 item 9; target ≤ 1.5×).

Both layouts land exactly the same files: one file per group of 5 compressors (a gateway each), a
day of history and then one new hour. "Many" puts each group's files in an organization of its own
(landing/tenant-NNNN/), "one" puts all of them in one organization's landing zone; the group's fleet
file likewise (5 compressors each; "one" has them in a single fleet file). A full run builds each
lake (not timed), then the hour lands and one incremental run (no database) is timed. The ratio is
many / one, both measured here; CPU seconds (all threads) are printed too, steadier than wall time
on a shared machine.

    python bench/bench_tenancy.py
    python bench/bench_tenancy.py --organizations 100 --hours 6 --keep /tmp/tenancy
"""

import argparse
import resource
import shutil
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from altaviz.config import Settings
from altaviz.fleet import SENSOR_NAMES
from altaviz.pipeline.run import PipelineOptions, run_pipeline

PER_GROUP = 5
INTERVAL = timedelta(minutes=10)
START = datetime(2026, 1, 1, tzinfo=UTC)
BASE = {
    "vibration_mms": 3.0,
    "discharge_temp_f": 200.0,
    "suction_pressure_psi": 60.0,
    "discharge_pressure_psi": 1000.0,
    "horsepower_consumption": 1400.0,
    "gas_flow_mcf": 10000.0,
}


def readings(group: int, start: datetime, slots: int, rng: np.random.Generator) -> pa.Table:
    ids = [f"G{group:04d}-C{c}" for c in range(PER_GROUP)]
    times = [start + INTERVAL * i for i in range(slots)]
    n = len(ids) * slots
    columns: dict[str, pa.Array] = {
        "compressor_id": pa.array([c for c in ids for _ in times]),
        "timestamp": pa.array([t for _ in ids for t in times], pa.timestamp("us", tz="UTC")),
    }
    for sensor in SENSOR_NAMES:
        columns[sensor] = pa.array(BASE[sensor] * (1 + rng.normal(0, 0.03, n)), pa.float64())
    columns["operating_hours"] = pa.array(np.zeros(n), pa.float64())
    return pa.table(columns)


def fleet(groups: range) -> tuple[pa.Table, pa.Table]:
    ids = [f"G{g:04d}-C{c}" for g in groups for c in range(PER_GROUP)]
    stations = pa.table(
        {
            "station_id": [f"S{g:04d}" for g in groups],
            "station_name": [f"Station {g}" for g in groups],
            "latitude": [28.9] * len(groups),
            "longitude": [-98.5] * len(groups),
        }
    )
    compressors = pa.table(
        {
            "compressor_id": ids,
            "station_id": [f"S{int(c[1:5]):04d}" for c in ids],
            "model": ["Ajax DPC-360"] * len(ids),
            "horsepower": pa.array([1340] * len(ids), pa.int32()),
            "install_date": [date(2022, 1, 1)] * len(ids),
        }
    )
    return stations, compressors


def write_fleet(landing: Path, groups: range) -> None:
    stations, compressors = fleet(groups)
    (landing / "fleet").mkdir(parents=True, exist_ok=True)
    pq.write_table(stations, landing / "fleet" / "stations.parquet")
    pq.write_table(compressors, landing / "fleet" / "compressors.parquet")


def land(data_dir: Path, many: bool, organizations: int, slots: int, offset: int, name: str) -> None:
    rng = np.random.default_rng(offset)
    start = START + INTERVAL * offset
    for group in range(organizations):
        landing = data_dir / "landing" / (f"tenant-{group:04d}" if many else "one")
        (landing / "readings").mkdir(parents=True, exist_ok=True)
        pq.write_table(
            readings(group, start, slots, rng), landing / "readings" / f"{name}-g{group:04d}.parquet"
        )
        if many and offset == 0:
            write_fleet(landing, range(group, group + 1))
    if not many and offset == 0:
        write_fleet(data_dir / "landing" / "one", range(organizations))


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(
    root: Path, many: bool, organizations: int, history_slots: int, new_slots: int
) -> tuple[float, float]:
    data_dir = root / ("many" if many else "one")
    land(data_dir, many, organizations, history_slots, 0, "history")
    settings = Settings(data_dir=data_dir)
    said: list[str] = []
    run_pipeline(settings, PipelineOptions(skip_db=True), notify=said.append)  # builds the lake: not timed
    failed = [m for m in said if "pass failed" in m]
    assert not failed, f"the full pass failed and ran organization by organization: {failed[0]}"
    land(data_dir, many, organizations, new_slots, history_slots, "new")
    wall, cpu = time.perf_counter(), cpu_seconds()
    result = run_pipeline(settings, PipelineOptions(skip_db=True))
    wall, cpu = time.perf_counter() - wall, cpu_seconds() - cpu
    works = {tuple(r.work) for r in result.organizations.values()}
    assert works == {("incremental",)}, f"expected one incremental pass for every organization, got {works}"
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--organizations", type=int, default=1000, help="groups of 5 compressors")
    parser.add_argument("--history-hours", type=float, default=24)
    parser.add_argument("--hours", type=float, default=1, help="the new data of the incremental pass")
    parser.add_argument("--keep", type=Path, help="keep the data under this directory")
    args = parser.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="altaviz-tenancy-"))
    history = int(args.history_hours * 6)
    new = int(args.hours * 6)
    n = args.organizations
    try:
        one_wall, one_cpu = measure(root, False, n, history, new)
        many_wall, many_cpu = measure(root, True, n, history, new)
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)
    readings = n * PER_GROUP * new
    compressors = n * PER_GROUP
    print(
        f"same readings: {compressors:,} compressors, {history // 6} h of history, {readings:,} new readings"
    )
    print(f"1 organization × {compressors:,} compressors: {one_wall:.2f} s ({one_cpu:.2f} CPU s)")
    print(f"{n:,} organizations × {PER_GROUP} compressors: {many_wall:.2f} s ({many_cpu:.2f} CPU s)")
    print(
        f"ratio many / one: {many_wall / one_wall:.2f}× wall, {many_cpu / one_cpu:.2f}× CPU (target ≤ 1.5×)"
    )


if __name__ == "__main__":
    main()
