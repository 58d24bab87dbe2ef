"""Building landing zones and reading lake tables in pipeline tests."""

import itertools
import math
import shutil
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from altaviz.config import Settings
from altaviz.fleet import SENSOR_NAMES
from altaviz.pipeline.engine import read_parquet
from altaviz.pipeline.lake import Lake
from altaviz.pipeline.run import PipelineOptions, PipelineResult, run_pipeline

OFF_HOUR_START = datetime(2026, 1, 1, 0, 37, tzinfo=UTC)
ON_HOUR_START = datetime(2026, 1, 1, 0, 0, tzinfo=UTC)


def settings_for(data_dir: Path, database_url: str | None = None) -> Settings:
    return Settings(data_dir=data_dir, database_url=database_url, pipeline_threads=2)


def run(settings: Settings, **options: Any) -> PipelineResult:
    return run_pipeline(settings, PipelineOptions(**options))


def copy_landing(source: Path, data_dir: Path) -> Path:
    shutil.copytree(source, data_dir / "landing")
    return data_dir


def lake_rows(data_dir: Path, table: str, where: str = "TRUE", order: str = "1") -> list[dict[str, Any]]:
    files = Lake(data_dir / "lake").table_files(table)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    cursor = con.execute(f"SELECT * FROM {read_parquet(files)} WHERE {where} ORDER BY {order}")
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


# The lake tables two ways of computing the same bronze must agree on, each with a row order. Data-quality
# metrics describe each run's batch, and alert_events / the state tables are internal; the episodes
# they feed are compared in gold/alerts.
COMPARED = {
    "silver/readings": "organization, compressor_id, timestamp",
    "silver/quarantine": "organization, compressor_id, timestamp, _source_file, _source_row",
    "gold/readings": "organization, compressor_id, timestamp",
    "gold/hourly": "organization, compressor_id, agg_timestamp",
    "gold/violations": "organization, compressor_id, timestamp, metric",
    "gold/alerts": "organization, compressor_id, metric, started_at",
    # the health stage (altaviz.pipeline.health): its state too, so the next run continues alike
    "gold/health": "organization, compressor_id, hour",
    "gold/health_predictions": "organization, compressor_id, metric, level",
    "gold/health_alerts": "organization, compressor_id, alert_type, started_at",
    "gold/health_state": "organization, compressor_id",
    "gold/health_baseline": "organization, compressor_id",
    "gold/health_prior": "organization",  # each organization's fleet prior and its prior hour
}


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9) or (math.isnan(a) and math.isnan(b))
    return bool(a == b)


def assert_tables_equal(left: Path, right: Path, tables: dict[str, str] = COMPARED) -> None:
    """The lake under `left` holds the same rows as the one under `right` in every table compared."""
    for table, order in tables.items():
        ours, theirs = lake_rows(left, table, order=order), lake_rows(right, table, order=order)
        assert len(ours) == len(theirs), f"{table}: {len(ours)} rows on the left, {len(theirs)} on the right"
        for a, b in zip(ours, theirs, strict=True):
            differing = [k for k in a if not _same(a[k], b[k])]
            assert not differing, f"{table}: {differing} differ at {a} vs {b}"


def assert_equals_a_full_recomputation(
    data_dir: Path, full_dir: Path, tables: dict[str, str] = COMPARED
) -> None:
    """The lake under `data_dir` equals a full recomputation of its bronze (made in `full_dir`)."""
    shutil.copytree(data_dir, full_dir, symlinks=True)
    run(settings_for(full_dir), skip_bronze=True, skip_db=True, full=True)
    assert_tables_equal(data_dir, full_dir, tables)


def write_fleet(
    landing: Path,
    compressor_ids: Sequence[str] = ("COMP-001",),
    station_id: str = "STATION-A",
    install_dates: dict[str, date] | None = None,
) -> None:
    """Minimal fleet metadata: one station, the given compressors (installed 2022-01-01 unless said)."""
    fleet = landing / "fleet"
    fleet.mkdir(parents=True, exist_ok=True)
    pq.write_table(
        pa.table(
            {
                "station_id": [station_id],
                "station_name": ["Eagle Ford Station A"],
                "latitude": [28.9144],
                "longitude": [-98.5242],
            }
        ),
        fleet / "stations.parquet",
    )
    n = len(compressor_ids)
    pq.write_table(
        pa.table(
            {
                "compressor_id": list(compressor_ids),
                "station_id": [station_id] * n,
                "model": ["Ajax DPC-360"] * n,
                "horsepower": pa.array([1340] * n, pa.int32()),
                "install_date": [(install_dates or {}).get(c, date(2022, 1, 1)) for c in compressor_ids],
            }
        ),
        fleet / "compressors.parquet",
    )


HEALTHY = {
    "vibration_mms": 3.0,
    "discharge_temp_f": 200.0,
    "suction_pressure_psi": 60.0,
    "discharge_pressure_psi": 1000.0,
    "horsepower_consumption": 1400.0,
    "gas_flow_mcf": 10000.0,
}


def write_readings(landing: Path, name: str, rows: Sequence[dict[str, Any]]) -> Path:
    """A readings landing file; each row gives compressor_id, timestamp and any sensor overrides."""
    folder = landing / "readings"
    folder.mkdir(parents=True, exist_ok=True)
    full = [{**HEALTHY, **row} for row in rows]
    table = pa.table(
        {
            "compressor_id": [r["compressor_id"] for r in full],
            "timestamp": pa.array([r["timestamp"] for r in full], pa.timestamp("us", tz="UTC")),
            **{s: pa.array([r[s] for r in full], pa.float64()) for s in SENSOR_NAMES},
            "operating_hours": pa.array([r.get("operating_hours", 0.0) for r in full], pa.float64()),
        }
    )
    path = folder / name
    pq.write_table(table, path)
    return path


def cut_batches(readings: pa.Table, cuts: list[datetime]) -> list[pa.Table]:
    """The readings before the first cut, between each two cuts, and from the last cut on."""
    ts = readings["timestamp"]
    batches = []
    for begin, end in itertools.pairwise([None, *cuts, None]):
        batch = readings
        if begin is not None:
            batch = batch.filter(pc.greater_equal(batch["timestamp"], pa.scalar(begin, ts.type)))
        if end is not None:
            batch = batch.filter(pc.less(batch["timestamp"], pa.scalar(end, ts.type)))
        batches.append(batch)
    return batches


# A compressor that stops and starts (state-based alarm suppression, engine parity): a running unit
# reads HEALTHY; a stopped one's readings tend to these (realistic.STOPPED_LEVEL; ambient 75 + 20 °F).
AT_REST = {
    "vibration_mms": 0.3,
    "discharge_temp_f": 95.0,
    "suction_pressure_psi": 78.0,
    "discharge_pressure_psi": 550.0,
    "horsepower_consumption": 14.0,
    "gas_flow_mcf": 30.0,
}
TAU_MINUTES = {"discharge_temp_f": 90.0, "suction_pressure_psi": 20.0, "discharge_pressure_psi": 20.0}
Override = Callable[[int], dict[str, float]]


def stop_start_series(
    start: datetime,
    before: int = 36,
    stopped: int = 24,
    after: int = 72,
    override: Override | None = None,
    compressor: str = "COMP-001",
) -> list[dict[str, Any]]:
    """10-minute readings of a compressor that stops and starts the way a real one does: `before`
    running readings, `stopped` of a stopped unit, `after` running ones. Stopped, flow and horsepower
    fall to the meters' zero offsets and vibration to a background; the discharge temperature cools
    towards ambient + 20 °F with a 90-minute time constant and warms back the same way after the
    start; suction rises and discharge falls towards settle-out pressure with a 20-minute one (the
    realistic scenario's physics, altaviz.simulator.realistic). `override` (reading index -> values)
    changes any reading's values afterwards. A small wobble keeps every sensor from reading one value
    12 times in a row (silver's stuck check)."""
    rows = []
    level = dict(HEALTHY)
    for i in range(before + stopped + after):
        target = AT_REST if before <= i < before + stopped else HEALTHY
        for sensor in HEALTHY:
            tau = TAU_MINUTES.get(sensor)
            level[sensor] = (
                target[sensor]
                if tau is None
                else target[sensor] + (level[sensor] - target[sensor]) * math.exp(-10 / tau)
            )
        wobble = 1 + 0.002 * math.sin(1.7 * i)
        row = {sensor: round(value * wobble, 2) for sensor, value in level.items()}
        row.update(override(i) if override else {})
        rows.append({"compressor_id": compressor, "timestamp": start + timedelta(minutes=10 * i), **row})
    return rows


# A compressor that degrades (the health stage's tests, engine parity): hand-built, not simulated.
def degrading_series(compressor: str, days: float, ramp_from: float, seed: int) -> pa.Table:
    """10-minute readings: load swinging ±8 % over 2.3 days (flow, horsepower and discharge pressure
    follow it), a daily temperature swing, 1 % noise; from `ramp_from` days on, vibration grows
    (linear, then accelerating) past its critical 8 mm/s about 2.4 days later."""
    rng = np.random.default_rng(seed)
    n = int(days * 144)
    day = np.arange(n) / 144
    load = 1 + 0.08 * np.sin(2 * np.pi * day / 2.3)
    ramp = np.clip(day - ramp_from, 0, None)

    def noisy(base: float, scale: Any = 1.0, noise: float = 0.01) -> Any:
        return np.round(base * scale * (1 + noise * rng.standard_normal(n)), 2)

    values = {
        "vibration_mms": noisy(3.0, 1 + 0.35 * ramp + 0.12 * ramp**2, 0.015),
        "discharge_temp_f": np.round(noisy(200.0) + 4 * np.sin(2 * np.pi * day), 2),
        "suction_pressure_psi": noisy(60.0),
        "discharge_pressure_psi": noisy(1000.0, load**0.5),
        "horsepower_consumption": noisy(1400.0, load),
        "gas_flow_mcf": noisy(10000.0, load),
    }
    times = [ON_HOUR_START + timedelta(minutes=10 * i) for i in range(n)]
    return pa.table(
        {
            "compressor_id": [compressor] * n,
            "timestamp": pa.array(times, pa.timestamp("us", tz="UTC")),
            **{s: pa.array(values[s], pa.float64()) for s in SENSOR_NAMES},
            "operating_hours": pa.array(np.arange(n) / 6.0, pa.float64()),
        }
    )


def degrading_fleet(days: float = 11.0) -> pa.Table:
    """COMP-001 degrades from day 8 on; COMP-002 stays healthy."""
    return pa.concat_tables(
        [degrading_series("COMP-001", days, 8.0, 1), degrading_series("COMP-002", days, 1e9, 2)]
    )


def land_readings(landing: Path, name: str, readings: pa.Table) -> None:
    folder = landing / "readings"
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(readings, folder / name)
