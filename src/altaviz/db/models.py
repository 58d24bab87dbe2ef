"""Imports every model so Base.metadata is complete (for Alembic and for tests)."""

from altaviz.accounts.audit import AuditLog
from altaviz.accounts.models import ApiKey, Invitation, Organization, User, UserSession
from altaviz.alerts.models import AlertHistory, JobLock, WorkflowRun
from altaviz.billing.models import BillingEvent, BillingSubscription, PlanLimitQuarantine
from altaviz.db.base import Base
from altaviz.health.models import CompressorHealth, CompressorPrediction
from altaviz.ingest.models import IngestRequest
from altaviz.monitoring.connectivity import CompressorConnectivity
from altaviz.monitoring.models import (
    CompressorMetadata,
    DataQualityMetric,
    MaintenanceEvent,
    PipelineRun,
    SensorReadingAgg,
    StationLocation,
)
from altaviz.notifications.models import NotificationChannel, NotificationMessage
from altaviz.registry.models import CompressorModel, ThresholdChange, ThresholdOverride

__all__ = [
    "AlertHistory",
    "ApiKey",
    "AuditLog",
    "Base",
    "BillingEvent",
    "BillingSubscription",
    "CompressorConnectivity",
    "CompressorHealth",
    "CompressorMetadata",
    "CompressorModel",
    "CompressorPrediction",
    "DataQualityMetric",
    "IngestRequest",
    "Invitation",
    "JobLock",
    "MaintenanceEvent",
    "NotificationChannel",
    "NotificationMessage",
    "Organization",
    "PipelineRun",
    "PlanLimitQuarantine",
    "SensorReadingAgg",
    "StationLocation",
    "ThresholdChange",
    "ThresholdOverride",
    "User",
    "UserSession",
    "WorkflowRun",
]
