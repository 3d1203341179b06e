"""History retention: when a run's recipient details were removed (issue 16).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 11:00:00

`campaign_run.details_removed_at` says that the run's delivery rows were removed by the
history retention (`services/retention.py`, docs/design.md §15); the run keeps its counts.
The index on `inbound_message.delivery_id` lets deleting delivery rows (whose foreign key
there is ON DELETE SET NULL) find the inbound messages that name them without a scan.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("campaign_run", schema=None) as batch_op:
        batch_op.add_column(sa.Column("details_removed_at", sa.DateTime(), nullable=True))
    with op.batch_alter_table("inbound_message", schema=None) as batch_op:
        batch_op.create_index("ix_inbound_message_delivery", ["delivery_id"])


def downgrade() -> None:
    with op.batch_alter_table("inbound_message", schema=None) as batch_op:
        batch_op.drop_index("ix_inbound_message_delivery")
    with op.batch_alter_table("campaign_run", schema=None) as batch_op:
        batch_op.drop_column("details_removed_at")
