"""The health stage (issue 19): altaviz.health's model over each compressor's silver readings, after gold.

One per-compressor step (`HealthStep`, run by TransformEngine.map_compressors: DuckDB locally, Spark's
mapInArrow on a cluster, the same function; each call steps all the compressors of its batch at once,
hour by hour, with `fleet_step`) gives each compressor's readings (flagged values as
NULL, see sql/health_input.sql) to `fleet_step` with the compressor's effective alarm limits
(compressor > model > organization > defaults: the pass's compressor_thresholds) and its corrective
maintenance events (`failure`, `unscheduled`: learning starts again after them, not after a scheduled
service or an inspection) and its station's ambient proxy (below), and writes one Arrow stream of four
kinds of rows, split into four lake tables (and the stage writes two more, gold/health_baseline and
gold/health_prior):

- gold/health (by day): per compressor and hour, the health index (NULL unless judged), the status
  ('judged'; 'warmup' while the model learns, after the first reading or a corrective maintenance event;
  'stopped' when stopped, settling after a start or without data), the driving sensors (JSON) and the
  early-warning flags;
- gold/health_predictions: each compressor's projected crossings as of its newest judged hour (rows
  replaced whenever the compressor's health is computed; none: no trend);
- gold/health_alerts: early-warning episodes (alert_type 'anomaly' or 'prediction', see below);
- gold/health_state: per compressor, the model's state after its last processed hour (the live values
  of its row of the stacked HealthState, see dump_state_arrays) and the open episodes, so an
  incremental run continues where the last one stopped.

Which hours are processed. An hour is final once no later run can change its readings: silver's spike
check looks two readings ahead, so a compressor's last two readings may still change. Each run
processes the hours before the hour of its second-to-last reading and before its station's proxy is
final (below; health lags the data by up to an hour when the station's compressors report together)
and no hour twice; a full run processes exactly the same hours, so incremental = full
(tests/pipeline/test_health_stage.py). A reading arriving late into an hour already processed (silver
accepts readings up to 24 h late) is seen by its count: the compressor's health is then recomputed from
all of its silver, as a full run would. An alarm-limit change recomputes the compressors it changes
(their predictions depend on the limits; the health index does not).

The station ambient proxy (altaviz.health.ambient). Discharge temperature follows the weather; the model
is given, per station and hour, the median over the station's compressors of each one's running hourly
discharge temperature (silver's median of the hour, flagged values left out:
sql/health_ambient_hours.sql) minus that compressor's baseline (the median of its running hours among
its first 48 clock hours; the station's first compressors count from their first hour, a compressor that
joins later from its first reading + 48 h: altaviz.health.ambient). Stations come from the registry
(where the API registers and moves compressors), else the fleet files (reference/compressors); a station
is its organization's own (another organization's STATION-001 in the same pass is another station); a
compressor alone in its station gets no proxy (its own deviation would read its own fault as weather). A
station the registry gives otherwise than the fleet file counts in the organization's parameters
fingerprint, so moving a compressor recomputes the organization. Each compressor's baseline, its data's
cutoff and newest hour, and where its station's proxy was final are kept in gold/health_baseline (one
row per compressor, current with the manifest like the other tables), so an incremental pass never reads
a compressor's first days again, and the baseline outlives the silver it came from: a full run keeps a
stored baseline whose first hour its silver no longer reaches.

When a station's proxy is final, and incremental = full with it:
- a station's proxy is final before its hold: the earliest, over its compressors that reported within
  the late window (LATE_WINDOW_HOURS) of the station's newest reading, of the hour each may still change
  (the hour of its second-to-last reading; a founder's first hour until its 48-hour baseline window has
  passed, a later compressor's first hour + 48, before which it gives no deviation); a compressor's
  hours are processed up to the earlier of its own cutoff and its station's hold. Every compressor
  reporting every pass: the hold is their common cutoff, nothing waits and nothing is recomputed. One
  that lags holds its station's health back by its lag; one silent for longer than the late window holds
  it no longer (lag bounded by 26 h). A pass processes, besides the compressors with new readings, their
  station-mates whose pending hours the new hold releases (they had no new readings themselves).
- a late reading into a compressor's processed hours (its recent count, as before) recomputes it from
  all its silver, and with it every compressor of its station (the proxy of hours they used may have
  changed); so does a compressor's return after its station went on without it (its backlog fills hours
  the station used), and a new compressor whose first readings reach hours its station used.
Tested in tests/pipeline/test_health_ambient.py (staggered reports, a late reading, a silent compressor's
backlog; incremental = full after each).

The organization's fleet prior (altaviz.health.prior). Each organization's prior hour T is its first
hour + 4 days (PRIOR_HOURS); its prior is `organization_prior` over its silver readings before T (the
step's input, sql/health_input.sql, a batch of compressors at a time) with the station proxy of those
hours; a compressor's hours before T are stepped without a prior, those from T on with it (every
compressor of the organization, one that joins later too: `step_with_prior`). gold/health_prior keeps
one row per organization (first hour, T, the count of its silver readings before T, the 6 × 8
coefficients), written with the manifest like the other tables.
- Until it is stored, every compressor of the organization is in each pass (to tell when its data before
  T is final) and its hours from T wait: the prior is computed in the first pass where every compressor
  that reported before T has its hours before T final (its cutoff and its station's hold at or after T)
  or has been silent for longer than the late window; that pass releases the hours waiting at T.
- Once stored it is read, not recomputed, unless the organization's readings before T changed: when a
  compressor with new readings is new, or its data or processed hours end less than the late window after
  T, the readings before T are counted; another count than the stored one (a late reading, a silent
  compressor's backlog, a new compressor's first readings before T) computes the organization again,
  its prior and every compressor of it, from all its silver, as a full run would.
- A full pass computes it again; a pass for some compressors (an alarm-limit change) keeps it, and an
  organization without one keeps waiting at T for the next incremental pass.
Tested in tests/pipeline/test_health_prior.py (the stored prior and the health against the model's;
incremental = full across T with a late reading before it and a compressor joining after it; two
organizations).

Early warnings. 'anomaly': the model's anomaly flag (health below HealthConfig.anomaly_health for
anomaly_hours judged hours in a row, or a sensor trending towards its limit at trend_anomaly_score for
trend_anomaly_hours; clears after clear_hours judged hours back above clear_health).
'prediction': a projected critical crossing (warning crossing for metrics without a critical limit)
within HealthConfig.prediction_horizon_hours (PREDICTION_HORIZON_HOURS, default 72); it opens at the
first judged hour flagged and closes after clear_hours judged hours without the flag, so a trend test
hovering at its limit does not chatter. Hours not judged (stopped, settling) neither continue nor end
an episode. An episode names its sensor: the strongest driver (anomaly) or the metric projected
soonest (prediction).
"""

from __future__ import annotations

import functools
import itertools
import json
import math
import multiprocessing
import os
import struct
import time
from collections import Counter, deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from altaviz.alerts.kinds import EARLY_WARNING_TYPES
from altaviz.fleet.thresholds import THRESHOLDS_BY_METRIC
from altaviz.health import (
    RESET_EVENT_TYPES,
    SENSORS,
    HealthConfig,
    HealthOutput,
    HealthState,
    Limits,
    ambient,
)
from altaviz.health.model import FEATURE_OF, FEATURES, Bools, Floats, Ints, pooled_prior
from altaviz.health.prior import NO_PRIOR, organization_warmups, prior_hour, step_with_prior
from altaviz.pipeline.arrow import (
    bool_array,
    boolean_values,
    compressor_starts,
    float_array,
    int_array,
    numpy_values,
    python_array,
    python_table,
)
from altaviz.pipeline.engine import (
    COMPRESSOR_BATCH_ROWS,
    COMPRESSOR_ORDER,
    RUN_ORGANIZATIONS,
    DuckDBEngine,
    TransformEngine,
    compressor_tables,
    copy_parquet,
    load_sql,
    read_parquet,
    sql_text,
    whole_compressors,
)
from altaviz.pipeline.incremental import COMPACT_FILES, day_of, files_from
from altaviz.pipeline.stages import Tables, chunk_where, fleet_chunks

HOUR = 3600
HEALTH = "gold/health"
PREDICTIONS = "gold/health_predictions"
EPISODES = "gold/health_alerts"
HEALTH_STATE = "gold/health_state"
BASELINE = "gold/health_baseline"  # each compressor's ambient baseline and where its station's proxy is
PRIOR = "gold/health_prior"  # each organization's fleet prior (altaviz.health.prior) and its prior hour
HEALTH_TABLES = (HEALTH, PREDICTIONS, EPISODES, HEALTH_STATE)
EARLY_WARNINGS = EARLY_WARNING_TYPES
# A late reading is at most silver's 24 h late; the count of readings in this window before the
# processed hours tells the next run whether one arrived.
LATE_WINDOW_HOURS = 26

TIME = pa.timestamp("us", tz="UTC")
ROWS = pa.schema(
    [
        ("organization", pa.string()),
        ("compressor_id", pa.string()),
        ("kind", pa.string()),  # hour, prediction, episode, state
        ("hour", TIME),  # the hour; the prediction's data hour; the episode's start; the last hour
        ("health_index", pa.float64()),
        ("status", pa.string()),
        ("drivers", pa.string()),
        ("anomaly", pa.bool_()),
        ("prediction", pa.bool_()),
        ("metric", pa.string()),
        ("level", pa.string()),
        ("threshold_value", pa.float64()),
        ("hours", pa.float64()),
        ("hours_low", pa.float64()),
        ("hours_high", pa.float64()),
        ("alert_type", pa.string()),
        ("last_flagged_at", TIME),
        ("returned_to_normal_at", TIME),
        ("is_active", pa.bool_()),
        ("value", pa.float64()),
        ("message", pa.string()),
        ("fed_until", TIME),
        ("state", pa.binary()),
    ]
)


# --- the state an incremental run continues from ---------------------------------------------------


@dataclass
class Episode:
    """An early-warning episode while open."""

    started: int  # epoch seconds of its first hour
    sensor: str
    value: float  # lowest health (anomaly) or soonest projected hours (prediction)
    threshold: float
    last_flagged: int
    clear: int = 0  # judged hours in a row without the flag (prediction)


Episodes = dict[str, Episode]

# A compressor's state blob (format AVHS4): a head of 16 bytes (this prefix; the model's row width,
# 4 bytes little-endian, which tells another configuration's state; 1 if a warm-up section follows;
# the number of values stored, 4 bytes; the warm-up rows stored, 2 bytes), then a bitmap of the columns
# of the model's row without the warm-up buffers (HealthState.matrix(without=_WARM): float64) stored,
# then their values, then the warm-up section while a warm-up is being collected, then its open
# episodes as JSON (empty when none). A column is stored only where it differs, bit for bit, from the
# state before the first reading (a ring's rows not yet filled, the coefficients outside a sensor's
# design, a prior not given, offsets not taken are not) and is one the model reads (not
# HealthState.unread: a sensor's normal equations outside its design); a column not stored is read
# back as the fresh state's. The warm-up section (_warm_sections) holds the buffers' filled rows only,
# `warm_n` of them (the model fills them in order and clears them whole: the rows past them are zeros,
# as the whole buffers are when `warm_n` is 0), and of `warm_x` only the columns that are not, bit for
# bit over those rows, a constant (the features' constant term: stored once) or one of `warm_y`'s
# columns (a sensor's own level, FEATURE_OF): one byte per `warm_x` column telling which (0 stored, 1
# constant, 2 + j `warm_y`'s column j), the constants, the stored `warm_x` columns' rows, then
# `warm_y`'s rows, float64. So a state read back continues bit for bit as the one written
# (tests: tests/pipeline/test_health_state.py, test_health_states.py). A batch of compressors is read
# and written as a few matrices, straight into one Arrow buffer. At 4,700 compressors judging for days
# this stores about 1,040 of the row's values a compressor, 8.5 kB; collecting a warm-up 90 hours in (a
# 4-day month), 6.9 kB instead of the previous format's 13.8 (AVHS3: the warm-up buffers whole, 13.4 kB;
# its blobs are still read). An incremental pass carries the warm-ups it cannot fill as read, their rows
# not loaded (HealthStep, _load_states). Older formats (AVHS2: all 1,533 values but the warm-up's) are
# not current: the stage computes such a compressor again from its silver.
_STATE_FORMAT = b"AVHS4"
_PREVIOUS_FORMAT = b"AVHS3"  # the same but for the warm-up section: both buffers whole, as they are
Blob = bytes | memoryview  # a state blob, or a view of one in an Arrow buffer
_HEAD = struct.Struct("<5sIBIH")  # prefix, width, warm-up follows, values stored, warm-up rows stored
_WARM = ("warm_x", "warm_y")  # adjacent in the layout
_STORED, _CONSTANT, _OF_Y = 0, 1, 2  # how a warm_x column is kept: stored, once, as warm_y's column j (2 + j)
_CHUNK = 256  # compressors through one small matrix at a time (a fleet's would be tens of MB of new pages)
_ARROW_BYTES = 2**31 - 1  # a binary array's offsets are int32: bigger batches of states are split


@dataclass(frozen=True)
class _Format:
    """The blob's layout for one model configuration."""

    width: int  # the model's row (HealthState.width)
    lo: int  # the warm-up buffers' columns in it: lo to hi
    hi: int
    fresh: Floats  # the state before the first reading, without the warm-up buffers (read-only)
    kept: Bools  # the columns of that row the model reads (the others are not stored)
    rows: int  # the warm-up buffers' rows (HealthConfig.warmup_hours)
    x_columns: int  # warm_x's columns
    y_columns: int  # warm_y's
    fields: tuple[tuple[str, int, int], ...]  # each field of that row and its columns in it (lo, hi)

    @property
    def short(self) -> int:
        return len(self.fresh)

    @property
    def bitmap(self) -> int:
        return (self.short + 7) // 8


@functools.cache
def _widths(config: HealthConfig) -> _Format:
    """The layout of this configuration's blobs."""
    template = HealthState(1, config)
    lo, _ = template.columns(_WARM[0])
    _, hi = template.columns(_WARM[-1])
    fresh = template.matrix(without=_WARM)[0]
    fresh.flags.writeable = False
    unread = np.zeros(template.width(), dtype=bool)
    for name, entries in HealthState.unread().items():
        start, end = template.columns(name)
        unread[start:end] = entries.reshape(-1)
    kept = ~np.r_[unread[:lo], unread[hi:]]
    kept.flags.writeable = False
    rows, x_columns = template.warm_x.shape[1:]
    fields, column = [], 0
    for name, array in template.arrays.items():  # (in the layout's order, as matrix() lays them)
        if name not in _WARM:
            fields.append((name, column, column + array[0].size))
            column += array[0].size
    return _Format(
        template.width(), lo, hi, fresh, kept, rows, x_columns, template.warm_y.shape[2], tuple(fields)
    )


def _fresh_row(config: HealthConfig) -> Floats:
    """A compressor's state before its first reading, as a row of the matrix without the warm-up."""
    return _widths(config).fresh


def dump_state_arrays(
    state: HealthState, episodes: list[Episodes], carried: Carried | None = None
) -> list[pa.Array]:
    """The blob of each compressor of `state` (arrays and JSON, no pickle), in order, as Arrow binary
    arrays (one unless they pass 2 GB). `carried`: the warm-up sections read but not loaded
    (_load_states): those compressors' rows in the state's buffers begin after the section's."""
    form = _widths(state.config)
    n = len(state)
    tails = [
        json.dumps({k: e.__dict__ for k, e in open_.items()}).encode() if open_ else b"" for open_ in episodes
    ]
    # which columns each compressor stores (its bitmap) and their values, a chunk of compressors at a time
    fresh = form.fresh.view(np.uint64)
    bitmaps = np.zeros((n, form.bitmap), dtype=np.uint8)
    values: list[memoryview] = []  # each compressor's, a view of its chunk's (copied once, below)
    counts = np.zeros(n, dtype=np.int64)
    active = _changed_fields(state, form)
    columns = np.concatenate([np.arange(lo, hi) for _, lo, hi in active] or [np.empty(0, np.int64)])
    for first in range(0, n, _CHUNK):
        rows = slice(first, min(first + _CHUNK, n))
        m = rows.stop - first
        stored = np.zeros((m, form.short), dtype=bool)
        blocks: list[Floats] = []
        for name, lo, hi in active:  # (as matrix() lays them: integers as float64)
            block = state.arrays[name][rows].reshape(m, hi - lo).astype(np.float64, copy=False)
            stored[:, lo:hi] = (block.view(np.uint64) != fresh[lo:hi]) & form.kept[lo:hi]
            blocks.append(block)
        counts[rows] = stored.sum(axis=1)
        bitmaps[rows] = np.packbits(stored, axis=1)
        picked = np.concatenate(blocks, axis=1)[stored[:, columns]] if blocks else np.empty(0)
        chunk = picked.view(np.uint8).data
        at = (8 * np.r_[0, np.cumsum(counts[rows])]).tolist()
        values += [chunk[a:b] for a, b in itertools.pairwise(at)]
    bitmap_bytes = bitmaps.reshape(-1).data
    warm = _warm_sections(state, form, carried or {})
    warm_rows = np.where(state.warm_n > 0, np.minimum(state.warm_n, form.rows), 0).tolist()
    lengths = _HEAD.size + form.bitmap + 8 * counts
    lengths += np.fromiter((sum(map(len, pieces)) for pieces in warm), np.int64, n)
    lengths += np.fromiter(map(len, tails), np.int64, n)
    arrays: list[pa.Array] = []
    first = 0
    while first < n:
        ends = np.cumsum(lengths[first:])
        last = first + max(1, int(np.searchsorted(ends, _ARROW_BYTES, side="right")))
        offsets = np.zeros(last - first + 1, dtype=np.int32)
        offsets[1:] = ends[: last - first]
        # each blob: its head, bitmap, values, warm-up section, episodes, copied into one NumPy buffer (a
        # bytes join of the pieces took several times as long: its tens of MB of new pages)
        data = np.empty(int(offsets[-1]), dtype=np.uint8)
        out = data.data  # (a memoryview)
        at, width, size = 0, form.width, form.bitmap
        for c in range(first, last):
            pieces: list[Blob] = [
                _HEAD.pack(_STATE_FORMAT, width, bool(warm[c]), len(values[c]) // 8, warm_rows[c]),
                bitmap_bytes[c * size : (c + 1) * size],
                values[c],
                *warm[c],
                tails[c],
            ]
            for piece in pieces:
                out[at : at + len(piece)] = piece
                at += len(piece)
        buffers = [None, pa.py_buffer(offsets), pa.py_buffer(data)]
        arrays.append(pa.Array.from_buffers(pa.binary(), last - first, buffers))
        first = last
    return arrays


def _changed_fields(state: HealthState, form: _Format) -> list[tuple[str, int, int]]:
    """The fields of `form` (without the warm-up buffers) where some compressor of `state` differs from
    the fresh state (bit for bit; an integer field by its integers: a column it does not name is
    stored by none, so the blobs leave the other fields' columns unread)."""
    changed = []
    for name, lo, hi in form.fields:
        array = state.arrays[name]
        flat = array.reshape(len(array), hi - lo)
        fresh = form.fresh[lo:hi]
        if array.dtype == np.float64:
            differs = (flat.view(np.uint64) != fresh.view(np.uint64)).any()
        else:
            differs = (flat != fresh.astype(array.dtype)).any()
        if differs:
            changed.append((name, lo, hi))
    return changed


def _warm_sections(state: HealthState, form: _Format, carried: Carried) -> list[list[Blob]]:
    """Each compressor's warm-up section (its pieces; none unless `warm_n` is above 0): the filled rows
    of the fleet gathered once; a warm_x column left out when it is constant, or warm_y's column, for
    every compressor of the fleet (else stored for all: the test is then one pass over all rows). A
    carried compressor's rows (`carried`: its section as read) are its section's, then the state's
    from there on, with the same columns left out (else its rows are loaded after all, and all encoded
    again)."""
    n, w = len(state), form.rows
    sections: list[list[Blob]] = [[] for _ in range(n)]
    members = np.flatnonzero(state.warm_n > 0)
    if not len(members):
        return sections
    first = np.zeros(n, dtype=np.int64)  # where each one's rows in the buffers begin
    for c, (rows, _) in carried.items():
        first[c] = rows
    counts = np.minimum(state.warm_n[members], w) - first[members]
    starts = np.r_[0, np.cumsum(counts)[:-1]]
    index = _row_index(members, counts, w, first[members])
    x = state.warm_x.reshape(n * w, form.x_columns).take(index, axis=0)
    y = state.warm_y.reshape(n * w, form.y_columns).take(index, axis=0)
    xv, yv = x.view(np.uint64), y.view(np.uint64)
    # bit for bit: constant where no row differs from the one before it within its compressor
    changes = xv[1:] != xv[:-1]
    changes[starts[(starts > 0) & (starts < len(x))] - 1] = False
    pattern = np.where(changes.any(axis=0), _STORED, _CONSTANT).astype(np.uint8)
    for j, column in FEATURE_OF.items():
        if np.array_equal(xv[:, column], yv[:, j]):
            pattern[column] = _OF_Y + j
    for code in {bytes(section[: form.x_columns]) for _, section in carried.values()}:
        pattern[np.frombuffer(code, np.uint8) == _STORED] = _STORED  # (storing one more is always right)
    constant = pattern == _CONSTANT
    head = form.x_columns + 8 * int(constant.sum())
    own = x[np.minimum(starts, len(x) - 1)][:, constant] if len(x) else None  # each one's constants
    position = {c: i for i, c in enumerate(members.tolist())}
    for c, (_, section) in carried.items():
        i = position[c]
        if bytes(section[: form.x_columns]) != pattern.tobytes() or (
            counts[i] and own is not None and own[i].tobytes() != bytes(section[form.x_columns : head])
        ):  # another pattern: the carried rows are loaded, and all rows encoded again
            _load_carried(state, form, carried)
            return _warm_sections(state, form, {})
    code = pattern.tobytes()
    xs = np.flatnonzero(pattern == _STORED)
    stored = np.ascontiguousarray(x[:, xs]).reshape(-1).view(np.uint8).data  # (zero rows: no cast)
    ys = y.reshape(-1).view(np.uint8).data
    at = np.r_[0, np.cumsum(counts)].tolist()
    x_size, y_size = 8 * len(xs), 8 * form.y_columns
    for i, c in enumerate(members.tolist()):
        a, b = at[i], at[i + 1]
        if c not in carried:
            assert own is not None
            sections[c] = [
                code,
                own[i].tobytes(),
                stored[x_size * a : x_size * b],
                ys[y_size * a : y_size * b],
            ]
            continue
        rows, section = carried[c]
        middle = head + x_size * rows
        sections[c] = [
            code,
            section[form.x_columns : head],
            section[head:middle],
            stored[x_size * a : x_size * b],
            section[middle : middle + y_size * rows],
            ys[y_size * a : y_size * b],
        ]
    return sections


def _row_index(compressors: Ints, counts: Ints, rows: int, first: Ints | None = None) -> Ints:
    """The flat row (compressor × `rows` + row) of each compressor's `counts` warm-up rows from its row
    `first` (0: its first row) on."""
    starts = np.r_[0, np.cumsum(counts)[:-1]]
    within = np.arange(int(counts.sum())) - np.repeat(starts, counts)
    index: Ints = np.repeat(compressors * rows + (0 if first is None else first), counts) + within
    return index


def _bytes_of(array: Floats) -> memoryview:
    """A contiguous float64 array's bytes, in C order (a view: writing it writes the array)."""
    if not array.flags.c_contiguous or array.dtype != np.float64:
        raise ValueError("a contiguous float64 array")
    return array.reshape(-1).view(np.uint8).data


def dump_states(state: HealthState, episodes: list[Episodes]) -> list[bytes]:
    """One blob per compressor of `state`."""
    return [blob for part in dump_state_arrays(state, episodes) for blob in part.to_pylist()]


def _head(blob: Blob, width: int) -> tuple[bytes, bool, int, int] | None:
    """The blob's format, whether a warm-up section follows, how many values are stored and how many
    warm-up rows (AVHS4), if a model of this row width can read the blob."""
    if len(blob) < _HEAD.size:
        return None
    prefix, stored, warm, count, rows = _HEAD.unpack_from(blob)
    current = prefix in (_STATE_FORMAT, _PREVIOUS_FORMAT) and stored == width
    return (prefix, bool(warm), count, rows) if current else None


def state_is_current(blob: Blob, config: HealthConfig) -> bool:
    """Whether this model (its configuration) can continue from the blob (AVHS4, or AVHS3's); another
    one (another format, such as AVHS2's, or configuration) starts the compressor afresh from all of its
    silver."""
    return states_are_current([blob], config)[0]


def states_are_current(blobs: Sequence[Blob | None], config: HealthConfig) -> list[bool]:
    """state_is_current of each blob (None: False), the layout looked up once (hashing the configuration
    for each of a fleet's blobs took longer than the checks)."""
    width = _widths(config).width
    return [blob is not None and _head(blob, width) is not None for blob in blobs]


def load_states(blobs: Sequence[Blob | None], config: HealthConfig) -> tuple[HealthState, list[Episodes]]:
    """The state of each compressor (None or a blob this model cannot read: from its first reading)."""
    state, episodes, _ = _load_states(blobs, config, None)
    return state, episodes


# A compressor's warm-up section read but not loaded into the state (its rows stored, the section): its
# buffers' first rows are left zero, the model only adds rows after them (HealthStep).
Carried = dict[int, tuple[int, Blob]]


def _load_states(
    blobs: Sequence[Blob | None], config: HealthConfig, room: Ints | None
) -> tuple[HealthState, list[Episodes], Carried]:
    """load_states; with `room` (per compressor, at most how many warm-up rows the step may add) the
    AVHS4 warm-up sections that cannot be full after those rows are carried, not loaded: the model
    reads a warm-up's rows only to fit it, once full (a fleet's warm-ups are tens of MB)."""
    form = _widths(config)
    carried: Carried = {}
    state = HealthState(len(blobs), config)
    episodes: list[Episodes] = [{} for _ in blobs]
    # the warm-up sections (compressor, rows, section) to load, by how warm_x's columns are kept
    sections: dict[bytes, list[tuple[int, int, Blob]]] = {}
    whole: list[tuple[int, Blob]] = []  # AVHS3's warm-up buffers
    at_values = _HEAD.size + form.bitmap
    for first in range(0, len(blobs), _CHUNK):
        chunk = blobs[first : first + _CHUNK]
        bitmaps: list[Blob] = []  # each one's, or none stored (a fresh state)
        values: list[Blob] = []
        for row, blob in enumerate(chunk):
            head = None if blob is None else _head(blob, form.width)
            if blob is None or head is None:
                bitmaps.append(bytes(form.bitmap))  # from its first reading: the fresh row
                continue
            prefix, warm, count, rows = head
            at = at_values + 8 * count
            bitmaps.append(blob[_HEAD.size : at_values])
            values.append(blob[at_values:at])
            if warm and prefix == _PREVIOUS_FORMAT:
                size = 8 * (form.hi - form.lo)
                whole.append((first + row, blob[at : at + size]))
                at += size
            elif warm:
                code = bytes(blob[at : at + form.x_columns])
                stored = code.count(_STORED)
                size = form.x_columns + 8 * code.count(_CONSTANT) + 8 * rows * (stored + form.y_columns)
                if room is not None and rows + int(room[first + row]) < form.rows:
                    carried[first + row] = (rows, blob[at : at + size])
                else:
                    sections.setdefault(code, []).append((first + row, rows, blob[at : at + size]))
                at += size
            if len(blob) > at:
                episodes[first + row] = {k: Episode(**e) for k, e in json.loads(bytes(blob[at:])).items()}
        if values:
            packed = np.frombuffer(b"".join(bitmaps), np.uint8).reshape(len(chunk), form.bitmap)
            stored_columns = np.unpackbits(packed, axis=1, count=form.short).view(bool)
            _set_stored(state, form, first, stored_columns, np.frombuffer(b"".join(values), np.float64))
    for code, members in sections.items():
        _load_warm(state, form, np.frombuffer(code, np.uint8), members)
    # AVHS3's warm-up buffers, each compressor's bytes straight into the fields'
    views = [_bytes_of(state.arrays[name]) for name in _WARM]
    sizes = [len(view) // max(len(blobs), 1) for view in views]
    for i, blob in whole:
        at = 0
        for view, size in zip(views, sizes, strict=True):
            view[i * size : (i + 1) * size] = blob[at : at + size]
            at += size
    return state, episodes, carried


def _set_stored(state: HealthState, form: _Format, first: int, stored: Bools, values: Floats) -> None:
    """The stored `values` (each row's, in column order) of the compressors `first`, `first` + 1, … of
    the fresh `state`, `stored` their columns of the row without the warm-up buffers: only the columns
    some of them store are written (the others are the fresh state's already: at 4 days of warm-up 38
    of 2,098, and the state's untouched fields stay pages the system has not given)."""
    columns = np.flatnonzero(stored.any(axis=0))
    part = np.repeat(form.fresh[None, columns], len(stored), axis=0)
    part[stored[:, columns]] = values
    rows = slice(first, first + len(stored))
    bounds = np.searchsorted(columns, [b for _, lo, hi in form.fields for b in (lo, hi)]).tolist()
    for (name, lo, _), a, b in zip(form.fields, bounds[::2], bounds[1::2], strict=True):
        if a < b:
            array = state.arrays[name]  # (a fresh state's: contiguous, so the reshape is a view)
            array.reshape(len(array), -1)[rows, columns[a:b] - lo] = part[:, a:b]


def _load_carried(state: HealthState, form: _Format, carried: Carried) -> None:
    """The carried warm-up sections into the state's buffers after all (their first rows)."""
    sections: dict[bytes, list[tuple[int, int, Blob]]] = {}
    for c, (rows, section) in carried.items():
        sections.setdefault(bytes(section[: form.x_columns]), []).append((c, rows, section))
    for code, members in sections.items():
        _load_warm(state, form, np.frombuffer(code, np.uint8), members)


def _load_warm(
    state: HealthState, form: _Format, pattern: Ints, members: list[tuple[int, int, Blob]]
) -> None:
    """The warm-up sections of the compressors `members` (compressor, rows, section), all of one
    `pattern` (how each warm_x column is kept), into the state's buffers at once."""
    xs = np.flatnonzero(pattern == _STORED)
    constant = np.flatnonzero(pattern == _CONSTANT)
    head = form.x_columns + 8 * len(constant)
    compressors = np.array([c for c, _, _ in members], dtype=np.int64)
    counts = np.array([rows for _, rows, _ in members], dtype=np.int64)
    ends = [head + 8 * len(xs) * rows for _, rows, _ in members]
    constants = np.frombuffer(b"".join(s[form.x_columns : head] for _, _, s in members), np.float64)
    stored = np.frombuffer(
        b"".join(s[head:e] for (_, _, s), e in zip(members, ends, strict=True)), np.float64
    )
    y = np.frombuffer(b"".join(s[e:] for (_, _, s), e in zip(members, ends, strict=True)), np.float64)
    y = y.reshape(-1, form.y_columns)
    x = np.empty((len(y), form.x_columns))
    x[:, xs] = stored.reshape(len(y), len(xs))
    x[:, constant] = np.repeat(constants.reshape(len(members), len(constant)), counts, axis=0)
    for column in np.flatnonzero(pattern >= _OF_Y).tolist():
        x[:, column] = y[:, int(pattern[column]) - _OF_Y]
    index = _row_index(compressors, counts, form.rows)
    state.warm_x.reshape(-1, form.x_columns)[index] = x
    state.warm_y.reshape(-1, form.y_columns)[index] = y


# --- the per-compressor step -------------------------------------------------------------------------


@dataclass
class Contexts:
    """What the step knows of the compressors besides their readings, a row each (`rows`), as arrays
    and a few maps (a Python object per compressor, for each of a fleet's compressors every pass, took
    longer than the model's hour). A compressor without a row keeps the default limits and starts
    afresh."""

    rows: dict[Key, int] = field(default_factory=dict)  # each compressor's row
    warning: Floats = field(default_factory=lambda: np.empty((0, len(SENSORS))))  # per SENSORS, NaN: none
    critical: Floats = field(default_factory=lambda: np.empty((0, len(SENSORS))))
    resets: dict[int, Ints] = field(default_factory=dict)  # a row's maintenance events (epoch seconds)
    states: dict[int, Blob] = field(default_factory=dict)  # a row's last run's state (none: from the start)
    ambient: dict[int, tuple[Ints, Floats]] = field(
        default_factory=dict
    )  # its station's proxy (seconds, values)
    hold: Ints | None = (
        None  # epoch seconds: a row's hours from here wait for the station's proxy (None: none)
    )
    priors: Floats = field(default_factory=lambda: np.empty((0, 6, FEATURES)))  # organizations' fleet priors
    prior_of: Ints | None = None  # a row's organization's in `priors` (-1 or None: none known yet)
    prior_at: Ints | None = None  # epoch seconds: a row's hours from here are stepped with its prior

    def of(self, keys: list[Key]) -> Ints:
        """The rows of `keys` (-1: none)."""
        return np.fromiter((self.rows.get(k, -1) for k in keys), np.int64, len(keys))


_NO_RESETS = np.empty(0, dtype=np.int64)
_NO_RESETS.flags.writeable = False


def _taken(values: np.ndarray | None, at: Ints, default: Any) -> np.ndarray:
    """values[at] (`at` rows of Contexts), `default` where `at` is -1 or `values` is None."""
    if values is None or not len(values):
        return np.array(np.broadcast_to(default, (len(at), *np.shape(default))))
    picked = values[np.maximum(at, 0)]
    picked[at < 0] = default
    return picked


@dataclass
class HealthStep:
    """The per-compressor function (picklable, for Spark's executors): whole compressors' readings in,
    rows of ROWS out, every compressor of the batch stepped at once (altaviz.health.fleet_step).
    Compressors without a row in the Contexts keep the default limits and start afresh."""

    contexts: Contexts
    config: HealthConfig

    def __call__(self, table: pa.Table) -> pa.Table:
        return self._step(table, carry=True)

    def _step(self, table: pa.Table, carry: bool) -> pa.Table:
        """`carry`: the warm-ups this call cannot fill carried as read (_load_states), unless the
        model reset one of them (the call is then made again, every warm-up loaded)."""
        if not table.num_rows:
            return pa.Table.from_batches([], schema=ROWS)  # (Schema.empty_table imports pandas)
        starts = compressor_starts(table)
        ends = np.r_[starts[1:], table.num_rows]
        usable = ends - starts >= 2
        picked = np.repeat(usable, ends - starts)  # the readings of the compressors stepped
        starts, ends = starts[usable], ends[usable]
        if not len(starts):
            return pa.Table.from_batches([], schema=ROWS)  # (Schema.empty_table imports pandas)
        keys = list(
            zip(
                table["organization"].take(int_array(starts)).to_pylist(),
                table["compressor_id"].take(int_array(starts)).to_pylist(),
                strict=True,
            )
        )
        times = numpy_values(table["timestamp"], np.int64) // 1_000_000
        contexts = self.contexts
        at = contexts.of(keys)
        rows = at.tolist()
        default = Limits.defaults()
        limits = Limits(
            _taken(contexts.warning, at, default.warning),
            _taken(contexts.critical, at, default.critical),
            default.side,
        )
        # each compressor's hours before it are final: before the hour of its second-to-last reading,
        # and before its station's proxy is (Contexts.hold)
        holds = _taken(contexts.hold, at, _NEVER)
        cutoff = np.minimum(times[ends - 2] // HOUR * HOUR, holds)
        counts = ends - starts
        compressor = np.repeat(np.arange(len(starts)), counts)
        whole = bool(picked.all())
        if not whole:
            times = times[picked]
        fed = times < cutoff[compressor]
        taken = fed  # the table's rows stepped: each sensor's values gathered once, not stacked and picked
        if not whole:
            taken = np.zeros(len(picked), dtype=bool)
            taken[picked] = fed
        values = np.empty((len(SENSORS), int(fed.sum())))
        for row, sensor in enumerate(SENSORS):
            np.compress(taken, numpy_values(table[sensor], np.float64), out=values[row])
        # at most one warm-up row a compressor and hour stepped: the hours of its readings fed
        fed_hours = times[fed] // HOUR
        fed_compressor = compressor[fed]
        new_hour = np.ones(len(fed_hours), dtype=bool)
        new_hour[1:] = (fed_hours[1:] != fed_hours[:-1]) | (fed_compressor[1:] != fed_compressor[:-1])
        room = np.bincount(fed_compressor[new_hour], minlength=len(keys)) if carry else None
        blobs = [contexts.states.get(r) for r in rows]
        state, episodes, carried = _load_states(blobs, self.config, room)
        # the organization's fleet prior from its prior hour on (altaviz.health.prior)
        of = _taken(contexts.prior_of, at, -1)
        prior = np.zeros((len(at), 6, FEATURES))
        prior[of >= 0] = contexts.priors[of[of >= 0]]
        prior_at = np.where(of >= 0, _taken(contexts.prior_at, at, NO_PRIOR), NO_PRIOR)
        result = step_with_prior(
            compressor[fed],
            times[fed],
            values,
            state=state,
            prior=prior,
            prior_at=prior_at,
            ambient=[contexts.ambient.get(r) for r in rows],
            resets=[contexts.resets.get(r, _NO_RESETS) for r in rows],
            limits=limits,
            config=self.config,
        )
        if carried and (
            any(np.isin(list(carried), rows).any() for rows in state.was_reset)
            or any(state.warm_n[c] < rows for c, (rows, _) in carried.items())
        ):
            return self._step(table, carry=False)  # (a reset may follow a fit that read the rows)
        out = _Rows(keys)
        out.hours(result)
        _all_episodes(keys, episodes, result, limits, self.config, out)
        out.predictions(result, limits)
        last = np.where(state.last_hour > -(2**61), state.last_hour * HOUR, -1)
        out.states(last, cutoff, dump_state_arrays(state, episodes, carried))
        return out.table()


def _soonest(result: HealthOutput, i: int, limits: Limits, c: int) -> tuple[int, float] | None:
    """The metric projected to cross soonest at row i (its critical limit, its warning limit where it
    has none) and its hours."""
    best: tuple[int, float] | None = None
    for j in range(len(SENSORS)):
        has_critical = not math.isnan(limits.critical[c, j])
        eta = float(result.eta_critical[j, i] if has_critical else result.eta_warning[j, i])
        if not math.isnan(eta) and (best is None or eta < best[1]):
            best = (j, eta)
    return best


def _all_episodes(
    keys: list[tuple[str, str]],
    episodes: list[Episodes],
    result: HealthOutput,
    limits: Limits,
    config: HealthConfig,
    out: _Rows,
) -> None:
    """Each compressor's episodes through its judged hours (those with a flag or an open episode)."""
    flagged = result.judged & (result.anomaly | result.prediction)
    busy = set(result.compressor[flagged].tolist()) | {c for c, e in enumerate(episodes) if e}
    rows = np.flatnonzero(result.judged & np.isin(result.compressor, list(busy)))
    for i in rows.tolist():
        c = int(result.compressor[i])
        _episodes(keys[c], episodes[c], result, i, limits, c, config, out)
    for c in sorted(busy):
        for episode_type, episode in episodes[c].items():
            out.episode(keys[c], episode_type, episode, None)


def _episodes(
    key: tuple[str, str],
    episodes: Episodes,
    result: HealthOutput,
    i: int,
    limits: Limits,
    c: int,
    config: HealthConfig,
    out: _Rows,
) -> None:
    hour = int(result.hour[i])
    health = float(result.health[i])
    anomaly = episodes.get("anomaly")
    if result.anomaly[i]:
        if anomaly is None:
            scores = np.nan_to_num(result.score[:, i])
            top = int(np.argmax(np.abs(scores)))
            episodes["anomaly"] = Episode(hour, SENSORS[top], health, config.anomaly_health, hour)
        else:
            anomaly.value = min(anomaly.value, health)
            anomaly.last_flagged = hour
    elif anomaly is not None:
        out.episode(key, "anomaly", anomaly, hour)
        del episodes["anomaly"]

    prediction = episodes.get("prediction")
    soonest = _soonest(result, i, limits, c) if result.prediction[i] else None
    if soonest is not None:
        j, hours = soonest
        limit = limits.critical[c, j] if not math.isnan(limits.critical[c, j]) else limits.warning[c, j]
        if prediction is None:
            episodes["prediction"] = Episode(hour, SENSORS[j], hours, float(limit), hour)
        else:
            prediction.value, prediction.last_flagged, prediction.clear = (
                min(prediction.value, hours),
                hour,
                0,
            )
    elif prediction is not None:
        prediction.clear += 1
        if prediction.clear >= config.clear_hours:
            out.episode(key, "prediction", prediction, prediction.last_flagged + HOUR)
            del episodes["prediction"]


def _message(episode_type: str, episode: Episode) -> str:
    threshold = THRESHOLDS_BY_METRIC[episode.sensor]
    if episode_type == "anomaly":
        return (
            f"Health fell to {episode.value:.0f} (below {episode.threshold:g}); "
            f"{threshold.label.lower()} drives it"
        )
    return (
        f"{threshold.label} projected to reach {episode.threshold:g} {threshold.unit} "
        f"in {episode.value:.0f} h"
    )


class _Rows:
    """The step's output rows: the hours, predictions and states as columns of the whole batch, the
    episodes (few) row by row (times as epoch microseconds). Columns are built through their buffers
    (pipeline/arrow.py: pa.array imports pandas wherever it is installed) and text columns as a few
    distinct values taken by index."""

    def __init__(self, keys: list[tuple[str, str]]) -> None:
        self.keys = keys
        self.organizations = python_array([k[0] for k in keys], pa.string())
        self.compressors = python_array([k[1] for k in keys], pa.string())
        self.parts: list[pa.Table] = []
        self.episodes: dict[str, list[Any]] = {f.name: [] for f in ROWS}

    def _part(self, kind: str, compressor: Ints, hour: Ints | None, columns: dict[str, Any]) -> None:
        """Rows of one kind: `compressor` each row's position in `keys`, `hour` epoch seconds (-1: NULL)."""
        n = len(compressor)
        if n == 0:
            return
        index = int_array(compressor)
        given: dict[str, Any] = {
            "organization": self.organizations.take(index),
            "compressor_id": self.compressors.take(index),
            "kind": _labels([kind], np.zeros(n, dtype=np.int64)),
            "hour": None if hour is None else _times(hour),
            **columns,
        }
        arrays = [given[f.name] if given.get(f.name) is not None else pa.nulls(n, f.type) for f in ROWS]
        self.parts.append(pa.Table.from_arrays(arrays, schema=ROWS))

    def hours(self, result: HealthOutput) -> None:
        """One row per hour the step processed, with its status."""
        judged = result.judged
        status = np.where(judged, 0, np.where(result.warmup, 1, 2))
        texts = ["[]"]  # the drivers: NULL unless judged, "[]" when judged without any
        which = np.where(judged, 0, -1)
        for i in np.flatnonzero(judged & result.drivers.any(axis=0)).tolist():
            named = [(SENSORS[j], float(result.score[j, i])) for j in np.flatnonzero(result.drivers[:, i])]
            named.sort(key=lambda d: -abs(d[1]))
            which[i] = len(texts)
            texts.append(json.dumps([{"sensor": s, "score": round(v, 3)} for s, v in named]))
        health = np.round(result.health, 3)
        self._part(
            "hour",
            result.compressor,
            result.hour,
            {
                "health_index": float_array(health, np.isnan(health)),
                "status": _labels(["judged", "warmup", "stopped"], status),
                "drivers": _labels(texts, which),
                "anomaly": bool_array(result.anomaly),
                "prediction": bool_array(result.prediction),
            },
        )

    def predictions(self, result: HealthOutput, limits: Limits) -> None:
        """Each compressor's projected crossings as of its newest hour, when that hour was judged."""
        if not len(result.hour):
            return
        last = np.flatnonzero(np.r_[result.compressor[1:] != result.compressor[:-1], True])
        last = last[result.judged[last]]
        compressor = result.compressor[last]
        parts = []
        for j, metric in enumerate(SENSORS):
            for level, limit, eta, low, high in (
                (
                    "warning",
                    limits.warning,
                    result.eta_warning,
                    result.eta_warning_low,
                    result.eta_warning_high,
                ),
                (
                    "critical",
                    limits.critical,
                    result.eta_critical,
                    result.eta_critical_low,
                    result.eta_critical_high,
                ),
            ):
                # NaN: no crossing projected within the horizon (or the limit is already crossed)
                keep = ~np.isnan(eta[j, last]) & ~np.isnan(limit[compressor, j])
                rows = last[keep]
                parts.append(
                    (
                        metric,
                        level,
                        compressor[keep],
                        rows,
                        limit[compressor[keep], j],
                        eta[j],
                        low[j],
                        high[j],
                    )
                )
        for metric, level, owners, rows, threshold, eta, low, high in parts:
            upper = np.round(high[rows], 3)
            none = np.zeros(len(rows), dtype=bool)
            self._part(
                "prediction",
                owners,
                result.hour[rows],
                {
                    "metric": _labels([metric], np.zeros(len(rows), dtype=np.int64)),
                    "level": _labels([level], np.zeros(len(rows), dtype=np.int64)),
                    "threshold_value": float_array(threshold, none),
                    "hours": float_array(np.round(eta[rows], 3), none),
                    "hours_low": float_array(np.round(low[rows], 3), none),
                    "hours_high": float_array(upper, np.isnan(upper)),
                },
            )

    def episode(self, key: tuple[str, str], episode_type: str, episode: Episode, ended: int | None) -> None:
        row = {
            "organization": key[0],
            "compressor_id": key[1],
            "kind": "episode",
            "hour": _micros(episode.started),
            "alert_type": episode_type,
            "metric": episode.sensor,
            "threshold_value": episode.threshold,
            "value": round(episode.value, 3),
            "last_flagged_at": _micros(episode.last_flagged),
            "returned_to_normal_at": _micros(ended),
            "is_active": ended is None,
            "message": _message(episode_type, episode),
        }
        for name, column in self.episodes.items():
            column.append(row.get(name))

    def states(self, last: Ints, cutoff: Ints, blobs: list[pa.Array]) -> None:
        """Each compressor's state (`last`: its last processed hour, -1 when none yet), `blobs` the
        states in order (dump_state_arrays)."""
        done = 0
        for part in blobs:
            rows = np.arange(done, done + len(part))
            done += len(part)
            self._part("state", rows, last[rows], {"fed_until": _times(cutoff[rows]), "state": part})

    def table(self) -> pa.Table:
        episodes = python_table(self.episodes, ROWS)
        return pa.concat_tables([*self.parts, episodes]) if self.parts else episodes


def _labels(texts: list[str], which: Ints) -> pa.Array:
    """A string column: texts[which], NULL where `which` is -1."""
    null = np.asarray(which) < 0
    return python_array(texts, pa.string()).take(int_array(np.where(null, 0, which), null))


def _times(epoch: Ints) -> pa.Array:
    """Epoch seconds as timestamps, -1 as NULL."""
    epoch = np.asarray(epoch, dtype=np.int64)
    null = epoch < 0
    return int_array(np.where(null, 0, epoch) * 1_000_000, null, TIME)


def _micros(epoch: int | None) -> int | None:
    return None if epoch is None else epoch * 1_000_000


# --- the station ambient proxy ---------------------------------------------------------------------

Key = tuple[str, str]
_NEVER = 2**62
BASELINE_SCHEMA = pa.schema(
    [
        ("organization", pa.string()),
        ("compressor_id", pa.string()),
        ("station_id", pa.string()),
        ("first_hour", pa.int64()),  # epoch hours, as every hour of this table
        ("peak_flow", pa.float64()),
        ("baseline_temp", pa.float64()),
        ("data_until", pa.int64()),  # the hour of its second-to-last reading: its hours before are final
        ("newest_hour", pa.int64()),
        ("ambient_until", pa.int64()),  # its station's proxy was final before this hour (NULL: no proxy)
    ]
)


@dataclass
class Stored:
    """A compressor's row of gold/health_baseline."""

    first_hour: int
    peak_flow: float
    baseline_temp: float
    data_until: int
    newest_hour: int
    ambient_until: int | None


@dataclass
class Ambient:
    """The station proxy as a pass computed it for its member compressors (those of the stations it
    needed): per compressor its station's proxy and hold (Contexts), and the rows of gold/health_baseline."""

    series: dict[Key, tuple[Ints, Floats]]
    hold: dict[Key, int]  # epoch seconds
    rows: pa.Table
    data_until: dict[Key, int]  # epoch hours
    first_hour: dict[Key, int]  # epoch hours
    newest: dict[Key, int]  # epoch hours


def station_ambient(
    local: DuckDBEngine,
    silver: list[Path],
    members: list[Key],
    stations: dict[Key, str],
    stored: dict[Key, Stored],
    since: int | None = None,
    end: int | None = None,
) -> Ambient:
    """The proxy of the members' stations over the hours of `silver` from `since` (epoch seconds; None:
    all), which must hold every hour the pass needs and the first 48 hours of each member whose baseline
    is not stored or may still change (and before `end`, epoch seconds, when given); each station's
    hold (see the module's docstring) and the members' baseline rows."""
    n = len(members)
    _bind_keys(local, "health_members", members, member=int_array(np.arange(n)))
    window = [] if since is None else [f"timestamp >= TO_TIMESTAMP({int(since)})"]
    window += [] if end is None else [f"timestamp < TO_TIMESTAMP({int(end)})"]
    after = f" WHERE {' AND '.join(window)}" if window else ""
    local.bind_sql("health_ambient_silver", f"SELECT * FROM {read_parquet(silver)}{after}")
    table = local.con.sql(load_sql("health_ambient_hours")).to_arrow_table()
    member = numpy_values(table["member"], np.int64)
    hour = numpy_values(table["hour"], np.int64)
    readings = numpy_values(table["readings"], np.int64)
    rows = ambient.Hourly(
        member, hour, numpy_values(table["temp"], np.float64), numpy_values(table["flow"], np.float64)
    )
    base = ambient.baselines(rows, n)
    # a member's last row: its newest hour; the hour of its second-to-last reading (its data's cutoff)
    last = np.flatnonzero(np.r_[member[1:] != member[:-1], True]) if len(member) else np.empty(0, np.int64)
    newest = np.full(n, -1, dtype=np.int64)
    until = np.full(n, -1, dtype=np.int64)
    newest[member[last]] = hour[last]
    before = last - 1
    has_before = (before >= 0) & (member[np.maximum(before, 0)] == member[last])
    until[member[last]] = np.where(
        readings[last] >= 2, hour[last], np.where(has_before, hour[np.maximum(before, 0)], -1)
    )
    for i, key in enumerate(members):
        old = stored.get(key)
        if old is None:
            continue
        if base.first[i] < 0 or old.first_hour < base.first[i]:  # its first hours are not in `silver`
            base.first[i], base.peak[i], base.temp[i] = old.first_hour, old.peak_flow, old.baseline_temp
        if until[i] < 0 or old.data_until > until[i]:  # no new reading since
            until[i], newest[i] = old.data_until, max(old.newest_hour, int(newest[i]))
    index, names = ambient.proxy_stations([stations.get(k) for k in members])
    which, hours, values = ambient.station_proxy(index, rows, ambient.deviations(rows, base, index))
    # Each station's hold: its proxy is final before the earliest hour one of its compressors may still
    # change: its data's cutoff; a founder's first hour until its baseline is known; a later compressor's
    # first hour + 48 (it gives no deviation before). One silent for longer than the late window does
    # not hold it.
    window_end = base.first + ambient.BASELINE_HOURS
    known = np.where(
        ambient.founders(base, index),
        np.where(until >= window_end, until, base.first),
        np.maximum(until, window_end),
    )
    known = np.where(base.first >= 0, known, _NEVER)
    with_station = index >= 0
    latest = np.full(len(names), -_NEVER, dtype=np.int64)
    np.maximum.at(latest, index[with_station], newest[with_station])
    recent = with_station.copy()
    recent[with_station] = newest[with_station] >= latest[index[with_station]] - LATE_WINDOW_HOURS
    hold = np.full(len(names), _NEVER, dtype=np.int64)
    np.minimum.at(hold, index[recent], known[recent])
    bounds = np.searchsorted(which, np.arange(len(names) + 1))
    per_station = [(hours[lo:hi] * HOUR, values[lo:hi]) for lo, hi in itertools.pairwise(bounds)]
    series = {k: per_station[int(s)] for k, s in zip(members, index, strict=True) if s >= 0}
    holds = {k: int(hold[s]) * HOUR for k, s in zip(members, index, strict=True) if s >= 0}
    # no hold for a compressor without readings (listed, silent): no hours of its own to hold
    no_hold = (index < 0) | (base.first < 0)
    held = hold[np.maximum(index, 0)] if len(hold) else np.zeros(n, dtype=np.int64)
    columns = [
        python_array([o for o, _ in members], pa.string()),
        python_array([c for _, c in members], pa.string()),
        python_array([_station_id(stations.get(k)) for k in members], pa.string()),
        int_array(base.first, base.first < 0),
        float_array(base.peak, np.isnan(base.peak)),
        float_array(base.temp, np.isnan(base.temp)),
        int_array(until),
        int_array(newest),
        int_array(np.where(no_hold, 0, held), no_hold),
    ]
    return Ambient(
        series,
        holds,
        pa.Table.from_arrays(columns, schema=BASELINE_SCHEMA),
        dict(zip(members, until.tolist(), strict=True)),
        dict(zip(members, base.first.tolist(), strict=True)),
        dict(zip(members, newest.tolist(), strict=True)),
    )


def _station_id(station: str | None) -> str | None:
    """The organization's own station id of a `<organization>/<station_id>` name (HealthStage.stations)."""
    return None if station is None else station.split("/", 1)[1]


def read_baselines(local: DuckDBEngine, files: list[Path]) -> dict[Key, Stored]:
    """The stored baselines of the pass's organizations."""
    return {
        (str(o), str(c)): Stored(
            int(first),
            math.nan if peak is None else float(peak),
            math.nan if temp is None else float(temp),
            int(until),
            int(newest),
            None if held is None else int(held),
        )
        for o, c, first, peak, temp, until, newest, held in _fetch(
            local,
            "SELECT organization, compressor_id, first_hour, peak_flow, baseline_temp, data_until, "
            f"newest_hour, ambient_until FROM {read_parquet(files)} "
            f"WHERE {_IN_RUN} AND first_hour IS NOT NULL",
        )
    }


# --- the organization's fleet prior (altaviz.health.prior) ---------------------------------------

PRIOR_SCHEMA = pa.schema(
    [
        ("organization", pa.string()),
        ("first_hour", pa.int64()),  # epoch hours: the organization's first reading's
        ("prior_hour", pa.int64()),  # epoch hours: first_hour + PRIOR_HOURS, its hours from here use it
        ("readings", pa.int64()),  # its silver readings before prior_hour (a late one changes the count)
        ("coefficients", pa.list_(pa.float64())),  # 6 × FEATURES, SENSORS × the model's features
    ]
)


@dataclass
class OrgPrior:
    """An organization's fleet prior, or (coefficients None) the hour its compressors wait at for it."""

    first_hour: int  # epoch hours
    at: int  # its prior hour, epoch hours
    readings: int = 0
    coefficients: Floats | None = None


def read_priors(local: DuckDBEngine, files: list[Path]) -> dict[str, OrgPrior]:
    """The stored priors of the pass's organizations."""
    return {
        str(o): OrgPrior(int(first), int(at), int(n), np.asarray(c, dtype=np.float64).reshape(6, FEATURES))
        for o, first, at, n, c in local.rows(
            "SELECT organization, first_hour, prior_hour, readings, coefficients "
            f"FROM {read_parquet(files)} WHERE {_IN_RUN}"
        )
    }


def prior_is_due(
    organization: str, members: list[Key], proxy: Ambient, stored: dict[Key, Stored]
) -> tuple[int, int, bool] | None:
    """The organization's first hour, its prior hour (epoch hours) and whether its data before that is
    final (the prior can be computed), or None when it has no reading yet. `members` must hold every
    compressor of the organization. Final: every compressor of it that reported before the prior hour
    either has its hours before it final (its own cutoff and its station's hold at or after it) or has
    been silent for longer than the late window (it holds nothing, as in its station; its backlog
    recomputes the organization)."""
    own = [k for k in members if k[0] == organization]
    firsts = [proxy.first_hour[k] for k in own if proxy.first_hour.get(k, -1) >= 0]
    firsts += [v.first_hour for k, v in stored.items() if k[0] == organization]
    if not firsts:
        return None
    first = min(firsts)
    at = prior_hour(first)
    newest = max(proxy.newest.get(k, -1) for k in own)
    due = all(
        proxy.first_hour.get(k, -1) < 0
        or proxy.first_hour[k] >= at
        or proxy.newest.get(k, -1) < newest - LATE_WINDOW_HOURS
        or min(proxy.data_until.get(k, -1), proxy.hold.get(k, _NEVER * HOUR) // HOUR) >= at
        for k in own
    )
    return first, at, due


def _readings_before(local: DuckDBEngine, silver: list[Path], organization: str, at: int) -> int:
    """The organization's silver readings before the hour `at` (epoch hours)."""
    return int(
        local.rows(
            f"SELECT COUNT(*) FROM {read_parquet(silver)} WHERE organization = {sql_text(organization)} "
            f"AND timestamp < TO_TIMESTAMP({at * HOUR})"
        )[0][0]
    )


def _prior_rows(priors: dict[str, OrgPrior]) -> pa.Table:
    known = sorted(o for o, p in priors.items() if p.coefficients is not None)
    columns: dict[str, list[Any]] = {
        "organization": known,
        "first_hour": [priors[o].first_hour for o in known],
        "prior_hour": [priors[o].at for o in known],
        "readings": [priors[o].readings for o in known],
    }
    scalars = [f for f in PRIOR_SCHEMA if f.name != "coefficients"]
    arrays = [python_array(columns[f.name], f.type) for f in scalars]
    size = 6 * FEATURES
    values = np.concatenate([priors[o].coefficients.ravel() for o in known]) if known else np.empty(0)  # type: ignore[union-attr]
    offsets = pa.py_buffer(np.arange(0, size * len(known) + 1, size, dtype=np.int32))
    flat = float_array(values, np.zeros(len(values), dtype=bool))
    coefficients = pa.ListArray.from_buffers(
        pa.list_(pa.float64()), len(known), [None, offsets], children=[flat]
    )
    return pa.Table.from_arrays([*arrays, coefficients], schema=PRIOR_SCHEMA)


# --- the stage ------------------------------------------------------------------------------------


def contexts(
    local: DuckDBEngine,
    maintenance: list[Path] | None,
    states: dict[Key, Blob] | None = None,
    ambient: Ambient | None = None,
    priors: dict[str, OrgPrior] | None = None,
) -> Contexts:
    """Each compressor's limits (the pass's compressor_thresholds), maintenance events, state, station
    proxy and its organization's fleet prior (none yet: its hours wait at the prior hour)."""
    # one row per compressor, its limits in SENSORS order (not one row per metric: 6 × the rows to Python)
    pivot = ", ".join(
        f"MAX({level}) FILTER (WHERE metric = {sql_text(s)})"
        for level in ("warning", "critical")
        for s in SENSORS
    )
    # through Arrow: DuckDB's fetchall of the 4,700 rows took four times the query
    table = local.con.sql(
        f"SELECT organization, compressor_id, {pivot} FROM compressor_thresholds GROUP BY 1, 2"
    ).to_arrow_table()
    six = len(SENSORS)
    limits = np.column_stack([numpy_values(table.column(2 + k), np.float64) for k in range(2 * six)]).reshape(
        -1, 2 * six
    )  # a NULL critical level as NaN (a warning level is never NULL)
    organizations = table["organization"].to_pylist()
    keys = list(zip(organizations, table["compressor_id"].to_pylist(), strict=True))
    rows = {key: i for i, key in enumerate(keys)}
    resets: dict[int, list[int]] = {}
    if maintenance:
        for organization, compressor, epoch in local.rows(
            f"SELECT organization, compressor_id, EPOCH(performed_at) FROM {read_parquet(maintenance)} "
            "WHERE organization IN (SELECT organization FROM run_organizations) "
            f"AND event_type IN ({', '.join(repr(t) for t in RESET_EVENT_TYPES)}) ORDER BY 1, 2, 3"
        ):
            row = rows.get((str(organization), str(compressor)))
            if row is not None:
                resets.setdefault(row, []).append(int(epoch))
    priors = priors or {}
    known = sorted(o for o, p in priors.items() if p.coefficients is not None)
    position = {o: i for i, o in enumerate(known)}
    # an organization without its prior yet: its hours wait at its prior hour
    waits = {o: p.at * HOUR for o, p in priors.items() if p.coefficients is None}
    hold = np.fromiter((waits.get(o, _NEVER) for o in organizations), np.int64, len(keys))
    if ambient is not None:
        # (a station none of whose compressors has readings yet holds at _NEVER hours: in seconds, more)
        station = np.fromiter((min(ambient.hold.get(k, _NEVER), _NEVER) for k in keys), np.int64, len(keys))
        hold = np.minimum(hold, station)
    at = {o: priors[o].at * HOUR for o in known}
    return Contexts(
        rows,
        np.ascontiguousarray(limits[:, :six]),
        np.ascontiguousarray(limits[:, six:]),
        {row: np.array(events, dtype=np.int64) for row, events in resets.items()},
        {rows[k]: blob for k, blob in (states or {}).items() if k in rows},
        {} if ambient is None else {rows[k]: s for k, s in ambient.series.items() if k in rows},
        hold,
        np.array([priors[o].coefficients for o in known], dtype=np.float64).reshape(-1, 6, FEATURES),
        np.fromiter((position.get(o, -1) for o in organizations), np.int64, len(keys)),
        np.fromiter((at.get(o, NO_PRIOR) for o in organizations), np.int64, len(keys)),
    )


def run_health(engine: TransformEngine, step: HealthStep, silver: str, output: Path) -> list[Path]:
    """The step over the silver readings `silver` selects (DuckDB dialect), into `output` as Parquet."""
    engine.bind_sql("health_silver", silver)
    engine.bind_sql("health_input", load_sql("health_input"))
    engine.map_compressors("health_step", "health_input", step)
    engine.run("health_rows", output)
    return sorted(output.rglob("*.parquet"))


# --- the full run's step: big batches, in worker processes -----------------------------------------
#
# The model's cost per hour of a batch is partly fixed (NumPy's overhead per operation, whatever the
# batch's compressors): a full run on DuckDB hands its step batches of about HEALTH_BATCH_ROWS readings
# (whole compressors: a range of compressor ids each, as fleet_chunks cuts the fleet), fewer and bigger
# than the engine's COMPRESSOR_BATCH_ROWS, so it pays that overhead fewer times (README, Benchmarks:
# 2,027,580 readings in two batches instead of four, 0.91× the step's CPU; in one, no less). The model
# is single-threaded NumPy; the batches may run in worker processes (`StepPool`), each holding the
# pass's HealthStep, their rows written in input order: the same rows as one process and as other
# batches (a compressor's result depends on its own readings and context only), the model on several
# cores while DuckDB reads and writes. Spark runs the step on its executors (mapInArrow) as before.

# Readings a full run's health step is handed at a time, about (see HealthStage._full_batches for how
# the fleet is cut; two workers stepping batches of 1 M raised the stage's peak memory by about 0.55 GB
# against 500,000: README, Benchmarks).
HEALTH_BATCH_ROWS = 1_000_000

_WORKER_STEP: list[HealthStep] = []  # the step of this worker process (set once, by _worker_init)


def _worker_init(step: HealthStep) -> None:
    _WORKER_STEP[:] = [step]


def _worker_call(table: pa.Table) -> pa.Table:
    return _WORKER_STEP[0](table)


@dataclass
class StepPool:
    """`workers` processes, each holding `step` (spawned: the parent's DuckDB threads are not forked)."""

    step: HealthStep
    workers: int

    def __post_init__(self) -> None:
        self.executor = ProcessPoolExecutor(
            self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_worker_init,
            initargs=(self.step,),
        )

    def close(self) -> None:
        self.executor.shutdown(cancel_futures=True)


def idle_cores(seconds: float = 0.2) -> float:
    """How many cores every process left idle over the next `seconds` (/proc/stat; 0 where unknown)."""

    def sample() -> tuple[int, int]:
        with open("/proc/stat") as stat:
            ticks = [int(v) for v in stat.readline().split()[1:9]]  # user … steal
        return ticks[3] + ticks[4], sum(ticks)  # idle and waiting for I/O, all

    try:
        idle, total = sample()
        time.sleep(seconds)
        idle_after, total_after = sample()
    except (OSError, ValueError, IndexError):
        return 0.0
    return (os.cpu_count() or 1) * (idle_after - idle) / max(total_after - total, 1)


def stepped_in(
    engine: DuckDBEngine, step: HealthStep, pool: StepPool | None, name: str, sources: list[str]
) -> None:
    """`name` bound, as map_compressors binds it, to the step over each of `sources` (SQL over `engine`,
    whole compressors each: one call each, sorted as map_compressors sorts), in this process or in the
    `pool`'s workers (at most a call per worker and one more in flight), results in input order."""
    reading = engine.con.cursor()  # its own connection: the statement reading `name` runs on the other
    reading.execute("SET TimeZone = 'UTC'")
    order = ", ".join(COMPRESSOR_ORDER)

    def tables() -> Iterator[pa.Table]:
        for source in sources:
            yield reading.sql(f"SELECT * FROM ({source}) AS b ORDER BY {order}").to_arrow_table()

    def batches() -> Iterator[pa.RecordBatch]:
        if pool is None:
            for table in tables():
                yield from step(table).to_batches()
            return
        pending: deque[Future[pa.Table]] = deque()
        try:
            for table in tables():
                pending.append(pool.executor.submit(_worker_call, table))
                if len(pending) > pool.workers:
                    yield from pending.popleft().result().to_batches()
            while pending:
                yield from pending.popleft().result().to_batches()
        finally:
            for future in pending:
                future.cancel()

    engine.con.register(name, pa.RecordBatchReader.from_batches(ROWS, batches()))
    engine.streams.add(name)


def split(
    local: DuckDBEngine,
    source: str,
    staged: dict[str, Path],
    kept: dict[str, str],
) -> None:
    """The step's rows (the relation `source`) into the staged directories of the hourly, predictions and
    episodes tables; `kept[table]` (SQL) adds rows kept from the current version. (The state table:
    HealthStage._write_states.)"""
    selects = {
        HEALTH: (
            "organization, compressor_id, hour, health_index, status, drivers, anomaly, prediction",
            "hour",
        ),
        PREDICTIONS: (
            "organization, compressor_id, metric, level, threshold_value, hours, hours_low, hours_high, "
            "hour + to_seconds(hours * 3600) AS projected_at, hour AS computed_at",
            None,
        ),
        EPISODES: (
            "organization, compressor_id, alert_type, hour AS started_at, metric AS sensor, "
            "threshold_value, value, last_flagged_at, returned_to_normal_at, is_active, message",
            None,
        ),
    }
    kinds = {HEALTH: "hour", PREDICTIONS: "prediction", EPISODES: "episode"}
    for table, (columns, partition_by) in selects.items():
        sql = f"SELECT {columns} FROM {source} WHERE kind = '{kinds[table]}'"
        if table in kept:
            sql = f"{sql} UNION ALL BY NAME {kept[table]}"
        copy_parquet(local.con, sql, staged[table], partition_by)


_IN_RUN = "organization IN (SELECT organization FROM run_organizations)"


class HealthStage:
    """The health stage of one pass: `full` (every compressor of the pass, or those `only` names, from
    all of their silver) and `incremental` (the compressors with new readings, from their state)."""

    # A full run on DuckDB steps its batches in this many worker processes (None: the engine's threads,
    # at most the cores; 1: in this process), when its silver holds more than `pool_rows` readings (one
    # batch: no gain to pay the workers' start for).
    workers: int | None = None
    pool_rows: int = COMPRESSOR_BATCH_ROWS

    def __init__(
        self,
        engine: TransformEngine,
        local: DuckDBEngine,
        tables: Tables,
        version: str,
        config: HealthConfig,
        chunk_rows: int,
        stations: dict[Key, str],
    ) -> None:
        self.chunk_rows = chunk_rows
        # each compressor's station (the registry's, else its fleet file's), named <organization>/<id>:
        # station ids are an organization's own, and two organizations of one pass may both have a
        # STATION-001 (their compressors are not station-mates)
        self.stations = {key: f"{key[0]}/{station}" for key, station in stations.items()}
        self.engine = engine
        self.local = local
        self.tables = tables
        self.version = version
        self.config = config
        self.lake = tables.lake

    def _maintenance(self) -> list[Path] | None:
        if not self.lake.has_table("reference/maintenance", self.tables.manifest):
            return None
        return self.tables.files("reference/maintenance")

    def _old_states(self) -> dict[Key, OldState]:
        """The current gold/health_state's rows of the pass's organizations."""
        organizations = None
        if self.local.scoped:
            organizations = {
                str(o) for (o,) in self.local.rows(f"SELECT organization FROM {RUN_ORGANIZATIONS}")
            }
        return read_states(self.lake.table_files(HEALTH_STATE, self.tables.manifest), organizations)

    def _stored(self) -> dict[Key, Stored]:
        if not self.lake.has_table(BASELINE, self.tables.manifest):
            return {}
        return read_baselines(self.local, self.lake.table_files(BASELINE, self.tables.manifest))

    def _stored_priors(self) -> dict[str, OrgPrior]:
        if not self.lake.has_table(PRIOR, self.tables.manifest):
            return {}
        return read_priors(self.local, self.lake.table_files(PRIOR, self.tables.manifest))

    def _priors(
        self,
        members: list[Key],
        proxy: Ambient,
        stored: dict[Key, Stored],
        kept: dict[str, OrgPrior],
        silver: list[Path],
        compute: bool = True,
        whole: bool = False,
    ) -> dict[str, OrgPrior]:
        """The members' organizations' priors: those of `kept` as they are; for another (`compute`: its
        compressors all among `members`) its prior hour, and its prior when its data before that hour is
        final, else its compressors' hours wait at it (their holds in `proxy`). `whole`: `proxy` is of
        all of `silver`'s hours (a full pass), so the priors take theirs from it (`_compute_prior`)."""
        out: dict[str, OrgPrior] = {}
        for organization in sorted({k[0] for k in members}):
            if organization in kept:
                out[organization] = kept[organization]
                continue
            due = prior_is_due(organization, members, proxy, stored)
            if due is None:
                continue
            first, at, ready = due
            prior = OrgPrior(first, at)
            if ready and compute:
                prior.readings, prior.coefficients = self._compute_prior(
                    organization, at, members, stored, silver, proxy if whole else None
                )
            else:
                for key in members:
                    if key[0] == organization:
                        proxy.hold[key] = min(proxy.hold.get(key, _NEVER), at * HOUR)
            out[organization] = prior
        return out

    def _compute_prior(
        self,
        organization: str,
        at: int,
        members: list[Key],
        stored: dict[Key, Stored],
        silver: list[Path],
        proxy: Ambient | None = None,
    ) -> tuple[int, Floats]:
        """The organization's prior from its silver readings before its prior hour `at` (epoch hours),
        with the station proxy of those hours (from its silver up to 48 h later: a baseline's window;
        or `proxy`, of all of its silver's hours: the same values in the hours before `at`, which only
        compressors whose 48-hour baseline windows end before `at` + 48 give), its compressors a batch
        at a time; and the count of those readings."""
        if proxy is None:
            own = [k for k in members if k[0] == organization]
            proxy = station_ambient(
                self.local, silver, own, self.stations, stored, end=(at + ambient.BASELINE_HOURS) * HOUR
            )
        self.local.bind_sql(
            "health_silver",
            f"SELECT * FROM {read_parquet(silver)} WHERE organization = {sql_text(organization)} "
            f"AND timestamp < TO_TIMESTAMP({at * HOUR})",
        )
        self.local.bind_sql("health_start", _NO_START)
        self.local.bind_sql("health_input", load_sql("health_input"))
        reader = self.local.con.sql(
            f"SELECT * FROM health_input ORDER BY {', '.join(COMPRESSOR_ORDER)}"
        ).to_arrow_reader(COMPRESSOR_BATCH_ROWS)
        rows: list[tuple[Floats, Floats]] = []
        readings = 0

        for table in compressor_tables(reader):
            readings += table.num_rows
            starts = compressor_starts(table)
            ends = np.r_[starts[1:], table.num_rows]
            keys = table["compressor_id"].take(int_array(starts)).to_pylist()
            times = numpy_values(table["timestamp"], np.int64) // 1_000_000
            values = np.vstack([numpy_values(table[s], np.float64) for s in SENSORS])
            series = []
            for compressor, lo, hi in zip(keys, starts.tolist(), ends.tolist(), strict=True):
                proxy_series = proxy.series.get((organization, str(compressor)))
                hours, levels = proxy_series if proxy_series is not None else (None, None)
                series.append((times[lo:hi], values[:, lo:hi], hours, levels))
            rows.extend(organization_warmups(series, at * HOUR, self.config))
        return readings, pooled_prior(rows)

    def _write_priors(self, priors: dict[str, OrgPrior], replace: bool) -> None:
        """gold/health_prior: the known priors of `priors`, and (`replace`) every other organization's
        row as it is (a full pass: the others' are added by Tables.keep_others)."""
        staged = self._staged(PRIOR)
        self.local.con.register("health_prior_new", _prior_rows(priors))
        sql = "SELECT * FROM health_prior_new"
        if replace and self.lake.has_table(PRIOR, self.tables.manifest):
            old = read_parquet(self.lake.table_files(PRIOR, self.tables.manifest))
            waiting = [o for o, p in priors.items() if p.coefficients is None]
            self.local.bind_rows(
                "health_prior_dropped", [{"organization": o} for o in waiting] or [{"organization": ""}]
            )
            sql += (
                f" UNION ALL BY NAME SELECT * FROM {old} WHERE organization NOT IN "
                "(SELECT organization FROM health_prior_new) AND organization NOT IN "
                "(SELECT organization FROM health_prior_dropped)"
            )
            self.tables.complete.add(PRIOR)
        target = sql_text(str(staged / "part-0.parquet"))
        self.local.con.execute(f"COPY ({sql} ORDER BY organization) TO {target} (FORMAT parquet)")
        self.local.con.unregister("health_prior_new")

    def full(self, only: str | None = None) -> None:
        """From all silver; `only` (SQL over `local`, organization and compressor_id): just those
        compressors, every other one's rows kept as they are."""
        silver = self.tables.files("silver/readings")
        stations = self.stations
        every = [
            (str(o), str(c))
            for o, c in self.local.rows(
                f"SELECT DISTINCT organization, compressor_id FROM compressors WHERE {_IN_RUN} ORDER BY 1, 2"
            )
        ]
        picked: list[Key] | None = None
        if only is not None:
            picked = [
                (str(o), str(c))
                for o, c in self.local.rows(f"SELECT organization, compressor_id FROM ({only}) AS o")
            ]
            touched = {stations[k] for k in picked if k in stations}
            members = sorted({*picked, *(k for k in every if stations.get(k) in touched)})
        else:
            members = every
        stored = self._stored()
        proxy = station_ambient(self.local, silver, members, stations, stored)
        # a full pass computes every organization's prior again; one for some compressors (`only`: an
        # alarm-limit change, which changes no prior) keeps the stored ones, and an organization without
        # one keeps waiting for the next incremental pass at its prior hour
        kept = self._stored_priors() if picked is not None else {}
        priors = self._priors(members, proxy, stored, kept, silver, picked is None, whole=True)
        step = HealthStep(
            contexts(self.local, self._maintenance(), ambient=proxy, priors=priors), self.config
        )
        output = self.local.scratch("health_rows")
        self.engine.bind_sql("health_start", _NO_START)
        if picked is not None:
            self.local.bind_rows(
                "health_fresh", [{"organization": o, "compressor_id": c} for o, c in picked] or _NO_ROW
            )
            source = (
                f"SELECT s.* FROM {read_parquet(silver)} AS s JOIN health_fresh AS f "
                "ON f.organization = s.organization AND f.compressor_id = s.compressor_id"
            )
            rows = run_health(self.engine, step, source, output)
            self._stage(rows, fresh="SELECT organization, compressor_id FROM health_fresh")
            self._write_baselines(proxy, replace=True)
            self._write_priors(priors, replace=True)
            return
        if isinstance(self.engine, DuckDBEngine):
            rows = self._full_batches(self.engine, step, silver, output)
        else:
            self.engine.bind_parquet("health_silver_files", silver)
            rows = run_health(self.engine, step, "SELECT * FROM health_silver_files", output)
        self._stage(rows, fresh=None)
        self._write_baselines(proxy, replace=False)
        self._write_priors(priors, replace=False)

    def _full_batches(
        self, engine: DuckDBEngine, step: HealthStep, silver: list[Path], output: Path
    ) -> list[Path]:
        """A full run's step on DuckDB (`stepped_in`): the fleet cut by compressor ids into batches of
        about the same number of readings, about HEALTH_BATCH_ROWS, at most the engine's chunk, and at
        least as many as the workers stepping them; its rows into `output`."""
        if not silver:
            readings = 0
        else:
            readings = int(self.local.rows(f"SELECT COUNT(*) FROM {read_parquet(silver)}")[0][0])
        pool = self._pool(step, readings)
        workers = pool.workers if pool is not None else 1
        batches = max(workers, round(readings / HEALTH_BATCH_ROWS), math.ceil(readings / self.chunk_rows))
        size = max(1, math.ceil(readings / batches))
        starts = fleet_chunks(engine, silver, size) if silver else []
        engine.bind_sql("health_silver", f"SELECT * FROM {read_parquet(silver)} WHERE {_IN_RUN}")
        engine.bind_sql("health_input", load_sql("health_input"))
        sources = [
            f"SELECT * FROM health_input{chunk_where(starts, chunk)}" for chunk in range(len(starts) + 1)
        ]
        try:
            stepped_in(engine, step, pool, "health_step", sources)
            engine.run("health_rows", output)
        finally:
            if pool is not None:
                pool.close()
        return sorted(output.rglob("*.parquet"))

    def _pool(self, step: HealthStep, readings: int) -> StepPool | None:
        """Worker processes for a full run's step (DuckDB), when its `readings` are more than `pool_rows`:
        `workers` if set, else as many as the engine's threads and the cores other processes leave idle
        allow (on a busy machine a second process only adds its start and the batches' transfer to the
        CPU seconds: measured, README)."""
        workers = self.workers
        if workers is None:
            threads = int(self.local.rows("SELECT current_setting('threads')")[0][0])
            workers = min(threads, os.cpu_count() or 1)
        if workers < 2 or readings <= self.pool_rows or multiprocessing.current_process().daemon:
            return None  # (a daemonic process may not start any)
        if self.workers is None:
            workers = min(workers, int(idle_cores() + 0.5))
            if workers < 2:
                return None
        return StepPool(step, workers)

    def incremental(self, changed: str) -> None:
        """The compressors `changed` names (SQL over `local`: those with new good readings) continue
        from their state, with the station-mates their readings release (module docstring); one whose
        processed hours gained a reading (late) starts afresh, and so does every compressor of its
        station (the proxy of hours they used may have changed)."""
        if not all(self.lake.has_table(t, self.tables.manifest) for t in (HEALTH_STATE, BASELINE, PRIOR)):
            self.full()  # the first run since the health stage (or its station proxy, or the prior) existed
            return
        old_states = self._old_states()
        silver = self.tables.files("silver/readings")
        news = {
            (str(o), str(c))
            for o, c in _fetch(self.local, f"SELECT organization, compressor_id FROM ({changed}) AS c")
        }
        stations = self.stations
        stored = self._stored()
        touched = {stations[k] for k in news if k in stations}
        members = sorted({*news, *(k for k, st in stations.items() if st in touched and k in stored)})
        # The organizations' priors: a stored one holds unless its readings before the prior hour changed
        # (a late reading, a backlog or a new compressor's first readings landed there): then the
        # organization is computed again. One without a prior has all its compressors in the pass, to
        # tell whether its data before the prior hour is final.
        stored_priors = self._stored_priors()
        # each compressor with new readings and a state: the hour it was fed until (epoch hours)
        fed_at = {key: old.fed_until for key, old in old_states.items() if key in news}  # epoch seconds
        fed = {key: seconds // HOUR for key, seconds in fed_at.items()}
        renewed_orgs = self._changed_priors(news, fed, stored, stored_priors, silver)
        waiting = {k[0] for k in news if k[0] not in stored_priors} | renewed_orgs
        members = sorted({*members, *(k for k in stored if k[0] in waiting)})
        counts: dict[Key, int] = {}
        recent: RecentCounts | None = None
        if fed:
            # one scan of the late window's silver, per compressor and hour: these counts, and those of
            # the states this pass writes (_write_states)
            first = min(fed.values()) - LATE_WINDOW_HOURS
            recent = recent_counts(self.local, silver, sorted({*old_states, *news, *members}), first)
            at = np.fromiter(fed_at.values(), np.int64, len(fed_at))
            late = _window_counts(self.local, silver, list(fed_at), at, recent)
            counts = dict(zip(fed_at, late.tolist(), strict=True))
        previous: dict[Key, tuple[Blob | None, int | None, int]] = {}
        fresh: set[Key] = set()
        wanted = {*news, *members}
        for key, (blob, last_micros, fed_until, recent_count) in old_states.items():
            if key not in wanted:
                continue
            previous[key] = (blob, last_micros, fed_until // HOUR)
            if key in news and counts.get(key, 0) != recent_count:
                fresh.add(key)  # a reading arrived late into its processed hours
        # A late reading may have changed its station's proxy in hours the station's compressors used,
        # and so may a compressor that its station went on without (silent longer than the late window)
        # coming back: its station starts afresh.
        renewed = {stations[k] for k in fresh if k in stations}
        for key in news:
            old_row = stored.get(key)
            if (
                key in stations
                and old_row is not None
                and old_row.ambient_until is not None
                and old_row.data_until < old_row.ambient_until
            ):
                renewed.add(stations[key])
        fresh |= {k for k in members if stations.get(k) in renewed or k[0] in renewed_orgs}
        current = states_are_current([blob for blob, _, _ in previous.values()], self.config)
        for key, is_current in zip(previous, current, strict=True):
            if not is_current:
                fresh.add(key)  # a state of another model version: computed again from all silver
        continuing = {k for k in previous if k not in fresh}
        young = [
            stored[k].first_hour
            for k in members
            if k in stored
            and stored[k].newest_hour < stored[k].first_hour + ambient.BASELINE_HOURS + LATE_WINDOW_HOURS
        ]
        complete = all(k in continuing for k in news) and all(k in stored for k in members)
        if complete:
            pending = [
                previous[k][2] for k in members if k in continuing and previous[k][2] < stored[k].data_until
            ]
            starts_at = [(previous[k][1] or 0) // 3_600_000_000 + 1 for k in news]
            since: int | None = min([*starts_at, *pending, *young]) * HOUR
            hours = files_from(silver, _EPOCH + timedelta(seconds=since or 0))
        else:
            since, hours = None, silver
        proxy = station_ambient(self.local, hours, members, stations, stored, since)
        # a new compressor whose deviations reach hours its station already used (a backlog landed)
        for key in news - set(previous):
            station = stations.get(key)
            used = [
                stored[k].ambient_until or 0 for k in members if k in stored and stations.get(k) == station
            ]
            first = proxy.first_hour.get(key, -1)
            if station is not None and first >= 0 and first + ambient.BASELINE_HOURS < max(used, default=0):
                fresh |= {k for k in members if stations.get(k) == station}
        kept = {o: p for o, p in stored_priors.items() if o not in renewed_orgs}
        priors = self._priors(members, proxy, stored, kept, silver)
        # the station-mates whose pending hours the proxy (or the organization's new prior) now releases
        released = {
            k
            for k in members
            if k in continuing
            and k not in news
            and k not in fresh
            and previous[k][2] < min(proxy.data_until.get(k, -1), proxy.hold.get(k, _NEVER) // HOUR)
        }
        processed = sorted({*news, *released, *(k for k in fresh if k in members or k in news)})
        states: dict[Key, Blob] = {}
        starts: list[tuple[Key, int]] = []  # each continuing compressor and its first new hour (epoch µs)
        for key in processed:
            if key in fresh or key not in previous:
                continue
            blob, last_micros, _ = previous[key]
            assert blob is not None
            states[key] = blob
            if last_micros is not None:
                starts.append((key, last_micros + HOUR * 1_000_000))
        step = HealthStep(contexts(self.local, self._maintenance(), states, proxy, priors), self.config)
        if starts:
            at = np.array([micros for _, micros in starts], dtype=np.int64)
            _bind_keys(
                self.local, "health_start_rows", [k for k, _ in starts], start_at=int_array(at, None, TIME)
            )
            self.local.bind_sql("health_start", "SELECT * FROM health_start_rows")
        else:
            self.local.bind_sql("health_start", _NO_START)
        _bind_keys(self.local, "health_fresh", sorted(fresh & set(processed)))
        _bind_keys(self.local, "health_processed_set", processed)
        # every compressor continuing from a known hour: only the files from the earliest of those, and
        # their readings from it (a literal bound, applied as the files are read: the day's other
        # readings are not joined)
        source = (
            "SELECT s.* FROM {files} AS s JOIN health_processed_set AS c "
            "ON c.organization = s.organization AND c.compressor_id = s.compressor_id"
        )
        if starts and len(starts) == len(processed):
            first = min(micros for _, micros in starts)
            reaching = files_from(silver, _EPOCH + timedelta(microseconds=first))
            source += f" WHERE s.timestamp >= make_timestamptz({first})"
        else:
            reaching = silver
        source = source.format(files=read_parquet(reaching))
        # An incremental pass runs here, on the local engine: the step is called on the input's
        # batches directly (map_compressors' streaming, without DuckDB reading the step's output
        # back) and its rows stay in memory (an hour's: each compressor's state, tens of MB, and a few).
        self.local.bind_sql("health_silver", source)
        self.local.bind_sql("health_input", load_sql("health_input"))
        reader = self.local.con.sql(
            f"SELECT * FROM health_input ORDER BY {', '.join(COMPRESSOR_ORDER)}"
        ).to_arrow_reader(COMPRESSOR_BATCH_ROWS)
        batches = list(whole_compressors(reader, step))
        empty = step(pa.Table.from_batches([], schema=reader.schema))
        new = pa.Table.from_batches(batches, schema=empty.schema)
        self._stage(
            new, "SELECT organization, compressor_id FROM health_fresh", incremental=True, recent=recent
        )
        self.local.con.unregister("health_new_rows")  # its states (tens of MB) are written: let them go
        self._write_baselines(proxy, replace=True)
        self._write_priors(priors, replace=True)

    def _changed_priors(
        self,
        news: set[Key],
        fed: dict[Key, int],
        stored: dict[Key, Stored],
        priors: dict[str, OrgPrior],
        silver: list[Path],
    ) -> set[str]:
        """The organizations whose stored prior's readings changed: looked at (a count of silver before the
        prior hour) only when a compressor with new readings may have brought some there — one new, or
        whose data or processed hours end less than the late window after the prior hour (`fed`: the
        hour each one with a state was fed until, epoch hours)."""
        suspects = {
            k[0]
            for k in news
            if k[0] in priors
            and (
                k not in stored
                or k not in fed
                or min(stored[k].data_until, fed[k]) < priors[k[0]].at + LATE_WINDOW_HOURS + 1
            )
        }
        return {
            o for o in suspects if _readings_before(self.local, silver, o, priors[o].at) != priors[o].readings
        }

    def _write_baselines(self, proxy: Ambient, replace: bool) -> None:
        """gold/health_baseline: the members' rows, and (`replace`) every other row as it is."""
        staged = self._staged(BASELINE)
        self.local.con.register("health_baseline_new", proxy.rows)
        sql = "SELECT * FROM health_baseline_new"
        if replace and self.lake.has_table(BASELINE, self.tables.manifest):
            old = read_parquet(self.lake.table_files(BASELINE, self.tables.manifest))
            sql += (
                f" UNION ALL BY NAME SELECT * FROM {old} WHERE (organization, compressor_id) NOT IN "
                "(SELECT organization, compressor_id FROM health_baseline_new)"
            )
            self.tables.complete.add(BASELINE)
        target = sql_text(str(staged / "part-0.parquet"))
        self.local.con.execute(
            f"COPY ({sql} ORDER BY organization, compressor_id) TO {target} (FORMAT parquet)"
        )
        self.local.con.unregister("health_baseline_new")

    def _stage(
        self,
        rows: list[Path] | pa.Table,
        fresh: str | None,
        incremental: bool = False,
        recent: RecentCounts | None = None,
    ) -> None:
        """The step's rows into the next versions of the four tables. Full pass (`fresh` None): its
        rows only (the other organizations' are added by Tables.keep_others). Otherwise the current
        rows are kept, except those the step replaces: a fresh compressor's rows, a processed one's
        state, the predictions of one that judged a new hour (as of its newest hour: one whose new
        readings made no hour final keeps those of the hour it processed last, as a full run would
        compute them), an episode the step wrote again. `rows`: the step's files, or its rows in memory
        (an incremental pass's); `recent`: the pass's counts of the late window (_write_states)."""
        local = self.local
        if isinstance(rows, pa.Table):
            local.con.register("health_new_rows", rows)
            local.bind_sql("health_new", "SELECT * FROM health_new_rows")
        else:
            local.bind_parquet("health_new", rows)
        local.bind_sql(
            "health_processed",
            "SELECT DISTINCT organization, compressor_id FROM health_new WHERE kind = 'state'",
        )
        staged = {t: self._staged(t) for t in HEALTH_TABLES}
        kept: dict[str, str] = {}
        if fresh is not None:
            not_fresh = f"(organization, compressor_id) NOT IN ({fresh})"
            not_processed = "(organization, compressor_id) NOT IN (SELECT * FROM health_processed)"
            no_new_hour = (
                "(organization, compressor_id) NOT IN "
                "(SELECT DISTINCT organization, compressor_id FROM health_new WHERE kind = 'hour')"
            )
            for table in HEALTH_TABLES:
                if not self.lake.has_table(table, self.tables.manifest):
                    continue
                old = self.lake.table_files(table, self.tables.manifest)
                if table == HEALTH:
                    kept_files, old = self._kept_days(old, fresh, incremental)
                    self.tables.staged[table].kept = kept_files
                    if not old:
                        continue
                where = {
                    HEALTH: not_fresh,
                    PREDICTIONS: f"{not_fresh} AND {no_new_hour}",
                    HEALTH_STATE: not_processed,
                    EPISODES: f"{not_fresh} AND {REWRITTEN_EPISODES}",
                }[table]
                if (
                    table == HEALTH_STATE
                    and not local.rows(f"SELECT COUNT(*) FROM {read_parquet(old)} WHERE {where}")[0][0]
                ):
                    continue  # every state replaced (an hour's usual case): tens of MB not read again
                columns = STATE_COLUMNS if table == HEALTH_STATE else "*"
                kept[table] = f"SELECT {columns} FROM {read_parquet(old)} WHERE {where}"
            self.tables.complete.update(HEALTH_TABLES)
        split(local, "health_new", staged, kept)
        if isinstance(rows, pa.Table):
            states = _state_rows(rows)
        else:
            states = local.con.sql(
                "SELECT organization, compressor_id, hour AS last_hour, fed_until, state FROM health_new "
                "WHERE kind = 'state'"
            ).to_arrow_table()
        self._write_states(states, kept.get(HEALTH_STATE), staged[HEALTH_STATE] / "part-0.parquet", recent)

    def _staged(self, table: str) -> Path:
        self.tables.staged[table] = self.lake.stage(table, self.version)
        return self.tables.staged[table].directory

    def _kept_days(self, old: list[Path], fresh: str, incremental: bool) -> tuple[list[Path], list[Path]]:
        """Of the hourly table's files: those kept as they are, and those rewritten (without the fresh
        compressors' rows, with the new rows of their days).

        An incremental pass without fresh compressors only adds rows (its new hours'), in files of their
        own: every file is kept, except those of a day its new rows reach that holds COMPACT_FILES
        files (written again as one, with the new rows) and a file outside the day directories (the
        schema of a table without rows). Rewriting the day's file each hour read and wrote all of the
        day's rows (a day of 4,700 compressors: 113,000) to add an hour's."""
        if not incremental or self.local.rows(f"SELECT COUNT(*) FROM ({fresh}) AS f")[0][0]:
            return [], old
        first = self.local.rows("SELECT MIN(hour) FROM health_new WHERE kind = 'hour'")[0][0]
        if not isinstance(first, datetime):
            return old, []
        files_per_day = Counter(map(day_of, old))
        crowded = {day for day, files in files_per_day.items() if day is None or files >= COMPACT_FILES}
        rewritten = {f for f in files_from(old, first) if day_of(f) in crowded}
        return [f for f in old if f not in rewritten], sorted(rewritten)

    def _write_states(
        self, states: pa.Table, kept: str | None, target: Path, recent: RecentCounts | None = None
    ) -> None:
        """The step's state rows (`states`: STATE_COLUMNS) and those `kept` selects (SQL) into `target`,
        each with its compressor's count of silver readings in the late window before `fed_until` (how
        the next run tells a late reading; from `recent` where it covers them). Written by pyarrow,
        uncompressed: the states are tens of MB of floats, rewritten every pass and read by the next
        (DuckDB's COPY of the same rows took about four times the CPU with snappy, twice without
        compression; snappy saved a third of the bytes)."""
        rows = states
        if kept is not None:
            rows = pa.concat_tables([rows, self.local.con.sql(kept).to_arrow_table().cast(rows.schema)])
        keys = list(zip(rows["organization"].to_pylist(), rows["compressor_id"].to_pylist(), strict=True))
        fed_until = numpy_values(rows["fed_until"], np.int64) // 1_000_000
        silver = self.tables.files("silver/readings")
        counts = _window_counts(self.local, silver, keys, fed_until, recent)
        rows = rows.append_column("recent_count", int_array(counts))
        pq.write_table(rows, target, compression="none", use_dictionary=False, write_statistics=False)


REWRITTEN_EPISODES = (
    "(organization, compressor_id, alert_type, started_at) NOT IN "
    "(SELECT organization, compressor_id, alert_type, hour FROM health_new WHERE kind = 'episode')"
)
STATE_COLUMNS = "organization, compressor_id, last_hour, fed_until, state"
_NO_START = (
    "SELECT CAST(NULL AS VARCHAR) AS organization, CAST(NULL AS VARCHAR) AS compressor_id, "
    "CAST(NULL AS TIMESTAMPTZ) AS start_at WHERE FALSE"
)
_NO_ROW = [{"organization": "", "compressor_id": ""}]  # matches no compressor


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def read_states(files: list[Path], organizations: set[str] | None) -> dict[Key, OldState]:
    """The rows of gold/health_state (`files`) of `organizations` (None: all): per compressor its state
    blob, last hour (epoch microseconds, None when none yet), the cutoff it was fed until (epoch seconds)
    and its recent count. Read by pyarrow from the memory-mapped files (uncompressed, as
    HealthStage._write_states writes them: DuckDB's read of the same rows into Arrow took about four
    times as long), the blobs views of its buffers (tens of MB of states not copied)."""
    out: dict[Key, OldState] = {}
    for path in files:
        table = pq.ParquetFile(path, memory_map=True).read(
            ["organization", "compressor_id", "state", "last_hour", "fed_until", "recent_count"],
            use_threads=False,
        )
        # timestamps as their integers (a timestamp column's to_pylist imports pandas)
        last = table["last_hour"].cast(TIME).cast(pa.int64()).to_pylist()
        fed = table["fed_until"].cast(TIME).cast(pa.int64()).to_pylist()
        keys = zip(table["organization"].to_pylist(), table["compressor_id"].to_pylist(), strict=True)
        rows = zip(keys, _blobs(table["state"]), last, fed, table["recent_count"].to_pylist(), strict=True)
        for key, blob, last_micros, fed_micros, recent in rows:
            if organizations is None or key[0] in organizations:
                out[key] = OldState(blob, last_micros, int(fed_micros) // 1_000_000, int(recent))
    return out


class OldState(NamedTuple):
    """A compressor's row of gold/health_state (read_states)."""

    state: Blob | None
    last_micros: int | None  # its last processed hour, epoch microseconds (None: none yet)
    fed_until: int  # epoch seconds
    recent_count: int


def _blobs(column: pa.ChunkedArray) -> list[Blob | None]:
    """A binary column's values, views of its buffers (tens of MB of states are not copied)."""
    out: list[Blob | None] = []
    for chunk in column.chunks:
        _, offsets, data = chunk.buffers()
        at = np.frombuffer(offsets, np.int32, len(chunk) + 1, chunk.offset * 4).tolist()
        valid = chunk.is_valid().to_pylist() if chunk.null_count else None
        view = memoryview(data).cast("B") if data is not None else memoryview(b"")
        for i in range(len(chunk)):
            out.append(view[at[i] : at[i + 1]] if valid is None or valid[i] else None)
    return out


def _fetch(local: DuckDBEngine, sql: str) -> list[tuple[Any, ...]]:
    """A query's rows through Arrow (DuckDB's fetchall of a fleet's rows took several times the query).
    No timestamp column: a timestamp's to_pylist imports pandas."""
    table = local.con.sql(sql).to_arrow_table()
    return list(zip(*(column.to_pylist() for column in table.columns), strict=True))


def _bind_keys(local: DuckDBEngine, name: str, keys: Sequence[Key], **columns: pa.Array) -> None:
    """`name` as a table of the compressors `keys` (organization, compressor_id) and `columns`, registered
    from Arrow (DuckDB's insert of a fleet's Python values, bind_rows, took 10-30 ms a table)."""
    arrays = {
        "organization": python_array([k[0] for k in keys], pa.string()),
        "compressor_id": python_array([k[1] for k in keys], pa.string()),
        **columns,
    }
    local.con.register(name, pa.table(arrays))


def _state_rows(rows: pa.Table) -> pa.Table:
    """The state rows of the step's rows in memory, as STATE_COLUMNS: slices of `rows` (a filter would
    copy the states' tens of MB into new pages; a comparison with a Python string imports pandas)."""
    state = python_array(["state"], pa.string())[0]
    edges = np.flatnonzero(np.diff(np.r_[0, boolean_values(pc.equal(rows["kind"], state)), 0]))
    parts = [rows.slice(a, b - a) for a, b in zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True)]
    picked = pa.concat_tables(parts) if parts else rows.slice(0, 0)
    columns = picked.select(["organization", "compressor_id", "hour", "fed_until", "state"])
    return columns.rename_columns(STATE_COLUMNS.split(", "))


@dataclass
class RecentCounts:
    """Some compressors' silver readings per hour from `first` (epoch hours) on, as running sums: the
    late window's count of each (`counts`) from one scan, for the pass's two uses of them."""

    rows: dict[Key, int]  # each compressor's row
    first: int
    before: Ints  # (compressors, hours + 1): each one's readings before each hour from `first`

    def counts(self, keys: list[Key], fed_until: Ints) -> Ints | None:
        """Each compressor's readings in the late window before its `fed_until` (epoch seconds, on the
        hour), or None unless all of them are covered."""
        rows = np.fromiter((self.rows.get(k, -1) for k in keys), np.int64, len(keys))
        end = fed_until // HOUR - self.first
        start = end - LATE_WINDOW_HOURS
        if (rows < 0).any() or (fed_until % HOUR).any() or (start < 0).any():
            return None
        last = self.before.shape[1] - 1
        counts: Ints = self.before[rows, np.minimum(end, last)] - self.before[rows, np.minimum(start, last)]
        return counts


def recent_counts(local: DuckDBEngine, silver: list[Path], keys: list[Key], first: int) -> RecentCounts:
    """The compressors `keys`' silver readings per hour from `first` (epoch hours)."""
    files = files_from(silver, _EPOCH + timedelta(hours=first))
    member = hour = readings = np.empty(0, dtype=np.int64)
    if files:
        _bind_keys(local, "health_recent_keys", keys, member=int_array(np.arange(len(keys))))
        table = local.con.sql(
            f"SELECT m.member, epoch_us(s.timestamp) // {HOUR * 1_000_000} AS hour, COUNT(*) AS readings "
            f"FROM {read_parquet(files)} AS s JOIN health_recent_keys AS m "
            "ON m.organization = s.organization AND m.compressor_id = s.compressor_id "
            f"WHERE s.timestamp >= make_timestamptz({first * HOUR * 1_000_000}) GROUP BY 1, 2"
        ).to_arrow_table()
        member, hour, readings = (numpy_values(table[c], np.int64) for c in ("member", "hour", "readings"))
    hours = int(hour.max()) - first + 1 if len(hour) else 0
    per_hour = np.zeros((len(keys), hours + 1), dtype=np.int64)
    per_hour[member, hour - first + 1] = readings
    return RecentCounts({k: i for i, k in enumerate(keys)}, first, np.cumsum(per_hour, axis=1))


def _window_counts(
    local: DuckDBEngine, silver: list[Path], keys: list[Key], fed_until: Ints, recent: RecentCounts | None
) -> Ints:
    """Each compressor's silver readings in the late window before its `fed_until` (epoch seconds):
    from `recent` where it covers them all, else counted."""
    counts = None if recent is None else recent.counts(keys, fed_until)
    if counts is not None:
        return counts
    out = np.zeros(len(keys), dtype=np.int64)
    if not keys:
        return out
    at = int_array(fed_until * 1_000_000, None, TIME)
    _bind_keys(local, "health_window", keys, fed_until=at, i=int_array(np.arange(len(keys))))
    since = _EPOCH + timedelta(seconds=int(fed_until.min()), hours=-LATE_WINDOW_HOURS)
    found = local.con.sql(
        f"SELECT w.i, n.readings FROM health_window AS w JOIN "
        f"({_count_sql(files_from(silver, since), 'health_window', named='readings')}) AS n "
        "ON n.organization = w.organization AND n.compressor_id = w.compressor_id"
    ).to_arrow_table()
    out[numpy_values(found["i"], np.int64)] = numpy_values(found["readings"], np.int64)
    return out


def _count_sql(silver: list[Path], states: str, named: str = "n") -> str:
    return (
        f"SELECT s.organization, s.compressor_id, COUNT(*) AS {named} FROM {read_parquet(silver)} AS s "
        f"JOIN {states} AS st ON st.organization = s.organization AND st.compressor_id = s.compressor_id "
        f"WHERE s.timestamp >= st.fed_until - INTERVAL {LATE_WINDOW_HOURS} HOUR "
        "AND s.timestamp < st.fed_until "
        "GROUP BY 1, 2"
    )
