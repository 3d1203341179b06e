"""Inbound: bounces and unsubscribes read back from the reply mailbox (issue 15).

Revision ID: 0008
Revises: 0006
Create Date: 2026-12-01 07:00:00

Why and when a contact stopped being mailed (`contact.status_reason`, `contact.bounced_at`),
what came back for a delivery (`delivery.feedback`) and the run's counts of it, and
`inbound_message`, one row per message processed, whose UNIQUE key makes processing the same
message twice have one effect (docs/design.md §11). The Message-ID index finds the delivery
a bounce without a token is about. Nothing here depends on revision 0007 (the lead re-chains
this revision onto it at merge).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("contact", schema=None) as batch_op:
        batch_op.add_column(sa.Column("status_reason", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("bounced_at", sa.DateTime(), nullable=True))
    with op.batch_alter_table("campaign_run", schema=None) as batch_op:
        batch_op.add_column(sa.Column("bounced", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(
            sa.Column("unsubscribed", sa.Integer(), nullable=False, server_default="0")
        )
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.add_column(sa.Column("feedback", sa.String(length=20), nullable=True))
        batch_op.create_index("ix_delivery_message_id", ["smtp_message_id"])
    op.create_table(
        "inbound_message",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_key", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("delivery_id", sa.Integer(), nullable=True),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column("effect", sa.Text(), nullable=False),
        sa.Column("processed_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["delivery.id"],
            name=op.f("fk_inbound_message_delivery_id_delivery"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contact.id"],
            name=op.f("fk_inbound_message_contact_id_contact"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbound_message")),
        sa.UniqueConstraint("message_key", name=op.f("uq_inbound_message_message_key")),
    )


def downgrade() -> None:
    op.drop_table("inbound_message")
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.drop_index("ix_delivery_message_id")
        batch_op.drop_column("feedback")
    with op.batch_alter_table("campaign_run", schema=None) as batch_op:
        batch_op.drop_column("unsubscribed")
        batch_op.drop_column("bounced")
    with op.batch_alter_table("contact", schema=None) as batch_op:
        batch_op.drop_column("bounced_at")
        batch_op.drop_column("status_reason")
