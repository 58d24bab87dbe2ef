"""The health step stacks its per-compressor arithmetic over the compressors of an hour (the warm-up
fits of every compressor whose warm-up ends that hour in one, the step screen, learning): a batch
stepped together gives each compressor exactly, bit for bit, the outputs and state it gets alone —
also where a warm-up holds a recalibration step and where a step is absorbed after it."""

import dataclasses
from collections.abc import Callable

import numpy as np

from altaviz.health import HealthState, fleet_step, health_step
from altaviz.health.model import DIS, FLOW

from .test_health_model import _wear, build


def _stepped(sensor: int, factor: float, at_hour: float) -> Callable[[np.ndarray, np.ndarray], None]:
    def change(hours: np.ndarray, values: np.ndarray) -> None:
        values[sensor, hours >= at_hour] *= factor

    return change


def test_a_batch_stepped_together_equals_each_compressor_alone_bit_for_bit() -> None:
    series = [
        build(days=12, change=_wear),
        build(days=12, seed=1, change=_stepped(DIS, 0.965, 72), load=np.ones_like),  # inside the warm-up
        build(days=12, seed=2, change=_stepped(DIS, 1.05, 6 * 24)),  # after it
        build(days=12, seed=3, change=_stepped(FLOW, 1.03, 8 * 24)),
    ]
    alone = [health_step(t, v) for t, v in series]
    out = fleet_step(
        np.concatenate([np.full(len(t), c) for c, (t, _) in enumerate(series)]),
        np.concatenate([t for t, _ in series]),
        np.concatenate([v for _, v in series], axis=1),
        state=HealthState(len(series)),
    )
    assert out.state.offset[1, DIS] < 0 < out.state.offset[2, DIS]  # both steps taken as offsets
    for c, one in enumerate(alone):
        rows = out.compressor == c
        for field in dataclasses.fields(out):
            if field.name not in ("state", "compressor"):
                got, want = getattr(out, field.name)[..., rows], getattr(one, field.name)
                assert np.array_equal(got, want, equal_nan=got.dtype.kind == "f"), (c, field.name)
        for name, array in out.state.arrays.items():
            got, want = array[c], one.state.arrays[name][0]
            assert np.array_equal(got, want, equal_nan=got.dtype.kind == "f"), (c, name)
