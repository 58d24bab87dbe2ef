"""Alert episodes' opening and clearing readings, in one pass over each compressor's series (NumPy).

The per-compressor step of alert events (stages.GOLD_STEPS: `alert_streaks` over alert_inputs.sql,
read by alert_events.sql). Its input is every judged reading of metric_series, whole compressors
sorted by organization, compressor_id and timestamp, each with its `state` (1 violating, 0 clear,
2 neither: alert_inputs.sql says why). Per compressor and metric, in time order:

- a reading opens when it is the `open_readings`-th violating reading in a row (the on-delay: a lone
  spike opens nothing), or, as a trip, when the unit's next reading of the metric is stopped and the
  limit is one judged during a start (not `start_transient`): the unit stopped on it, so a fault that
  trips the unit is alerted at the trip at the latest. Its `streak_start` is the first reading of that
  violating streak;
- a reading clears when it is the `clear_readings`-th clear reading in a row;
- kept: every violating reading, and every clearing one after a violating reading of its metric (in
  the series, or before it: `violated_before`).

Equal to the window-function formulation it replaced (ROW_NUMBER, LAG, LEAD and running maxima over
PARTITION BY organization, compressor_id, metric ORDER BY timestamp): each running maximum here is
one `np.maximum.accumulate` over the series laid end to end, a series' own start telling its values
from the series before.
"""

from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from altaviz.pipeline.arrow import bool_array, boolean_values, int_array, numpy_values
from altaviz.pipeline.rolling import compressor_starts

Bools = npt.NDArray[np.bool_]
Ints = npt.NDArray[np.int64]

KEPT = ("organization", "compressor_id", "metric", "timestamp", "value", "status")


def _metric_codes(column: pa.ChunkedArray) -> Ints:
    """Each reading's metric as its rank among the metrics' names (by their bytes, as the engines sort
    strings), so a compressor's series read in metric order come in code order."""
    encoded = pc.dictionary_encode(column.combine_chunks())
    indices, names = encoded.indices, encoded.dictionary
    end = indices.offset + len(indices)
    codes = np.frombuffer(indices.buffers()[1], np.int32, count=end)[indices.offset :].astype(np.int64)
    offsets = np.frombuffer(names.buffers()[1], np.int32, count=names.offset + len(names) + 1)[names.offset :]
    data = names.buffers()[2]
    text = b"" if data is None else data.to_pybytes()
    keys = [text[offsets[i] : offsets[i + 1]] for i in range(len(names))]
    rank = np.empty(len(keys), dtype=np.int64)
    rank[sorted(range(len(keys)), key=keys.__getitem__)] = np.arange(len(keys), dtype=np.int64)
    return rank[codes]


def alert_streaks(judged: pa.Table) -> pa.Table:
    """The alert events of `judged` (alert_inputs.sql's rows, whole compressors sorted by organization,
    compressor_id and timestamp, or by organization, compressor_id, metric and timestamp): KEPT and
    streak_start, opens, clears, ordered by compressor, metric and time."""
    n = judged.num_rows
    group = np.zeros(n, dtype=np.int64)
    if n:
        starts = compressor_starts(judged)
        group[starts[1:]] = 1
        group = np.cumsum(group)
    codes = _metric_codes(judged["metric"]) if n else np.zeros(0, dtype=np.int64)
    series = group * (int(codes.max()) + 1 if n else 1) + codes
    # each compressor's series one metric after another, each in time order (the sort is stable); the
    # order the step reads its input in (stages.GOLD_STEPS) is that already
    ordered = n < 2 or bool(np.all(series[1:] >= series[:-1]))
    order = np.arange(n, dtype=np.int64) if ordered else np.argsort(series, kind="stable")

    def arranged(values: npt.NDArray[Any]) -> npt.NDArray[Any]:
        return values if ordered else values[order]

    key = arranged(series)
    state = arranged(numpy_values(judged["state"], np.int64))
    stopped = arranged(boolean_values(judged["stopped"]))
    start_transient = arranged(boolean_values(judged["start_transient"]))
    open_readings = arranged(numpy_values(judged["open_readings"], np.int64))
    clear_readings = arranged(numpy_values(judged["clear_readings"], np.int64))
    violated_before = arranged(boolean_values(judged["violated_before"]))
    times = arranged(numpy_values(judged["timestamp"], np.int64))

    first = np.ones(n, dtype=bool)  # a series' first reading
    first[1:] = key[1:] != key[:-1]
    last = np.ones(n, dtype=bool)  # its last
    last[:-1] = first[1:]
    position = np.arange(n, dtype=np.int64)
    series_start = np.maximum.accumulate(np.where(first, position, 0))

    def latest(marked: Bools) -> tuple[Ints, Bools]:
        """The position of the latest marked reading of each reading's series so far, and whether
        there is one."""
        found = np.maximum.accumulate(np.where(marked, position, -1))
        return found, found >= series_start

    seq = position - series_start + 1
    not_violating, some = latest(state != 1)
    violating_streak = np.where(some, position - not_violating, seq)
    not_clear, some = latest(state != 0)
    clear_streak = np.where(some, position - not_clear, seq)
    previous_violating = np.zeros(n, dtype=bool)
    previous_violating[1:] = state[:-1] == 1
    streak_first, _ = latest((state == 1) & (first | ~previous_violating))
    _, violated_so_far = latest(state == 1)
    next_stopped = np.zeros(n, dtype=bool)
    next_stopped[:-1] = stopped[1:]
    before_stop = ~start_transient & next_stopped & ~last

    violating = state == 1
    opens = violating & (
        (violating_streak == open_readings) | (before_stop & (violating_streak < open_readings))
    )
    clears = (state == 0) & (clear_streak == clear_readings)
    kept = violating | (clears & (violated_so_far | violated_before))

    rows = order[kept]
    taken = judged.select(list(KEPT)).take(int_array(rows))
    opening = opens[kept]
    start_times = np.where(opens, times[np.maximum(streak_first, 0)], 0)[kept]
    streak_start = int_array(start_times, ~opening, judged.schema.field("timestamp").type)
    return (
        taken.append_column("streak_start", streak_start)
        .append_column("opens", bool_array(opening))
        .append_column("clears", bool_array(clears[kept]))
    )
