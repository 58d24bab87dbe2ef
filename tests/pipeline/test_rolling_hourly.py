"""Gold's hourly aggregates from its per-compressor step (pipeline/hourly.py) against their definition:
the GROUP BY per compressor and clock hour that gold_hourly.sql ran over gold's written readings before
the step computed them (REFERENCE below), with each reading's violation as its statuses state it
(gold_readings.sql: at or past the warning or critical limit) and the limits as violation_limits.sql
gives them to the step."""

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from altaviz.config import Settings
from altaviz.fleet import METRIC_NAMES
from altaviz.pipeline.engine import DuckDBEngine, load_sql
from altaviz.pipeline.hourly import hourly_aggregates
from altaviz.pipeline.rolling import compressor_starts

SENSORS = {
    "vibration_mms": "vibration",
    "discharge_temp_f": "discharge_temp",
    "suction_pressure_psi": "suction_pressure",
    "discharge_pressure_psi": "discharge_pressure",
    "horsepower_consumption": "horsepower",
    "gas_flow_mcf": "gas_flow",
}
# gold_readings.sql's statuses: past the limit is below for these, above for the others
LOW_METRICS = ("suction_pressure_psi", "gas_flow_mcf")
PAST = {m: "<=" if m in LOW_METRICS else ">=" for m in METRIC_NAMES}
VIOLATING = " OR ".join(f"{m} {PAST[m]} {m}_critical OR {m} {PAST[m]} {m}_warning" for m in METRIC_NAMES)
REFERENCE = f"""
SELECT
    organization, compressor_id,
    TO_TIMESTAMP(FLOOR(EPOCH(timestamp) / 3600) * 3600) AS agg_timestamp,
    {
    ", ".join(
        f"AVG({c}) AS {p}_mean, STDDEV_SAMP({c}) AS {p}_std, MIN({c}) AS {p}_min, MAX({c}) AS {p}_max"
        for c, p in SENSORS.items()
    )
},
    AVG(pressure_differential) AS pressure_delta_mean,
    AVG(temp_rate_of_change) AS discharge_temp_rate_of_change,
    COUNT(*) AS reading_count,
    SUM(CASE WHEN {VIOLATING} THEN 1 ELSE 0 END) AS violation_count
FROM (
    SELECT r.*, r.discharge_pressure_psi - r.suction_pressure_psi AS pressure_differential,
        l.* EXCLUDE (organization, compressor_id)
    FROM readings AS r LEFT JOIN limits AS l USING (organization, compressor_id)
) AS judged
GROUP BY organization, compressor_id, TO_TIMESTAMP(FLOOR(EPOCH(timestamp) / 3600) * 3600)
"""


@pytest.fixture
def engine(tmp_path: Path) -> DuckDBEngine:
    return DuckDBEngine(Settings(data_dir=tmp_path), tmp_path / "scratch")


def _readings(seed: int) -> pa.Table:
    """Several compressors of two organizations (same ids), irregular times with gaps of hours, hours
    of one reading, NULLs, runs of equal values (their standard deviation exactly 0), values at the
    limits."""
    rng = np.random.default_rng(seed)
    parts = []
    for organization in ("north", "south"):
        for compressor in ("C1", "C2", "C3"):
            n = int(rng.integers(0, 400))
            steps = rng.choice([60, 600, 600, 1800, 3600, 5 * 3600], n) * 1_000_000
            times = 1_772_323_200_000_000 + np.cumsum(steps + rng.integers(0, 1_000_000, n))
            columns: dict[str, pa.Array] = {
                "organization": pa.array([organization] * n),
                "compressor_id": pa.array([compressor] * n),
                "timestamp": pa.array(times, pa.int64()).cast(pa.timestamp("us", tz="UTC")),
            }
            for column in (*SENSORS, "temp_rate_of_change"):
                values = np.round(rng.choice([1.0, 100.0, 1000.0]) * (1 + 0.1 * rng.standard_normal(n)), 2)
                if rng.random() < 0.3:  # stuck: one value throughout
                    values[:] = values[0] if n else 0.0
                columns[column] = pa.array(values, mask=rng.random(n) < 0.15)
            parts.append(pa.table(columns))
    return pa.concat_tables(parts)


def _limits(engine: DuckDBEngine, seed: int) -> None:
    """compressor_thresholds with some NULL criticals and one compressor without limits, and the step's
    constants from it (violation_limits.sql)."""
    rng = np.random.default_rng(seed + 100)
    rows = [
        {
            "organization": o,
            "compressor_id": c,
            "metric": m,
            "warning": float(np.round(rng.choice([1.0, 100.0, 1000.0]), 2)),
            "critical": None if rng.random() < 0.2 else float(rng.choice([1.05, 105.0, 1050.0, 90.0])),
        }
        for o in ("north", "south")
        for c in ("C1", "C2", "C3")
        if (o, c) != ("south", "C3")
        for m in METRIC_NAMES
    ]
    engine.bind_rows("compressor_thresholds", rows)
    engine.bind_sql("violation_limits", load_sql("violation_limits"))
    pivot = ", ".join(
        f"MAX(CASE WHEN metric = '{m}' THEN warning END) AS {m}_warning, "
        f"MAX(CASE WHEN metric = '{m}' THEN critical END) AS {m}_critical"
        for m in METRIC_NAMES
    )
    engine.bind_sql(
        "limits", f"SELECT organization, compressor_id, {pivot} FROM compressor_thresholds GROUP BY 1, 2"
    )


@pytest.mark.parametrize("seed", range(4))
def test_hourly_aggregates_equal_the_group_by(engine: DuckDBEngine, seed: int) -> None:
    readings = _readings(seed)
    _limits(engine, seed)
    engine.con.register("readings", readings)
    expected = engine.con.sql(f"SELECT * FROM ({REFERENCE}) ORDER BY ALL").fetchall()
    with_limits = engine.con.sql(
        "SELECT r.*, v.* EXCLUDE (organization, compressor_id) FROM readings AS r "
        "LEFT JOIN violation_limits AS v USING (organization, compressor_id) "
        "ORDER BY r.organization, r.compressor_id, r.timestamp"
    ).to_arrow_table()
    actual_table = hourly_aggregates(with_limits, compressor_starts(with_limits))
    engine.con.register("actual", actual_table)
    actual = engine.con.sql("SELECT * FROM actual ORDER BY ALL").fetchall()
    assert len(actual) == len(expected) > 0
    zero_std = 0
    for got, want in zip(actual, expected, strict=True):
        assert got[:3] == want[:3]
        for a, b in zip(got[3:], want[3:], strict=True):
            if isinstance(b, float) and isinstance(a, float):
                assert a == pytest.approx(b, rel=1e-9, abs=0.0), (got[:3], a, b)
                zero_std += b == 0.0
            else:
                assert a == b, (got[:3], a, b)
    assert zero_std > 0  # stuck runs: a standard deviation of exactly 0, as SQL's


def test_no_readings_no_hours() -> None:
    empty = pa.table(
        {
            "organization": pa.array([], pa.string()),
            "compressor_id": pa.array([], pa.string()),
            "timestamp": pa.array([], pa.timestamp("us", tz="UTC")),
            **{c: pa.array([], pa.float64()) for c in (*SENSORS, "temp_rate_of_change")},
            **{f"{m}_limit": pa.array([], pa.float64()) for m in METRIC_NAMES},
        }
    )
    assert hourly_aggregates(empty, compressor_starts(empty)).num_rows == 0
