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
"""

import argparse
import os
import subprocess
import sys
import tempfile
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

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
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="Work in this directory and keep it.")
    args = parser.parse_args()
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


def _bucket(moment: datetime) -> datetime:
    moment = moment.astimezone(UTC)
    return moment.replace(minute=moment.minute - moment.minute % 10, second=0, microsecond=0)


if __name__ == "__main__":
    main()
