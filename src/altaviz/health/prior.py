"""The fleet prior as the pipeline gives it (issue 19): one per organization, fixed once.

A warm-up that saw one load cannot tell how a unit responds to load; the organization's fleet can
(`model.fleet_prior`, `warmups` and `pooled_prior`: coefficients pooled over the warm-ups; `_solve`
shrinks each compressor's fit towards them). Computing it from every compressor's whole first week
before stepping (as the evaluation did until session 7) cannot run incrementally, so the rule is:

- the organization's **prior hour** T = its first hour (its earliest reading's) + `PRIOR_HOURS` (4 days:
  before its founders complete their 120-running-hour warm-ups, so that their warm-up fits use the prior
  as the later ones do, with some 90 running hours each to pool; the pipeline holds T until the data
  before it is final, at most the late window of 26 h, which ends inside the warm-ups);
- its **prior** = `fleet_prior` (`organization_prior`) over the readings before T of every compressor
  of the organization (with its station's ambient proxy): the warm-ups they had collected by T,
  partial ones included;
- hours before T are stepped without a prior (a plain ridge), hours from T on with it: every compressor
  of the organization, including one that joins later, refits towards it from T (`step_with_prior`).

So it depends only on the data before T, and a run that steps hours before and after T in two passes
computes what one pass does. The pipeline (altaviz.pipeline.health) and the evaluation
(bench/early_warning.py --context full) both use these functions.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from altaviz.health.model import (
    FEATURES,
    Floats,
    HealthConfig,
    HealthOutput,
    HealthState,
    Ints,
    fleet_step,
    pooled_prior,
    warmups,
)

PRIOR_HOURS = 96
NO_PRIOR = 2**62  # a `prior_at` that never comes


def prior_hour(first_hour: int, hours: int = PRIOR_HOURS) -> int:
    """The organization's prior hour (epoch hours) from its first hour (epoch hours)."""
    return int(first_hour) + hours


def organization_prior(
    series: list[tuple[Ints, Floats, Ints | None, Floats | None]], at: int, config: HealthConfig | None = None
) -> Floats:
    """The organization's prior: `fleet_prior` over the readings before `at` (its prior hour, epoch
    seconds) of each compressor of `series` (times, values (6, n), ambient hours, ambient)."""
    return pooled_prior(organization_warmups(series, at, config))


def organization_warmups(
    series: list[tuple[Ints, Floats, Ints | None, Floats | None]], at: int, config: HealthConfig | None = None
) -> list[tuple[Floats, Floats]]:
    """`organization_prior`'s pooled rows from some of the organization's compressors (the pipeline
    gives them a batch at a time, in order, and pools all the batches' with `pooled_prior`)."""
    cut = []
    for times, values, hours, proxy in series:
        times = np.asarray(times, dtype=np.int64)
        before = times < at
        cut.append((times[before], np.asarray(values, dtype=np.float64)[:, before], hours, proxy))
    return warmups(cut, config)


def step_with_prior(
    compressor: Ints,
    times: Ints,
    values: Floats,
    *,
    state: HealthState,
    prior: Floats,
    prior_at: Ints,
    **kwargs: object,
) -> HealthOutput:
    """`fleet_step` (its other arguments in `kwargs`, no `prior`) where each compressor's readings before
    its `prior_at` (epoch seconds; NO_PRIOR: none) are stepped without a prior and the others with its
    `prior` (compressors, 6, FEATURES): the state's prior is set just before its first hour at or after
    `prior_at` (a state continued from a later hour has it already)."""
    compressor = np.asarray(compressor, dtype=np.int64)
    times = np.asarray(times, dtype=np.int64)
    prior_at = np.asarray(prior_at, dtype=np.int64)
    after = times >= prior_at[compressor]
    if not after.any():
        return fleet_step(compressor, times, values, state=state, **kwargs)  # type: ignore[arg-type]
    rows = np.unique(compressor[after])
    coefficients = np.asarray(prior, dtype=np.float64).reshape(-1, 6, FEATURES)
    if after.all():  # every compressor past its prior hour (an incremental hour's usual case)
        state.prior[rows] = coefficients[rows]
        return fleet_step(compressor, times, values, state=state, **kwargs)  # type: ignore[arg-type]
    values = np.asarray(values, dtype=np.float64)
    first = fleet_step(
        compressor[~after],
        times[~after],
        values[:, ~after],
        state=state,
        **kwargs,  # type: ignore[arg-type]
    )
    state.prior[rows] = coefficients[rows]
    second = fleet_step(
        compressor[after],
        times[after],
        values[:, after],
        state=state,
        **kwargs,  # type: ignore[arg-type]
    )
    return _merged(first, second)


def _merged(first: HealthOutput, second: HealthOutput) -> HealthOutput:
    """Two outputs of the same state as one, sorted by compressor, then hour."""
    compressor = np.r_[first.compressor, second.compressor]
    hour = np.r_[first.hour, second.hour]
    order = np.lexsort((hour, compressor))
    parts: dict[str, Any] = {}
    for f in dataclasses.fields(HealthOutput):
        a, b = getattr(first, f.name), getattr(second, f.name)
        if isinstance(a, np.ndarray):
            parts[f.name] = np.concatenate([a, b], axis=-1)[..., order]
        else:
            parts[f.name] = b
    return HealthOutput(**parts)
