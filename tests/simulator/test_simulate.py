"""The landing dataset of a default run: layout, schema, fleet, failures, determinism, replacement."""

import itertools
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from altaviz.fleet import COMPRESSOR_MODELS, SENSOR_NAMES, SENSORS, STATIONS
from altaviz.simulator import SimulationConfig, SimulationResult, simulate
from altaviz.simulator.fleet import build_fleet
from altaviz.simulator.readings import degradation
from altaviz.simulator.timeline import Timeline

START = datetime(2026, 1, 1, tzinfo=UTC)
VIBRATION = SENSOR_NAMES.index("vibration_mms")


def readings_files(landing: Path) -> list[Path]:
    return sorted((landing / "readings").glob("*.parquet"))


def read_readings(landing: Path) -> pa.Table:
    return pa.concat_tables(pq.read_table(f) for f in readings_files(landing))


@pytest.fixture(scope="module")
def default_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SimulationResult]:
    landing = tmp_path_factory.mktemp("landing")
    return landing, simulate(SimulationConfig(start=START), landing)


def test_default_run_writes_10080_readings_in_seven_daily_files(
    default_run: tuple[Path, SimulationResult],
) -> None:
    landing, result = default_run
    files = readings_files(landing)
    assert result.readings_rows == 10_080 == read_readings(landing).num_rows
    assert len(files) == 7
    assert [pq.read_metadata(f).num_rows for f in files] == [1440] * 7
    assert files[0].name == "readings-20260101T0000-20260101T2350.parquet"
    assert files[-1].name == "readings-20260107T0000-20260107T2350.parquet"
    assert result.start == START and result.end == START + timedelta(days=7, minutes=-10)
    assert result.failing == {"COMP-003": 5, "COMP-007": 3}
    assert set(result.files) == {
        *files,
        *(landing / "fleet").glob("*.parquet"),
        landing / "maintenance" / "maintenance.parquet",
    }
    assert not list(landing.rglob(".*"))  # no temp files left behind


def test_readings_schema_and_order(default_run: tuple[Path, SimulationResult]) -> None:
    landing, _ = default_run
    table = pq.read_table(readings_files(landing)[0])
    assert table.column_names == ["compressor_id", "timestamp", *SENSOR_NAMES, "operating_hours"]
    assert table.schema.field("compressor_id").type == pa.string()
    assert table.schema.field("timestamp").type == pa.timestamp("us", tz="UTC")
    for name in [*SENSOR_NAMES, "operating_hours"]:
        assert table.schema.field(name).type == pa.float64()
    keys = list(zip(table["timestamp"].to_pylist(), table["compressor_id"].to_pylist(), strict=True))
    assert keys == sorted(keys)
    for name in SENSOR_NAMES:
        values = table[name].to_numpy()
        assert np.array_equal(values, np.round(values, 2))
    hours = pc.unique(table["operating_hours"]).to_pylist()
    assert hours[:3] == [0.0, 0.17, 0.33]


def test_default_series_is_aligned_and_ends_now(tmp_path: Path) -> None:
    before = datetime.now(UTC)
    result = simulate(SimulationConfig(), tmp_path)
    after = datetime.now(UTC)
    assert result.readings_rows == 10_080
    assert result.start.minute % 10 == 0 and result.start.second == 0 and result.start.microsecond == 0
    # The last reading is "now" on the 10-minute grid, so fresh data meets the 15-minute freshness SLA.
    assert before - timedelta(minutes=10) < result.end <= after
    assert result.end - result.start == timedelta(minutes=10 * 1007)
    # Chunks are 24 h of series, not calendar days: 7 files whatever the start minute.
    assert len(readings_files(tmp_path)) == 7


def test_start_off_the_clock_hour(tmp_path: Path) -> None:
    start = datetime(2026, 3, 4, 13, 37, 21, tzinfo=UTC)
    result = simulate(SimulationConfig(start=start), tmp_path)
    files = readings_files(tmp_path)
    assert len(files) == 7 and result.readings_rows == 10_080
    assert files[0].name == "readings-20260304T1337-20260305T1327.parquet"
    times = pc.unique(read_readings(tmp_path)["timestamp"]).to_pylist()
    assert times[0] == start and len(times) == 1008
    assert {b - a for a, b in itertools.pairwise(times)} == {timedelta(minutes=10)}


def test_fractional_days_and_short_last_chunk(tmp_path: Path) -> None:
    result = simulate(SimulationConfig(compressors=2, days=1.5, start=START), tmp_path)
    assert result.readings_rows == 2 * 216
    assert [pq.read_metadata(f).num_rows for f in readings_files(tmp_path)] == [288, 144]
    assert result.failing == {}


def test_same_seed_is_byte_identical_and_other_seed_differs(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    simulate(SimulationConfig(start=START, days=2), a)
    simulate(SimulationConfig(start=START, days=2), b)
    simulate(SimulationConfig(start=START, days=2, seed=7), c)
    for path in sorted(a.rglob("*.parquet")):
        assert path.read_bytes() == (b / path.relative_to(a)).read_bytes()
    assert read_readings(a)["vibration_mms"] != read_readings(c)["vibration_mms"]


def test_stations_and_compressors_follow_the_spec(default_run: tuple[Path, SimulationResult]) -> None:
    landing, _ = default_run
    stations = pq.read_table(landing / "fleet" / "stations.parquet").to_pylist()
    assert [(s["station_id"], s["latitude"], s["longitude"], s["city"]) for s in stations] == [
        (s.station_id, s.latitude, s.longitude, s.city) for s in STATIONS
    ]
    compressors = pq.read_table(landing / "fleet" / "compressors.parquet")
    assert compressors.schema.field("horsepower").type == pa.int32()
    assert compressors.schema.field("install_date").type == pa.date32()
    rows = compressors.to_pylist()
    assert [r["compressor_id"] for r in rows] == [f"COMP-{i:03d}" for i in range(1, 11)]
    assert [r["station_id"][-1] for r in rows] == list("AAABBBCCCD")
    assert [r["model"] for r in rows] == [COMPRESSOR_MODELS[i % 4].name for i in range(10)]
    assert [r["horsepower"] for r in rows] == [1340, 1480, 1775, 1340, 1340, 1480, 1775, 1340, 1340, 1480]
    for r in rows:
        assert timedelta(days=365) <= START.date() - r["install_date"] <= timedelta(days=5 * 365)


def test_larger_fleet_repeats_the_block_layout_and_keeps_baselines(tmp_path: Path) -> None:
    result = simulate(SimulationConfig(compressors=25, days=6, start=START), tmp_path)
    assert result.failing == {
        "COMP-003": 5,
        "COMP-007": 3,
        "COMP-013": 5,
        "COMP-017": 3,
        "COMP-023": 5,
    }
    rows = pq.read_table(tmp_path / "fleet" / "compressors.parquet").to_pylist()
    assert [r["station_id"][-1] for r in rows] == list("AAABBBCCCD" * 2 + "AAABB")
    assert pq.read_table(tmp_path / "fleet" / "stations.parquet").num_rows == 4
    timeline = Timeline(START, 10, 144)
    small, large = build_fleet(42, 10, timeline), build_fleet(42, 25, timeline)
    assert np.array_equal(small.baselines, large.baselines[:10])


def test_ids_beyond_999_sort_as_strings(tmp_path: Path) -> None:
    simulate(SimulationConfig(compressors=1001, days=0.02, start=START), tmp_path)
    table = read_readings(tmp_path)
    keys = list(zip(table["timestamp"].to_pylist(), table["compressor_id"].to_pylist(), strict=True))
    assert keys == sorted(keys) and len(set(keys)) == len(keys) == 1001 * 2
    assert "COMP-1001" in table["compressor_id"].to_pylist()


def daily_mean(table: pa.Table, compressor: str, sensor: str, day: int) -> float:
    rows = table.filter(pc.equal(table["compressor_id"], compressor))
    hours = rows["operating_hours"].to_numpy()
    values = rows[sensor].to_numpy()
    return float(values[(hours >= 24 * day) & (hours < 24 * (day + 1))].mean())


def test_failing_units_degrade_and_healthy_units_stay_near_baseline(
    default_run: tuple[Path, SimulationResult],
) -> None:
    landing, _ = default_run
    table = read_readings(landing)
    assert daily_mean(table, "COMP-007", "vibration_mms", 6) > 2 * daily_mean(
        table, "COMP-007", "vibration_mms", 1
    )
    assert daily_mean(table, "COMP-007", "discharge_temp_f", 6) > 1.4 * daily_mean(
        table, "COMP-007", "discharge_temp_f", 1
    )
    assert daily_mean(table, "COMP-003", "vibration_mms", 6) > 1.2 * daily_mean(
        table, "COMP-003", "vibration_mms", 1
    )
    baselines = build_fleet(42, 10, Timeline(START, 10, 1008)).baselines
    for index in (0, 1, 3, 4, 5, 7, 8, 9):
        for s, sensor in enumerate(SENSORS):
            for day in range(7):
                mean = daily_mean(table, f"COMP-{index + 1:03d}", sensor.name, day)
                assert abs(mean / baselines[index, s] - 1) < 0.15


def test_degradation_is_continuous_and_ends_at_repair() -> None:
    d = np.array([-0.5, 0.0, 0.5, 1.0, 3.99, 4.0, 5.0])
    multipliers = degradation(d)
    assert multipliers.shape == (6, 7)
    assert np.all(multipliers[:, [0, 1, 5, 6]] == 1)
    vibration = multipliers[VIBRATION]
    assert vibration[1] < vibration[2] < vibration[3] < vibration[4]
    assert vibration[2] == pytest.approx(1 + 0.25**1.5)
    assert multipliers[1, 3] == pytest.approx(1.15)
    assert multipliers[2, 3] == pytest.approx(1 + 0.3 * np.sin(1))


def test_maintenance_log(default_run: tuple[Path, SimulationResult]) -> None:
    landing, result = default_run
    table = pq.read_table(landing / "maintenance" / "maintenance.parquet")
    assert table.schema.field("performed_at").type == pa.timestamp("us", tz="UTC")
    events = table.to_pylist()
    failures = [e for e in events if e["event_type"] == "failure"]
    assert len(failures) == 1  # COMP-003's failure (day 8) lies after the 7-day run
    failure = failures[0]
    assert failure["compressor_id"] == "COMP-007"
    assert failure["performed_at"] == START + timedelta(days=6)
    assert failure["event_id"] == "MX-COMP-007-failure-20260107"
    assert failure["severity"] == "critical" and 12 <= failure["downtime_hours"] <= 24
    scheduled = [e for e in events if e["event_type"] == "scheduled"]
    assert sorted(e["compressor_id"] for e in scheduled) == [f"COMP-{i:03d}" for i in range(1, 11)]
    for e in scheduled:
        assert result.start <= e["performed_at"] <= result.end and 2 <= e["downtime_hours"] <= 4
    assert len({e["event_id"] for e in events}) == len(events)


def test_second_run_replaces_the_first(tmp_path: Path) -> None:
    simulate(SimulationConfig(start=START), tmp_path)
    result = simulate(SimulationConfig(compressors=2, days=2, start=START + timedelta(hours=5)), tmp_path)
    assert len(readings_files(tmp_path)) == 2
    assert read_readings(tmp_path).num_rows == result.readings_rows == 2 * 288
    assert pq.read_table(tmp_path / "fleet" / "compressors.parquet").num_rows == 2


def test_progress_is_reported_per_file(tmp_path: Path) -> None:
    calls: list[tuple[int, int]] = []
    result = simulate(
        SimulationConfig(days=2, start=START), tmp_path, lambda done, total: calls.append((done, total))
    )
    assert calls == [(i, 5) for i in range(1, 6)] and len(result.files) == 5


@pytest.mark.parametrize(
    "kwargs",
    [
        {"compressors": 0},
        {"days": 0},
        {"interval_minutes": 0},
        {"seed": -1},
        {"start": datetime(2026, 1, 1)},
        {"faults": frozenset({"gremlins"})},
    ],
)
def test_invalid_config_is_rejected(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        SimulationConfig(**kwargs)  # type: ignore[arg-type]


def test_other_interval_and_non_utc_start(tmp_path: Path) -> None:
    start = datetime(2026, 1, 1, 2, 0, tzinfo=timezone(timedelta(hours=2)))
    result = simulate(SimulationConfig(compressors=3, days=2, interval_minutes=15, start=start), tmp_path)
    assert result.start == START and result.start.tzinfo == UTC
    assert result.readings_rows == 3 * 2 * 96
    assert [f.name for f in readings_files(tmp_path)] == [
        "readings-20260101T0000-20260101T2345.parquet",
        "readings-20260102T0000-20260102T2345.parquet",
    ]


def test_the_cli_names_a_dozen_failing_compressors_and_counts_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from altaviz.cli import FAILING_SHOWN, app

    monkeypatch.setenv("ALTAVIZ_DATA_DIR", str(tmp_path))
    done = CliRunner().invoke(app, ["simulate", "--compressors", "100", "--days", "7"], terminal_width=10_000)
    assert done.exit_code == 0, done.output
    line = next(x for x in done.output.splitlines() if x.startswith("failing: "))
    expected = simulate(SimulationConfig(compressors=100, days=7), tmp_path / "again").failing
    named = line.removeprefix("failing: ").split(" and ")[0].split(", ")
    assert named == [f"{c} from day {d:g}" for c, d in sorted(expected.items())[:FAILING_SHOWN]]
    assert line.endswith(f" and {len(expected) - FAILING_SHOWN} more ({len(expected)} in all)")
