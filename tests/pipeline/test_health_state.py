"""The health stage's per-compressor state (pipeline/health.py dump_state / load_state): what an
incremental run continues from. A state written and read back continues exactly as the state it was
written from; a state in the first format (.npz) still loads."""

import io
import json
from dataclasses import fields
from typing import Any

import numpy as np

from altaviz.health import HealthConfig, HealthState, health_step
from altaviz.pipeline.health import CompressorState, Episode, dump_state, load_state

HOUR = 3600


def _series(days: float, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """A running compressor's readings every 10 minutes: levels with a daily swing and noise."""
    rng = np.random.default_rng(seed)
    times = 1_780_000_000 // HOUR * HOUR + np.arange(int(days * 144)) * 600
    daily = np.sin(2 * np.pi * (times % 86_400) / 86_400)
    levels = np.array([3.0, 220.0, 60.0, 900.0, 1200.0, 8.0])
    values = levels[:, None] * (1 + 0.01 * daily + 0.004 * rng.standard_normal((6, len(times))))
    return times, values.round(2)


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray | list):
        return np.array_equal(np.asarray(a, float), np.asarray(b, float), equal_nan=True)
    return bool(a == b or (a != a and b != b))


def _same_state(a: CompressorState, b: CompressorState) -> None:
    for f in fields(HealthState):
        mine, theirs = getattr(a.model, f.name), getattr(b.model, f.name)
        assert type(mine) is type(theirs), f.name
        assert _equal(mine, theirs), f.name
    assert (a.warming, a.episodes) == (b.warming, b.episodes)


def test_a_state_read_back_continues_as_the_one_written() -> None:
    times, values = _series(days=8)
    config = HealthConfig()
    for cut in (20, 400, len(times) - 144):  # learning, just fitted, judging for days
        state = CompressorState(episodes={"anomaly": Episode(cut * 600, "vibration_mms", 41.5, 50.0, cut)})
        health_step(times[:cut], values[:, :cut], state=state.model, config=config)
        state.warming = cut < 400
        back = load_state(dump_state(state))
        _same_state(state, back)
        assert dump_state(back) == dump_state(state)
        after = slice(cut, cut + 144)
        continued = health_step(times[after], values[:, after], state=state.model, config=config)
        resumed = health_step(times[after], values[:, after], state=back.model, config=config)
        assert np.array_equal(continued.health, resumed.health, equal_nan=True)
        assert np.array_equal(continued.score, resumed.score, equal_nan=True)


def test_a_state_of_the_first_format_still_loads() -> None:
    times, values = _series(days=6)
    state = CompressorState(warming=False)
    health_step(times, values, state=state.model, config=HealthConfig())
    arrays: dict[str, Any] = {}
    for f in fields(HealthState):  # the first format: one .npz member per field, the rest as JSON
        value = getattr(state.model, f.name)
        arrays[f.name] = np.asarray(value, dtype=np.float64 if isinstance(value, list) else None)
    extra = {"warming": state.warming, "episodes": {}}
    arrays["_extra"] = np.frombuffer(json.dumps(extra).encode(), dtype=np.uint8)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    _same_state(state, load_state(buffer.getvalue()))
