"""Alert episodes on hand-made vibration series (warning 6.0, critical 8.0, deadband 5 %).

A reading more than 10 % away from the median of the five around it is a glitch (silver flags it as a
spike): it neither opens nor clears an episode. So the series below use excursions of three readings
or more when they mean a real change.
"""

from datetime import timedelta
from pathlib import Path
from typing import Any

from tests.pipeline.helpers import OFF_HOUR_START, lake_rows, run, settings_for, write_fleet, write_readings


def _episodes(tmp_path: Path, vibration: list[float]) -> list[dict[str, Any]]:
    landing = tmp_path / "landing"
    write_fleet(landing)
    write_readings(
        landing,
        "readings-series.parquet",
        [
            {
                "compressor_id": "COMP-001",
                "timestamp": OFF_HOUR_START + timedelta(minutes=10 * i),
                "vibration_mms": v,
            }
            for i, v in enumerate(vibration)
        ],
    )
    run(settings_for(tmp_path), skip_db=True)
    return lake_rows(tmp_path, "gold/alerts", "metric = 'vibration_mms'", "started_at")


def _at(i: int) -> Any:
    return OFF_HOUR_START + timedelta(minutes=10 * i)


def test_a_single_violation_opens_nothing(tmp_path: Path) -> None:
    assert _episodes(tmp_path, [3, 3, 9, 3, 3, 6.1, 3, 3]) == []


def test_a_two_reading_glitch_opens_nothing_but_a_lasting_rise_does(tmp_path: Path) -> None:
    assert _episodes(tmp_path / "glitch", [3, 3, 3, 9, 9, 3, 3, 3]) == []
    (episode,) = _episodes(tmp_path / "rise", [3, 3, 3, 9, 9, 9, 9, 9])
    assert episode["raised_at"] == _at(4)


def test_two_consecutive_violations_open_an_episode_at_the_second(tmp_path: Path) -> None:
    (episode,) = _episodes(tmp_path, [3, 3, 6.5, 6.6, 6.7, 3, 3, 3, 3])
    assert episode["started_at"] == _at(2)
    assert episode["raised_at"] == _at(3)
    assert episode["severity"] == "warning"
    assert episode["returned_to_normal_at"] == _at(7)  # third normal reading
    assert not episode["is_active"]
    assert episode["violation_count"] == 3
    assert episode["peak_value"] == 6.7
    assert episode["threshold_value"] == 6.0


def test_severity_rises_and_short_dips_do_not_split_the_episode(tmp_path: Path) -> None:
    (episode,) = _episodes(tmp_path, [3, 6.5, 6.5, 6.5, 3, 3, 8.5, 8.6, 8.7, 3, 7, 7, 7])
    assert episode["severity"] == "critical"
    assert episode["threshold_value"] == 8.0
    assert episode["peak_value"] == 8.7
    assert episode["is_active"]
    assert episode["returned_to_normal_at"] is None
    assert episode["violation_count"] == 9


def test_values_inside_the_deadband_do_not_clear(tmp_path: Path) -> None:
    # 5.9 is below the 6.0 limit but inside the 5 % deadband (5.7): not "back to normal".
    (episode,) = _episodes(tmp_path, [6.5, 6.5, 6.5, 5.9, 5.9, 5.9, 5.9, 6.2, 6.3, 6.3, 5.0, 5.0, 5.0])
    assert episode["returned_to_normal_at"] == _at(12)


def test_a_clear_run_ends_one_episode_and_the_next_opens_anew(tmp_path: Path) -> None:
    first, second = _episodes(tmp_path, [6.5, 6.5, 6.5, 3, 3, 3, 3, 9, 9, 9])
    assert first["returned_to_normal_at"] == _at(5)
    assert second["started_at"] == _at(7)
    assert second["severity"] == "critical"
