"""Data-quality faults injected on request, each one a case the silver layer must recognise.

Faults that span chunks (gaps, stuck sensor, future rows) are planned once for the whole run; the
per-row ones (duplicates, nulls, out-of-range, late) are drawn per chunk. Every kind has its own
random stream, so turning one kind on or off changes nothing else. Gaps, stuck values and future
rows use healthy compressors only: a failing unit's degradation must reach the pipeline intact.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from altaviz.fleet import SENSORS
from altaviz.simulator.arrays import Ints, Mask
from altaviz.simulator.config import FAULT_KINDS, SimulationConfig
from altaviz.simulator.fleet import Fleet
from altaviz.simulator.readings import SENSOR_COUNT, Rows, add_noise
from altaviz.simulator.streams import Stream, rng
from altaviz.simulator.timeline import Timeline

GAP_SHARE = 0.10  # of compressors
GAP_MINUTES = 120
STUCK_MINUTES = 360
DUPLICATE_SHARE = 0.005  # of rows
NULL_SHARE = 0.003  # of sensor cells
ALL_NULL_ROWS_PER_CHUNK = 2
OUT_OF_RANGE_SHARE = 0.002  # of rows
TOO_LOW, TOO_HIGH = -999.0, 99999.0
# Per sensor, the two values an out-of-range fault may write. −999 is below every sensor's physical
# minimum; 99999 Mcf/day is a possible gas flow, so that sensor gets −999 either way.
IMPOSSIBLE = np.array([[TOO_LOW, TOO_HIGH if s.physical_max < TOO_HIGH else TOO_LOW] for s in SENSORS])
LATE_SHARE = 0.005  # of rows
FUTURE_ROWS = 3


@dataclass(frozen=True)
class Window:
    """Readings lo..hi-1 (reading indexes) of one compressor."""

    compressor: int
    lo: int
    hi: int

    def mask(self, rows: Rows) -> Mask:
        in_window = (rows.reading >= self.lo) & (rows.reading < self.hi)
        return in_window & np.equal(rows.compressor, self.compressor)


@dataclass
class FaultInjector:
    """Applies the requested faults chunk by chunk, in order, and counts what it did."""

    kinds: frozenset[str]
    seed: int
    chunks: int
    fleet_size: int
    gaps: tuple[Window, ...]
    stuck: Window
    stuck_sensor: int
    future: Rows
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FAULT_KINDS, 0))
    _stuck_value: float | None = None
    _late: Rows = field(default_factory=Rows.empty)

    def apply(self, rows: Rows, chunk: int) -> Rows:
        """The rows to write into `chunk`'s file: its own, minus late ones, plus the previous chunk's late."""
        protected = np.zeros(len(rows), dtype=bool)
        if "stuck" in self.kinds:
            protected = self._stick(rows)
        if "gaps" in self.kinds:
            keep = ~self._in_gap(rows)
            self.counts["gaps"] += int(len(rows) - keep.sum())
            rows, protected = rows.take(keep), protected[keep]
        all_null = np.zeros(len(rows), dtype=bool)
        if "nulls" in self.kinds:
            all_null = self._nullify(rows, protected, chunk)
        if "out_of_range" in self.kinds:
            self._out_of_range(rows, protected | all_null, chunk)
        if "nulls" in self.kinds:
            self.counts["nulls"] += int(np.isnan(rows.values).sum())
        if "duplicates" in self.kinds:
            rows = self._duplicate(rows, chunk)
        parts = [rows]
        if "late" in self.kinds:
            parts = self._delay(rows, chunk)
        if "future" in self.kinds and chunk == self.chunks - 1:
            parts.append(self.future)
            self.counts["future"] += len(self.future)
        return Rows.concat(parts) if len(parts) > 1 else parts[0]

    def _in_gap(self, rows: Rows) -> Mask:
        """Rows inside a gap. A compressor has at most one gap, so a per-compressor lookup is O(rows)."""
        lo = np.zeros(self.fleet_size, dtype=np.int64)
        hi = np.zeros(self.fleet_size, dtype=np.int64)
        for gap in self.gaps:
            lo[gap.compressor], hi[gap.compressor] = gap.lo, gap.hi
        return (rows.reading >= lo[rows.compressor]) & (rows.reading < hi[rows.compressor])

    def _draw(self, kind: str, chunk: int) -> np.random.Generator:
        return rng(self.seed, Stream.FAULT_CHUNK, FAULT_KINDS.index(kind), chunk)

    def _stick(self, rows: Rows) -> Mask:
        """Freeze the stuck sensor at the value it read when the window opened (window may span chunks)."""
        mask = self.stuck.mask(rows)
        if mask.any():
            if self._stuck_value is None:
                self._stuck_value = float(rows.values[self.stuck_sensor, np.flatnonzero(mask)[0]])
            rows.values[self.stuck_sensor, mask] = self._stuck_value
            self.counts["stuck"] += int(mask.sum())
        return mask

    def _nullify(self, rows: Rows, protected: Mask, chunk: int) -> Mask:
        """Null random cells, then a couple of whole rows; returns the all-null row mask."""
        all_null = np.zeros(len(rows), dtype=bool)
        if not len(rows):
            return all_null
        draw = self._draw("nulls", chunk)
        cells = np.unique(draw.integers(0, rows.values.size, _at_least_one(NULL_SHARE * rows.values.size)))
        sensors, picked = np.divmod(cells, len(rows))  # cell = sensor·rows + row
        keep = ~protected[picked]
        rows.values[sensors[keep], picked[keep]] = np.nan
        all_null[_pick(draw, np.flatnonzero(~protected), ALL_NULL_ROWS_PER_CHUNK)] = True
        rows.values[:, all_null] = np.nan
        return all_null

    def _out_of_range(self, rows: Rows, excluded: Mask, chunk: int) -> None:
        draw = self._draw("out_of_range", chunk)
        picked = _pick(draw, np.flatnonzero(~excluded), _at_least_one(OUT_OF_RANGE_SHARE * len(rows)))
        sensors = draw.integers(0, SENSOR_COUNT, len(picked))
        rows.values[sensors, picked] = IMPOSSIBLE[sensors, draw.integers(0, 2, len(picked))]
        self.counts["out_of_range"] += len(picked)

    def _duplicate(self, rows: Rows, chunk: int) -> Rows:
        """Repeat some rows exactly, right after the original, so the file stays in time order."""
        draw = self._draw("duplicates", chunk)
        picked = _pick(draw, np.arange(len(rows)), _at_least_one(DUPLICATE_SHARE * len(rows)))
        repeats = np.ones(len(rows), dtype=np.int64)
        repeats[picked] = 2
        self.counts["duplicates"] += len(picked)
        return rows.take(np.repeat(np.arange(len(rows)), repeats))

    def _delay(self, rows: Rows, chunk: int) -> list[Rows]:
        """Hold some rows back for the next chunk's file; they arrive after that chunk's own rows."""
        arrived, self._late = self._late, Rows.empty()
        if chunk < self.chunks - 1:
            draw = self._draw("late", chunk)
            late = np.zeros(len(rows), dtype=bool)
            late[_pick(draw, np.arange(len(rows)), _at_least_one(LATE_SHARE * len(rows)))] = True
            self._late = rows.take(late)
            self.counts["late"] += len(self._late)
            rows = rows.take(~late)
        return [rows, arrived] if len(arrived) else [rows]


def _at_least_one(expected: float) -> int:
    return max(1, round(expected))


def _pick(draw: np.random.Generator, candidates: Ints, count: int) -> Ints:
    """Up to `count` distinct candidates, sorted."""
    count = min(count, len(candidates))
    return np.sort(candidates[draw.choice(len(candidates), count, replace=False)])


def plan_faults(config: SimulationConfig, fleet: Fleet, timeline: Timeline, now: datetime) -> FaultInjector:
    """Decide the run-wide faults. All of them are planned even when not requested, so the plan of
    one kind never depends on which other kinds are on."""
    healthy = fleet.healthy_indexes
    stuck, sensor = _plan_stuck(config.seed, healthy, timeline)
    return FaultInjector(
        kinds=config.faults,
        seed=config.seed,
        chunks=timeline.chunks,
        fleet_size=config.compressors,
        gaps=_plan_gaps(config.seed, config.compressors, healthy, timeline, stuck),
        stuck=stuck,
        stuck_sensor=sensor,
        future=_plan_future(config.seed, fleet, healthy, timeline, now),
    )


def _plan_draw(seed: int, kind: str) -> np.random.Generator:
    return rng(seed, Stream.FAULT_PLAN, FAULT_KINDS.index(kind))


def _readings_in(minutes: int, timeline: Timeline) -> int:
    return min(-(-minutes // timeline.interval_minutes), timeline.readings)


def _plan_stuck(seed: int, healthy: Ints, timeline: Timeline) -> tuple[Window, int]:
    """One sensor frozen for 6 hours: the first and last equal reading are 6 h apart (37 at 10 min)."""
    draw = _plan_draw(seed, "stuck")
    length = min(_readings_in(STUCK_MINUTES, timeline) + 1, timeline.readings)
    unit = int(draw.choice(healthy))
    sensor = int(draw.integers(SENSOR_COUNT))
    lo = int(draw.integers(0, timeline.readings - length + 1))
    return Window(unit, lo, lo + length), sensor


def _plan_gaps(
    seed: int, fleet_size: int, healthy: Ints, timeline: Timeline, stuck: Window
) -> tuple[Window, ...]:
    """A 2-hour hole in the series of ~10 % of the compressors."""
    draw = _plan_draw(seed, "gaps")
    others = healthy[healthy != stuck.compressor]
    candidates = others if len(others) else healthy
    count = min(_at_least_one(GAP_SHARE * fleet_size), len(candidates))
    length = _readings_in(GAP_MINUTES, timeline)
    starts = np.arange(timeline.readings - length + 1)
    gaps = []
    for unit in np.sort(draw.choice(candidates, count, replace=False)):
        allowed = starts
        if unit == stuck.compressor:  # only when it is the sole healthy unit: keep the frozen run whole
            clear = (starts + length <= stuck.lo) | (starts >= stuck.hi)
            allowed = starts[clear] if clear.any() else starts
        lo = int(draw.choice(allowed))
        gaps.append(Window(int(unit), lo, lo + length))
    return tuple(gaps)


def _plan_future(seed: int, fleet: Fleet, healthy: Ints, timeline: Timeline, now: datetime) -> Rows:
    """Healthy-looking readings stamped 1–2 days after `now`, on the series' reading grid."""
    draw = _plan_draw(seed, "future")
    step_seconds = timeline.interval_minutes * 60
    offset = (now - timeline.start).total_seconds()
    first = -(-int(offset + 86_400) // step_seconds)
    last = int(offset + 2 * 86_400) // step_seconds  # interval <= 1 day: never before first
    choices = np.arange(first, last + 1, dtype=np.int64)
    readings = np.sort(draw.choice(choices, FUTURE_ROWS, replace=len(choices) < FUTURE_ROWS))
    units = draw.choice(healthy, FUTURE_ROWS).astype(np.int64)
    values = fleet.baselines[units].T.copy()
    add_noise(values, draw)
    return Rows(units, readings, values)
