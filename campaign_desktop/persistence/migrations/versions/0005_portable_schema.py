"""Team mode (issue 14): the schema reads the same on SQLite and PostgreSQL.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 09:00:00

- `ix_campaign_name` sorts by ``lower(name)`` on every engine (SQLite's ``COLLATE NOCASE``
  does not exist on PostgreSQL; SQLite's ``lower()`` folds ASCII only, exactly as NOCASE
  did, so the order on an existing file does not change).
- PostgreSQL gets ``ix_campaign_next_run`` (0003 skips it there): the same expression,
  in the parentheses PostgreSQL's CREATE INDEX needs.
- `campaign_audience.position`: the order a campaign's lists were chosen in, which
  `queries.list_names` read from SQLite's ``rowid`` before; existing rows keep that order.
- PostgreSQL stores the JSON columns as ``jsonb`` (comparable, with ``jsonb_object_keys``).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON_COLUMNS = (("contact", "attributes", False), ("campaign", "recurrence_pattern", True))


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    with op.batch_alter_table("campaign", schema=None) as batch_op:
        if sqlite:
            batch_op.drop_index("ix_campaign_name")
        else:
            batch_op.create_index(
                "ix_campaign_next_run",
                ["archived", sa.text("(next_run_at IS NULL)"), "next_run_at"],
            )
        batch_op.create_index("ix_campaign_name", ["archived", sa.text("lower(name)")])
    with op.batch_alter_table("campaign_audience", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("position", sa.BigInteger(), nullable=False, server_default="0")
        )
    if sqlite:
        op.execute("UPDATE campaign_audience SET position = rowid")
    else:
        for table, column, nullable in _JSON_COLUMNS:
            op.alter_column(
                table,
                column,
                type_=postgresql.JSONB(),
                existing_type=sa.JSON(),
                existing_nullable=nullable,
                postgresql_using=f"{column}::jsonb",
            )


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    if not sqlite:
        for table, column, nullable in _JSON_COLUMNS:
            op.alter_column(
                table,
                column,
                type_=sa.JSON(),
                existing_type=postgresql.JSONB(),
                existing_nullable=nullable,
                postgresql_using=f"{column}::json",
            )
    with op.batch_alter_table("campaign_audience", schema=None) as batch_op:
        batch_op.drop_column("position")
    with op.batch_alter_table("campaign", schema=None) as batch_op:
        batch_op.drop_index("ix_campaign_name")
        if sqlite:
            batch_op.create_index("ix_campaign_name", ["archived", sa.text("name COLLATE NOCASE")])
        else:
            batch_op.drop_index("ix_campaign_next_run")
