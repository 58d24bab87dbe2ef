"""Dashboard state kept by the pipeline's load, and the organization's time zone (issue 17).

recent_readings: every reading of the last 48 hours of each compressor (10-minute resolution), so the
pages draw short ranges without reading the lake; the load trims older rows.
compressor_state: one row per compressor with its newest reading (real time and values, worst
status) and newest hourly aggregate, so the fleet reads one row per compressor instead of
aggregating the hourly table per request.
organizations.time_zone: the IANA zone every page shows times in (UTC by default).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

READING_VALUES = (
    "vibration_mms",
    "discharge_temp_f",
    "suction_pressure_psi",
    "discharge_pressure_psi",
    "horsepower_consumption",
    "gas_flow_mcf",
    "pressure_differential",
)
HOURLY_VALUES = (
    "vibration_mean",
    "vibration_max",
    "discharge_temp_mean",
    "discharge_temp_max",
    "suction_pressure_mean",
    "discharge_pressure_mean",
    "horsepower_mean",
    "gas_flow_mean",
    "pressure_delta_mean",
    "discharge_temp_rate_of_change",
)


def _keys(table: str) -> list[sa.Column[object] | sa.ForeignKeyConstraint]:
    return [
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("compressor_id", sa.String(64), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f(f"fk_{table}_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id", "compressor_id"],
            ["compressor_metadata.organization_id", "compressor_metadata.compressor_id"],
            name=f"fk_{table}_compressor",
            ondelete="CASCADE",
        ),
    ]


def upgrade() -> None:
    op.create_table(
        "recent_readings",
        *_keys("recent_readings"),
        sa.Column("timestamp", sa.DateTime(timezone=True), nullable=False),
        *(sa.Column(name, sa.Float(), nullable=True) for name in READING_VALUES),
        sa.Column("status", sa.String(10), nullable=False),
        sa.PrimaryKeyConstraint(
            "organization_id", "compressor_id", "timestamp", name=op.f("pk_recent_readings")
        ),
    )
    op.create_index("ix_recent_readings_org_time", "recent_readings", ["organization_id", "timestamp"])
    op.create_table(
        "compressor_state",
        *_keys("compressor_state"),
        sa.Column("last_reading_at", sa.DateTime(timezone=True), nullable=True),
        *(sa.Column(name, sa.Float(), nullable=True) for name in READING_VALUES),
        sa.Column("reading_status", sa.String(10), nullable=True),
        sa.Column("agg_timestamp", sa.DateTime(timezone=True), nullable=True),
        *(sa.Column(name, sa.Float(), nullable=True) for name in HOURLY_VALUES),
        sa.Column("reading_count", sa.Integer(), nullable=True),
        sa.Column("missing_readings", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("organization_id", "compressor_id", name=op.f("pk_compressor_state")),
    )
    with op.batch_alter_table("organizations") as batch:
        batch.add_column(sa.Column("time_zone", sa.String(64), nullable=False, server_default="UTC"))


def downgrade() -> None:
    with op.batch_alter_table("organizations") as batch:
        batch.drop_column("time_zone")
    op.drop_table("compressor_state")
    op.drop_index("ix_recent_readings_org_time", table_name="recent_readings")
    op.drop_table("recent_readings")
