"""Gold's time-based rolling windows in one pass over each compressor's sorted readings (NumPy).

A pure function over arrays: `rolling_windows(times, columns, group_starts, ...)` takes readings sorted
by compressor and time (several compressors one after another, each starting at an index of
`group_starts`) and returns, per reading, the aggregates of the readings of its own compressor in
[t - W, t] (RANGE frames ending at the current row: "1 hour" is every reading of the last hour, whatever
the interval or the gaps), NULL values left out, exactly as SQL's window functions define them:

- mean: NULL without a value; std (sample): NULL below two values; max: NULL without a value;
- the temperature rate of change (°F/h): the mean of the last hour [t - 1 h, t] against that of the hour
  before [t - 2 h, t - 1 h), divided by the time between the two windows' mean timestamps; NULL until
  both windows hold `rate_min_readings` values.

How, in one pass of vectorised operations over the whole batch (no per-reading loop):
- each window's first reading is a binary search of t - W in the batch's times (the compressors laid
  end to end, each shifted past the previous one's end, so no window reaches into another compressor);
- sums and counts are differences of prefix sums, compensated (each addition's rounding error is
  recovered exactly and summed apart, TwoSum), and taken over values shifted by their compressor's mean,
  so a window's variance does not cancel away against the magnitude of its values; a window whose
  values are all equal has a standard deviation of exactly 0, as SQL's;
- max over variable-length windows from a sparse table (the max of each run of 2^k readings), a window
  answered by the two runs covering it, built one level at a time (memory stays one level).
The result equals gold_readings' window-function definition to 1e-9 relative
(tests/pipeline/test_rolling.py keeps that SQL as the reference).
"""

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from altaviz.pipeline.arrow import boolean_values, compressor_starts, float_array, int_array, numpy_values

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]

HOUR_US = 3_600_000_000
# (column prefix, window hours); `vibration` windows also carry std and max.
WINDOW_HOURS = (1, 4, 24)
# The longest window: a compressor's windows never read further back than this.
LONGEST_US = 24 * HOUR_US


@dataclass(frozen=True)
class Column:
    """One output column: an array of values and where it is NULL."""

    values: Floats
    null: npt.NDArray[np.bool_]


class _Prefix:
    """Prefix sums with each addition's rounding error kept apart (TwoSum), so a window's sum is exact
    to about one rounding of the window's own magnitude, however long the series before it."""

    def __init__(self, x: Floats) -> None:
        hi = np.zeros(len(x) + 1)
        np.cumsum(x, out=hi[1:])
        before, after = hi[:-1], hi[1:]
        part = after - before
        error = (before - (after - part)) + (x - part)
        lo = np.zeros(len(x) + 1)
        np.cumsum(error, out=lo[1:])
        self.hi, self.lo = hi, lo

    def window(self, start: Ints, end: Ints) -> Floats:
        return (self.hi[end] - self.hi[start]) + (self.lo[end] - self.lo[start])


class _Counted:
    """A column's values (NULL as absent) as prefix sums and counts."""

    def __init__(self, values: Floats) -> None:
        present = ~np.isnan(values)
        self.count = np.zeros(len(values) + 1, dtype=np.int64)
        np.cumsum(present, out=self.count[1:])
        self.sum = _Prefix(np.where(present, values, 0.0))

    def window(self, start: Ints, end: Ints) -> tuple[Ints, Floats]:
        return self.count[end] - self.count[start], self.sum.window(start, end)


@dataclass
class _Moments:
    """Count, mean, sum of squared deviations (M2) and max of runs of readings, NULLs left out."""

    n: Floats
    mean: Floats
    m2: Floats
    high: Floats

    def take(self, rows: Ints) -> "_Moments":
        return _Moments(self.n[rows], self.mean[rows], self.m2[rows], self.high[rows])

    def merge(self, other: "_Moments") -> "_Moments":
        """Both runs together (Chan et al.'s pairwise update: stable, and exact for equal values)."""
        n = self.n + other.n
        delta = other.mean - self.mean
        with np.errstate(invalid="ignore", divide="ignore"):
            share = np.where(n > 0, other.n / n, 0.0)
            spread = delta * delta * self.n * share
        mean = np.where(self.n == 0, other.mean, np.where(other.n == 0, self.mean, self.mean + delta * share))
        m2 = np.where(self.n == 0, other.m2, np.where(other.n == 0, self.m2, self.m2 + other.m2 + spread))
        return _Moments(n, mean, m2, np.maximum(self.high, other.high))


def _windowed_moments(values: Floats, starts: dict[int, Ints]) -> dict[int, _Moments]:
    """Each reading's window's moments, per window (hours -> first reading of each window).

    Every window [s, e) is the union of runs of 2^k readings for the bits k of its length e - s, taken
    in order from s; the runs of each length are computed one level at a time from the level below, so
    memory holds one level, and each window merges at most log2(length) + 1 runs."""
    present = ~np.isnan(values)
    n = len(values)
    level = _Moments(
        present.astype(np.float64),
        np.where(present, values, 0.0),
        np.zeros(n),
        np.where(present, values, -np.inf),
    )
    end = np.arange(1, n + 1, dtype=np.int64)
    result: dict[int, _Moments] = {}
    position: dict[int, Ints] = {}
    for hours, start in starts.items():
        result[hours] = _Moments(np.zeros(n), np.zeros(n), np.zeros(n), np.full(n, -np.inf))
        position[hours] = start.copy()
    width = 1
    while True:
        for hours, start in starts.items():
            rows = np.flatnonzero((end - start) & width)
            if len(rows):
                at = position[hours][rows]
                merged = result[hours].take(rows).merge(level.take(at))
                for name in ("n", "mean", "m2", "high"):
                    getattr(result[hours], name)[rows] = getattr(merged, name)
                position[hours][rows] = at + width
        if width * 2 > max(int((end - s).max()) for s in starts.values()):
            return result
        shorter = len(level.n) - width
        level = _Moments(
            level.n[:shorter], level.mean[:shorter], level.m2[:shorter], level.high[:shorter]
        ).merge(_Moments(level.n[width:], level.mean[width:], level.m2[width:], level.high[width:]))
        width *= 2


def _group_index(group_starts: Ints, n: int) -> Ints:
    index = np.zeros(n, dtype=np.int64)
    if len(group_starts) > 1:
        index[group_starts[1:]] = 1
    return np.cumsum(index)


def _laid_end_to_end(times: Ints, group_starts: Ints) -> tuple[Ints, Ints]:
    """The times of each compressor from its first reading, and those shifted past the end of the
    compressor before (by more than the longest window and the rate's two hours), so one binary search
    serves all."""
    n = len(times)
    group = _group_index(group_starts, n)
    ends = np.append(group_starts[1:], n) - 1
    first, last = times[group_starts], times[ends]
    span = (last - first) + LONGEST_US + 2 * HOUR_US
    if int(span.astype(object).sum()) >= 2**62:
        raise ValueError("the readings span too long a time for one batch: cut it into fewer compressors")
    base = np.concatenate(([0], np.cumsum(span)[:-1]))
    relative = times - first[group]
    return relative, relative + base[group]


def rolling_windows(
    times: Ints,
    vibration: Floats,
    temperature: Floats,
    pressure: Floats,
    group_starts: Ints,
    rate_min_readings: int,
    windows: bool = True,
) -> dict[str, Column]:
    """Every rolling feature of gold per reading (see the module docstring).

    `times` are epoch microseconds, sorted within each compressor; the value arrays hold NaN where the
    reading has no value; `group_starts` the index where each compressor's readings begin (0 first).
    With `windows` False only temp_rate_of_change is computed (what the lake stores).
    """
    names = [*(WINDOW_COLUMNS if windows else ()), "temp_rate_of_change"]
    n = len(times)
    if n == 0:
        return dict.fromkeys(names, Column(np.empty(0), np.empty(0, dtype=bool)))
    group_starts = np.asarray(group_starts, dtype=np.int64)
    relative, laid = _laid_end_to_end(np.asarray(times, dtype=np.int64), group_starts)
    end = np.arange(1, n + 1, dtype=np.int64)
    starts = {
        hours: np.searchsorted(laid, laid - hours * HOUR_US, side="left")
        for hours in ((1, 2, *WINDOW_HOURS) if windows else (1, 2))
    }
    temperature = np.asarray(temperature, dtype=np.float64)
    temp = _Counted(temperature)
    result = {
        "temp_rate_of_change": _rate(
            relative, temperature, temp, (starts[1], starts[2], end), rate_min_readings
        )
    }
    if not windows:
        return result
    pressures = _Counted(np.asarray(pressure, dtype=np.float64))
    moments = _windowed_moments(np.asarray(vibration, dtype=np.float64), {h: starts[h] for h in WINDOW_HOURS})
    with np.errstate(invalid="ignore", divide="ignore"):
        for hours in WINDOW_HOURS:
            m = moments[hours]
            result[f"vibration_{hours}hr_mean"] = Column(m.mean, m.n == 0)
            result[f"vibration_{hours}hr_std"] = Column(np.sqrt(m.m2 / (m.n - 1)), m.n < 2)
            result[f"vibration_{hours}hr_max"] = Column(m.high, m.n == 0)
            for name, counted in (("temp", temp), ("pressure", pressures)):
                count, total = counted.window(starts[hours], end)
                result[f"{name}_{hours}hr_mean"] = Column(total / count, count == 0)
    return {name: result[name] for name in names}


# The rolling windows beyond the rate, in gold_readings' order.
WINDOW_COLUMNS = [
    *(f"vibration_{h}hr_{s}" for h in WINDOW_HOURS for s in ("mean", "std", "max")),
    *(f"{m}_{h}hr_mean" for m in ("temp", "pressure") for h in WINDOW_HOURS),
]


def _rate(
    relative: Ints,
    temperature: Floats,
    temp: _Counted,
    bounds: tuple[Ints, Ints, Ints],
    min_readings: int,
) -> Column:
    """(mean of [t - 1 h, t] − mean of [t - 2 h, t - 1 h)) per hour between the windows' mean times.
    `bounds`: where each reading's last hour and the hour before start, and where its windows end."""
    hour_start, two_hour_start, end = bounds
    present = ~np.isnan(temperature)
    # times in seconds from the compressor's first reading, not from the epoch: the gap between the
    # two windows' mean times (an hour) does not cancel away against 1.7e9 seconds
    seconds = _Prefix(np.where(present, relative / 1e6, 0.0))
    last_count, last_sum = temp.window(hour_start, end)
    before_count, before_sum = temp.window(two_hour_start, hour_start)
    with np.errstate(invalid="ignore", divide="ignore"):
        difference = last_sum / last_count - before_sum / before_count
        gap = (
            seconds.window(hour_start, end) / last_count
            - seconds.window(two_hour_start, hour_start) / before_count
        )
        rate = difference * 3600 / gap
    valid = (last_count >= min_readings) & (before_count >= min_readings) & (gap > 0)
    return Column(np.where(valid, rate, np.nan), ~valid)


def _floats(readings: pa.Table, name: str) -> Floats:
    return numpy_values(readings[name], np.float64)


def last_marked(
    times: Ints, marked: npt.NDArray[np.bool_], group_starts: Ints
) -> tuple[Ints, npt.NDArray[np.bool_]]:
    """Per reading, the time of the latest marked reading of its compressor at or before it (the SQL
    `MAX(CASE WHEN marked THEN timestamp END) OVER (PARTITION BY compressor ORDER BY timestamp ROWS
    UNBOUNDED PRECEDING)`), in the unit of `times`, and where it is NULL (before the compressor's first
    marked reading).
    One running maximum over the compressors laid end to end (each past the previous one's end), so a
    compressor never sees another's marks."""
    if len(times) == 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=bool)
    times = np.asarray(times, dtype=np.int64)
    relative, laid = _laid_end_to_end(times, np.asarray(group_starts, dtype=np.int64))
    latest = np.maximum.accumulate(np.where(marked, laid, -1))
    # laid - relative is where the reading's own compressor begins: a mark before it is another's
    none = latest < laid - relative
    return np.where(none, 0, latest - laid + times), none


def append_rolling(readings: pa.Table, rate_min_readings: int, windows: bool = False) -> pa.Table:
    """`readings` (whole compressors, sorted by organization, compressor_id and timestamp) with
    temp_rate_of_change appended, and with `windows` every rolling window before it."""
    result = rolling_windows(
        numpy_values(readings["timestamp"], np.int64),
        _floats(readings, "vibration_mms"),
        _floats(readings, "discharge_temp_f"),
        _floats(readings, "discharge_pressure_psi"),
        compressor_starts(readings),
        rate_min_readings,
        windows,
    )
    for name, column in result.items():
        readings = readings.append_column(name, float_array(column.values, column.null))
    return readings


def append_gold_pass(readings: pa.Table, rate_min_readings: int) -> pa.Table:
    """Gold's per-compressor step: `readings` (whole compressors, sorted by organization, compressor_id
    and timestamp, with `is_stopped`) with temp_rate_of_change and `last_stopped` (the time of the
    compressor's latest stopped reading so far, gold_readings.sql's operating state) appended."""
    rated = append_rolling(readings, rate_min_readings)
    times, null = last_marked(
        numpy_values(readings["timestamp"], np.int64),
        boolean_values(readings["is_stopped"]),
        compressor_starts(readings),
    )
    column = int_array(times, null, readings.schema.field("timestamp").type)
    return rated.append_column("last_stopped", column)
