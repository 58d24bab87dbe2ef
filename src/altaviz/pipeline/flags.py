"""Silver's quality flags in one pass over each compressor's sorted readings (NumPy).

The per-compressor step of silver (stages.SILVER_STEPS: `flagged_readings` over silver_good.sql, read
by silver_readings.sql). Nothing here changes or blanks a value: a spike or a stuck sensor is flagged
for whoever reads it, and real degradation passes through untouched. Per sensor, over the readings of
each compressor in time order:

- spike:<sensor>  the value is more than `spike_ratio` away from at least 3 of its 4 nearest readings
  (2 before, 2 after), or from all of them where fewer exist (at least 2): one or two readings out of
  line with their neighbourhood (a glitch). A real change, gradual or a lasting step, has neighbours on
  its own side and is never flagged. A reading or neighbour without a value counts for neither side.
- stuck:<sensor>  the same value in the 12 readings up to this one (two hours of 10-minute data),
  those without a value left out (at least one has it); healthy sensor noise never repeats a
  2-decimal value that often.

`quality_flags` lists them, comma-separated, spikes first, sensors in SENSORS' order; NULL for none.
Equal to the window-function formulation it replaced (LAG/LEAD and 12-row MIN/MAX frames over
PARTITION BY organization, compressor_id ORDER BY timestamp).
"""

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from altaviz.fleet import SENSOR_NAMES
from altaviz.pipeline.arrow import compressor_starts, int_array, numpy_values, python_array

SENSORS = SENSOR_NAMES
# one bit per flag, in the order quality_flags lists them
FLAGS = (*(f"spike:{s}" for s in SENSORS), *(f"stuck:{s}" for s in SENSORS))
STUCK_READINGS = 12

Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]


def _spike(values: Floats, ratio: float, position: npt.NDArray[np.int64]) -> Bools:
    """Each reading against its neighbours 1 and 2 readings on either side within its compressor: each
    pair (i, i + by) is compared once, for both of its readings."""
    n = len(values)
    disagree = np.zeros(n, dtype=np.int8)
    known = np.zeros(n, dtype=np.int8)
    limit = ratio * np.abs(values)  # out of line with a neighbour: further from it than this share of it
    present = ~np.isnan(values)
    with np.errstate(invalid="ignore"):
        for by in (1, 2):
            if n <= by:
                continue
            same = position[by:] >= by  # reading i + by and reading i are of one compressor
            distance = np.abs(values[:-by] - values[by:])  # NaN: no comparison is True
            disagree[:-by] += (distance > limit[by:]) & same  # reading i, its neighbour after
            disagree[by:] += (distance > limit[:-by]) & same  # reading i + by, its neighbour before
            known[:-by] += present[by:] & same
            known[by:] += present[:-by] & same
    spike: Bools = (disagree >= 3) | ((known >= 2) & (disagree == known))
    return spike


def _stuck(values: Floats, position: npt.NDArray[np.int64]) -> Bools:
    """The values of the STUCK_READINGS readings up to each reading (those without one left out, at
    least one with one) all equal, in one pass: the window [i - 11, i] holds two unequal values exactly
    when some reading k in it has a value unlike the reading with a value before k, that one in the
    window too; so, per reading, the latest such earlier reading of any k up to it (a running maximum)
    must lie before the window."""
    n = len(values)
    stuck = np.zeros(n, dtype=bool)
    if n < STUCK_READINGS:
        return stuck
    index = np.arange(n, dtype=np.int64)
    present = ~np.isnan(values)
    latest = np.maximum.accumulate(np.where(present, index, -1))  # latest reading with a value, or -1
    before = np.empty(n, dtype=np.int64)  # the latest reading with a value before each reading
    before[0] = -1
    before[1:] = latest[:-1]
    changed = present & (before >= 0) & (values != values[np.maximum(before, 0)])
    reach = np.maximum.accumulate(np.where(changed, before, -1))
    start = index - (STUCK_READINGS - 1)
    stuck = (reach < start) & (latest >= start)
    return stuck & (position >= STUCK_READINGS - 1)  # 12 readings of its own compressor


def append_quality_flags(readings: pa.Table) -> pa.Table:
    """`readings` (whole compressors sorted by organization, compressor_id and timestamp, with the
    `spike_ratio` parameter as a column) without `spike_ratio` and with `quality_flags` appended."""
    n = readings.num_rows
    code = np.zeros(n, dtype=np.int64)
    if n:
        starts = compressor_starts(readings)
        ends = np.append(starts[1:], n)
        position = np.arange(n, dtype=np.int64) - np.repeat(starts, ends - starts)
        ratio = float(numpy_values(readings["spike_ratio"], np.float64)[0])
        for bit, sensor in enumerate(SENSORS):
            values = numpy_values(readings[sensor], np.float64)
            code |= _spike(values, ratio, position).astype(np.int64) << bit
            code |= _stuck(values, position).astype(np.int64) << (bit + len(SENSORS))
    # the distinct flag sets in order, and each reading's among them: counted, not sorted (np.unique)
    counts = np.bincount(code, minlength=1 << len(FLAGS))
    codes = np.flatnonzero(counts)
    rank = np.zeros(len(counts), dtype=np.int64)
    rank[codes] = np.arange(len(codes), dtype=np.int64)
    index = rank[code]
    texts = [",".join(f for k, f in enumerate(FLAGS) if c >> k & 1) or None for c in codes.tolist()]
    flags = python_array(texts, pa.string()).take(int_array(index))
    return readings.drop_columns(["spike_ratio"]).append_column("quality_flags", flags)
