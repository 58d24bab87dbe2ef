"""Migration 0011 (issue 19): health tables, compressor_state's health columns and the link from a
threshold alert to the early warning before it (ON DELETE SET NULL); the downgrade keeps the alerts."""

from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy import inspect
from sqlalchemy.exc import IntegrityError

from altaviz.alerts.models import AlertHistory
from altaviz.db import migrate
from altaviz.db.models import CompressorHealth, CompressorMetadata, Organization, StationLocation
from altaviz.db.session import create_db_engine, session_scope
from altaviz.health.models import CompressorPrediction

HOUR = datetime(2026, 12, 1, 6, tzinfo=UTC)


def _alert(org_id: object, alert_type: str, condition: str, severity: str) -> AlertHistory:
    return AlertHistory(
        organization_id=org_id,
        compressor_id="COMP-001",
        condition=condition,
        alert_type=alert_type,
        severity=severity,
        sensor_name="vibration_mms",
        alert_timestamp=HOUR,
        raised_at=HOUR,
        last_violation_at=HOUR,
    )


def _columns(engine: sa.Engine, table: str) -> set[str]:
    return {column["name"] for column in inspect(engine).get_columns(table)}


def test_health_tables_and_linked_alerts_up_and_down(empty_db_url: str) -> None:
    migrate.upgrade(empty_db_url, "0011")
    engine = create_db_engine(empty_db_url)
    try:
        with session_scope(engine) as session:
            org = Organization(name="Demo", slug="demo")
            session.add(org)
            session.flush()
            org_id = org.id
            session.add(
                StationLocation(
                    organization_id=org_id, station_id="S", station_name="S", latitude=0, longitude=0
                )
            )
            session.flush()
            for compressor in ("COMP-001", "COMP-002"):
                session.add(
                    CompressorMetadata(
                        organization_id=org_id,
                        compressor_id=compressor,
                        station_id="S",
                        model="Ajax DPC-360",
                        horsepower=1340,
                        install_date=date(2020, 1, 1),
                    )
                )
            session.flush()
            warning = _alert(org_id, "prediction", "prediction", "warning")
            session.add(warning)
            session.flush()
            threshold = _alert(org_id, "threshold_critical", "vibration_mms", "critical")
            threshold.related_alert_id = warning.id
            session.add(threshold)
            session.add(
                CompressorHealth(
                    organization_id=org_id,
                    compressor_id="COMP-002",
                    hour=HOUR,
                    health_index=42.5,
                    status="judged",
                    drivers='[{"sensor": "vibration_mms", "score": 9.1}]',
                )
            )
            session.add(
                CompressorPrediction(
                    organization_id=org_id,
                    compressor_id="COMP-002",
                    metric="vibration_mms",
                    level="critical",
                    threshold_value=8.0,
                    hours=31.0,
                    hours_low=22.0,
                    hours_high=None,
                    projected_at=HOUR + timedelta(hours=31),
                    computed_at=HOUR,
                )
            )
        with pytest.raises(IntegrityError), session_scope(engine) as session:
            session.add(
                CompressorHealth(
                    organization_id=org_id,
                    compressor_id="COMP-001",
                    hour=HOUR + timedelta(hours=1),
                    status="dreaming",
                )
            )
        with session_scope(engine) as session:
            session.execute(sa.delete(AlertHistory).where(AlertHistory.alert_type == "prediction"))
        with session_scope(engine) as session:
            kept = session.scalars(sa.select(AlertHistory)).all()
            assert [(a.alert_type, a.related_alert_id) for a in kept] == [("threshold_critical", None)]
        with session_scope(engine) as session:  # a compressor's health goes with it
            session.execute(
                sa.delete(CompressorMetadata).where(CompressorMetadata.compressor_id == "COMP-002")
            )
            assert session.scalars(sa.select(CompressorHealth)).all() == []
            assert session.scalars(sa.select(CompressorPrediction)).all() == []

        migrate.downgrade(empty_db_url, "0010")
        engine.dispose()
        tables = set(inspect(engine).get_table_names())
        assert not tables & {"compressor_health", "compressor_predictions"}
        assert "related_alert_id" not in _columns(engine, "alert_history")
        assert not {"health_index", "health_status"} & _columns(engine, "compressor_state")
        with engine.connect() as db:
            assert db.execute(sa.text("SELECT alert_type FROM alert_history")).scalars().all() == [
                "threshold_critical"
            ]

        migrate.upgrade(empty_db_url)
        engine.dispose()
        assert {"health_index", "health_status"} <= _columns(engine, "compressor_state")
        with engine.connect() as db:
            rows = db.execute(sa.text("SELECT alert_type, related_alert_id FROM alert_history")).all()
            assert [tuple(r) for r in rows] == [("threshold_critical", None)]
    finally:
        engine.dispose()
