"""The health stage's per-compressor state (pipeline/health.py dump_states / load_states): what an
incremental run continues from. States written and read back continue exactly as the states they were
written from, a batch's compressors each with its own; a state this model cannot read (another format
or configuration) is not taken for one (the stage computes that compressor again from its silver)."""

import numpy as np

from altaviz.health import HealthConfig, HealthState, fleet_step
from altaviz.pipeline.health import Episode, dump_states, load_states, state_is_current

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
    assert len(blobs[1]) > len(blobs[3])  # the warm-up's buffers are stored only while collected
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


def test_a_state_of_another_format_or_configuration_is_not_taken() -> None:
    config = HealthConfig()
    times, values = _series(days=6, seed=1)
    state = HealthState(1, config)
    fleet_step(np.zeros(len(times), dtype=np.int64), times, values, state=state, config=config)
    blob = dump_states(state, [{}])[0]
    other = HealthConfig(trend_hours=48)  # another window: another state width
    assert not state_is_current(blob, other)
    assert not state_is_current(b"PK\x03\x04" + blob[5:], config)  # the first format was an .npz
    fresh, _ = load_states([blob], other)
    assert not fresh.fitted[0]
