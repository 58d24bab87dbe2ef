"""The health step: each compressor's residuals against its own operating-point model, EWMA, health
index, early warnings and projected threshold crossings.

It runs hour by hour over a batch of compressors, every compressor of an hour at once (`fleet_step`:
the state stacked over compressors, `HealthState`; the per-compressor branches as masks; what is rare —
fitting a warm-up, absorbing a recalibration step, a prognosis that is not the power shape — per
compressor). The model is per compressor all the same: a compressor's outputs do not depend on the
others of its batch (tested). The prognoses of many hours are projected together and the warnings
settled after them (`_Run._settle`): nothing else the model decides reads the warnings.

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
   exceeds `score_healthy` are the drivers. Flow and horsepower, the operating point the other
   sensors are conditioned on, are judged beyond a relative deadband (`operating_deadband`): their
   relation moves by a recalibration's few percent whenever either meter is recalibrated, a step
   often too small in their noise to be told from a fault's start; a seal leak, a leaking valve or
   a misfire moves it by 10–30 %. Vibration and temperature are judged on their limit's side only
   (`one_sided`): wear, leaks and fouling raise them, and a unit reading cooler than its model (weather
   the ambient proxy misses, a load response learned from one load) is not degrading.
6. Recalibration steps. When a sensor's recent z has an abrupt step (a two-level fit beats a line by
   far) of at most `max_step` in relative size, the step is absorbed into that sensor's offset (up
   to `max_absorbed` in total, up or down, between resets) instead of being judged: a recalibrated
   sensor is not a failing compressor. Growing changes (ramps, accelerating wear) fit a line better
   and are kept.
   A step is decided when the window's best split is `step_min_after` to `step_max_after` judged
   hours old (a noisy one gets more hours to show). Without an ambient input (`weather_steps`) a
   temperature step is not absorbed: a change of weather looks the same. An absorbed temperature step
   must hold: one whose last `step_min_after` judged hours fall back by `daily_step_reverse` of it within
   `daily_step_confirm_hours` of it (a fouling's afternoon rise, then its night) is taken back, and no
   temperature step is absorbed for `daily_step_gap` hours; one absorbed while another is watched joins it.
7. Early warning (anomaly): health below `anomaly_health` for `anomaly_hours` judged hours in a row;
   it clears after `clear_hours` judged hours back above `clear_health`. A growing fault is an
   anomaly sooner: a sensor with a trend towards its limit (the prognosis's slope test, 8) and a
   |score| of at least `trend_anomaly_score` for `trend_anomaly_hours` judged hours in a row (a
   lasting shift has no trend; a wear's does). Both warnings are held
   through hours that are not judged; a maintenance event clears them.
8. Prognosis: for each off-normal metric with a limit, a least-squares line through the last
   `trend_hours` judged hours of its value at the reference operating point decides whether there is
   a trend (slope t-statistic above `trend_t` towards the limit, else none); its shape (`prognosis`)
   is a power of the time since an onset, v = b + a·(t − t0)^k, fitted over the trend's window (the
   vibration's over the last `prognosis_hours` judged hours since the last reset) for onsets across
   it and exponents 1–3 (the previous
   "parabola" — when its curvature towards the limit has a t-statistic above `curve_t` — and "line"
   remain); the projected hours to the warning and critical
   limits (at the current operating point) and an 80 % range spanning every fit the residuals cannot
   tell from the best (their variance inflated for their autocorrelation). A prediction
   warning is raised when the projected critical crossing (warning crossing for metrics without a
   critical limit) is within `prediction_horizon_hours` on this judged hour and on `prediction_hours`
   judged hours in all within the last `prediction_window_hours` hours (0: in a row): a crossing
   projected at the day's high load or in a fouling's afternoons only comes back day after day,
   which "in a row" never counted.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from dataclasses import dataclass
from typing import Any

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
OPERATING = np.array([0.0, 0.0, 0.0, 0.0, 1.0, 1.0])  # flow and horsepower: the operating point
ONE_SIDED = np.array([True, True, False, False, False, False])  # vibration, temperature: `one_sided`
# Judged on a day's score too (`daily_anomaly_score`): the discharge temperature, whose faults (cooler
# fouling) show most in the afternoon heat. Not vibration: a recalibrated vibration meter's
# day of raised scores before its step is absorbed warned 35 healthy units on the tuning seeds.
DAILY = np.array([False, True, False, False, False, False])
_DAILY_SENSORS = np.flatnonzero(DAILY)
_DAILY_INDEX = {int(j): d for d, j in enumerate(_DAILY_SENSORS)}
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
    ewma_halflife_hours: float = 8.0
    score_healthy: float = 5.0
    score_zero: float = 20.0
    deadband: float = 0.0  # relative shift judged as none (× DEADBAND_WEIGHT per sensor); 0: off
    operating_deadband: float = 0.02  # the same for flow and horsepower only (the operating point)
    step_window: int = 24
    step_min_after: int = 6
    step_max_after: int = 18  # a step is decided once it is this many judged hours old at most
    weather_steps: bool = True  # absorb temperature steps only when an ambient input is given
    step_ratio: float = 0.75
    step_min_z: float = 2.0
    max_step: float = 0.06
    max_absorbed: float = 0.12
    # A `DAILY` sensor's absorbed step is watched for `daily_step_confirm_hours` after its split (0: off):
    # one that falls back by `daily_step_reverse` of its size (a fouling's afternoon rise, then its night)
    # was no recalibration: it is taken back and no `DAILY` step is absorbed for `daily_step_gap` hours.
    # A step absorbed while another is watched joins it: the two are watched, and taken back, together.
    daily_step_confirm_hours: int = 36
    daily_step_reverse: float = 0.4
    daily_step_gap: int = 96
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
    prediction_hours: int = 6  # a projection must hold this many judged hours to warn ...
    prediction_window_hours: int = 48  # ... within this many hours (0: in a row)
    trend_anomaly_score: float = 8.0  # a sensor trending to its limit this far off normal (0: off) ...
    trend_anomaly_hours: int = 6  # ... for this many judged hours in a row is an anomaly too
    # The `DAILY` sensors' (discharge temperature's) score over a day: its `daily_quantile` over the last
    # `daily_hours` judged hours at `daily_anomaly_score` or more and up by `daily_growth` on the same
    # quantile `daily_lag_hours` earlier is an anomaly too (0: off); one is held while that quantile
    # stays at `daily_hold` × `daily_anomaly_score` (a fouling's afternoon rise held through the night).
    daily_hours: int = 24
    daily_quantile: float = 0.9
    daily_anomaly_score: float = 7.0  # (8 until session 14: a fouling's first afternoon peaked at 7.4)
    daily_growth: float = 4.0
    daily_lag_hours: int = 48
    daily_hold: float = 0.5
    daily_learn_below: float = 5.0  # ... and learns only while that quantile is below this (0: off)
    one_sided: bool = True  # vibration and temperature judged on their limit's side only
    # The power shape (`prognosis="power"`, item 7 of the README's model): onsets from this many
    # windows before the window's start (a wear begun before it bends as much as it has grown) ...
    prognosis_onsets_before: float = 1.0
    # ... and the central projection: "weighted" (the median crossing of the fits the residuals cannot
    # tell apart, each weighted by its likelihood) or "best" (the best fit's, until session 8).
    prognosis_central: str = "weighted"
    # ... the vibration's (`LONG_FIT`) fitted over the last this many judged hours since the last reset
    # (the trend's line, which decides whether there is one, and the others' shape over the last
    # `trend_hours`): the hours before a wear's onset anchor its shape (a ring of
    # their values alone holds them)
    prognosis_hours: int = 240

    @property
    def ewma_lambda(self) -> float:
        return float(1 - 0.5 ** (1 / self.ewma_halflife_hours))


# The state's fields: name, dtype, shape after the compressor axis (from the config), default.
def _layout(config: HealthConfig) -> tuple[tuple[str, type, tuple[int, ...], float], ...]:
    w, s, t, p = config.warmup_hours, config.step_window, config.trend_hours, config.prognosis_hours
    return (
        ("last_hour", np.int64, (), NEVER),
        ("ref", np.float64, (6,), math.nan),  # the levels are relative to it
        ("last_value", np.float64, (6,), math.nan),
        ("equal_run", np.int64, (6,), 0),
        ("flow_ref", np.float64, (), 0.0),
        ("hours_running", np.int64, (), 0),
        ("warm_n", np.int64, (), 0),
        ("warm_x", np.float64, (w, FEATURES), 0.0),
        ("warm_y", np.float64, (w, 6), 0.0),
        ("fitted", np.bool_, (), False),
        ("center", np.float64, (FEATURES,), 0.0),
        ("spread", np.float64, (FEATURES,), 1.0),
        ("xtx", np.float64, (6, FEATURES, FEATURES), 0.0),
        ("xty", np.float64, (6, FEATURES), 0.0),
        ("learned", np.int64, (), 0),
        ("coef", np.float64, (6, FEATURES), 0.0),
        ("prior", np.float64, (6, FEATURES), 0.0),  # raw units
        ("scale", np.float64, (6,), 1.0),
        ("offset", np.float64, (6,), 0.0),
        ("absorbed", np.float64, (6,), 0.0),  # total size of the steps absorbed, up or down
        # the `DAILY` sensors' last absorbed step (its split's hour and size) while it is watched, and the
        # hour until which none is absorbed (after one fell back)
        ("daily_step_hour", np.int64, (int(DAILY.sum()),), NEVER),
        ("daily_step_size", np.float64, (int(DAILY.sum()),), 0.0),
        ("daily_step_until", np.int64, (int(DAILY.sum()),), NEVER),
        ("ewma", np.float64, (6,), 0.0),
        ("ewma_spread", np.float64, (6,), math.nan),  # mean |EWMA| while healthy
        # the last `step_window` judged hours (a ring: `z_start` is the oldest, `z_n` how many)
        ("z_n", np.int64, (), 0),
        ("z_start", np.int64, (), 0),
        ("z_hours", np.int64, (s,), NEVER),
        ("z_values", np.float64, (s, 6), 0.0),
        ("z_x", np.float64, (s, FEATURES), 0.0),  # the features behind each z row
        ("z_y", np.float64, (s, 6), 0.0),
        # the last `trend_hours` judged hours' values at the reference operating point (a ring)
        ("trend_n", np.int64, (), 0),
        ("trend_start", np.int64, (), 0),
        ("trend_hours", np.int64, (t,), NEVER),
        ("trend_values", np.float64, (t, 6), 0.0),
        # ... and the last `prognosis_hours` of the `LONG_FIT` sensors' (a ring: only they are fitted so far
        # back)
        ("long_n", np.int64, (), 0),
        ("long_start", np.int64, (), 0),
        ("long_hours", np.int64, (p,), NEVER),
        ("long_values", np.float64, (p, len(LONG_FIT)), 0.0),
        ("below", np.int64, (), 0),
        ("above", np.int64, (), 0),
        ("anomaly", np.bool_, (), False),
        ("predicted", np.bool_, (), False),
        ("predicting", np.int64, (), 0),  # judged hours in a row with a crossing within the horizon
        ("trending", np.int64, (), 0),  # judged hours in a row with a sensor trending off normal
        ("warming", np.bool_, (), True),  # no judged hour since the first reading or the last reset
        # the hours of the last `prediction_hours` judged hours with a crossing within the horizon
        ("predicted_hours", np.int64, (config.prediction_hours,), NEVER),
        # the `DAILY` sensors' scores of the last `daily_hours` + `daily_lag_hours` judged hours (a ring)
        ("daily_n", np.int64, (), 0),
        ("daily_start", np.int64, (), 0),
        ("daily_scores", np.float64, (config.daily_hours + config.daily_lag_hours, int(DAILY.sum())), 0.0),
    )


NEVER = -(2**62)
# Kept by a reset (maintenance): the stuck-sensor memory, the prior, the clock and `warming`.
_KEPT_BY_RESET = ("last_hour", "last_value", "equal_run", "prior", "warming")
# The warnings' fields: only the warnings read them (`_Run._warn`), so they are settled after the hours'
# prognoses (`_Run._settle`).
_WARNINGS = ("below", "above", "anomaly", "predicted", "predicting", "trending", "predicted_hours")
_QUEUED_PAIRS = 1024  # prognoses queued at most (about 8 MB of copied rings) before they are settled


class HealthState:
    """Everything an incremental run needs, stacked over compressors: each array's first axis is the
    compressor (the fleet model steps all of them at once). `matrix()` / `from_matrix()` give one
    float64 row per compressor for storage."""

    def __init__(self, compressors: int, config: HealthConfig | None = None) -> None:
        self.config = config or HealthConfig()
        self.arrays: dict[str, Any] = {}
        self.was_reset: list[Ints] = []  # the rows of each reset since (pipeline/health.py carries warm-ups)
        for name, dtype, shape, default in _layout(self.config):
            self.arrays[name] = _filled((compressors, *shape), default, dtype)

    def __getattr__(self, name: str) -> Any:
        arrays = self.__dict__.get("arrays")
        if arrays is not None and name in arrays:
            return arrays[name]
        raise AttributeError(name)

    def __len__(self) -> int:
        return len(self.arrays["last_hour"])

    def reset(self, rows: Ints) -> None:
        """After maintenance: learn again from scratch (keeping the stuck-sensor memory and the prior)."""
        self.was_reset.append(np.asarray(rows))
        for name, _, _, default in _layout(self.config):
            if name not in _KEPT_BY_RESET:
                self.arrays[name][rows] = default

    def take(self, rows: Ints) -> HealthState:
        out = HealthState(0, self.config)
        out.arrays = {name: a[rows] for name, a in self.arrays.items()}
        return out

    def width(self) -> int:
        return sum(math.prod(shape) for _, _, shape, _ in _layout(self.config))

    @staticmethod
    def unread() -> dict[str, Bools]:
        """Per field, the entries the model never reads: of each sensor's normal equations (`xtx`,
        `xty`: updated with every feature) those outside its design (`_solve` reads only its block).
        A stored state may leave them out and read them back as the fresh state's (zeros)."""
        block = _MASK[:, :, None] & _MASK[:, None, :]
        return {"xtx": ~block, "xty": ~_MASK}

    def columns(self, name: str) -> tuple[int, int]:
        """The columns of field `name` in `matrix()`."""
        column = 0
        for field_name, _, shape, _ in _layout(self.config):
            if field_name == name:
                return column, column + math.prod(shape)
            column += math.prod(shape)
        raise KeyError(name)

    def matrix(self, without: tuple[str, ...] = (), rows: slice = slice(None)) -> Floats:
        """(compressors, width): every field as float64 (integers here are exact in float64), in the
        layout's order; the fields named in `without` left out; only the compressors `rows` if given."""
        n = len(range(len(self))[rows])
        layout = _layout(self.config)
        widths = [(name, math.prod(shape)) for name, _, shape, _ in layout if name not in without]
        out = np.empty((n, sum(size for _, size in widths)))
        column = 0
        for name, size in widths:
            out[:, column : column + size] = self.arrays[name][rows].reshape(n, size)
            column += size
        return out

    def set_rows(self, first: int, matrix: Floats, without: tuple[str, ...] = ()) -> None:
        """Compressors `first`, `first` + 1, … from `matrix()`'s rows (the fields in `without` kept)."""
        column, rows = 0, slice(first, first + len(matrix))
        for name, _, shape, _ in _layout(self.config):
            if name in without:
                continue
            size = math.prod(shape)
            self.arrays[name][rows] = matrix[:, column : column + size].reshape(len(matrix), *shape)
            column += size
        if column != matrix.shape[1]:
            raise ValueError(f"a state of {matrix.shape[1]} values where this model keeps {column}")

    @staticmethod
    def from_matrix(
        matrix: Floats, config: HealthConfig | None = None, without: tuple[str, ...] = ()
    ) -> HealthState:
        """The state of `matrix()`'s rows; the fields named in `without` (not in the matrix) as before
        the first reading."""
        out = HealthState(0, config)
        n, column = len(matrix), 0
        for name, dtype, shape, default in _layout(out.config):
            if name in without:
                out.arrays[name] = _filled((n, *shape), default, dtype)
                continue
            size = math.prod(shape)
            part = matrix[:, column : column + size].reshape(n, *shape)
            out.arrays[name] = part.astype(dtype)
            column += size
        if column != matrix.shape[1]:
            raise ValueError(f"a state of {matrix.shape[1]} values where this model keeps {column}")
        return out


def _clear_warnings(state: HealthState, rows: Ints) -> None:
    """`HealthState.reset`'s part on the warnings' fields (`_WARNINGS`)."""
    for name, _, _, default in _layout(state.config):
        if name in _WARNINGS:
            state.arrays[name][rows] = default


def _filled(shape: tuple[int, ...], default: float, dtype: type) -> Any:
    """An array of `default`; zeros through np.zeros, whose pages the system gives only when written
    (a fleet's warm-up buffers are tens of MB, mostly never written)."""
    return np.zeros(shape, dtype=dtype) if default == 0 else np.full(shape, default, dtype=dtype)


@dataclass
class HealthOutput:
    """Per compressor and hour (`compressor`: its row in the state, `hour` = epoch seconds of its start;
    sorted by compressor, then hour): `judged` (False in warm-up, stopped, settling or without data),
    `running`, `warmup` (running but still learning), `health` 0–100 (NaN when not judged), `score`
    (6, hours) signed per sensor, `drivers` (6, hours) whether each sensor drives the health down,
    `anomaly` and `prediction` (early warnings active; held through hours not judged, cleared by
    maintenance), `eta_warning` / `eta_critical` (6, hours) projected hours to the limit with `*_low`
    / `*_high` 80 % ranges (NaN: no crossing projected within PROGNOSIS_HOURS, or the limit already
    crossed; `*_high` NaN: not bounded within them), and the state for the next run."""

    compressor: Ints
    hour: Ints
    judged: Bools
    running: Bools
    warmup: Bools
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
    """`fleet_step` for one compressor: its readings (epoch seconds, a (6, n) array)."""
    times = np.asarray(times, dtype=np.int64)
    return fleet_step(
        np.zeros(len(times), dtype=np.int64),
        times,
        values,
        state=state or HealthState(1, config),
        ambient=None if ambient_hours is None or ambient is None else [(ambient_hours, ambient)],
        resets=None if resets is None else [resets],
        limits=limits,
        prior=prior,
        config=config,
    )


def fleet_step(
    compressor: Ints,
    times: Ints,
    values: Floats,
    *,
    state: HealthState,
    ambient: list[tuple[Ints, Floats] | None] | None = None,
    resets: list[Ints] | None = None,
    limits: Limits | None = None,
    prior: Floats | None = None,
    config: HealthConfig | None = None,
    fit: bool = True,
) -> HealthOutput:
    """Run the model over the readings of many compressors newer than each one's `state.last_hour`,
    hour by hour, every compressor of an hour at once.

    `compressor`: each reading's row in `state` (ascending); `times`: epoch seconds, ascending within
    a compressor; `values`: (6, n) in SENSORS order, NaN for null or flagged values. `ambient`: per
    compressor an hourly ambient proxy (°F deviation) for its station (epoch seconds, values), or
    None. `resets`: per compressor, epoch seconds of maintenance events (warm-up starts again after
    each). `limits`: per sensor (6,) or per compressor and sensor (compressors, 6). `prior`: (6,
    FEATURES) or (compressors, 6, FEATURES) coefficients the fit shrinks towards, e.g. `fleet_prior`
    of the fleet: a warm-up that saw one load cannot tell how the unit responds to load, the fleet
    can. `fit=False` only collects warm-ups (`fleet_prior`). Pass complete hours: an hour is
    processed once.
    """
    config = config or state.config
    limits = limits or Limits.defaults()
    count = len(state)
    warning = np.broadcast_to(limits.warning, (count, 6))
    critical = np.broadcast_to(limits.critical, (count, 6))
    side = np.broadcast_to(limits.side, (count, 6))
    if prior is not None:
        state.prior[:] = np.asarray(prior, dtype=np.float64)
    compressor = np.asarray(compressor, dtype=np.int64)
    times = np.asarray(times, dtype=np.int64)
    keep = times // HOUR > state.last_hour[compressor]
    values = np.asarray(values, dtype=np.float64)
    if not keep.all():
        compressor, times, values = compressor[keep], times[keep], values[:, keep]
    stuck = _drop_stuck(compressor, values, state)
    g_comp, g_hour, medians, min_flow = _hourly(compressor, times, values, config.min_readings, stuck)
    amb = _lookup(g_comp, g_hour, ambient)
    reset_hours = _reset_matrix(resets, count)
    # every maintenance hour of the batch, ascending: an hour after which none came before it checks none
    reset_at = [] if reset_hours is None else np.unique(reset_hours).tolist()
    run = _Run(state, config, (warning, critical, side), g_comp, g_hour, medians, min_flow, amb, fit)
    order = np.argsort(g_hour, kind="stable")  # by hour, each hour's compressors ascending
    sorted_hours = g_hour[order]
    bounds = np.flatnonzero(np.diff(sorted_hours)) + 1
    for groups in np.split(order, bounds) if len(order) else []:
        run.hour(int(g_hour[groups[0]]), groups, reset_hours, reset_at)
    run._settle()
    return run.output()


def _reset_matrix(resets: list[Ints] | None, count: int) -> Ints | None:
    """(compressors, most events): each compressor's maintenance hours, padded with a never."""
    if resets is None or not any(len(r) for r in resets):
        return None
    if len(resets) != count:
        raise ValueError("one list of resets per compressor")
    most = max(len(r) for r in resets)
    out = np.full((count, most), 2**62, dtype=np.int64)
    for row, r in enumerate(resets):
        out[row, : len(r)] = np.sort(np.asarray(r, dtype=np.int64) // HOUR)
    return out


_SEARCHED = 32  # compressors whose last valid value `_drop_stuck` searches one by one, at most


def _drop_stuck(compressor: Ints, values: Floats, state: HealthState) -> Bools:
    """Which values (6, readings) are stuck, each equal to the three before it of its compressor (the
    run may have started in a previous batch: `state.last_value` / `equal_run` carry it): `_hourly`
    leaves them out.

    A value is stuck when it equals the one before it there and so did the two before it: a few
    passes over boolean arrays; the first three values of each compressor read the run carried
    (`equal_run` counts the equal values ending at the last valid one, as if it preceded them). The
    run's length is counted only where it is kept: at each compressor's last valid value."""
    n = values.shape[1]
    if n == 0:
        return np.zeros((6, 0), dtype=bool)
    firsts = np.flatnonzero(np.r_[True, compressor[1:] != compressor[:-1]])
    ends = np.r_[firsts[1:], n]
    rows = compressor[firsts]
    same = np.empty((6, n), dtype=bool)
    np.equal(values[:, 1:], values[:, :-1], out=same[:, 1:])  # NaN equals nothing
    same[:, firsts] = values[:, firsts] == state.last_value[rows].T
    carried = state.equal_run[rows].T  # (6, compressors)
    stuck = same.copy()
    stuck[:, 1:] &= same[:, :-1]
    stuck[:, 2:] &= same[:, :-2]
    for d in range(3):  # a compressor's first three values: the run carried stands for those before them
        inside = firsts + d < ends
        at, first = firsts[inside] + d, firsts[inside]
        ok = carried[:, inside] >= 3 - d
        for e in range(d + 1):
            ok &= same[:, first + e]
        stuck[:, at] = ok
    last = ends - 1
    for j in range(6):
        v = values[j]
        missing = np.flatnonzero(np.isnan(v[last]))  # compressors whose last value is missing
        if len(missing) > _SEARCHED:
            last_valid = np.maximum.reduceat(np.where(np.isnan(v), -1, np.arange(n)), firsts)
        else:
            last_valid = last.copy()
            for i in missing.tolist():
                valid = np.flatnonzero(~np.isnan(v[firsts[i] : ends[i]]))
                last_valid[i] = firsts[i] + valid[-1] if len(valid) else -1
        found = last_valid >= firsts
        at, first = last_valid[found], firsts[found]
        run = np.ones(len(at), dtype=np.int64)
        going = same[j, at]  # runs longer than one: from the value after the last change (or the first)
        if going.any():
            breaks = np.flatnonzero(np.r_[True, ~same[j]]) - 1  # where runs start, after a -1
            start = breaks[np.searchsorted(breaks, at[going], side="right") - 1]
            start = np.maximum(start, first[going])
            run[going] = at[going] - start + 1
            continued = (start == first[going]) & same[j, first[going]]
            run[np.flatnonzero(going)[continued]] += carried[j, found][going][continued]
        state.last_value[rows[found], j] = v[at]
        state.equal_run[rows[found], j] = run
    return stuck


_HOURLY_CELLS = 4_000_000  # the median grid is built this many values at a time
_NETWORK_WIDTH = 16  # hours with at most this many readings are sorted by a network, others by np.sort


def _hourly(
    compressor: Ints, times: Ints, values: Floats, min_readings: int, dropped: Bools | None = None
) -> tuple[Ints, Ints, Floats, Floats]:
    """Per compressor and hour with readings: the compressor, the hour, each sensor's median (NaN
    with fewer than `min_readings` values) and the lowest flow; the values `dropped` (6, readings)
    left out (as NaN)."""
    n = len(times)
    if n == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64), np.empty((6, 0)), np.empty(0)
    key = times // HOUR
    first = np.flatnonzero(np.r_[True, (compressor[1:] != compressor[:-1]) | (key[1:] != key[:-1])])
    counts = np.diff(np.r_[first, n])
    groups = len(first)
    medians = np.full((6, groups), np.nan)
    min_flow = np.full(groups, np.nan)
    width = int(counts.max())
    step = max(1, _HOURLY_CELLS // (6 * width))
    for lo in range(0, groups, step):
        hi = min(groups, lo + step)
        begin, end = int(first[lo]), int(first[hi]) if hi < groups else n
        c = counts[lo:hi]
        # each reading's place in the grid (sensor, slot, group): a slot's values contiguous
        slot = np.arange(begin, end) - np.repeat(first[lo:hi], c)
        at = slot * (hi - lo) + np.repeat(np.arange(hi - lo), c)
        flat = np.full((6, width * (hi - lo)), np.nan)
        for sensor in range(6):
            np.put(flat[sensor], at, values[sensor, begin:end])
            if dropped is not None:
                flat[sensor, at[dropped[sensor, begin:end]]] = np.nan
        grid = flat.reshape(6, width, hi - lo)
        valid = (~np.isnan(grid)).sum(axis=1)
        ordered = _sorted_slots(grid)  # (in place: `grid` is used up)
        min_flow[lo:hi] = ordered[0][FLOW]  # NaN last: the lowest, or NaN without any
        part = _nanmedian(ordered, valid)
        part[valid < min_readings] = np.nan
        medians[:, lo:hi] = part
    return compressor[first], key[first], medians, min_flow


def _sorted_slots(grid: Floats) -> list[Floats]:
    """`grid` (sensor, slot, group) sorted along its slots, NaN last: each slot's (sensor, group) array,
    lowest first. A sorting network (`_network`) over whole slots where the hours are short (a few
    NumPy calls per comparator instead of a sort call per six values), else np.sort."""
    width = grid.shape[1]
    if width > _NETWORK_WIDTH:
        ordered = np.sort(grid, axis=1)
        return [ordered[:, i] for i in range(width)]
    slots = [grid[:, i] for i in range(width)]
    spare = np.empty_like(slots[0])
    for i, j in _network(width):
        a, b = slots[i], slots[j]
        np.fmin(a, b, out=spare)  # fmin keeps a number, maximum a NaN
        np.maximum(a, b, out=b)
        slots[i], spare = spare, a
    return slots


def _network(width: int) -> list[tuple[int, int]]:
    """Batcher's odd-even merge sort's comparators for `width` values (i < j: the lower value to i)."""
    pairs = []
    p = 1
    while p < width:
        k = p
        while k >= 1:
            for j in range(k % p, width - k, 2 * k):
                for i in range(min(k, width - j - k)):
                    if (i + j) // (2 * p) == (i + j + k) // (2 * p):
                        pairs.append((i + j, i + j + k))
            k //= 2
        p *= 2
    return pairs


def _chosen(index: Ints, slots: list[Floats]) -> Floats:
    """np.choose(index, slots) for a few slots (a masked copy per slot: several times as fast)."""
    out = slots[0].copy()
    for i in range(1, len(slots)):
        np.copyto(out, slots[i], where=index == i)
    return out


def _nanmedian(ordered: list[Floats], valid: Ints) -> Floats:
    """np.nanmedian over the slots, given them sorted (`_sorted_slots`, NaN last) and `valid` the non-NaN
    count of each (sensor, group): the sum of the two middle values (the middle one twice when odd)
    halved, as NumPy computes it (the same values, bit for bit; NumPy's own goes through masked arrays
    here, 15 % of the health step)."""
    width = len(ordered)
    low, high = np.maximum(valid - 1, 0) // 2, np.minimum(valid // 2, width - 1)
    if width <= _NETWORK_WIDTH:
        low, high = _chosen(low, ordered), _chosen(high, ordered)
    else:
        stack = np.stack(ordered)  # (slot, sensor, group)
        low = np.take_along_axis(stack, low[None], axis=0)[0]
        high = np.take_along_axis(stack, high[None], axis=0)[0]
    with np.errstate(invalid="ignore"):  # -inf and inf in the middle: NaN, as NumPy's
        out: Floats = (0.0 + low + high) / 2  # as NumPy's sum: from 0.0, so -0.0 twice sums to 0.0
    out[valid == 0] = np.nan
    return out


def _lookup(g_comp: Ints, g_hour: Ints, ambient: list[tuple[Ints, Floats] | None] | None) -> Floats:
    """Each (compressor, hour) row's ambient value, 0 where its compressor has none or lacks the hour.
    One search over every series at once (keyed by series and hour): compressors of a station share
    one series, and a search per compressor cost ~35 µs each, 0.16 s an hour at 4,700 compressors."""
    out = np.zeros(len(g_hour))
    if ambient is None or len(g_hour) == 0:
        return out
    series_of = np.full(len(ambient), -1, dtype=np.int64)
    index: dict[int, int] = {}
    keys: list[Ints] = []
    values: list[Floats] = []
    for c, given in enumerate(ambient):
        if given is None or len(given[0]) == 0:
            continue
        s = index.get(id(given[0]))
        if s is None:
            s = index[id(given[0])] = len(keys)
            keys.append((np.asarray(given[0], dtype=np.int64) // HOUR) + (s << 32))
            values.append(np.nan_to_num(np.asarray(given[1], dtype=np.float64)))
        series_of[c] = s
    if not keys:
        return out
    rows = np.flatnonzero(series_of[g_comp] >= 0)
    wanted = (series_of[g_comp[rows]] << 32) + g_hour[rows]
    every, value = np.concatenate(keys), np.concatenate(values)
    pos = np.minimum(np.searchsorted(every, wanted), len(every) - 1)
    found = every[pos] == wanted
    out[rows[found]] = value[pos[found]]
    return out


def _features(amb: Floats, hours: Ints) -> Floats:
    """(hours, FEATURES): the features that are not sensor levels (those are filled in per hour)."""
    angle = 2 * math.pi * (hours % 24) / 24
    x = np.full((len(hours), FEATURES), np.nan)
    x[:, CONST] = 1.0
    x[:, AMB] = amb / 10
    x[:, SIN], x[:, COS] = np.sin(angle), np.cos(angle)
    return x


LEVELS = [LFLOW, LHP, LDIS, LSUC]
LEVEL_SENSORS = [FLOW, HP, DIS, SUC]


def _ring(start: Ints, n: Ints, size: int) -> Ints:
    """Positions of a ring's rows, oldest first (one compressor's)."""
    return (int(start) + np.arange(int(n))) % size


def _push(state: HealthState, rows: Ints, prefix: str, size: int) -> Ints:
    """Where each compressor's next row of a ring goes (the oldest is dropped when it is full)."""
    n: Ints = state.arrays[f"{prefix}_n"]
    start: Ints = state.arrays[f"{prefix}_start"]
    count, first = n[rows], start[rows]
    # (a ring holds at most `size` rows: a full one's next row is its oldest, `first`, and it moves on)
    start[rows] = (first + (count >= size)) % size
    n[rows] = np.minimum(count + 1, size)
    position: Ints = (first + count) % size
    return position


class _Run:
    """One call's hour-by-hour pass: the state, the hourly inputs and the outputs per group (a
    compressor's hour)."""

    def __init__(
        self,
        state: HealthState,
        config: HealthConfig,
        limits: tuple[Floats, Floats, Floats],
        g_comp: Ints,
        g_hour: Ints,
        medians: Floats,
        min_flow: Floats,
        amb: Floats,
        fit: bool,
    ) -> None:
        self.state, self.config, self.limits, self.fit = state, config, limits, fit
        self.g_comp, self.g_hour, self.medians, self.min_flow = g_comp, g_hour, medians, min_flow
        self.x_all = _features(amb, g_hour)
        n = len(g_hour)
        self.judged = np.zeros(n, dtype=bool)
        self.running = np.zeros(n, dtype=bool)
        self.warmup = np.zeros(n, dtype=bool)
        self.health = np.full(n, np.nan)
        self.score = np.full((6, n), np.nan)
        self.drivers = np.zeros((6, n), dtype=bool)
        self.anomaly = np.zeros(n, dtype=bool)
        self.prediction = np.zeros(n, dtype=bool)
        self.etas = np.full((6, 6, n), np.nan)  # warning, low, high, critical, low, high
        self.lam = config.ewma_lambda
        self.null_sd = math.sqrt(self.lam / (2 - self.lam))
        # The warnings wait for their hours' prognoses, which are projected many hours' pairs at a time
        # (`_settle`): nothing else the model decides reads them or the warnings.
        self.hours: list[list[Any]] = []  # per hour since: its hour, compressors, groups, resets, judgement
        self.queue: list[dict[str, Any]] = []  # per hour with pairs to project: their inputs
        self.queued = 0  # pairs
        self.warnings = {name: state.arrays[name].copy() for name in _WARNINGS}

    def output(self) -> HealthOutput:
        e = self.etas
        return HealthOutput(
            self.g_comp, self.g_hour * HOUR, self.judged, self.running, self.warmup, self.health,
            self.score, self.drivers, self.anomaly, self.prediction,
            e[0], e[1], e[2], e[3], e[4], e[5], self.state,
        )  # fmt: skip

    def hour(self, hour: int, gs: Ints, reset_hours: Ints | None, reset_at: list[int]) -> None:
        s, config = self.state, self.config
        cs = self.g_comp[gs]
        last = s.last_hour[cs]
        entry: list[Any] = [hour, cs, gs, None, None, None]  # (`_settle`: the warnings)
        self.hours.append(entry)
        # (a maintenance event after the hour before any of these compressors' last one, up to this one)
        if reset_hours is not None and bisect_right(reset_at, hour) > bisect_right(reset_at, int(last.min())):
            r = reset_hours[cs]
            hit = (last > -(2**61)) & ((r > last[:, None]) & (r <= hour)).any(axis=1)
            if hit.any():
                s.reset(cs[hit])
                s.warming[cs[hit]] = True
                entry[3] = cs[hit]
        s.last_hour[cs] = hour
        flow = self.medians[FLOW, gs]
        with np.errstate(invalid="ignore"):  # (NaN compares False)
            # The reference was taken while the unit idled (a series that begins stopped): what was
            # learned from it was not running, so learning starts again.
            again = flow * config.running_share > s.ref[cs, FLOW]
        if again.any():
            s.reset(cs[again])
            entry[4] = cs[again]
        kept = s.flow_ref[cs]
        flow_ref = np.where(np.isnan(flow), kept, np.maximum(kept, flow))
        s.flow_ref[cs] = flow_ref
        low = self.min_flow[gs]
        with np.errstate(invalid="ignore"):
            running = (flow_ref > 0) & (low > config.running_share * flow_ref)
        self.running[gs] = running
        self.warmup[gs] = running & s.warming[cs]
        hours_running = np.where(running, s.hours_running[cs] + 1, 0)
        s.hours_running[cs] = hours_running
        settled = running & (hours_running > config.settle_hours)
        cs, gs = cs[settled], gs[settled]
        m = self.medians[:, gs].T
        ref = s.ref[cs]
        no_ref = np.isnan(ref).any(axis=1)
        if no_ref.any():
            with np.errstate(invalid="ignore"):
                unusable = no_ref & ~(m > 0).all(axis=1)  # a value missing, or at or below zero
            s.ref[cs[no_ref & ~unusable]] = m[no_ref & ~unusable]
            cs, gs, m = cs[~unusable], gs[~unusable], m[~unusable]
            ref = s.ref[cs]
        # Levels relative to the unit's reference: every sensor is modelled linearly in them.
        y = m / ref - 1
        x = self.x_all[gs]
        levels = (y - s.offset[cs])[:, LEVEL_SENSORS]
        x[:, LEVELS] = levels
        complete = ~np.isnan(levels).any(axis=1)
        if not complete.all():
            cs, gs, x, y = cs[complete], gs[complete], x[complete], y[complete]
        fitted = s.fitted[cs]
        if fitted.all():
            self._judge(hour, cs, gs, x, y)
        else:
            self._warm(cs[~fitted], x[~fitted], y[~fitted])
            if fitted.any():
                self._judge(hour, cs[fitted], gs[fitted], x[fitted], y[fitted])
        if self.queued >= _QUEUED_PAIRS:
            self._settle()

    def _warm(self, cs: Ints, x: Floats, y: Floats) -> None:
        s, size = self.state, self.config.warmup_hours
        whole = ~np.isnan(y).any(axis=1)
        rows, n = cs[whole], s.warm_n[cs[whole]]
        room = n < size  # full only when not fitting (`fit=False`): the first warm-up is kept
        s.warm_x[rows[room], n[room]] = x[whole][room]
        s.warm_y[rows[room], n[room]] = y[whole][room]
        s.warm_n[rows[room]] += 1
        if self.fit:
            ready = cs[s.warm_n[cs] >= size]  # (each holds `size` hours: the room above)
            if len(ready):
                _fit_warmup(s, ready, self.config)

    def _judge(self, hour: int, cs: Ints, gs: Ints, x: Floats, y: Floats) -> None:
        s, config, lam = self.state, self.config, self.lam
        center, scale = s.center[cs], s.scale[cs]
        xc = _standardized(center, s.spread[cs], x)
        coef = s.coef[cs]
        prediction = np.einsum("kjf,kf->kj", coef, xc)
        z = (y - prediction - s.offset[cs]) / scale
        clipped = np.clip(z, -config.z_clip, config.z_clip)  # one wild hour moves the EWMA little
        seen = ~np.isnan(z)
        ewma = s.ewma[cs]
        s.ewma[cs] = ewma = np.where(seen, (1 - lam) * ewma + lam * clipped, ewma)
        at = _push(s, cs, "z", config.step_window)
        s.z_hours[cs, at], s.z_values[cs, at], s.z_x[cs, at], s.z_y[cs, at] = hour, z, x, y
        spread = np.maximum(s.ewma_spread[cs] / MEAN_ABS, self.null_sd)
        candidates = np.abs(ewma / spread) > config.step_min_z
        if config.weather_steps:
            # Without an ambient input a change of weather moves the discharge temperature like a
            # recalibration would: only a model that sees the ambient can tell them apart. (The
            # warm-up's mean ambient is exactly 0 only when none is given.)
            candidates[:, TEMP] &= center[:, AMB] != 0.0
        for k in np.flatnonzero(_may_step(s, cs, candidates, config)).tolist():
            _absorb_steps(s, int(cs[k]), candidates[k], config, lam)
        ewma = s.ewma[cs]  # (steps absorbed: their EWMAs recomputed)
        raw = ewma / spread
        magnitude = np.abs(raw)
        # Judged beyond a deadband of relative size (a shift too small to matter to an engineer, e.g.
        # a slow drift of a low vibration, is not an anomaly however clear statistically); learning
        # still follows the raw score.
        relative = config.deadband * DEADBAND_WEIGHT + config.operating_deadband * OPERATING
        band = relative / (scale * spread)
        score = np.sign(raw) * np.maximum(magnitude - band, 0.0)
        if config.one_sided:
            # Vibration and temperature: wear, leaks and fouling raise them; a unit running cooler or
            # smoother than its model says is not degrading.
            side = self.limits[2][cs]
            score = np.where(ONE_SIDED & (side * score < 0), 0.0, score)
        strength = np.abs(score)
        worst = strength.max(axis=1)
        health = 100.0 * np.minimum(
            1.0,
            np.maximum(0.0, 1 - (worst - config.score_healthy) / (config.score_zero - config.score_healthy)),
        )
        self.judged[gs] = True
        self.health[gs] = health
        self.score[:, gs] = score.T
        self.drivers[:, gs] = (strength > config.score_healthy).T
        s.warming[cs] = False

        # Value at the reference operating point, for the trend (the reading minus what the
        # operating point explains relative to the warm-up's centre).
        offset = s.offset[cs]
        reference = y - (prediction - coef[:, :, CONST]) - offset
        for prefix, size, sensors in _trend_rings(config):
            at = _push(s, cs, prefix, size)
            s.arrays[f"{prefix}_hours"][cs, at], s.arrays[f"{prefix}_values"][cs, at] = (
                hour,
                reference[:, sensors],
            )
        shift = prediction - coef[:, :, CONST] + offset  # (reading − reference value) / ref
        side = self.limits[2]
        pairs = np.argwhere(strength > config.trend_score)
        owners = cs[pairs[:, 0]]
        pairs = pairs[_may_trend(s, owners, pairs[:, 1], side[owners, pairs[:, 1]], hour, config)]
        if len(pairs):
            self._queue(hour, cs[pairs[:, 0]], pairs[:, 1], shift[pairs[:, 0], pairs[:, 1]])
        rising = held = None
        if config.daily_anomaly_score > 0:
            day, before = _daily_scores(s, cs, score, config)
            rising, held = _daily_anomaly(day, before, config)
        self.hours[-1][5] = (cs, gs, health, pairs, strength[pairs[:, 0], pairs[:, 1]], rising, held)

        learn = (magnitude < config.learn_below) & ~np.isnan(y)
        if config.daily_anomaly_score > 0 and config.daily_learn_below > 0:
            # A fault that shows in the afternoons only is not learned at night as the unit's normal.
            learn[:, DAILY] &= ~(_zero_nan(day) >= config.daily_learn_below)
        # The EWMA's own healthy spread: residuals are autocorrelated (weather the ambient proxy
        # misses, operating points the model fits imperfectly), so the iid formula understates it.
        rate = 1 / config.spread_hours
        kept = s.ewma_spread[cs]
        s.ewma_spread[cs] = np.where(learn, kept + rate * (np.abs(ewma) - kept), kept)
        some = learn.any(axis=1)
        if some.any():
            _learn(s, cs[some], xc[some], (y - offset)[some], learn[some], config)

    def _queue(self, hour: int, owners: Ints, sensors: Ints, shifts: Floats) -> None:
        """Keep what this hour's prognoses of the (compressor, sensor) pairs read (`_settle` projects
        them later): each pair's copy of its compressor's rings of `_trend_rings` and reference (the
        rings' hours relative to this hour), its sensor, shift and limits."""
        s = self.state
        warning, critical, side = self.limits
        inputs: dict[str, Any] = {"ref": s.ref[owners]}
        for prefix, _, _ in _trend_rings(self.config):
            for name in (f"{prefix}_start", f"{prefix}_n", f"{prefix}_values"):
                inputs[name] = s.arrays[name][owners]
            inputs[f"{prefix}_hours"] = s.arrays[f"{prefix}_hours"][owners] - hour
        inputs["sensor"], inputs["shift"] = sensors, shifts
        inputs["warning"], inputs["critical"] = warning[owners, sensors], critical[owners, sensors]
        inputs["side"] = side[owners, sensors]
        self.queue.append(inputs)
        self.queued += len(owners)

    def _prognoses(self) -> list[Floats | None]:
        """The queued pairs' prognoses (`_power_prognoses`, `_prognosis`), `_PROGNOSIS_BATCH` pairs at a
        time whatever their hours: a state of one row per pair, each at hour 0 (a pair's values do not
        depend on the others projected with it)."""
        config = self.config
        if not self.queue:
            return []
        copied = HealthState(0, config)
        copied.arrays = {name: np.concatenate([q[name] for q in self.queue]) for name in self.queue[0]}
        pairs = len(copied.arrays["sensor"])
        sensors, shifts = copied.arrays["sensor"], copied.arrays["shift"]
        limits = (copied.arrays["warning"], copied.arrays["critical"], copied.arrays["side"])
        rows = np.arange(pairs)
        found = np.full((pairs, 6), np.nan)
        trend = np.zeros(pairs, dtype=bool)
        decided = np.zeros(pairs, dtype=bool)
        if config.prognosis == "power":
            for lo in range(0, pairs, _PROGNOSIS_BATCH):
                chunk = slice(lo, lo + _PROGNOSIS_BATCH)
                given = (limits[0][chunk], limits[1][chunk], limits[2][chunk])
                found[chunk], trend[chunk], decided[chunk] = _power_prognoses(
                    copied, rows[chunk], sensors[chunk], 0, shifts[chunk], given, config
                )
        out: list[Floats | None] = []
        for p, j in enumerate(sensors.tolist()):
            if decided[p]:
                out.append(found[p] if trend[p] else None)
            else:
                given1 = (float(limits[0][p]), float(limits[1][p]), float(limits[2][p]))
                out.append(_prognosis(copied, p, j, 0, float(shifts[p]), given1, config))
        return out

    def _settle(self) -> None:
        """The queued prognoses, then the warnings of every hour since the last settling, in order from
        the warnings as they were then (a maintenance event clears them where it came)."""
        s, config = self.state, self.config
        etas = self._prognoses()
        for name, kept in self.warnings.items():
            s.arrays[name][...] = kept
        p = 0
        critical = self.limits[1]
        for hour, cs, gs, hit, again, judged in self.hours:
            if hit is not None:
                _clear_warnings(s, hit)
            # Warnings stay active through hours that are not judged (a stop does not clear them).
            self.anomaly[gs], self.prediction[gs] = s.anomaly[cs], s.predicted[cs]
            if again is not None:
                _clear_warnings(s, again)
            if judged is None:
                continue
            cs, gs, health, pairs, strength, rising, held = judged
            predicted = np.zeros(len(cs), dtype=bool)
            trending = np.zeros(len(cs), dtype=bool)
            for (k, j), size in zip(pairs.tolist(), strength.tolist(), strict=True):
                eta = etas[p]
                p += 1
                if eta is not None:
                    c = int(cs[k])
                    trending[k] |= bool(size >= config.trend_anomaly_score)
                    self.etas[:, j, gs[k]] = eta
                    horizon_eta = eta[0] if math.isnan(critical[c, j]) else eta[3]
                    predicted[k] |= bool(horizon_eta <= config.prediction_horizon_hours)
            self._warn(hour, cs, gs, health, predicted, trending, rising, held)
        self.hours, self.queue, self.queued = [], [], 0
        self.warnings = {name: s.arrays[name].copy() for name in _WARNINGS}

    def _warn(
        self,
        hour: int,
        cs: Ints,
        gs: Ints,
        health: Floats,
        predicted: Bools,
        trending: Bools,
        rising: Bools | None,
        held: Bools | None,
    ) -> None:
        """A judged hour's warnings: `predicted` and `trending` from its prognoses, `rising` and `held`
        from its `DAILY` sensors' day (`_daily_anomaly`)."""
        s, config = self.state, self.config
        s.predicting[cs] = np.where(predicted, s.predicting[cs] + 1, 0)
        if config.prediction_window_hours > 0:
            # A projection that comes back: a fouling's crossing is projected in its afternoons only
            # (the day's swing hides its trend at night), a passing excursion's once.
            hits = cs[predicted]
            kept_hours = s.predicted_hours[hits]
            kept_hours[:, :-1] = kept_hours[:, 1:]  # (the oldest dropped)
            kept_hours[:, -1] = hour
            s.predicted_hours[hits] = kept_hours
            recent = s.predicted_hours[cs, 0] > hour - config.prediction_window_hours
            s.predicted[cs] = predicted & recent
        else:
            s.predicted[cs] = s.predicting[cs] >= config.prediction_hours
        self.prediction[gs] = s.predicted[cs]

        below, above = s.below[cs], s.above[cs]
        low, high = health < config.anomaly_health, health >= config.clear_health
        below = np.where(low, below + 1, np.where(high, 0, below))
        above = np.where(low, 0, np.where(high, above + 1, above))
        s.below[cs], s.above[cs] = below, above
        anomaly = s.anomaly[cs] | (below >= config.anomaly_hours)
        if config.trend_anomaly_score > 0:
            s.trending[cs] = np.where(trending, s.trending[cs] + 1, 0)
            anomaly |= s.trending[cs] >= config.trend_anomaly_hours
        anomaly &= ~(above >= config.clear_hours)
        if rising is not None and held is not None:
            # A fault that shows each afternoon and grows day over day is held through the night.
            anomaly |= rising | (s.anomaly[cs] & held)
        s.anomaly[cs] = anomaly
        self.anomaly[gs] = anomaly


def _daily_scores(state: HealthState, cs: Ints, score: Floats, config: HealthConfig) -> tuple[Floats, Floats]:
    """Push this hour's scores of the `DAILY` sensors and return, per compressor and such sensor, their
    `daily_quantile` over the last `daily_hours` judged hours and over the `daily_hours` that ended
    `daily_lag_hours` judged hours ago (NaN until that many are held).

    A cooler fouling's temperature rise is largest in the afternoon heat: its hourly score climbs each
    afternoon and falls back at night, so a rule on consecutive hours starts again every day, while the
    day's upper quantile grows day over day."""
    day = config.daily_hours
    size = day + config.daily_lag_hours
    at = _push(state, cs, "daily", size)
    state.daily_scores[cs, at] = _zero_nan(score[:, DAILY])
    n = state.daily_n[cs]
    start = state.daily_start[cs]
    # both windows' positions in the flattened ring, hour by hour: (day, 2, compressors) for the last
    # `day` and those ending `daily_lag_hours` ago
    first = np.stack([n - day, n - size])
    rows = (start + np.maximum(first + np.arange(day)[:, None, None], 0)) % size + cs * size
    sensors = state.daily_scores.shape[2]
    held = state.daily_scores.reshape(-1, sensors)[rows]  # (day, 2, compressors, sensors)
    both = _quantile(held.reshape(day, -1), config.daily_quantile).reshape(2, len(cs), sensors)
    recent, previous = both[0], both[1]
    recent[n < day] = np.nan
    previous[n < size] = np.nan
    return recent, previous


def _quantile(values: Floats, q: float) -> Floats:
    """`np.quantile(values, q, axis=0)` (its "linear" method, bit for bit but for the sign of a zero) by a
    partition around the two ranks it interpolates: half the cost on the day's few values, and half again
    along the first axis (the day's hours: (hours, columns) here) than along rows of the day."""
    index = (values.shape[0] - 1) * q
    lo = math.floor(index)
    hi = min(lo + 1, values.shape[0] - 1)
    gamma = index - lo
    part = np.partition(values, [lo, hi] if hi != lo else lo, axis=0)
    a, b = part[lo], part[hi]
    step = b - a
    return np.asarray(b - step * (1 - gamma) if gamma >= 0.5 else a + step * gamma)


_LARGEST = np.finfo(np.float64).max


def _zero_nan(values: Floats) -> Floats:
    """`np.nan_to_num(values)` (NaN to 0, ±inf to the largest finite values) in three ufunc calls: the
    NumPy function's own checks cost several times as much on an hour's few values."""
    out: Floats = np.where(np.isnan(values), 0.0, values)
    np.maximum(out, -_LARGEST, out=out)
    np.minimum(out, _LARGEST, out=out)
    return out


def _daily_anomaly(day: Floats, before: Floats, config: HealthConfig) -> tuple[Bools, Bools]:
    """From the day's score of the `DAILY` sensors (upper quantile over the day's judged hours): which
    compressors rise to an anomaly (at `daily_anomaly_score` and up by `daily_growth` on the same score
    `daily_lag_hours` earlier), and which hold one (still at `daily_hold` × that score)."""
    level = np.nan_to_num(day)
    growth = np.nan_to_num(day - before, nan=-np.inf)
    rising = np.asarray(((level >= config.daily_anomaly_score) & (growth >= config.daily_growth)).any(axis=1))
    held = np.asarray((level >= config.daily_hold * config.daily_anomaly_score).any(axis=1))
    return rising, held


# The vectorised screens below pass a superset of what the exact per-compressor test accepts (their
# sums may differ from its in the last bits), so the decision stays the per-compressor one.
_SLACK = 1e-9


def _may_step(state: HealthState, cs: Ints, candidates: Bools, config: HealthConfig) -> Bools:
    """Which compressors `_absorb_steps` may absorb a step of this hour (a screen over all at once:
    the window's best split, its step against the line fit, with slack; windows of each length
    together). A window shorter than two `step_min_after` or with a missing value is left alone there
    too."""
    if config.daily_step_confirm_hours > 0:
        _daily_steps(state, cs, candidates, config)
    after = config.step_min_after
    held = state.z_n[cs]
    maybe: Bools = candidates.any(axis=1) & (held >= 2 * after)
    for n in np.unique(held[maybe]).tolist():
        k_rows = np.flatnonzero(maybe & (held == n))
        maybe[k_rows] = _step_screen(state, cs[k_rows], candidates[k_rows], int(n), config)
    return maybe


def _daily_steps(state: HealthState, cs: Ints, candidates: Bools, config: HealthConfig) -> None:
    """The `DAILY` sensors' absorbed steps that did not hold: a fouling's afternoon rise looks like a
    recalibration step up, but its night falls back, day after day; a recalibration holds. A step whose
    sensor's mean z over the last `step_min_after` judged hours (all after its split) is back by
    `daily_step_reverse` of its size within `daily_step_confirm_hours` of its split is taken back
    (`_daily_step_back`); a sensor that took one back is taken out of `candidates` (in place) for
    `daily_step_gap` hours."""
    size, last = config.step_window, config.step_min_after
    hour = state.last_hour[cs][:, None]  # this hour
    step_hour = state.daily_step_hour[cs]
    watched = step_hour > hour - config.daily_step_confirm_hours
    for k, d in np.argwhere(watched).tolist():
        c, j = int(cs[k]), int(_DAILY_SENSORS[d])
        rows = _ring(state.z_start[c], state.z_n[c], size)[-last:]
        if len(rows) < last or state.z_hours[c, rows[0]] <= step_hour[k, d]:
            continue
        step = float(state.daily_step_size[c, d])
        back = math.copysign(1.0, step) * float(np.mean(state.z_values[c, rows, j])) * state.scale[c, j]
        if not back <= -config.daily_step_reverse * abs(step):
            continue
        _daily_step_back(state, c, d, int(hour[k, 0]), config)
    candidates[:, DAILY] &= state.daily_step_until[cs] <= hour


def _daily_step_back(state: HealthState, c: int, d: int, hour: int, config: HealthConfig) -> None:
    """Compressor `c`'s watched step of `DAILY` sensor number `d` did not hold: its offset moves back
    from the step's hour on (the budget it spent stays spent), and no step of that sensor is absorbed for
    `daily_step_gap` hours from `hour`."""
    j, step_hour = int(_DAILY_SENSORS[d]), int(state.daily_step_hour[c, d])
    step = float(state.daily_step_size[c, d])
    rows = _ring(state.z_start[c], state.z_n[c], config.step_window)
    hours = state.z_hours[c, rows]
    # the trend's values since the step older than the z window (the rest: `_move_offset`)
    for prefix, size, sensors in _trend_rings(config):
        if j in sensors:
            trend = _ring(state.arrays[f"{prefix}_start"][c], state.arrays[f"{prefix}_n"][c], size)
            t_hours = state.arrays[f"{prefix}_hours"][c, trend]
            column = int(np.flatnonzero(sensors == j)[0])
            state.arrays[f"{prefix}_values"][
                c, trend[(t_hours >= step_hour) & (t_hours < hours[0])], column
            ] += step
    first = int(np.searchsorted(hours, step_hour))
    _move_offset(state, c, j, -step, first, config, config.ewma_lambda)
    state.daily_step_hour[c, d] = NEVER
    state.daily_step_until[c, d] = hour + config.daily_step_gap


def _step_screen(state: HealthState, cs: Ints, candidates: Bools, n: int, config: HealthConfig) -> Bools:
    """`_may_step` for compressors whose windows hold `n` judged hours: each candidate sensor's window
    on its own (a row of `n` values)."""
    after = config.step_min_after
    size = config.step_window
    rows = (state.z_start[cs][:, None] + np.arange(n)) % size + (cs * size)[:, None]
    window = state.z_values.reshape(-1, 6)[rows]  # (k, n, 6), oldest first
    owner, sensor = np.nonzero(candidates)
    z = window[owner, :, sensor]  # (pairs, n)
    t = np.arange(n, dtype=np.float64) - (n - 1) / 2
    centred = z - z.mean(axis=1, keepdims=True)
    slope = centred @ t / (t @ t)
    sse_line = ((centred - slope[:, None] * t) ** 2).sum(axis=1)
    splits = np.arange(after, n - 1)
    c1, c2 = np.cumsum(z, axis=1), np.cumsum(z * z, axis=1)
    head, head2 = c1[:, splits - 1], c2[:, splits - 1]
    tail, tail2 = c1[:, -1:] - head, c2[:, -1:] - head2
    sse_splits = np.nan_to_num((head2 - head**2 / splits) + (tail2 - tail**2 / (n - splits)), nan=np.inf)
    jumps = tail / (n - splits) - head / splits
    allowed = (splits >= n - _max_after(config)) & (splits <= n - after)
    inside = np.where(allowed, sse_splits, np.inf)
    here = inside.min(axis=1)
    jump = jumps[np.arange(len(z)), np.argmin(inside, axis=1)]
    best = sse_splits.min(axis=1)
    with np.errstate(invalid="ignore"):
        at_split = (here <= best + _SLACK * (np.abs(best) + 1)) | (n == 2 * after)
        stepped = (
            at_split
            & np.isfinite(here)
            & (here < config.step_ratio * sse_line + _SLACK * (np.abs(sse_line) + 1))
            & (np.abs(jump) >= config.step_min_z * (1 - _SLACK))
        )
    out: Bools = np.zeros(len(cs), dtype=bool)
    out[owner[stepped]] = True
    out &= ~np.isnan(window).any(axis=(1, 2))
    return out


def _max_after(config: HealthConfig) -> int:
    """How old (judged hours) a step may be when it is decided: `step_max_after`, within the window."""
    return max(config.step_min_after, min(config.step_max_after, config.step_window - config.step_min_after))


def _may_trend(
    state: HealthState, cs: Ints, sensors: Ints, side: Floats, hour: int, config: HealthConfig
) -> Bools:
    """Which (compressor, sensor) pairs `_prognosis` may find a trend for (a screen over all at once:
    enough values, and the line's slope towards the limit, with slack)."""
    if len(cs) == 0:
        return np.zeros(0, dtype=bool)
    size = config.trend_hours
    at, held = _window(state, cs, "trend", size)
    at = at + (cs * size)[:, None]
    values = state.trend_values.reshape(-1)[at * 6 + sensors[:, None]]
    seen = held & ~np.isnan(values)
    count = seen.sum(axis=1)
    t = np.where(seen, (state.trend_hours.reshape(-1)[at] - hour) / size, 0.0)
    v = np.where(seen, state.ref[cs, sensors][:, None] * (1 + np.where(seen, values, 0.0)), 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        t_mean = t.sum(axis=1) / count
        v_mean = v.sum(axis=1) / count
        dt = np.where(seen, t - t_mean[:, None], 0.0)
        dv = np.where(seen, v - v_mean[:, None], 0.0)
        sxx = (dt * dt).sum(axis=1)
        slope = (dt * dv).sum(axis=1) / sxx
        sse = ((dv - slope[:, None] * dt) ** 2).sum(axis=1)
        se = np.sqrt(sse / (count - 2) / sxx)
        trend = side * slope * (1 + 1e-6) + _SLACK >= config.trend_t * se
    return np.asarray((count >= config.trend_min_points) & (trend | ~np.isfinite(se) | (se <= 0)), dtype=bool)


def _standardized(center: Floats, spread: Floats, x: Floats) -> Floats:
    """Features (one row or many) centred and scaled by the warm-up's, the constant kept at 1."""
    xc = (x - center) / spread
    xc[..., CONST] = 1.0
    return xc


def _learn(state: HealthState, cs: Ints, xc: Floats, y: Floats, learn: Bools, config: HealthConfig) -> None:
    """Add this hour to the sensors allowed to learn from it (older hours fade by `forgetting`).

    Every entry is updated (unmasked: a masked ufunc is about twice as slow) and the few that do not
    learn are put back as they were; on a view of the run of rows from the first compressor to the last
    when `cs` fills at least half of it (its rows not in `cs` learn nothing), else on a copy."""
    rows, at = _rows(cs)
    if at is not None:
        xc, y, learn = _spread(xc, at), _spread(y, at), _spread(learn, at)
    skip = np.flatnonzero(~learn)  # (compressor, sensor) pairs, flattened
    f = config.forgetting
    for name, add in (
        ("xtx", xc[:, None, :, None] * xc[:, None, None, :]),  # (k, 1, F, F)
        ("xty", y[:, :, None] * xc[:, None, :]),
    ):
        field = state.arrays[name]
        part = field[rows]  # a view of a run of compressors, else a copy
        pairs = part.reshape(-1, *field.shape[2:])  # (a view)
        kept = pairs[skip]
        np.multiply(part, f, out=part)  # the same arithmetic as `part * f + add`, in place
        np.add(part, add, out=part)
        pairs[skip] = kept
        if not isinstance(rows, slice):
            field[rows] = part
    state.learned[cs] += 1
    refit = cs[state.learned[cs] % config.refit_hours == 0]
    if len(refit):
        state.coef[refit] = _solve(state, refit, config)


def _rows(cs: Ints) -> tuple[Ints | slice, Ints | None]:
    """`cs` (ascending, distinct) as the slice of rows from its first to its last (a view, not a copy)
    when it fills at least half of them, with each one's position there (None when it fills them all);
    else `cs` itself."""
    if not len(cs):
        return cs, None
    first, size = int(cs[0]), int(cs[-1]) - int(cs[0]) + 1
    if size > 2 * len(cs):
        return cs, None
    return slice(first, first + size), None if size == len(cs) else cs - first


def _spread(values: npt.NDArray[Any], at: Ints) -> npt.NDArray[Any]:
    """`values` (one row per compressor) at positions `at` (ascending) of a run of rows, zeros (False)
    elsewhere."""
    out = np.zeros((int(at[-1]) + 1, *values.shape[1:]), dtype=values.dtype)
    out[at] = values
    return out


def _design_sizes() -> tuple[tuple[Ints, Ints, Ints, Ints], ...]:
    """Per number of features, the sensors whose design has that many, their features (sensors,
    features), and where each sensor's block lies in a compressor's flattened normal equations: `xtx`'s
    (sensors, features, features) and `xty`'s (sensors, features), the same for `prior` and `coef`."""
    out = []
    for size in sorted({len(cols) for cols in DESIGN}):
        js = np.array([j for j in range(6) if len(DESIGN[j]) == size])
        cols = np.array([DESIGN[j] for j in js])
        block = (js[:, None, None] * FEATURES + cols[:, :, None]) * FEATURES + cols[:, None, :]
        out.append((js, cols, block, js[:, None] * FEATURES + cols))
    return tuple(out)


# The sensors whose designs have as many features: `_solve` solves each size's systems in one call
# (LAPACK solves each system of a stack on its own: the same values as one by one), their blocks
# gathered from each compressor's flattened normal equations by one index.
_DESIGN_SIZES = _design_sizes()
# each sensor's xtx[CONST, CONST] in a compressor's flattened normal equations
_CONST_DIAGONAL = np.arange(6) * FEATURES * FEATURES + CONST * (FEATURES + 1)


def _solve(state: HealthState, cs: Ints, config: HealthConfig) -> Floats:
    """Ridge towards the prior (in standardized units), the intercept free, per compressor of `cs`."""
    k = len(cs)
    coef = np.zeros((k, 6 * FEATURES))
    spread = state.spread[cs]
    given = state.prior[cs]
    prior = (given * spread[:, None, :]).reshape(k, -1)
    has_prior = np.any(given != 0, axis=(1, 2))  # without one, a plain ridge
    pull = np.where(has_prior[:, None], config.prior_hours * (PRIOR_SPAN / spread) ** 2, 0.0)
    xtx, xty = state.xtx[cs].reshape(k, -1), state.xty[cs].reshape(k, -1)
    ridge = config.ridge * xtx[:, _CONST_DIAGONAL]  # (compressors, sensors)
    for js, cols, block, at in _DESIGN_SIZES:
        # each sensor's block of its normal equations: (compressors, sensors, features, features)
        a = xtx[:, block]
        penalty = ridge[:, js, None] + pull[:, cols]
        penalty[:, :, 0] = 0.0  # the intercept (CONST, each design's first feature)
        diagonal = np.arange(cols.shape[1])
        a[:, :, diagonal, diagonal] += penalty
        b = xty[:, at] + penalty * prior[:, at]
        coef[:, at] = np.linalg.solve(a, b[..., None])[..., 0]
    return coef.reshape(k, 6, FEATURES)


def _fit_warmup(state: HealthState, cs: Ints, config: HealthConfig) -> None:
    """Fit the warm-ups of the compressors `cs` (each holding a full warm-up), all at once: every step
    is the per-compressor arithmetic stacked over compressors (the same values, bit for bit)."""
    n = int(state.warm_n[cs[0]])
    x = state.warm_x[cs, :n]  # (compressors, hours, FEATURES): copies
    y = state.warm_y[cs, :n]
    _fit_levels(state, cs, config, x, y)
    # A sensor recalibrated during the warm-up: its residuals step once. The later level is its
    # reference (an offset, as for a step seen after the warm-up) and the fit is done again.
    xc = _standardized(state.center[cs, None], state.spread[cs, None], x)
    residuals = y - xc @ state.coef[cs].transpose(0, 2, 1)
    for i, j, k, jump in _warmup_steps(residuals, x, config):
        c = cs[i]
        state.offset[c, j] = jump
        state.absorbed[c, j] = abs(jump)
        y[i, k:, j] -= jump
        if j in FEATURE_OF:
            x[i, k:, FEATURE_OF[j]] -= jump
    again = state.offset[cs].any(axis=1)
    if again.any():
        _fit_levels(state, cs[again], config, x[again], y[again])
    _fit_scales(state, cs, config, x, y)


def _warmup_steps(residuals: Floats, x: Floats, config: HealthConfig) -> list[tuple[int, int, int, float]]:
    """Per compressor and sensor with a recalibration-sized step (its row in `residuals` (compressors,
    hours, 6), the sensor, the hour where the step starts, its size). A step that comes with a load
    change (flow or horsepower moving by a recalibration's size) is not one. The split's fit is tested
    over all at once; the few that pass it, one by one."""
    n = residuals.shape[1]
    margin = 2 * config.step_min_after
    if n < 3 * margin:
        return []
    c1, c2 = np.cumsum(residuals, axis=1), np.cumsum(residuals**2, axis=1)
    k = np.arange(margin, n - margin)[:, None]
    head, head2 = c1[:, k[:, 0] - 1], c2[:, k[:, 0] - 1]
    tail, tail2 = c1[:, -1:] - head, c2[:, -1:] - head2
    sse = (head2 - head**2 / k) + (tail2 - tail**2 / (n - k))  # (compressors, splits, 6)
    total = c2[:, -1] - c1[:, -1] ** 2 / n
    best = np.argmin(sse, axis=1)  # (compressors, 6)
    fits = np.take_along_axis(sse, best[:, None], axis=1)[:, 0] < (1 - config.step_ratio) * total
    if not fits.any():
        return []
    noise = np.median(np.abs(np.diff(residuals, axis=1)), axis=1) / (0.6745 * math.sqrt(2))
    out = []
    near = config.step_min_after
    for i, j in zip(*np.nonzero(fits), strict=True):
        split = int(k[best[i, j], 0])
        jump = float(residuals[i, split:, j].mean() - residuals[i, :split, j].mean())
        load = [column for sensor, column in ((FLOW, LFLOW), (HP, LHP)) if sensor != j]
        moved = np.abs(
            x[i][split : split + near, load].mean(axis=0) - x[i][split - near : split, load].mean(axis=0)
        )
        if (
            np.all(moved < RECALIBRATION_MIN)
            and abs(jump) >= 2 * config.step_min_z * max(noise[i, j], config.scale_floor)
            and abs(jump) <= config.max_step
        ):
            out.append((int(i), int(j), split, jump))
    return out


def _fit_levels(state: HealthState, cs: Ints, config: HealthConfig, x: Floats, y: Floats) -> None:
    center = x.mean(axis=1)
    center[:, CONST] = 0.0
    spread = np.maximum(x.std(axis=1), SPREAD_FLOOR)
    spread[:, CONST] = 1.0
    state.center[cs], state.spread[cs] = center, spread
    xc = _standardized(center[:, None], spread[:, None], x)
    xtx = np.einsum("kni,knj->kij", xc, xc)
    state.xtx[cs] = xtx[:, None]
    state.xty[cs] = np.einsum("kni,knj->kji", xc, y)
    state.coef[cs] = _solve(state, cs, config)


def _fit_scales(state: HealthState, cs: Ints, config: HealthConfig, x: Floats, y: Floats) -> None:
    xc = _standardized(state.center[cs, None], state.spread[cs, None], x)
    residuals = y - xc @ state.coef[cs].transpose(0, 2, 1)
    mad = np.median(np.abs(residuals - np.median(residuals, axis=1)[:, None]), axis=1) * 1.4826
    state.scale[cs] = scale = np.maximum(mad * config.scale_inflation, config.scale_floor)
    # The EWMA's healthy spread starts from the warm-up's own residuals run through the EWMA: they
    # are autocorrelated (weather the ambient proxy misses, loads fitted imperfectly), which the iid
    # formula (the floor) ignores.
    lam = config.ewma_lambda
    ewma = np.zeros((len(cs), 6))
    sizes = []
    z = np.clip(residuals / scale[:, None], -config.z_clip, config.z_clip)
    for k in range(z.shape[1]):
        ewma = (1 - lam) * ewma + lam * z[:, k]
        if k >= 1 / lam:
            sizes.append(np.abs(ewma))
    iid = MEAN_ABS * math.sqrt(lam / (2 - lam))
    state.ewma_spread[cs] = np.maximum(np.mean(sizes, axis=0), iid) if sizes else iid
    state.fitted[cs] = True
    state.learned[cs] = x.shape[1]
    state.warm_n[cs] = 0
    state.warm_x[cs], state.warm_y[cs] = 0.0, 0.0


def _absorb_steps(state: HealthState, c: int, candidates: Bools, config: HealthConfig, lam: float) -> None:
    """Absorb an abrupt, recalibration-sized step into the offset of the sensor that made it.

    Decided `step_min_after` to `step_max_after` hours after the step: for a candidate sensor, the
    window's best two-level split must lie there and beat a straight line through the window by far
    (a ramp fits a line), and the jump must be clear of noise; once absorbed, the step is gone from
    the window's z, so it is not absorbed twice. A recalibrated sensor that is also a feature
    (flow, horsepower) moves the residuals of the sensors it predicts too, so the culprit is the
    sensor whose step best explains the jumps of all six (a small fault-isolation step); its offset
    takes the step if it is no larger than a recalibration, the features are corrected, and the
    recent z and EWMAs are recomputed. A window with a missing value waits for a clean one."""
    after = config.step_min_after
    rows = _ring(state.z_start[c], state.z_n[c], config.step_window)
    z = state.z_values[c, rows]  # (n, 6), oldest first
    n = len(z)
    if n < 2 * after or np.isnan(z).any():
        return
    mean = z.mean(axis=0)
    t = np.arange(n, dtype=np.float64) - (n - 1) / 2
    slope = t @ (z - mean) / (t @ t)
    sse_line = ((z - mean - slope[None, :] * t[:, None]) ** 2).sum(axis=0)
    # Each sensor's best split; it must be `step_min_after` to `step_max_after` hours old: a step seen
    # before it is complete is left for a later hour, and a noisy one gets more hours to show.
    splits = np.arange(after, n - 1)
    k = splits[:, None]
    c1, c2 = np.cumsum(z, axis=0), np.cumsum(z * z, axis=0)
    head, head2 = c1[splits - 1], c2[splits - 1]
    tail, tail2 = c1[-1] - head, c2[-1] - head2
    sse_splits = (head2 - head**2 / k) + (tail2 - tail**2 / (n - k))
    best_split = splits[np.argmin(np.nan_to_num(sse_splits, nan=np.inf), axis=0)]  # (6,)
    at_split = (best_split >= n - _max_after(config)) & (best_split <= n - after)
    found: list[tuple[int, int, Floats]] = []  # (sensor, split, every sensor's jump there)
    for j in np.flatnonzero(candidates & at_split).tolist():
        split = int(best_split[j])
        before_z, after_z = z[:split], z[split:]
        jump = after_z.mean(axis=0) - before_z.mean(axis=0)
        sse_step = float(((before_z[:, j] - before_z[:, j].mean()) ** 2).sum())
        sse_step += float(((after_z[:, j] - after_z[:, j].mean()) ** 2).sum())
        if sse_step < config.step_ratio * sse_line[j] and abs(jump[j]) >= config.step_min_z:
            found.append((j, split, jump))
    if not found:
        return
    best: tuple[float, int, float, int] | None = None
    for candidate, split, jump in found:
        effect = _step_effect(state, c, candidate)  # z jump of each sensor per unit of relative shift
        shift = float(effect @ jump / (effect @ effect))
        misfit = float(np.sum((jump - shift * effect) ** 2))
        if best is None or misfit < best[0]:
            best = (misfit, candidate, shift, split)
    assert best is not None
    _, culprit, delta, split = best
    # Recalibrations are rare: a sensor whose steps come and go (a daily swing) spends the budget fast.
    if abs(delta) > config.max_step or state.absorbed[c, culprit] + abs(delta) > config.max_absorbed:
        return
    if DAILY[culprit] and config.daily_step_confirm_hours > 0:
        # A step while another is watched joins it (a fouling's rise can come in two): both are taken
        # back together from the newest's split, watched from there.
        d = _DAILY_INDEX[culprit]
        watched = state.daily_step_hour[c, d] > state.last_hour[c] - config.daily_step_confirm_hours
        state.daily_step_size[c, d] = delta + (state.daily_step_size[c, d] if watched else 0.0)
        state.daily_step_hour[c, d] = state.z_hours[c, rows[split]]
    state.absorbed[c, culprit] += abs(delta)
    _move_offset(state, c, culprit, delta, split, config, lam)


def _move_offset(
    state: HealthState, c: int, sensor: int, delta: float, split: int, config: HealthConfig, lam: float
) -> None:
    """Move compressor `c`'s offset of `sensor` by `delta` from row `split` of its z window on: its
    feature (flow, horsepower) is corrected there, and the window's z, the EWMAs and the trend's values
    at the reference operating point are recomputed as if the offset had moved at that hour."""
    state.offset[c, sensor] += delta
    rows = _ring(state.z_start[c], state.z_n[c], config.step_window)
    n = len(rows)
    feature = FEATURE_OF.get(sensor)
    rings = [
        (prefix, sensors, _ring(state.arrays[f"{prefix}_start"][c], state.arrays[f"{prefix}_n"][c], size))
        for prefix, size, sensors in _trend_rings(config)
    ]
    coef, offset, scale = state.coef[c], state.offset[c], state.scale[c]
    for row in range(split, n):
        at = rows[row]
        if feature is not None:
            state.z_x[c, at, feature] -= delta
        xc = _standardized(state.center[c], state.spread[c], state.z_x[c, at].copy())
        new = (state.z_y[c, at] - coef @ xc - offset) / scale
        old = state.z_values[c, at]
        change = np.clip(old, -config.z_clip, config.z_clip) - np.clip(new, -config.z_clip, config.z_clip)
        state.ewma[c] -= np.nan_to_num(change) * lam * (1 - lam) ** (n - 1 - row)
        state.z_values[c, at] = new
        # The trend's values at the reference operating point lose the step too.
        level = state.z_y[c, at] - (coef @ xc - coef[:, CONST]) - offset
        for prefix, sensors, trend in rings:
            same = np.flatnonzero(state.arrays[f"{prefix}_hours"][c, trend] == state.z_hours[c, at])
            if len(same):
                state.arrays[f"{prefix}_values"][c, trend[same[0]]] = level[sensors]


def _step_effect(state: HealthState, c: int, culprit: int) -> Floats:
    """Jump in each sensor's z when sensor `culprit` reads higher by a relative 1 (log units)."""
    scale, coef, spread = state.scale[c], state.coef[c], state.spread[c]
    effect = np.zeros(6)
    effect[culprit] = 1 / scale[culprit]
    feature = FEATURE_OF.get(culprit)
    if feature is not None:
        effect -= coef[:, feature] / spread[feature] / scale
        effect[culprit] = 1 / scale[culprit] - coef[culprit, feature] / spread[feature] / scale[culprit]
    return effect


def _prognosis(
    state: HealthState,
    c: int,
    j: int,
    hour: int,
    shift: float,
    limits: tuple[float, float, float],
    config: HealthConfig,
) -> Floats | None:
    """Hours to the warning and critical limits with 80 % ranges, or None without a trend to them.

    A trend exists when a least-squares line through the recent values at the reference operating
    point rises towards the limit with a slope t-statistic of `trend_t`. Its shape (`prognosis`):
    "power" (the default) is `_power_prognoses`'s, for all pairs at once; this one projects the pairs
    it cannot fit (no fit growing towards the limit) and the other shapes: "parabola" — a parabola
    when its curvature towards the limit is significant (`curve_t`), else the line, the range
    spanning both; "line".

    NaN where no crossing is projected within PROGNOSIS_HOURS, and for a limit the metric is already
    beyond (the threshold alert covers a crossed limit: a projection "in 0 h" says nothing); the
    range's late end is NaN where it is not bounded within them."""
    rows = _ring(state.trend_start[c], state.trend_n[c], config.trend_hours)
    values = state.trend_values[c, rows, j]
    hours = state.trend_hours[c, rows].astype(np.float64) - hour
    seen = ~np.isnan(values)
    if seen.sum() < config.trend_min_points:
        return None
    ref = float(state.ref[c, j])
    t, v = hours[seen] / config.trend_hours, ref * (1 + values[seen])  # t in windows
    warning, critical, side = limits
    design = np.stack([np.ones_like(t), t, t * t], axis=1)
    line = _least_squares(design[:, :2], v)
    if line is None or side * line[0][1] < config.trend_t * math.sqrt(line[1][1, 1]):
        return None
    horizon = PROGNOSIS_HOURS / config.trend_hours
    # the central curve's value now, and every curve's projected mean over the horizon and 1.28
    # standard errors of it (curves, horizon), the central one first
    # (the power shape is `_power_prognoses`'s: a pair it could not fit comes here for the parabola)
    fits = [line]
    parabola = _least_squares(design, v) if config.prognosis != "line" else None
    if parabola is not None and side * parabola[0][2] > 0:
        curved = side * parabola[0][2] >= config.curve_t * math.sqrt(parabola[1][2, 2])
        fits = [parabola, line] if curved else [line, parabola]
    g = np.stack([np.ones_like(horizon), horizon, horizon**2], axis=1)
    means, bands = [], []
    for coef, cov in fits:
        gk = g[:, : len(coef)]
        bands.append(1.2816 * np.sqrt(np.einsum("ni,ij,nj->n", gk, cov, gk)))
        means.append(gk @ coef)
    curves = (float(fits[0][0][0]), np.array(means), np.array(bands))
    out = np.full(6, np.nan)
    for base, limit in ((0, warning), (3, critical)):
        if np.isnan(limit):
            continue
        target = limit - ref * shift  # the limit seen from the reference operating point
        now, mean, band = curves
        if side * (now - target) >= 0:
            continue  # already beyond it
        out[base] = _first(side * (mean[:1] - target) >= 0)[0]
        early = _first(side * (mean + side * band - target) >= 0)
        late = _first(side * (mean - side * band - target) >= 0)
        if not np.isnan(early).all():
            out[base + 1] = np.nanmin(early)
        if not np.isnan(late).any():
            out[base + 2] = late.max()
    return out


POWER_EXPONENTS = np.array([1.0, 1.5, 2.0, 2.5, 3.0])
# The sensors whose power shape is fitted over the last `prognosis_hours` (the others' over the trend's
# window): the vibration, whose wear begins before the trend window at the first warning and has no
# daily swing; the long fit was late for a fouling's temperature (its daily mean hardly moves while
# its afternoons grow) and for a valve leakage's warning crossing on the tuning seeds (session 13).
LONG_FIT = np.array([VIB])
_PROGNOSIS_BATCH = 64  # (compressor, sensor) pairs projected at once (about 10 MB of curves)


def _power_prognoses(
    state: HealthState,
    cs: Ints,
    sensors: Ints,
    hour: int,
    shifts: Floats,
    limits: tuple[Floats, Floats, Floats],
    config: HealthConfig,
) -> tuple[Floats, Bools, Bools]:
    """`_prognosis` with the "power" shape for many (compressor, sensor) pairs at once: the hours
    (pairs, 6), whether each has a trend, and whether it was decided here (not where the power fit is
    unusable: `_prognosis` then falls back to the parabola and line, per pair).

    The trend: a line through the last `trend_hours` with a slope t-statistic of `trend_t` towards the
    limit. The shape: wear that starts at some hour t0 and grows as a power k of the time since,
    v = b + a·h, h = max(t − t0, 0)^k, fitted over the trend's window, the vibration's (`LONG_FIT`)
    over the last `prognosis_hours` (the hours before a wear's onset anchor its level), for 10 onsets
    (`prognosis_onsets_before` windows before the window to 80 % across it) and exponents 1–3, linear
    in (b, a) for each. Every fit the
    residuals cannot tell from the best (its extra squared error within the 80 % χ² bound for two
    parameters, the residual variance inflated for the residuals' autocorrelation:
    `_autocorrelation_factor`) spans the 80 % range, each with its ± 1.28 standard-error band; the
    central crossing is their median weighted by each fit's likelihood (`prognosis_central`)."""
    trend_ring, long_ring = _trend_rings(config)
    t, v, seen, n = _trend_window(state, cs, sensors, hour, trend_ring)
    enough = n >= config.trend_min_points
    count = np.maximum(n, 3).astype(np.float64)
    ref = state.ref[cs, sensors]
    side = limits[2]
    # The line: its slope's t-statistic towards the limit decides whether there is a trend.
    st, stt, sv, stv = t.sum(axis=1), (t * t).sum(axis=1), v.sum(axis=1), (t * v).sum(axis=1)
    a = np.stack([np.stack([count, st], axis=-1), np.stack([st, stt], axis=-1)], axis=-2)
    with np.errstate(all="ignore"):
        conditioned = np.linalg.cond(a) <= 1e12
        inverse = np.linalg.inv(np.where(conditioned[:, None, None], a, np.eye(2)))
        coef = np.einsum("pij,pj->pi", inverse, np.stack([sv, stv], axis=1))
        residual = np.where(seen, v - coef[:, :1] - coef[:, 1:] * t, 0.0)
        sigma2_line = (residual**2).sum(axis=1) / (count - 2)
        line_se = np.sqrt(inverse[:, 1, 1] * sigma2_line)
    trend = enough & conditioned & (sigma2_line > 0) & ~(side * coef[:, 1] < config.trend_t * line_se)
    # The shape: over the trend's window; the vibration's over the last `prognosis_hours` (`LONG_FIT`).
    out, fitted = np.full((len(cs), 6), np.nan), np.zeros(len(cs), dtype=bool)
    long = np.isin(sensors, LONG_FIT) & (config.prognosis_hours != config.trend_hours)
    short, far = np.flatnonzero(trend & ~long), np.flatnonzero(trend & long)
    for k, window in (
        (short, (t[short], v[short], seen[short], n[short])),
        (far, _trend_window(state, cs[far], sensors[far], hour, long_ring)),
    ):
        if len(k):
            given = (limits[0][k], limits[1][k], side[k])
            out[k], fitted[k] = _power_fit(*window, ref[k] * shifts[k], given, config)
    return out, trend, ~trend | fitted


def _power_fit(
    t: Floats,
    v: Floats,
    seen: Bools,
    n: Ints,
    shifts: Floats,
    limits: tuple[Floats, Floats, Floats],
    config: HealthConfig,
) -> tuple[Floats, Bools]:
    """`_power_curves` over one window (`t` in windows before now, (pairs, hours)): v = b + a·h,
    h = max(t − t0, 0)^k, for onsets t0 from `prognosis_onsets_before` windows before the window's
    first seen hour to 80 % across it (linear in b and a for each onset and exponent)."""
    pairs, size = seen.shape
    count, sv = np.maximum(n, 3).astype(np.float64), v.sum(axis=1)
    first = np.argmax(seen, axis=1)
    last = size - 1 - np.argmax(seen[:, ::-1], axis=1)
    t0, t1 = t[np.arange(pairs), first], t[np.arange(pairs), last]
    across = np.linspace(-config.prognosis_onsets_before, 0.8, POWER_ONSETS)
    onsets = t0[:, None] + across[None, :] * (t1 - t0)[:, None]
    return _power_curves(t, v, seen, count, sv, onsets, shifts, limits, config)


def _power_curves(
    t: Floats,
    v: Floats,
    seen: Bools,
    count: Floats,
    sv: Floats,
    onsets: Floats,
    shifts: Floats,
    limits: tuple[Floats, Floats, Floats],
    config: HealthConfig,
) -> tuple[Floats, Bools]:
    """The power shape's projections (`_power_prognoses`) of the values `v` at times `t` (in windows of
    n hours before now; (pairs, n), where `seen`, 0 elsewhere; `count` is their number, at least 3,
    and `sv` their sum) from the `onsets` (pairs, onsets), towards the limits
    seen from the reference operating point (`shifts`: the reading minus its value there): the hours
    (pairs, 6), and which pairs have a usable fit (a curve growing towards the limit, residuals left)."""
    pairs, size = seen.shape
    out = np.full((pairs, 6), np.nan)
    warning, critical, side = limits
    w = seen.astype(np.float64)
    lag = np.clip(t[:, None, :] - onsets[:, :, None], 0, None)  # (pairs, onsets, n)
    h = lag[:, None, :, :] ** POWER_EXPONENTS[None, :, None, None]  # (pairs, exponents, onsets, n)
    h = (h * w[:, None, None, :]).reshape(pairs, -1, size)  # (pairs, curves, n), 0 where unseen
    v_mean = sv / count
    vc = np.where(seen, v - v_mean[:, None], 0.0)
    # XᵀX and Xᵀv of the columns (1, h) from sums over the window: Σ 1, Σh, Σh², and Σh·v (v centred,
    # so Σv is 0)
    sh, shv, shh = h @ w[:, :, None], h @ vc[:, :, None], (h * h) @ w[:, :, None]
    xtx = np.concatenate([np.broadcast_to(count[:, None, None], sh.shape), sh, sh, shh], axis=-1)
    xtx = xtx.reshape(*h.shape[:2], 2, 2)
    xty = np.concatenate([np.zeros_like(shv), shv], axis=-1)
    with np.errstate(all="ignore"):
        unscaled = np.linalg.inv(xtx + 1e-12 * np.eye(2))  # (XᵀX)⁻¹; a singular one is unsolvable below
        # the 1-norm condition number (an SVD per fit costs more than the fits)
        norm = np.abs(xtx).sum(axis=-2).max(axis=-1) * np.abs(unscaled).sum(axis=-2).max(axis=-1)
        solvable = np.isfinite(norm) & (norm <= 1e12)
        fit = (unscaled @ xty[..., None])[..., 0]
        sse = np.maximum((vc * vc).sum(axis=1)[:, None] - (fit * xty).sum(axis=-1), 0.0)
    usable = solvable & (side[:, None] * fit[..., 1] > 0)
    sse = np.where(usable, sse, np.inf)
    best = np.argmin(sse, axis=1)
    best_sse = sse[np.arange(pairs), best]
    sigma2 = best_sse / (count - 2)
    fitted = usable.any(axis=1) & (sigma2 > 0)
    live = np.flatnonzero(fitted)
    if not len(live):
        return out, fitted
    sigma2[live] *= _autocorrelation_factor(h[live, best[live]], fit[live, best[live]], vc[live], seen[live])
    # every fit the residuals cannot tell from the best: (its pair among `live`, its curve)
    owner, curve = np.nonzero(sse[live] <= (best_sse + CHI2_2DOF_80 * sigma2)[live][:, None])
    pair = live[owner]
    exponent = np.repeat(POWER_EXPONENTS, onsets.shape[1])[curve]
    start = onsets[pair, curve % onsets.shape[1]]
    ahead = np.r_[0.0, PROGNOSIS_HOURS / size]
    future = (ahead[None, :] - start[:, None]) ** exponent[:, None]
    coef = fit[pair, curve]
    cov = unscaled[pair, curve]
    mean = v_mean[pair][:, None] + coef[:, :1] + coef[:, 1:] * future
    with np.errstate(all="ignore"):
        # the variance of b + a·h over the horizon, (XᵀX)⁻¹ (1, h)·(1, h)
        spread = (cov[:, 1, 1][:, None] * future[:, 1:] + 2 * cov[:, 0, 1][:, None]) * future[:, 1:]
        band = 1.2816 * np.sqrt(sigma2[pair][:, None] * np.maximum(spread + cov[:, 0, 0][:, None], 0.0))
    firsts = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])  # each live pair's first row
    is_best = curve == best[pair]
    if config.prognosis_central == "weighted":
        with np.errstate(all="ignore"):
            weight = np.exp(-(sse[pair, curve] - best_sse[pair]) / (2 * sigma2[pair]))
    else:
        weight = is_best.astype(np.float64)
    total = np.add.reduceat(weight, firsts)
    now = np.full(pairs, np.nan)
    now[live] = np.add.reduceat(weight * mean[:, 0], firsts) / total
    towards = side[pair][:, None] * mean[:, 1:]  # the curves towards the limit's side
    half = 0.5 * (1 - 1e-12) * total[:, None]
    for base, limit in ((0, warning), (3, critical)):
        target = limit - shifts
        open_ = ~np.isnan(limit[live]) & ~(side[live] * (now[live] - target[live]) >= 0)
        gap = towards - (side * target)[pair][:, None]
        early = _first(gap >= -band)
        late = _first(gap >= band)
        # the weighted median of the curves' crossings: the first horizon by which half the weight
        # has crossed (each curve grows towards the limit, so once crossed it stays)
        central = _first(np.add.reduceat(weight[:, None] * (gap >= 0), firsts) >= half)
        low = np.minimum.reduceat(np.where(np.isnan(early), np.inf, early), firsts)
        high = np.maximum.reduceat(late, firsts)  # NaN (unbounded) if any is
        out[live, base] = np.where(open_ & np.isfinite(central), central, np.nan)
        out[live, base + 1] = np.where(open_ & np.isfinite(low), low, np.nan)
        out[live, base + 2] = np.where(open_, high, np.nan)
    return out, fitted


def _autocorrelation_factor(h: Floats, fit: Floats, vc: Floats, seen: Bools) -> Floats:
    """How much more the best fit's residual variance says about the fits than independent hours would:
    (1 + ρ) / (1 − ρ), ρ the lag-1 autocorrelation of its residuals (over the window's neighbouring
    judged hours), in [0, MAX_AUTOCORRELATION]. A daily swing the operating point does not explain,
    or weather the ambient proxy misses, holds the residuals of neighbouring hours together: the iid
    χ² bound then keeps only the fits that follow the window's last hours (a fouling's one afternoon
    bump) and projects them."""
    residual = np.where(seen, vc - fit[:, :1] - fit[:, 1:] * h, 0.0)
    both = seen[:, 1:] & seen[:, :-1]
    with np.errstate(all="ignore"):
        rho = (residual[:, 1:] * residual[:, :-1] * both).sum(axis=1) / (residual * residual).sum(axis=1)
    rho = np.clip(np.nan_to_num(rho), 0.0, MAX_AUTOCORRELATION)
    factor: Floats = (1 + rho) / (1 - rho)
    return factor


MAX_AUTOCORRELATION = 0.9  # the variance inflation at most 19×
POWER_ONSETS = 10  # candidate onsets (`prognosis_onsets_before` windows before the window to 80 % across it)
CHI2_2DOF_80 = 3.219  # 80 % quantile of χ² with two degrees of freedom


def _trend_rings(config: HealthConfig) -> tuple[tuple[str, int, Ints], ...]:
    """The rings of values at the reference operating point: their prefix, size and sensors (a column
    each): the trend's (every sensor, `trend_hours`) and the long fit's (`LONG_FIT`, `prognosis_hours`)."""
    return (("trend", config.trend_hours, np.arange(6)), ("long", config.prognosis_hours, LONG_FIT))


def _window(state: HealthState, cs: Ints, prefix: str, size: int) -> tuple[Ints, Bools]:
    """Each compressor's positions in ring `prefix` (of `size` rows), oldest first (len(cs), size), and
    which hold a row (the first ones)."""
    offsets = np.arange(size)
    rows = (state.arrays[f"{prefix}_start"][cs][:, None] + offsets) % size
    return rows, offsets < state.arrays[f"{prefix}_n"][cs][:, None]


def _trend_window(
    state: HealthState, cs: Ints, sensors: Ints, hour: int, ring: tuple[str, int, Ints]
) -> tuple[Floats, Floats, Bools, Ints]:
    """The judged hours a ring of `_trend_rings` holds (it holds the `sensors`) of each (compressor,
    sensor) pair's value at the reference operating point: their times in windows of the ring's size
    before `hour` and values, 0 where not `seen` ((pairs, hours) each), and how many are seen."""
    prefix, hours, held_sensors = ring
    rows, held = _window(state, cs, prefix, hours)
    columns = np.searchsorted(held_sensors, sensors)  # (the ring's sensors ascending, a column each)
    values = state.arrays[f"{prefix}_values"][cs[:, None], rows, columns[:, None]]
    seen = held & ~np.isnan(values)
    ref = state.ref[cs, sensors]
    t = np.where(seen, (state.arrays[f"{prefix}_hours"][cs[:, None], rows] - hour) / hours, 0.0)
    v = np.where(seen, ref[:, None] * (1 + np.where(seen, values, 0.0)), 0.0)
    return t, v, seen, seen.sum(axis=1)


def _first(reached: Bools) -> Floats:
    """Per curve (curves, horizon): the first horizon (hours) where it has reached its limit, NaN if
    none within PROGNOSIS_HOURS."""
    at = np.argmax(reached, axis=1)
    return np.where(reached[np.arange(len(at)), at], PROGNOSIS_HOURS[at], np.nan)


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
    return pooled_prior(warmups(series, config))


def warmups(
    series: list[tuple[Ints, Floats, Ints | None, Floats | None]], config: HealthConfig | None = None
) -> list[tuple[Floats, Floats]]:
    """Each compressor's warm-up rows (features, levels), demeaned, in `series`' order (those with fewer
    than two rows left out): what `pooled_prior` pools. A fleet may be given a batch of compressors at a
    time (a compressor's warm-up depends on its own readings only)."""
    config = config or HealthConfig()
    state = HealthState(len(series), config)
    if series:
        fleet_step(
            np.concatenate([np.full(len(t), c, dtype=np.int64) for c, (t, *_) in enumerate(series)]),
            np.concatenate([np.asarray(t, dtype=np.int64) for t, *_ in series]),
            np.concatenate([np.asarray(v, dtype=np.float64).reshape(6, -1) for _, v, *_ in series], axis=1),
            state=state,
            ambient=[None if h is None or a is None else (h, a) for _, _, h, a in series],
            config=config,
            fit=False,
        )
    out = []
    for c in range(len(series)):
        x = state.warm_x[c, : state.warm_n[c]]
        y = state.warm_y[c, : state.warm_n[c]]
        if len(x) < 2:
            continue
        out.append((x - x.mean(axis=0), y - y.mean(axis=0)))
    return out


def pooled_prior(rows: list[tuple[Floats, Floats]]) -> Floats:
    """The least-squares coefficients (no intercept) over the demeaned warm-up rows of `warmups`; zeros
    (no prior) without any."""
    prior = np.zeros((6, FEATURES))
    if not rows:
        return prior
    x, y = np.concatenate([r[0] for r in rows]), np.concatenate([r[1] for r in rows])
    for j in range(6):
        cols = _MASK[j].copy()
        cols[CONST] = False
        a = x[:, cols]
        prior[j, cols] = np.linalg.lstsq(a, y[:, j], rcond=None)[0]
    return prior
