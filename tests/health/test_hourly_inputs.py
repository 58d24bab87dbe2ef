"""The step's readings → hours (`_drop_stuck`, `_hourly`) against their plain definitions on random
readings full of repeats, gaps, zeros and infinities: a value equal to the three before it of its
compressor is dropped, across batches too; each hour's median is np.nanmedian's, its lowest flow
np.nanmin's (zeros compared without their sign, which nothing downstream reads), short and long
hours alike."""

import warnings

import numpy as np

from altaviz.health import HealthState
from altaviz.health.model import FLOW, HOUR, _drop_stuck, _hourly

CHOICES = np.array([1.0, 2.0, -0.0, 0.0, np.nan, np.inf, -np.inf, 3.5])


def readings(rng: np.random.Generator, most: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    per = rng.integers(1, most, 4)
    compressor = np.repeat(np.sort(rng.choice(8, 4, replace=False)), per)
    times = np.concatenate([np.sort(rng.integers(0, 5 * HOUR, p)) for p in per])
    values = rng.choice(CHOICES, size=(6, len(times)), p=[0.3, 0.2, 0.05, 0.05, 0.15, 0.02, 0.03, 0.2])
    return compressor, times, values


def stuck_by_definition(
    compressor: np.ndarray, values: np.ndarray, last: np.ndarray, run: np.ndarray
) -> np.ndarray:
    """The readings one at a time: `last` / `run`, each compressor's last valid value and the length
    of the run of equal values ending there, carried from batch to batch (updated here)."""
    out = values.copy()
    length = np.zeros(6, dtype=np.int64)  # the run ending at the compressor's previous reading
    for i, c in enumerate(compressor.tolist()):
        follows = i > 0 and compressor[i - 1] == c
        for j in range(6):
            before, carried = (values[j, i - 1], length[j]) if follows else (last[c, j], run[c, j])
            length[j] = carried + 1 if values[j, i] == before else 1
            if length[j] >= 4:
                out[j, i] = np.nan
            if not np.isnan(values[j, i]):
                last[c, j], run[c, j] = values[j, i], length[j]
    return out


def test_stuck_values_are_dropped_as_the_run_defines_them_across_batches() -> None:
    rng = np.random.default_rng(3)
    for _ in range(60):
        state = HealthState(8)
        last, run = state.last_value.copy(), state.equal_run.copy()
        for _batch in range(3):
            compressor, _, values = readings(rng, 30)
            expected = stuck_by_definition(compressor, values, last, run)
            values[_drop_stuck(compressor, values, state)] = np.nan
            assert np.array_equal(values, expected, equal_nan=True)
            assert np.array_equal(state.last_value, last, equal_nan=True)
            assert np.array_equal(state.equal_run, run)


def test_hourly_medians_and_lowest_flows_are_numpys() -> None:
    rng = np.random.default_rng(4)
    for most in (12, 40, 400):  # hours of up to a few readings (the sorting network) and of many
        for _ in range(20):
            compressor, times, values = readings(rng, most)
            g_comp, g_hour, medians, min_flow = _hourly(compressor, times, values, 3)
            for g, (c, h) in enumerate(zip(g_comp.tolist(), g_hour.tolist(), strict=True)):
                rows = (compressor == c) & (times // HOUR == h)
                hour = values[:, rows]
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    expected = np.nanmedian(hour, axis=1)
                    lowest = np.nanmin(hour[FLOW])
                expected[(~np.isnan(hour)).sum(axis=1) < 3] = np.nan
                assert np.array_equal(medians[:, g] + 0.0, expected + 0.0, equal_nan=True)
                assert np.array_equal(min_flow[g] + 0.0, lowest + 0.0, equal_nan=True)
