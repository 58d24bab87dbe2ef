"""Alert episodes' opening and clearing readings, in one pass over each compressor's readings (NumPy).

The per-compressor step of alert events (stages.GOLD_STEPS: `alert_streaks` over alert_inputs.sql,
read by alert_events.sql). Its input is every gold reading, whole compressors sorted by organization,
compressor_id and timestamp, with each of the eight metrics judged side by side (`<metric>_state`: 1
violating, 0 clear, 2 neither, NULL not in the metric's series; alert_inputs.sql says why) and its
compressor's limits (`<metric>_open`, `_clear`, `_transient`, `_before`: alert_limits.sql, a row per
compressor handed beside the readings by the engine, Step.constants). Per compressor and metric (the
readings with a state of that metric, in time order):

- a reading opens when it is the `<metric>_open`-th violating reading in a row (the on-delay: a lone
  spike opens nothing), or, as a trip, when the unit's next reading of the metric is stopped and the
  limit is one judged during a start (not `<metric>_transient`): the unit stopped on it, so a fault that
  trips the unit is alerted at the trip at the latest. Its `streak_start` is the first reading of that
  violating streak;
- a reading clears when it is the `<metric>_clear`-th clear reading in a row;
- kept: every violating reading, and every clearing one after a violating reading of its metric (in
  the series, or before it: `<metric>_before`).

A metric's series of a compressor with no violating reading and none before keeps nothing, so only the
others are counted. Equal to the window-function formulation it replaced (ROW_NUMBER, LAG, LEAD and
running maxima over PARTITION BY organization, compressor_id, metric ORDER BY timestamp, over one row
per reading and metric; tests/pipeline/test_episodes.py keeps it as the reference): each running
maximum here is one `np.maximum.accumulate` over the series laid end to end, a series' own start
telling its values from the series before.
"""

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from altaviz.fleet import METRIC_NAMES
from altaviz.pipeline.arrow import (
    bool_array,
    boolean_values,
    compressor_starts,
    int_array,
    numpy_values,
    python_array,
)

Bools = npt.NDArray[np.bool_]
Ints = npt.NDArray[np.int64]

# the columns of the result: KEPT, then streak_start, opens and clears (alert_events.sql adds each kept
# reading's value and status of its metric from gold_readings)
KEPT = ("organization", "compressor_id", "metric", "timestamp")
_METRICS = python_array(list(METRIC_NAMES), pa.string())


def _episodes(
    key: Ints,
    state: Ints,
    stopped: Bools,
    start_transient: Bools,
    open_readings: Ints,
    clear_readings: Ints,
    violated_before: Bools,
    times: Ints,
) -> tuple[Bools, Bools, Bools, Ints]:
    """Over series laid end to end (`key` the series of each reading, each series in time order): which
    readings are kept, which of those open and clear, and each opening one's streak start."""
    n = len(key)
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
    start_times = np.where(opens, times[np.maximum(streak_first, 0)], 0)
    return kept, opens[kept], clears[kept], start_times[kept]


def alert_streaks(judged: pa.Table, limits: pa.Table) -> pa.Table:
    """The alert events of `judged` (alert_inputs.sql's rows, whole compressors sorted by organization,
    compressor_id and timestamp), given `limits` (alert_limits.sql's columns, a row per compressor of
    `judged` in its order: engine.per_compressor_constants): KEPT and streak_start, opens, clears, by
    metric, then compressor and time."""
    n = judged.num_rows
    group = np.zeros(n, dtype=np.int64)
    starts = compressor_starts(judged) if n else np.zeros(0, dtype=np.int64)
    if n:
        group[starts[1:]] = 1
        group = np.cumsum(group)
    times = numpy_values(judged["timestamp"], np.int64)
    stopped = boolean_values(judged["stopped"])
    empty = np.zeros(0, dtype=np.int64)
    rows, codes, start_times = [empty], [empty], [empty]
    opening, clearing = [empty.astype(bool)], [empty.astype(bool)]
    for code, metric in enumerate(METRIC_NAMES):
        state = numpy_values(judged[f"{metric}_state"], np.float64)  # NULL (not in the series) as NaN
        before = boolean_values(limits[f"{metric}_before"])
        # the compressors with a violating reading of the metric, or one before: the others keep nothing
        counted = before.copy()
        counted[group[state == 1]] = True
        taken = np.flatnonzero(~np.isnan(state) & counted[group])
        if len(taken) == 0:
            continue
        series = group[taken]
        kept, opens, clears, starts_at = _episodes(
            series,
            state[taken].astype(np.int64),
            stopped[taken],
            boolean_values(limits[f"{metric}_transient"])[series],
            numpy_values(limits[f"{metric}_open"], np.int64)[series],
            numpy_values(limits[f"{metric}_clear"], np.int64)[series],
            before[series],
            times[taken],
        )
        index = taken[kept]
        rows.append(index)
        codes.append(np.full(len(index), code, dtype=np.int64))
        opening.append(opens)
        clearing.append(clears)
        start_times.append(starts_at)
    keys = judged.select(["organization", "compressor_id", "timestamp"]).take(int_array(np.concatenate(rows)))
    opens = np.concatenate(opening)
    columns = {
        "organization": keys["organization"],
        "compressor_id": keys["compressor_id"],
        "metric": _METRICS.take(int_array(np.concatenate(codes))),
        "timestamp": keys["timestamp"],
        "streak_start": int_array(np.concatenate(start_times), ~opens, judged.schema.field("timestamp").type),
        "opens": bool_array(opens),
        "clears": bool_array(np.concatenate(clearing)),
    }
    return pa.Table.from_arrays(list(columns.values()), names=list(columns))
