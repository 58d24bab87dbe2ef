"""Gold's hourly aggregates per compressor and clock hour, in gold's per-compressor step (NumPy).

`hourly_aggregates(readings, compressor_starts)` takes gold's readings of whole compressors sorted by
organization, compressor_id and timestamp (each compressor's first reading at an index of
`compressor_starts`), with temp_rate_of_change and each metric's `<metric>_limit`
(violation_limits.sql, handed with every reading by the engine), and returns one row per compressor
and clock hour: count, mean, sample standard deviation, min and max of each sensor (NULLs left out,
as SQL's aggregates: a mean, min or max NULL without a value, a standard deviation below two), the
means of the pressure differential and of the temperature rate of change, the readings received and
those violating a limit of any metric (a status of 'warning' or 'critical', gold_readings.sql).
gold_hourly.sql adds the expected readings. The readings come sorted, so each hour is a run of
consecutive readings: every aggregate is a pass over the runs, where a GROUP BY over gold's written
readings read them all back and hashed every one (tests/pipeline/test_rolling_hourly.py keeps
that GROUP BY as the reference: equal to 1e-9 relative, the order of the sums).
Each hour's means are added up reading by reading in time order (all hours at once, a step per reading
of the longest hour), as SQL's AVG does over readings read in time order: the same doubles, where a
mean of the rate that cancels to about 0 would otherwise differ in its last digits, relatively by far
more than 1e-9. The standard deviation is a sum of squares about the hour's largest value (exactly 0
for an hour of equal values, as SQL's).
"""

from collections.abc import Iterator

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from altaviz.fleet import METRIC_NAMES
from altaviz.pipeline.arrow import float_array, int_array, numpy_values

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]

# sensor column -> the prefix of its aggregates in gold/hourly
SENSORS = {
    "vibration_mms": "vibration",
    "discharge_temp_f": "discharge_temp",
    "suction_pressure_psi": "suction_pressure",
    "discharge_pressure_psi": "discharge_pressure",
    "horsepower_consumption": "horsepower",
    "gas_flow_mcf": "gas_flow",
}
# the metrics whose limits are lower bounds (gold_readings.sql's statuses)
LOW_METRICS = frozenset({"suction_pressure_psi", "gas_flow_mcf"})
LIMITS = tuple(f"{metric}_limit" for metric in METRIC_NAMES)
_UNIT_PER_HOUR = {"s": 3600, "ms": 3_600_000, "us": 3_600_000_000, "ns": 3_600_000_000_000}


def hourly_schema(timestamp: pa.DataType) -> pa.Schema:
    fields = [
        pa.field("organization", pa.string()),
        pa.field("compressor_id", pa.string()),
        pa.field("agg_timestamp", timestamp),
    ]
    for prefix in SENSORS.values():
        fields += [pa.field(f"{prefix}_{s}", pa.float64()) for s in ("mean", "std", "min", "max")]
    fields += [
        pa.field("pressure_delta_mean", pa.float64()),
        pa.field("discharge_temp_rate_of_change", pa.float64()),
        pa.field("reading_count", pa.int64()),
        pa.field("violation_count", pa.int64()),
    ]
    return pa.schema(fields)


class _Runs:
    """The runs of consecutive readings (`starts`: where each begins; `sizes`: how many), walked
    reading by reading in each run's order, all runs at once: step j takes the j-th reading of every
    run that has one (the runs ranked by size, so those are a prefix)."""

    def __init__(self, starts: Ints, n: int) -> None:
        self.starts = starts
        self.sizes = np.diff(np.append(starts, n))
        self.ranked = np.argsort(-self.sizes, kind="stable")
        self.first = starts[self.ranked]
        # per step j, how many runs have more than j readings
        self.reach = len(starts) - np.cumsum(np.bincount(self.sizes))[:-1]

    def _steps(self) -> Iterator[tuple[int, Ints]]:
        for j, k in enumerate(self.reach.tolist()):
            yield k, self.first[:k] + j

    def _unranked(self, values: Floats) -> Floats:
        result = np.empty_like(values)
        result[self.ranked] = values
        return result

    def mean(self, values: Floats) -> tuple[Floats, Bools]:
        """Each run's mean, NaN left out (NULL without a value): its sum added up in the run's order,
        as SQL's AVG over readings read in time order (so the same double)."""
        total = np.zeros(len(self.starts))
        count = np.zeros(len(self.starts))
        for k, at in self._steps():
            value = values[at]
            present = ~np.isnan(value)
            total[:k] += np.where(present, value, 0.0)
            count[:k] += present
        with np.errstate(invalid="ignore", divide="ignore"):
            return self._unranked(total / count), self._unranked(count) == 0

    def moments(self, values: Floats) -> list[tuple[Floats, Bools]]:
        """mean, std (sample), min and max of each run, NaN left out; each with where it is NULL.

        The mean's sum is added up as mean() does. The sum of squared deviations is Σd² − (Σd)²/n over
        the deviations d from the run's maximum: one of its values, so an all-equal run's are exactly
        0, and within the run's spread of its mean, so the difference loses no more than about n
        roundings of it."""
        present = ~np.isnan(values)
        every = bool(present.all())
        known = values if every else np.where(present, values, 0.0)
        count = self.sizes.astype(np.float64) if every else np.add.reduceat(present * 1.0, self.starts)
        none = count == 0
        high = np.maximum.reduceat(values if every else np.where(present, values, -np.inf), self.starts)
        low = np.minimum.reduceat(values if every else np.where(present, values, np.inf), self.starts)
        origin = np.where(none, 0.0, high)[self.ranked]
        total, deviations, squares = (np.zeros(len(self.starts)) for _ in range(3))
        for k, at in self._steps():
            value = known[at]
            total[:k] += value
            deviation = value - origin[:k]
            if not every:
                deviation = np.where(present[at], deviation, 0.0)
            deviations[:k] += deviation
            squares[:k] += deviation * deviation
        total, deviations, squares = (self._unranked(a) for a in (total, deviations, squares))
        with np.errstate(invalid="ignore", divide="ignore"):
            spread = np.maximum(squares - deviations * deviations / count, 0.0)
            return [
                (total / count, none),
                (np.sqrt(spread / (count - 1)), count < 2),
                (low, none),
                (high, none),
            ]


def hourly_aggregates(readings: pa.Table, compressor_starts: Ints) -> pa.Table:
    """One row per compressor and clock hour of `readings` (see the module docstring)."""
    kind = readings.schema.field("timestamp").type
    schema = hourly_schema(kind)
    n = readings.num_rows
    if n == 0:
        return pa.Table.from_batches([], schema=schema)
    times = numpy_values(readings["timestamp"], np.int64)
    hour = times // _UNIT_PER_HOUR[kind.unit]
    changed = np.zeros(n, dtype=bool)
    changed[compressor_starts] = True
    changed[1:] |= hour[1:] != hour[:-1]
    runs = _Runs(np.flatnonzero(changed), n)
    values = {column: numpy_values(readings[column], np.float64) for column in SENSORS}
    values["pressure_differential"] = values["discharge_pressure_psi"] - values["suction_pressure_psi"]
    values["temp_rate_of_change"] = numpy_values(readings["temp_rate_of_change"], np.float64)
    violating = np.zeros(n, dtype=bool)
    for metric in METRIC_NAMES:
        limit = numpy_values(readings[f"{metric}_limit"], np.float64)
        violating |= values[metric] <= limit if metric in LOW_METRICS else values[metric] >= limit
    keys = readings.select(["organization", "compressor_id"]).take(int_array(runs.starts))
    columns: list[pa.Array | pa.ChunkedArray] = [
        keys["organization"],
        keys["compressor_id"],
        int_array(hour[runs.starts] * _UNIT_PER_HOUR[kind.unit], None, kind),
    ]
    for column in SENSORS:
        columns += [float_array(*aggregate) for aggregate in runs.moments(values[column])]
    columns += [
        float_array(*runs.mean(values["pressure_differential"])),
        float_array(*runs.mean(values["temp_rate_of_change"])),
        int_array(runs.sizes),
        int_array(np.add.reduceat(violating.astype(np.int64), runs.starts)),
    ]
    return pa.Table.from_arrays(columns, schema=schema)
