"""Early-warning evaluation (issue 19 item 6) on the realistic scenario, three methods side by side:

  (a) thresholds only — today's rules (SPEC §2 warning and critical limits of the six sensors, the
      pressure differential and the smoothed temperature rate; an alert opens on the 2nd consecutive
      violating 10-minute reading and clears after 3 clear ones), computed here directly from the
      simulated readings with those rules (not by running the pipeline: silver's spike flag and the
      alert deadband are not applied, so this slightly over-counts threshold alerts). Alerts opened on
      stopped or just-restarted units are counted apart: they say nothing about failures, and the
      pipeline suppresses them too (state-based suppression, README "Alerts and workflows"). This
      evaluation's rule is the health model's running rule (`running_readings`), a little wider than the
      pipeline's: it leaves out every limit while a unit settles, where the pipeline still judges the
      high limits a start does not cross;
  (b) a plain per-sensor z-score of hourly medians against the compressor's first 48 running hours
      (and again after each corrective maintenance event), warning when any |z| > 4 for 3 running hours;
  (c) altaviz.health (fleet_step over the seed's units at once: operating-point regression, EWMA, step
      absorption, trend prognosis), warning on its anomaly or prediction flag.

Stopped and just-restarted hours are excluded for (b) as for (c).

Figures per method: detection rate (a warning starting between onset and failure) over the failures that
can be judged (onset after the warm-up following the run's start or the last corrective maintenance, and
failure within the run); lead time before the first threshold alert and before the failure (median, 10th
percentile); the issue's two lead targets; false early warnings per 100 healthy compressor-months (a
warning episode starting on a unit with no failure within the next 30 days; healthy time = time outside
onset → repair), broken down by the healthy event each followed (restart within 24 h, recalibration
within 48 h, load step of 5 % or more within 12 h, repair within 14 days — read from the simulator's
plan, which only the evaluation may know); the forecast error at the first warning |projected − actual| /
actual for the time to the first critical threshold alert (and to the first warning alert); CPU per
reading of each method.

    .venv/bin/python bench/early_warning.py                      # the issue's size: 20 seeds × 100 × 60 days
    .venv/bin/python bench/early_warning.py --seeds 3 --compressors 50 --days 30   # quick
    .venv/bin/python bench/early_warning.py --set trend_hours=36  # a variant of the model's settings
    .venv/bin/python bench/early_warning.py --context ambient     # (c) with the proxy, without the prior

Seeds start at --first-seed (default 1). Simulated runs are cached under --cache (one .npz per seed and
size) and reused. The model's settings were tuned on seeds 101-106, so the default seeds are not the
ones it was tuned on.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import tempfile
import time
import zlib
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq

from altaviz.fleet import SENSOR_NAMES
from altaviz.fleet.thresholds import DEFAULT_CLEAR_COUNT, DEFAULT_ON_DELAY, THRESHOLDS_BY_METRIC
from altaviz.health import RESET_EVENT_TYPES, HealthConfig, HealthState, ambient
from altaviz.health.prior import NO_PRIOR, PRIOR_HOURS, organization_prior, prior_hour, step_with_prior
from altaviz.simulator import SimulationConfig, realistic, simulate
from altaviz.simulator.fleet import build_fleet
from altaviz.simulator.timeline import Timeline

START = datetime(2026, 1, 1, tzinfo=UTC)
HOUR = 3600
DAY = 86_400
WARMUP_DAYS = 6.0  # a failure whose onset is this soon after the start or a repair is not judged
FALSE_HORIZON = 30 * DAY


@dataclass
class Unit:
    cid: str
    station: str
    times: np.ndarray
    values: np.ndarray  # (6, n)
    resets: np.ndarray  # epoch seconds of the maintenance events after which the model learns again


@dataclass
class Failure:
    cid: str
    mode: str
    onset: int
    failure: int
    threshold_first: int | None = None  # first threshold alert (warning level) in [onset, failure]
    critical_first: int | None = None  # first critical-level alert in [onset, failure]


@dataclass
class Method:
    name: str
    episodes: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))  # warning starts
    forecast: dict[tuple[str, int], tuple[float, float]] = field(default_factory=dict)  # (cid, t) -> etas


def cache_file(cache: Path, seed: int, compressors: int, days: float) -> Path:
    return cache / f"realistic-v2-s{seed}-c{compressors}-d{days:g}.npz"


def load(seed: int, compressors: int, days: float, cache: Path) -> tuple[list[Unit], list[Failure], int, int]:
    """One seed's realistic run as per-compressor arrays, simulated once and cached under `cache`."""
    path = cache_file(cache, seed, compressors, days)
    if not path.exists():
        _simulate_to(path, seed, compressors, days)
    with np.load(path) as f:
        ids, stations, bounds = f["ids"], f["stations"], f["bounds"]
        times, values, resets = f["times"], f["values"], f["resets"]
        reset_ids, reset_types, truth_ids = f["reset_ids"], f["reset_types"], f["truth_ids"]
        truth_modes, truth_times = f["truth_modes"], f["truth_times"]
        run = f["run"]
    units = [
        Unit(
            str(cid),
            str(station),
            times[lo:hi],
            values[:, lo:hi],
            np.sort(resets[(reset_ids == cid) & np.isin(reset_types, RESET_EVENT_TYPES)]),
        )
        for cid, station, lo, hi in zip(ids, stations, bounds[:-1], bounds[1:], strict=True)
    ]
    failures = [
        Failure(str(cid), str(mode), int(onset), int(failure))
        for cid, mode, (onset, failure) in zip(truth_ids, truth_modes, truth_times.tolist(), strict=True)
    ]
    return units, failures, int(run[0]), int(run[1])


def _simulate_to(path: Path, seed: int, compressors: int, days: float) -> None:
    with tempfile.TemporaryDirectory(prefix="altaviz-ew-") as tmp:
        root = Path(tmp)
        config = SimulationConfig(
            compressors=compressors, days=days, start=START, seed=seed, scenario="realistic"
        )
        result = simulate(config, root / "landing", truth_dir=root / "truth")
        table = pq.read_table(root / "landing" / "readings").sort_by(
            [("compressor_id", "ascending"), ("timestamp", "ascending")]
        )
        fleet = pq.read_table(root / "landing" / "fleet" / "compressors.parquet").to_pylist()
        maintenance = pq.read_table(root / "landing" / "maintenance" / "maintenance.parquet").to_pylist()
        truth = pq.read_table(root / "truth" / "failures.parquet").to_pylist()
    station = {r["compressor_id"]: r["station_id"] for r in fleet}
    ids = table.column("compressor_id").to_numpy(zero_copy_only=False)
    times = pc.cast(table.column("timestamp"), "int64").to_numpy() // 1_000_000
    values = np.stack(
        [table.column(s).to_numpy(zero_copy_only=False).astype(np.float64) for s in SENSOR_NAMES]
    )
    cuts = np.flatnonzero(ids[1:] != ids[:-1]) + 1
    bounds = np.r_[0, cuts, len(ids)]
    unit_ids = ids[bounds[:-1]].astype(str)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial.npz")
    np.savez(
        partial,
        ids=unit_ids,
        stations=np.array([station[c] for c in unit_ids]),
        bounds=bounds,
        times=times,
        values=values,
        resets=np.array([int(e["performed_at"].timestamp()) for e in maintenance], dtype=np.int64),
        reset_ids=np.array([e["compressor_id"] for e in maintenance], dtype=str),
        reset_types=np.array([e["event_type"] for e in maintenance], dtype=str),
        truth_ids=np.array([r["compressor_id"] for r in truth], dtype=str),
        truth_modes=np.array([r["mode"] for r in truth], dtype=str),
        truth_times=np.array(
            [(int(r["onset_at"].timestamp()), int(r["failure_at"].timestamp())) for r in truth],
            dtype=np.int64,
        ).reshape(-1, 2),
        run=np.array([int(result.start.timestamp()), int(result.end.timestamp())]),
    )
    partial.rename(path)


CAUSES = ("restart", "recalibration", "load step", "after repair", "none of these")


def healthy_events(seed: int, compressors: int, days: float) -> dict[str, list[tuple[int, str]]]:
    """Per compressor: (epoch seconds, kind) of the healthy events the scenario planned — restarts
    (stop ends), recalibrations, load steps of 5 % or more, repairs — read from the simulator's own
    plan (the evaluation may know what the model may not), to say what each false warning followed."""
    config = SimulationConfig(
        compressors=compressors, days=days, start=START, seed=seed, scenario="realistic"
    )
    timeline = Timeline(START, config.interval_minutes, config.readings_per_compressor)
    fleet = build_fleet(seed, compressors, timeline)
    plan = realistic.plan(seed, fleet, timeline)
    base = int(START.timestamp())
    out: dict[str, list[tuple[int, str]]] = defaultdict(list)

    def add(c: int, minute: float, kind: str) -> None:
        out[fleet.compressors[c].compressor_id].append((base + int(minute * 60), kind))

    for c, _, end in plan.stops:
        add(c, end, "restart")
    for c, sensor, at, _ in plan.recalibrations:
        add(c, at, f"recalibration {SENSOR_NAMES[sensor]}")
    for f in plan.failures:
        add(f.compressor, f.repaired, "after repair")
    block = realistic.LOAD_BLOCK_HOURS * 60
    for c in range(compressors):
        levels = plan.levels[c]
        for b in np.flatnonzero(np.abs(np.diff(levels)) >= 0.05) + 1:
            add(c, float(b * block), "load step")
    return {k: sorted(v) for k, v in out.items()}


# How long after an event a warning is blamed on it.
CAUSE_HOURS = {"restart": 24, "recalibration": 48, "load step": 12, "after repair": 14 * 24}


def cause_of(t: int, events: list[tuple[int, str]]) -> str:
    """The most recent healthy event a warning at `t` followed closely enough to blame."""
    for at, kind in reversed(events):
        if at > t:
            continue
        family = "recalibration" if kind.startswith("recalibration") else kind
        if t - at <= CAUSE_HOURS[family] * HOUR:
            return family
    return "none of these"


def ambient_proxy(units: list[Unit]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per station, hourly: the pipeline's station ambient proxy (altaviz.health.ambient, the same
    code the health stage runs) over the units' readings. A weather feed would do better."""
    return ambient.ambient_proxy(
        [u.station for u in units], [(u.times, u.values[1], u.values[5]) for u in units]
    )


def threshold_alerts(u: Unit) -> list[tuple[int, str]]:
    """(opening time, level) of each threshold alert episode: SPEC §2 rules on the raw readings."""
    v = u.values
    metrics = {name: v[i] for i, name in enumerate(SENSOR_NAMES)}
    metrics["pressure_differential"] = v[3] - v[2]
    temp = np.nan_to_num(v[1], nan=np.nanmean(v[1]))
    rolling = np.convolve(temp, np.ones(6) / 6, mode="full")[: len(temp)]
    rate = np.full(len(temp), np.nan)
    rate[12:] = rolling[12:] - rolling[6:-6]
    metrics["temp_rate_of_change"] = rate
    out: list[tuple[int, str]] = []
    for name, series in metrics.items():
        t = THRESHOLDS_BY_METRIC[name]
        sign = 1.0 if t.direction == "high" else -1.0
        for level, limit in (("warning", t.warning), ("critical", t.critical)):
            if limit is None:
                continue
            with np.errstate(invalid="ignore"):
                bad = sign * (series - limit) >= 0
            out.extend((int(u.times[i]), level) for i in _openings(bad))
    return sorted(out)


def _openings(bad: np.ndarray) -> list[int]:
    """Indexes where an episode opens (on-delay consecutive violating), closing after clear-count."""
    opens = []
    streak_bad = streak_good = 0
    active = False
    for i, b in enumerate(bad):
        if b:
            streak_bad += 1
            streak_good = 0
            if not active and streak_bad >= DEFAULT_ON_DELAY:
                active = True
                opens.append(i)
        else:
            streak_good += 1
            streak_bad = 0
            if active and streak_good >= DEFAULT_CLEAR_COUNT:
                active = False
    return opens


def zscore_warnings(u: Unit, config: HealthConfig) -> list[int]:
    """(b): z of hourly medians against the first 48 running hours after the start or a repair."""
    keys = u.times // HOUR
    uniq, first = np.unique(keys, return_index=True)
    counts = np.diff(np.r_[first, len(keys)])
    width = int(counts.max())
    grid = np.full((6, len(uniq), width), np.nan)
    grid[:, np.repeat(np.arange(len(uniq)), counts), np.arange(len(keys)) - np.repeat(first, counts)] = (
        u.values
    )
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        med = np.nanmedian(grid, axis=2)
    hours = uniq * HOUR
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        min_flow = np.nanmin(grid[5], axis=1)
    # Running as the health model judges it: the hour's lowest flow above 30 % of the highest so far.
    running = min_flow > config.running_share * np.fmax.accumulate(np.nan_to_num(med[5]))
    settled = np.zeros(len(hours), dtype=bool)
    run = 0
    for i, r in enumerate(running):
        run = run + 1 if r else 0
        settled[i] = run > config.settle_hours
    reset_hours = set((u.resets // HOUR).tolist())
    warnings_at = []
    base: list[np.ndarray] = []
    mean = sd = None
    above = below = 0
    active = False
    for i in range(len(hours)):
        if int(uniq[i]) in reset_hours or (
            i and any(int(uniq[i - 1]) < r <= int(uniq[i]) for r in reset_hours)
        ):
            base, mean, sd, active, above, below = [], None, None, False, 0, 0
        if not settled[i] or np.isnan(med[:, i]).any():
            continue
        if mean is None:
            base.append(med[:, i])
            if len(base) >= 48:
                b = np.array(base)
                mean, sd = b.mean(axis=0), np.maximum(b.std(axis=0), 1e-9)
            continue
        z = np.abs((med[:, i] - mean) / sd)
        if z.max() > 4:
            above += 1
            below = 0
        else:
            below += 1 if z.max() < 2 else 0
            above = 0
        if not active and above >= 3:
            active = True
            warnings_at.append(int(hours[i]))
        if active and below >= 12:
            active = False
    return warnings_at


def prior_for(
    units: list[Unit],
    ambient: dict[str, tuple[np.ndarray, np.ndarray]],
    config: HealthConfig,
    hours: int = PRIOR_HOURS,
) -> tuple[np.ndarray, int]:
    """The pipeline's fleet prior (altaviz.health.prior): the seed's fleet is one organization, its prior
    the pooled warm-ups of the readings before its prior hour (its first hour + `hours`), given from that
    hour on. Returns the prior and that hour (epoch seconds)."""
    first = min(int(u.times[0]) // HOUR for u in units if len(u.times))
    at = prior_hour(first, hours) * HOUR
    series = []
    for u in units:
        a = ambient.get(u.station)
        series.append((u.times, u.values, None if a is None else a[0], None if a is None else a[1]))
    return organization_prior(series, at, config), at


def model_warnings(
    units: list[Unit],
    ambient: dict[str, tuple[np.ndarray, np.ndarray]],
    prior: tuple[np.ndarray, int] | None,
    config: HealthConfig,
) -> dict[str, tuple[list[int], dict[int, tuple[float, float]], list[str]]]:
    """Per unit: warning starts, the projections (critical, warning) at each, and each start's driving
    sensor and flag ("anomaly" or "prediction"). The units are stepped together (fleet_step), as the
    pipeline steps a batch; with a `prior` (coefficients, hour) as the pipeline gives it
    (altaviz.health.prior.step_with_prior)."""
    coefficients, at = prior if prior is not None else (np.zeros((6, 8)), NO_PRIOR)
    out = step_with_prior(
        np.concatenate([np.full(len(u.times), c, dtype=np.int64) for c, u in enumerate(units)]),
        np.concatenate([u.times for u in units]),
        np.concatenate([u.values for u in units], axis=1),
        state=HealthState(len(units), config),
        ambient=[ambient.get(u.station) for u in units],
        resets=[u.resets for u in units],
        prior=np.broadcast_to(coefficients, (len(units), *coefficients.shape)),
        prior_at=np.full(len(units), at, dtype=np.int64),
        config=config,
    )
    with np.errstate(all="ignore"):
        crit_all = np.nanmin(np.where(np.isnan(out.eta_critical), np.inf, out.eta_critical), axis=0)
        warn_all = np.nanmin(np.where(np.isnan(out.eta_warning), np.inf, out.eta_warning), axis=0)
    found = {}
    for c, u in enumerate(units):
        rows = np.flatnonzero(out.compressor == c)
        hour, score = out.hour[rows], out.score[:, rows]
        anomaly, crit, warn = out.anomaly[rows], crit_all[rows], warn_all[rows]
        flag = anomaly | out.prediction[rows]
        starts = np.flatnonzero(flag & ~np.r_[False, flag[:-1]])
        labels = [
            f"{SENSOR_NAMES[int(np.nanargmax(np.abs(np.nan_to_num(score[:, i]))))]} "
            f"{'anomaly' if anomaly[i] else 'prediction'}"
            for i in starts
        ]
        forecasts = {}
        for i in starts:
            # The projection at the warning, or the first one made in the 24 hours after it.
            window = slice(i, min(i + 24, len(crit)))
            first_c = next((x for x in crit[window] if np.isfinite(x)), math.nan)
            first_w = next((x for x in warn[window] if np.isfinite(x)), math.nan)
            forecasts[int(hour[i])] = (first_c, first_w)
        found[u.cid] = ([int(hour[i]) for i in starts], forecasts, labels)
    return found


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else math.nan


NAMES = ("thresholds", "z-score", "health model")


@dataclass
class Tally:
    """Raw results of one or more seeds; `merge` adds another seed's."""

    detected: dict[str, int] = field(default_factory=lambda: dict.fromkeys(NAMES, 0))
    lead_failure: dict[str, list[float]] = field(default_factory=lambda: {n: [] for n in NAMES})
    lead_threshold: dict[str, list[float]] = field(default_factory=lambda: {n: [] for n in NAMES})
    share_of_window: dict[str, list[float]] = field(default_factory=lambda: {n: [] for n in NAMES})
    target_48: dict[str, list[int]] = field(default_factory=lambda: {n: [0, 0] for n in NAMES})
    false: dict[str, int] = field(default_factory=lambda: dict.fromkeys(NAMES, 0))
    false_causes: dict[str, dict[str, int]] = field(
        default_factory=lambda: {n: dict.fromkeys(CAUSES, 0) for n in NAMES}
    )
    false_labels: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    stop_alerts: int = 0
    forecast_err_crit: list[float] = field(default_factory=list)
    forecast_err_warn: list[float] = field(default_factory=list)
    forecast_missing: int = 0
    judged: int = 0
    excluded: int = 0
    in_progress: int = 0
    healthy_seconds: float = 0.0
    by_mode: dict[str, list[int]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys((*NAMES, "simulate"), 0.0))
    readings: int = 0
    details: list[str] = field(default_factory=list)
    seeds: list[int] = field(default_factory=list)

    def merge(self, other: Tally) -> None:
        for name in NAMES:
            self.detected[name] += other.detected[name]
            self.false[name] += other.false[name]
            self.lead_failure[name] += other.lead_failure[name]
            self.lead_threshold[name] += other.lead_threshold[name]
            self.share_of_window[name] += other.share_of_window[name]
            self.target_48[name] = [
                a + b for a, b in zip(self.target_48[name], other.target_48[name], strict=True)
            ]
            for cause, count in other.false_causes[name].items():
                self.false_causes[name][cause] += count
        for label, count in other.false_labels.items():
            self.false_labels[label] += count
        for key, value in other.seconds.items():
            self.seconds[key] += value
        for mode, (d, n) in other.by_mode.items():
            mine = self.by_mode.setdefault(mode, [0, 0])
            mine[0] += d
            mine[1] += n
        self.details += other.details
        self.seeds = sorted(self.seeds + other.seeds)
        self.forecast_err_crit += other.forecast_err_crit
        self.forecast_err_warn += other.forecast_err_warn
        for key in (
            "stop_alerts",
            "forecast_missing",
            "judged",
            "excluded",
            "in_progress",
            "healthy_seconds",
            "readings",
        ):
            setattr(self, key, getattr(self, key) + getattr(other, key))


CONTEXTS = ("none", "ambient", "full")  # what (c) is given beyond each compressor's own readings
CONTEXT_TEXT = {
    "none": "none (each compressor alone: no station ambient proxy, no fleet prior)",
    "ambient": "the station ambient proxy, no fleet prior",
    "full": "the station ambient proxy and the fleet prior as the pipeline gives it (altaviz.health.prior)",
}


def evaluate_seed(job: tuple[int, int, float, HealthConfig, Path, str, float, int]) -> Tally:
    seed, compressors, days, config, cache, context, healthy_share, prior_hours = job
    tally = Tally(seeds=[seed])
    began = time.process_time()
    units, failures, run_start, run_end = load(seed, compressors, days, cache)
    events = healthy_events(seed, compressors, days)
    tally.seconds["simulate"] += time.process_time() - began
    ambient = ambient_proxy(units) if context in ("ambient", "full") else {}
    began = time.process_time()
    prior = prior_for(units, ambient, config, prior_hours) if context == "full" else None
    tally.seconds["health model"] += time.process_time() - began
    per_unit_failures: dict[str, list[Failure]] = defaultdict(list)
    for f in failures:
        per_unit_failures[f.cid].append(f)
    units = [
        u
        for u in units
        # --healthy-share: a quick run judges some of the units without a failure
        if u.cid in per_unit_failures or zlib.crc32(u.cid.encode()) % 1000 < 1000 * healthy_share
    ]
    began = time.process_time()
    model = model_warnings(units, ambient, prior, config)
    tally.seconds["health model"] += time.process_time() - began
    for u in units:
        tally.readings += len(u.times)
        began = time.process_time()
        all_alerts = threshold_alerts(u)
        running = running_readings(u, config)
        index = {int(t): i for i, t in enumerate(u.times)}
        alerts = [(t, lvl) for t, lvl in all_alerts if running[index[t]]]
        tally.stop_alerts += len(all_alerts) - len(alerts)
        tally.seconds["thresholds"] += time.process_time() - began
        began = time.process_time()
        z_starts = zscore_warnings(u, config)
        tally.seconds["z-score"] += time.process_time() - began
        m_starts, forecasts, labels = model[u.cid]
        starts = {"thresholds": sorted({t for t, _ in alerts}), "z-score": z_starts, "health model": m_starts}
        unit_failures = per_unit_failures[u.cid]
        # Healthy time: the run minus onset → repair (failure + 2 days at most).
        span = float(run_end - run_start)
        for f in unit_failures:
            span -= max(0, min(f.failure + 2 * DAY, run_end) - max(f.onset, run_start))
        tally.healthy_seconds += span
        for name, ts in starts.items():
            for k, t in enumerate(ts):
                if any(t <= f.failure <= t + FALSE_HORIZON for f in unit_failures):
                    continue
                tally.false[name] += 1
                cause = cause_of(t, events.get(u.cid, []))
                tally.false_causes[name][cause] += 1
                if name == "health model":
                    tally.false_labels[labels[k]] += 1
                    day = (t - run_start) / DAY
                    tally.details.append(f"false s{seed} {u.cid} day {day:.1f} {labels[k]} ({cause})")
        for f in unit_failures:
            if f.failure > run_end:
                tally.in_progress += 1
                continue
            previous = [int(r) for r in u.resets if r <= f.onset] + [run_start]
            if f.onset - max(previous) < WARMUP_DAYS * DAY:
                tally.excluded += 1
                continue
            tally.judged += 1
            f.threshold_first = next((t for t, _ in alerts if f.onset <= t <= f.failure), None)
            f.critical_first = next(
                (t for t, lvl in alerts if lvl == "critical" and f.onset <= t <= f.failure), None
            )
            mode = tally.by_mode.setdefault(f.mode, [0, 0])
            mode[1] += 1
            for name, ts in starts.items():
                first = next((t for t in ts if f.onset <= t < f.failure), None)
                window = None if f.threshold_first is None else (f.threshold_first - f.onset) / HOUR
                if first is None:
                    if name == "health model":
                        span = math.nan if window is None else window
                        tally.details.append(
                            f"failure s{seed} {u.cid} {f.mode} onset→fail "
                            f"{(f.failure - f.onset) / HOUR:.0f} h, onset→alert {span:.0f} h, NOT warned"
                        )
                    if window is not None:
                        tally.share_of_window[name].append(0.0)
                        tally.target_48[name][1] += window >= 48
                    continue
                tally.detected[name] += 1
                if name == "health model":
                    mode[0] += 1
                tally.lead_failure[name].append((f.failure - first) / HOUR)
                if f.threshold_first is not None and window is not None:
                    lead = (f.threshold_first - first) / HOUR
                    tally.lead_threshold[name].append(lead)
                    tally.share_of_window[name].append(max(lead, 0) / window if window > 0 else 0.0)
                    if window >= 48:
                        tally.target_48[name][1] += 1
                        tally.target_48[name][0] += lead >= 24
                if name == "health model":
                    crit, warn = forecasts.get(first, (math.nan, math.nan))
                    actual_c = math.nan if f.critical_first is None else (f.critical_first - first) / HOUR
                    label = labels[ts.index(first)]
                    tally.details.append(
                        f"failure s{seed} {u.cid} {f.mode} onset→fail {(f.failure - f.onset) / HOUR:.0f} h, "
                        f"onset→alert {window if window is not None else math.nan:.0f} h, warned at "
                        f"{(first - f.onset) / HOUR:.0f} h ({label}), critical projected {crit:.0f} h "
                        f"actual {actual_c:.0f} h, warning projected {warn:.0f} h"
                    )
                    if f.critical_first is not None:
                        actual = (f.critical_first - first) / HOUR
                        if np.isfinite(crit) and actual > 0:
                            tally.forecast_err_crit.append(abs(crit - actual) / actual)
                        elif actual > 0:
                            tally.forecast_missing += 1
                    if f.threshold_first is not None and np.isfinite(warn):
                        actual = (f.threshold_first - first) / HOUR
                        if actual > 0:
                            tally.forecast_err_warn.append(abs(warn - actual) / actual)
    return tally


def running_readings(u: Unit, config: HealthConfig) -> np.ndarray:
    """Per reading: the unit runs and has run for `settle_hours` (flow above 30 % of its highest so far)."""
    flow = np.nan_to_num(u.values[5])
    running = flow > config.running_share * np.maximum.accumulate(flow)
    stopped_at = np.where(~running, u.times, np.iinfo(np.int64).min)
    last_stop = np.maximum.accumulate(stopped_at)
    settled: np.ndarray = running & (u.times - last_stop > config.settle_hours * HOUR)
    return settled


def _ranges(seeds: list[int]) -> str:
    """1,2,3,5 -> "1..3, 5"."""
    parts: list[list[int]] = []
    for seed in sorted(seeds):
        if parts and seed == parts[-1][1] + 1:
            parts[-1][1] = seed
        else:
            parts.append([seed, seed])
    return ", ".join(f"{a}..{b}" if b > a else f"{a}" for a, b in parts)


def report(args: argparse.Namespace, t: Tally) -> None:
    months = t.healthy_seconds / (30 * DAY)
    print(
        f"realistic scenario: seeds {_ranges(t.seeds)}, "
        f"{args.compressors} compressors × {args.days:g} days each ({t.readings:,} readings)"
    )
    print(
        f"failures judged {t.judged} (excluded: {t.excluded} with onset in a warm-up, "
        f"{t.in_progress} failing after the run's end); healthy time {months:,.1f} compressor-months"
    )
    print(f"{'':46}" + "".join(f"{n:>16}" for n in NAMES))

    def row(label: str, cells: dict[str, str]) -> None:
        print(f"{label:46}" + "".join(f"{cells[n]:>16}" for n in NAMES))

    row("detection rate", {n: f"{t.detected[n] / t.judged:.0%}" if t.judged else "-" for n in NAMES})
    row("lead before failure, median h", {n: f"{pct(t.lead_failure[n], 50):.1f}" for n in NAMES})
    row("lead before failure, p10 h", {n: f"{pct(t.lead_failure[n], 10):.1f}" for n in NAMES})
    row(
        "lead before 1st threshold alert, median h", {n: f"{pct(t.lead_threshold[n], 50):.1f}" for n in NAMES}
    )
    row("lead before 1st threshold alert, p10 h", {n: f"{pct(t.lead_threshold[n], 10):.1f}" for n in NAMES})
    row(
        "warned ≥24 h before alert (onset→alert ≥48 h)",
        {n: f"{a}/{b}" + (f" {a / b:.0%}" if b else "") for n, (a, b) in t.target_48.items()},
    )
    row("median lead / (onset → alert)", {n: f"{pct(t.share_of_window[n], 50):.1%}" for n in NAMES})
    row(
        "false warnings / 100 healthy comp-months",
        {n: f"{100 * t.false[n] / months:.2f}" if months else "-" for n in NAMES},
    )
    for cause in CAUSES:
        row(
            f"  of which after: {cause}",
            {n: f"{100 * t.false_causes[n][cause] / months:.1f}" if months else "-" for n in NAMES},
        )
    row(
        "CPU per reading, µs",
        {n: f"{1e6 * t.seconds[n] / max(t.readings, 1):.2f}" for n in NAMES},
    )
    crit = f"{pct(t.forecast_err_crit, 50):.1%} (n={len(t.forecast_err_crit)})"
    warn = f"{pct(t.forecast_err_warn, 50):.1%} (n={len(t.forecast_err_warn)})"
    row("forecast error at 1st warning: critical", {"thresholds": "-", "z-score": "-", "health model": crit})
    row("forecast error at 1st warning: warning", {"thresholds": "-", "z-score": "-", "health model": warn})
    print(f"  critical crossings with no projection at the first warning: {t.forecast_missing}")
    print(
        f"  threshold alerts opened on stopped or restarting units (left out of (a) above, as the "
        f"pipeline's state-based suppression leaves them out): {t.stop_alerts} = "
        f"{100 * t.stop_alerts / months:.0f} per 100 healthy comp-months"
    )
    print(
        "  health model's false warnings by driving sensor and flag: "
        + ", ".join(f"{k} {v}" for k, v in sorted(t.false_labels.items(), key=lambda kv: -kv[1]))
    )
    print(
        "  health model detection by mode: "
        + ", ".join(f"{m} {d}/{n}" for m, (d, n) in sorted(t.by_mode.items()))
    )
    print(
        "  CPU seconds: "
        + ", ".join(f"{k} {v:.1f}" for k, v in t.seconds.items())
        + "; health model / threshold rules here: "
        + f"{t.seconds['health model'] / max(t.seconds['thresholds'], 1e-9):.1f}×"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--first-seed", type=int, default=1)
    parser.add_argument("--compressors", type=int, default=100)
    parser.add_argument("--days", type=float, default=60)
    parser.add_argument("--jobs", type=int, default=2, help="seeds evaluated in parallel processes")
    parser.add_argument(
        "--cache",
        type=Path,
        default=Path(tempfile.gettempdir()) / "altaviz-early-warning",
        help="simulated runs are kept here (one .npz per seed and size) and reused",
    )
    parser.add_argument(
        "--context",
        choices=CONTEXTS,
        default="full",
        help="what (c) is given across compressors: none (each compressor alone), ambient (the station "
        "ambient proxy, no fleet prior), full (the proxy and the fleet prior)",
    )
    parser.add_argument(
        "--prior-hours",
        type=int,
        default=PRIOR_HOURS,
        help="--context full: the fleet prior from the readings before the fleet's first hour + this "
        f"many hours (altaviz.health.prior; default {PRIOR_HOURS}: the pipeline's; others to measure)",
    )
    parser.add_argument(
        "--no-fleet-context",
        dest="context",
        action="store_const",
        const="none",
        help="the same as --context none",
    )
    parser.add_argument(
        "--partial",
        type=Path,
        help="rewrite the report over the seeds done so far to this file after each seed",
    )
    parser.add_argument(
        "--healthy-share",
        type=float,
        default=1.0,
        help="evaluate every failing unit but only this share of the others (quick tuning runs)",
    )
    parser.add_argument("--details", action="store_true", help="print each failure and false warning of (c)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a HealthConfig field for (c), e.g. --set trend_t=3 (repeatable)",
    )
    args = parser.parse_args()
    config = HealthConfig()
    for item in args.set:
        name, _, value = item.partition("=")
        config = replace(config, **{name: type(getattr(config, name))(value)})
    jobs = [
        (
            seed,
            args.compressors,
            args.days,
            config,
            args.cache,
            args.context,
            args.healthy_share,
            args.prior_hours,
        )
        for seed in range(args.first_seed, args.first_seed + args.seeds)
    ]
    total = Tally()
    if args.jobs > 1:
        from multiprocessing import Pool

        with Pool(args.jobs) as pool:
            for tally in pool.imap(evaluate_seed, jobs):  # in seed order: a partial run is seeds 1..k
                total.merge(tally)
                _partial(args, total)
    else:
        for job in jobs:
            total.merge(evaluate_seed(job))
            _partial(args, total)
    _print_all(args, total)


def _partial(args: argparse.Namespace, total: Tally) -> None:
    """With --partial FILE: the report over the seeds done so far, rewritten after each seed."""
    if args.partial is None:
        return
    with args.partial.open("w") as out, contextlib.redirect_stdout(out):
        print(f"(partial: {len(total.seeds)} of {args.seeds} seeds done)")
        _print_all(args, total)


def _print_all(args: argparse.Namespace, total: Tally) -> None:
    if args.details:
        print("\n".join(sorted(total.details)))
    if args.set:
        print("health model settings changed: " + ", ".join(args.set))
    print(f"(c) context: {CONTEXT_TEXT[args.context]}")
    if args.healthy_share < 1:
        print(f"quick run: every failing unit and {args.healthy_share:.0%} of the others")
    report(args, total)


if __name__ == "__main__":
    main()
