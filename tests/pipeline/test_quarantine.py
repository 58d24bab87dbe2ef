"""Silver: every bad row is quarantined with its reason; nothing disappears."""

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from altaviz.config import Settings
from altaviz.fleet import SENSORS
from altaviz.simulator import SimulationResult
from tests.pipeline.helpers import (
    OFF_HOUR_START,
    copy_landing,
    lake_rows,
    run,
    settings_for,
    write_fleet,
    write_readings,
)


def test_injected_faults_land_in_quarantine_with_their_reasons(
    faulty_landing: tuple[Path, SimulationResult], tmp_path: Path
) -> None:
    landing, simulated = faulty_landing
    data_dir = copy_landing(landing, tmp_path)
    summary = run(settings_for(data_dir), skip_db=True).summary
    assert summary.balanced
    assert summary.bronze_rows == simulated.readings_rows
    quarantine = lake_rows(data_dir, "silver/quarantine")
    reasons = Counter(r["reason"].split(":")[0] for r in quarantine)
    assert set(reasons) == {"duplicate", "future timestamp", "impossible value", "all sensors null"}
    assert reasons["future timestamp"] == simulated.fault_counts["future"]
    silver = lake_rows(data_dir, "silver/readings")
    silver_keys = {(r["compressor_id"], r["timestamp"]) for r in silver}
    assert len(silver_keys) == len(silver)
    limits = {s.name: (s.physical_min, s.physical_max) for s in SENSORS}
    for row in quarantine:  # each reason is true of its row
        kind, _, detail = row["reason"].partition(":")
        if kind == "duplicate":
            assert (row["compressor_id"], row["timestamp"]) in silver_keys
        elif kind == "impossible value":
            low, high = limits[detail.strip()]
            assert not low <= row[detail.strip()] <= high
        elif kind == "future timestamp":
            assert row["timestamp"] > row["_loaded_at"]
        else:
            assert all(row[s] is None for s in limits)
    # Late rows arrive in a later file but are ordinary readings and are kept: every key the simulator
    # produced is in silver unless it was gapped out or its only copies are broken.
    broken_only = {
        (r["compressor_id"], r["timestamp"])
        for r in quarantine
        if not r["reason"].startswith(("duplicate", "future"))
    } - silver_keys
    assert len(silver_keys) == 10_080 - simulated.fault_counts["gaps"] - len(broken_only)


def test_stuck_sensor_is_flagged(faulty_landing: tuple[Path, SimulationResult], tmp_path: Path) -> None:
    data_dir = copy_landing(faulty_landing[0], tmp_path)
    run(settings_for(data_dir), skip_db=True)
    stuck = lake_rows(data_dir, "silver/readings", "quality_flags LIKE '%stuck:%'")
    assert stuck
    assert len({r["compressor_id"] for r in stuck}) == 1


def test_hand_made_bad_rows(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    write_fleet(landing)
    t = OFF_HOUR_START
    write_readings(
        landing,
        "readings-bad.parquet",
        [
            {"compressor_id": "COMP-001", "timestamp": t},
            {"compressor_id": "COMP-001", "timestamp": t, "vibration_mms": 3.5},  # same key, later row
            {"compressor_id": "COMP-001", "timestamp": t + timedelta(minutes=10), "vibration_mms": -999.0},
            {"compressor_id": "COMP-001", "timestamp": t + timedelta(minutes=10)},  # the good copy is kept
            {"compressor_id": "COMP-404", "timestamp": t},
            {"compressor_id": "COMP-001", "timestamp": datetime.now(UTC) + timedelta(days=1)},
            {
                "compressor_id": "COMP-001",
                "timestamp": t + timedelta(minutes=20),
                "vibration_mms": None,
                "discharge_temp_f": None,
                "suction_pressure_psi": None,
                "discharge_pressure_psi": None,
                "horsepower_consumption": None,
                "gas_flow_mcf": None,
            },
            {"compressor_id": "COMP-001", "timestamp": t + timedelta(minutes=30), "gas_flow_mcf": None},
        ],
    )
    summary = run(settings_for(tmp_path), skip_db=True).summary
    quarantined = {
        (r["_source_row"], r["reason"].split(":")[0]) for r in lake_rows(tmp_path, "silver/quarantine")
    }
    assert quarantined == {
        (1, "duplicate"),
        (2, "impossible value"),
        (4, "unknown compressor"),
        (5, "future timestamp"),
        (6, "all sensors null"),
    }
    silver = lake_rows(tmp_path, "silver/readings", order="timestamp")
    assert [r["vibration_mms"] for r in silver] == [3.0, 3.0, 3.0]  # first copy kept, partial-null row kept
    assert summary.balanced


def test_a_reading_from_1970_is_quarantined_as_too_old_and_leaves_the_span_alone(tmp_path: Path) -> None:
    """Issue 18 item 11: one reading with a reset clock stretched the expected span to 56 years."""
    landing = tmp_path / "landing"
    write_fleet(landing)
    now = datetime.now(UTC).replace(microsecond=0)
    rows = [{"compressor_id": "COMP-001", "timestamp": now - timedelta(minutes=10 * i)} for i in range(36)]
    write_readings(
        landing,
        "readings.parquet",
        [*rows, {"compressor_id": "COMP-001", "timestamp": datetime(1970, 1, 1, tzinfo=UTC)}],
    )
    summary = run(settings_for(tmp_path), skip_db=True).summary
    assert summary.quarantined == {"too old": 1}
    assert summary.quality["completeness"]
    fleet = lake_rows(tmp_path, "silver/quality", "scope = 'fleet'")[0]
    assert fleet["expected_rows"] == 36
    assert fleet["consistency"] == 1.0


def test_operating_hours_out_of_range_are_quarantined(tmp_path: Path) -> None:
    """Issue 18 item 15: operating_hours of -1e12 was kept; a running-hours counter is never negative."""
    landing = tmp_path / "landing"
    write_fleet(landing)
    t = OFF_HOUR_START
    hours = [1000.0, -1e12, -1.0, 1e9, float("nan"), None, 1001.0]
    write_readings(
        landing,
        "readings.parquet",
        [
            {"compressor_id": "COMP-001", "timestamp": t + timedelta(minutes=10 * i), "operating_hours": h}
            for i, h in enumerate(hours)
        ],
    )
    summary = run(settings_for(tmp_path), skip_db=True).summary
    assert summary.balanced
    quarantined = lake_rows(tmp_path, "silver/quarantine", order="timestamp")
    assert [r["reason"] for r in quarantined] == ["impossible value: operating_hours"] * 4
    kept = [r["operating_hours"] for r in lake_rows(tmp_path, "silver/readings", order="timestamp")]
    assert kept == [1000.0, None, 1001.0]


def test_the_age_horizon_is_a_setting(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    write_fleet(landing)
    now = datetime.now(UTC).replace(microsecond=0)
    write_readings(
        landing,
        "readings.parquet",
        [{"compressor_id": "COMP-001", "timestamp": now - timedelta(days=d)} for d in (1, 5)],
    )
    settings = settings_for(tmp_path).model_copy(update={"max_reading_age_days": 3})
    summary = run(settings, skip_db=True).summary
    assert summary.quarantined == {"too old": 1}
    reasons = [r["reason"] for r in lake_rows(tmp_path, "silver/quarantine")]
    assert len(reasons) == 1 and reasons[0].startswith("too old:")


SILVER_CLASSIFIED_REFERENCE = (Path(__file__).parent / "silver_classified_reference.sql").read_text()


@pytest.mark.parametrize("seed", range(6))
def test_duplicates_ranked_where_keys_repeat_equal_the_window_over_every_reading(
    tmp_path: Path, seed: int
) -> None:
    """silver_classified ranks only the readings of (compressor, timestamp) keys that repeat among the
    good ones; the formulation it replaced ranked every reading (a window over all of bronze,
    silver_classified_reference.sql). Same reasons for every row: copies in one file and across loads,
    broken copies, late copies (checked before the ranking: not counted as copies), old silver rows (no
    source row), two organizations with the same ids, ids the fleet does not register (valid or not:
    the id rule is applied only to those)."""
    from altaviz.pipeline.engine import DuckDBEngine, load_sql
    from altaviz.pipeline.stages import bind_parameters

    rng = np.random.default_rng(seed)
    engine = DuckDBEngine(Settings(data_dir=tmp_path), tmp_path / "scratch")
    try:
        bind_parameters(engine, Settings(data_dir=tmp_path))
        base = datetime(2026, 1, 1, tzinfo=UTC)
        rows = []
        for organization in ("north", "south"):
            for compressor in ("C1", "C2", "C3", "C 4!", None):
                for i in range(int(rng.integers(0, 60))):
                    source_row = None if rng.random() < 0.1 else i
                    # (load, file, row) tells every copy apart, as in bronze, so both rankings are exact
                    loaded = base + timedelta(
                        days=int(rng.integers(1, 4)), seconds=i if source_row is None else 0
                    )
                    rows.append(
                        {
                            "organization": organization,
                            "compressor_id": compressor,
                            "timestamp": str(base + timedelta(minutes=10 * int(rng.integers(0, 40)))),
                            "vibration_mms": float(rng.choice([2.0, 3.0, -999.0], p=[0.45, 0.45, 0.1])),
                            "discharge_temp_f": 200.0,
                            "suction_pressure_psi": 50.0,
                            "discharge_pressure_psi": 1000.0,
                            "horsepower_consumption": 1200.0,
                            "gas_flow_mcf": 9000.0,
                            "operating_hours": 100.0,
                            "_refused": None,
                            "_source_file": str(rng.choice(["a.parquet", "b.parquet"])),
                            "_source_row": source_row,
                            "_loaded_at": str(loaded),
                        }
                    )
        if not rows:
            return
        engine.bind_rows("bronze_rows", rows)
        engine.bind_sql(
            "bronze_readings",
            "SELECT * REPLACE (CAST(timestamp AS TIMESTAMPTZ) AS timestamp, "
            "CAST(_loaded_at AS TIMESTAMPTZ) AS _loaded_at) FROM bronze_rows",
        )
        fleet = [{"organization": o, "compressor_id": c} for o in ("north", "south") for c in ("C1", "C2")]
        engine.bind_rows("compressors", fleet)
        engine.bind_rows("plan_compressors", fleet)
        engine.bind_sql(
            "prior_watermarks",
            "SELECT 'north' AS organization, 'C1' AS compressor_id, "
            f"TIMESTAMPTZ '{base + timedelta(hours=30)}' AS newest",
        )
        columns = "compressor_id, timestamp, vibration_mms, _source_file, _source_row, _loaded_at, reason"
        reference, classified = SILVER_CLASSIFIED_REFERENCE, load_sql("silver_classified")
        expected = engine.rows(f"SELECT organization, {columns} FROM ({reference}) ORDER BY ALL")
        actual = engine.rows(f"SELECT organization, {columns} FROM ({classified}) ORDER BY ALL")
        assert actual == expected
        reasons = {str(r[-1]).split(":")[0] for r in expected}
        assert {
            "duplicate",
            "late",
            "impossible value",
            "unknown compressor",
            "missing key",
            "invalid compressor id",
        } <= reasons
    finally:
        engine.close()
