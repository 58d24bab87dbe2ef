"""The station ambient proxy (issue 19): what the weather does to a station's discharge temperatures,
from the station's own compressors, for the health model's ambient input (`fleet_step(ambient=...)`).

Per compressor and clock hour: the median discharge temperature and the lowest flow of its readings
(NaN values — flagged by silver, or missing — left out). Its **baseline**: the median temperature of its
running hours among its first `BASELINE_HOURS` (48) clock hours after its first reading, running
meaning the hour's lowest flow above `RUNNING_SHARE` (30 %) of the highest lowest flow of those 48
hours. Its **deviation** in a running hour: that hour's temperature minus the baseline. The station's
first compressors (those whose first reading is within 48 h of the station's first: the **founders**)
give one from their first hour, so the model's warm-up sees the weather from the start (the pipeline
holds the station's hours until their baselines are known, inside the warm-up anyway); a compressor
that joins later gives one only from its first reading + 48 h, so it never changes the proxy of hours
its station already used, nor holds them. The station's **proxy** of an hour: the median of its
compressors' deviations that hour (none when no compressor has one; the model then reads 0).

A compressor is weather-driven like its neighbours; a failing one (a fouled cooler) is one of several,
so the median stays the weather. A station of one compressor would give the compressor its own
deviation — a fouling read as weather — so such a station gets no proxy (see the README: measured).

Pure NumPy over hourly rows, so the pipeline (pipeline/health.py, the hours from SQL) and the
evaluation (bench/early_warning.py, the hours from raw readings with `hourly`) compute the same thing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from altaviz.health.model import Floats, Ints

HOUR = 3600
BASELINE_HOURS = 48
RUNNING_SHARE = 0.3
MIN_COMPRESSORS = 2  # a station needs this many compressors to have a proxy


@dataclass
class Hourly:
    """Per compressor and hour with readings, sorted by compressor then hour: `compressor` the row,
    `hour` epoch hours, `temp` the median discharge temperature, `flow` the lowest flow (NaN: none)."""

    compressor: Ints
    hour: Ints
    temp: Floats
    flow: Floats


@dataclass
class Baselines:
    """Per compressor: its first hour (epoch hours; -1: no reading), the highest lowest flow of its
    first 48 hours and its baseline temperature (NaN: no running hour in them)."""

    first: Ints
    peak: Floats
    temp: Floats


def hourly(compressor: Ints, times: Ints, temp: Floats, flow: Floats) -> Hourly:
    """Readings (sorted by compressor, then time; epoch seconds; NaN for a flagged or missing value)
    into hourly rows, as the pipeline's SQL computes them."""
    compressor = np.asarray(compressor, dtype=np.int64)
    hours = np.asarray(times, dtype=np.int64) // HOUR
    n = len(hours)
    if n == 0:
        return Hourly(np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0), np.empty(0))
    first = np.flatnonzero(np.r_[True, (compressor[1:] != compressor[:-1]) | (hours[1:] != hours[:-1])])
    temp, flow = np.asarray(temp, dtype=np.float64), np.asarray(flow, dtype=np.float64)
    starts = np.zeros(n, dtype=np.int64)
    starts[first] = 1
    group = np.cumsum(starts) - 1
    valid = ~np.isnan(temp)
    medians = np.full(len(first), np.nan)
    which, values = grouped_median(group[valid], temp[valid])
    medians[which] = values
    lowest = np.fmin.reduceat(np.where(np.isnan(flow), np.inf, flow), first)
    return Hourly(compressor[first], hours[first], medians, np.where(np.isinf(lowest), np.nan, lowest))


def baselines(rows: Hourly, count: int) -> Baselines:
    """Each of `count` compressors' baseline from its hourly rows (which must include its first 48
    hours)."""
    first = np.full(count, -1, dtype=np.int64)
    peak = np.full(count, np.nan)
    if not len(rows.hour):
        return Baselines(first, peak, np.full(count, np.nan))
    never = np.iinfo(np.int64).max
    first_hours = np.full(count, never)
    np.minimum.at(first_hours, rows.compressor, rows.hour)
    first[first_hours < never] = first_hours[first_hours < never]
    window = rows.hour < first[rows.compressor] + BASELINE_HOURS
    flows = np.where(window & ~np.isnan(rows.flow), rows.flow, -np.inf)
    highest = np.full(count, -np.inf)
    np.maximum.at(highest, rows.compressor, flows)
    peak[np.isfinite(highest)] = highest[np.isfinite(highest)]
    running = window & _running(rows, peak) & ~np.isnan(rows.temp)
    temp = np.full(count, np.nan)
    groups, medians = grouped_median(rows.compressor[running], rows.temp[running])
    temp[groups] = medians
    return Baselines(first, peak, temp)


def _running(rows: Hourly, peak: Floats) -> np.ndarray:
    ref = peak[rows.compressor]
    with np.errstate(invalid="ignore"):
        return ~np.isnan(rows.flow) & (ref > 0) & (rows.flow > RUNNING_SHARE * ref)


def founders(base: Baselines, station: Ints) -> np.ndarray:
    """Per compressor: whether its first hour is within BASELINE_HOURS of its station's first (the
    station's first compressors: their deviations count inside their baseline window too)."""
    station = np.asarray(station, dtype=np.int64)
    has = (station >= 0) & (base.first >= 0)
    first = np.full(
        int(station.max()) + 1 if len(station) and station.max() >= 0 else 0, np.iinfo(np.int64).max
    )
    np.minimum.at(first, station[has], base.first[has])
    out = np.zeros(len(station), dtype=bool)
    out[has] = base.first[has] < first[station[has]] + BASELINE_HOURS
    return out


def deviations(rows: Hourly, base: Baselines, station: Ints) -> Floats:
    """Each hourly row's deviation from its compressor's baseline (NaN: it gives none)."""
    founding = founders(base, station)
    after = founding[rows.compressor] | (rows.hour >= base.first[rows.compressor] + BASELINE_HOURS)
    given = after & _running(rows, base.peak) & ~np.isnan(rows.temp)
    out = np.full(len(rows.hour), np.nan)
    out[given] = rows.temp[given] - base.temp[rows.compressor[given]]
    return out


def station_proxy(station: Ints, rows: Hourly, deviation: Floats) -> tuple[Ints, Ints, Floats]:
    """Per station and hour with a deviation: (station, epoch hour, median deviation), sorted by
    station and hour. `station`: each compressor's station (-1: none, no proxy)."""
    station = np.asarray(station, dtype=np.int64)
    of_row = station[rows.compressor]
    keep = (of_row >= 0) & ~np.isnan(deviation)
    span = int(rows.hour[keep].max() - rows.hour[keep].min() + 1) if keep.any() else 1
    low = int(rows.hour[keep].min()) if keep.any() else 0
    key = of_row[keep] * span + (rows.hour[keep] - low)
    groups, medians = grouped_median(key, deviation[keep])
    return groups // span, groups % span + low, medians


def grouped_median(key: Ints, values: Floats) -> tuple[Ints, Floats]:
    """The median of `values` (no NaN) per distinct `key`, keys ascending (as np.median: the mean of
    the two middle values when even)."""
    if not len(key):
        return np.empty(0, np.int64), np.empty(0)
    order = np.lexsort((values, key))
    key, values = key[order], values[order]
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    n = np.diff(np.r_[starts, len(key)])
    return key[starts], (values[starts + (n - 1) // 2] + values[starts + n // 2]) / 2


def proxy_stations(station: Sequence[str | None]) -> tuple[Ints, list[str]]:
    """Station names into indices: -1 for a compressor without a station or alone in its station
    (MIN_COMPRESSORS), and the names by index."""
    counted: dict[str, int] = {}
    for s in station:
        if s is not None:
            counted[s] = counted.get(s, 0) + 1
    names = sorted(s for s, n in counted.items() if n >= MIN_COMPRESSORS)
    index = {s: i for i, s in enumerate(names)}
    return np.array([index.get(s, -1) if s is not None else -1 for s in station], dtype=np.int64), names


def ambient_proxy(
    stations: Sequence[str], series: Sequence[tuple[Ints, Floats, Floats]]
) -> dict[str, tuple[Ints, Floats]]:
    """Per station: (epoch seconds of each hour, proxy). `series`: per compressor (times, discharge
    temperature, flow), each sorted by time, NaN for a flagged or missing value; `stations` its station."""
    compressor = np.concatenate([np.full(len(t), c, dtype=np.int64) for c, (t, _, _) in enumerate(series)])
    rows = hourly(
        compressor,
        np.concatenate([t for t, _, _ in series]),
        np.concatenate([v for _, v, _ in series]),
        np.concatenate([f for _, _, f in series]),
    )
    index, names = proxy_stations(stations)
    which, hour, value = station_proxy(index, rows, deviations(rows, baselines(rows, len(series)), index))
    bounds = np.searchsorted(which, np.arange(len(names) + 1))
    return {
        name: (hour[lo:hi] * HOUR, value[lo:hi])
        for name, lo, hi in zip(names, bounds[:-1], bounds[1:], strict=True)
        if hi > lo
    }
