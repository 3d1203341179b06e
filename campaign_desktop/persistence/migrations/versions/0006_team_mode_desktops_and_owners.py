"""Team mode: desktops with a heartbeat, the owner of each run, who marked a row in flight.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 10:00:00

Several desktops may send from one PostgreSQL database (docs/design.md §10). A run is worked
off by its owner; when the owner's heartbeat stops, another desktop takes it over and turns
only the gone desktop's in-flight rows into unconfirmed ones.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "desktop",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_desktop")),
    )
    with op.batch_alter_table("desktop", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_desktop_heartbeat_at"), ["heartbeat_at"])
    with op.batch_alter_table("campaign_run", schema=None) as batch_op:
        batch_op.add_column(sa.Column("owner_id", sa.String(length=36), nullable=True))
        batch_op.create_index(batch_op.f("ix_campaign_run_owner_id"), ["owner_id"])
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claimed_by", sa.String(length=36), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.drop_column("claimed_by")
    with op.batch_alter_table("campaign_run", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_campaign_run_owner_id"))
        batch_op.drop_column("owner_id")
    with op.batch_alter_table("desktop", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_desktop_heartbeat_at"))
    op.drop_table("desktop")
