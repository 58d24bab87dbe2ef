"""Audit log; alert lifecycle, workflow runs and notifications.

Revision ID: 0003
Revises: 0002
Create Date: 2026-01-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the model column types, so later model changes cannot rewrite this migration.
JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
SURROGATE_KEY = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


OPEN_STALENESS = "condition = 'data_staleness' AND NOT resolved"


def _alert_columns() -> list[sa.Column[object]]:
    return [
        _timestamp("shelved_at", nullable=True),
        sa.Column("escalation_note", sa.Text(), nullable=True),
        sa.Column("notified_severity", sa.String(10), nullable=True),
        _timestamp("notified_at", nullable=True),
    ]


def _timestamp(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _organization_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["organization_id"],
        ["organizations.id"],
        name=op.f(f"fk_{table}_organization_id_organizations"),
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", SURROGATE_KEY, autoincrement=True, nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("actor_type", sa.String(20), nullable=False),
        sa.Column("actor_id", sa.String(64), nullable=True),
        sa.Column("actor_name", sa.String(200), nullable=False),
        sa.Column("action", sa.String(100), nullable=False),
        sa.Column("target_type", sa.String(50), nullable=False),
        sa.Column("target_id", sa.String(255), nullable=True),
        sa.Column("ip", sa.String(45), nullable=True),
        sa.Column("details", JSON_DOCUMENT, nullable=True),
        _timestamp("created_at"),
        _organization_fk("audit_log"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index("ix_audit_log_org_created", "audit_log", ["organization_id", "created_at"])
    op.create_index("ix_audit_log_org_target", "audit_log", ["organization_id", "target_type", "target_id"])

    # Alert lifecycle: people- and workflow-owned columns the pipeline never writes.
    for column in _alert_columns():
        op.add_column("alert_history", column)
    op.create_index(
        "uq_alert_history_open_staleness",
        "alert_history",
        ["organization_id", "compressor_id"],
        unique=True,
        sqlite_where=sa.text(OPEN_STALENESS),
        postgresql_where=sa.text(OPEN_STALENESS),
    )

    op.create_table(
        "workflow_runs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("workflow", sa.String(30), nullable=False),
        sa.Column("trigger", sa.String(20), nullable=False),
        _timestamp("started_at"),
        _timestamp("as_of"),
        sa.Column("duration_ms", sa.Float(), nullable=False),
        sa.Column("result_count", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("details", JSON_DOCUMENT, nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "workflow IN ('escalation', 'auto_resolve', 'staleness', 'cleanup')",
            name=op.f("ck_workflow_runs_workflow"),
        ),
        sa.CheckConstraint("outcome IN ('succeeded', 'failed')", name=op.f("ck_workflow_runs_outcome")),
        _organization_fk("workflow_runs"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workflow_runs")),
    )
    op.create_index("ix_workflow_runs_org_started", "workflow_runs", ["organization_id", "started_at"])
    op.create_index("ix_workflow_runs_started", "workflow_runs", ["started_at"])

    op.create_table(
        "job_locks",
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("holder", sa.String(200), nullable=True),
        _timestamp("acquired_at", nullable=True),
        _timestamp("expires_at", nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_job_locks")),
    )

    op.create_table(
        "notification_channels",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("target", sa.String(2000), nullable=False),
        sa.Column("secret", sa.String(200), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=True),
        _timestamp("created_at"),
        sa.CheckConstraint("kind IN ('email', 'webhook')", name=op.f("ck_notification_channels_kind")),
        _organization_fk("notification_channels"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_channels")),
    )
    op.create_index("ix_notification_channels_organization_id", "notification_channels", ["organization_id"])

    op.create_table(
        "notification_messages",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("channel_id", sa.Uuid(), nullable=False),
        sa.Column("compressor_id", sa.String(50), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("events", JSON_DOCUMENT, nullable=False),
        _timestamp("created_at"),
        _timestamp("send_after"),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _timestamp("claimed_until", nullable=True),
        _timestamp("sent_at", nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'sending', 'sent', 'failed')", name=op.f("ck_notification_messages_status")
        ),
        _organization_fk("notification_messages"),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["notification_channels.id"],
            name=op.f("fk_notification_messages_channel_id_notification_channels"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_messages")),
    )
    op.create_index("ix_notification_messages_due", "notification_messages", ["status", "send_after"])
    op.create_index(
        "ix_notification_messages_group", "notification_messages", ["channel_id", "compressor_id", "status"]
    )
    op.create_index(
        "ix_notification_messages_org_created", "notification_messages", ["organization_id", "created_at"]
    )


def downgrade() -> None:
    for table in ("notification_messages", "notification_channels", "job_locks", "workflow_runs"):
        op.drop_table(table)
    op.drop_index("uq_alert_history_open_staleness", table_name="alert_history")
    with op.batch_alter_table("alert_history") as batch:
        for column in _alert_columns():
            batch.drop_column(column.name)
    op.drop_table("audit_log")
