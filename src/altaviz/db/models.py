"""Imports every model so Base.metadata is complete (for Alembic and for tests)."""

from altaviz.accounts.audit import AuditLog
from altaviz.accounts.models import ApiKey, Organization, User, UserSession
from altaviz.alerts.models import AlertHistory
from altaviz.billing.models import BillingEvent
from altaviz.db.base import Base
from altaviz.monitoring.models import (
    CompressorMetadata,
    DataQualityMetric,
    MaintenanceEvent,
    PipelineRun,
    SensorReadingAgg,
    StationLocation,
)

__all__ = [
    "AlertHistory",
    "ApiKey",
    "AuditLog",
    "Base",
    "BillingEvent",
    "CompressorMetadata",
    "DataQualityMetric",
    "MaintenanceEvent",
    "Organization",
    "PipelineRun",
    "SensorReadingAgg",
    "StationLocation",
    "User",
    "UserSession",
]
