"""The health model on hand-built series (issue 19 item 7): a ramp is warned before it crosses its
limit, a load step and a start/stop are not warned, a recalibration step is not warned twice (nor one
inside the warm-up), spikes, a stuck sensor and a gap are not warned, a load beyond a one-load warm-up
is not warned with the fleet prior, a warning lasts through a stop, accelerating wear is projected on
a curve, a small lasting shift is warned unless within the deadband, an incremental run equals a
full one, a limit already crossed is not projected, a batch of compressors stepped together
gives each the outputs it gets alone, a noisy recalibration is absorbed once enough hours show it, a
small shift of the flow / horsepower relation is not warned while a seal leak is, and without an
ambient input a temperature step is not taken for a recalibration, a sensor stepping up and down
spends its recalibration budget, a wear trending to its limit is warned before the health index holds
below 50, vibration and temperature below their model are not warned, and a small lasting vibration
shift within its noise is not warned."""

from collections.abc import Callable
from dataclasses import replace

import numpy as np

from altaviz.health import HealthConfig, HealthOutput, HealthState, Limits, fleet_step, health_step
from altaviz.health.model import DIS, FLOW, HP, SUC, TEMP, VIB, fleet_prior

START = 1_767_225_600  # 2026-01-01T00:00Z
STEP = 600
NOISE = np.array([0.05, 0.01, 0.01, 0.01, 0.01, 0.02])


def build(
    days: float = 16,
    seed: int = 0,
    load: Callable[[np.ndarray], np.ndarray] | None = None,
    change: Callable[[np.ndarray, np.ndarray], None] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """10-minute readings of one healthy compressor; `load(hours)` sets the load (1 = nominal),
    by default two setpoints a day apart; `change(hours, values)` edits the values in place."""
    n = int(days * 144)
    hours = np.arange(n) * STEP / 3600
    level = 1 + 0.08 * np.sin(hours / 24 * 2.3) if load is None else load(hours)
    values = np.empty((6, n))
    values[VIB] = 3.0 * (1 + 0.3 * (level - 1))
    values[TEMP] = 200 + 25 * (level - 1) + 8 * np.cos(2 * np.pi * (hours - 21) / 24)
    values[SUC] = 60 * (1 - 0.25 * (level - 1))
    values[DIS] = 1050 * (1 + 0.2 * (level - 1))
    values[HP] = 1400 * (1 + 0.7 * (level - 1))
    values[FLOW] = 10_000 * level
    if change is not None:
        change(hours, values)
    rng = np.random.default_rng(seed)
    values *= 1 + NOISE[:, None] * rng.standard_normal(values.shape)
    return START + np.arange(n, dtype=np.int64) * STEP, np.round(values, 2)


def warnings_started(out: HealthOutput) -> list[int]:
    flag = out.anomaly | out.prediction
    return [int(h) for h in out.hour[flag & ~np.r_[False, flag[:-1]]]]


def first_hour(times: np.ndarray, mask: np.ndarray) -> int:
    return int(times[np.flatnonzero(mask)[0]])


def test_a_vibration_ramp_is_warned_before_it_crosses_its_limit_with_a_projection() -> None:
    def wear(hours: np.ndarray, values: np.ndarray) -> None:
        d = np.clip((hours - 8 * 24) / 24, 0, None)  # days since onset at day 8
        values[VIB] *= 1 + (d / 4) ** 2  # 3 mm/s, ×2 after 4 days, warning 6 mm/s at day 12

    times, values = build(days=14, change=wear)
    out = health_step(times, values)
    hourly = out.hour
    crossing = first_hour(times, values[VIB] >= 6.0)
    started = warnings_started(out)
    assert started, "the ramp was never warned"
    first = started[0]
    assert 8 * 24 * 3600 + START < first <= crossing - 24 * 3600  # after onset, a day or more early
    at = int(np.flatnonzero(hourly >= first)[0])
    window = slice(at, at + 24)
    assert out.drivers[VIB, at]
    projected = np.nanmin(out.eta_warning[VIB, window])
    assert np.isfinite(projected) and projected > 0
    assert np.nanmin(out.eta_warning_low[VIB, window]) <= np.nanmax(out.eta_warning_high[VIB, window])
    assert np.nanmin(out.health) >= 0 and np.nanmax(out.health) <= 100
    assert np.nanmin(out.health[hourly >= crossing]) < 50


def test_a_load_step_is_not_warned() -> None:
    def setpoints(hours: np.ndarray) -> np.ndarray:
        level = np.where(hours < 3 * 24, 1.0, 1.1)  # two loads in the warm-up
        return np.where(hours >= 9 * 24, 0.82, level)  # then a cut of about 20 %

    times, values = build(days=16, load=setpoints)
    out = health_step(times, values)
    assert out.judged.sum() > 100
    assert warnings_started(out) == []


def test_a_start_stop_is_not_warned_and_stopped_hours_are_not_judged() -> None:
    def stop(hours: np.ndarray, values: np.ndarray) -> None:
        stopped = (hours >= 9 * 24) & (hours < 9 * 24 + 6)
        values[VIB, stopped] *= 0.1
        values[HP, stopped] *= 0.01
        values[FLOW, stopped] *= 0.003
        values[SUC, stopped] *= 1.3
        values[DIS, stopped] *= 0.55
        cooling = np.clip(hours - 9 * 24, 0, 6)
        warming = np.clip(hours - (9 * 24 + 6), 0, None)
        away = (1 - np.exp(-cooling / 1.5)) * np.exp(-warming / 1.5)
        values[TEMP] += (100 - values[TEMP]) * away

    times, values = build(days=14, change=stop)
    out = health_step(times, values)
    stopped_hours = (out.hour >= START + 9 * 24 * 3600) & (out.hour < START + (9 * 24 + 6) * 3600)
    assert not out.running[stopped_hours].any() and not out.judged[stopped_hours].any()
    assert warnings_started(out) == []


def test_a_recalibration_step_is_not_warned_twice() -> None:
    def recalibrate(hours: np.ndarray, values: np.ndarray) -> None:
        values[DIS, hours >= 9 * 24 + 0.5] *= 1.04

    times, values = build(days=16, change=recalibrate)
    out = health_step(times, values)
    assert len(warnings_started(out)) <= 1
    # Recognised as a step (the rest is learned by the intercept before the step is decided).
    assert 0.015 < out.state.absorbed[0, DIS] < 0.05
    late = out.hour >= START + 11 * 24 * 3600
    assert not (out.anomaly | out.prediction)[late].any()


def test_spikes_a_stuck_sensor_and_a_gap_are_not_warned() -> None:
    def glitches(hours: np.ndarray, values: np.ndarray) -> None:
        rng = np.random.default_rng(5)
        spikes = rng.random(values.shape) < 0.01
        values[spikes] *= 1.15
        stuck = (hours >= 9 * 24) & (hours < 9 * 24 + 6)
        values[TEMP, stuck] = 203.17
        values[:, (hours >= 11 * 24) & (hours < 11 * 24 + 4)] = np.nan

    times, values = build(days=14, change=glitches)
    out = health_step(times, values)
    assert warnings_started(out) == []


def test_incremental_runs_equal_a_full_run() -> None:
    def wear(hours: np.ndarray, values: np.ndarray) -> None:
        values[VIB] *= 1 + np.clip((hours - 8 * 24) / 96, 0, None) ** 2
        values[DIS, hours >= 6 * 24] *= 1.03

    times, values = build(days=13, change=wear)
    full = health_step(times, values)
    state: HealthState | None = None
    parts: list[HealthOutput] = []
    for lo, hi in ((0, 5 * 144 + 36), (5 * 144 + 36, 9 * 144 + 6), (9 * 144 + 6, len(times))):
        # cut on hour boundaries (multiples of 6 readings)
        out = health_step(times[lo:hi], values[:, lo:hi], state=state)
        state = out.state
        parts.append(out)
    for name in ("hour", "judged", "running", "anomaly", "prediction"):
        assert np.array_equal(np.concatenate([getattr(p, name) for p in parts]), getattr(full, name)), name
    for name in ("health", "score", "eta_warning", "eta_critical", "eta_critical_high"):
        joined = np.concatenate([getattr(p, name) for p in parts], axis=-1)
        np.testing.assert_allclose(joined, getattr(full, name), rtol=1e-9, equal_nan=True, err_msg=name)


def test_warm_up_is_not_judged_and_maintenance_starts_it_again() -> None:
    times, values = build(days=16)
    config = HealthConfig()
    reset = START + 8 * 24 * 3600
    out = health_step(times, values, resets=np.array([reset]), config=config)
    judged_hours = out.hour[out.judged]
    assert judged_hours[0] >= START + (config.warmup_hours + config.settle_hours) * 3600
    after = out.hour >= reset
    first_after = out.hour[after & out.judged][0]
    assert first_after >= reset + (config.warmup_hours + config.settle_hours - 1) * 3600


def test_a_recalibration_during_the_warm_up_is_taken_as_an_offset_and_not_warned() -> None:
    def recalibrate(hours: np.ndarray, values: np.ndarray) -> None:
        values[DIS, hours >= 3 * 24] *= 0.965  # inside the first 120 running hours

    times, values = build(days=16, change=recalibrate, load=np.ones_like)  # no load change to blame
    out = health_step(times, values)
    assert warnings_started(out) == []
    assert -0.045 < out.state.offset[0, DIS] < -0.025
    assert np.nanmax(np.abs(out.score[DIS])) < HealthConfig().score_healthy


def test_a_series_that_begins_stopped_learns_once_the_unit_runs() -> None:
    def idle_first(hours: np.ndarray, values: np.ndarray) -> None:
        idle = hours < 20
        values[VIB, idle] *= 0.1
        values[HP, idle] *= 0.01
        values[FLOW, idle] *= 0.003
        values[SUC, idle] *= 1.3
        values[DIS, idle] *= 0.55
        values[TEMP, idle] = 95.0

    times, values = build(days=14, change=idle_first)
    out = health_step(times, values)
    assert out.judged.sum() > 100
    assert warnings_started(out) == []
    assert 9000 < out.state.ref[0, FLOW] < 11_000  # the reference is a running hour's


def test_a_warning_lasts_through_a_stop_as_one_episode() -> None:
    def wear_then_stop(hours: np.ndarray, values: np.ndarray) -> None:
        values[VIB] *= 1 + np.clip((hours - 7 * 24) / 24, 0, None) * 0.5  # +50 % a day from day 7
        stopped = (hours >= 10 * 24) & (hours < 10 * 24 + 5)
        values[VIB, stopped] *= 0.1
        values[HP, stopped] *= 0.01
        values[FLOW, stopped] *= 0.003

    times, values = build(days=12, change=wear_then_stop)
    out = health_step(times, values)
    stop = (out.hour >= START + 10 * 24 * 3600) & (out.hour < START + (10 * 24 + 5) * 3600)
    assert len(warnings_started(out)) == 1
    assert out.anomaly[stop].all() and not out.judged[stop].any()


def test_a_load_change_beyond_a_one_load_warm_up_is_not_warned_with_the_fleet_prior() -> None:
    def one_load_then_cut(hours: np.ndarray) -> np.ndarray:
        return np.where(hours < 7 * 24, 1.18, 0.85)  # the warm-up sees one load only

    def swinging(period: int) -> Callable[[np.ndarray], np.ndarray]:
        return lambda hours: 1 + 0.12 * np.sin(hours / period)

    fleet = [build(days=6, seed=s, load=swinging(5 + s)) for s in (1, 2, 3)]
    prior = fleet_prior([(t, v, None, None) for t, v in fleet])
    times, values = build(days=14, load=one_load_then_cut)
    assert warnings_started(health_step(times, values, prior=prior)) == []


def test_accelerating_wear_is_projected_on_a_curve() -> None:
    def wear(hours: np.ndarray, values: np.ndarray) -> None:
        d = np.clip((hours - 8 * 24) / 24, 0, None)
        values[VIB] *= 1 + 0.3 * d**2  # 3 mm/s; warning 6 mm/s after 1.83 days, critical 8 at 2.36

    times, values = build(days=12, change=wear)
    out = health_step(times, values)
    line_only = health_step(times, values, config=HealthConfig(prognosis="line"))
    crossing = first_hour(times, values[VIB] >= 8.0)
    at = int(np.flatnonzero(out.hour <= crossing - 20 * 3600)[-1])
    actual = (crossing - out.hour[at]) / 3600
    assert abs(out.eta_critical[VIB, at] - actual) / actual < 0.3
    assert line_only.eta_critical[VIB, at] > 3 * actual  # a straight line projects far too late
    assert out.eta_critical_low[VIB, at] <= out.eta_critical[VIB, at] <= out.eta_critical_high[VIB, at]


def test_a_small_lasting_shift_is_judged_beyond_the_deadband_only() -> None:
    def drift(hours: np.ndarray, values: np.ndarray) -> None:
        values[VIB] *= 1 + 0.08 * np.clip((hours - 7 * 24) / (5 * 24), 0, 1)  # +8 % over five days

    times, values = build(days=16, change=drift)
    assert warnings_started(health_step(times, values)) != []
    assert warnings_started(health_step(times, values, config=HealthConfig(deadband=0.02))) == []


def _wear(hours: np.ndarray, values: np.ndarray) -> None:
    values[VIB] *= 1 + (np.clip((hours - 8 * 24) / 24, 0, None) / 4) ** 2  # warning 6 mm/s at day 12


def test_a_limit_already_crossed_is_not_projected() -> None:
    times, values = build(days=14, change=_wear)
    shipped = Limits.defaults()
    crossed = np.array(shipped.warning)
    crossed[VIB] = 2.0  # below the unit's healthy 3 mm/s: the threshold alert covers it
    out = health_step(times, values, limits=Limits(crossed, shipped.critical, shipped.side))
    reference = health_step(times, values)
    assert np.isfinite(reference.eta_warning[VIB]).any()  # projected with the shipped limit
    assert np.isnan(out.eta_warning[VIB]).all()  # never "in 0 h"
    assert np.isfinite(out.eta_critical[VIB]).any()
    for name in ("eta_warning", "eta_critical", "eta_warning_low", "eta_critical_low"):
        assert not (getattr(out, name) <= 0).any(), name
        assert not (getattr(reference, name) <= 0).any(), name


def test_a_batch_steps_each_compressor_as_if_alone() -> None:
    """fleet_step over several compressors (different lengths and starts, a maintenance event on one,
    a wearing one) equals health_step over each alone."""
    series = [
        build(days=14, change=_wear),
        build(days=12, seed=1),
        build(
            days=16, seed=2, change=lambda h, v: v.__setitem__((DIS, h >= 6 * 24), v[DIS, h >= 6 * 24] * 1.05)
        ),
    ]
    late = 30 * 3600  # the second starts later
    series[1] = (series[1][0] + late, series[1][1])
    resets = [np.array([], dtype=np.int64), np.array([], dtype=np.int64), np.array([START + 9 * 86400])]
    alone = [health_step(t, v, resets=r) for (t, v), r in zip(series, resets, strict=True)]
    index = np.concatenate([np.full(len(t), c) for c, (t, _) in enumerate(series)])
    out = fleet_step(
        index,
        np.concatenate([t for t, _ in series]),
        np.concatenate([v for _, v in series], axis=1),
        state=HealthState(len(series)),
        resets=resets,
    )
    assert warnings_started(alone[0]) and out.judged.any()
    for c, one in enumerate(alone):
        rows = out.compressor == c
        for name in ("hour", "judged", "running", "warmup", "anomaly", "prediction", "drivers"):
            assert np.array_equal(getattr(out, name)[..., rows], getattr(one, name)), (c, name)
        for name in ("health", "score", "eta_warning", "eta_critical_low", "eta_critical_high"):
            np.testing.assert_allclose(
                getattr(out, name)[..., rows], getattr(one, name), rtol=1e-12, equal_nan=True, err_msg=name
            )


def test_a_noisy_recalibration_step_is_absorbed_once_enough_hours_show_it() -> None:
    """A horsepower meter recalibrated by −2.5 % (at the noise's edge: the two-level fit is not yet
    clear 6 hours after it) is absorbed a few hours later instead of being warned; decided only at
    6 hours (`step_max_after=6`, the previous rule) it is warned. The operating deadband is off here
    so that only the step rule is tested, and the EWMA keeps the 12-hour half-life under which the
    unabsorbed step is loud enough to be warned (with 8 hours it is not, either way)."""

    def recalibrate(hours: np.ndarray, values: np.ndarray) -> None:
        values[HP, hours >= 9 * 24 + 0.5] *= 0.975

    for seed in (1, 2):
        times, values = build(days=16, seed=seed, change=recalibrate)
        config = HealthConfig(operating_deadband=0.0, ewma_halflife_hours=12.0)
        out = health_step(times, values, config=config)
        assert warnings_started(out) == [], seed
        assert -0.035 < out.state.offset[0, HP] < -0.015, seed
        late = health_step(times, values, config=replace(config, step_max_after=6))
        assert warnings_started(late) != [], seed


def test_a_small_shift_of_the_operating_point_relation_is_not_warned_but_a_seal_leak_is() -> None:
    """Flow and horsepower are the operating point the other sensors are conditioned on; a drift
    of their relation smaller than a recalibration (the horsepower meter reading 2.5 % low over two
    days) is not judged (`operating_deadband`), while a seal leak's loss of flow (−15 % over four
    days) is."""

    def meter_drift(hours: np.ndarray, values: np.ndarray) -> None:
        values[HP] *= 1 - 0.025 * np.clip((hours - 8 * 24) / 48, 0, 1)

    def seal_leak(hours: np.ndarray, values: np.ndarray) -> None:
        values[FLOW] *= 1 - 0.15 * np.clip((hours - 8 * 24) / 96, 0, 1)

    for seed in (0, 1):
        times, values = build(days=16, seed=seed, change=meter_drift)
        assert warnings_started(health_step(times, values)) == [], seed
        unbanded = health_step(times, values, config=HealthConfig(operating_deadband=0.0))
        assert warnings_started(unbanded) != [], seed
    times, values = build(days=14, change=seal_leak)
    started = warnings_started(health_step(times, values))
    assert started and started[0] < START + 12 * 24 * 3600


def test_without_an_ambient_input_a_temperature_step_is_not_taken_for_a_recalibration() -> None:
    """Without an ambient input a change of weather moves the discharge temperature like a
    recalibration: its steps are not absorbed (`weather_steps`); with an ambient series they are."""

    def recalibrate(hours: np.ndarray, values: np.ndarray) -> None:
        values[TEMP, hours >= 9 * 24 + 0.5] *= 1.03

    times, values = build(days=16, change=recalibrate)
    alone = health_step(times, values)
    assert alone.state.absorbed[0, TEMP] == 0.0
    unguarded = health_step(times, values, config=HealthConfig(weather_steps=False))
    assert unguarded.state.absorbed[0, TEMP] > 0.015
    hours = START + np.arange(16 * 24, dtype=np.int64) * 3600
    ambient = 3 * np.sin(np.arange(len(hours)) / 17.0)  # a station's weather the model is given
    seen = health_step(times, values, ambient_hours=hours, ambient=ambient)
    assert seen.state.absorbed[0, TEMP] > 0.015


def test_a_sensor_stepping_up_and_down_is_warned_once_its_recalibration_budget_is_spent() -> None:
    """Discharge pressure reading 4 % high for 12 hours, then normal for 12, day after day, is not a
    recalibrated sensor: the steps it takes are counted up and down against `max_absorbed`, so after
    three it is judged (and warned); counted as their sum (the previous rule) the budget was never spent
    and every step was absorbed."""

    def swing(hours: np.ndarray, values: np.ndarray) -> None:
        high = (hours >= 8 * 24) & (((hours - 8 * 24) // 12) % 2 == 0)
        values[DIS, high] *= 1.04

    for seed in (0, 1):
        times, values = build(days=16, seed=seed, change=swing)
        out = health_step(times, values)
        assert warnings_started(out) != [], seed
        assert HealthConfig().max_absorbed - 0.06 < out.state.absorbed[0, DIS] <= HealthConfig().max_absorbed


def test_a_wear_trending_to_its_limit_is_warned_before_the_health_index_falls_below_50() -> None:
    """A sensor with a significant trend towards its limit (the prognosis's slope test) and a score of
    `trend_anomaly_score` (health below 80) for `trend_anomaly_hours` judged hours is an anomaly: a
    growing fault is warned hours before it holds the health index below 50 for 12 hours
    (`trend_anomaly_score=0`, the previous rule)."""

    def wear(hours: np.ndarray, values: np.ndarray) -> None:
        values[VIB] *= 1 + (np.clip((hours - 8 * 24) / 24, 0, None) / 5) ** 2

    def drift(hours: np.ndarray, values: np.ndarray) -> None:
        values[TEMP] += 4 * np.clip((hours - 8 * 24) / 24, 0, None)  # a fouling cooler: +4 °F a day

    for change in (wear, drift):
        for seed in (0, 1):
            times, values = build(days=16, seed=seed, change=change)
            trended = warnings_started(health_step(times, values))
            previous = HealthConfig(trend_anomaly_score=0, daily_anomaly_score=0)  # the level rule alone
            level_only = warnings_started(health_step(times, values, config=previous))
            assert trended and level_only, (change.__name__, seed)
            assert START + 8 * 24 * 3600 < trended[0] <= level_only[0] - 6 * 3600, (change.__name__, seed)


def test_vibration_and_temperature_below_their_model_are_not_warned() -> None:
    """Wear, leaks and fouling raise vibration and temperature: a unit reading cooler than its model
    (here −3 % of discharge temperature over two days, e.g. weather the ambient proxy misses) is not
    warned (`one_sided`), while the same drift upwards is, and judged both ways it is warned."""

    def cooler(hours: np.ndarray, values: np.ndarray) -> None:
        values[TEMP] *= 1 - 0.03 * np.clip((hours - 8 * 24) / 48, 0, 1)

    def hotter(hours: np.ndarray, values: np.ndarray) -> None:
        values[TEMP] *= 1 + 0.03 * np.clip((hours - 8 * 24) / 48, 0, 1)

    for seed in (0, 1):
        times, values = build(days=16, seed=seed, change=cooler)
        out = health_step(times, values)
        assert warnings_started(out) == [], seed
        assert not (out.score[TEMP] < 0).any() and not out.drivers[TEMP].any(), seed
        assert warnings_started(health_step(times, values, config=HealthConfig(one_sided=False))) != [], seed
        times, values = build(days=16, seed=seed, change=hotter)
        assert warnings_started(health_step(times, values)) != [], seed


def test_a_small_lasting_vibration_shift_within_its_noise_is_not_warned() -> None:
    """Vibration drifting up 8 % over five days (0.24 mm/s on 3 mm/s, within its 5 % reading noise) and
    staying there: with the EWMA's 8-hour half-life, whose healthy spread is wider, it is not
    warned on these seeds; with the previous 12 hours it was."""

    def drift(hours: np.ndarray, values: np.ndarray) -> None:
        values[VIB] *= 1 + 0.08 * np.clip((hours - 7 * 24) / (5 * 24), 0, 1)

    for seed in (1, 2, 3):
        times, values = build(days=16, seed=seed, change=drift)
        assert warnings_started(health_step(times, values)) == [], seed
        previous = HealthConfig(ewma_halflife_hours=12.0)
        assert warnings_started(health_step(times, values, config=previous)) != [], seed
