"""Fleet registry and threshold overrides per organization, model and compressor (issue 16).

New tables: compressor_models, threshold_overrides, threshold_changes. compressor_metadata gains
model_id (the registered model, same organization), notes and archived_at (archived compressors are
hidden from the fleet and the plan count; their data is kept).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
SURROGATE_KEY = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
SCOPE_TYPES = "scope_type IN ('organization', 'model', 'compressor')"


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
    op.create_table(
        "compressor_models",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("manufacturer", sa.String(100), nullable=False),
        sa.Column("model", sa.String(100), nullable=False),
        sa.Column("rated_hp", sa.Integer(), nullable=False),
        _timestamp("created_at"),
        _timestamp("updated_at"),
        _org_fk("compressor_models"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_compressor_models")),
        sa.UniqueConstraint(
            "organization_id",
            "manufacturer",
            "model",
            name=op.f("uq_compressor_models_organization_id_manufacturer_model"),
        ),
        sa.UniqueConstraint("organization_id", "id", name=op.f("uq_compressor_models_organization_id_id")),
        sa.CheckConstraint("rated_hp > 0", name=op.f("ck_compressor_models_rated_hp_positive")),
    )

    op.create_table(
        "threshold_overrides",
        sa.Column("id", SURROGATE_KEY, autoincrement=True, nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("scope_type", sa.String(20), nullable=False),
        sa.Column("scope_id", sa.String(64), nullable=False),
        sa.Column("metric", sa.String(50), nullable=False),
        sa.Column("warning", sa.Float(), nullable=True),
        sa.Column("critical", sa.Float(), nullable=True),
        sa.Column("on_delay", sa.Integer(), nullable=True),
        sa.Column("clear_count", sa.Integer(), nullable=True),
        _timestamp("updated_at"),
        _org_fk("threshold_overrides"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_threshold_overrides")),
        sa.UniqueConstraint(
            "organization_id",
            "scope_type",
            "scope_id",
            "metric",
            name=op.f("uq_threshold_overrides_organization_id_scope_type_scope_id_metric"),
        ),
        sa.CheckConstraint(SCOPE_TYPES, name=op.f("ck_threshold_overrides_scope_type")),
        sa.CheckConstraint(
            "on_delay IS NULL OR on_delay > 0", name=op.f("ck_threshold_overrides_on_delay_positive")
        ),
        sa.CheckConstraint(
            "clear_count IS NULL OR clear_count > 0", name=op.f("ck_threshold_overrides_clear_count_positive")
        ),
    )

    op.create_table(
        "threshold_changes",
        sa.Column("id", SURROGATE_KEY, autoincrement=True, nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("scope_type", sa.String(20), nullable=False),
        sa.Column("scope_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("before", JSON_DOCUMENT, nullable=False),
        sa.Column("after", JSON_DOCUMENT, nullable=False),
        sa.Column("compressors", JSON_DOCUMENT, nullable=True),
        sa.Column("changed_by", sa.String(200), nullable=False),
        _timestamp("changed_at"),
        _org_fk("threshold_changes"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_threshold_changes")),
        sa.UniqueConstraint(
            "organization_id", "version", name=op.f("uq_threshold_changes_organization_id_version")
        ),
        sa.CheckConstraint(SCOPE_TYPES, name=op.f("ck_threshold_changes_scope_type")),
        sa.CheckConstraint(
            "kind IN ('overrides', 'model_assignment')", name=op.f("ck_threshold_changes_kind")
        ),
    )
    op.create_index(
        "ix_threshold_changes_scope", "threshold_changes", ["organization_id", "scope_type", "scope_id"]
    )

    with op.batch_alter_table("compressor_metadata") as batch:
        batch.add_column(sa.Column("model_id", sa.Uuid(), nullable=True))
        batch.add_column(sa.Column("notes", sa.Text(), nullable=True))
        batch.add_column(_timestamp("archived_at", nullable=True))
        batch.create_foreign_key(
            "fk_compressor_metadata_model",
            "compressor_models",
            ["organization_id", "model_id"],
            ["organization_id", "id"],
            ondelete="RESTRICT",
        )


def downgrade() -> None:
    with op.batch_alter_table("compressor_metadata") as batch:
        batch.drop_constraint("fk_compressor_metadata_model", type_="foreignkey")
        batch.drop_column("archived_at")
        batch.drop_column("notes")
        batch.drop_column("model_id")
    op.drop_index("ix_threshold_changes_scope", table_name="threshold_changes")
    op.drop_table("threshold_changes")
    op.drop_table("threshold_overrides")
    op.drop_table("compressor_models")
