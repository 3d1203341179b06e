"""SQLAlchemy 2 typed models for every table of docs/design.md §2.

Timestamps are `UTCDateTime` (aware UTC only); the statuses, triggers and policies are
the domain's enums (`Mapped[CampaignStatus]`, …), stored as their string values
(`StoredEnum`, through the type annotation map).
JSON columns are JSON on SQLite and JSONB on PostgreSQL (team mode, migration 0005).
"""

from __future__ import annotations

import threading
import time
from datetime import date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    ForeignKey,
    Index,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from campaign_desktop.domain.status import (
    CampaignStatus,
    ContactStatus,
    DeliveryStatus,
    MissedRunPolicy,
    RunStatus,
    RunTrigger,
)
from campaign_desktop.persistence.types import StoredEnum, UTCDateTime, WallClockDateTime, utc_now

# Named constraints so Alembic batch migrations on SQLite can find them again.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON().with_variant(JSONB(), "postgresql"),
        **{
            enum: StoredEnum(enum)
            for enum in (
                CampaignStatus,
                ContactStatus,
                DeliveryStatus,
                MissedRunPolicy,
                RunStatus,
                RunTrigger,
            )
        },
    }


_position_lock = threading.Lock()
_last_position = 0


def next_audience_position() -> int:
    """A `campaign_audience.position`: larger than any this process gave before.

    Microseconds of the wall clock, so that lists added later (by any desktop whose clock
    is about right) come after; strictly increasing within a process, so the lists chosen
    in one save keep their order (the ORM inserts them in the order of `Campaign.lists`).
    """
    global _last_position  # noqa: PLW0603  (one counter for the process, under its lock)
    with _position_lock:
        _last_position = max(_last_position + 1, time.time_ns() // 1000)
        return _last_position


list_membership = Table(
    "list_membership",
    Base.metadata,
    Column("list_id", ForeignKey("contact_list.id", ondelete="CASCADE"), primary_key=True),
    Column(
        "contact_id", ForeignKey("contact.id", ondelete="CASCADE"), primary_key=True, index=True
    ),
)

campaign_audience = Table(
    "campaign_audience",
    Base.metadata,
    Column("campaign_id", ForeignKey("campaign.id", ondelete="CASCADE"), primary_key=True),
    Column(
        "list_id", ForeignKey("contact_list.id", ondelete="RESTRICT"), primary_key=True, index=True
    ),
    # The order the lists were chosen in (migration 0005; SQLite's rowid served before).
    Column(
        "position", BigInteger, nullable=False, default=next_audience_position, server_default="0"
    ),
)


campaign_segment = Table(
    "campaign_segment",
    Base.metadata,
    Column("campaign_id", ForeignKey("campaign.id", ondelete="CASCADE"), primary_key=True),
    # RESTRICT: a segment a campaign sends to is not deleted under it (SegmentService.delete).
    Column(
        "segment_id", ForeignKey("segment.id", ondelete="RESTRICT"), primary_key=True, index=True
    ),
    # The order the segments were chosen in, as `campaign_audience.position` (migration 0010).
    Column(
        "position", BigInteger, nullable=False, default=next_audience_position, server_default="0"
    ),
)


class Contact(Base):
    __tablename__ = "contact"
    __table_args__ = (
        CheckConstraint("status IN ('subscribed','unsubscribed','bounced')", name="status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    first_name: Mapped[str] = mapped_column(String(200), default="")
    last_name: Mapped[str] = mapped_column(String(200), default="")
    attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[ContactStatus] = mapped_column(default=ContactStatus.SUBSCRIBED, index=True)
    unsubscribed_at: Mapped[datetime | None]
    # Why the contact is no longer mailed, in words (an unsubscribe's or a bounce's; 0008).
    status_reason: Mapped[str | None] = mapped_column(Text)
    bounced_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(default=utc_now, onupdate=utc_now)

    lists: Mapped[list[ContactList]] = relationship(
        secondary=list_membership, back_populates="contacts"
    )


class ContactList(Base):
    __tablename__ = "contact_list"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utc_now)

    contacts: Mapped[list[Contact]] = relationship(
        secondary=list_membership, back_populates="lists"
    )


class SavedSegment(Base):
    """A segment saved under a name (docs/design.md §18): `definition` is
    `domain.segments.Segment.to_dict()` (match and conditions)."""

    __tablename__ = "segment"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    definition: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(default=utc_now, onupdate=utc_now)


class Campaign(Base):
    __tablename__ = "campaign"
    __table_args__ = (
        Index("ix_campaign_due", "archived", "status", "next_run_at"),
        # The campaign table's page orders (migrations 0003 and 0005; must match
        # services/campaigns.py `campaign_order`).
        Index("ix_campaign_next_run", "archived", text("(next_run_at IS NULL)"), "next_run_at"),
        Index("ix_campaign_name", "archived", text("lower(name)")),
        CheckConstraint("max_runs IS NULL OR max_runs >= 1", name="max_runs_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    channel: Mapped[str] = mapped_column(String(20), default="email")
    subject: Mapped[str] = mapped_column(String(998))
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str | None] = mapped_column(Text)
    from_name: Mapped[str] = mapped_column(String(200), default="")
    from_email: Mapped[str] = mapped_column(String(320))
    reply_to: Mapped[str | None] = mapped_column(String(320))
    status: Mapped[CampaignStatus] = mapped_column(default=CampaignStatus.DRAFT, index=True)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    # Naive on purpose: the wall-clock time the user typed, in `timezone` (docs/design.md §3).
    scheduled_local: Mapped[datetime | None] = mapped_column(WallClockDateTime())
    scheduled_at: Mapped[datetime | None]
    recurrence_pattern: Mapped[dict[str, Any] | None]
    is_recurring: Mapped[bool] = mapped_column(Boolean, default=False)
    next_run_at: Mapped[datetime | None]
    end_date: Mapped[date | None] = mapped_column(Date)
    max_runs: Mapped[int | None]
    runs_done: Mapped[int] = mapped_column(default=0)
    missed_run_policy: Mapped[MissedRunPolicy] = mapped_column(default=MissedRunPolicy.SEND_LATE)
    parent_campaign_id: Mapped[int | None] = mapped_column(
        ForeignKey("campaign.id", ondelete="SET NULL")
    )
    archived: Mapped[bool] = mapped_column(Boolean, default=False)
    archived_at: Mapped[datetime | None]
    archive_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(default=utc_now, onupdate=utc_now)

    lists: Mapped[list[ContactList]] = relationship(
        secondary=campaign_audience, order_by=campaign_audience.c.position
    )
    segments: Mapped[list[SavedSegment]] = relationship(
        secondary=campaign_segment, order_by=campaign_segment.c.position
    )


class CampaignRun(Base):
    __tablename__ = "campaign_run"
    __table_args__ = (UniqueConstraint("campaign_id", "occurrence_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaign.id", ondelete="CASCADE"), index=True
    )
    occurrence_at: Mapped[datetime]
    # The desktop working this run off (team mode: another takes over when its heartbeat
    # stops; docs/design.md §10).
    owner_id: Mapped[str | None] = mapped_column(String(36), index=True)
    trigger: Mapped[RunTrigger]
    status: Mapped[RunStatus] = mapped_column(index=True)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    total: Mapped[int] = mapped_column(default=0)
    sent: Mapped[int] = mapped_column(default=0)
    failed: Mapped[int] = mapped_column(default=0)
    skipped: Mapped[int] = mapped_column(default=0)
    unconfirmed: Mapped[int] = mapped_column(default=0)
    # What came back afterwards (the reply mailbox, or a 5.1.x at send time; migration 0008).
    bounced: Mapped[int] = mapped_column(default=0, server_default="0")
    unsubscribed: Mapped[int] = mapped_column(default=0, server_default="0")
    error: Mapped[str | None] = mapped_column(Text)
    # When the history retention removed the run's delivery rows (its counts stay; migration
    # 0009, services/retention.py).
    details_removed_at: Mapped[datetime | None]


class Delivery(Base):
    __tablename__ = "delivery"
    __table_args__ = (
        UniqueConstraint("run_id", "contact_id"),
        Index("ix_delivery_run_status", "run_id", "status"),
        Index("ix_delivery_sent_at", "sent_at"),
        Index("ix_delivery_contact", "contact_id"),
        # A run's deliveries paged by id (migration 0007, `RunService.deliveries`).
        Index("ix_delivery_run_page", "run_id", "id"),
        Index("ix_delivery_message_id", "smtp_message_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("campaign_run.id", ondelete="CASCADE"))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contact.id", ondelete="SET NULL"))
    email: Mapped[str] = mapped_column(String(320))
    status: Mapped[DeliveryStatus] = mapped_column(default=DeliveryStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    smtp_message_id: Mapped[str | None] = mapped_column(String(998))
    sent_at: Mapped[datetime | None]
    # A pending row that got a 4xx reply is not tried again before this instant (migration 0004).
    retry_at: Mapped[datetime | None]
    # The desktop that marked the row in flight: only a dead desktop's rows become unconfirmed.
    claimed_by: Mapped[str | None] = mapped_column(String(36))
    # What came back for this message: `DeliveryFeedback` (bounced, soft_bounce, unsubscribed).
    feedback: Mapped[str | None] = mapped_column(String(20))


class InboundMessage(Base):
    """One message of the reply mailbox, processed once (its key is UNIQUE; migration 0008)."""

    __tablename__ = "inbound_message"
    # Deleting a delivery sets its inbound messages' delivery_id to NULL: found by index
    # (migration 0009), not by a scan per delivery row.
    __table_args__ = (Index("ix_inbound_message_delivery", "delivery_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # "mid:<Message-ID>", or "sha256:<digest of the bytes>" for a message without one.
    message_key: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    delivery_id: Mapped[int | None] = mapped_column(ForeignKey("delivery.id", ondelete="SET NULL"))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contact.id", ondelete="SET NULL"))
    effect: Mapped[str] = mapped_column(Text)
    processed_at: Mapped[datetime] = mapped_column(default=utc_now)


class Desktop(Base):
    """A running copy of the app on this database; its heartbeat says it is alive."""

    __tablename__ = "desktop"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    pid: Mapped[int] = mapped_column(default=0)
    started_at: Mapped[datetime] = mapped_column(default=utc_now)
    heartbeat_at: Mapped[datetime] = mapped_column(default=utc_now, index=True)


class Setting(Base):
    __tablename__ = "setting"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
