"""The power shape's crossings (`_crossings`) are found from where their conditions change, not by
testing every horizon: on random curves they are the horizons testing every one gives."""

import numpy as np
import pytest

from altaviz.health import model as health_model
from altaviz.health.model import PROGNOSIS_HOURS, _crossings, _horizon_tests, _lag_power


@pytest.mark.parametrize("size", [60, 240])
def test_crossings_are_every_horizons(size: int) -> None:
    rng = np.random.default_rng(size)
    n = 20_000
    ahead = PROGNOSIS_HOURS / size
    start = -rng.uniform(0, 3, n)
    kind = rng.integers(0, len(health_model.POWER_EXPONENTS), n)
    side = rng.choice([-1.0, 1.0], n)
    scale = 10 ** rng.uniform(-2, 3, n)
    level = rng.normal(0, 1, n) * scale + rng.choice([0.0, 1000.0], n)
    slope = side * np.abs(rng.normal(0, 1, n)) * scale * 10 ** rng.uniform(-3, 0, n)
    # the covariance of (b, a): (XᵀX)⁻¹ of a window's count and sums of h and h²
    count = rng.uniform(3, 240, n)
    sh = rng.uniform(0, 50, n) * count
    shh = sh * sh / count * (1 + 10 ** rng.uniform(-6, 1, n))
    det = count * shh - sh * sh
    cov = (shh / det, -sh / det, count / det)
    sigma2 = slope**2 / cov[2] / 1.2816**2 * 10 ** rng.uniform(-2, 2, n)  # the slope about its band
    # targets the curves reach within the horizon or not, some exactly a horizon's value or band's edge
    h = _lag_power(ahead[rng.integers(0, len(ahead), n)] - start, kind)
    target = side * (level + slope * h * rng.uniform(0.5, 1.5, n))
    exact = rng.random(n) < 0.2
    target[exact] = (side * (level + slope * h))[exact]
    edge = rng.random(n) < 0.2
    band = 1.2816 * np.sqrt(np.maximum((cov[2] * h + 2 * cov[1]) * h + cov[0], 0) * sigma2)
    target[edge] = (side * (level + slope * h) + rng.choice([-1.0, 1.0], n) * band)[edge]

    found = _crossings(ahead, start, kind, level, slope, side, target, cov, sigma2)
    every = np.broadcast_to(np.arange(len(ahead)), (n, len(ahead)))
    tests = _horizon_tests(ahead, every, start, kind, level, slope, side, target, cov, sigma2)
    for first, test in zip(found, tests, strict=True):
        expected = np.where(test.any(axis=1), np.argmax(test, axis=1), len(ahead))
        np.testing.assert_array_equal(first, expected)
    assert (found[0] < len(ahead)).mean() > 0.3  # many cross within the horizon
