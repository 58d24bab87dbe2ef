"""The health stage with the station ambient proxy (altaviz.health.ambient): the pipeline's health is the
model given the proxy computed from the same silver (no proxy for a compressor alone in its station);
incremental runs equal a full run when a station's compressors report at different times, when a
station-mate's readings arrive late into hours the station already used, and when a compressor falls
silent and its backlog lands later; a pass where every compressor reports recomputes nothing; each
compressor's baseline is stored and read, not recomputed from silver; two organizations' stations of the
same name are not one station."""

from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from altaviz.health import SENSORS, HealthConfig, HealthState, ambient, fleet_step
from altaviz.pipeline import health as health_stage
from altaviz.pipeline.lake import Lake
from tests.pipeline.helpers import (
    ON_HOUR_START,
    assert_equals_a_full_recomputation,
    degrading_series,
    lake_rows,
    land_readings,
    run,
    settings_for,
)

ORG = "altaviz-demo"
STATION = {"COMP-001": "STATION-A", "COMP-002": "STATION-A", "COMP-003": "STATION-A", "COMP-004": "STATION-B"}
TABLES = {
    "gold/health": "organization, compressor_id, hour",
    "gold/health_predictions": "organization, compressor_id, metric, level",
    "gold/health_alerts": "organization, compressor_id, alert_type, started_at",
    "gold/health_state": "organization, compressor_id",
    "gold/health_baseline": "organization, compressor_id",
    "gold/health_prior": "organization",
}
DAY = timedelta(days=1)
H = timedelta(hours=1)


def weather_fleet(days: float = 8.0, sign: float = 1.0) -> pa.Table:
    """Three compressors of one station whose discharge temperatures follow the same weather (fronts
    of several days and a daily swing; `sign` -1: the opposite weather), and one alone in another station."""
    parts = []
    for seed, compressor in enumerate(STATION, start=11):
        table = degrading_series(compressor, days, 1e9, seed)
        day = np.arange(table.num_rows) / 144
        weather = sign * (9 * np.sin(2 * np.pi * day / 3.3) + 5 * np.sin(2 * np.pi * day / 1.4 + 1))
        temp = np.round(table["discharge_temp_f"].to_numpy() + weather, 2)
        at = table.schema.get_field_index("discharge_temp_f")
        parts.append(table.set_column(at, "discharge_temp_f", pa.array(temp, pa.float64())))
    return pa.concat_tables(parts)


def write_stations(landing: Path, stations: dict[str, str] = STATION) -> None:
    fleet = landing / "fleet"
    fleet.mkdir(parents=True, exist_ok=True)
    names = sorted(set(stations.values()))
    pq.write_table(
        pa.table(
            {
                "station_id": names,
                "station_name": names,
                "latitude": [28.9] * len(names),
                "longitude": [-98.5] * len(names),
            }
        ),
        fleet / "stations.parquet",
    )
    pq.write_table(
        pa.table(
            {
                "compressor_id": list(stations),
                "station_id": list(stations.values()),
                "model": ["Ajax DPC-360"] * len(stations),
                "horsepower": pa.array([1340] * len(stations), pa.int32()),
                "install_date": pa.array([ON_HOUR_START.date()] * len(stations), pa.date32()),
            }
        ),
        fleet / "compressors.parquet",
    )


def _pick(readings: pa.Table, start: timedelta, end: timedelta, compressors: Any = STATION) -> pa.Array:
    ts = readings["timestamp"]
    return pc.and_(
        pc.and_(
            pc.greater_equal(ts, pa.scalar(ON_HOUR_START + start, ts.type)),
            pc.less(ts, pa.scalar(ON_HOUR_START + end, ts.type)),
        ),
        pc.is_in(readings["compressor_id"], pa.array(list(compressors))),
    )


def test_the_pipelines_health_is_the_model_given_the_station_proxy(tmp_path: Path) -> None:
    landing = tmp_path / "landing" / ORG
    write_stations(landing)
    land_readings(landing, "all.parquet", weather_fleet())
    run(settings_for(tmp_path), skip_db=True)

    silver = lake_rows(tmp_path, "silver/readings", order="compressor_id, timestamp")
    hours = lake_rows(tmp_path, "gold/health", order="compressor_id, hour")
    series, proxy_input = {}, []
    for compressor in STATION:
        rows = [r for r in silver if r["compressor_id"] == compressor]
        times = np.array([int(r["timestamp"].timestamp()) for r in rows], dtype=np.int64)
        values = np.array(
            [
                [np.nan if f":{s}" in (r["quality_flags"] or "") or r[s] is None else r[s] for r in rows]
                for s in SENSORS
            ]
        )
        series[compressor] = (times, values)
        proxy_input.append(
            (times, values[SENSORS.index("discharge_temp_f")], values[SENSORS.index("gas_flow_mcf")])
        )
    proxy = ambient.ambient_proxy(list(STATION.values()), proxy_input)
    assert set(proxy) == {"STATION-A"}  # COMP-004 is alone in its station: no proxy

    compressors = list(STATION)
    last = {c: max(int(r["hour"].timestamp()) for r in hours if r["compressor_id"] == c) for c in compressors}
    fed = [series[c][0] < last[c] + 3600 for c in compressors]
    config = HealthConfig()
    out = fleet_step(
        np.concatenate([np.full(int(f.sum()), i) for i, f in enumerate(fed)]),
        np.concatenate([series[c][0][f] for c, f in zip(compressors, fed, strict=True)]),
        np.concatenate([series[c][1][:, f] for c, f in zip(compressors, fed, strict=True)], axis=1),
        state=HealthState(len(compressors), config),
        ambient=[proxy.get(STATION[c]) for c in compressors],
        config=config,
    )
    expected = {
        (compressors[c], int(h)): v for c, h, v in zip(out.compressor, out.hour, out.health, strict=True)
    }
    got = {(r["compressor_id"], int(r["hour"].timestamp())): r["health_index"] for r in hours}
    assert set(got) == set(expected)
    judged = [k for k, v in got.items() if v is not None]
    assert len(judged) > 100
    for key in judged:
        assert got[key] == pytest.approx(expected[key], abs=2e-3)


def test_incremental_runs_with_staggered_late_and_silent_station_mates_equal_a_full_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    readings = weather_fleet()
    late = _pick(readings, 5 * DAY + 20 * H, 5 * DAY + 21 * H, ["COMP-002"])
    held = _pick(readings, 5 * DAY + 22 * H, 6 * DAY + H, ["COMP-003"])
    everyone = list(STATION)
    talking = ["COMP-001", "COMP-002", "COMP-004"]
    batches = [
        pc.and_(_pick(readings, timedelta(0), 6 * DAY), pc.invert(pc.or_(late, held))),
        # COMP-003 reports its last three hours a pass late: the station's proxy waits for them
        pc.and_(_pick(readings, 6 * DAY, 6 * DAY + H), pc.invert(held)),
        pc.or_(held, _pick(readings, 6 * DAY + H, 6 * DAY + 2 * H)),
        _pick(readings, 6 * DAY + 2 * H, 6 * DAY + 3 * H),  # every compressor reports: nothing recomputed
        # COMP-002's readings of an hour its station used, 34 hours late
        pc.or_(late, _pick(readings, 6 * DAY + 3 * H, 6 * DAY + 4 * H)),
        # COMP-003 falls silent for 30 hours: after the late window its station goes on without it
        _pick(readings, 6 * DAY + 4 * H, 7 * DAY + 10 * H, talking),
        # then its backlog lands, with the rest
        pc.or_(
            _pick(readings, 6 * DAY + 4 * H, 7 * DAY + 10 * H, ["COMP-003"]),
            _pick(readings, 7 * DAY + 10 * H, 8 * DAY, everyone),
        ),
    ]
    recomputed: list[set[str]] = []  # per incremental pass, the compressors computed afresh
    stage = health_stage.HealthStage._stage

    def spy(self: Any, rows: Any, fresh: str | None, incremental: bool = False, recent: Any = None) -> None:
        if incremental and fresh is not None:
            recomputed.append({str(c) for _, c in self.local.rows(fresh)})
        stage(self, rows, fresh, incremental, recent)

    monkeypatch.setattr(health_stage.HealthStage, "_stage", spy)
    data_dir = tmp_path / "arriving"
    landing = data_dir / "landing" / ORG
    write_stations(landing)
    last_hours = []
    for number, picked in enumerate(batches):
        land_readings(landing, f"batch-{number}.parquet", readings.filter(picked))
        result = run(settings_for(data_dir), skip_db=True)
        assert result.organizations[ORG].work == (["full"] if number == 0 else ["incremental"])
        health = lake_rows(data_dir, "gold/health", "compressor_id = 'COMP-001'", "hour")
        last_hours.append(health[-1]["hour"] - ON_HOUR_START)
        if number in (2, 4):  # after a staggered hour, and after the late one
            assert_equals_a_full_recomputation(data_dir, tmp_path / f"full-{number}", TABLES)

    assert recomputed[:3] == [set(), set(), set()]  # staggered and common passes continue every compressor
    assert recomputed[3] == {
        "COMP-001",
        "COMP-002",
        "COMP-003",
    }  # the late hour: its station again, not COMP-004
    assert last_hours[0] == last_hours[1]  # COMP-001 waited for COMP-003's hour
    assert last_hours[2] > last_hours[1]
    assert last_hours[5] >= 7 * DAY + 8 * H  # went on without the silent COMP-003
    assert recomputed[5] == {"COMP-001", "COMP-002", "COMP-003"}  # whose backlog changed hours they used
    assert_equals_a_full_recomputation(data_dir, tmp_path / "full", TABLES)


def test_the_baseline_is_stored_and_read_not_recomputed(tmp_path: Path) -> None:
    readings = weather_fleet(days=6.0)
    landing = tmp_path / "landing" / ORG
    write_stations(landing)
    land_readings(landing, "first.parquet", readings.filter(_pick(readings, timedelta(0), 5 * DAY)))
    run(settings_for(tmp_path), skip_db=True)
    stored = {r["compressor_id"]: r for r in lake_rows(tmp_path, "gold/health_baseline")}
    # the first 48 hours' running median, as altaviz.health.ambient computes it from silver
    silver = lake_rows(tmp_path, "silver/readings", "compressor_id = 'COMP-001'", "timestamp")
    rows = ambient.hourly(
        np.zeros(len(silver), dtype=np.int64),
        np.array([int(r["timestamp"].timestamp()) for r in silver]),
        np.array([r["discharge_temp_f"] for r in silver]),
        np.array([r["gas_flow_mcf"] for r in silver]),
    )
    assert stored["COMP-001"]["baseline_temp"] == pytest.approx(float(ambient.baselines(rows, 1).temp[0]))
    assert stored["COMP-001"]["first_hour"] == int(ON_HOUR_START.timestamp()) // 3600

    # the stored value is what the next pass uses: changed here, it stays changed
    lake = Lake(tmp_path / "lake")
    (path,) = lake.table_files("gold/health_baseline")
    table = pq.read_table(path)
    temps = [
        t + 40 if c == "COMP-001" else t
        for c, t in zip(table["compressor_id"].to_pylist(), table["baseline_temp"].to_pylist(), strict=True)
    ]
    pq.write_table(table.set_column(5, "baseline_temp", pa.array(temps, pa.float64())), path)
    land_readings(landing, "next.parquet", readings.filter(_pick(readings, 5 * DAY, 5 * DAY + 2 * H)))
    run(settings_for(tmp_path), skip_db=True)
    after = {r["compressor_id"]: r for r in lake_rows(tmp_path, "gold/health_baseline")}
    assert after["COMP-001"]["baseline_temp"] == pytest.approx(stored["COMP-001"]["baseline_temp"] + 40)
    assert after["COMP-001"]["newest_hour"] > stored["COMP-001"]["newest_hour"]


def test_two_organizations_stations_of_the_same_name_are_not_one_station(tmp_path: Path) -> None:
    """Station ids are an organization's own: another organization's STATION-A, under the opposite
    weather and computed in the same pass, changes nothing of this organization's health."""
    together, alone = tmp_path / "together", tmp_path / "alone"
    for data_dir, organizations in ((together, {ORG: 1.0, "other-co": -1.0}), (alone, {ORG: 1.0})):
        for organization, sign in organizations.items():
            landing = data_dir / "landing" / organization
            write_stations(landing)
            land_readings(landing, "all.parquet", weather_fleet(sign=sign))
        run(settings_for(data_dir), skip_db=True)
    for table, order in (
        ("gold/health", "organization, compressor_id, hour"),
        ("gold/health_state", "compressor_id"),
    ):
        both = lake_rows(together, table, order=order)
        assert {r["organization"] for r in both} == {ORG, "other-co"}
        # the model's state holds what it learnt of the weather (its ambient coefficients)
        assert [r for r in both if r["organization"] == ORG] == lake_rows(alone, table, order=order)
    baselines = lake_rows(together, "gold/health_baseline", order="organization, compressor_id")
    assert {(r["organization"], r["station_id"]) for r in baselines} == {
        (o, st) for o in (ORG, "other-co") for st in ("STATION-A", "STATION-B")
    }


def _register(url: str, stations: dict[str, str]) -> None:
    """The organization and its fleet in the registry (as the API registers them), no fleet file;
    a compressor already registered moves to the station given."""
    from sqlalchemy import select

    from altaviz.accounts.models import Organization
    from altaviz.accounts.service import create_organization
    from altaviz.db.session import create_db_engine, session_scope
    from altaviz.monitoring.models import CompressorMetadata, StationLocation

    engine = create_db_engine(url)
    try:
        with session_scope(engine) as session:
            org = session.scalars(select(Organization).where(Organization.slug == ORG)).one_or_none()
            if org is None:
                org = create_organization(session, "Demo", ORG, tier="enterprise", max_compressors=None)
            for station in sorted(set(stations.values())):
                if session.get(StationLocation, (org.id, station)) is None:
                    session.add(
                        StationLocation(
                            organization_id=org.id,
                            station_id=station,
                            station_name=station,
                            latitude=28.9,
                            longitude=-98.5,
                        )
                    )
            session.flush()
            for compressor, station in stations.items():
                row = session.get(CompressorMetadata, (org.id, compressor))
                if row is None:
                    session.add(
                        CompressorMetadata(
                            organization_id=org.id,
                            compressor_id=compressor,
                            station_id=station,
                            model="Ajax DPC-360",
                            horsepower=1340,
                            install_date=ON_HOUR_START.date(),
                        )
                    )
                else:
                    row.station_id = station
    finally:
        engine.dispose()


def test_stations_registered_through_the_registry_give_the_proxy(tmp_path: Path, sqlite_url: str) -> None:
    """A fleet registered in the database only (no fleet file) gets its stations' proxy: the health is
    the fleet file's; a compressor moved to another station in the registry recomputes the organization,
    which then equals a run whose fleet file names the new station."""
    moved = {**STATION, "COMP-003": "STATION-B"}
    readings = weather_fleet()
    by_file, by_file_moved, registry = tmp_path / "file", tmp_path / "moved", tmp_path / "registry"
    for data_dir, stations in ((by_file, STATION), (by_file_moved, moved)):
        write_stations(data_dir / "landing" / ORG, stations)
        land_readings(data_dir / "landing" / ORG, "all.parquet", readings)
        run(settings_for(data_dir), skip_db=True)
    _register(sqlite_url, STATION)
    land_readings(registry / "landing" / ORG, "all.parquet", readings)
    settings = settings_for(registry, sqlite_url)
    assert run(settings).organizations[ORG].work == ["full"]
    for table, order in TABLES.items():
        assert lake_rows(registry, table, order=order) == lake_rows(by_file, table, order=order), table
    assert not run(settings).organizations[ORG].work  # nothing new: nothing recomputed

    _register(sqlite_url, moved)
    assert run(settings).organizations[ORG].work == ["full"]
    for table, order in TABLES.items():
        assert lake_rows(registry, table, order=order) == lake_rows(by_file_moved, table, order=order), table


def test_a_listed_compressor_without_readings_is_stored_alike_by_incremental_and_full_runs(
    tmp_path: Path,
) -> None:
    """A compressor the fleet file lists in a station with a proxy but that never reported: an
    incremental pass leaves its baseline row as a full run writes it (no proxy hold of its own)."""
    stations = {**STATION, "COMP-009": "STATION-A"}
    readings = weather_fleet(days=7.0)
    data_dir = tmp_path / "arriving"
    landing = data_dir / "landing" / ORG
    write_stations(landing, stations)
    for number, (start, end) in enumerate(
        [(timedelta(0), 6 * DAY), (6 * DAY, 6 * DAY + 2 * H), (6 * DAY + 2 * H, 7 * DAY)]
    ):
        land_readings(landing, f"batch-{number}.parquet", readings.filter(_pick(readings, start, end)))
        result = run(settings_for(data_dir), skip_db=True)
        assert result.organizations[ORG].work == (["full"] if number == 0 else ["incremental"])
    silent = lake_rows(data_dir, "gold/health_baseline", "compressor_id = 'COMP-009'", "compressor_id")
    assert [(row["first_hour"], row["ambient_until"]) for row in silent] in ([], [(None, None)])
    assert_equals_a_full_recomputation(data_dir, tmp_path / "full", TABLES)
