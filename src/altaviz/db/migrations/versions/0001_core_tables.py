"""Core tables: organizations, billing events, the fleet, readings, alerts, data quality, runs.

Revision ID: 0001
Revises:
Create Date: 2026-01-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the model column types, so later model changes cannot rewrite this migration.
JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
SURROGATE_KEY = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
SENSOR_STAT_COLUMNS = [
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
]
TABLES = (
    "organizations",
    "billing_events",
    "station_locations",
    "compressor_metadata",
    "maintenance_events",
    "sensor_readings_agg",
    "alert_history",
    "data_quality_metrics",
    "pipeline_runs",
)


def _timestamp(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _id() -> sa.Column[object]:
    return sa.Column("id", SURROGATE_KEY, autoincrement=True, nullable=False)


def _organization_id(table: str, nullable: bool = False) -> tuple[sa.Column[object], sa.ForeignKeyConstraint]:
    return (
        sa.Column("organization_id", sa.Uuid(), nullable=nullable),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f(f"fk_{table}_organization_id_organizations"),
            ondelete="CASCADE",
        ),
    )


def _compressor_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["organization_id", "compressor_id"],
        ["compressor_metadata.organization_id", "compressor_metadata.compressor_id"],
        name=f"fk_{table}_compressor",
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "organizations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("slug", sa.String(100), nullable=False),
        sa.Column("subscription_tier", sa.String(20), nullable=False),
        sa.Column("subscription_status", sa.String(20), nullable=False),
        sa.Column("max_compressors", sa.Integer(), nullable=True),
        sa.Column("stripe_customer_id", sa.String(100), nullable=True),
        sa.Column("stripe_subscription_id", sa.String(100), nullable=True),
        _timestamp("created_at"),
        _timestamp("updated_at"),
        sa.CheckConstraint(
            "subscription_tier IN ('free', 'pro', 'enterprise')", name=op.f("ck_organizations_tier")
        ),
        sa.CheckConstraint(
            "subscription_status IN ('active', 'past_due', 'canceled', 'trialing')",
            name=op.f("ck_organizations_status"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organizations")),
        sa.UniqueConstraint("slug", name=op.f("uq_organizations_slug")),
    )
    op.create_index(op.f("ix_organizations_stripe_customer_id"), "organizations", ["stripe_customer_id"])

    op.create_table(
        "billing_events",
        sa.Column("id", sa.Uuid(), nullable=False),
        *_organization_id("billing_events", nullable=True),
        sa.Column("stripe_event_id", sa.String(255), nullable=False),
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.Column("amount_cents", sa.Integer(), nullable=True),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("metadata", JSON_DOCUMENT, nullable=True),
        _timestamp("created_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_events")),
        sa.UniqueConstraint("stripe_event_id", name=op.f("uq_billing_events_stripe_event_id")),
    )
    op.create_index(op.f("ix_billing_events_organization_id"), "billing_events", ["organization_id"])
    op.create_index(op.f("ix_billing_events_created_at"), "billing_events", ["created_at"])

    op.create_table(
        "station_locations",
        *_organization_id("station_locations"),
        sa.Column("station_id", sa.String(50), nullable=False),
        sa.Column("station_name", sa.String(200), nullable=False),
        sa.Column("latitude", sa.Float(), nullable=False),
        sa.Column("longitude", sa.Float(), nullable=False),
        sa.Column("region", sa.String(100), nullable=True),
        sa.Column("city", sa.String(100), nullable=True),
        sa.Column("state", sa.String(2), nullable=True),
        sa.Column("basin", sa.String(100), nullable=True),
        _timestamp("created_at"),
        sa.PrimaryKeyConstraint("organization_id", "station_id", name=op.f("pk_station_locations")),
    )

    op.create_table(
        "compressor_metadata",
        *_organization_id("compressor_metadata"),
        sa.Column("compressor_id", sa.String(50), nullable=False),
        sa.Column("station_id", sa.String(50), nullable=False),
        sa.Column("model", sa.String(100), nullable=False),
        sa.Column("horsepower", sa.Integer(), nullable=False),
        sa.Column("install_date", sa.Date(), nullable=False),
        _timestamp("created_at"),
        _timestamp("updated_at"),
        sa.ForeignKeyConstraint(
            ["organization_id", "station_id"],
            ["station_locations.organization_id", "station_locations.station_id"],
            name="fk_compressor_metadata_station",
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("organization_id", "compressor_id", name=op.f("pk_compressor_metadata")),
    )
    op.create_index(
        "ix_compressor_metadata_station", "compressor_metadata", ["organization_id", "station_id"]
    )

    op.create_table(
        "maintenance_events",
        _id(),
        *_organization_id("maintenance_events"),
        sa.Column("event_id", sa.String(100), nullable=False),
        sa.Column("compressor_id", sa.String(50), nullable=False),
        _timestamp("performed_at"),
        sa.Column("event_date", sa.Date(), nullable=False),
        sa.Column("event_type", sa.String(20), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("downtime_hours", sa.Float(), nullable=True),
        sa.Column("severity", sa.String(20), nullable=True),
        sa.Column("cost_usd", sa.Float(), nullable=True),
        sa.Column("performed_by", sa.String(100), nullable=True),
        _timestamp("created_at"),
        sa.CheckConstraint(
            "event_type IN ('scheduled', 'unscheduled', 'inspection', 'failure')",
            name=op.f("ck_maintenance_events_event_type"),
        ),
        _compressor_fk("maintenance_events"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_maintenance_events")),
        sa.UniqueConstraint(
            "organization_id", "event_id", name=op.f("uq_maintenance_events_organization_id_event_id")
        ),
    )
    op.create_index(
        "ix_maintenance_events_compressor",
        "maintenance_events",
        ["organization_id", "compressor_id", "performed_at"],
    )

    op.create_table(
        "sensor_readings_agg",
        _id(),
        *_organization_id("sensor_readings_agg"),
        sa.Column("compressor_id", sa.String(50), nullable=False),
        _timestamp("agg_timestamp"),
        sa.Column("window_type", sa.String(10), nullable=False),
        *(sa.Column(name, sa.Float(), nullable=True) for name in SENSOR_STAT_COLUMNS),
        sa.Column("pressure_delta_mean", sa.Float(), nullable=True),
        sa.Column("discharge_temp_rate_of_change", sa.Float(), nullable=True),
        sa.Column("reading_count", sa.Integer(), nullable=False),
        sa.Column("expected_readings", sa.Integer(), nullable=False),
        sa.Column("missing_readings", sa.Integer(), nullable=False),
        sa.Column("violation_count", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "window_type IN ('1hr', '4hr', '24hr')", name=op.f("ck_sensor_readings_agg_window_type")
        ),
        _compressor_fk("sensor_readings_agg"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sensor_readings_agg")),
        sa.UniqueConstraint(
            "organization_id",
            "compressor_id",
            "window_type",
            "agg_timestamp",
            name=op.f("uq_sensor_readings_agg_organization_id_compressor_id_window_type_agg_timestamp"),
        ),
    )
    op.create_index(
        "ix_sensor_readings_agg_org_time", "sensor_readings_agg", ["organization_id", "agg_timestamp"]
    )

    op.create_table(
        "alert_history",
        _id(),
        *_organization_id("alert_history"),
        sa.Column("compressor_id", sa.String(50), nullable=False),
        sa.Column("condition", sa.String(50), nullable=False),
        sa.Column("alert_type", sa.String(30), nullable=False),
        sa.Column("severity", sa.String(10), nullable=False),
        sa.Column("sensor_name", sa.String(50), nullable=True),
        _timestamp("alert_timestamp"),
        _timestamp("raised_at"),
        _timestamp("last_violation_at"),
        _timestamp("returned_to_normal_at", nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("sensor_value", sa.Float(), nullable=True),
        sa.Column("threshold_value", sa.Float(), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("violation_count", sa.Integer(), nullable=False),
        sa.Column("acknowledged", sa.Boolean(), nullable=False),
        sa.Column("acknowledged_by", sa.String(200), nullable=True),
        _timestamp("acknowledged_at", nullable=True),
        sa.Column("resolved", sa.Boolean(), nullable=False),
        sa.Column("resolved_by", sa.String(200), nullable=True),
        _timestamp("resolved_at", nullable=True),
        sa.Column("resolution_note", sa.Text(), nullable=True),
        _timestamp("shelved_until", nullable=True),
        sa.Column("shelved_by", sa.String(200), nullable=True),
        sa.Column("shelve_reason", sa.Text(), nullable=True),
        _timestamp("escalated_at", nullable=True),
        sa.Column("source", sa.String(20), nullable=False),
        _timestamp("created_at"),
        _timestamp("updated_at"),
        sa.CheckConstraint(
            "alert_type IN ('threshold_warning', 'threshold_critical', 'staleness', 'anomaly', 'prediction')",
            name=op.f("ck_alert_history_alert_type"),
        ),
        sa.CheckConstraint(
            "severity IN ('info', 'warning', 'critical')", name=op.f("ck_alert_history_severity")
        ),
        _compressor_fk("alert_history"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_history")),
        sa.UniqueConstraint(
            "organization_id",
            "compressor_id",
            "condition",
            "alert_timestamp",
            name=op.f("uq_alert_history_organization_id_compressor_id_condition_alert_timestamp"),
        ),
    )
    op.create_index("ix_alert_history_org_time", "alert_history", ["organization_id", "alert_timestamp"])
    op.create_index(
        "ix_alert_history_org_open", "alert_history", ["organization_id", "resolved", "is_active"]
    )

    op.create_table(
        "data_quality_metrics",
        _id(),
        *_organization_id("data_quality_metrics"),
        sa.Column("input_fingerprint", sa.String(64), nullable=False),
        _timestamp("metric_timestamp"),
        sa.Column("scope", sa.String(50), nullable=False),
        sa.Column("compressor_id", sa.String(50), nullable=True),
        sa.Column("metric_type", sa.String(20), nullable=False),
        sa.Column("metric_value", sa.Float(), nullable=True),
        sa.Column("pass_threshold", sa.Boolean(), nullable=False),
        sa.Column("details", JSON_DOCUMENT, nullable=True),
        sa.CheckConstraint(
            "metric_type IN ('freshness', 'completeness', 'consistency', 'accuracy')",
            name=op.f("ck_data_quality_metrics_metric_type"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_data_quality_metrics")),
        sa.UniqueConstraint(
            "organization_id",
            "input_fingerprint",
            "scope",
            "metric_type",
            name=op.f("uq_data_quality_metrics_organization_id_input_fingerprint_scope_metric_type"),
        ),
    )
    op.create_index(
        "ix_data_quality_metrics_org_time", "data_quality_metrics", ["organization_id", "metric_timestamp"]
    )

    op.create_table(
        "pipeline_runs",
        sa.Column("id", sa.Uuid(), nullable=False),
        *_organization_id("pipeline_runs"),
        _timestamp("started_at"),
        _timestamp("finished_at", nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("engine", sa.String(20), nullable=False),
        sa.Column("stages", JSON_DOCUMENT, nullable=True),
        sa.Column("input_fingerprint", sa.String(64), nullable=True),
        sa.Column("counts", JSON_DOCUMENT, nullable=True),
        sa.Column("report", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("duration_seconds", sa.Float(), nullable=True),
        sa.CheckConstraint(
            "status IN ('running', 'succeeded', 'failed', 'abandoned')", name=op.f("ck_pipeline_runs_status")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pipeline_runs")),
    )
    op.create_index("ix_pipeline_runs_org_started", "pipeline_runs", ["organization_id", "started_at"])


def downgrade() -> None:
    # Children before parents; dropping a table drops its indexes and constraints with it.
    for table in reversed(TABLES):
        op.drop_table(table)
