"""Early warning (issue 19): health index and predictions the pipeline loads, linked alerts.

compressor_health: each compressor's health index per data hour (NULL unless judged), its status
('warmup', 'stopped', 'judged') and the driving sensors (JSON text), kept for the plan's history window.
compressor_predictions: the projected hours to each degrading metric's warning and critical
thresholds, replaced each time a compressor's health is computed.
compressor_state gains the newest health index and status, so the fleet still reads one row per
compressor. alert_history.related_alert_id: a threshold alert that follows an early warning points
to it (SET NULL when that alert is deleted).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SURROGATE_KEY = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


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
        "compressor_health",
        *_keys("compressor_health"),
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("health_index", sa.Float(), nullable=True),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("drivers", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "status IN ('warmup', 'stopped', 'judged')", name=op.f("ck_compressor_health_status")
        ),
        sa.PrimaryKeyConstraint(
            "organization_id", "compressor_id", "hour", name=op.f("pk_compressor_health")
        ),
    )
    op.create_index("ix_compressor_health_org_hour", "compressor_health", ["organization_id", "hour"])
    op.create_table(
        "compressor_predictions",
        *_keys("compressor_predictions"),
        sa.Column("metric", sa.String(50), nullable=False),
        sa.Column("level", sa.String(10), nullable=False),
        sa.Column("threshold_value", sa.Float(), nullable=False),
        sa.Column("hours", sa.Float(), nullable=False),
        sa.Column("hours_low", sa.Float(), nullable=False),
        sa.Column("hours_high", sa.Float(), nullable=True),
        sa.Column("projected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("level IN ('warning', 'critical')", name=op.f("ck_compressor_predictions_level")),
        sa.PrimaryKeyConstraint(
            "organization_id", "compressor_id", "metric", "level", name=op.f("pk_compressor_predictions")
        ),
    )
    with op.batch_alter_table("compressor_state") as batch:
        batch.add_column(sa.Column("health_index", sa.Float(), nullable=True))
        batch.add_column(sa.Column("health_status", sa.String(12), nullable=True))
    with op.batch_alter_table("alert_history") as batch:
        batch.add_column(sa.Column("related_alert_id", SURROGATE_KEY, nullable=True))
        batch.create_foreign_key(
            op.f("fk_alert_history_related_alert_id_alert_history"),
            "alert_history",
            ["related_alert_id"],
            ["id"],
            ondelete="SET NULL",
        )
    op.create_index("ix_alert_history_related_alert_id", "alert_history", ["related_alert_id"])


def downgrade() -> None:
    op.drop_index("ix_alert_history_related_alert_id", table_name="alert_history")
    with op.batch_alter_table("alert_history") as batch:
        batch.drop_constraint(op.f("fk_alert_history_related_alert_id_alert_history"), type_="foreignkey")
        batch.drop_column("related_alert_id")
    with op.batch_alter_table("compressor_state") as batch:
        batch.drop_column("health_status")
        batch.drop_column("health_index")
    op.drop_table("compressor_predictions")
    op.drop_index("ix_compressor_health_org_hour", table_name="compressor_health")
    op.drop_table("compressor_health")
