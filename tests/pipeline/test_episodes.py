"""The per-compressor steps that replaced window functions, against those window functions: alert events
(pipeline/episodes.py over alert_inputs.sql; alert_events_reference.sql), silver's quality flags
(pipeline/flags.py over silver_good.sql; quality_flags_reference.sql) and gold's latest stopped reading
(rolling.append_gold_pass)."""

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from altaviz.config import Settings
from altaviz.pipeline.engine import COMPRESSOR_ORDER, DuckDBEngine, load_sql
from altaviz.pipeline.episodes import alert_streaks
from altaviz.pipeline.flags import SENSORS, append_quality_flags
from altaviz.pipeline.rolling import append_gold_pass
from altaviz.pipeline.stages import GOLD_STEPS

REFERENCE = (Path(__file__).parent / "alert_events_reference.sql").read_text()
FLAGS_REFERENCE = (Path(__file__).parent / "quality_flags_reference.sql").read_text()
# a metric alarmed high, one alarmed low, one a start crosses (start_transient)
METRICS = {"vibration_mms": (100.0, "high", 2, 3, False), "gas_flow_mcf": (100.0, "low", 3, 2, True)}
COMPRESSORS = tuple(f"C{i}" for i in range(12))
COLUMNS = "organization, compressor_id, metric, timestamp, value, status, streak_start, opens, clears"


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[DuckDBEngine]:
    engine = DuckDBEngine(Settings(data_dir=tmp_path), tmp_path / "scratch")
    yield engine
    engine.close()


def _bind_inputs(engine: DuckDBEngine, seed: int) -> None:
    """A random metric_series: values around the limits (episodes open, clear and chatter), random
    operating states and spikes, two organizations with the same compressor ids, gaps; limits with
    on-delays and clear counts; some pairs violated before the series."""
    rng = np.random.default_rng(seed)
    rows = []
    for organization in ("north", "south"):
        for compressor in COMPRESSORS:
            times = np.sort(rng.choice(600, size=int(rng.integers(0, 200)), replace=False))
            states = rng.choice(["running", "starting", "stopped"], size=len(times), p=[0.7, 0.15, 0.15])
            for metric, (limit, direction, *_) in METRICS.items():
                sign = 1 if direction == "high" else -1
                for t, state in zip(times.tolist(), states.tolist(), strict=True):
                    if rng.random() < 0.1:
                        continue  # no value of this metric at this reading
                    value = float(rng.normal(limit, 8))
                    status = (
                        "critical"
                        if sign * (value - limit) >= 10
                        else "warning"
                        if sign * (value - limit) >= 0
                        else "normal"
                    )
                    spike = bool(rng.random() < 0.05)
                    rows.append(
                        {
                            "organization": organization,
                            "compressor_id": compressor,
                            "t": t,
                            "metric": metric,
                            "value": value,
                            "status": status,
                            "suspect": spike,
                            "operating_state": state,
                        }
                    )
    engine.bind_rows("series_rows", rows)
    engine.bind_sql(
        "metric_series",
        "SELECT * EXCLUDE (t), TIMESTAMPTZ '2026-01-01 00:00:00+00' + to_minutes(t * 10) AS timestamp "
        "FROM series_rows",
    )
    engine.bind_rows(
        "compressor_thresholds",
        [
            {
                "organization": o,
                "compressor_id": c,
                "metric": m,
                "direction": direction,
                "warning": limit,
                "critical": limit + 10,
                "on_delay": on_delay,
                "clear_count": clear_count,
                "start_transient": transient,
            }
            for o in ("north", "south")
            for c in COMPRESSORS
            for m, (limit, direction, on_delay, clear_count, transient) in METRICS.items()
        ],
    )
    engine.bind_rows("params", [{"deadband_ratio": 0.05}])
    engine.bind_rows(
        "violated_before", [{"organization": "south", "compressor_id": "C2", "metric": "vibration_mms"}]
    )


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("by_metric", [False, True], ids=["time order", "series order"])
def test_alert_events_equal_the_window_functions(engine: DuckDBEngine, seed: int, by_metric: bool) -> None:
    """The step reading each compressor's readings in time order (it orders the series itself) or, as
    the pipeline hands them (stages.GOLD_STEPS), series by series."""
    _bind_inputs(engine, seed)
    expected = engine.rows(f"SELECT {COLUMNS} FROM ({REFERENCE}) ORDER BY ALL")
    engine.bind_sql("alert_inputs", load_sql("alert_inputs"))
    (step,) = [s for s in GOLD_STEPS if s.name == "alert_streaks"]
    order = step.order if by_metric else COMPRESSOR_ORDER
    assert by_metric == ("metric" in order)
    engine.map_compressors("alert_streaks", "alert_inputs", alert_streaks, order)
    actual = engine.rows(f"SELECT {COLUMNS} FROM ({load_sql('alert_events')}) ORDER BY ALL")
    assert actual == expected
    assert any(row[7] for row in expected)  # episodes opened (and the trip rule had readings to judge)


@pytest.mark.parametrize("seed", range(4))
def test_last_stopped_equals_the_window_function(engine: DuckDBEngine, seed: int) -> None:
    rng = np.random.default_rng(seed)
    rows = [
        {
            "organization": o,
            "compressor_id": c,
            "t": int(t),
            "is_stopped": bool(rng.random() < 0.1) if rng.random() < 0.95 else None,
        }
        for o in ("north", "south")
        for c in ("C1", "C2")
        for t in np.sort(rng.choice(10_000, size=int(rng.integers(1, 300)), replace=False))
    ]
    engine.bind_rows("stops", rows)
    engine.bind_sql(
        "readings",
        "SELECT organization, compressor_id, TIMESTAMPTZ '2026-01-01 00:00:00+00' + to_seconds(t * 600) "
        "AS timestamp, 1.0 AS vibration_mms, 300.0 AS discharge_temp_f, 1000.0 AS discharge_pressure_psi, "
        "is_stopped FROM stops",
    )
    expected = engine.rows(
        "SELECT organization, compressor_id, timestamp, MAX(CASE WHEN is_stopped THEN timestamp END) OVER ("
        "PARTITION BY organization, compressor_id ORDER BY timestamp ROWS UNBOUNDED PRECEDING) FROM readings "
        "ORDER BY ALL"
    )
    engine.map_compressors("passed", "readings", lambda t: append_gold_pass(t, 3))
    actual = engine.rows(
        "SELECT organization, compressor_id, timestamp, last_stopped FROM passed ORDER BY ALL"
    )
    assert actual == expected


@pytest.mark.parametrize("seed", range(4))
def test_quality_flags_equal_the_window_functions(engine: DuckDBEngine, seed: int) -> None:
    """Spikes (one or two readings out of line), stuck runs (some of them with gaps in the values),
    missing values, quarantined readings among the good, several compressors and organizations."""
    rng = np.random.default_rng(seed)
    rows = []
    for organization in ("north", "south"):
        for compressor in ("C1", "C2", "C3", "C4"):
            n = int(rng.integers(0, 150))
            for i in range(n):
                row: dict[str, object] = {
                    "organization": organization,
                    "compressor_id": compressor,
                    "t": i,
                    "reason": "impossible value: vibration_mms" if rng.random() < 0.03 else None,
                    "_source_row": i,
                }
                for k, sensor in enumerate(SENSORS):
                    roll = rng.random()
                    if roll < 0.05:
                        value = None
                    elif roll < 0.1:
                        value = float(rng.choice([0.0, 50.0, 500.0]))  # out of line
                    elif (i // 20 + k) % 4 == 0:
                        value = 42.0  # a stuck stretch
                    else:
                        value = round(float(rng.normal(100, 3)), 2)
                    row[sensor] = value
                rows.append(row)
    if not rows:
        return
    engine.bind_rows("classified_rows", rows)
    engine.bind_sql(
        "silver_classified",
        "SELECT * EXCLUDE (t), TIMESTAMPTZ '2026-01-01 00:00:00+00' + to_minutes(t * 10) AS timestamp, "
        "1.0 AS operating_hours, 'f' AS _source_file, TIMESTAMPTZ '2026-02-01 00:00:00+00' AS _loaded_at "
        "FROM classified_rows",
    )
    engine.bind_rows("params", [{"spike_ratio": 0.5}])
    expected = engine.rows(f"SELECT * FROM ({FLAGS_REFERENCE}) ORDER BY ALL")
    engine.bind_sql("silver_good", load_sql("silver_good"))
    engine.map_compressors("flagged_readings", "silver_good", append_quality_flags)
    actual = engine.rows(f"SELECT * FROM ({load_sql('silver_readings')}) ORDER BY ALL")
    assert actual == expected
    flags = {f for row in expected if row[-1] for f in str(row[-1]).split(",")}
    assert {f.split(":")[0] for f in flags} == {"spike", "stuck"}


def test_the_steps_do_not_import_pandas(tmp_path: Path) -> None:
    """pyarrow's conversions of Python values import pandas wherever it is installed (the spark extra
    brings it): a third of a seed-size run's CPU. The steps read and build columns through buffers."""
    script = """
import sys
import numpy as np
from pathlib import Path
from altaviz.config import Settings
from altaviz.pipeline.engine import DuckDBEngine
from altaviz.pipeline.episodes import alert_streaks
from altaviz.pipeline.flags import append_quality_flags
from altaviz.pipeline.rolling import append_gold_pass
from altaviz.pipeline.stages import GOLD_STEPS
engine = DuckDBEngine(Settings(data_dir=Path(sys.argv[1])), Path(sys.argv[1]) / "scratch")
readings = engine.con.sql(
    "SELECT 'o' AS organization, 'C' || (i % 3) AS compressor_id, "
    "TIMESTAMPTZ '2026-01-01 00:00:00+00' + to_minutes(i * 10) AS timestamp, "
    "CASE WHEN i % 7 = 0 THEN NULL ELSE i * 1.0 END AS vibration_mms, 1.0 AS discharge_temp_f, "
    "2.0 AS suction_pressure_psi, 3.0 AS discharge_pressure_psi, 4.0 AS horsepower_consumption, "
    "5.0 AS gas_flow_mcf, 0.5 AS spike_ratio, "
    "CASE WHEN i % 5 = 0 THEN NULL ELSE i % 4 = 0 END AS is_stopped, "
    "'vibration_mms' AS metric, 1.0 AS value, 'warning' AS status, CAST(i % 3 AS INTEGER) AS state, "
    "i % 4 = 0 AS stopped, FALSE AS start_transient, CAST(2 AS BIGINT) AS open_readings, "
    "CAST(3 AS BIGINT) AS clear_readings, FALSE AS violated_before "
    "FROM range(300) t(i) ORDER BY compressor_id, timestamp"
).to_arrow_table()
append_quality_flags(readings)
append_gold_pass(readings, 3)
alert_streaks(readings)
assert "pandas" not in sys.modules, "a step imported pandas"
"""
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_the_sql_command_prints_the_views_the_steps_read() -> None:
    """`altaviz pipeline sql --dialect spark` prints what Spark executes: also the views the
    per-compressor steps read."""
    from typer.testing import CliRunner

    from altaviz.cli import app

    done = CliRunner().invoke(app, ["pipeline", "sql", "--dialect", "spark"])
    assert done.exit_code == 0, done.output
    printed = [line.split()[1] for line in done.output.splitlines() if line.startswith("-- ")]
    for view in ("silver_good.sql", "stopped_readings.sql", "alert_inputs.sql", "alert_events.sql"):
        assert view in printed
