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
from altaviz.fleet import METRIC_NAMES
from altaviz.pipeline.engine import COMPRESSOR_ORDER, DuckDBEngine, load_sql
from altaviz.pipeline.episodes import alert_streaks
from altaviz.pipeline.flags import SENSORS, append_quality_flags
from altaviz.pipeline.rolling import append_gold_pass
from altaviz.pipeline.stages import GOLD_STEPS

REFERENCE = (Path(__file__).parent / "alert_events_reference.sql").read_text()
# the long form (a row per reading and metric) the alert step and violations.sql read before, which the
# references read
SERIES_REFERENCE = (Path(__file__).parent / "metric_series_reference.sql").read_text()
VIOLATIONS_REFERENCE = (Path(__file__).parent / "violations_reference.sql").read_text()
FLAGS_REFERENCE = (Path(__file__).parent / "quality_flags_reference.sql").read_text()
# every metric: its limit, direction, on-delay, clear count and whether a start crosses it
METRICS = {
    "vibration_mms": (100.0, "high", 2, 3, False),
    "discharge_temp_f": (250.0, "high", 2, 3, False),
    "discharge_pressure_psi": (1200.0, "high", 3, 2, False),
    "suction_pressure_psi": (60.0, "low", 2, 2, True),
    "horsepower_consumption": (900.0, "high", 1, 3, False),
    "gas_flow_mcf": (100.0, "low", 3, 2, True),
    "pressure_differential": (1100.0, "high", 2, 1, False),
    "temp_rate_of_change": (5.0, "high", 2, 3, True),
}
COMPRESSORS = tuple(f"C{i}" for i in range(12))
COLUMNS = "organization, compressor_id, metric, timestamp, value, status, streak_start, opens, clears"


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[DuckDBEngine]:
    engine = DuckDBEngine(Settings(data_dir=tmp_path), tmp_path / "scratch")
    yield engine
    engine.close()


def _bind_inputs(engine: DuckDBEngine, seed: int) -> None:
    """Random gold readings: values of all eight metrics around their limits (episodes open, clear and
    chatter), some missing, random operating states and spikes, two organizations with the same
    compressor ids, gaps; limits with on-delays and clear counts, some of them a compressor's own; some
    pairs violated before the readings (violated_before), some in an earlier run (prior_violations)."""
    rng = np.random.default_rng(seed)
    rows = []
    for organization in ("north", "south"):
        for compressor in COMPRESSORS:
            times = np.sort(rng.choice(600, size=int(rng.integers(0, 200)), replace=False))
            quiet = set(rng.choice(METRIC_NAMES, size=3, replace=False).tolist())  # never past the limit
            for t in times.tolist():
                state = str(rng.choice(["running", "starting", "stopped"], p=[0.7, 0.15, 0.15]))
                spikes = [f"spike:{m}" for m in SENSORS if rng.random() < 0.05]
                row: dict[str, object] = {
                    "organization": organization,
                    "compressor_id": compressor,
                    "t": t,
                    "operating_state": state,
                    "quality_flags": ",".join(spikes) or None,
                }
                for metric, (limit, direction, *_) in METRICS.items():
                    sign = 1 if direction == "high" else -1
                    value = None if rng.random() < 0.1 else float(rng.normal(limit, 8))
                    if value is not None and metric in quiet:
                        value = limit - sign * (abs(value - limit) + 1)
                    row[metric] = value
                    row[f"{metric}_status"] = (
                        None
                        if value is None
                        else "critical"
                        if sign * (value - limit) >= 10
                        else "warning"
                        if sign * (value - limit) >= 0
                        else "normal"
                    )
                rows.append(row)
    engine.bind_rows("gold_rows", rows)
    engine.bind_sql(
        "gold_readings",
        "SELECT * EXCLUDE (t), TIMESTAMPTZ '2026-01-01 00:00:00+00' + to_minutes(t * 10) AS timestamp "
        "FROM gold_rows",
    )
    limits = []
    for o in ("north", "south"):
        for c in COMPRESSORS:
            own = rng.random() < 0.3  # the compressor's own on-delay and clear count
            for m, (limit, direction, on_delay, clear_count, transient) in METRICS.items():
                limits.append(
                    {
                        "organization": o,
                        "compressor_id": c,
                        "metric": m,
                        "direction": direction,
                        "warning": limit,
                        "critical": limit + 10 if direction == "high" else limit - 10,
                        "on_delay": int(rng.integers(1, 5)) if own else on_delay,
                        "clear_count": int(rng.integers(1, 5)) if own else clear_count,
                        "start_transient": transient,
                    }
                )
    engine.bind_rows("compressor_thresholds", limits)
    engine.bind_rows("params", [{"deadband_ratio": 0.05}])
    before = [
        {"organization": "south", "compressor_id": "C2", "metric": "vibration_mms"},
        {"organization": "north", "compressor_id": "C3", "metric": "gas_flow_mcf"},
    ]
    engine.bind_rows("violated_before", before)
    prior = {"organization": "north", "compressor_id": "C4", "metric": "discharge_temp_f"}
    engine.bind_rows("prior_violations", [*before, prior])
    # the long form the references read: a row per reading and metric of the pairs with a violation
    engine.bind_sql("metric_series", SERIES_REFERENCE)


@pytest.mark.parametrize("seed", range(8))
def test_alert_events_equal_the_window_functions(engine: DuckDBEngine, seed: int) -> None:
    """The step over each compressor's gold readings in time order, the eight metrics side by side,
    against the window functions over the long form (a row per reading and metric of the pairs with a
    violation, as metric_series.sql wrote it before the step took the wide rows)."""
    _bind_inputs(engine, seed)
    expected = engine.rows(f"SELECT {COLUMNS} FROM ({REFERENCE}) ORDER BY ALL")
    engine.bind_sql("alert_inputs", load_sql("alert_inputs"))
    engine.bind_sql("alert_limits", load_sql("alert_limits"))
    (step,) = [s for s in GOLD_STEPS if s.name == "alert_streaks"]
    assert step.order == COMPRESSOR_ORDER
    assert step.constants == "alert_limits"
    engine.map_compressors("alert_streaks", "alert_inputs", alert_streaks, step.order, step.constants)
    actual = engine.rows(f"SELECT {COLUMNS} FROM ({load_sql('alert_events')}) ORDER BY ALL")
    assert actual == expected
    assert any(row[7] for row in expected)  # episodes opened (and the trip rule had readings to judge)
    assert any(row[8] for row in expected)  # and cleared
    assert {row[2] for row in expected} == set(METRIC_NAMES)


@pytest.mark.parametrize("seed", range(4))
def test_only_compressors_with_a_violation_go_through_the_alert_sort(engine: DuckDBEngine, seed: int) -> None:
    """alert_inputs.sql passes the step only the compressors with a violating reading (state 1) or a pair
    that violated before: one whose statuses beyond a limit are all of stopped readings, one whose are
    all spikes and one whose are all starting readings of a start-transient limit go, and the alert
    events stay those of the window functions."""
    _bind_inputs(engine, seed)
    spiked = (*SENSORS, "pressure_differential")
    statuses = ", ".join(
        f"CASE WHEN {m}_status IS NULL OR {m}_status = 'normal' THEN {m}_status "
        f"WHEN organization = 'north' AND compressor_id = 'C1' AND operating_state <> 'stopped' "
        "THEN 'normal' "
        + (
            f"WHEN organization = 'north' AND compressor_id = 'C5' THEN {m}_status "
            if m in spiked  # judged 2 for C5's spikes (the rate is never a spike: normal)
            else "WHEN organization = 'north' AND compressor_id = 'C5' THEN 'normal' "
        )
        + f"WHEN organization = 'south' AND compressor_id = 'C7' "
        f"AND NOT ({m}_transient AND operating_state = 'starting') THEN 'normal' "
        f"ELSE {m}_status END AS {m}_status"
        for m in METRIC_NAMES
    )
    transient = ", ".join(f"{METRICS[m][4]} AS {m}_transient" for m in METRIC_NAMES)
    spikes = ",".join(f"spike:{m}" for m in SENSORS)
    engine.con.execute("CREATE TABLE gold_all AS SELECT * FROM gold_readings")
    engine.bind_sql(
        "gold_readings",
        f"SELECT * EXCLUDE ({', '.join(f'{m}_transient' for m in METRIC_NAMES)}) REPLACE ({statuses}, "
        f"CASE WHEN organization = 'north' AND compressor_id = 'C5' THEN '{spikes}' ELSE quality_flags END "
        f"AS quality_flags) FROM (SELECT *, {transient} FROM gold_all)",
    )
    expected = engine.rows(f"SELECT {COLUMNS} FROM ({REFERENCE}) ORDER BY ALL")
    engine.bind_sql("alert_inputs", load_sql("alert_inputs"))
    engine.bind_sql("alert_limits", load_sql("alert_limits"))
    passed = set(engine.rows("SELECT DISTINCT organization, compressor_id FROM alert_inputs"))
    assert passed.isdisjoint({("north", "C1"), ("north", "C5"), ("south", "C7")})
    assert ("north", "C3") in passed or not engine.rows(  # violated before: kept with any reading
        "SELECT 1 FROM gold_readings WHERE organization = 'north' AND compressor_id = 'C3'"
    )
    (step,) = [s for s in GOLD_STEPS if s.name == "alert_streaks"]
    engine.map_compressors("alert_streaks", "alert_inputs", alert_streaks, step.order, step.constants)
    actual = engine.rows(f"SELECT {COLUMNS} FROM ({load_sql('alert_events')}) ORDER BY ALL")
    assert actual == expected
    assert any(row[7] for row in expected)


@pytest.mark.parametrize("seed", range(4))
def test_violations_equal_those_of_the_long_form(engine: DuckDBEngine, seed: int) -> None:
    """violations.sql reads gold's readings directly: the same rows as from the long form."""
    _bind_inputs(engine, seed)
    expected = engine.rows(f"SELECT * FROM ({VIOLATIONS_REFERENCE}) ORDER BY ALL")
    actual = engine.rows(f"SELECT * FROM ({load_sql('violations')}) ORDER BY ALL")
    assert actual == expected
    assert len(expected) > 100


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
from altaviz.fleet import METRIC_NAMES
from altaviz.pipeline.engine import DuckDBEngine
from altaviz.fleet import METRIC_NAMES, SENSOR_NAMES
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
    "CASE WHEN i % 5 = 0 THEN NULL ELSE i % 4 = 0 END AS is_stopped, i % 4 = 0 AS stopped, "
    + ", ".join(
        ("" if m in SENSOR_NAMES else f"1.0 AS {m}, ")  # the sensors' values are above
        + f"'warning' AS {m}_status, CAST(i % 3 AS INTEGER) AS {m}_state"
        for m in METRIC_NAMES
    )
    + " FROM range(300) t(i) ORDER BY compressor_id, timestamp"
).to_arrow_table()
limits = engine.con.sql(
    "SELECT "
    + ", ".join(
        f"CAST(2 AS SMALLINT) AS {m}_open, CAST(3 AS SMALLINT) AS {m}_clear, FALSE AS {m}_transient, "
        f"FALSE AS {m}_before"
        for m in METRIC_NAMES
    )
    + " FROM range(3)"
).to_arrow_table()
append_quality_flags(readings)
append_gold_pass(readings, 3)
alert_streaks(readings, limits)
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
