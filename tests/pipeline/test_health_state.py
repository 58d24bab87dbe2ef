"""The health stage's per-compressor state (pipeline/health.py dump_states / load_states): what an
incremental run continues from. States written and read back continue exactly as the states they were
written from, a batch's compressors each with its own; a state this model cannot read (another format
or configuration) is not taken for one (the stage computes that compressor again from its silver)."""

import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from altaviz.health import SENSORS, HealthConfig, HealthState, Limits, fleet_step
from altaviz.health.model import FEATURE_OF, FEATURES
from altaviz.pipeline import health
from altaviz.pipeline.arrow import compressor_starts
from altaviz.pipeline.health import Contexts, Episode, HealthStep, dump_states, load_states, state_is_current
from tests.pipeline.helpers import ON_HOUR_START, degrading_series

HOUR = 3600


def _series(days: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A running compressor's readings every 10 minutes: levels with a daily swing and noise."""
    rng = np.random.default_rng(seed)
    times = 1_780_000_000 // HOUR * HOUR + np.arange(int(days * 144)) * 600
    daily = np.sin(2 * np.pi * (times % 86_400) / 86_400)
    levels = np.array([3.0, 220.0, 60.0, 900.0, 1200.0, 8.0])
    values = levels[:, None] * (1 + 0.01 * daily + 0.004 * rng.standard_normal((6, len(times))))
    return times, values.round(2)


def _fleet(cuts: list[int], lo: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each compressor's readings: each one's first `cut` readings (lo) or the day after them."""
    index, times, values = [], [], []
    for c, cut in enumerate(cuts):
        t, v = _series(days=8, seed=c)
        part = slice(0, cut) if lo else slice(cut, cut + 144)
        index.append(np.full(len(t[part]), c))
        times.append(t[part])
        values.append(v[:, part])
    return np.concatenate(index), np.concatenate(times), np.concatenate(values, axis=1)


def test_states_read_back_continue_as_the_ones_written() -> None:
    config = HealthConfig()
    # settling, collecting its warm-up, just fitted, judging for days
    cuts = [20, 400, 780, len(_series(8, 0)[0]) - 144]
    state = HealthState(len(cuts), config)
    fleet_step(*_fleet(cuts, lo=True), state=state, config=config)
    episodes = [{}, {}, {"anomaly": Episode(600, "vibration_mms", 41.5, 50.0, 600)}, {}]
    blobs = dump_states(state, episodes)
    assert all(state_is_current(b, config) for b in blobs)
    assert [b[9] for b in blobs] == [0, 1, 0, 0]  # the warm-up section only while one is collected
    back, back_episodes = load_states([*blobs, None], config)
    assert back_episodes == [*episodes, {}]
    assert dump_states(back.take(np.arange(4)), back_episodes[:4]) == blobs
    assert back.warm_n[1] > 0 and back.warm_n[[0, 2, 3]].tolist() == [0, 0, 0]
    assert back.fitted.tolist() == [False, False, True, True, False]
    assert back.last_hour[4] == HealthState(1, config).last_hour[0]  # None: from its first reading
    later = _fleet(cuts, lo=False)
    continued = fleet_step(*later, state=state, config=config)
    resumed = fleet_step(*later, state=back.take(np.arange(4)), config=config)
    assert continued.judged.any()
    assert np.array_equal(continued.health, resumed.health, equal_nan=True)
    assert np.array_equal(continued.score, resumed.score, equal_nan=True)


def test_a_state_of_the_previous_format_is_read() -> None:
    """AVHS3's blobs (a lake's states before an upgrade: the warm-up buffers whole) are read as they
    were written and continue bit for bit; written again, they are AVHS4's, read back the same."""
    config = HealthConfig()
    cuts = [20, 400, 780, len(_series(8, 0)[0]) - 144]  # settling, warming up, just fitted, judging
    state = HealthState(len(cuts), config)
    fleet_step(*_fleet(cuts, lo=True), state=state, config=config)
    episodes = [{}, {}, {"anomaly": Episode(600, "vibration_mms", 41.5, 50.0, 600)}, {}]
    old = _reference_dump(state, episodes, previous=True)
    assert old[1][:5] == b"AVHS3" and old[1][9] == 1 and all(state_is_current(b, config) for b in old)
    back, back_episodes = load_states(old, config)
    assert back_episodes == episodes and back.warm_n[1] > 0
    theirs, _ = _reference_load(old, config)  # (the entries the model never reads as the fresh state's)
    for name, array in theirs.arrays.items():
        assert np.array_equal(array.view(np.uint8), back.arrays[name].view(np.uint8)), name
    blobs = dump_states(back, back_episodes)
    assert blobs == _reference_dump(state, episodes) and all(b[:5] == b"AVHS4" for b in blobs)
    assert len(blobs[1]) < len(old[1]) / 2
    later = _fleet(cuts, lo=False)
    continued = fleet_step(*later, state=state, config=config)
    resumed = fleet_step(*later, state=back, config=config)
    assert continued.judged.any() and np.array_equal(continued.health, resumed.health, equal_nan=True)


def test_a_state_of_another_format_or_configuration_is_not_taken() -> None:
    config = HealthConfig()
    times, values = _series(days=6, seed=1)
    state = HealthState(1, config)
    fleet_step(np.zeros(len(times), dtype=np.int64), times, values, state=state, config=config)
    blob = dump_states(state, [{}])[0]
    other = HealthConfig(prognosis_hours=120)  # another window: another state width
    assert not state_is_current(blob, other)
    assert not state_is_current(b"PK\x03\x04" + blob[5:], config)  # the first format was an .npz
    fresh, _ = load_states([blob], other)
    assert not fresh.fitted[0]


# --- the step's rows and states against the straightforward builder they replaced -------------------
# HealthStep builds its Arrow columns through their buffers and its state blobs straight into one
# buffer (pipeline/health.py); the builder below is the previous one (pa.array of Python lists, one
# bytes object per blob, the whole state matrix), kept as the reference they must equal byte for byte.


def _reference_rows(step: Any, table: pa.Table) -> pa.Table:
    """HealthStep.__call__ as it was: the same model, its rows built with pa.array."""
    starts = compressor_starts(table)
    ends = np.r_[starts[1:], table.num_rows]
    usable = ends - starts >= 2
    starts, ends = starts[usable], ends[usable]
    keys = list(
        zip(
            table["organization"].take(pa.array(starts)).to_pylist(),
            table["compressor_id"].take(pa.array(starts)).to_pylist(),
            strict=True,
        )
    )
    times = table["timestamp"].cast(pa.int64()).to_numpy() // 1_000_000
    values = np.vstack([table[s].to_numpy(zero_copy_only=False).astype(np.float64) for s in SENSORS])
    rows = [step.contexts.rows.get(k) for k in keys]
    state, episodes = _reference_load([step.contexts.states.get(r) for r in rows], step.config)
    default = Limits.defaults()
    limits = Limits(
        np.array([default.warning if r is None else step.contexts.warning[r] for r in rows]).reshape(-1, 6),
        np.array([default.critical if r is None else step.contexts.critical[r] for r in rows]).reshape(-1, 6),
        default.side,
    )
    cutoff = times[ends - 2] // HOUR * HOUR
    compressor = np.repeat(np.arange(len(starts)), ends - starts)
    picked = np.concatenate([np.arange(lo, hi) for lo, hi in zip(starts, ends, strict=True)])
    times, values = times[picked], values[:, picked]
    fed = times < cutoff[compressor]
    result = fleet_step(
        compressor[fed],
        times[fed],
        values[:, fed],
        state=state,
        resets=[np.asarray(step.contexts.resets.get(r, ()), dtype=np.int64) for r in rows],
        limits=limits,
        config=step.config,
    )
    out = _ReferenceRows(keys)
    out.hours(result)
    health._all_episodes(keys, episodes, result, limits, step.config, out)  # type: ignore[arg-type]
    out.predictions(result, limits)
    last = np.where(state.last_hour > -(2**61), state.last_hour * HOUR, -1)
    out.states(last, cutoff, _reference_dump(state, episodes))
    return out.table()


def _reference_times(epoch: Any) -> pa.Array:
    return pa.array(np.asarray(epoch, dtype=np.int64) * 1_000_000, health.TIME, mask=np.asarray(epoch) < 0)


class _ReferenceRows:
    def __init__(self, keys: list[tuple[str, str]]) -> None:
        self.organizations = pa.array([k[0] for k in keys], pa.string())
        self.compressors = pa.array([k[1] for k in keys], pa.string())
        self.parts: list[pa.Table] = []
        self.episodes: dict[str, list[Any]] = {f.name: [] for f in health.ROWS}

    def _part(self, kind: str, compressor: Any, hour: Any, columns: dict[str, Any]) -> None:
        n = len(compressor)
        if n == 0:
            return
        given: dict[str, Any] = {
            "organization": self.organizations.take(pa.array(compressor)),
            "compressor_id": self.compressors.take(pa.array(compressor)),
            "kind": pa.array([kind] * n, pa.string()),
            "hour": None if hour is None else _reference_times(hour),
            **columns,
        }
        arrays = [
            given[f.name] if given.get(f.name) is not None else pa.nulls(n, f.type) for f in health.ROWS
        ]
        self.parts.append(pa.Table.from_arrays(arrays, schema=health.ROWS))

    def hours(self, result: Any) -> None:
        judged = result.judged
        status = np.where(judged, "judged", np.where(result.warmup, "warmup", "stopped"))
        drivers = np.full(len(judged), None, dtype=object)
        drivers[judged] = "[]"
        for i in np.flatnonzero(judged & result.drivers.any(axis=0)).tolist():
            named = [(SENSORS[j], float(result.score[j, i])) for j in np.flatnonzero(result.drivers[:, i])]
            named.sort(key=lambda d: -abs(d[1]))
            drivers[i] = json.dumps([{"sensor": s, "score": round(v, 3)} for s, v in named])
        health_index = np.round(result.health, 3)
        self._part(
            "hour",
            result.compressor,
            result.hour,
            {
                "health_index": pa.array(health_index, pa.float64(), mask=np.isnan(health_index)),
                "status": pa.array(status.tolist(), pa.string()),
                "drivers": pa.array(drivers.tolist(), pa.string()),
                "anomaly": pa.array(result.anomaly),
                "prediction": pa.array(result.prediction),
            },
        )

    def predictions(self, result: Any, limits: Any) -> None:
        last = np.flatnonzero(np.r_[result.compressor[1:] != result.compressor[:-1], True])
        last = last[result.judged[last]]
        compressor = result.compressor[last]
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
                keep = ~np.isnan(eta[j, last]) & ~np.isnan(limit[compressor, j])
                rows = last[keep]
                upper = np.round(high[j][rows], 3)
                self._part(
                    "prediction",
                    compressor[keep],
                    result.hour[rows],
                    {
                        "metric": pa.array([metric] * len(rows), pa.string()),
                        "level": pa.array([level] * len(rows), pa.string()),
                        "threshold_value": pa.array(limit[compressor[keep], j], pa.float64()),
                        "hours": pa.array(np.round(eta[j][rows], 3), pa.float64()),
                        "hours_low": pa.array(np.round(low[j][rows], 3), pa.float64()),
                        "hours_high": pa.array(upper, pa.float64(), mask=np.isnan(upper)),
                    },
                )

    def episode(self, key: tuple[str, str], episode_type: str, episode: Episode, ended: int | None) -> None:
        micros = None if ended is None else ended * 1_000_000
        row = {
            "organization": key[0],
            "compressor_id": key[1],
            "kind": "episode",
            "hour": episode.started * 1_000_000,
            "alert_type": episode_type,
            "metric": episode.sensor,
            "threshold_value": episode.threshold,
            "value": round(episode.value, 3),
            "last_flagged_at": episode.last_flagged * 1_000_000,
            "returned_to_normal_at": micros,
            "is_active": ended is None,
            "message": health._message(episode_type, episode),
        }
        for name, column in self.episodes.items():
            column.append(row.get(name))

    def states(self, last: Any, cutoff: Any, blobs: list[bytes]) -> None:
        self._part(
            "state",
            np.arange(len(blobs)),
            last,
            {"fed_until": _reference_times(cutoff), "state": pa.array(blobs, pa.binary())},
        )

    def table(self) -> pa.Table:
        episodes = pa.table(
            {f.name: pa.array(self.episodes[f.name], f.type) for f in health.ROWS}, schema=health.ROWS
        )
        return pa.concat_tables([*self.parts, episodes])


def _reference_columns(config: HealthConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int]:
    """The fresh state's row, which of its columns the model reads, the warm-up's columns (all of the
    row's columns, the warm-up's included)."""
    fresh = HealthState(1, config)
    row = np.concatenate([a.reshape(1, -1).astype(np.float64) for a in fresh.arrays.values()], axis=1)[0]
    unread = HealthState.unread()
    read = np.concatenate(
        [
            ~unread[name].reshape(-1) if name in unread else np.ones(a[0].size, bool)
            for name, a in fresh.arrays.items()
        ]
    )
    lo, _ = fresh.columns("warm_x")
    _, hi = fresh.columns("warm_y")
    warm = np.zeros(len(row), dtype=bool)
    warm[lo:hi] = True
    return row, read, warm, lo, hi


def _reference_dump(state: HealthState, episodes: list[Any], previous: bool = False) -> list[bytes]:
    """AVHS4 (`previous`: AVHS3) blob by blob: the columns (without the warm-up's) the model reads and
    that differ from the fresh state's bit for bit, then the warm-up while collected (AVHS3: both
    buffers whole; AVHS4: the filled rows, warm_x's columns that are constant, or warm_y's column
    FEATURE_OF names, for every compressor collecting left out), then the episodes."""
    fresh, read, warm, lo, hi = _reference_columns(state.config)
    matrix = np.concatenate(
        [state.arrays[name].reshape(len(state), -1).astype(np.float64) for name in state.arrays], axis=1
    )
    filled = [(state.warm_x[c, :n], state.warm_y[c, :n]) for c, n in enumerate(state.warm_n) if n > 0]
    constant = [
        all(np.all(x.view(np.uint64)[:, f] == x.view(np.uint64)[0, f]) for x, _ in filled)
        for f in range(FEATURES)
    ]
    pattern = [1 if constant[f] else 0 for f in range(FEATURES)]
    for j, f in FEATURE_OF.items():
        if all(np.array_equal(x[:, f].view(np.uint64), y[:, j].view(np.uint64)) for x, y in filled):
            pattern[f] = 2 + j
    out = []
    for c, open_ in enumerate(episodes):
        row = matrix[c]
        stored = (row.view(np.uint64) != fresh.view(np.uint64)) & read & ~warm
        n = int(state.warm_n[c])
        head = (b"AVHS3" if previous else b"AVHS4") + len(row).to_bytes(4, "little") + bytes([n > 0])
        head += int(stored.sum()).to_bytes(4, "little") + (0 if previous else n).to_bytes(2, "little")
        bitmap = np.packbits(stored[~warm]).tobytes()
        tail = json.dumps({k: e.__dict__ for k, e in open_.items()}).encode() if open_ else b""
        body = row[stored].tobytes()
        if n and previous:
            body += row[lo:hi].tobytes()
        elif n:
            x, y = state.warm_x[c, :n], state.warm_y[c, :n]
            body += bytes(pattern) + x[0, [f for f in range(FEATURES) if pattern[f] == 1]].tobytes()
            body += np.ascontiguousarray(x[:, [f for f in range(FEATURES) if pattern[f] == 0]]).tobytes()
            body += y.tobytes()
        out.append(head + bitmap + body + tail)
    return out


def _reference_load(blobs: Sequence[bytes | None], config: HealthConfig) -> tuple[HealthState, list[Any]]:
    state = HealthState(len(blobs), config)
    fresh, _, warm, lo, hi = _reference_columns(config)
    episodes: list[Any] = [{} for _ in blobs]
    for i, blob in enumerate(blobs):
        if blob is None or not state_is_current(blob, config):
            continue
        count = int.from_bytes(blob[10:14], "little")
        short = int((~warm).sum())
        bitmap = (short + 7) // 8
        stored = np.unpackbits(np.frombuffer(blob, np.uint8, bitmap, 16), count=short).astype(bool)
        at = 16 + bitmap
        row = fresh.copy()
        columns = np.flatnonzero(~warm)[stored]
        row[columns] = np.frombuffer(blob, np.float64, count, at)
        at += 8 * count
        if blob[9] and blob[:5] == b"AVHS3":
            row[lo:hi] = np.frombuffer(blob, np.float64, hi - lo, at)
            at += 8 * (hi - lo)
        elif blob[9]:
            n = int.from_bytes(blob[14:16], "little")
            pattern = list(blob[at : at + FEATURES])
            at += FEATURES
            x = np.zeros((config.warmup_hours, FEATURES))
            for f in range(FEATURES):
                if pattern[f] == 1:
                    x[:n, f] = np.frombuffer(blob, np.float64, 1, at)[0]
                    at += 8
            kept = [f for f in range(FEATURES) if pattern[f] == 0]
            x[:n, kept] = np.frombuffer(blob, np.float64, n * len(kept), at).reshape(n, len(kept))
            at += 8 * n * len(kept)
            y = np.zeros((config.warmup_hours, 6))
            y[:n] = np.frombuffer(blob, np.float64, n * 6, at).reshape(n, 6)
            at += 8 * n * 6
            for f in range(FEATURES):
                if pattern[f] >= 2:
                    x[:n, f] = y[:n, pattern[f] - 2]
            row[lo:hi] = np.r_[x.reshape(-1), y.reshape(-1)]
        one = HealthState.from_matrix(row[None, :], config)
        for name, array in one.arrays.items():
            state.arrays[name][i] = array[0]
        tail = blob[at:]
        if tail:
            episodes[i] = {k: Episode(**e) for k, e in json.loads(tail).items()}
    return state, episodes


def _readings(start_day: float, end_day: float) -> pa.Table:
    """Sorted silver-like readings of four compressors: one degrading (warned, an episode open at day
    10.2), one healthy, one starting on day 8 (collecting its warm-up at day 10.2), one with a single
    reading (not stepped)."""
    fleet = pa.concat_tables(
        [
            degrading_series("COMP-001", 11, 8.0, 1),
            degrading_series("COMP-002", 11, 1e9, 2),
            degrading_series("COMP-003", 11, 1e9, 3).slice(8 * 144),
            degrading_series("COMP-004", 11, 1e9, 4).slice(0, 1),
        ]
    ).drop_columns(["operating_hours"])
    day = pc.divide(
        pc.subtract(fleet["timestamp"].cast(pa.int64()), int(ON_HOUR_START.timestamp() * 1e6)), 86_400e6
    )
    fleet = fleet.filter(pc.and_(pc.greater_equal(day, start_day), pc.less(day, end_day)))
    fleet = fleet.add_column(0, "organization", pa.array(["acme"] * fleet.num_rows, pa.string()))
    with_nulls = fleet["vibration_mms"].to_pylist()
    with_nulls[len(with_nulls) // 3] = None  # a value silver flagged
    return fleet.set_column(
        fleet.schema.get_field_index("vibration_mms"), "vibration_mms", pa.array(with_nulls)
    )


def _contexts(rows: pa.Table, resets: tuple[int, ...] = ()) -> Contexts:
    """The next call's contexts: each compressor's state as the step wrote it, one with tighter limits,
    each with the maintenance events `resets`."""
    states = rows.filter(pc.equal(rows["kind"], "state"))
    keys = list(zip(states["organization"].to_pylist(), states["compressor_id"].to_pylist(), strict=True))
    default = Limits.defaults()
    warning = np.tile(default.warning, (len(keys), 1))
    critical = np.tile(default.critical, (len(keys), 1))
    for row, (_, comp) in enumerate(keys):
        if comp == "COMP-002":
            warning[row, 0], critical[row, 0] = 5.0, 6.0
    return Contexts(
        {k: row for row, k in enumerate(keys)},
        warning,
        critical,
        {row: np.array(resets, dtype=np.int64) for row in range(len(keys)) if resets},
        dict(enumerate(states["state"].to_pylist())),
    )


def _values(table: pa.Table) -> dict[str, list[Any]]:
    """Each column's values, floats as their hex (bit for bit; every NaN alike)."""
    return {
        name: [v.hex() if isinstance(v, float) else v for v in table[name].to_pylist()]
        for name in table.column_names
    }


def test_the_steps_rows_and_states_equal_the_reference_builders() -> None:
    config = HealthConfig()
    first = _readings(0, 10.2)
    step = HealthStep(Contexts(), config)
    rows = step(first)
    reference = _reference_rows(step, first)
    assert rows.schema == reference.schema and _values(rows) == _values(reference)
    kinds = pc.value_counts(rows["kind"]).to_pylist()
    assert {k["values"] for k in kinds} == {"hour", "prediction", "episode", "state"}
    blobs = rows.filter(pc.equal(rows["kind"], "state"))["state"].to_pylist()
    state, episodes = load_states(blobs, config)
    assert any(episodes) and state.warm_n.tolist()[2] > 0  # an open episode, a warm-up being collected
    # continued from the states written (with other limits for one compressor)
    later = _readings(10.2 - 2 / 24, 11)
    step = HealthStep(_contexts(rows), config)
    again = step(later)
    reference = _reference_rows(step, later)
    assert again.schema == reference.schema and _values(again) == _values(reference)
    assert pc.sum(pc.equal(again["kind"], "hour")).as_py() > 0
    # states read back continue as the reference reads them
    ours, our_episodes = load_states([*blobs, None], config)
    theirs, their_episodes = _reference_load([*blobs, None], config)
    assert our_episodes == their_episodes
    for name, array in theirs.arrays.items():
        assert array.dtype == ours.arrays[name].dtype and np.array_equal(
            array, ours.arrays[name], equal_nan=True
        )
    assert dump_states(ours, our_episodes) == _reference_dump(theirs, their_episodes)


def test_a_warm_up_carried_through_a_call_is_written_as_if_loaded() -> None:
    """HealthStep carries the warm-ups a call cannot fill as read (their rows not loaded): the blobs equal
    those of the state loaded whole, also when the model resets a carried one (a maintenance event: the
    call is made again, every warm-up loaded)."""
    config = HealthConfig()
    first = _readings(0, 10.2)
    rows = HealthStep(Contexts(), config)(first)
    later = _readings(10.2 - 2 / 24, 11)
    for resets in ((), (int(ON_HOUR_START.timestamp()) + int(10.5 * 86_400),)):
        step = HealthStep(_contexts(rows, resets), config)
        loads: list[int] = []
        carry = health._load_states

        def spy(blobs: Any, config: HealthConfig, room: Any, carry: Any = carry, loads: Any = loads) -> Any:
            out = carry(blobs, config, room)
            loads.append(len(out[2]))
            return out

        health._load_states = spy
        try:
            again = step(later)
        finally:
            health._load_states = carry
        assert loads == ([1] if not resets else [1, 0])  # COMP-003 carried (and loaded after its reset)
        reference = _reference_rows(step, later)
        assert _values(again) == _values(reference)


def test_a_carried_warm_up_whose_pattern_changes_is_encoded_again() -> None:
    """A carried section whose columns left out no longer hold for the rows added (the ambient, constant
    until now, moves) is loaded after all: the blob is the one of the state loaded whole."""
    config = HealthConfig()
    times, values = _series(days=3, seed=2)
    state = HealthState(1, config)
    fleet_step(np.zeros(len(times), dtype=np.int64), times, values, state=state, config=config)
    (blob,) = dump_states(state, [{}])
    n = int(state.warm_n[0])
    assert 0 < n < config.warmup_hours - 2 and blob[9] == 1
    whole, _ = load_states([blob], config)
    part, _, carried = health._load_states([blob], config, np.array([1]))
    assert list(carried) == [0] and not part.warm_y[0].any()
    for s in (whole, part):  # a row added as the model adds one, its ambient another than before
        s.warm_x[0, n], s.warm_y[0, n] = (
            whole.warm_x[0, n - 1] + [0, 0, 0, 0, 0, 0.5, 0, 0],
            whole.warm_y[0, n - 1],
        )
        s.warm_n[0] = n + 1
    expected = dump_states(whole, [{}])
    assert [b for a in health.dump_state_arrays(part, [{}], carried) for b in a.to_pylist()] == expected
    assert expected[0][16 + health._widths(config).bitmap :] != blob[16 + health._widths(config).bitmap :]
    assert np.array_equal(part.warm_x, whole.warm_x) and np.array_equal(part.warm_y, whole.warm_y)
    # and one that keeps the pattern is carried through
    part, _, carried = health._load_states([blob], config, np.array([1]))
    part.warm_x[0, n], part.warm_y[0, n] = whole.warm_x[0, n - 1], whole.warm_y[0, n - 1]
    part.warm_n[0] = n + 1
    same, _ = load_states([blob], config)
    same.warm_x[0, n], same.warm_y[0, n], same.warm_n[0] = (
        whole.warm_x[0, n - 1],
        whole.warm_y[0, n - 1],
        n + 1,
    )
    out = [b for a in health.dump_state_arrays(part, [{}], carried) for b in a.to_pylist()]
    assert out == dump_states(same, [{}]) and not part.warm_y[0, :n].any()


def test_the_step_does_not_import_pandas(tmp_path: Path) -> None:
    """pa.array, Schema.empty_table and a timestamp's to_pylist import pandas wherever it is installed
    (about 0.3 s of an incremental hour's process)."""
    pq.write_table(_readings(0, 10.2), tmp_path / "readings.parquet")
    script = (
        "import sys\n"
        "import duckdb\n"
        "from altaviz.health import HealthConfig\n"
        "from altaviz.pipeline.health import Contexts, HealthStep\n"
        f"readings = duckdb.sql(\"SELECT * FROM '{tmp_path / 'readings.parquet'}'\").to_arrow_table()\n"
        "before = 'pandas' in sys.modules\n"
        "step = HealthStep(Contexts(), HealthConfig())\n"
        "step(readings.slice(0, 0))\n"
        "rows = step(readings)\n"
        "print(before, 'pandas' in sys.modules, rows.num_rows > 0)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "False", "True"]


def test_a_fleets_states_written_and_read_in_chunks_equal_the_reference() -> None:
    """More compressors than one chunk of the state's read and write (pipeline/health.py _CHUNK)."""
    config = HealthConfig()
    rng = np.random.default_rng(5)
    count = 2 * health._CHUNK + 37
    state = HealthState(count, config)
    for array in state.arrays.values():
        if array.dtype == np.float64:
            array[...] = rng.standard_normal(array.shape)
        elif array.dtype == np.int64:
            array[...] = rng.integers(-1000, 1000, array.shape)
        else:
            array[...] = rng.random(array.shape) < 0.5
    state.warm_n[...] = np.where(rng.random(count) < 0.2, 7, 0)  # a fifth collecting a warm-up
    for name in ("warm_x", "warm_y"):
        state.arrays[name][state.warm_n == 0] = 0.0  # no warm-up: zeros, as the model keeps them
    episodes: list[Any] = [
        {"prediction": Episode(3600 * c, "vibration_mms", 30.5, 8.0, 3600 * c, 2)} if c % 11 == 0 else {}
        for c in range(count)
    ]
    blobs = dump_states(state, episodes)
    assert blobs == _reference_dump(state, episodes)
    missing = [None if c % 97 == 0 else blob for c, blob in enumerate(blobs)]
    ours, our_episodes = load_states(missing, config)
    theirs, their_episodes = _reference_load(missing, config)
    assert our_episodes == their_episodes
    for name, array in theirs.arrays.items():
        assert array.dtype == ours.arrays[name].dtype and np.array_equal(
            array, ours.arrays[name], equal_nan=True
        )
