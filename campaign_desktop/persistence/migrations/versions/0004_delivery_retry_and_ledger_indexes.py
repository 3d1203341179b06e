"""The ledger's second edition: deferred retries and the indexes its queries need.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 09:00:00

- `delivery.retry_at`: a recipient that got a 4xx reply waits until then inside its run
  (docs/design.md §9) instead of blocking the run or failing for good.
- `ix_delivery_sent_at`: the throttle counts the ledger's sends of the last hour.
- `ix_delivery_contact`: deleting a contact sets its deliveries' contact_id to NULL
  (ON DELETE SET NULL), which otherwise scans the whole ledger.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.add_column(sa.Column("retry_at", sa.DateTime(), nullable=True))
        batch_op.create_index("ix_delivery_sent_at", ["sent_at"])
        batch_op.create_index("ix_delivery_contact", ["contact_id"])


def downgrade() -> None:
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.drop_index("ix_delivery_contact")
        batch_op.drop_index("ix_delivery_sent_at")
        batch_op.drop_column("retry_at")
