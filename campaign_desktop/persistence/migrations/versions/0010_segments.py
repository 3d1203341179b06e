"""Segments: contacts picked by their fields' values, saved by name, as campaign audiences.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 11:00:00

`segment` (name unique, `definition`: the segment's match and conditions as JSON, jsonb on
PostgreSQL like the other JSON columns since 0005) and `campaign_segment`, a campaign's
segments beside its lists (`campaign_audience`), in the order chosen (docs/design.md §18).
A segment a campaign uses cannot be deleted (RESTRICT).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "segment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "definition", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_segment")),
        sa.UniqueConstraint("name", name=op.f("uq_segment_name")),
    )
    op.create_table(
        "campaign_segment",
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("segment_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False, server_default="0"),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaign.id"],
            name=op.f("fk_campaign_segment_campaign_id_campaign"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["segment_id"],
            ["segment.id"],
            name=op.f("fk_campaign_segment_segment_id_segment"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("campaign_id", "segment_id", name=op.f("pk_campaign_segment")),
    )
    op.create_index(
        op.f("ix_campaign_segment_segment_id"), "campaign_segment", ["segment_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_campaign_segment_segment_id"), table_name="campaign_segment")
    op.drop_table("campaign_segment")
    op.drop_table("segment")
