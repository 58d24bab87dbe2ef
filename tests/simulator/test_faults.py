"""Each injected fault produces the rows the silver layer is meant to recognise, and nothing else."""

import itertools
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from altaviz.fleet import SENSOR_NAMES, SENSORS
from altaviz.simulator import FAULT_KINDS, SimulationConfig, SimulationResult, simulate

START = datetime(2026, 1, 1, tzinfo=UTC)
FAILING = ("COMP-003", "COMP-007")


def run(landing: Path, *kinds: str, **kwargs: object) -> tuple[pa.Table, SimulationResult]:
    result = simulate(SimulationConfig(start=START, faults=frozenset(kinds), **kwargs), landing)  # type: ignore[arg-type]
    table = pa.concat_tables(
        pq.read_table(f).append_column("file", pa.array([f.name] * pq.read_metadata(f).num_rows))
        for f in sorted((landing / "readings").glob("*.parquet"))
    )
    return table, result


def series(table: pa.Table, compressor: str) -> pa.Table:
    return table.filter(pc.equal(table["compressor_id"], compressor)).sort_by("timestamp")


def test_no_faults_by_default(tmp_path: Path) -> None:
    table, result = run(tmp_path)
    assert result.fault_counts == dict.fromkeys(FAULT_KINDS, 0)
    assert all(table[name].null_count == 0 for name in SENSOR_NAMES)


def test_gaps_remove_two_hours_from_healthy_units(tmp_path: Path) -> None:
    table, result = run(tmp_path, "gaps")
    assert result.fault_counts["gaps"] == 12 == 10_080 - table.num_rows
    counts = Counter(table["compressor_id"].to_pylist())
    gapped = [c for c, n in counts.items() if n < 1008]
    assert len(gapped) == 1 and gapped[0] not in FAILING and counts[gapped[0]] == 1008 - 12
    steps = np.diff(series(table, gapped[0])["operating_hours"].to_numpy())
    assert sorted(Counter(np.round(steps, 2)).items())[-1] == (2.17, 1)  # one hole of 12 readings


def test_stuck_sensor_repeats_one_value_for_six_hours(tmp_path: Path) -> None:
    table, result = run(tmp_path, "stuck")
    assert result.fault_counts["stuck"] == 37
    longest: tuple[int, str, str] = (0, "", "")
    for compressor in {f"COMP-{i:03d}" for i in range(1, 11)}:
        rows = series(table, compressor)
        for name in SENSOR_NAMES:
            values = rows[name].to_numpy()
            run_length = best = 1
            for a, b in itertools.pairwise(values):
                run_length = run_length + 1 if a == b else 1
                best = max(best, run_length)
            longest = max(longest, (best, compressor, name))
    assert longest[0] >= 37 and longest[1] not in FAILING


def test_duplicates_repeat_whole_rows(tmp_path: Path) -> None:
    table, result = run(tmp_path, "duplicates")
    count = result.fault_counts["duplicates"]
    assert 40 <= count <= 60 and table.num_rows == 10_080 + count == result.readings_rows
    rows = Counter(tuple(r.values()) for r in table.drop_columns(["file"]).to_pylist())
    assert sum(n - 1 for n in rows.values()) == count
    keys = Counter(zip(table["compressor_id"].to_pylist(), table["timestamp"].to_pylist(), strict=True))
    assert sum(n - 1 for n in keys.values()) == count


def test_nulls_blank_cells_and_whole_rows(tmp_path: Path) -> None:
    table, result = run(tmp_path, "nulls")
    nulls = sum(table[name].null_count for name in SENSOR_NAMES)
    assert nulls == result.fault_counts["nulls"] and 0.002 < nulls / (10_080 * 6) < 0.005
    all_null = pc.and_(*[pc.is_null(table[n]) for n in SENSOR_NAMES[:2]])
    for name in SENSOR_NAMES[2:]:
        all_null = pc.and_(all_null, pc.is_null(table[name]))
    assert pc.sum(all_null).as_py() >= 2
    assert table.num_rows == 10_080 and table["operating_hours"].null_count == 0


def test_out_of_range_values_are_physically_impossible(tmp_path: Path) -> None:
    table, result = run(tmp_path, "out_of_range")
    impossible = 0
    for sensor in SENSORS:
        values = table[sensor.name].to_numpy()
        bad = (values < sensor.physical_min) | (values > sensor.physical_max)
        assert set(values[bad]) <= {-999.0, 99999.0}
        impossible += int(bad.sum())
    assert impossible == result.fault_counts["out_of_range"] >= 1


def test_late_rows_land_in_a_later_file(tmp_path: Path) -> None:
    table, result = run(tmp_path, "late")
    assert table.num_rows == 10_080
    file_start = [
        datetime.strptime(f[9:22], "%Y%m%dT%H%M").replace(tzinfo=UTC) for f in table["file"].to_pylist()
    ]
    late = [(t, s) for t, s in zip(table["timestamp"].to_pylist(), file_start, strict=True) if t < s]
    assert len(late) == result.fault_counts["late"] >= 6 * 7  # ~0.5 % of every chunk but the last
    assert all(s - timedelta(days=1) <= t for t, s in late)  # they arrive with the very next file


def test_future_rows_are_after_now_in_the_last_file(tmp_path: Path) -> None:
    table, result = run(tmp_path, "future")
    now = datetime.now(UTC)
    future = table.filter(pc.greater(table["timestamp"], pa.scalar(now, pa.timestamp("us", tz="UTC"))))
    assert future.num_rows == result.fault_counts["future"] >= 2
    last_file = sorted(set(table["file"].to_pylist()))[-1]
    for row in future.to_pylist():
        assert now + timedelta(hours=23) < row["timestamp"] < now + timedelta(days=2)
        assert row["file"] == last_file and row["compressor_id"] not in FAILING


def test_faults_spare_the_failing_units_series(tmp_path: Path) -> None:
    clean, _ = run(tmp_path / "clean")
    faulty, _ = run(tmp_path / "faulty", "gaps", "stuck", "future")
    for compressor in FAILING:
        assert (
            series(faulty, compressor)
            .drop_columns(["file"])
            .equals(series(clean, compressor).drop_columns(["file"]))
        )


def test_all_faults_together_at_fleet_scale(tmp_path: Path) -> None:
    table, result = run(tmp_path, *FAULT_KINDS, compressors=50, days=2)
    counts = result.fault_counts
    assert all(counts[kind] > 0 for kind in FAULT_KINDS)
    assert counts["gaps"] == 5 * 12
    expected = 50 * 288 - counts["gaps"] + counts["duplicates"] + counts["future"]
    assert table.num_rows == result.readings_rows == expected


@pytest.mark.parametrize("kind", FAULT_KINDS)
def test_one_fault_kind_leaves_the_others_off(tmp_path: Path, kind: str) -> None:
    _, result = run(tmp_path, kind, days=2)
    assert {k for k, n in result.fault_counts.items() if n} == {kind}
