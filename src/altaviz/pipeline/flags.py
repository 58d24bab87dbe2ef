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
from altaviz.pipeline.arrow import numpy_values, python_array
from altaviz.pipeline.rolling import compressor_starts

SENSORS = SENSOR_NAMES
# one bit per flag, in the order quality_flags lists them
FLAGS = (*(f"spike:{s}" for s in SENSORS), *(f"stuck:{s}" for s in SENSORS))
STUCK_READINGS = 12

Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]


def _shifted(values: Floats, by: int, position: npt.NDArray[np.int64], size: npt.NDArray[np.int64]) -> Floats:
    """Each reading's neighbour `by` readings later (earlier if negative) in its compressor, NaN where
    there is none."""
    out = np.full(len(values), np.nan)
    if by > 0:
        out[:-by] = values[by:]
        out[position + by >= size] = np.nan
    else:
        out[-by:] = values[:by]
        out[position + by < 0] = np.nan
    return out


def _spike(
    values: Floats, ratio: float, position: npt.NDArray[np.int64], size: npt.NDArray[np.int64]
) -> Bools:
    disagree = np.zeros(len(values), dtype=np.int64)
    known = np.zeros(len(values), dtype=np.int64)
    with np.errstate(invalid="ignore"):
        for by in (-2, -1, 1, 2):
            neighbour = _shifted(values, by, position, size)
            disagree += np.abs(values - neighbour) > ratio * np.abs(neighbour)  # NaN: False
            known += ~np.isnan(neighbour)
    spike: Bools = (disagree >= 3) | ((known >= 2) & (disagree == known))
    return spike


def _stuck(values: Floats, position: npt.NDArray[np.int64]) -> Bools:
    stuck = np.zeros(len(values), dtype=bool)
    if len(values) < STUCK_READINGS:
        return stuck
    window = np.lib.stride_tricks.sliding_window_view(values, STUCK_READINGS)  # rows i-11..i, no copy
    low, high = np.fmin.reduce(window, axis=1), np.fmax.reduce(window, axis=1)  # NaN left out
    stuck[STUCK_READINGS - 1 :] = low == high  # NaN (no value at all): False
    return stuck & (position >= STUCK_READINGS - 1)  # 12 readings of its own compressor


def append_quality_flags(readings: pa.Table) -> pa.Table:
    """`readings` (whole compressors sorted by organization, compressor_id and timestamp, with the
    `spike_ratio` parameter as a column) without `spike_ratio` and with `quality_flags` appended."""
    n = readings.num_rows
    code = np.zeros(n, dtype=np.int64)
    if n:
        starts = compressor_starts(readings)
        ends = np.append(starts[1:], n)
        first = np.repeat(starts, ends - starts)
        position = np.arange(n, dtype=np.int64) - first
        size = np.repeat(ends - starts, ends - starts)
        ratio = float(numpy_values(readings["spike_ratio"], np.float64)[0])
        for bit, sensor in enumerate(SENSORS):
            values = numpy_values(readings[sensor], np.float64)
            code |= _spike(values, ratio, position, size).astype(np.int64) << bit
            code |= _stuck(values, position).astype(np.int64) << (bit + len(SENSORS))
    codes, index = np.unique(code, return_inverse=True)
    texts = [",".join(f for k, f in enumerate(FLAGS) if c >> k & 1) or None for c in codes.tolist()]
    indices = pa.Array.from_buffers(pa.int64(), n, [None, pa.py_buffer(index.astype(np.int64))])
    flags = python_array(texts, pa.string()).take(indices)
    return readings.drop_columns(["spike_ratio"]).append_column("quality_flags", flags)
