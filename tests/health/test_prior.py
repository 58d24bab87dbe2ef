"""The organization's fleet prior as the pipeline and the evaluation give it (altaviz.health.prior): it
depends on the readings before the prior hour only, a run split at any hour steps as one run does, and
from the prior hour on each compressor is stepped with it."""

from collections.abc import Callable

import numpy as np

from altaviz.health import HealthConfig, HealthState, fleet_step
from altaviz.health.model import fleet_prior
from altaviz.health.prior import NO_PRIOR, PRIOR_HOURS, organization_prior, prior_hour, step_with_prior
from tests.health.test_health_model import START, build

AT = prior_hour(START // 3600) * 3600


def _fleet() -> list[tuple[np.ndarray, np.ndarray]]:
    return [build(days=9, seed=s, load=_load(s)) for s in (1, 2, 3)]


def _load(seed: int) -> Callable[[np.ndarray], np.ndarray]:
    return lambda h: 1 + 0.1 * np.sin(h / (4 + seed))


def _joined(fleet: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (
        np.concatenate([np.full(len(t), c) for c, (t, _) in enumerate(fleet)]),
        np.concatenate([t for t, _ in fleet]),
        np.concatenate([v for _, v in fleet], axis=1),
    )


def test_the_prior_is_the_fleet_prior_of_the_readings_before_the_prior_hour() -> None:
    fleet = _fleet()
    assert AT == START + PRIOR_HOURS * 3600
    prior = organization_prior([(t, v, None, None) for t, v in fleet], AT)
    before = fleet_prior([(t[t < AT], v[:, t < AT], None, None) for t, v in fleet])
    np.testing.assert_array_equal(prior, before)
    assert not np.allclose(prior, fleet_prior([(t, v, None, None) for t, v in fleet]))  # the rest is left out
    assert np.abs(prior).max() > 0.01


def test_hours_before_the_prior_hour_are_stepped_without_it_and_a_split_run_equals_one_run() -> None:
    fleet = _fleet()
    prior = organization_prior([(t, v, None, None) for t, v in fleet], AT)
    compressor, times, values = _joined(fleet)
    n, config = len(fleet), HealthConfig()
    priors = np.broadcast_to(prior, (n, *prior.shape))
    # the third compressor has no prior (another organization's, still waiting)
    prior_at = np.array([AT, AT, NO_PRIOR], dtype=np.int64)
    one = step_with_prior(
        compressor,
        times,
        values,
        state=HealthState(n, config),
        prior=priors,
        prior_at=prior_at,
        config=config,
    )
    assert np.all(np.diff(one.compressor) >= 0)
    assert np.all((np.diff(one.hour) > 0) | (np.diff(one.compressor) > 0))  # by compressor, then hour
    state = HealthState(n, config)
    parts = []
    for lo, hi in ((None, AT - 30 * 3600), (AT - 30 * 3600, AT + 50 * 3600), (AT + 50 * 3600, None)):
        keep = (times >= (lo or 0)) & (times < (hi or 2**62))
        parts.append(
            step_with_prior(
                compressor[keep], times[keep], values[:, keep], state=state, prior=priors, prior_at=prior_at
            )
        )
    for name in ("health", "score", "eta_critical"):
        joined = np.concatenate([getattr(p, name) for p in parts], axis=-1)
        order = np.lexsort(
            (np.concatenate([p.hour for p in parts]), np.concatenate([p.compressor for p in parts]))
        )
        np.testing.assert_allclose(joined[..., order], getattr(one, name), rtol=1e-9, equal_nan=True)
    np.testing.assert_allclose(state.coef, one.state.coef, rtol=1e-9)
    np.testing.assert_array_equal(one.state.prior[:2], priors[:2])
    assert not one.state.prior[2].any()
    # before the prior hour it is a plain ridge; from it on the refits shrink towards the prior
    plain = fleet_step(compressor, times, values, state=HealthState(n, config), config=config)
    early = one.hour < AT
    np.testing.assert_allclose(one.score[:, early], plain.score[:, early], rtol=1e-9, equal_nan=True)
    assert not np.allclose(one.state.coef[:2], plain.state.coef[:2], rtol=1e-3, atol=1e-6)
    np.testing.assert_allclose(one.state.coef[2], plain.state.coef[2], rtol=1e-9)
