"""The stored model state's encoding (pipeline/health.py, format AVHS3): only the columns that are live
(differ from the fresh state, and are read by the model) and the warm-up while it is collected. A state
read back continues bit for bit as the one written; the entries left out as never read are indeed never
read; a blob of the previous format (AVHS2) is not taken for one (the stage computes the compressor
again from its silver)."""

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from altaviz.health import HealthConfig, HealthState, fleet_step
from altaviz.health.model import DIS, FLOW, HP, SUC, fleet_prior
from altaviz.pipeline import health
from altaviz.pipeline.health import Episode, dump_states, load_states, state_is_current

HOUR = 3600


def _series(days: float, seed: int, start_hour: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A running compressor's readings every 10 minutes: levels with a daily swing, load changes and
    noise."""
    rng = np.random.default_rng(seed)
    times = (1_780_000_000 // HOUR + start_hour) * HOUR + np.arange(int(days * 144)) * 600
    daily = np.sin(2 * np.pi * (times % 86_400) / 86_400)
    load = 1 + 0.05 * np.sign(np.sin(2 * np.pi * times / (3 * 86_400)))
    levels = np.array([3.0, 220.0, 60.0, 900.0, 1200.0, 8.0])
    noise = 0.004 * rng.standard_normal((6, len(times)))
    values = levels[:, None] * (1 + 0.01 * daily + noise)
    values[4:] *= load
    return times, values.round(3)


def _fleet(days: list[float], split: float | None = None, later: bool = False) -> tuple[np.ndarray, ...]:
    """Compressors of different ages (`days` of data each); with `split` (hours before each one's end)
    the readings before it, or (`later`) from it."""
    index, times, values = [], [], []
    for c, d in enumerate(days):
        t, v = _series(d, seed=c, start_hour=int((max(days) - d) * 24))
        if split is not None:
            cut = t[-1] - split * HOUR
            keep = t >= cut if later else t < cut
            t, v = t[keep], v[:, keep]
        index.append(np.full(len(t), c))
        times.append(t)
        values.append(v)
    return np.concatenate(index), np.concatenate(times), np.concatenate(values, axis=1)


def _same_state(a: HealthState, b: HealthState) -> bool:
    """Bit for bit, but for the entries the model never reads (HealthState.unread)."""
    unread = HealthState.unread()
    for name, field in a.arrays.items():
        other = b.arrays[name]
        if field.dtype != other.dtype or field.shape != other.shape:
            return False
        read = ~np.broadcast_to(unread.get(name, False), field.shape)
        if not np.array_equal(field[read].view(np.uint8), other[read].view(np.uint8)):
            return False
    return True


def test_a_fleet_read_back_continues_bit_for_bit() -> None:
    """Settling, collecting a warm-up, just fitted, judging with rings part and wholly filled: the blobs
    read back give the same rows as the states kept in memory, hour after hour."""
    config = HealthConfig(prognosis_hours=96)  # a long ring the oldest one fills
    days = [0.2, 3.0, 6.5, 7.5, 9.0, 12.0]
    state = HealthState(len(days), config)
    fleet_step(*_fleet(days, split=24), state=state, config=config)
    assert state.fitted.tolist() == [False, False, True, True, True, True]
    assert state.warm_n[1] > 0 and state.long_n.max() == config.prognosis_hours
    assert state.trend_n.max() == config.trend_hours
    episodes: list[health.Episodes] = [{} for _ in days]
    episodes[4] = {"anomaly": Episode(600, "vibration_mms", 41.5, 50.0, 600)}
    blobs = dump_states(state, episodes)
    back, back_episodes = load_states(blobs, config)
    assert back_episodes == episodes
    assert _same_state(state, back)
    assert dump_states(back, back_episodes) == blobs
    later = _fleet(days, split=24, later=True)
    continued = fleet_step(*later, state=state, config=config)
    resumed = fleet_step(*later, state=back, config=config)
    assert continued.judged.sum() > 24
    for name in ("health", "score", "anomaly", "prediction", "eta_warning", "eta_critical_high"):
        assert np.array_equal(getattr(continued, name), getattr(resumed, name), equal_nan=True), name
    assert _same_state(state, back)
    assert dump_states(back, back_episodes) == dump_states(state, episodes)


def test_the_entries_left_out_are_never_read() -> None:
    """HealthState.unread: scrambling those entries before a step changes none of its results nor any
    other part of the state (if the model came to read one, this fails)."""
    config = HealthConfig()
    days = [6.8, 9.0, 12.0]
    state = HealthState(len(days), config)
    fleet_step(*_fleet(days, split=30), state=state, config=config)
    scrambled = state.take(np.arange(len(days)))
    rng = np.random.default_rng(3)
    for name, unread in HealthState.unread().items():
        field = scrambled.arrays[name]
        noise = rng.standard_normal(field.shape) * 1e3
        field[...] = np.where(unread, noise, field)
    later = _fleet(days, split=30, later=True)
    plain = fleet_step(*later, state=state, config=config)
    other = fleet_step(*later, state=scrambled, config=config)
    assert plain.judged.sum() > 30
    for name in ("health", "score", "anomaly", "prediction", "eta_warning", "eta_critical"):
        assert np.array_equal(getattr(plain, name), getattr(other, name), equal_nan=True), name
    assert _same_state(state, scrambled)


def test_only_the_live_columns_are_stored() -> None:
    """A judged compressor stores fewer values than the row without the warm-up (the format before the
    previous one's 1,533); a fresh one almost none; one collecting its warm-up carries its filled rows,
    of warm_x only the columns that are neither the constant term nor a sensor's own level (AVHS4)."""
    config = HealthConfig()
    days = [0.2, 3.0, 12.0]
    state = HealthState(len(days) + 1, config)
    fleet_step(*_fleet(days), state=state, config=config)
    blobs = dump_states(state, [{} for _ in range(len(days) + 1)])
    form = health._widths(config)
    counts = [int.from_bytes(b[10:14], "little") for b in blobs]
    assert counts[3] == 0  # never stepped: the fresh state
    assert 0 < counts[2] < int(form.kept.sum()) < form.short  # judging: the unread and default left out
    # collecting: its warm-up section follows, the filled rows only, of warm_x's 8 columns the constant
    # term (and here the ambient: no station proxy) once, the levels as warm_y's, the time of day stored
    rows = int(state.warm_n[1])
    assert 0 < rows < form.rows and int.from_bytes(blobs[1][14:16], "little") == rows
    at = 16 + form.bitmap + 8 * counts[1]
    code = list(blobs[1][at : at + form.x_columns])
    assert code == [1, 2 + FLOW, 2 + HP, 2 + DIS, 2 + SUC, 1, 0, 0]
    assert len(blobs[1]) - at == form.x_columns + 8 * 2 + 8 * rows * (2 + form.y_columns)
    assert np.array_equal(
        np.frombuffer(blobs[1], np.float64, rows * form.y_columns, len(blobs[1]) - 8 * rows * form.y_columns),
        state.warm_y[1, :rows].reshape(-1),
    )
    assert len(blobs[1]) - at < 8 * (form.hi - form.lo) / 2  # AVHS3 kept both buffers whole
    assert len(blobs[2]) == 16 + form.bitmap + 8 * counts[2]


def test_what_the_fleet_prior_reads_is_kept() -> None:
    """fleet_prior pools the warm-up rows of compressors not yet fitted: a state read back gives the
    same rows (collected with fit=False, as the prior collects them)."""
    config = HealthConfig()
    days = [2.0, 4.0, 7.0]
    state = HealthState(len(days), config)
    fleet_step(*_fleet(days), state=state, config=config, fit=False)
    back, _ = load_states(dump_states(state, [{} for _ in days]), config)
    for c in range(len(days)):
        n = int(state.warm_n[c])
        assert n > 0 and int(back.warm_n[c]) == n
        assert np.array_equal(state.warm_x[c, :n], back.warm_x[c, :n])
        assert np.array_equal(state.warm_y[c, :n], back.warm_y[c, :n])
    index, times, values = _fleet(days)
    series: list[Any] = [(times[index == c], values[:, index == c], None, None) for c in range(len(days))]
    assert np.any(fleet_prior(series, config) != 0)


def test_a_blob_of_the_previous_format_is_not_taken() -> None:
    """AVHS2 (the row without the warm-up, 1,533 float64 values whatever their use) is recognised as
    another format: the compressor starts afresh (the stage recomputes it from its silver)."""
    config = HealthConfig()
    state = HealthState(1, config)
    fleet_step(*_fleet([9.0]), state=state, config=config)
    form = health._widths(config)
    row = state.matrix(without=("warm_x", "warm_y"))[0]
    tail = json.dumps({"anomaly": Episode(600, "vibration_mms", 41.5, 50.0, 600).__dict__}).encode()
    old = b"AVHS2" + len(row).to_bytes(4, "little") + row.tobytes() + tail
    assert len(row) == form.short
    assert not state_is_current(old, config)
    assert not state_is_current(dump_states(state, [{}])[0], HealthConfig(prognosis_hours=120))
    fresh, episodes = load_states([old], config)
    assert not fresh.fitted[0] and episodes == [{}]
    assert _same_state(fresh, HealthState(1, config))


def test_no_compressors_and_fresh_ones() -> None:
    config = HealthConfig()
    assert health.dump_state_arrays(HealthState(0, config), []) == []
    blobs = dump_states(HealthState(2, config), [{}, {}])
    assert [int.from_bytes(b[10:14], "little") for b in blobs] == [0, 0]  # nothing differs from fresh
    back, episodes = load_states(blobs, config)
    assert _same_state(back, HealthState(2, config)) and episodes == [{}, {}]


def test_the_state_table_read_back_by_organization(tmp_path: Path) -> None:
    """read_states (an incremental pass's read of gold/health_state, by pyarrow): each row of the
    pass's organizations as written — its blob byte for byte, last hour (NULL: None), the cutoff it was
    fed until and its recent count — and no other organization's."""
    config = HealthConfig()
    times, values = _series(2, seed=1)
    state = HealthState(1, config)
    fleet_step(np.zeros(len(times), dtype=np.int64), times, values, state=state, config=config)
    blobs = [*dump_states(state, [{}]), *dump_states(HealthState(2, config), [{}, {}])]
    hour = 1_780_000_000 // HOUR * HOUR
    table = pa.table(
        {
            "organization": ["acme", "acme", "other"],
            "compressor_id": ["C-1", "C-2", "C-1"],
            "last_hour": pa.array([hour * 1_000_000, None, hour * 1_000_000], pa.timestamp("us", tz="UTC")),
            "fed_until": pa.array([(hour + HOUR) * 1_000_000] * 3, pa.timestamp("us", tz="UTC")),
            "state": pa.array(blobs, pa.binary()),
            "recent_count": [156, 0, 12],
        }
    )
    pq.write_table(table, tmp_path / "part-0.parquet", compression="none", use_dictionary=False)
    read = health.read_states([tmp_path / "part-0.parquet"], {"acme"})
    assert list(read) == [("acme", "C-1"), ("acme", "C-2")]
    first, second = read[("acme", "C-1")], read[("acme", "C-2")]
    assert first.state is not None and bytes(first.state) == blobs[0]
    assert (first.last_micros, first.fed_until, first.recent_count) == (hour * 1_000_000, hour + HOUR, 156)
    assert second.last_micros is None and second.state is not None and bytes(second.state) == blobs[1]
    assert len(health.read_states([tmp_path / "part-0.parquet"], None)) == 3
    back, _ = load_states([first.state, second.state], config)
    assert dump_states(back, [{}, {}]) == blobs[:2]
