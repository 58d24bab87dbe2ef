"""The station ambient proxy (altaviz.health.ambient) on hand-built series: the weather a station's
compressors share is its proxy, a compressor's own fault is not, no compressor gives a deviation inside
its first 48 hours, a stopped hour gives none, and a station of one compressor has no proxy."""

import numpy as np

from altaviz.health import ambient

HOUR = 3600
DAYS = 6


def _series(
    weather: np.ndarray, base: float, extra: np.ndarray | None = None, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """10-minute readings: discharge temperature = base + weather (+ extra) + noise, flow 10,000."""
    rng = np.random.default_rng(seed)
    n = len(weather)
    times = np.arange(n, dtype=np.int64) * 600
    temp = base + weather + (0 if extra is None else extra) + rng.normal(0, 0.3, n)
    return times, temp, np.full(n, 10_000.0)


def _weather() -> np.ndarray:
    t = np.arange(DAYS * 144) / 144
    weather: np.ndarray = 8 * np.sin(2 * np.pi * t) + 6 * np.sin(2 * np.pi * t / 3.7)
    return weather


def test_the_shared_weather_is_the_proxy_and_one_units_fault_is_not() -> None:
    weather = _weather()
    fouling = np.clip(np.arange(len(weather)) / 144 - 3, 0, None) * 15  # +15 °F a day from day 3
    series = [
        _series(weather, 190, seed=1),
        _series(weather, 205, seed=2),
        _series(weather, 198, fouling, seed=3),
    ]
    proxy = ambient.ambient_proxy(["A", "A", "A"], series)
    hours, values = proxy["A"]
    assert hours[0] == 0  # the station's first compressors count from their first hour
    # the weather relative to the first two days' level, to within the noise: the fouling unit is outvoted
    hourly_weather = weather.reshape(-1, 6).mean(axis=1)
    expected = hourly_weather - np.median(hourly_weather[:48])
    assert np.abs(values - expected).max() < 1.0
    late = hours >= 4 * 86_400
    assert np.abs(values[late] - expected[late]).max() < 1.0  # while the fouling is +15 to +30 °F


def test_a_stopped_hour_gives_no_deviation_and_a_flagged_value_is_left_out() -> None:
    weather = _weather()
    times, temp, flow = _series(weather, 200)
    stopped = (times >= 60 * HOUR) & (times < 64 * HOUR)
    flow = np.where(stopped, 30.0, flow)  # a stopped unit's meter offset
    temp = np.where(stopped, 95.0, temp)
    temp[(times >= 70 * HOUR) & (times < 70 * HOUR + 600)] = np.nan  # one flagged value
    other = _series(weather, 200, seed=4)
    proxy = ambient.ambient_proxy(["A", "A"], [(times, temp, flow), other])
    hours, values = proxy["A"]
    # while the first is stopped the proxy is the second's deviation alone (not the mean with 95 °F)
    rows = ambient.hourly(np.zeros(len(other[0]), dtype=np.int64), *other)
    alone = ambient.deviations(rows, ambient.baselines(rows, 1), np.zeros(1, dtype=np.int64))
    during = (hours >= 60 * HOUR) & (hours < 64 * HOUR)
    assert during.sum() == 4
    assert values[during].tolist() == alone[60:64].tolist()
    assert not np.array_equal(values[:12], alone[:12])  # (both count elsewhere)
    assert 70 * HOUR in hours  # the hour with a flagged value still has the others'


def test_a_compressor_that_joins_later_counts_after_its_first_48_hours() -> None:
    weather = _weather()
    first = _series(weather, 200, seed=5)
    times, temp, flow = _series(weather + 3, 230, seed=6)
    joins = (times[3 * 144 :], temp[3 * 144 :], flow[3 * 144 :])  # from day 3
    hours, values = ambient.ambient_proxy(["A", "A"], [first, joins])["A"]
    rows = ambient.hourly(np.zeros(len(first[0]), dtype=np.int64), *first)
    alone = ambient.deviations(rows, ambient.baselines(rows, 1), np.zeros(1, dtype=np.int64))
    before = hours < (3 * 24 + 48) * HOUR
    assert values[before].tolist() == alone[: int(before.sum())].tolist()
    assert not np.allclose(values[~before], alone[int(before.sum()) :])  # the mean of the two after


def test_a_station_of_one_compressor_has_no_proxy() -> None:
    weather = _weather()
    proxy = ambient.ambient_proxy(["A", "B", "B"], [_series(weather, 200, seed=s) for s in range(3)])
    assert set(proxy) == {"B"}


def test_hourly_is_the_median_of_the_hour_and_its_lowest_flow() -> None:
    times = np.array([0, 600, 1200, 3600, 4200], dtype=np.int64)
    temp = np.array([200.0, 260.0, 201.0, np.nan, 210.0])
    flow = np.array([10.0, 9.0, np.nan, 8.0, 7.0])
    rows = ambient.hourly(np.zeros(5, dtype=np.int64), times, temp, flow)
    assert rows.hour.tolist() == [0, 1]
    assert rows.temp.tolist() == [201.0, 210.0]
    assert rows.flow.tolist() == [9.0, 7.0]


def test_the_models_lookup_finds_each_rows_hour_in_its_stations_series() -> None:
    """model._lookup (one search over every station's series at once) against a search per compressor:
    shared and separate series, compressors without one, hours missing from a series, NaN values."""
    from altaviz.health.model import _lookup

    rng = np.random.default_rng(7)
    stations: list[tuple[np.ndarray, np.ndarray] | None] = []
    for _ in range(4):
        hours = np.unique(rng.integers(490_000, 490_200, 120))
        values = rng.normal(0, 5, len(hours))
        values[rng.random(len(hours)) < 0.1] = np.nan
        stations.append((hours * HOUR, values))
    stations.append(None)
    given = [stations[int(s)] for s in rng.integers(0, 5, 40)]
    given[3] = (np.empty(0, np.int64), np.empty(0))
    g_comp = np.repeat(np.arange(40), 30)
    g_hour = np.concatenate([np.sort(rng.integers(489_990, 490_210, 30)) for _ in range(40)])
    expected = np.zeros(len(g_hour))
    for row, (c, h) in enumerate(zip(g_comp, g_hour, strict=True)):
        series = given[int(c)]
        if series is not None:
            at = np.flatnonzero(series[0] // HOUR == h)
            expected[row] = np.nan_to_num(series[1][at[0]]) if len(at) else 0.0
    assert np.array_equal(_lookup(g_comp, g_hour, given), expected)
    assert np.array_equal(_lookup(g_comp, g_hour, None), np.zeros(len(g_hour)))
