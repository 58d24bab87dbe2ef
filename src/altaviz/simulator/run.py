"""`simulate`: the fleet, then its readings one 24-hour chunk at a time, so memory does not grow with days."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa

from altaviz.simulator import realistic
from altaviz.simulator.config import SimulationConfig, SimulationResult
from altaviz.simulator.faults import plan_faults
from altaviz.simulator.fleet import build_fleet, compressors_table, maintenance_table, stations_table
from altaviz.simulator.readings import Rows, generate_chunk
from altaviz.simulator.timeline import Timeline
from altaviz.simulator.writer import Landing, readings_file_name, readings_table

Progress = Callable[[int, int], None]


def simulate(
    config: SimulationConfig,
    landing_dir: Path,
    progress: Progress | None = None,
    truth_dir: Path | None = None,
) -> SimulationResult:
    """Write a synthetic fleet dataset under `landing_dir`, replacing any previous one.

    `progress(done, total)` is called after each file is written. The realistic scenario's truth
    (its failures) is returned in the result and, when `truth_dir` is given, written there as
    failures.parquet — never under the landing zone, so the pipeline cannot read it.
    """
    now = datetime.now(UTC)
    timeline = Timeline(config.resolve_start(now), config.interval_minutes, config.readings_per_compressor)
    fleet = build_fleet(config.seed, config.compressors, timeline)
    truth: pa.Table | None = None
    truth_file: Path | None = None
    scenario = realistic.plan(config.seed, fleet, timeline) if config.scenario == "realistic" else None

    def generate(chunk: int) -> Rows:
        if scenario is None:
            return generate_chunk(fleet, timeline, config.seed, chunk)
        return realistic.generate_chunk(scenario, fleet, timeline, config.seed, chunk)

    if scenario is not None:
        fleet = realistic.with_failure_events(fleet, scenario, timeline, config.seed)
        truth = realistic.truth_table(fleet, scenario, timeline)
        if truth_dir is not None:
            truth_dir.mkdir(parents=True, exist_ok=True)
            truth_file = Landing(truth_dir.parent).write(truth, truth_dir.name, "failures.parquet")
    elif truth_dir is not None:
        (truth_dir / "failures.parquet").unlink(missing_ok=True)  # a previous realistic run's truth
    faults = plan_faults(config, fleet, timeline, now)
    landing = Landing(landing_dir)
    landing.clear()

    total = 3 + timeline.chunks
    files: list[Path] = []

    def written(path: Path) -> None:
        files.append(path)
        if progress is not None:
            progress(len(files), total)

    written(landing.write(stations_table(fleet), "fleet", "stations.parquet"))
    written(landing.write(compressors_table(fleet), "fleet", "compressors.parquet"))
    written(landing.write(maintenance_table(fleet), "maintenance", "maintenance.parquet"))

    ids = pa.array(fleet.ids, type=pa.string())
    rows_written = 0
    # Parquet encoding releases the GIL: write chunk c on a worker thread while chunk c+1 is generated.
    # At most one chunk waits to be written, so memory stays bounded by two chunks.
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending: Future[Path] | None = None
        for chunk in range(timeline.chunks):
            rows = faults.apply(generate(chunk), chunk)
            rows_written += len(rows)
            table = readings_table(rows, ids, timeline)
            if pending is not None:
                written(pending.result())
            pending = pool.submit(landing.write, table, "readings", readings_file_name(timeline, chunk))
        if pending is not None:
            written(pending.result())

    return SimulationResult(
        readings_rows=rows_written,
        files=files,
        failing=fleet.failing,
        start=timeline.start,
        end=timeline.end,
        fault_counts=dict(faults.counts),
        truth=truth,
        truth_file=truth_file,
    )
