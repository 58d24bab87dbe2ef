"""The realistic scenario (`--scenario realistic`, SPEC §9): a fleet that behaves like a real one, for
judging early warning honestly.

Healthy units change load (setpoint steps of flow within ±20 %, with a 1-hour ramp, pressures and
horsepower following), follow their station's ambient temperature (a daily cycle of 10–20 °F peak to
peak, multi-day weather and a slow seasonal drift), stop now and then for hours, drift slowly, and
now and then have a sensor recalibrated (a step of 2–5 %). Failures of the five modes of SPEC §9 start
at onsets drawn per seed across the run (a Poisson process, `FAILURES_PER_COMPRESSOR_MONTH`), grow
gradually or accelerating for the mode's onset → failure range, and end in a failure: the unit stops,
a failure maintenance event is logged, and after the repair it runs again on a healthy baseline,
possibly a new one. The truth (compressor_id, mode, onset_at, failure_at) is returned as a table; the
CLI writes it to $ALTAVIZ_DATA_DIR/truth/failures.parquet, which the pipeline never reads.

What a stopped unit reads (decided from how the instruments behave): flow and horsepower fall to the
meters' zero offset (about 0.3 % of flow, 1 % of horsepower, never exactly zero so silver does not
take them for stuck), vibration to a background of 10 % of running, the discharge temperature cools
towards ambient + 20 °F with a 1.5-hour time constant (and warms back the same way after a start),
suction rises and discharge falls towards settle-out pressure with a 20-minute time constant.

Everything is planned once per run (a few small arrays per compressor and station) and each 24-hour
chunk is computed with NumPy over (sensors, times, compressors), like the default scenario; the
events touching a chunk are applied as slices, so the cost grows with rows, not with events.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import numpy as np
import pyarrow as pa

from altaviz.simulator.arrays import Floats, Ints
from altaviz.simulator.config import MINUTES_PER_DAY
from altaviz.simulator.fleet import EMERGENCY_TEAMS, Fleet, MaintenanceEvent
from altaviz.simulator.readings import SPIKE_DOWN, SPIKE_PROBABILITY, SPIKE_UP, Rows
from altaviz.simulator.streams import Stream, rng
from altaviz.simulator.timeline import Timeline

VIB, TEMP, SUC, DIS, HP, FLOW = range(6)

FAILURES_PER_COMPRESSOR_MONTH = 0.05  # "several failures per 100 compressors a month"
# mode -> (onset → failure range in days, description of the failure maintenance event)
MODES: dict[str, tuple[tuple[float, float], str]] = {
    "bearing_wear": ((5, 21), "Bearing failure: high vibration"),
    "valve_leakage": ((3, 14), "Valve failure: leaking compressor valve"),
    "cooler_fouling": ((10, 30), "Cooler fouled: high discharge temperature"),
    "seal_leak": ((4, 14), "Rod packing leak: lost throughput"),
    "driver_misfire": ((2, 7), "Driver misfire: power loss"),
}
MODE_NAMES: tuple[str, ...] = tuple(MODES)
REPAIR_HOURS = (12.0, 48.0)  # downtime after a failure
NEW_BASELINE_SHARE = 0.5  # repairs that leave the unit on a new healthy baseline
NEW_BASELINE_SPREAD = 0.04  # relative, per sensor

# Relative measurement noise per sensor (vibration, temperature, suction, discharge, HP, flow).
NOISE = np.array([0.05, 0.01, 0.01, 0.01, 0.015, 0.02])

LOAD_BLOCK_HOURS = 6  # a setpoint may change at the start of each block
LOAD_CHANGE_PROBABILITY = 0.25
LOAD_SPREAD, LOAD_LIMIT = 0.08, 0.20
LOAD_RAMP_MINUTES = 60.0
# How each sensor follows load L (relative to 1): value × (1 + k·(L − 1)); temperature adds °F.
LOAD_SENSITIVITY = np.array([0.3, 0.0, -0.25, 0.2, 0.7, 1.0])
TEMP_PER_LOAD = 25.0  # °F per unit of load
TEMP_PER_AMBIENT = 0.8  # °F of discharge temperature per °F of ambient

AMBIENT_MEAN_F = 75.0
SEASONAL_AMPLITUDE_F = 12.0  # Texas: coldest around mid-January, hottest around mid-July
DAILY_AMPLITUDE_F = (5.0, 10.0)  # half the day's swing
WEATHER_SIGMA_F, WEATHER_HOURS = 5.0, 36.0  # AR(1) weather: stationary sd and correlation time
HOTTEST_HOUR = 15.0  # local solar afternoon, in UTC-6 ≈ 21:00 UTC

STOPS_PER_DAY = 0.1
STOP_HOURS = (2.0, 12.0)
TEMP_TAU_MINUTES, PRESSURE_TAU_MINUTES = 90.0, 20.0
STOPPED_LEVEL = np.array([0.10, np.nan, 1.3, 0.55, 0.01, 0.003])  # share of running; temp separately

RECALIBRATIONS_PER_DAY = 1 / 60
RECALIBRATION_STEP = (0.02, 0.05)
DRIFT_PER_MONTH = 0.01  # slow vibration drift of a healthy unit (wear), up to this share a month


@dataclass(frozen=True)
class Failure:
    compressor: int
    mode: str
    onset: float  # minutes since start
    failure: float
    repaired: float
    exponent: float  # shape: progress ** exponent (1 gradual, >1 accelerating)
    magnitude: tuple[float, ...]  # mode-specific parameters, see _apply_failure


@dataclass(frozen=True)
class Plan:
    station: Ints  # (compressors,) station index
    levels: Floats  # (compressors, load blocks) load setpoint per block
    ambient: Floats  # (stations, hours + 2) ambient deviation from the run's seasonal mean at start, °F
    drift: Floats  # (compressors,) vibration drift per minute
    failures: tuple[Failure, ...]
    stops: tuple[tuple[int, float, float], ...]  # (compressor, start, end) minutes, incl. repairs
    recalibrations: tuple[tuple[int, int, float, float], ...]  # (compressor, sensor, minute, factor)
    renewals: tuple[tuple[int, float, Floats], ...]  # (compressor, minute, baseline factors)


def plan(seed: int, fleet: Fleet, timeline: Timeline) -> Plan:
    count = len(fleet.compressors)
    minutes = timeline.readings * timeline.interval_minutes
    days = minutes / MINUTES_PER_DAY
    stations = sorted({c.station.station_id for c in fleet.compressors})
    station = np.array([stations.index(c.station.station_id) for c in fleet.compressors], dtype=np.int64)

    failures: list[Failure] = []
    stops: list[tuple[int, float, float]] = []
    recalibrations: list[tuple[int, int, float, float]] = []
    renewals: list[tuple[int, float, Floats]] = []
    blocks = int(minutes // (LOAD_BLOCK_HOURS * 60)) + 2
    levels = np.empty((count, blocks))
    drift = np.empty(count)
    rate = FAILURES_PER_COMPRESSOR_MONTH / 30 / MINUTES_PER_DAY  # per minute
    for c in range(count):
        draw = rng(seed, Stream.REALISTIC_PLAN, c)
        # Load: a new setpoint at the start of a block with some probability, else the previous one.
        change = draw.random(blocks) < LOAD_CHANGE_PROBABILITY
        change[0] = True
        new = 1 + np.clip(draw.normal(0, LOAD_SPREAD, blocks), -LOAD_LIMIT, LOAD_LIMIT)
        levels[c] = new[np.maximum.accumulate(np.where(change, np.arange(blocks), 0))]
        drift[c] = draw.uniform(0, DRIFT_PER_MONTH) / (30 * MINUTES_PER_DAY)
        # Failures: exponential waiting times while healthy; the next one only after the repair.
        t = 0.0
        while True:
            t += draw.exponential(1 / rate)
            if t >= minutes:
                break
            mode = MODE_NAMES[int(draw.integers(len(MODE_NAMES)))]
            (low, high), _ = MODES[mode]
            duration = draw.uniform(low, high) * MINUTES_PER_DAY
            repair = draw.uniform(*REPAIR_HOURS) * 60
            exponent, magnitude = _failure_shape(mode, draw)
            failures.append(Failure(c, mode, t, t + duration, t + duration + repair, exponent, magnitude))
            stops.append((c, t + duration, t + duration + repair))
            if draw.random() < NEW_BASELINE_SHARE:
                renewals.append((c, t + duration + repair, 1 + draw.normal(0, NEW_BASELINE_SPREAD, 6)))
            t += duration + repair
        # Stops of hours, recalibration steps.
        for _ in range(int(draw.poisson(STOPS_PER_DAY * days))):
            begin = draw.uniform(0, minutes)
            stops.append((c, begin, begin + draw.uniform(*STOP_HOURS) * 60))
        for _ in range(int(draw.poisson(RECALIBRATIONS_PER_DAY * days))):
            sensor, at = int(draw.integers(6)), draw.uniform(0, minutes)
            step = draw.uniform(*RECALIBRATION_STEP) * (1 if draw.random() < 0.5 else -1)
            recalibrations.append((c, sensor, at, 1 + step))

    hours = int(minutes // 60) + 2
    ambient = np.empty((len(stations), hours))
    start_hour = timeline.start.hour + timeline.start.minute / 60
    hour_of_day = (start_hour + np.arange(hours)) % 24
    doy = timeline.start.timetuple().tm_yday + np.arange(hours) / 24
    seasonal = -SEASONAL_AMPLITUDE_F * np.cos(2 * math.pi * (doy - 15) / 365.25)
    phi = math.exp(-1 / WEATHER_HOURS)
    for s in range(len(stations)):
        draw = rng(seed, Stream.REALISTIC_PLAN, 1_000_000 + s)
        amplitude = draw.uniform(*DAILY_AMPLITUDE_F, hours // 24 + 2)
        daily = np.repeat(amplitude, 24)[:hours] * np.cos(2 * math.pi * (hour_of_day - HOTTEST_HOUR - 6) / 24)
        shocks = draw.normal(0, WEATHER_SIGMA_F * math.sqrt(1 - phi**2), hours)
        shocks[0] = draw.normal(0, WEATHER_SIGMA_F)
        weather = _ar1(shocks, phi)
        ambient[s] = daily + weather + seasonal - seasonal[0]
    return Plan(
        station, levels, ambient, drift, tuple(failures), tuple(stops), tuple(recalibrations), tuple(renewals)
    )


def _ar1(shocks: Floats, phi: float) -> Floats:
    out = np.empty_like(shocks)
    value = 0.0
    for i, shock in enumerate(shocks):
        value = phi * value + shock
        out[i] = value
    return out


def _failure_shape(mode: str, draw: np.random.Generator) -> tuple[float, tuple[float, ...]]:
    """Exponent of the progress curve and the magnitudes reached at failure (SPEC §9's table)."""
    accelerating = draw.uniform(2.0, 3.0)
    gradual_or_accelerating = 1.0 if draw.random() < 0.5 else draw.uniform(1.5, 2.5)
    a, b, c = draw.random(3)
    if mode == "bearing_wear":  # vibration ×2.5–4, slowly then accelerating; temperature +5–15 °F late
        return accelerating, (2.5 + 1.5 * a, 5 + 10 * b)
    if mode == "valve_leakage":  # temperature +30–70 °F; flow −10–25 %; horsepower per unit flow up
        return gradual_or_accelerating, (30 + 40 * a, 0.10 + 0.15 * b, 0.02 + 0.04 * c)
    if mode == "cooler_fouling":  # +1–4 °F a day, most in the afternoon heat
        return 1.0 + 0.3 * a, (1 + 3 * b,)
    if mode == "seal_leak":  # flow −10–30 %; suction up slightly
        return gradual_or_accelerating, (0.10 + 0.20 * a, 0.02 + 0.04 * b)
    # driver misfire: horsepower drops and oscillates; vibration up, flow down
    return gradual_or_accelerating, (0.10 + 0.15 * a, 0.3 + 0.7 * b, 0.05 + 0.10 * c)


def generate_chunk(plan_: Plan, fleet: Fleet, timeline: Timeline, seed: int, chunk: int) -> Rows:
    """All readings of one 24-hour chunk, in the same order and layout as the default scenario."""
    lo, hi = timeline.chunk_bounds(chunk)
    count = len(fleet.compressors)
    step = timeline.interval_minutes
    t = np.arange(lo, hi, dtype=np.float64) * step  # minutes since start, (times,)
    base = np.broadcast_to(fleet.baselines.T[:, None, :], (6, hi - lo, count)).copy()
    for c, at, factors in plan_.renewals:
        after = t >= at
        if after.any():
            base[:, after, c] *= factors[:, None]

    # Operating point: load (setpoint blocks with a ramp) and the station's ambient.
    block_minutes = LOAD_BLOCK_HOURS * 60
    block = (t // block_minutes).astype(np.int64)
    ramp = np.clip((t - block * block_minutes) / LOAD_RAMP_MINUTES, 0, 1)[:, None]
    current = plan_.levels[:, block].T
    previous = plan_.levels[:, np.maximum(block - 1, 0)].T
    load = previous + (current - previous) * ramp  # (times, compressors)
    hour = t / 60
    h0 = np.floor(hour).astype(np.int64)
    frac = (hour - h0)[:, None]
    ambient_station = plan_.ambient[:, h0].T * (1 - frac) + plan_.ambient[:, h0 + 1].T * frac
    ambient = ambient_station[:, plan_.station]  # (times, compressors)

    values = base * (1 + LOAD_SENSITIVITY[:, None, None] * (load - 1)[None])
    values[TEMP] = base[TEMP] + TEMP_PER_LOAD * (load - 1) + TEMP_PER_AMBIENT * ambient
    values[VIB] *= 1 + plan_.drift[None, :] * t[:, None]

    for failure in plan_.failures:
        if failure.onset < t[-1] + step and failure.failure > t[0]:
            _apply_failure(values, base, t, failure, timeline)

    _apply_stops(values, base, ambient, t, plan_.stops)
    for c, sensor, at, factor in plan_.recalibrations:
        after = t >= at
        if after.any():
            values[sensor, after, c] *= factor

    _add_noise(values, rng(seed, Stream.REALISTIC_NOISE, chunk))
    order = fleet.id_order
    if order is None:
        order = np.arange(count)
    else:
        values = np.take(values, order, axis=2)
    return Rows(
        compressor=np.tile(order, hi - lo),
        reading=np.repeat(np.arange(lo, hi, dtype=np.int64), count),
        values=np.ascontiguousarray(values.reshape(6, -1)),
    )


def _apply_failure(values: Floats, base: Floats, t: Floats, f: Failure, timeline: Timeline) -> None:
    inside = (t >= f.onset) & (t < f.failure)
    if not inside.any():
        return
    c = f.compressor
    tt = t[inside]
    p = (tt - f.onset) / (f.failure - f.onset)
    g = p**f.exponent
    v = values[:, inside, c]
    m = f.magnitude
    if f.mode == "bearing_wear":
        v[VIB] *= 1 + (m[0] - 1) * g
        v[TEMP] += m[1] * p**4
    elif f.mode == "valve_leakage":
        v[TEMP] += m[0] * g
        v[FLOW] *= 1 - m[1] * g
        v[HP] *= 1 + m[2] * g
    elif f.mode == "cooler_fouling":
        days = (tt - f.onset) / MINUTES_PER_DAY
        start_hour = timeline.start.hour + timeline.start.minute / 60
        local = (start_hour + tt / 60 - 6) % 24
        afternoon = 1 + 0.6 * np.cos(2 * math.pi * (local - HOTTEST_HOUR) / 24)
        v[TEMP] += m[0] * days**f.exponent * afternoon
    elif f.mode == "seal_leak":
        v[FLOW] *= 1 - m[0] * g
        v[SUC] *= 1 + m[1] * g
    else:  # driver_misfire: power falls and swings with a period of about three hours
        v[HP] *= (1 - m[0] * g) * (1 + 0.5 * m[0] * g * np.sin(2 * math.pi * tt / 180))
        v[VIB] *= 1 + m[1] * g
        v[FLOW] *= 1 - m[2] * g
    values[:, inside, c] = v


def _apply_stops(
    values: Floats, base: Floats, ambient: Floats, t: Floats, stops: tuple[tuple[int, float, float], ...]
) -> None:
    """Stopped units read the meters' zero offsets; temperatures and pressures relax with their time
    constants while stopped and recover the same way after the start."""
    first, last = t[0], t[-1]
    horizon = 6 * TEMP_TAU_MINUTES
    for c, begin, end in stops:
        if begin > last or end + horizon < first:
            continue
        during = (t >= begin) & (t < end)
        after = (t >= end) & (t < end + horizon)
        for sensor in (VIB, HP, FLOW):
            values[sensor, during, c] = base[sensor, during, c] * STOPPED_LEVEL[sensor]
        for sensor, tau in (
            (TEMP, TEMP_TAU_MINUTES),
            (SUC, PRESSURE_TAU_MINUTES),
            (DIS, PRESSURE_TAU_MINUTES),
        ):
            if sensor == TEMP:
                rest = AMBIENT_MEAN_F + 20 + ambient[:, c]
            else:
                rest = base[sensor, :, c] * STOPPED_LEVEL[sensor]
            running = values[sensor, :, c]
            # Share of the way to the resting value: grows while stopped, decays after the start.
            reached_at_end = 1 - math.exp(-(end - begin) / tau)
            share = np.zeros_like(t)
            share[during] = 1 - np.exp(-(t[during] - begin) / tau)
            share[after] = reached_at_end * np.exp(-(t[after] - end) / tau)
            touched = during | after
            values[sensor, touched, c] = (
                running[touched] + (rest[touched] - running[touched]) * share[touched]
            )


def _add_noise(values: Floats, draw: np.random.Generator) -> None:
    """Per-sensor multiplicative Gaussian noise, 1 % spikes ×0.85 or ×1.15, clamp at 0, round 2."""
    noise = draw.standard_normal(values.shape)
    noise *= NOISE[:, None, None]
    noise += 1
    values *= noise
    del noise
    uniform = draw.random(values.shape, dtype=np.float32).reshape(-1)
    spiked = np.flatnonzero(uniform < SPIKE_PROBABILITY)
    flat = values.reshape(-1)
    flat[spiked] *= np.where(uniform[spiked] < SPIKE_PROBABILITY / 2, SPIKE_DOWN, SPIKE_UP)
    np.maximum(values, 0, out=values)
    np.round(values, 2, out=values)


def with_failure_events(fleet: Fleet, plan_: Plan, timeline: Timeline, seed: int) -> Fleet:
    """The fleet with the default scenario's failing units cleared and each realistic failure that
    happens within the run logged as a failure maintenance event (at the failure, with its downtime)."""
    events: dict[int, list[MaintenanceEvent]] = {}
    for f in plan_.failures:
        at = timeline.start + timedelta(minutes=f.failure)
        if at > timeline.end:
            continue
        draw = rng(seed, Stream.REALISTIC_PLAN, 2_000_000 + f.compressor, int(f.onset))
        events.setdefault(f.compressor, []).append(
            MaintenanceEvent(
                compressor_id=fleet.compressors[f.compressor].compressor_id,
                performed_at=_whole_seconds(at),
                event_type="failure",
                description=MODES[f.mode][1],
                downtime_hours=round((f.repaired - f.failure) / 60, 2),
                severity="critical",
                cost_usd=round(draw.uniform(15_000, 25_000), 2),
                performed_by=EMERGENCY_TEAMS[int(draw.integers(len(EMERGENCY_TEAMS)))],
            )
        )
    compressors = tuple(
        replace(
            c,
            onset_day=None,
            maintenance=(*(e for e in c.maintenance if e.event_type != "failure"), *events.get(c.index, [])),
        )
        for c in fleet.compressors
    )
    return replace(fleet, compressors=compressors)


def _whole_seconds(at: datetime) -> datetime:
    return at.replace(microsecond=0)


TRUTH_SCHEMA = pa.schema(
    [
        pa.field("compressor_id", pa.string(), nullable=False),
        pa.field("mode", pa.string(), nullable=False),
        pa.field("onset_at", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("failure_at", pa.timestamp("us", tz="UTC"), nullable=False),
    ]
)


def truth_table(fleet: Fleet, plan_: Plan, timeline: Timeline) -> pa.Table:
    """Every failure whose onset lies in the run; failure_at may lie after the last reading."""
    rows = sorted(
        (
            {
                "compressor_id": fleet.compressors[f.compressor].compressor_id,
                "mode": f.mode,
                "onset_at": _whole_seconds(timeline.start + timedelta(minutes=f.onset)),
                "failure_at": _whole_seconds(timeline.start + timedelta(minutes=f.failure)),
            }
            for f in plan_.failures
        ),
        key=lambda r: (r["onset_at"], r["compressor_id"]),
    )
    return pa.Table.from_pylist(rows, schema=TRUTH_SCHEMA)
