"""Billing and team: Stripe event outcomes, per-subscription state, plan-limit quarantines, invitations.

Revision ID: 0004
Revises: 0003
Create Date: 2026-01-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BILLING_EVENT_COLUMNS = (
    "stripe_created_at",
    "stripe_customer_id",
    "stripe_subscription_id",
    "outcome",
    "detail",
)


def _timestamp(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _org_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["organization_id"],
        ["organizations.id"],
        name=op.f(f"fk_{table}_organization_id_organizations"),
        ondelete="CASCADE",
    )


def upgrade() -> None:
    with op.batch_alter_table("billing_events") as batch:
        batch.add_column(_timestamp("stripe_created_at", nullable=True))
        batch.add_column(sa.Column("stripe_customer_id", sa.String(255), nullable=True))
        batch.add_column(sa.Column("stripe_subscription_id", sa.String(255), nullable=True))
        batch.add_column(sa.Column("outcome", sa.String(20), nullable=False, server_default="applied"))
        batch.add_column(sa.Column("detail", sa.Text(), nullable=True))
    with op.batch_alter_table("billing_events") as batch:
        batch.alter_column("outcome", server_default=None)

    op.create_table(
        "billing_subscriptions",
        sa.Column("stripe_subscription_id", sa.String(255), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("stripe_customer_id", sa.String(255), nullable=True),
        sa.Column("status", sa.String(30), nullable=False),
        sa.Column("tier", sa.String(20), nullable=True),
        sa.Column("price_id", sa.String(255), nullable=True),
        _timestamp("event_at"),
        sa.Column("event_rank", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.String(255), nullable=False),
        _timestamp("updated_at"),
        _org_fk("billing_subscriptions"),
        sa.PrimaryKeyConstraint("stripe_subscription_id", name=op.f("pk_billing_subscriptions")),
    )
    op.create_index("ix_billing_subscriptions_organization_id", "billing_subscriptions", ["organization_id"])

    op.create_table(
        "plan_limit_quarantines",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("compressor_id", sa.String(50), nullable=False),
        sa.Column("readings", sa.Integer(), nullable=False),
        _timestamp("first_at"),
        _timestamp("last_at"),
        _org_fk("plan_limit_quarantines"),
        sa.PrimaryKeyConstraint("organization_id", "compressor_id", name=op.f("pk_plan_limit_quarantines")),
    )

    op.create_table(
        "invitations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("invited_by", sa.Uuid(), nullable=True),
        _timestamp("created_at"),
        _timestamp("expires_at"),
        _timestamp("accepted_at", nullable=True),
        sa.Column("accepted_user_id", sa.Uuid(), nullable=True),
        _timestamp("revoked_at", nullable=True),
        sa.CheckConstraint(
            "role IN ('owner', 'admin', 'operator', 'viewer')", name=op.f("ck_invitations_role")
        ),
        _org_fk("invitations"),
        sa.ForeignKeyConstraint(
            ["invited_by"], ["users.id"], name=op.f("fk_invitations_invited_by_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["accepted_user_id"],
            ["users.id"],
            name=op.f("fk_invitations_accepted_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invitations")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_invitations_token_hash")),
    )
    op.create_index("ix_invitations_organization_id", "invitations", ["organization_id"])
    op.create_index("ix_invitations_email", "invitations", ["email"])


def downgrade() -> None:
    op.drop_table("invitations")
    op.drop_table("plan_limit_quarantines")
    op.drop_table("billing_subscriptions")
    with op.batch_alter_table("billing_events") as batch:
        for column in reversed(BILLING_EVENT_COLUMNS):
            batch.drop_column(column)
