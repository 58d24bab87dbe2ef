"""The health step projects the prognoses of many hours together and settles the warnings after them
(`_Run._settle`: nothing else the model decides reads the warnings): settled after every hour or after
the whole run, the outputs and state are the same bit for bit — through a maintenance event while a
wear is warned, a stop inside a warning, and an incremental run. The helpers it uses are NumPy's
functions, bit for bit."""

import dataclasses

import numpy as np
import pytest

from altaviz.health import HealthOutput, HealthState, fleet_step
from altaviz.health import model as health_model
from altaviz.health.model import FLOW, VIB, _quantile, _zero_nan

from .test_health_model import START, _wear, build


def _stopped(hours: np.ndarray, values: np.ndarray) -> None:
    _wear(hours, values)
    stop = (hours >= 10.5 * 24) & (hours < 11 * 24)  # half a day stopped while warned
    values[:, stop] *= 0.02
    values[FLOW, stop] = 0.0


def _fleet(queued: int, monkeypatch: pytest.MonkeyPatch, cut: int | None = None) -> list[HealthOutput]:
    monkeypatch.setattr(health_model, "_QUEUED_PAIRS", queued)
    series = [build(days=14, change=_wear), build(days=14, seed=1, change=_stopped), build(days=14, seed=2)]
    resets = [np.array([START + 12 * 86400]), np.array([], dtype=np.int64), np.array([], dtype=np.int64)]
    compressor = np.concatenate([np.full(len(t), c) for c, (t, _) in enumerate(series)])
    times = np.concatenate([t for t, _ in series])
    values = np.concatenate([v for _, v in series], axis=1)
    state = HealthState(len(series))
    outputs = []
    parts = [times < START + cut * 3600, times >= START + cut * 3600] if cut else [times >= 0]
    for part in parts:
        # (each output's state is the one stepped on: copied to compare the parts' states too)
        out = fleet_step(compressor[part], times[part], values[:, part], state=state, resets=resets)
        outputs.append(dataclasses.replace(out, state=state.take(np.arange(len(state)))))
    return outputs


def _equal(a: HealthOutput, b: HealthOutput) -> None:
    for field in dataclasses.fields(a):
        if field.name != "state":
            got, want = getattr(a, field.name), getattr(b, field.name)
            assert np.array_equal(got, want, equal_nan=got.dtype.kind == "f"), field.name
    for name, array in a.state.arrays.items():
        want = b.state.arrays[name]
        assert np.array_equal(array, want, equal_nan=array.dtype.kind == "f"), name


def test_warnings_settled_every_hour_or_once_are_the_same_bit_for_bit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (once,) = _fleet(10**9, monkeypatch)
    (hourly,) = _fleet(1, monkeypatch)
    _equal(once, hourly)
    worn = once.compressor == 0
    warned = worn & (once.anomaly | once.prediction)
    assert warned.any() and np.isfinite(once.eta_warning[VIB, worn]).any()
    after = worn & (once.hour >= START + 12 * 86400)  # the maintenance clears the warnings
    assert not (once.anomaly | once.prediction)[after][0]
    stopped = (once.compressor == 1) & ~once.running
    assert (once.anomaly | once.prediction)[stopped].any()  # held through the stop
    for cut in (9 * 24 + 5, 11 * 24):  # an incremental run: the warnings settled so far carried on
        for part, whole in zip(_fleet(3, monkeypatch, cut), _fleet(10**9, monkeypatch, cut), strict=True):
            _equal(part, whole)


def test_the_day_quantile_and_nan_to_zero_are_numpys() -> None:
    rng = np.random.default_rng(5)
    values = np.round(rng.normal(size=(24, 300)), 1)
    values[rng.random(values.shape) < 0.3] = 0.0
    for q in (0.0, 0.5, 0.9, 1.0):
        assert np.array_equal(_quantile(values, q) + 0.0, np.quantile(values, q, axis=0) + 0.0)
    given = np.array([np.nan, np.inf, -np.inf, -0.0, 0.0, 1.5, -2.0])
    assert np.array_equal(_zero_nan(given), np.nan_to_num(given))
    assert np.array_equal(np.signbit(_zero_nan(given)), np.signbit(np.nan_to_num(given)))
