"""Indexes for the campaign table's pages: next run (never-runs last) and name, per tab.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 09:00:00

`ORDER BY … LIMIT 200` then reads 200 index entries instead of sorting every campaign. The
expressions must stay exactly as `persistence/queries.py` sorts, or SQLite ignores the index.

SQLite only (added with team mode, issue 14): PostgreSQL refuses both expressions as written
(an index expression needs parentheses there, and it has no NOCASE collation). Revision 0005
creates the portable indexes on every engine.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    with op.batch_alter_table("campaign", schema=None) as batch_op:
        batch_op.create_index(
            "ix_campaign_next_run",
            ["archived", sa.text("next_run_at IS NULL"), "next_run_at"],
        )
        batch_op.create_index("ix_campaign_name", ["archived", sa.text("name COLLATE NOCASE")])


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    with op.batch_alter_table("campaign", schema=None) as batch_op:
        batch_op.drop_index("ix_campaign_name")
        batch_op.drop_index("ix_campaign_next_run")
