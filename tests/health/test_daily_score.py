"""The discharge temperature judged over a day (`daily_anomaly_score`) on hand-built series: a cooler
fouling's rise is largest in the afternoon heat, so its hourly score climbs each afternoon and falls
back at night — every rule on hours in a row starts again each day — while the day's upper quantile
grows day over day. Weather the model is not given and load steps move the temperature too: they are
not warned."""

from collections.abc import Callable
from dataclasses import replace

import numpy as np

from altaviz.health import HealthConfig, HealthOutput, health_step
from altaviz.health.model import TEMP

from .test_health_model import START, build, first_hour, warnings_started

OFF = HealthConfig(daily_anomaly_score=0)  # the previous rules
DAY = 86_400


def weather(seed: int, amplitude: float) -> Callable[[np.ndarray], np.ndarray]:
    """A day-to-day weather wander of the discharge temperature (°F; AR(1) by day, interpolated) that
    the model is not given."""

    def at(hours: np.ndarray) -> np.ndarray:
        rng = np.random.default_rng(100 + seed)
        days = int(hours[-1] // 24) + 2
        wander = np.zeros(days)
        for i in range(1, days):
            wander[i] = 0.6 * wander[i - 1] + rng.standard_normal()
        return np.asarray(amplitude * np.interp(hours / 24, np.arange(days), wander))

    return at


def fouled(seed: int, rate: float = 1.5, amplitude: float = 1.0) -> Callable[[np.ndarray, np.ndarray], None]:
    """From day 7 the discharge temperature rises `rate` °F a day on (daily) average, 1.6× that at the
    afternoon's hottest hour and 0.4× at dawn (the realistic scenario's cooler fouling), within the
    weather."""

    def change(hours: np.ndarray, values: np.ndarray) -> None:
        days = np.clip((hours - 7 * 24) / 24, 0, None)
        afternoon = 1 + 0.6 * np.cos(2 * np.pi * (hours % 24 - 15) / 24)
        values[TEMP] += weather(seed, amplitude)(hours) + rate * days * afternoon

    return change


def test_a_fouling_that_shows_in_the_afternoons_is_warned_a_day_before_its_crossing() -> None:
    for seed in (1, 2, 5):
        times, values = build(days=28, seed=seed, change=fouled(seed))
        crossing = first_hour(times, values[TEMP] >= 240.0)  # the warning limit, on an afternoon
        warned = warnings_started(health_step(times, values))
        assert warned and START + 7 * DAY < warned[0] <= crossing - DAY, seed
        # the rules on hours in a row and the health index did not warn it a day ahead
        previous = warnings_started(health_step(times, values, config=OFF))
        assert not previous or previous[0] > crossing - DAY, seed


def test_a_foulings_first_afternoons_are_warned_at_a_days_score_of_7() -> None:
    """A fouling's first afternoons take the day's score to 7–8 (the realistic scenario's seed 19
    COMP-001: 7.4 on the first afternoon, warned on the second at a level of 8): at
    `daily_anomaly_score=7` these are warned hours to days earlier than at 8 (the level until session
    14)."""
    for seed in (1, 2, 3):
        times, values = build(days=20, seed=seed, change=fouled(seed))
        warned = warnings_started(health_step(times, values))
        previous = warnings_started(health_step(times, values, config=HealthConfig(daily_anomaly_score=8.0)))
        assert warned and warned[0] > START + 7 * DAY, seed
        assert not previous or warned[0] <= previous[0] - 4 * 3600, seed


def test_weather_and_daily_swings_are_not_warned_where_the_same_swings_with_a_fouling_are() -> None:
    for seed in (1, 2):
        for amplitude in (1.0, 2.0):
            times, values = build(days=28, seed=seed, change=fouled(seed, rate=0.0, amplitude=amplitude))
            assert warnings_started(health_step(times, values)) == [], (seed, amplitude)
        times, values = build(days=28, seed=seed, change=fouled(seed))
        assert warnings_started(health_step(times, values)) != [], seed


def test_a_load_step_is_not_warned_where_a_fouling_through_it_is() -> None:
    def setpoints(hours: np.ndarray) -> np.ndarray:
        level = np.where(hours < 3 * 24, 1.0, 1.1)  # two loads in the warm-up
        return np.where(hours >= 9 * 24, 0.85, level)  # then a cut of 15 % (25 × 0.15 °F cooler)

    for seed in (1, 5):
        times, values = build(days=28, seed=seed, load=setpoints, change=fouled(seed, 0.0, amplitude=0.0))
        assert warnings_started(health_step(times, values)) == [], seed
        times, values = build(days=28, seed=seed, load=setpoints, change=fouled(seed))
        crossing = first_hour(times, values[TEMP] >= 240.0)
        warned = warnings_started(health_step(times, values))
        assert warned and warned[0] <= crossing - DAY, seed


def weather_seen(
    times: np.ndarray, values: np.ndarray, seed: int, config: HealthConfig | None = None
) -> HealthOutput:
    """`health_step` given the weather of `fouled` (amplitude 1) as the station's ambient input, hourly:
    with it the model absorbs temperature steps as recalibrations (without it none, `weather_steps`)."""
    hours = np.arange(int(times[-1] - START) // 3600 + 1)
    ambient = weather(seed, 1.0)(hours.astype(np.float64))
    return health_step(times, values, ambient_hours=START + 3600 * hours, ambient=ambient, config=config)


def test_a_foulings_afternoon_rise_absorbed_as_a_step_is_taken_back_at_night() -> None:
    """A fouling's afternoon rise looks like a recalibration step up: kept (`daily_step_confirm_hours=0`),
    its rise went into the offset afternoon after afternoon and it was warned days later; its night falls
    back, so the step is taken back (seeds 3 and 4: warned 4–6 days earlier, 2–3 days after the onset;
    of seeds 0–5 none later). At the day's level of 8 these were measured at (until session 14: at 7 seed
    4's fouling is warned early with its steps kept too)."""
    for seed in (3, 4):
        times, values = build(days=28, seed=seed, change=fouled(seed))
        eight = HealthConfig(daily_anomaly_score=8.0)
        warned = warnings_started(weather_seen(times, values, seed, eight))
        assert warned and START + 7 * DAY < warned[0] <= START + 10 * DAY, seed
        kept = warnings_started(weather_seen(times, values, seed, replace(eight, daily_step_confirm_hours=0)))
        assert kept[0] - warned[0] >= 4 * DAY, seed


def test_recalibrations_hold_and_a_load_step_is_not_warned_with_the_weather_seen() -> None:
    """A recalibration's step holds through the night: it is kept (the offset keeps it) and not warned,
    nor is a second one five days later, nor a 15 % load cut within the weather."""

    def recalibrated(at: list[tuple[float, float]]) -> Callable[[np.ndarray, np.ndarray], None]:
        def change(hours: np.ndarray, values: np.ndarray) -> None:
            values[TEMP] += weather(1, 1.0)(hours)
            for day, factor in at:
                values[TEMP, hours >= day * 24 + 0.5] *= factor

        return change

    times, values = build(days=20, seed=1, change=recalibrated([(9, 1.03)]))
    out = weather_seen(times, values, 1)
    assert warnings_started(out) == []
    assert out.state.offset[0, TEMP] > 0.025  # held, not taken back
    times, values = build(days=20, seed=1, change=recalibrated([(9, 1.03), (14, 0.97)]))
    out = weather_seen(times, values, 1)
    assert warnings_started(out) == []
    assert out.state.absorbed[0, TEMP] > 0.045  # both steps

    def setpoints(hours: np.ndarray) -> np.ndarray:
        level = np.where(hours < 3 * 24, 1.0, 1.1)
        return np.where(hours >= 9 * 24, 0.85, level)

    for seed in (1, 5):
        times, values = build(days=28, seed=seed, load=setpoints, change=fouled(seed, 0.0))
        assert warnings_started(weather_seen(times, values, seed)) == [], seed


def test_two_steps_absorbed_six_hours_apart_are_both_taken_back_when_the_night_falls_back() -> None:
    """A fouling's afternoon rise can be absorbed as two steps (seed 6 COMP-007: 6 h apart); when the
    night falls back below both, both are taken back (each step on its own: only the newest was)."""

    def twice(hours: np.ndarray, values: np.ndarray) -> None:
        values[TEMP] += weather(1, 1.0)(hours)
        values[TEMP, (hours >= 9 * 24 + 10.5) & (hours < 10 * 24 + 2.5)] *= 1.03
        values[TEMP, (hours >= 9 * 24 + 16.5) & (hours < 10 * 24 + 2.5)] *= 1.03

    times, values = build(days=14, seed=1, change=twice)
    out = weather_seen(times, values, 1)
    assert out.state.absorbed[0, TEMP] > 0.045  # both steps were absorbed
    assert abs(out.state.offset[0, TEMP]) < 0.005  # and both taken back (main kept 0.015)
