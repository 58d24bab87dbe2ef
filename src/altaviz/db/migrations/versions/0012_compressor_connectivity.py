"""Field connectors (issue 20): a compressor's newest online/offline event.

compressor_connectivity: one row per compressor with the newest death or birth certificate a
connector reported through POST /api/ingest/status (state, when it happened at the source, the
reason, who sent it). The fleet shows a compressor offline from it until a newer reading arrives.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "compressor_connectivity",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("compressor_id", sa.String(64), nullable=False),
        sa.Column("state", sa.String(7), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.String(200), nullable=True),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("state IN ('offline', 'online')", name=op.f("ck_compressor_connectivity_state")),
        sa.ForeignKeyConstraint(
            ["organization_id", "compressor_id"],
            ["compressor_metadata.organization_id", "compressor_metadata.compressor_id"],
            name="fk_compressor_connectivity_compressor",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_compressor_connectivity_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("organization_id", "compressor_id", name=op.f("pk_compressor_connectivity")),
    )


def downgrade() -> None:
    op.drop_table("compressor_connectivity")
