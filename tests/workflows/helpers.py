"""A small fleet written straight to the database, an injectable clock, and alert rows, for the
workflow and lifecycle tests. Times are fixed (no wall clock): every age is judged against FakeClock."""

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from altaviz.accounts.models import Organization
from altaviz.alerts.models import AlertHistory
from altaviz.alerts.scheduler import Workflows
from altaviz.config import Settings
from altaviz.db.session import session_factory, session_scope
from altaviz.monitoring.models import CompressorMetadata, DataQualityMetric, SensorReadingAgg, StationLocation

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)  # a Monday noon; every test time is relative to it
COMPRESSORS = ("COMP-001", "COMP-002", "COMP-003")


class FakeClock:
    """The time the workflows see; tests move it, nothing sleeps."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def set(self, moment: datetime) -> None:
        self.now = moment

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@dataclass
class Fleet:
    engine: Engine
    organization_id: uuid.UUID
    clock: FakeClock
    settings: Settings
    sessions: sessionmaker[Session] = field(init=False)

    def __post_init__(self) -> None:
        self.sessions = session_factory(self.engine)

    def workflows(self, **overrides: Any) -> Workflows:
        settings = self.settings.model_copy(update=overrides) if overrides else self.settings
        return Workflows(self.sessions, settings, self.clock)

    def run(self, workflow: str = "all", **overrides: Any) -> dict[str, int]:
        """Run for this organization; {workflow: result count}."""
        execution = self.workflows(**overrides).execute(workflow, [self.organization_id], trigger="cli")
        assert execution.succeeded, [r.error for r in execution.results]
        return {r.workflow: r.result_count for r in execution.results}

    def add_alert(self, compressor: str = "COMP-001", **values: Any) -> int:
        raised = values.pop("raised_at", T0)
        row = {
            "organization_id": self.organization_id,
            "compressor_id": compressor,
            "condition": "vibration_mms",
            "alert_type": "threshold_warning",
            "severity": "warning",
            "sensor_name": "vibration_mms",
            "alert_timestamp": raised - timedelta(minutes=10),
            "raised_at": raised,
            "last_violation_at": raised,
            "returned_to_normal_at": None,
            "is_active": True,
            "sensor_value": 6.4,
            "threshold_value": 6.0,
            "message": "Vibration reached 6.4 mm/s (≥ warning threshold 6 mm/s)",
            "violation_count": 2,
            "source": "pipeline",
            "created_at": raised,
            "updated_at": raised,
            **values,
        }
        with session_scope(self.engine) as session:
            alert = AlertHistory(**row)
            session.add(alert)
            session.flush()
            return alert.id

    def add_readings(self, compressor: str, first_hour: datetime, last_hour: datetime) -> None:
        """Hourly aggregates (6 readings each) for every clock hour from first_hour to last_hour."""
        with session_scope(self.engine) as session:
            hour = first_hour
            while hour <= last_hour:
                session.add(
                    SensorReadingAgg(
                        organization_id=self.organization_id,
                        compressor_id=compressor,
                        agg_timestamp=hour,
                        window_type="1hr",
                        vibration_mean=3.0,
                        reading_count=6,
                        expected_readings=6,
                        missing_readings=0,
                        violation_count=0,
                    )
                )
                hour += timedelta(hours=1)

    def add_freshness(self, compressor: str, newest_reading: datetime, loaded_at: datetime) -> None:
        """The pipeline's freshness check: minutes from the newest reading to the load."""
        with session_scope(self.engine) as session:
            session.add(
                DataQualityMetric(
                    organization_id=self.organization_id,
                    input_fingerprint=uuid.uuid4().hex,
                    metric_timestamp=loaded_at,
                    scope=compressor,
                    compressor_id=compressor,
                    metric_type="freshness",
                    metric_value=(loaded_at - newest_reading).total_seconds() / 60,
                    pass_threshold=True,
                    details=None,
                )
            )

    def alert(self, alert_id: int) -> AlertHistory:
        with self.sessions() as session:
            found = session.get(AlertHistory, alert_id)
            assert found is not None
            return found

    def alerts(self, **where: Any) -> list[AlertHistory]:
        with self.sessions() as session:
            query = select(AlertHistory).where(AlertHistory.organization_id == self.organization_id)
            for name, value in where.items():
                query = query.where(getattr(AlertHistory, name) == value)
            return list(session.scalars(query.order_by(AlertHistory.id)))

    def snapshot(self) -> list[tuple[Any, ...]]:
        """Every column of every alert row, to prove a run changed nothing."""
        columns = [c.name for c in AlertHistory.__table__.columns]
        return [tuple(getattr(a, c) for c in columns) for a in self.alerts()]


def seed_fleet(engine: Engine, slug: str = "wf", registered: datetime = T0 - timedelta(days=30)) -> uuid.UUID:
    with session_scope(engine) as session:
        org = Organization(
            name=f"{slug} Gas", slug=slug, subscription_tier="enterprise", max_compressors=None
        )
        session.add(org)
        session.flush()
        session.add(
            StationLocation(
                organization_id=org.id,
                station_id="STATION-A",
                station_name="Eagle Ford",
                latitude=28.9,
                longitude=-98.5,
            )
        )
        session.flush()
        for compressor in COMPRESSORS:
            session.add(
                CompressorMetadata(
                    organization_id=org.id,
                    compressor_id=compressor,
                    station_id="STATION-A",
                    model="Ajax DPC-360",
                    horsepower=1340,
                    install_date=date(2022, 1, 1),
                    created_at=registered,
                    updated_at=registered,
                )
            )
        return org.id
