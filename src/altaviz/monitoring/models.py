"""Fleet tables the pipeline loads. Natural keys are scoped by organization.

Stations and compressors use (organization_id, natural id) as their primary key, so two tenants can
both own a "COMP-001"; facts point at them with composite foreign keys and have a unique natural key,
which is what makes the pipeline's load an idempotent upsert.
"""

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from altaviz.db.base import (
    ORG_FK,
    Base,
    JSONDocument,
    SurrogateKey,
    UTCDateTime,
    compressor_fk,
    new_uuid,
    utcnow,
)


class StationLocation(Base):
    __tablename__ = "station_locations"

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(ORG_FK, ondelete="CASCADE"), primary_key=True
    )
    station_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    station_name: Mapped[str] = mapped_column(String(200))
    latitude: Mapped[float] = mapped_column(Float)
    longitude: Mapped[float] = mapped_column(Float)
    region: Mapped[str | None] = mapped_column(String(100))
    city: Mapped[str | None] = mapped_column(String(100))
    state: Mapped[str | None] = mapped_column(String(2))
    basin: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CompressorMetadata(Base):
    __tablename__ = "compressor_metadata"
    __table_args__ = (
        ForeignKeyConstraint(
            ["organization_id", "station_id"],
            ["station_locations.organization_id", "station_locations.station_id"],
            ondelete="RESTRICT",
            name="fk_compressor_metadata_station",
        ),
        # The registry's model (altaviz.registry.models.CompressorModel) of the same organization.
        ForeignKeyConstraint(
            ["organization_id", "model_id"],
            ["compressor_models.organization_id", "compressor_models.id"],
            ondelete="RESTRICT",
            name="fk_compressor_metadata_model",
        ),
        Index("ix_compressor_metadata_station", "organization_id", "station_id"),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(ORG_FK, ondelete="CASCADE"), primary_key=True
    )
    compressor_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    station_id: Mapped[str] = mapped_column(String(64))
    model: Mapped[str] = mapped_column(String(100))
    horsepower: Mapped[int] = mapped_column(Integer)
    install_date: Mapped[date] = mapped_column(Date)
    # Registry (issue 16): `model`/`horsepower` above are the model's name and rated HP, copied from
    # the registered model when there is one. An archived compressor is hidden from the fleet and the
    # plan count and expects no readings; its data is kept and it can be restored.
    model_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    notes: Mapped[str | None] = mapped_column(Text)
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class MaintenanceEvent(Base):
    __tablename__ = "maintenance_events"
    __table_args__ = (
        compressor_fk("maintenance_events"),
        UniqueConstraint("organization_id", "event_id"),
        Index("ix_maintenance_events_compressor", "organization_id", "compressor_id", "performed_at"),
        CheckConstraint(
            "event_type IN ('scheduled', 'unscheduled', 'inspection', 'failure')", name="event_type"
        ),
    )

    id: Mapped[int] = mapped_column(SurrogateKey, primary_key=True, autoincrement=True)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(ORG_FK, ondelete="CASCADE"))
    event_id: Mapped[str] = mapped_column(String(100))
    compressor_id: Mapped[str] = mapped_column(String(64))
    performed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    event_date: Mapped[date] = mapped_column(Date)
    event_type: Mapped[str] = mapped_column(String(20))
    description: Mapped[str | None] = mapped_column(Text)
    downtime_hours: Mapped[float | None] = mapped_column(Float)
    severity: Mapped[str | None] = mapped_column(String(20))
    cost_usd: Mapped[float | None] = mapped_column(Float)
    performed_by: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


SENSOR_STAT_COLUMNS: tuple[str, ...] = tuple(
    f"{prefix}_{stat}"
    for prefix in (
        "vibration",
        "discharge_temp",
        "suction_pressure",
        "discharge_pressure",
        "horsepower",
        "gas_flow",
    )
    for stat in ("mean", "std", "min", "max")
)


class SensorReadingAgg(Base):
    """One row per compressor and clock hour ('1hr'); the table also admits coarser windows."""

    __tablename__ = "sensor_readings_agg"
    __table_args__ = (
        compressor_fk("sensor_readings_agg"),
        UniqueConstraint("organization_id", "compressor_id", "window_type", "agg_timestamp"),
        Index("ix_sensor_readings_agg_org_time", "organization_id", "agg_timestamp"),
        CheckConstraint("window_type IN ('1hr', '4hr', '24hr')", name="window_type"),
    )

    id: Mapped[int] = mapped_column(SurrogateKey, primary_key=True, autoincrement=True)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(ORG_FK, ondelete="CASCADE"))
    compressor_id: Mapped[str] = mapped_column(String(64))
    agg_timestamp: Mapped[datetime] = mapped_column(UTCDateTime)
    window_type: Mapped[str] = mapped_column(String(10), default="1hr")
    vibration_mean: Mapped[float | None] = mapped_column(Float)
    vibration_std: Mapped[float | None] = mapped_column(Float)
    vibration_min: Mapped[float | None] = mapped_column(Float)
    vibration_max: Mapped[float | None] = mapped_column(Float)
    discharge_temp_mean: Mapped[float | None] = mapped_column(Float)
    discharge_temp_std: Mapped[float | None] = mapped_column(Float)
    discharge_temp_min: Mapped[float | None] = mapped_column(Float)
    discharge_temp_max: Mapped[float | None] = mapped_column(Float)
    suction_pressure_mean: Mapped[float | None] = mapped_column(Float)
    suction_pressure_std: Mapped[float | None] = mapped_column(Float)
    suction_pressure_min: Mapped[float | None] = mapped_column(Float)
    suction_pressure_max: Mapped[float | None] = mapped_column(Float)
    discharge_pressure_mean: Mapped[float | None] = mapped_column(Float)
    discharge_pressure_std: Mapped[float | None] = mapped_column(Float)
    discharge_pressure_min: Mapped[float | None] = mapped_column(Float)
    discharge_pressure_max: Mapped[float | None] = mapped_column(Float)
    horsepower_mean: Mapped[float | None] = mapped_column(Float)
    horsepower_std: Mapped[float | None] = mapped_column(Float)
    horsepower_min: Mapped[float | None] = mapped_column(Float)
    horsepower_max: Mapped[float | None] = mapped_column(Float)
    gas_flow_mean: Mapped[float | None] = mapped_column(Float)
    gas_flow_std: Mapped[float | None] = mapped_column(Float)
    gas_flow_min: Mapped[float | None] = mapped_column(Float)
    gas_flow_max: Mapped[float | None] = mapped_column(Float)
    pressure_delta_mean: Mapped[float | None] = mapped_column(Float)
    discharge_temp_rate_of_change: Mapped[float | None] = mapped_column(Float)
    reading_count: Mapped[int] = mapped_column(Integer, default=0)
    expected_readings: Mapped[int] = mapped_column(Integer, default=0)
    missing_readings: Mapped[int] = mapped_column(Integer, default=0)
    violation_count: Mapped[int] = mapped_column(Integer, default=0)


class DataQualityMetric(Base):
    """A data-quality check of one pipeline input, for the fleet (scope 'fleet') or one compressor.

    Keyed by the input's fingerprint, so re-running the same input rewrites the same rows.
    """

    __tablename__ = "data_quality_metrics"
    __table_args__ = (
        UniqueConstraint("organization_id", "input_fingerprint", "scope", "metric_type"),
        Index("ix_data_quality_metrics_org_time", "organization_id", "metric_timestamp"),
        CheckConstraint(
            "metric_type IN ('freshness', 'completeness', 'consistency', 'accuracy')", name="metric_type"
        ),
    )

    id: Mapped[int] = mapped_column(SurrogateKey, primary_key=True, autoincrement=True)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(ORG_FK, ondelete="CASCADE"))
    input_fingerprint: Mapped[str] = mapped_column(String(64))
    metric_timestamp: Mapped[datetime] = mapped_column(UTCDateTime)
    scope: Mapped[str] = mapped_column(String(64))
    compressor_id: Mapped[str | None] = mapped_column(String(64))
    metric_type: Mapped[str] = mapped_column(String(20))
    metric_value: Mapped[float | None] = mapped_column(Float)
    pass_threshold: Mapped[bool] = mapped_column()
    details: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument)


class PipelineRun(Base):
    """The log of pipeline runs: one row per run, whatever its outcome."""

    __tablename__ = "pipeline_runs"
    __table_args__ = (
        CheckConstraint("status IN ('running', 'succeeded', 'failed', 'abandoned')", name="status"),
        Index("ix_pipeline_runs_org_started", "organization_id", "started_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_uuid)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(ORG_FK, ondelete="CASCADE"))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(20), default="running")
    engine: Mapped[str] = mapped_column(String(20), default="duckdb")
    stages: Mapped[list[str] | None] = mapped_column(JSONDocument)
    input_fingerprint: Mapped[str | None] = mapped_column(String(64))
    counts: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument)
    report: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    duration_seconds: Mapped[float | None] = mapped_column(Float)


# compressor_metadata refers to compressor_models: that table is in the metadata whenever this one is.
from altaviz.registry import models as _registry_models  # noqa: E402, F401


# The dashboard's state, kept by the pipeline's load (altaviz.pipeline.dashboard_state; issue 17).
class RecentReading(Base):
    """Every reading of the last 48 hours of a compressor, as the pipeline kept it (10-minute data),
    so short chart ranges draw real readings without the web service reading the lake."""

    __tablename__ = "recent_readings"
    __table_args__ = (
        compressor_fk("recent_readings"),
        Index("ix_recent_readings_org_time", "organization_id", "timestamp"),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(ORG_FK, ondelete="CASCADE"), primary_key=True
    )
    compressor_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    timestamp: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    vibration_mms: Mapped[float | None] = mapped_column(Float)
    discharge_temp_f: Mapped[float | None] = mapped_column(Float)
    suction_pressure_psi: Mapped[float | None] = mapped_column(Float)
    discharge_pressure_psi: Mapped[float | None] = mapped_column(Float)
    horsepower_consumption: Mapped[float | None] = mapped_column(Float)
    gas_flow_mcf: Mapped[float | None] = mapped_column(Float)
    pressure_differential: Mapped[float | None] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(10))  # the worst threshold status of the reading


class CompressorState(Base):
    """A compressor now: its newest reading (real time, values, worst status) and newest hourly
    aggregate, one row per compressor, so fleet reads need no aggregation per request."""

    __tablename__ = "compressor_state"
    __table_args__ = (compressor_fk("compressor_state"),)

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(ORG_FK, ondelete="CASCADE"), primary_key=True
    )
    compressor_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_reading_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    vibration_mms: Mapped[float | None] = mapped_column(Float)
    discharge_temp_f: Mapped[float | None] = mapped_column(Float)
    suction_pressure_psi: Mapped[float | None] = mapped_column(Float)
    discharge_pressure_psi: Mapped[float | None] = mapped_column(Float)
    horsepower_consumption: Mapped[float | None] = mapped_column(Float)
    gas_flow_mcf: Mapped[float | None] = mapped_column(Float)
    pressure_differential: Mapped[float | None] = mapped_column(Float)
    reading_status: Mapped[str | None] = mapped_column(String(10))
    # the newest hourly aggregate (what a fleet row shows: monitoring.schemas.LatestValues)
    agg_timestamp: Mapped[datetime | None] = mapped_column(UTCDateTime)
    vibration_mean: Mapped[float | None] = mapped_column(Float)
    vibration_max: Mapped[float | None] = mapped_column(Float)
    discharge_temp_mean: Mapped[float | None] = mapped_column(Float)
    discharge_temp_max: Mapped[float | None] = mapped_column(Float)
    suction_pressure_mean: Mapped[float | None] = mapped_column(Float)
    discharge_pressure_mean: Mapped[float | None] = mapped_column(Float)
    horsepower_mean: Mapped[float | None] = mapped_column(Float)
    gas_flow_mean: Mapped[float | None] = mapped_column(Float)
    pressure_delta_mean: Mapped[float | None] = mapped_column(Float)
    discharge_temp_rate_of_change: Mapped[float | None] = mapped_column(Float)
    reading_count: Mapped[int | None] = mapped_column(Integer)
    missing_readings: Mapped[int | None] = mapped_column(Integer)
    # the newest hour of altaviz.health.models.CompressorHealth (NULL index unless judged)
    health_index: Mapped[float | None] = mapped_column(Float)
    health_status: Mapped[str | None] = mapped_column(String(12))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
