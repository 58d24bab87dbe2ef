"""How much of each fleet table an organization holds (the demo's closing summary)."""

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from altaviz.accounts.service import get_organization_by_slug
from altaviz.alerts.models import AlertHistory
from altaviz.monitoring.models import (
    CompressorMetadata,
    DataQualityMetric,
    MaintenanceEvent,
    SensorReadingAgg,
    StationLocation,
)

COUNTED = {
    "station_locations": StationLocation,
    "compressor_metadata": CompressorMetadata,
    "maintenance_events": MaintenanceEvent,
    "sensor_readings_agg": SensorReadingAgg,
    "alert_history": AlertHistory,
    "data_quality_metrics": DataQualityMetric,
}


def open_alerts(session: Session, slug: str) -> list[AlertHistory]:
    """Unresolved alerts, critical first, then newest."""
    org = get_organization_by_slug(session, slug)
    query = (
        select(AlertHistory)
        .where(AlertHistory.organization_id == org.id, AlertHistory.resolved.is_(False))
        .order_by(AlertHistory.severity == "warning", AlertHistory.alert_timestamp.desc())
    )
    return list(session.scalars(query))


def loaded_counts(session: Session, slug: str) -> dict[str, int]:
    org = get_organization_by_slug(session, slug)
    counts = {}
    for name, model in COUNTED.items():
        table = model.__table__
        query = select(func.count()).select_from(table).where(table.c.organization_id == org.id)
        counts[name] = session.scalar(query) or 0
    return counts
