"""Alarm quality on the default demo data (ISA-18.2 figures), after the pipeline and workflow=all.

Simulates the default fleet (10 compressors x 7 days, seed 42) into a temporary directory, runs the
pipeline into SQLite, then runs workflow=all as of the end of the data (the moment a live demo would
run it) and prints:
- alerts per compressor, and alerts on the eight healthy compressors (target 0);
- the peak number of alerts annunciated in any 10-minute interval (ISA-18.2: ~1 per 10 minutes per
  operator is very likely acceptable, 10 or more is a flood), raisings and escalations counted;
- for each failing compressor, the time from the onset of degradation to its first alert and to its
  first critical alert (a pipeline episode turning critical, or an escalation).

    .venv/bin/python bench/alarm_quality.py [--keep DIR]

With --scenario realistic (SPEC §9: start/stop and idle periods of hours, load changes, weather,
recalibrations, failures of five modes; one fleet per seed) the same data goes through the real pipeline
twice in one run: first with state-based alarm suppression off (ALERT_STOPPED_SHARE=0,
ALERT_SETTLE_MINUTES=0: every reading judged as running, the rule before it, the reference), then with
the settings as configured (README "Alerts"). It prints, for both, the threshold alerts (gold/alerts
episodes) per 100 healthy compressor-months (healthy: outside each failure's onset → failure + 2 days of
repair, read from the simulator's truth, which only an evaluation may read) and by metric; the ISA-18.2
figures with the fleet as one operator's console (alerts raised per 10 minutes on average and at the
peak, 10-minute intervals with more than 10, flood periods: from an interval with more than 10 to the
first with fewer than 5, and the share of time in flood); and for every failure within the run, when
its first threshold alert came (raised between onset and failure) with and without suppression, each
difference listed with the operating state of the alert's reading (as the suppressing run reads it off
the data: the reference judges every reading as running). The health stage is left out of these runs: it
raises no threshold alert (bench/early_warning.py evaluates its early warnings).

    .venv/bin/python bench/alarm_quality.py --scenario realistic          # 3 seeds × 100 × 60 days
    .venv/bin/python bench/alarm_quality.py --scenario realistic --seeds 1 --compressors 50 --days 30
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
from sqlalchemy import select

from altaviz.alerts.models import AlertHistory
from altaviz.alerts.scheduler import Workflows
from altaviz.config import Settings
from altaviz.db.session import create_db_engine, session_factory
from altaviz.pipeline.lake import Lake

FAILING = {"COMP-007": 3, "COMP-003": 5}  # onset day of degradation (SPEC §1)
STATUS_COLUMN = {  # alert condition -> per-reading status column of gold/readings
    "vibration_mms": "vibration_mms_status",
    "discharge_temp_f": "discharge_temp_f_status",
    "discharge_pressure_psi": "discharge_pressure_psi_status",
    "suction_pressure_psi": "suction_pressure_psi_status",
    "horsepower_consumption": "horsepower_consumption_status",
    "gas_flow_mcf": "gas_flow_mcf_status",
    "pressure_differential": "pressure_differential_status",
    "temp_rate_of_change": "temp_rate_of_change_status",
}


def _cli(data_dir: Path, *args: str) -> None:
    env = {**os.environ, "ALTAVIZ_DATA_DIR": str(data_dir), "LOG_LEVEL": "WARNING"}
    env.pop("DATABASE_URL", None)
    subprocess.run([sys.executable, "-m", "altaviz", *args], env=env, check=True, capture_output=True)


def _hours(delta: timedelta | None) -> str:
    return "none" if delta is None else f"{delta.total_seconds() / 3600:.1f} h"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--keep", type=Path, help="Work in this directory and keep it.")
    parser.add_argument("--scenario", choices=("default", "realistic"), default="default")
    parser.add_argument("--seeds", type=int, default=3, help="realistic: fleets (seeds) to run")
    parser.add_argument("--first-seed", type=int, default=1)
    parser.add_argument("--compressors", type=int, default=100, help="realistic: fleet size")
    parser.add_argument("--days", type=float, default=60, help="realistic: days of readings")
    args = parser.parse_args()
    if args.scenario == "realistic":
        realistic(args)
        return
    work = args.keep or Path(tempfile.mkdtemp(prefix="altaviz-alarms-"))
    data_dir = work / "data"
    _cli(data_dir, "simulate")
    _cli(data_dir, "pipeline", "run")

    lake = Lake(data_dir / "lake")
    readings = [str(p) for p in lake.table_files("gold/readings", lake.read_manifest())]
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    first, last = con.execute(
        f"SELECT MIN(timestamp), MAX(timestamp) FROM read_parquet({readings})"
    ).fetchone()  # type: ignore[misc]
    start, end = first.astimezone(UTC), last.astimezone(UTC)
    as_of = end + timedelta(minutes=10)

    settings = Settings(data_dir=data_dir, workflow_scheduler_enabled=False)
    engine = create_db_engine(settings.sqlalchemy_url, settings)
    sessions = session_factory(engine)
    execution = Workflows(sessions, settings, clock=lambda: as_of).execute("all", trigger="cli")
    assert execution.succeeded
    with sessions() as session:
        alerts = list(session.scalars(select(AlertHistory).order_by(AlertHistory.raised_at)))
    engine.dispose()

    print(f"demo data {start:%Y-%m-%d %H:%M} → {end:%Y-%m-%d %H:%M} UTC; workflow=all as of {as_of:%H:%M}")
    print("workflow results: " + ", ".join(f"{r.workflow} {r.result_count}" for r in execution.results))
    per_compressor = Counter(a.compressor_id for a in alerts)
    compressors = [f"COMP-{i:03d}" for i in range(1, 11)]
    print("alerts per compressor: " + ", ".join(f"{c} {per_compressor.get(c, 0)}" for c in compressors))
    healthy = sum(n for c, n in per_compressor.items() if c not in FAILING)
    print(f"alerts on healthy compressors: {healthy} (target 0)")
    print(f"alerts in all: {len(alerts)} on 10 compressors ({len(alerts) / 10:.1f} per compressor)")

    annunciations: Counter[datetime] = Counter()
    for alert in alerts:
        annunciations[_bucket(alert.raised_at)] += 1
        if alert.escalated_at is not None:
            annunciations[_bucket(alert.escalated_at)] += 1
    peak_at, peak = max(annunciations.items(), key=lambda item: (item[1], item[0]))
    intervals = (end - start).total_seconds() / 600
    print(
        f"peak alerts per 10 minutes: {peak} (at {peak_at:%m-%d %H:%M}); average "
        f"{sum(annunciations.values()) / intervals:.3f} per 10 minutes; "
        f"intervals with more than one: {sum(1 for n in annunciations.values() if n > 1)}"
    )

    for compressor, onset_day in FAILING.items():
        onset = start + timedelta(days=onset_day)
        own = [a for a in alerts if a.compressor_id == compressor]
        first_alert = min((a.raised_at for a in own), default=None)
        critical_times = [a.escalated_at for a in own if a.escalated_at is not None]
        for alert in own:
            if alert.severity != "critical" or alert.escalated_at is not None:
                continue
            column = STATUS_COLUMN.get(alert.condition)
            if column is None:
                continue
            until = alert.returned_to_normal_at or end + timedelta(days=1)
            row = con.execute(
                f"SELECT MIN(timestamp) FROM read_parquet({readings}) WHERE compressor_id = ? AND {column} = "
                "'critical' AND timestamp >= ? AND timestamp < ?",
                [compressor, alert.alert_timestamp, until],
            ).fetchone()
            if row and row[0] is not None:
                critical_times.append(max(row[0].astimezone(UTC), alert.raised_at))
        first_critical = min(critical_times, default=None)
        print(
            f"{compressor}: onset {onset:%m-%d %H:%M}; first alert after "
            f"{_hours(None if first_alert is None else first_alert - onset)}; first critical after "
            f"{_hours(None if first_critical is None else first_critical - onset)}"
        )
    if args.keep is None:
        print(f"(work files in {work})")


# --- the realistic scenario: suppression off (the reference) and on, on the same data -----------------

REALISTIC_START = datetime(2026, 1, 1, tzinfo=UTC)
REPAIR_DAYS = 2  # a failure's unit is not healthy until this long after it (realistic.REPAIR_HOURS ≤ 48)
VARIANTS = ("suppression off", "suppression on")
TEN_MINUTES = 600


@dataclass
class Figures:
    """One variant's alerts over every seed."""

    alerts: int = 0
    healthy_alerts: int = 0
    healthy_by_metric: Counter[str] = field(default_factory=Counter)
    intervals: int = 0  # 10-minute intervals of the runs
    per_interval: list[Counter[int]] = field(default_factory=list)  # per seed: interval -> alerts raised
    firsts: list[int] = field(default_factory=list)  # per seed: the run's first interval
    first: dict[tuple[int, str, int], tuple[int, str] | None] = field(default_factory=dict)


def _no_health(run: object, tables: object) -> object:
    """The health stage left out (see the docstring): a stage with nothing to do."""

    class Nothing:
        def full(self, only: str | None = None) -> None:
            return None

        def incremental(self, compressors: str) -> None:
            return None

    return Nothing()


def _pipeline(settings: Settings) -> None:
    from unittest import mock

    from altaviz.pipeline.run import PipelineOptions, run_pipeline

    with mock.patch("altaviz.pipeline.run._Run._health", _no_health):
        result = run_pipeline(settings, PipelineOptions(skip_db=True, full=True))
    failed = [f"{slug}: {o.error}" for slug, o in result.organizations.items() if getattr(o, "error", None)]
    if failed:
        raise SystemExit("pipeline failed: " + "; ".join(failed))


def _sql(query: str) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    return con.execute(query)


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def realistic(args: argparse.Namespace) -> None:
    from altaviz.simulator import SimulationConfig, simulate

    work = args.keep or Path(tempfile.mkdtemp(prefix="altaviz-alarms-"))
    configured = Settings(data_dir=work)
    figures = {v: Figures() for v in VARIANTS}
    healthy_seconds = 0.0
    readings = 0
    states: Counter[str] = Counter()
    failures_total = 0
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        data_dir = work / f"seed-{seed}"
        shutil.rmtree(data_dir, ignore_errors=True)
        config = SimulationConfig(
            compressors=args.compressors,
            days=args.days,
            start=REALISTIC_START,
            seed=seed,
            scenario="realistic",
        )
        simulate(config, data_dir / "landing" / configured.default_organization, truth_dir=data_dir / "truth")
        truth_file = data_dir / "truth" / "failures.parquet"
        truth = _sql(f"SELECT compressor_id, mode, onset_at, failure_at FROM '{truth_file}'").fetchall()
        run_start = _epoch(REALISTIC_START)
        run_end = run_start + int(args.days * 86_400)
        windows: dict[str, list[tuple[int, int]]] = {}
        for cid, _mode, onset, failure in truth:
            windows.setdefault(cid, []).append((_epoch(onset), _epoch(failure) + REPAIR_DAYS * 86_400))
        healthy_seconds += args.compressors * (run_end - run_start) - sum(
            max(0, min(end, run_end) - max(begin, run_start))
            for spans in windows.values()
            for begin, end in spans
        )
        found: dict[str, list[tuple[str, str, datetime]]] = {}
        for variant in VARIANTS:
            off: dict[str, Any] = {}
            if variant == VARIANTS[0]:
                off = {"alert_stopped_share": 0.0, "alert_settle_minutes": 0}
            settings = Settings(
                data_dir=data_dir, database_url=None, pipeline_threads=configured.pipeline_threads, **off
            )
            began = time.perf_counter()
            _pipeline(settings)
            seconds = time.perf_counter() - began
            lake = Lake(data_dir / "lake")
            manifest = lake.read_manifest()
            alert_files = [str(p) for p in lake.table_files("gold/alerts", manifest)]
            found[variant] = [
                (str(cid), str(metric), raised_at)
                for cid, metric, raised_at in _sql(
                    f"SELECT compressor_id, metric, raised_at FROM read_parquet({alert_files}) ORDER BY 3"
                ).fetchall()
            ]
            print(
                f"seed {seed}, {variant}: {len(found[variant]):,} threshold alerts; pipeline {seconds:.0f} s"
            )
        # Every alert's reading in the operating state the suppressing run reads off the data (the
        # reference judges every reading as running, so its own column says nothing).
        readings_files = [str(p) for p in lake.table_files("gold/readings", manifest)]
        for state, count in _sql(
            f"SELECT operating_state, COUNT(*) FROM read_parquet({readings_files}) GROUP BY 1"
        ).fetchall():
            states[state] += count
            readings += count
        con = duckdb.connect()
        con.execute("SET TimeZone = 'UTC'")
        con.execute("CREATE TABLE raised (compressor_id VARCHAR, timestamp TIMESTAMPTZ)")
        con.executemany(
            "INSERT INTO raised VALUES (?, ?)", sorted({(c, t) for a in found.values() for c, _m, t in a})
        )
        state_at = {
            (str(cid), _epoch(t)): str(state)
            for cid, t, state in con.execute(
                "SELECT r.compressor_id, r.timestamp, r.operating_state FROM raised "
                f"JOIN read_parquet({readings_files}) AS r USING (compressor_id, timestamp)"
            ).fetchall()
        }
        for variant in VARIANTS:
            alerts = found[variant]
            f = figures[variant]
            f.alerts += len(alerts)
            f.intervals += (run_end - run_start) // TEN_MINUTES
            raised: Counter[int] = Counter()
            for cid, metric, raised_at in alerts:
                t = _epoch(raised_at)
                raised[t // TEN_MINUTES] += 1
                if not any(begin <= t < end for begin, end in windows.get(cid, [])):
                    f.healthy_alerts += 1
                    f.healthy_by_metric[metric] += 1
            f.per_interval.append(raised)
            f.firsts.append(run_start // TEN_MINUTES)
            for cid, mode, onset, failure in truth:
                if _epoch(failure) > run_end:
                    continue
                first = next(
                    (
                        (_epoch(raised_at), f"{metric} ({state_at.get((cid, _epoch(raised_at)), '?')})")
                        for c, metric, raised_at in alerts
                        if c == cid and onset <= raised_at <= failure
                    ),
                    None,
                )
                f.first[(seed, f"{cid} {mode}", _epoch(failure))] = first
        failures_total += sum(1 for _c, _m, _o, failure in truth if _epoch(failure) <= run_end)
    _report_realistic(args, figures, healthy_seconds, readings, states, failures_total)
    if args.keep is None:
        shutil.rmtree(work, ignore_errors=True)


def _floods(raised: Counter[int], first: int, intervals: int) -> tuple[int, int]:
    """Flood periods (ISA-18.2 / EEMUA 191: from a 10-minute interval with more than 10 alerts to the
    first with fewer than 5) and the intervals they span."""
    floods = flooded = 0
    in_flood = False
    for k in range(first, first + intervals):
        n = raised.get(k, 0)
        if not in_flood and n > 10:
            in_flood, floods = True, floods + 1
        elif in_flood and n < 5:
            in_flood = False
        flooded += in_flood
    return floods, flooded


def _report_realistic(
    args: argparse.Namespace,
    figures: dict[str, Figures],
    healthy_seconds: float,
    readings: int,
    states: Counter[str],
    failures_total: int,
) -> None:
    months = healthy_seconds / (30 * 86_400)
    configured = Settings()
    print(
        f"\nrealistic scenario: seeds {args.first_seed}..{args.first_seed + args.seeds - 1}, "
        f"{args.compressors} compressors × {args.days:g} days each ({readings:,} readings: "
        + ", ".join(f"{states[s] / max(readings, 1):.1%} {s}" for s in ("running", "starting", "stopped"))
        + f"); healthy time {months:,.1f} compressor-months; suppression on = ALERT_STOPPED_SHARE="
        f"{configured.alert_stopped_share:g}, ALERT_SETTLE_MINUTES={configured.alert_settle_minutes}"
    )
    print(f"{'':52}" + "".join(f"{v:>18}" for v in VARIANTS))

    def row(label: str, cells: list[str]) -> None:
        print(f"{label:52}" + "".join(f"{c:>18}" for c in cells))

    fs = [figures[v] for v in VARIANTS]
    row("threshold alerts", [f"{f.alerts:,}" for f in fs])
    row(
        "  on healthy units, per 100 healthy comp-months",
        [f"{100 * f.healthy_alerts / months:.1f}" for f in fs],
    )
    metrics = sorted({m for f in fs for m in f.healthy_by_metric}, key=lambda m: -fs[0].healthy_by_metric[m])
    for metric in metrics:
        row(f"    {metric}", [f"{100 * f.healthy_by_metric[metric] / months:.1f}" for f in fs])
    per_hour = [6 * f.alerts / max(f.intervals, 1) for f in fs]
    row(
        f"alerts per hour, average ({args.compressors} compressors, one console)",
        [f"{x:.3f}" for x in per_hour],
    )
    row("alerts per 10 minutes, average", [f"{f.alerts / max(f.intervals, 1):.4f}" for f in fs])
    row(
        "alerts per 10 minutes, peak",
        [f"{max((max(r.values(), default=0) for r in f.per_interval), default=0)}" for f in fs],
    )
    row(
        "10-minute intervals with more than 10 alerts",
        [f"{sum(1 for r in f.per_interval for n in r.values() if n > 10)}" for f in fs],
    )
    floods = [
        [
            _floods(r, first, f.intervals // len(f.per_interval))
            for r, first in zip(f.per_interval, f.firsts, strict=True)
        ]
        for f in fs
    ]
    row("flood periods (>10 in 10 min until <5)", [f"{sum(n for n, _ in fl)}" for fl in floods])
    row(
        "time in flood",
        [f"{sum(k for _, k in fl) / max(f.intervals, 1):.2%}" for fl, f in zip(floods, fs, strict=True)],
    )

    off, on = fs
    keys = sorted(off.first)
    detected = [sum(1 for k in keys if f.first[k] is not None) for f in fs]
    row(f"failures with a threshold alert before failure (of {failures_total})", [str(d) for d in detected])
    same = [k for k in keys if off.first[k] == on.first[k]]
    print(f"first threshold alert of a failure: the same with suppression on for {len(same)} of {len(keys)}")
    for k in keys:
        if off.first[k] == on.first[k]:
            continue
        seed, unit, failure = k
        print(f"  seed {seed} {unit}: off {_said(off.first[k], failure)}; on {_said(on.first[k], failure)}")


def _said(found: tuple[int, str] | None, failure: int) -> str:
    return "none" if found is None else f"{(failure - found[0]) / 3600:.1f} h before failure, {found[1]}"


def _bucket(moment: datetime) -> datetime:
    moment = moment.astimezone(UTC)
    return moment.replace(minute=moment.minute - moment.minute % 10, second=0, microsecond=0)


if __name__ == "__main__":
    main()
