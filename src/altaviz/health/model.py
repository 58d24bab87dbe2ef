"""One compressor's health step: residuals against its own operating-point model, EWMA, health index,
early warnings and projected threshold crossings.

Method (the choice and the measured alternatives are in the README, "Early warning: method and
evaluation"):

1. Readings → hours. A value equal to the three before it is a stuck sensor and is dropped (causal,
   so an incremental run decides exactly as a full one); each hour takes the median of each sensor
   (a single spike never moves a median of six), NaN where fewer than `min_readings` are left.
2. Running or not. An hour is running when its lowest flow is above `running_share` of the highest
   hourly flow seen since the last reset: stopped units read their meters' zero offsets, and the hour
   a unit stops or starts mixes both. The `settle_hours` after a start are not judged either
   (temperatures and pressures are still recovering). Nothing is judged or learned while stopped. A
   flow later above 1 / `running_share` of the reference shows the series began stopped: learning
   starts again.
3. Warm-up. After the first reading and after every maintenance event (`resets`: a repair may leave a
   new healthy baseline), the first `warmup_hours` running hours are learned, not judged. A sensor
   recalibrated during the warm-up (one step in its residuals, no load change at it) gets an offset.
4. Operating-point model. Each sensor's level relative to the unit's reference (its first running
   hour: value / reference − 1) is regressed linearly (ridge, centred) on the operating point: relative
   load (flow, or horsepower for flow itself), the station's ambient proxy, and the time of day,
   shrunk towards the fleet prior (weighing as much as `prior_hours` hours spanning ±8 % load). A load
   or setpoint change moves the prediction with the reading, so its residual stays small. The
   regression keeps learning from healthy hours (sufficient statistics with a slow forgetting factor)
   so loads outside the warm-up's range are learned as they come.
5. Residuals → scores. z = residual / robust scale (MAD of the warm-up), clipped at ±`z_clip`, then an
   EWMA (half-life `ewma_halflife_hours`); the score is the EWMA in units of its own healthy spread
   (started from the warm-up's residuals, learned while healthy). Health = 100 while the largest
   |score| is below `score_healthy`, falling linearly to 0 at `score_zero`; the sensors whose |score|
   exceeds `score_healthy` are the drivers.
6. Recalibration steps. When a sensor's recent z has an abrupt step (a two-level fit beats a line by
   far) of at most `max_step` in relative size, the step is absorbed into that sensor's offset (up
   to `max_absorbed` in total between resets) instead of being judged: a recalibrated sensor is not
   a failing compressor. Growing changes (ramps, accelerating wear) fit a line better and are kept.
7. Early warning (anomaly): health below `anomaly_health` for `anomaly_hours` judged hours in a row;
   it clears after `clear_hours` judged hours back above `clear_health`. Both warnings are held
   through hours that are not judged; a maintenance event clears them.
8. Prognosis: for each off-normal metric with a limit, a least-squares line through the last
   `trend_hours` judged hours of its value at the reference operating point (slope t-statistic above
   `trend_t` towards the limit, else none), or a parabola when its curvature towards the limit has a
   t-statistic above `curve_t` (accelerating wear); the projected hours to the warning and critical
   limits (at the current operating point) and an 80 % range spanning both curves' bands. A prediction
   warning is raised when the projected critical crossing (warning crossing for metrics without a
   critical limit) is within `prediction_horizon_hours` for `prediction_hours` judged hours in a row.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from altaviz.fleet import SENSOR_NAMES
from altaviz.fleet.thresholds import THRESHOLDS_BY_METRIC

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]

SENSORS: tuple[str, ...] = SENSOR_NAMES
VIB, TEMP, SUC, DIS, HP, FLOW = range(6)
HOUR = 3600

# Feature columns: constant, log flow, log horsepower, log discharge, log suction, ambient/10, time of day.
CONST, LFLOW, LHP, LDIS, LSUC, AMB, SIN, COS = range(8)
FEATURES = 8
# Which features predict each sensor (a sensor never predicts itself).
DESIGN: tuple[tuple[int, ...], ...] = (
    (CONST, LFLOW, AMB, SIN, COS),  # vibration
    (CONST, LFLOW, AMB, SIN, COS),  # discharge temperature
    (CONST, LFLOW, AMB),  # suction pressure
    (CONST, LFLOW, AMB),  # discharge pressure
    (CONST, LFLOW, AMB),  # horsepower
    (CONST, LHP, AMB),  # gas flow
)
# The feature each sensor's own log value feeds (a recalibrated sensor shifts it too).
FEATURE_OF = {FLOW: LFLOW, HP: LHP, DIS: LDIS, SUC: LSUC}
# Standardizing divides by the warm-up's spread, at least this (log units; ambient/10; time of day).
MEAN_ABS = math.sqrt(2 / math.pi)  # mean |x| of a standard normal
SPREAD_FLOOR = np.array([1.0, 0.02, 0.02, 0.01, 0.01, 0.2, 0.3, 0.3])
# The fleet prior weighs as much as `prior_hours` hours spread this wide (relative load ±8 %, pressures
# ±5 %, ambient ±5 °F, the day): a warm-up that never changed load (its spread is the meters' noise)
# leaves the load response to the fleet instead of fitting noise.
# Maintenance events after which the model learns the unit again (`resets`): a repair may leave a new
# healthy baseline. A scheduled service or an inspection does not restart learning: the unit is the
# same, and a warm-up started inside a degradation would learn the degradation as healthy.
RESET_EVENT_TYPES: tuple[str, ...] = ("failure", "unscheduled")
RECALIBRATION_MIN = 0.02
# `HealthConfig.deadband` per sensor: vibration (5 % reading noise, failures ×2.5–4) three times the rest.
DEADBAND_WEIGHT = np.array(
    [3.0, 1.0, 1.0, 1.0, 1.0, 1.0]
)  # relative: smaller steps are left to the model's learning
PRIOR_SPAN = np.array([0.0, 0.08, 0.08, 0.05, 0.05, 0.5, 0.7, 0.7])
# Hours ahead at which projections are evaluated: hourly for three days, then coarser up to 60 days.
PROGNOSIS_HOURS = np.unique(np.r_[np.arange(1.0, 73.0), np.geomspace(73.0, 1440.0, 120).round()])
_MASK = np.zeros((6, FEATURES), dtype=bool)
for _j, _cols in enumerate(DESIGN):
    _MASK[_j, list(_cols)] = True


@dataclass(frozen=True)
class Limits:
    """Per sensor: warning and critical limits (NaN when none) and which side is bad (+1 high, −1 low)."""

    warning: Floats
    critical: Floats
    side: Floats

    @staticmethod
    def defaults() -> Limits:
        warning = np.array([THRESHOLDS_BY_METRIC[s].warning for s in SENSORS], dtype=np.float64)
        critical = np.array(
            [np.nan if (c := THRESHOLDS_BY_METRIC[s].critical) is None else c for s in SENSORS],
            dtype=np.float64,
        )
        side = np.array([1.0 if THRESHOLDS_BY_METRIC[s].direction == "high" else -1.0 for s in SENSORS])
        return Limits(warning, critical, side)


@dataclass(frozen=True)
class HealthConfig:
    min_readings: int = 3
    running_share: float = 0.3
    settle_hours: int = 6
    warmup_hours: int = 120
    ridge: float = 0.02  # on standardized features, relative to the hours learned
    prior_hours: float = 48.0  # weight of the fleet prior: as many hours spanning ±1 warm-up spread
    forgetting: float = 0.998  # per learned hour: a memory of about three weeks of running
    refit_hours: int = 12
    learn_below: float = 3.0  # a sensor learns from an hour only while its |score| is below this
    scale_floor: float = 0.004  # relative: no sensor is trusted to better than 0.4 % an hour
    scale_inflation: float = 1.25  # in-sample residuals understate the scale
    z_clip: float = 6.0
    spread_hours: float = 240.0  # memory of the EWMA's healthy spread
    ewma_halflife_hours: float = 12.0
    score_healthy: float = 5.0
    score_zero: float = 20.0
    deadband: float = 0.0  # relative shift judged as none (× DEADBAND_WEIGHT per sensor); 0: off
    step_window: int = 24
    step_min_after: int = 6
    step_ratio: float = 0.75
    step_min_z: float = 2.0
    max_step: float = 0.06
    max_absorbed: float = 0.12
    anomaly_health: float = 50.0
    anomaly_hours: int = 12
    clear_health: float = 80.0
    clear_hours: int = 12
    trend_hours: int = 60
    trend_min_points: int = 24
    trend_t: float = 4.0
    prognosis: str = "power"  # the trend's shape: "power" (from an onset), "parabola" or "line"
    curve_t: float = 2.0  # "parabola": it replaces the line when its curvature is this significant
    trend_score: float = 3.0  # project only sensors already this far from normal
    prediction_horizon_hours: float = 72.0
    prediction_hours: int = 6  # a projection must hold this many judged hours to warn

    @property
    def ewma_lambda(self) -> float:
        return float(1 - 0.5 ** (1 / self.ewma_halflife_hours))


@dataclass
class HealthState:
    """Everything an incremental run needs from the previous one (NumPy arrays and numbers only)."""

    last_hour: int = -(2**62)
    ref: Floats = field(default_factory=lambda: np.full(6, np.nan))  # the levels are relative to it
    last_value: Floats = field(default_factory=lambda: np.full(6, np.nan))
    equal_run: Ints = field(default_factory=lambda: np.zeros(6, dtype=np.int64))
    flow_ref: float = 0.0
    hours_running: int = 0
    warm_x: list[list[float]] = field(default_factory=list)
    warm_y: list[list[float]] = field(default_factory=list)
    fitted: bool = False
    center: Floats = field(default_factory=lambda: np.zeros(FEATURES))
    spread: Floats = field(default_factory=lambda: np.ones(FEATURES))
    xtx: Floats = field(default_factory=lambda: np.zeros((6, FEATURES, FEATURES)))
    xty: Floats = field(default_factory=lambda: np.zeros((6, FEATURES)))
    learned: int = 0
    coef: Floats = field(default_factory=lambda: np.zeros((6, FEATURES)))
    prior: Floats = field(default_factory=lambda: np.zeros((6, FEATURES)))  # raw units
    scale: Floats = field(default_factory=lambda: np.ones(6))
    offset: Floats = field(default_factory=lambda: np.zeros(6))
    absorbed: Floats = field(default_factory=lambda: np.zeros(6))
    ewma: Floats = field(default_factory=lambda: np.zeros(6))
    ewma_spread: Floats = field(default_factory=lambda: np.full(6, np.nan))  # mean |EWMA| while healthy
    z_hours: list[int] = field(default_factory=list)
    z_values: list[list[float]] = field(default_factory=list)
    z_x: list[list[float]] = field(default_factory=list)  # the features behind each z row
    z_y: list[list[float]] = field(default_factory=list)
    trend_hours: list[int] = field(default_factory=list)
    trend_values: list[list[float]] = field(default_factory=list)
    below: int = 0
    above: int = 0
    anomaly: bool = False
    predicted: bool = False
    predicting: int = 0  # judged hours in a row with a projected crossing within the horizon


@dataclass
class HealthOutput:
    """Per hour (`hour` = epoch seconds of its start): `judged` (False in warm-up, stopped, settling
    or without data), `health` 0–100 (NaN when not judged), `score` (6, hours) signed per sensor,
    `drivers` (6, hours) whether each sensor drives the health down, `anomaly` and `prediction`
    (early warnings active; held through hours not judged, cleared by maintenance), `eta_warning` /
    `eta_critical` (6, hours) projected hours to the limit with `*_low` / `*_high` 80 % ranges (NaN:
    no trend), and the state for the next run."""

    hour: Ints
    judged: Bools
    running: Bools
    health: Floats
    score: Floats
    drivers: Bools
    anomaly: Bools
    prediction: Bools
    eta_warning: Floats
    eta_warning_low: Floats
    eta_warning_high: Floats
    eta_critical: Floats
    eta_critical_low: Floats
    eta_critical_high: Floats
    state: HealthState


def health_step(
    times: Ints,
    values: Floats,
    *,
    state: HealthState | None = None,
    ambient_hours: Ints | None = None,
    ambient: Floats | None = None,
    resets: Ints | None = None,
    limits: Limits | None = None,
    prior: Floats | None = None,
    config: HealthConfig | None = None,
) -> HealthOutput:
    """Run the model over one compressor's readings newer than `state.last_hour`.

    `times`: epoch seconds, ascending; `values`: (6, n) in SENSORS order, NaN for null or flagged
    values. `ambient_hours`/`ambient`: an hourly ambient proxy (°F deviation) for the compressor's
    station, optional. `resets`: epoch seconds of maintenance events (warm-up starts again after
    each). `prior`: (6, FEATURES) coefficients the fit shrinks towards, e.g. `fleet_prior` of the
    compressor's fleet (zeros when None): a warm-up that saw one load cannot tell how the unit
    responds to load, the fleet can. Pass complete hours: an hour is processed once.
    """
    config = config or HealthConfig()
    limits = limits or Limits.defaults()
    state = state or HealthState()
    if state.fitted and np.isnan(state.ref).any():
        _reset(state)  # a state from the log-scale model (before levels were relative): learn again
    if prior is not None:
        state.prior = np.asarray(prior, dtype=np.float64)
    times = np.asarray(times, dtype=np.int64)
    values = np.array(values, dtype=np.float64, copy=True)
    keep = times // HOUR > state.last_hour
    times, values = times[keep], values[:, keep]
    _drop_stuck(values, state)
    hours, medians, min_flow = _hourly(times, values, config.min_readings)
    amb = _lookup(hours, ambient_hours, ambient)
    reset_hours = np.sort(np.asarray(resets if resets is not None else [], dtype=np.int64) // HOUR)
    return _run(hours, medians, min_flow, amb, reset_hours, state, limits, config)


def _drop_stuck(values: Floats, state: HealthState) -> None:
    """NaN each value equal to the three before it (the run may have started in a previous batch)."""
    n = values.shape[1]
    if n == 0:
        return
    for j in range(6):
        v = values[j]
        prev = np.concatenate([[state.last_value[j]], v[:-1]])
        same = (v == prev) & ~np.isnan(v)
        # Length of the run of equal values ending at each reading, carried across batches.
        breaks = np.flatnonzero(~same)
        start = np.zeros(n, dtype=np.int64)
        start[breaks] = breaks
        start = np.maximum.accumulate(start)
        run = np.arange(n) - start + 1
        first_break = breaks[0] if len(breaks) else n
        run[:first_break] += state.equal_run[j] if same[0] else 0
        run[~same] = 1
        last_valid = np.flatnonzero(~np.isnan(v))
        if len(last_valid):
            state.last_value[j] = v[last_valid[-1]]
            state.equal_run[j] = run[last_valid[-1]]
        v[run >= 4] = np.nan


def _hourly(times: Ints, values: Floats, min_readings: int) -> tuple[Ints, Floats, Floats]:
    if len(times) == 0:
        return np.empty(0, np.int64), np.empty((6, 0)), np.empty(0)
    key = times // HOUR
    hours, first, counts = np.unique(key, return_index=True, return_counts=True)
    width = int(counts.max())
    slot = np.arange(len(times)) - np.repeat(first, counts)
    row = np.repeat(np.arange(len(hours)), counts)
    grid = np.full((6, len(hours), width), np.nan)
    grid[:, row, slot] = values
    valid = (~np.isnan(grid)).sum(axis=2)
    with warnings.catch_warnings():  # an hour without a valid value is a normal case, not a warning
        warnings.simplefilter("ignore", RuntimeWarning)
        medians = np.nanmedian(grid, axis=2)
        min_flow = np.nanmin(grid[FLOW], axis=1)
    medians[valid < min_readings] = np.nan
    return hours, medians, min_flow


def _lookup(hours: Ints, ambient_hours: Ints | None, ambient: Floats | None) -> Floats:
    out = np.zeros(len(hours))
    if ambient_hours is None or ambient is None or len(ambient_hours) == 0:
        return out
    keys = np.asarray(ambient_hours, dtype=np.int64) // HOUR
    pos = np.clip(np.searchsorted(keys, hours), 0, len(keys) - 1)
    found = keys[pos] == hours
    out[found] = np.nan_to_num(np.asarray(ambient, dtype=np.float64)[pos[found]])
    return out


def _features(amb: Floats, hours: Ints) -> Floats:
    """(hours, FEATURES): the features that are not sensor levels (those are filled in per hour)."""
    angle = 2 * math.pi * (hours % 24) / 24
    x = np.full((len(hours), FEATURES), np.nan)
    x[:, CONST] = 1.0
    x[:, AMB] = amb / 10
    x[:, SIN], x[:, COS] = np.sin(angle), np.cos(angle)
    return x


def _run(
    hours: Ints,
    medians: Floats,
    min_flow: Floats,
    amb: Floats,
    reset_hours: Ints,
    state: HealthState,
    limits: Limits,
    config: HealthConfig,
) -> HealthOutput:
    n = len(hours)
    x_all = _features(amb, hours)
    out_judged = np.zeros(n, dtype=bool)
    out_running = np.zeros(n, dtype=bool)
    out_health = np.full(n, np.nan)
    out_score = np.full((6, n), np.nan)
    out_drivers = np.zeros((6, n), dtype=bool)
    out_anomaly = np.zeros(n, dtype=bool)
    out_prediction = np.zeros(n, dtype=bool)
    etas = np.full((6, 6, n), np.nan)  # warning, low, high, critical, low, high
    lam = config.ewma_lambda
    null_sd = math.sqrt(lam / (2 - lam))

    for i in range(n):
        hour = int(hours[i])
        if state.last_hour > -(2**61) and np.any((reset_hours > state.last_hour) & (reset_hours <= hour)):
            _reset(state)
        state.last_hour = hour
        # Warnings stay active through hours that are not judged (a stop does not clear them).
        out_anomaly[i], out_prediction[i] = state.anomaly, state.predicted
        flow = medians[FLOW, i]
        if not np.isnan(flow):
            if flow * config.running_share > state.ref[FLOW]:
                # The reference was taken while the unit idled (a series that begins stopped): what
                # was learned from it was not running, so learning starts again.
                _reset(state)
            state.flow_ref = max(state.flow_ref, float(flow))
        running = bool(
            not np.isnan(min_flow[i])
            and state.flow_ref > 0
            and min_flow[i] > config.running_share * state.flow_ref
        )
        out_running[i] = running
        if not running:
            state.hours_running = 0
            continue
        state.hours_running += 1
        if state.hours_running <= config.settle_hours:
            continue
        if np.isnan(state.ref).any():
            if np.isnan(medians[:, i]).any() or (medians[:, i] <= 0).any():
                continue
            state.ref = medians[:, i].copy()
        # Levels relative to the unit's reference: every sensor is modelled linearly in them.
        y = medians[:, i] / state.ref - 1
        x = x_all[i]
        x[[LFLOW, LHP, LDIS, LSUC]] = y[[FLOW, HP, DIS, SUC]] - state.offset[[FLOW, HP, DIS, SUC]]
        if np.isnan(x[[LFLOW, LHP, LDIS, LSUC]]).any():
            continue
        if not state.fitted:
            if not np.isnan(y).any():
                state.warm_x.append(x.tolist())
                state.warm_y.append(y.tolist())
            if len(state.warm_x) >= config.warmup_hours:
                _fit_warmup(state, config)
            continue

        xc = _standardized(state, x)
        prediction = state.coef @ xc
        z = (y - prediction - state.offset) / state.scale
        clipped = np.clip(z, -config.z_clip, config.z_clip)  # one wild hour moves the EWMA little
        seen = ~np.isnan(z)
        state.ewma[seen] = (1 - lam) * state.ewma[seen] + lam * clipped[seen]
        state.z_hours.append(hour)
        state.z_values.append(z.tolist())
        state.z_x.append(x.tolist())
        state.z_y.append(y.tolist())
        if len(state.z_hours) > config.step_window:
            del state.z_hours[0], state.z_values[0], state.z_x[0], state.z_y[0]
        spread = np.maximum(state.ewma_spread / MEAN_ABS, null_sd)
        score = state.ewma / spread
        candidates = np.abs(score) > config.step_min_z
        if candidates.any():
            _absorb_steps(state, candidates, config, lam)
        raw = state.ewma / spread
        # Judged beyond a deadband of relative size (a shift too small to matter to an engineer, e.g.
        # a slow drift of a low vibration, is not an anomaly however clear statistically); learning
        # still follows the raw score.
        band = config.deadband * DEADBAND_WEIGHT / (state.scale * spread)
        score = np.sign(raw) * np.maximum(np.abs(raw) - band, 0.0)
        worst = float(np.max(np.abs(score)))
        health = 100.0 * min(
            1.0, max(0.0, 1 - (worst - config.score_healthy) / (config.score_zero - config.score_healthy))
        )
        out_judged[i] = True
        out_health[i] = health
        out_score[:, i] = score
        out_drivers[:, i] = np.abs(score) > config.score_healthy

        # Value at the reference operating point, for the trend (the reading minus what the
        # operating point explains relative to the warm-up's centre).
        reference = y - (prediction - state.coef[:, CONST]) - state.offset
        state.trend_hours.append(hour)
        state.trend_values.append(reference.tolist())
        if len(state.trend_hours) > config.trend_hours:
            del state.trend_hours[0], state.trend_values[0]
        shift = prediction - state.coef[:, CONST] + state.offset  # (reading − reference value) / ref
        predicted = False
        for j in np.flatnonzero(np.abs(score) > config.trend_score):
            eta = _prognosis(state, int(j), hour, shift[j], limits, config)
            if eta is not None:
                etas[:, j, i] = eta
                horizon_eta = eta[3] if not np.isnan(eta[3]) else eta[0]
                predicted = predicted or horizon_eta <= config.prediction_horizon_hours
        state.predicting = state.predicting + 1 if predicted else 0
        state.predicted = out_prediction[i] = state.predicting >= config.prediction_hours

        if health < config.anomaly_health:
            state.below += 1
            state.above = 0
        elif health >= config.clear_health:
            state.above += 1
            state.below = 0
        if state.below >= config.anomaly_hours:
            state.anomaly = True
        if state.anomaly and state.above >= config.clear_hours:
            state.anomaly = False
        out_anomaly[i] = state.anomaly

        learn = (np.abs(raw) < config.learn_below) & ~np.isnan(y)
        # The EWMA's own healthy spread: residuals are autocorrelated (weather the ambient proxy
        # misses, operating points the model fits imperfectly), so the iid formula understates it.
        rate = 1 / config.spread_hours
        state.ewma_spread[learn] += rate * (np.abs(state.ewma[learn]) - state.ewma_spread[learn])
        if learn.any():
            _learn(state, xc, y - state.offset, learn, config)

    return HealthOutput(
        hour=hours * HOUR,
        judged=out_judged,
        running=out_running,
        health=out_health,
        score=out_score,
        drivers=out_drivers,
        anomaly=out_anomaly,
        prediction=out_prediction,
        eta_warning=etas[0],
        eta_warning_low=etas[1],
        eta_warning_high=etas[2],
        eta_critical=etas[3],
        eta_critical_low=etas[4],
        eta_critical_high=etas[5],
        state=state,
    )


def _reset(state: HealthState) -> None:
    """After maintenance: learn again from scratch (keeping the stuck-sensor memory and the prior)."""
    fresh = HealthState(last_hour=state.last_hour, prior=state.prior)
    fresh.last_value, fresh.equal_run = state.last_value, state.equal_run
    state.__dict__.update(fresh.__dict__)


def _solve(state: HealthState, config: HealthConfig) -> Floats:
    """Ridge towards the prior (in standardized units), the intercept free."""
    coef = np.zeros((6, FEATURES))
    prior = state.prior * state.spread[None, :]
    has_prior = bool(np.any(state.prior))  # without one, a plain ridge
    for j in range(6):
        cols = _MASK[j]
        a = state.xtx[j][np.ix_(cols, cols)].copy()
        weight = np.full(FEATURES, config.ridge * float(state.xtx[j, CONST, CONST]))
        if has_prior:
            weight += config.prior_hours * (PRIOR_SPAN / state.spread) ** 2
        penalty = weight[cols]
        penalty[0] = 0.0
        a[np.diag_indices_from(a)] += penalty
        coef[j, cols] = np.linalg.solve(a, state.xty[j][cols] + penalty * prior[j, cols])
    return coef


def _fit_warmup(state: HealthState, config: HealthConfig) -> None:
    x = np.array(state.warm_x)
    y = np.array(state.warm_y)
    _fit_levels(state, config, x, y)
    # A sensor recalibrated during the warm-up: its residuals step once. The later level is its
    # reference (an offset, as for a step seen after the warm-up) and the fit is done again.
    residuals = y - _standardized(state, x) @ state.coef.T
    for j, (k, jump) in enumerate(_warmup_steps(residuals, x, config)):
        if k:
            state.offset[j] = state.absorbed[j] = jump
            y[k:, j] -= jump
            if j in FEATURE_OF:
                x[k:, FEATURE_OF[j]] -= jump
    if state.offset.any():
        _fit_levels(state, config, x, y)
    _fit_scales(state, config, x, y)


def _warmup_steps(residuals: Floats, x: Floats, config: HealthConfig) -> list[tuple[int, float]]:
    """Per sensor (row where a recalibration-sized step starts, its size), or (0, 0.0). A step that
    comes with a load change (flow or horsepower moving by a recalibration's size) is not one."""
    n = len(residuals)
    margin = 2 * config.step_min_after
    out = [(0, 0.0)] * 6
    if n < 3 * margin:
        return out
    c1, c2 = np.cumsum(residuals, axis=0), np.cumsum(residuals**2, axis=0)
    k = np.arange(margin, n - margin)[:, None]
    head, head2 = c1[k[:, 0] - 1], c2[k[:, 0] - 1]
    tail, tail2 = c1[-1] - head, c2[-1] - head2
    sse = (head2 - head**2 / k) + (tail2 - tail**2 / (n - k))
    total = c2[-1] - c1[-1] ** 2 / n
    noise = np.median(np.abs(np.diff(residuals, axis=0)), axis=0) / (0.6745 * math.sqrt(2))
    for j in range(6):
        best = int(np.argmin(sse[:, j]))
        split = int(k[best, 0])
        jump = float(residuals[split:, j].mean() - residuals[:split, j].mean())
        load = [column for sensor, column in ((FLOW, LFLOW), (HP, LHP)) if sensor != j]
        near = config.step_min_after
        moved = np.abs(
            x[split : split + near, load].mean(axis=0) - x[split - near : split, load].mean(axis=0)
        )
        if (
            np.all(moved < RECALIBRATION_MIN)
            and sse[best, j] < (1 - config.step_ratio) * total[j]
            and abs(jump) >= 2 * config.step_min_z * max(noise[j], config.scale_floor)
            and abs(jump) <= config.max_step
        ):
            out[j] = (split, jump)
    return out


def _fit_levels(state: HealthState, config: HealthConfig, x: Floats, y: Floats) -> None:
    state.center = x.mean(axis=0)
    state.center[CONST] = 0.0
    state.spread = np.maximum(x.std(axis=0), SPREAD_FLOOR)
    state.spread[CONST] = 1.0
    xc = _standardized(state, x)
    xtx = np.einsum("ni,nj->ij", xc, xc)
    state.xtx = np.broadcast_to(xtx, (6, FEATURES, FEATURES)).copy()
    state.xty = np.einsum("ni,nj->ji", xc, y)
    state.coef = _solve(state, config)


def _standardized(state: HealthState, x: Floats) -> Floats:
    """Features (one row or many) centred and scaled by the warm-up's, the constant kept at 1."""
    xc = (x - state.center) / state.spread
    xc[..., CONST] = 1.0
    return xc


def _fit_scales(state: HealthState, config: HealthConfig, x: Floats, y: Floats) -> None:
    residuals = y - _standardized(state, x) @ state.coef.T
    mad = np.median(np.abs(residuals - np.median(residuals, axis=0)), axis=0) * 1.4826
    state.scale = np.maximum(mad * config.scale_inflation, config.scale_floor)
    # The EWMA's healthy spread starts from the warm-up's own residuals run through the EWMA: they
    # are autocorrelated (weather the ambient proxy misses, loads fitted imperfectly), which the iid
    # formula (the floor) ignores.
    lam = config.ewma_lambda
    ewma = np.zeros(6)
    sizes = []
    for k, row in enumerate(np.clip(residuals / state.scale, -config.z_clip, config.z_clip)):
        ewma = (1 - lam) * ewma + lam * row
        if k >= 1 / lam:
            sizes.append(np.abs(ewma))
    iid = MEAN_ABS * math.sqrt(lam / (2 - lam))
    state.ewma_spread = np.maximum(np.mean(sizes, axis=0), iid) if sizes else np.full(6, iid)
    state.fitted = True
    state.learned = len(x)
    state.warm_x, state.warm_y = [], []


def _learn(state: HealthState, xc: Floats, y: Floats, learn: Bools, config: HealthConfig) -> None:
    """Add this hour to the sensors allowed to learn from it (older hours fade by `forgetting`)."""
    outer = np.outer(xc, xc)
    if learn.all():
        state.xtx *= config.forgetting
        state.xtx += outer
        state.xty *= config.forgetting
        state.xty += y[:, None] * xc[None, :]
    else:
        for j in np.flatnonzero(learn):
            state.xtx[j] = state.xtx[j] * config.forgetting + outer
            state.xty[j] = state.xty[j] * config.forgetting + y[j] * xc
    state.learned += 1
    if state.learned % config.refit_hours == 0:
        state.coef = _solve(state, config)


def _absorb_steps(state: HealthState, candidates: Bools, config: HealthConfig, lam: float) -> None:
    """Absorb an abrupt, recalibration-sized step into the offset of the sensor that made it.

    Decided once, `step_min_after` hours after the step: for a candidate sensor, the two-level fit
    split there must beat a straight line through the window by far (a ramp fits a line), and the
    jump must be clear of noise. A recalibrated sensor that is also a feature (flow, horsepower)
    moves the residuals of the sensors it predicts too, so the culprit is the sensor whose step best
    explains the jumps of all six (a small fault-isolation step); its offset takes the step if it is
    no larger than a recalibration, the features are corrected, and the recent z and EWMAs are
    recomputed. A window with a missing value waits for a clean one."""
    after = config.step_min_after
    z = np.array(state.z_values)  # (n, 6)
    n = len(z)
    if n < 2 * after:
        return
    before_z, after_z = z[: n - after], z[n - after :]
    before_mean, after_mean, mean = before_z.mean(axis=0), after_z.mean(axis=0), z.mean(axis=0)
    sse_step = ((before_z - before_mean) ** 2).sum(axis=0) + ((after_z - after_mean) ** 2).sum(axis=0)
    t = np.arange(n, dtype=np.float64) - (n - 1) / 2
    slope = t @ (z - mean) / (t @ t)
    sse_line = ((z - mean - slope[None, :] * t[:, None]) ** 2).sum(axis=0)
    jump = after_mean - before_mean
    # The split must be the best one: a step seen before it is complete is left for a later hour.
    k = np.arange(after, n - 1)[:, None]
    c1, c2 = np.cumsum(z, axis=0), np.cumsum(z * z, axis=0)
    head, head2 = c1[k[:, 0] - 1], c2[k[:, 0] - 1]
    tail, tail2 = c1[-1] - head, c2[-1] - head2
    sse_splits = (head2 - head**2 / k) + (tail2 - tail**2 / (n - k))
    at_split = np.argmin(np.nan_to_num(sse_splits, nan=np.inf), axis=0) == n - 2 * after
    stepped = (
        candidates
        & at_split
        & ~np.isnan(sse_step)
        & (sse_step < config.step_ratio * sse_line)
        & (np.abs(jump) >= config.step_min_z)
    )
    if not stepped.any() or np.isnan(jump).any():
        return
    best: tuple[float, int, float] | None = None
    for candidate in np.flatnonzero(stepped).tolist():
        effect = _step_effect(state, candidate)  # z jump of each sensor per unit of relative shift
        shift = float(effect @ jump / (effect @ effect))
        misfit = float(np.sum((jump - shift * effect) ** 2))
        if best is None or misfit < best[0]:
            best = (misfit, candidate, shift)
    assert best is not None
    _, c, delta = best
    if abs(delta) > config.max_step or abs(state.absorbed[c] + delta) > config.max_absorbed:
        return
    state.offset[c] += delta
    state.absorbed[c] += delta
    feature = FEATURE_OF.get(c)
    weights = lam * (1 - lam) ** np.arange(after - 1, -1, -1)
    for row in range(n - after, n):
        if feature is not None:
            state.z_x[row][feature] -= delta
        x = np.array(state.z_x[row])
        xc = _standardized(state, x)
        new = (np.array(state.z_y[row]) - state.coef @ xc - state.offset) / state.scale
        old = np.array(state.z_values[row])
        change = np.clip(old, -config.z_clip, config.z_clip) - np.clip(new, -config.z_clip, config.z_clip)
        state.ewma -= np.nan_to_num(change) * weights[row - (n - after)]
        state.z_values[row] = new.tolist()
        # The trend's values at the reference operating point lose the step too.
        if state.z_hours[row] in state.trend_hours:
            level = np.array(state.z_y[row]) - (state.coef @ xc - state.coef[:, CONST]) - state.offset
            state.trend_values[state.trend_hours.index(state.z_hours[row])] = level.tolist()


def _step_effect(state: HealthState, c: int) -> Floats:
    """Jump in each sensor's z when sensor c reads higher by a relative 1 (log units)."""
    effect = np.zeros(6)
    effect[c] = 1 / state.scale[c]
    feature = FEATURE_OF.get(c)
    if feature is not None:
        effect -= state.coef[:, feature] / state.spread[feature] / state.scale
        effect[c] = 1 / state.scale[c] - state.coef[c, feature] / state.spread[feature] / state.scale[c]
    return effect


def _prognosis(
    state: HealthState, j: int, hour: int, shift: float, limits: Limits, config: HealthConfig
) -> Floats | None:
    """Hours to the warning and critical limits with 80 % ranges, or None without a trend to them.

    A trend exists when a least-squares line through the recent values at the reference operating
    point rises towards the limit with a slope t-statistic of `trend_t`. Its shape (`prognosis`):
    "power" (the default) — wear that starts at some hour and grows as a power of the time since,
    v = b + a·(t − t0)^k, fitted for onsets t0 across the window and exponents 1–3 (linear in b and
    a for each): the best fit gives the central crossing, and every fit the residuals cannot tell
    from it (its extra squared error within the 80 % χ² bound for two parameters) spans the range,
    each with its ± 1.28 standard-error band; "parabola" — a parabola when its curvature towards
    the limit is significant (`curve_t`), else the line, the range spanning both; "line"."""
    values = np.array([row[j] for row in state.trend_values])
    hours = np.array(state.trend_hours, dtype=np.float64) - hour
    seen = ~np.isnan(values)
    if seen.sum() < config.trend_min_points:
        return None
    t, v = hours[seen] / config.trend_hours, state.ref[j] * (1 + values[seen])  # t in windows
    side = limits.side[j]
    design = np.stack([np.ones_like(t), t, t * t], axis=1)
    line = _least_squares(design[:, :2], v)
    if line is None or side * line[0][1] < config.trend_t * math.sqrt(line[1][1, 1]):
        return None
    horizon = PROGNOSIS_HOURS / config.trend_hours
    # (value now, projected mean over the horizon, 1.28 standard errors of it), the central one first
    curves: list[tuple[float, Floats, Floats]] = []
    if config.prognosis == "power":
        curves = _power_curves(t, v, side, horizon)
    if not curves:
        fits = [line]
        parabola = _least_squares(design, v) if config.prognosis != "line" else None
        if parabola is not None and side * parabola[0][2] > 0:
            curved = side * parabola[0][2] >= config.curve_t * math.sqrt(parabola[1][2, 2])
            fits = [parabola, line] if curved else [line, parabola]
        g = np.stack([np.ones_like(horizon), horizon, horizon**2], axis=1)
        for coef, cov in fits:
            gk = g[:, : len(coef)]
            band = 1.2816 * np.sqrt(np.einsum("ni,ij,nj->n", gk, cov, gk))
            curves.append((float(coef[0]), gk @ coef, band))
    out = np.full(6, np.nan)
    for base, limit in ((0, limits.warning[j]), (3, limits.critical[j])):
        if np.isnan(limit):
            continue
        target = limit - state.ref[j] * shift  # the limit seen from the reference operating point
        if side * (curves[0][0] - target) >= 0:
            out[base : base + 3] = 0.0
            continue
        fast, slow = np.inf, 0.0
        for k, (_, mean, band) in enumerate(curves):
            central, early, late = (
                _first(side * (c - target) >= 0) for c in (mean, mean + side * band, mean - side * band)
            )
            if k == 0:
                out[base] = central
            fast, slow = min(fast, early), max(slow, late)
        out[base + 1], out[base + 2] = fast, slow
    return out


POWER_EXPONENTS = np.array([1.0, 1.5, 2.0, 2.5, 3.0])
POWER_ONSETS = 10  # candidate onsets across the window (in its first 80 %)
CHI2_2DOF_80 = 3.219  # 80 % quantile of χ² with two degrees of freedom


def _power_curves(t: Floats, v: Floats, side: float, horizon: Floats) -> list[tuple[float, Floats, Floats]]:
    """Projections of v = b + a·max(t − t0, 0)^k (t in windows, ≤ 0) for the onsets and exponents the
    residuals cannot tell apart, best fit first; empty when none grows towards the limit."""
    onsets = np.linspace(t[0], t[0] + 0.8 * (t[-1] - t[0]), POWER_ONSETS)
    n = len(t)
    lag = np.clip(t[None, :] - onsets[:, None], 0, None)  # (onsets, n)
    h = lag[None, :, :] ** POWER_EXPONENTS[:, None, None]  # (exponents, onsets, n)
    h_mean = h.mean(axis=2, keepdims=True)
    hc = h - h_mean
    sxx = (hc * hc).sum(axis=2)
    vc = v - v.mean()
    sxy = (hc * vc).sum(axis=2)
    with np.errstate(divide="ignore", invalid="ignore"):
        a = sxy / sxx
        sse = float(vc @ vc) - a * sxy
    usable = (sxx > 1e-12) & (side * a > 0)
    if not usable.any():
        return []
    sse = np.where(usable, np.maximum(sse, 0.0), np.inf)
    best = np.unravel_index(int(np.argmin(sse)), sse.shape)
    sigma2 = float(sse[best]) / (n - 2)
    if sigma2 <= 0:
        return []
    accepted = np.argwhere(sse <= sse[best] + CHI2_2DOF_80 * sigma2).tolist()
    accepted.sort(key=lambda e_o: float(sse[e_o[0], e_o[1]]))
    out = []
    for e, o in accepted:
        future = (np.r_[0.0, horizon] - onsets[o]) ** POWER_EXPONENTS[e]
        mean = v.mean() + a[e, o] * (future - h_mean[e, o, 0])
        se = np.sqrt(sigma2 * (1 / n + (future - h_mean[e, o, 0]) ** 2 / sxx[e, o]))
        out.append((float(mean[0]), mean[1:], 1.2816 * se[1:]))
    return out


def _first(reached: Bools) -> float:
    """The first horizon (hours) where a projected curve has reached its limit, inf if none."""
    at = np.flatnonzero(reached)
    return float(PROGNOSIS_HOURS[at[0]]) if len(at) else math.inf


def _least_squares(design: Floats, v: Floats) -> tuple[Floats, Floats] | None:
    """Coefficients and their covariance, or None when the fit is degenerate."""
    a = design.T @ design
    if np.linalg.cond(a) > 1e12:
        return None
    inverse = np.linalg.inv(a)
    coef = inverse @ design.T @ v
    dof = len(v) - design.shape[1]
    if dof <= 0:
        return None
    sigma2 = float(np.sum((v - design @ coef) ** 2)) / dof
    if sigma2 <= 0:
        return None
    return coef, inverse * sigma2


def fleet_prior(
    series: list[tuple[Ints, Floats, Ints | None, Floats | None]], config: HealthConfig | None = None
) -> Floats:
    """Coefficients pooled over a fleet's warm-ups (each compressor's first `warmup_hours` running
    hours, demeaned per compressor): how sensors respond to load and ambient, for `health_step`'s
    `prior`. `series`: per compressor (times, values, ambient_hours, ambient). No labels used."""
    config = config or HealthConfig()
    learn_only = HealthConfig(**{**config.__dict__, "warmup_hours": 10**9})
    xs, ys = [], []
    for times, values, ambient_hours, ambient in series:
        out = health_step(times, values, ambient_hours=ambient_hours, ambient=ambient, config=learn_only)
        x = np.array(out.state.warm_x[: config.warmup_hours])
        y = np.array(out.state.warm_y[: config.warmup_hours])
        if len(x) < 2:
            continue
        xs.append(x - x.mean(axis=0))
        ys.append(y - y.mean(axis=0))
    prior = np.zeros((6, FEATURES))
    if not xs:
        return prior
    x, y = np.concatenate(xs), np.concatenate(ys)
    for j in range(6):
        cols = _MASK[j].copy()
        cols[CONST] = False
        a = x[:, cols]
        prior[j, cols] = np.linalg.lstsq(a, y[:, j], rcond=None)[0]
    return prior
