"""The simulated fleet: which compressors exist, where, their healthy operating point, which ones fail,
and the maintenance log that goes with it.

Layout repeats per block of 10 compressors (SPEC §1): positions 0–2 at STATION-A, 3–5 at B, 6–8 at C,
9 at D; models cycle every 4. Position 6 degrades from day 3 and position 2 from day 5 of the run.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np
import pyarrow as pa

from altaviz.fleet import COMPRESSOR_MODELS, SENSORS, STATIONS, CompressorModel, Station
from altaviz.simulator.arrays import Floats, Ints
from altaviz.simulator.streams import Stream, rng
from altaviz.simulator.timeline import Timeline

BLOCK = 10
FAILURE_ONSET_DAY_BY_POSITION = {6: 3, 2: 5}
DEGRADATION_DAYS = 4  # the unit is repaired (back to baseline) this many days after onset
FAILURE_EVENT_AFTER_DAYS = 3
FAILURE_DESCRIPTION = "Bearing failure: high vibration"
SCHEDULED_DESCRIPTION = "Quarterly preventive maintenance"
TECHNICIANS = ("Tech-A", "Tech-B", "Tech-C")
EMERGENCY_TEAMS = ("Emergency-Team-1", "Emergency-Team-2")


@dataclass(frozen=True)
class MaintenanceEvent:
    compressor_id: str
    performed_at: datetime
    event_type: str
    description: str
    downtime_hours: float
    severity: str | None
    cost_usd: float
    performed_by: str

    @property
    def event_id(self) -> str:
        return f"MX-{self.compressor_id}-{self.event_type}-{self.performed_at:%Y%m%d}"


@dataclass(frozen=True)
class Compressor:
    index: int
    compressor_id: str
    model: CompressorModel
    station: Station
    install_date: date
    onset_day: int | None
    maintenance: tuple[MaintenanceEvent, ...]


@dataclass(frozen=True)
class Fleet:
    compressors: tuple[Compressor, ...]
    baselines: Floats  # (compressors, sensors): healthy operating point of each unit
    # Fleet indexes in compressor_id string order ("COMP-1000" sorts before "COMP-101"), or None when
    # that is the index order (fleets up to 999 units).
    id_order: Ints | None

    @property
    def ids(self) -> list[str]:
        return [c.compressor_id for c in self.compressors]

    @property
    def failing(self) -> dict[str, int]:
        return {c.compressor_id: c.onset_day for c in self.compressors if c.onset_day is not None}

    @property
    def failing_by_onset(self) -> dict[int, Ints]:
        """Fleet indexes of the failing units, grouped by onset day (at most two groups)."""
        groups: dict[int, list[int]] = {}
        for c in self.compressors:
            if c.onset_day is not None:
                groups.setdefault(c.onset_day, []).append(c.index)
        return {day: np.array(units, dtype=np.int64) for day, units in groups.items()}

    @property
    def healthy_indexes(self) -> Ints:
        return np.array([c.index for c in self.compressors if c.onset_day is None], dtype=np.int64)


def compressor_id(index: int) -> str:
    return f"COMP-{index + 1:03d}"


def station_for(index: int) -> Station:
    return STATIONS[min(index % BLOCK // 3, len(STATIONS) - 1)]


def onset_day_for(index: int, timeline: Timeline) -> int | None:
    """Onset day of a failing position, or None when healthy or the onset falls outside the run."""
    day = FAILURE_ONSET_DAY_BY_POSITION.get(index % BLOCK)
    if day is None or day >= timeline.days_since_start(timeline.readings):
        return None
    return day


def baseline_for(seed: int, index: int) -> Floats:
    draw = rng(seed, Stream.BASELINE, index)
    return np.array([draw.uniform(*sensor.baseline) for sensor in SENSORS])


def build_fleet(seed: int, count: int, timeline: Timeline) -> Fleet:
    compressors = tuple(_compressor(seed, i, timeline) for i in range(count))
    baselines = np.stack([baseline_for(seed, i) for i in range(count)])
    order = np.argsort(np.array([c.compressor_id for c in compressors]), kind="stable")
    return Fleet(compressors, baselines, None if np.array_equal(order, np.arange(count)) else order)


def _compressor(seed: int, index: int, timeline: Timeline) -> Compressor:
    draw = rng(seed, Stream.METADATA, index)
    # Fixed draw order, each value drawn whether used or not, so one choice never shifts another.
    install_offset = int(draw.integers(365, 5 * 365 + 1))
    scheduled_fraction, scheduled_downtime = draw.random(), draw.uniform(2, 4)
    scheduled_cost, technician = draw.uniform(1500, 2500), TECHNICIANS[draw.integers(len(TECHNICIANS))]
    failure_downtime, failure_cost = draw.uniform(12, 24), draw.uniform(15_000, 25_000)
    team = EMERGENCY_TEAMS[draw.integers(len(EMERGENCY_TEAMS))]

    cid = compressor_id(index)
    span_minutes = (timeline.end - timeline.start).total_seconds() / 60
    events = [
        MaintenanceEvent(
            compressor_id=cid,
            performed_at=timeline.start + timedelta(minutes=int(scheduled_fraction * span_minutes)),
            event_type="scheduled",
            description=SCHEDULED_DESCRIPTION,
            downtime_hours=round(scheduled_downtime, 2),
            severity=None,
            cost_usd=round(scheduled_cost, 2),
            performed_by=technician,
        )
    ]
    onset = onset_day_for(index, timeline)
    failed_at = None if onset is None else timeline.start + timedelta(days=onset + FAILURE_EVENT_AFTER_DAYS)
    if failed_at is not None and failed_at <= timeline.end:
        events.append(
            MaintenanceEvent(
                compressor_id=cid,
                performed_at=failed_at,
                event_type="failure",
                description=FAILURE_DESCRIPTION,
                downtime_hours=round(failure_downtime, 2),
                severity="critical",
                cost_usd=round(failure_cost, 2),
                performed_by=team,
            )
        )
    return Compressor(
        index=index,
        compressor_id=cid,
        model=COMPRESSOR_MODELS[index % len(COMPRESSOR_MODELS)],
        station=station_for(index),
        install_date=timeline.start.date() - timedelta(days=install_offset),
        onset_day=onset,
        maintenance=tuple(events),
    )


STATIONS_SCHEMA = pa.schema(
    [
        ("station_id", pa.string()),
        ("station_name", pa.string()),
        ("latitude", pa.float64()),
        ("longitude", pa.float64()),
        ("region", pa.string()),
        ("city", pa.string()),
        ("state", pa.string()),
        ("basin", pa.string()),
    ]
)

COMPRESSORS_SCHEMA = pa.schema(
    [
        ("compressor_id", pa.string()),
        ("station_id", pa.string()),
        ("model", pa.string()),
        ("horsepower", pa.int32()),
        ("install_date", pa.date32()),
    ]
)

MAINTENANCE_SCHEMA = pa.schema(
    [
        ("event_id", pa.string()),
        ("compressor_id", pa.string()),
        ("performed_at", pa.timestamp("us", tz="UTC")),
        ("event_type", pa.string()),
        ("description", pa.string()),
        ("downtime_hours", pa.float64()),
        ("severity", pa.string()),
        ("cost_usd", pa.float64()),
        ("performed_by", pa.string()),
    ]
)


def stations_table(fleet: Fleet) -> pa.Table:
    used = {c.station.station_id for c in fleet.compressors}
    rows = [
        {
            "station_id": s.station_id,
            "station_name": s.name,
            "latitude": s.latitude,
            "longitude": s.longitude,
            "region": s.region,
            "city": s.city,
            "state": s.state,
            "basin": s.basin,
        }
        for s in STATIONS
        if s.station_id in used
    ]
    return pa.Table.from_pylist(rows, schema=STATIONS_SCHEMA)


def compressors_table(fleet: Fleet) -> pa.Table:
    rows = [
        {
            "compressor_id": c.compressor_id,
            "station_id": c.station.station_id,
            "model": c.model.name,
            "horsepower": c.model.rated_hp,
            "install_date": c.install_date,
        }
        for c in fleet.compressors
    ]
    return pa.Table.from_pylist(rows, schema=COMPRESSORS_SCHEMA)


def maintenance_table(fleet: Fleet) -> pa.Table:
    events = sorted(
        (e for c in fleet.compressors for e in c.maintenance), key=lambda e: (e.performed_at, e.compressor_id)
    )
    rows = [
        {
            "event_id": e.event_id,
            "compressor_id": e.compressor_id,
            "performed_at": e.performed_at,
            "event_type": e.event_type,
            "description": e.description,
            "downtime_hours": e.downtime_hours,
            "severity": e.severity,
            "cost_usd": e.cost_usd,
            "performed_by": e.performed_by,
        }
        for e in events
    ]
    return pa.Table.from_pylist(rows, schema=MAINTENANCE_SCHEMA)
