"""The health stage with the organization's fleet prior (altaviz.health.prior): stored in
gold/health_prior, it is `organization_prior` over the organization's silver before its prior hour (its
first hour + 4 days), and the pipeline's health is `step_with_prior` given it; incremental runs equal a
full run across the prior hour (hours before and after it, a late reading before it once the prior is
stored, a compressor joining after it); two organizations' priors come from their own data only."""

from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from altaviz.health import SENSORS, HealthConfig, HealthState, ambient, fleet_step
from altaviz.health.prior import PRIOR_HOURS, organization_prior, step_with_prior
from altaviz.pipeline import health as health_stage
from tests.pipeline.helpers import (
    ON_HOUR_START,
    assert_equals_a_full_recomputation,
    lake_rows,
    land_readings,
    run,
    settings_for,
)
from tests.pipeline.test_health_ambient import ORG, STATION, weather_fleet, write_stations

DAY = timedelta(days=1)
H = timedelta(hours=1)
FIRST_HOUR = int(ON_HOUR_START.timestamp()) // 3600
TABLES = {
    "gold/health": "organization, compressor_id, hour",
    "gold/health_predictions": "organization, compressor_id, metric, level",
    "gold/health_alerts": "organization, compressor_id, alert_type, started_at",
    "gold/health_state": "organization, compressor_id",
    "gold/health_baseline": "organization, compressor_id",
    "gold/health_prior": "organization",
}


def _silver(data_dir: Path, organization: str, compressors: list[str]) -> dict[str, tuple[Any, Any]]:
    """Each compressor's silver readings as the step gets them: (epoch seconds, values (6, n)), flagged
    values NaN."""
    rows = lake_rows(
        data_dir, "silver/readings", f"organization = '{organization}'", "compressor_id, timestamp"
    )
    out = {}
    for compressor in compressors:
        mine = [r for r in rows if r["compressor_id"] == compressor]
        times = np.array([int(r["timestamp"].timestamp()) for r in mine], dtype=np.int64)
        values = np.array(
            [
                [np.nan if f":{s}" in (r["quality_flags"] or "") or r[s] is None else r[s] for r in mine]
                for s in SENSORS
            ]
        ).reshape(6, -1)
        out[compressor] = (times, values)
    return out


def _expected_prior(series: dict[str, tuple[Any, Any]], stations: dict[str, str], at: int) -> Any:
    proxy = ambient.ambient_proxy(
        [stations[c] for c in series],
        [
            (t, v[SENSORS.index("discharge_temp_f")], v[SENSORS.index("gas_flow_mcf")])
            for t, v in series.values()
        ],
    )
    given = []
    for compressor, (times, values) in series.items():
        p = proxy.get(stations[compressor])
        given.append((times, values, None if p is None else p[0], None if p is None else p[1]))
    return organization_prior(given, at), proxy


def _prior_row(data_dir: Path, organization: str = ORG) -> dict[str, Any]:
    rows = lake_rows(data_dir, "gold/health_prior", f"organization = '{organization}'")
    assert len(rows) == 1
    return rows[0]


def test_the_pipelines_health_is_the_model_given_the_stored_prior(tmp_path: Path) -> None:
    landing = tmp_path / "landing" / ORG
    write_stations(landing)
    land_readings(landing, "all.parquet", weather_fleet(days=10))
    run(settings_for(tmp_path), skip_db=True)

    row = _prior_row(tmp_path)
    assert (row["first_hour"], row["prior_hour"]) == (FIRST_HOUR, FIRST_HOUR + PRIOR_HOURS)
    at = row["prior_hour"] * 3600
    compressors = list(STATION)
    series = _silver(tmp_path, ORG, compressors)
    prior, proxy = _expected_prior(series, STATION, at)
    assert np.abs(prior).max() > 0.01
    np.testing.assert_allclose(
        np.array(row["coefficients"]).reshape(prior.shape), prior, rtol=1e-9, atol=1e-12
    )
    assert row["readings"] == sum(int((t < at).sum()) for t, _ in series.values())

    hours = lake_rows(tmp_path, "gold/health", order="compressor_id, hour")
    last = {c: max(int(r["hour"].timestamp()) for r in hours if r["compressor_id"] == c) for c in compressors}
    assert min(last.values()) > at + 2 * 86_400  # days judged with the prior
    fed = [series[c][0] < last[c] + 3600 for c in compressors]
    config = HealthConfig()
    arguments: dict[str, Any] = {
        "compressor": np.concatenate([np.full(int(f.sum()), i) for i, f in enumerate(fed)]),
        "times": np.concatenate([series[c][0][f] for c, f in zip(compressors, fed, strict=True)]),
        "values": np.concatenate([series[c][1][:, f] for c, f in zip(compressors, fed, strict=True)], axis=1),
        "ambient": [proxy.get(STATION[c]) for c in compressors],
        "config": config,
    }
    n = len(compressors)
    out = step_with_prior(
        **arguments,
        state=HealthState(n, config),
        prior=np.broadcast_to(prior, (n, *prior.shape)),
        prior_at=np.full(n, at, dtype=np.int64),
    )
    expected = {
        (compressors[c], int(h)): v for c, h, v in zip(out.compressor, out.hour, out.health, strict=True)
    }
    got = {(r["compressor_id"], int(r["hour"].timestamp())): r["health_index"] for r in hours}
    assert set(got) == set(expected)
    for key, value in got.items():
        if value is not None:
            assert value == pytest.approx(expected[key], abs=2e-3)
    # the stored states learnt what the model given the prior learnt, not what a plain ridge does
    blobs = lake_rows(tmp_path, "gold/health_state", order="compressor_id")
    stored, _ = health_stage.load_states([b["state"] for b in blobs], config)
    np.testing.assert_allclose(stored.prior, out.state.prior)
    np.testing.assert_allclose(stored.coef, out.state.coef, rtol=1e-6, atol=1e-9)
    plain = fleet_step(**arguments, state=HealthState(n, config))
    assert not np.allclose(plain.state.coef, out.state.coef, rtol=1e-3, atol=1e-6)


def _pick(readings: pa.Table, start: timedelta, end: timedelta, compressors: Any) -> pa.Array:
    ts = readings["timestamp"]
    return pc.and_(
        pc.and_(
            pc.greater_equal(ts, pa.scalar(ON_HOUR_START + start, ts.type)),
            pc.less(ts, pa.scalar(ON_HOUR_START + end, ts.type)),
        ),
        pc.is_in(readings["compressor_id"], pa.array(list(compressors))),
    )


def _later(table: pa.Table, compressor: str, by: timedelta) -> pa.Table:
    """`table`'s first compressor's readings as `compressor`'s, starting `by` later."""
    first = table.filter(pc.equal(table["compressor_id"], table["compressor_id"][0]))
    ts = first["timestamp"]
    shifted = pc.add(ts, pa.scalar(by, pa.duration("us")))
    first = first.set_column(first.schema.get_field_index("timestamp"), "timestamp", shifted.cast(ts.type))
    ids = pa.array([compressor] * first.num_rows)
    return first.set_column(first.schema.get_field_index("compressor_id"), "compressor_id", ids)


def test_incremental_runs_across_the_prior_hour_equal_a_full_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # COMP-005 joins after the prior hour, alone in its station (a registered compressor without readings
    # in a station with a proxy keeps an incremental pass's baseline row of that station's hold where a
    # full pass writes the current one: the station proxy's, not the prior's)
    stations = {**STATION, "COMP-005": "STATION-C"}
    base = weather_fleet(days=10)
    joining = _later(weather_fleet(days=1.5), "COMP-005", 8 * DAY)
    readings = pa.concat_tables([base, joining])
    everyone = list(stations)
    late = _pick(readings, 3 * DAY + 22 * H, 3 * DAY + 23 * H, ["COMP-002"])
    batches = [
        _pick(readings, timedelta(0), 3 * DAY, everyone),
        # across the prior hour (day 4): the hours before it, the prior, the hours after it with it;
        # COMP-002's readings of one hour before it held back
        pc.and_(_pick(readings, 3 * DAY, 4 * DAY + 3 * H, everyone), pc.invert(late)),
        # they arrive once the prior is stored: the organization is computed again
        pc.or_(late, _pick(readings, 4 * DAY + 3 * H, 4 * DAY + 4 * H, everyone)),
        # COMP-005 joins (from day 8): it gets the stored prior, nothing is computed again
        _pick(readings, 4 * DAY + 4 * H, 9 * DAY + 12 * H, everyone),
    ]
    recomputed: list[set[str]] = []
    stage = health_stage.HealthStage._stage

    def spy(self: Any, rows: Any, fresh: str | None, incremental: bool = False, recent: Any = None) -> None:
        if incremental and fresh is not None:
            recomputed.append({str(c) for _, c in self.local.rows(fresh)})
        stage(self, rows, fresh, incremental, recent)

    monkeypatch.setattr(health_stage.HealthStage, "_stage", spy)
    data_dir = tmp_path / "arriving"
    landing = data_dir / "landing" / ORG
    write_stations(landing, stations)
    priors: list[dict[str, Any] | None] = []
    for number, picked in enumerate(batches):
        land_readings(landing, f"batch-{number}.parquet", readings.filter(picked))
        run(settings_for(data_dir), skip_db=True)
        rows = lake_rows(data_dir, "gold/health_prior")
        priors.append(rows[0] if rows else None)
        if number >= 1:
            assert_equals_a_full_recomputation(data_dir, tmp_path / f"full-{number}", TABLES)

    assert priors[0] is None  # day 3: the organization's data before its prior hour is not all in
    assert priors[1] is not None and priors[1]["prior_hour"] == FIRST_HOUR + PRIOR_HOURS
    hours = lake_rows(data_dir, "gold/health", "compressor_id = 'COMP-001'", "hour")
    assert hours[-1]["hour"] >= ON_HOUR_START + 9 * DAY
    assert recomputed[1] == {"COMP-001", "COMP-002", "COMP-003", "COMP-004"}  # the late hour before it
    assert priors[2] is not None and priors[3] is not None
    assert priors[2]["readings"] == priors[1]["readings"] + 6
    assert priors[2]["coefficients"] != priors[1]["coefficients"]  # an hour of COMP-002's warm-up
    assert recomputed[2] == set()
    assert priors[3] == priors[2]
    blobs = {r["compressor_id"]: r["state"] for r in lake_rows(data_dir, "gold/health_state")}
    state, _ = health_stage.load_states([blobs["COMP-005"]], HealthConfig())
    np.testing.assert_array_equal(state.prior[0].ravel(), np.array(priors[3]["coefficients"]))


def test_two_organizations_priors_come_from_their_own_data(tmp_path: Path) -> None:
    """Another organization (other weather, a day later) computed in the same pass gets its own prior and
    prior hour, and changes nothing of this organization's."""
    other = "other-co"
    fleets = {ORG: weather_fleet(days=9), other: weather_fleet(days=9, sign=-1.0)}
    ts = fleets[other]["timestamp"]
    fleets[other] = fleets[other].set_column(
        fleets[other].schema.get_field_index("timestamp"),
        "timestamp",
        pc.add(ts, pa.scalar(DAY, pa.duration("us"))).cast(ts.type),
    )
    together, alone = tmp_path / "together", tmp_path / "alone"
    for data_dir, organizations in ((together, [ORG, other]), (alone, [ORG])):
        for organization in organizations:
            landing = data_dir / "landing" / organization
            write_stations(landing)
            land_readings(landing, "all.parquet", fleets[organization])
        run(settings_for(data_dir), skip_db=True)
    mine, theirs = _prior_row(together), _prior_row(together, other)
    assert mine == _prior_row(alone)
    assert theirs["prior_hour"] == mine["prior_hour"] + 24
    assert not np.allclose(mine["coefficients"], theirs["coefficients"], rtol=1e-3, atol=1e-6)
    for organization, row in ((ORG, mine), (other, theirs)):
        prior, _ = _expected_prior(
            _silver(together, organization, list(STATION)), STATION, row["prior_hour"] * 3600
        )
        np.testing.assert_allclose(
            np.array(row["coefficients"]).reshape(prior.shape), prior, rtol=1e-9, atol=1e-12
        )
    state = lake_rows(together, "gold/health_state", f"organization = '{ORG}'", "compressor_id")
    assert state == lake_rows(alone, "gold/health_state", order="compressor_id")
