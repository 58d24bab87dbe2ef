"""Compressor and station ids 64 characters wide on every table (issue 18 item 10; one id rule).

The rule (altaviz.fleet.identifiers) allows ids of up to 64 characters. PostgreSQL refused ids over
50 characters in the middle of a load while SQLite stored them, so the columns are widened to match the
rule on both databases. Widening a VARCHAR is a catalogue change on PostgreSQL; SQLite rebuilds the table.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_WIDTH = 50
NEW_WIDTH = 64

# table -> the columns holding a compressor or station id (data_quality_metrics.scope holds one too)
ID_COLUMNS: dict[str, tuple[str, ...]] = {
    "station_locations": ("station_id",),
    "compressor_metadata": ("compressor_id", "station_id"),
    "maintenance_events": ("compressor_id",),
    "sensor_readings_agg": ("compressor_id",),
    "alert_history": ("compressor_id",),
    "data_quality_metrics": ("scope", "compressor_id"),
    "notification_messages": ("compressor_id",),
    "plan_limit_quarantines": ("compressor_id",),
}
NULLABLE = {("data_quality_metrics", "compressor_id")}


def _resize(old: int, new: int) -> None:
    for table, columns in ID_COLUMNS.items():
        with op.batch_alter_table(table) as batch:
            for column in columns:
                batch.alter_column(
                    column,
                    existing_type=sa.String(old),
                    type_=sa.String(new),
                    existing_nullable=(table, column) in NULLABLE,
                )


def upgrade() -> None:
    _resize(OLD_WIDTH, NEW_WIDTH)


def downgrade() -> None:
    # Fails (and changes nothing) on PostgreSQL while an id longer than 50 characters is stored.
    _resize(NEW_WIDTH, OLD_WIDTH)
