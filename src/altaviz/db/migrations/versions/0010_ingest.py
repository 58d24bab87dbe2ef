"""Ingest keys and idempotent ingest requests (issue 16).

API keys gain the role `ingest` (writes readings through POST /api/ingest/readings, reads nothing);
`ingest_requests` remembers each organization's Idempotency-Keys with the answer first given.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEY_ROLES = "role IN ('admin', 'operator', 'viewer')"
KEY_ROLES_WITH_INGEST = "role IN ('admin', 'operator', 'viewer', 'ingest')"


def _key_roles(check: str) -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_constraint(op.f("ck_api_keys_role"), type_="check")
        batch.create_check_constraint("role", check)


def upgrade() -> None:
    _key_roles(KEY_ROLES_WITH_INGEST)
    op.create_table(
        "ingest_requests",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("idempotency_key", sa.String(255), nullable=False),
        sa.Column("request_sha256", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("response_body", sa.Text(), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_ingest_requests_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("organization_id", "idempotency_key", name=op.f("pk_ingest_requests")),
    )
    op.create_index("ix_ingest_requests_created_at", "ingest_requests", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_ingest_requests_created_at", table_name="ingest_requests")
    op.drop_table("ingest_requests")
    op.execute("DELETE FROM api_keys WHERE role = 'ingest'")
    _key_roles(KEY_ROLES)
