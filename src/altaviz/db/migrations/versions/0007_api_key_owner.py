"""API keys keep their creator and never outlive their creator's role (issue 18 item 1).

api_keys.created_by loses its foreign key (ON DELETE SET NULL emptied it when the member was removed,
so nobody could tell whose keys they were) and gains created_by_email / created_by_name, copied from
the creator at creation (and here from the users that still exist).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CREATOR_FK = "fk_api_keys_created_by_users"


def upgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_constraint(op.f(CREATOR_FK), type_="foreignkey")
        batch.add_column(sa.Column("created_by_email", sa.String(320), nullable=True))
        batch.add_column(sa.Column("created_by_name", sa.String(200), nullable=True))
    op.execute(
        "UPDATE api_keys SET "
        "created_by_email = (SELECT email FROM users WHERE users.id = api_keys.created_by), "
        "created_by_name = (SELECT name FROM users WHERE users.id = api_keys.created_by) "
        "WHERE created_by IS NOT NULL"
    )


def downgrade() -> None:
    # The foreign key needs every creator to exist: keys of removed creators lose the id again.
    op.execute(
        "UPDATE api_keys SET created_by = NULL WHERE created_by IS NOT NULL "
        "AND NOT EXISTS (SELECT 1 FROM users WHERE users.id = api_keys.created_by)"
    )
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("created_by_name")
        batch.drop_column("created_by_email")
        batch.create_foreign_key(op.f(CREATOR_FK), "users", ["created_by"], ["id"], ondelete="SET NULL")
