"""Organizations' data version: a counter every write that changes what the read API shows bumps in
its own transaction, so the service can keep answers per version (see altaviz.accounts.data_version).

Revision ID: 0005
Revises: 0004
Create Date: 2026-01-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("organizations") as batch:
        batch.add_column(sa.Column("data_version", sa.BigInteger(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("organizations") as batch:
        batch.drop_column("data_version")
