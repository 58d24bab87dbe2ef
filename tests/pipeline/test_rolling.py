"""The one-pass rolling windows (pipeline/rolling.py) against their definition: SQL window functions.

REFERENCE (rolling_reference.sql) is gold_readings.sql's window-function formulation as it stood before
the per-compressor step replaced it (RANGE frames on the timestamp ending at the current row, NULLs left
out, the rate from the 1-hour and 2-hour frames): the definition, not a production path.
"""

from datetime import UTC, datetime
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from altaviz.pipeline.engine import read_parquet
from altaviz.pipeline.lake import Lake
from altaviz.pipeline.params import RATE_MIN_READINGS
from altaviz.pipeline.rolling import rolling_windows
from altaviz.simulator import SimulationResult
from tests.pipeline.helpers import copy_landing, lake_rows, run, settings_for

REFERENCE = (Path(__file__).parent / "rolling_reference.sql").read_text()
COLUMNS = [
    *(f"vibration_{h}hr_{s}" for h in (1, 4, 24) for s in ("mean", "std", "max")),
    *(f"{m}_{h}hr_mean" for m in ("temp", "pressure") for h in (1, 4, 24)),
    "temp_rate_of_change",
]
START = int(datetime(2026, 3, 1, 0, 7, tzinfo=UTC).timestamp() * 1_000_000)


def _fleet(seed: int, compressors: int, readings: int) -> pa.Table:
    """Irregular series: 10-minute steps with jitter, gaps of hours, NULLs, stuck (constant) runs, a
    ramp, values of very different magnitudes, two organizations with the same compressor ids."""
    rng = np.random.default_rng(seed)
    rows: dict[str, list[object]] = {
        k: [] for k in ("organization", "compressor_id", "timestamp", "vib", "temp", "pressure")
    }
    for c in range(compressors):
        steps = rng.choice([600, 600, 600, 60, 3599, 3600, 3601, 7200, 4 * 3600, 30 * 3600], readings)
        jitter = rng.integers(0, 1_000_000, readings)  # microseconds
        times = START + np.cumsum(steps * 1_000_000 + jitter)
        level = rng.choice([3.0, 1e3, 1e-3])
        vib = level * (1 + 0.05 * rng.standard_normal(readings)) + np.linspace(0, 5 * level, readings)
        stuck = rng.integers(0, max(readings - 20, 1))
        vib[stuck : stuck + 20] = vib[stuck]
        temp = 200 + 30 * np.sin(np.arange(readings) / 40) + rng.standard_normal(readings)
        pressure = 1000 + 10 * rng.standard_normal(readings)
        for values, share in ((vib, 0.1), (temp, 0.2), (pressure, 0.05)):
            values[rng.random(readings) < share] = np.nan
        org = "north" if c % 2 else "south"
        rows["organization"] += [org] * readings
        rows["compressor_id"] += [f"C-{c // 2}"] * readings
        rows["timestamp"] += list(times)
        rows["vib"] += list(vib)
        rows["temp"] += list(temp)
        rows["pressure"] += list(pressure)
    table = pa.table(
        {
            "organization": rows["organization"],
            "compressor_id": rows["compressor_id"],
            "timestamp": pa.array(rows["timestamp"], pa.int64()).cast(pa.timestamp("us", tz="UTC")),
            **{
                name: pa.array(
                    np.array(rows[key], dtype=float), mask=np.isnan(np.array(rows[key], dtype=float))
                )
                for name, key in (
                    ("vibration_mms", "vib"),
                    ("discharge_temp_f", "temp"),
                    ("discharge_pressure_psi", "pressure"),
                )
            },
        }
    )
    return table.sort_by(
        [("organization", "ascending"), ("compressor_id", "ascending"), ("timestamp", "ascending")]
    )


def _reference(readings: pa.Table, min_readings: int) -> pa.Table:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.register("readings", readings)
    return con.sql(REFERENCE.replace("$min_readings", str(int(min_readings)))).to_arrow_table()


def _kernel(readings: pa.Table, min_readings: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    keys = [
        f"{o}/{c}"
        for o, c in zip(
            readings["organization"].to_pylist(), readings["compressor_id"].to_pylist(), strict=True
        )
    ]
    starts = np.array([i for i in range(len(keys)) if i == 0 or keys[i] != keys[i - 1]], dtype=np.int64)

    def floats(name: str) -> np.ndarray:
        values: np.ndarray = readings[name].to_numpy(zero_copy_only=False).astype(float)
        return values

    result = rolling_windows(
        readings["timestamp"].cast(pa.int64()).to_numpy(),
        floats("vibration_mms"),
        floats("discharge_temp_f"),
        floats("discharge_pressure_psi"),
        starts,
        min_readings,
    )
    return {name: (column.values, column.null) for name, column in result.items()}


def _assert_equal(expected: pa.Table, actual: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
    for name in COLUMNS:
        want = expected[name]
        values, null = actual[name]
        want_null = np.asarray(want.is_null())
        assert (null == want_null).all(), (name, np.flatnonzero(null != want_null)[:5])
        want_values = want.fill_null(0).to_numpy()
        got = values[~null]
        ref = want_values[~want_null]
        np.testing.assert_allclose(got, ref, rtol=1e-9, atol=0, err_msg=name)
        if name.endswith("_std"):  # a constant window's std is exactly 0 in both
            assert ((ref == 0) == (got == 0)).all(), name


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_one_pass_equals_window_functions(seed: int) -> None:
    readings = _fleet(seed, compressors=6, readings=700)
    _assert_equal(_reference(readings, 3), _kernel(readings, 3))


def test_single_readings_and_minimum_counts() -> None:
    """A compressor of one reading (std NULL, rate NULL), and a rate minimum of 1."""
    readings = _fleet(4, compressors=3, readings=200)
    lone = _fleet(5, compressors=1, readings=1).set_column(1, "compressor_id", pa.array(["A-lone"]))
    both = pa.concat_tables([lone, readings]).sort_by(
        [("organization", "ascending"), ("compressor_id", "ascending"), ("timestamp", "ascending")]
    )
    _assert_equal(_reference(both, 1), _kernel(both, 1))


def test_no_readings() -> None:
    empty = rolling_windows(
        np.empty(0, np.int64), np.empty(0), np.empty(0), np.empty(0), np.array([0], np.int64), 3
    )
    assert set(empty) == set(COLUMNS)
    assert all(len(c.values) == 0 for c in empty.values())


def test_gold_rates_equal_the_definition_over_silver(
    faulty_landing: tuple[Path, SimulationResult], tmp_path: Path
) -> None:
    """The pipeline's stored rate (full run, fleet with every fault injected) is the reference's."""
    data_dir = copy_landing(faulty_landing[0], tmp_path)
    run(settings_for(data_dir), skip_db=True)
    lake = Lake(data_dir / "lake")
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"CREATE VIEW readings AS SELECT * FROM {read_parquet(lake.table_files('silver/readings'))}")
    con.execute(f"CREATE VIEW gold AS SELECT * FROM {read_parquet(lake.table_files('gold/readings'))}")
    reference = REFERENCE.replace("$min_readings", str(RATE_MIN_READINGS))
    rows = con.execute(
        f"SELECT r.temp_rate_of_change, g.temp_rate_of_change FROM ({reference}) AS r "
        "FULL JOIN gold AS g USING (organization, compressor_id, timestamp)"
    ).fetchall()
    assert len(rows) == faulty_landing[1].readings_rows - len(lake_rows(data_dir, "silver/quarantine"))
    rated = [(want, got) for want, got in rows if want is not None or got is not None]
    assert len(rated) > len(rows) / 2
    for want, got in rated:
        assert want is not None and got is not None
        assert got == pytest.approx(want, rel=1e-9)
