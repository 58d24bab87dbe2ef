"""The discharge temperature's projection from its daily peaks (`peak_days`) on hand-built series: a
cooler fouling's rise is largest in the afternoon heat, so a trend through the last 60 hours (one flat
night, one afternoon bump) projects its crossing far too early; the power shape fitted to a week of
daily peaks projects it within half the time left, where the hourly window is off by about three
quarters. Weather the model is not given and a load cut are not predicted (nor projected within the horizon);
an incremental run equals a full one."""

import itertools

import numpy as np

from altaviz.health import HealthConfig, HealthOutput, HealthState, health_step
from altaviz.health.model import TEMP

from .test_daily_score import fouled
from .test_health_model import build
from .test_prognosis import forecast_errors, fouling

PEAKS = HealthConfig(peak_days=7)
HOURLY = HealthConfig(peak_days=0)  # the 60-hour window only


def test_a_fouling_is_projected_to_its_crossing_from_its_daily_peaks() -> None:
    for seed in range(4):
        peaks = np.median(forecast_errors(fouling, TEMP, 260.0, 20, PEAKS, seed))
        hourly = np.median(forecast_errors(fouling, TEMP, 260.0, 20, HOURLY, seed))
        assert peaks <= 0.5, (seed, peaks)
        assert hourly > 0.6, (seed, hourly)  # what the peaks correct: the hourly window's early projection


def test_weather_and_a_load_cut_give_no_temperature_projection_where_a_fouling_does() -> None:
    def setpoints(hours: np.ndarray) -> np.ndarray:
        level = np.where(hours < 3 * 24, 1.0, 1.1)  # two loads in the warm-up
        return np.where(hours >= 9 * 24, 0.85, level)  # then a cut of 15 %

    for seed in (1, 2):
        for amplitude in (1.0, 2.0):
            times, values = build(days=28, seed=seed, change=fouled(seed, rate=0.0, amplitude=amplitude))
            out = health_step(times, values, config=PEAKS)
            assert not out.prediction.any(), (seed, amplitude)
            assert not (out.eta_critical[TEMP] <= 72).any(), (seed, amplitude)  # none within the horizon
        times, values = build(days=28, seed=seed, load=setpoints, change=fouled(seed, 0.0, amplitude=1.0))
        out = health_step(times, values, config=PEAKS)
        assert not out.prediction.any(), seed
        # the same weather with a fouling: projected, and from its peaks (the hourly window differs)
        times, values = build(days=28, seed=seed, change=fouled(seed))
        peaks, hourly = (health_step(times, values, config=c).eta_critical[TEMP] for c in (PEAKS, HOURLY))
        assert np.isfinite(peaks).sum() >= 24, seed
        assert not np.array_equal(peaks, hourly, equal_nan=True), seed


def test_incremental_runs_with_daily_peaks_equal_a_full_run() -> None:
    times, values = build(days=20, seed=1, change=fouling)
    full = health_step(times, values, config=PEAKS)
    assert np.isfinite(full.eta_critical[TEMP]).any()
    state: HealthState | None = None
    parts: list[HealthOutput] = []
    cuts = (0, 7 * 144 + 36, 11 * 144 + 90, 15 * 144 + 6, len(times))  # hour boundaries, mid-day
    for lo, hi in itertools.pairwise(cuts):
        out = health_step(times[lo:hi], values[:, lo:hi], state=state, config=PEAKS)
        state = out.state
        parts.append(out)
    for name in ("hour", "judged", "anomaly", "prediction"):
        assert np.array_equal(np.concatenate([getattr(p, name) for p in parts]), getattr(full, name)), name
    for name in ("health", "eta_warning", "eta_critical", "eta_critical_low", "eta_critical_high"):
        joined = np.concatenate([getattr(p, name) for p in parts], axis=-1)
        np.testing.assert_allclose(joined, getattr(full, name), rtol=1e-9, equal_nan=True, err_msg=name)
