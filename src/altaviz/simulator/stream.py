"""`stream`: keep a fleet reporting, one landing file per reading slot, so a running system fills up.

The series is the one `simulate` writes for the same config (same seed, same values), ending now.
The last `replay_days` of it are held back and written one slot at a time, `speedup` times faster
than real time; once the stream reaches the present it continues in real time. A slot is never
written before its timestamp has passed, so streamed readings are never in the future.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa

from altaviz.simulator.config import SimulationConfig
from altaviz.simulator.fleet import build_fleet
from altaviz.simulator.readings import Rows, generate_chunk
from altaviz.simulator.run import simulate
from altaviz.simulator.timeline import Timeline
from altaviz.simulator.writer import Landing, readings_table

# A stream runs until stopped: its timeline has room for centuries of slots.
OPEN_ENDED = 10**9


@dataclass(frozen=True)
class Clock:
    now: Callable[[], datetime] = lambda: datetime.now(UTC)
    sleep: Callable[[float], None] = time.sleep


def stream(
    config: SimulationConfig,
    landing_dir: Path,
    speedup: float = 1.0,
    replay_days: float = 0.0,
    ticks: int | None = None,
    on_slot: Callable[[datetime, int], None] | None = None,
    clock: Clock = Clock(),
) -> int:
    """Write the history, then stream slots; returns how many slots were streamed."""
    if speedup <= 0:
        raise ValueError(f"speedup must be positive, got {speedup}")
    if not 0 <= replay_days < config.days:
        raise ValueError(f"replay_days must be at least 0 and less than days ({config.days:g})")
    full = Timeline(
        config.resolve_start(clock.now()), config.interval_minutes, config.readings_per_compressor
    )
    held_back = int(replay_days * 1440 / config.interval_minutes)
    # History covers exactly the slots before the first streamed one.
    history_days = (full.readings - held_back) * config.interval_minutes / 1440
    history = replace(config, start=full.start, days=history_days, faults=frozenset())
    simulate(history, landing_dir)
    fleet = build_fleet(config.seed, config.compressors, full)
    timeline = Timeline(full.start, config.interval_minutes, OPEN_ENDED)
    ids = pa.array(fleet.ids, type=pa.string())
    landing = Landing(landing_dir)
    pace = timedelta(minutes=config.interval_minutes) / speedup
    slot = full.readings - held_back
    cached: tuple[int, Rows] | None = None
    streamed = 0
    next_due = clock.now()
    while ticks is None or streamed < ticks:
        at = timeline.time_of(slot)
        wait = (max(next_due, at) - clock.now()).total_seconds()
        if wait > 0:
            clock.sleep(wait)
        chunk = slot * config.interval_minutes // 1440
        if cached is None or cached[0] != chunk:
            cached = (chunk, generate_chunk(fleet, timeline, config.seed, chunk))
        rows = cached[1].take(cached[1].reading == slot)
        landing.write(
            readings_table(rows, ids, timeline),
            "readings",
            f"readings-{at:%Y%m%dT%H%M}-{at:%Y%m%dT%H%M}.parquet",
        )
        if on_slot is not None:
            on_slot(at, len(rows))
        streamed += 1
        slot += 1
        next_due = clock.now() + pace
    return streamed
