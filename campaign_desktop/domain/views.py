"""Frozen views (DTOs) that services hand to callers instead of ORM objects.

They cross threads safely; every datetime in them is aware UTC, except `scheduled_local`,
the naive wall-clock time the user typed, meaningful only with `timezone`. Statuses,
triggers and policies are the enums of `domain/status.py` (`StrEnum`s: they compare equal
to their strings), a campaign's recurrence a `RecurrencePattern`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from campaign_desktop.domain.recurrence import RecurrencePattern
from campaign_desktop.domain.segments import Segment
from campaign_desktop.domain.status import (
    CampaignStatus,
    ContactStatus,
    DeliveryStatus,
    MissedRunPolicy,
    RunStatus,
    RunTrigger,
)


@dataclass(frozen=True)
class CampaignView:
    id: int
    name: str
    status: CampaignStatus
    subject: str
    body_text: str
    body_html: str | None
    from_name: str
    from_email: str
    reply_to: str | None
    lists: tuple[str, ...]
    timezone: str
    scheduled_local: datetime | None
    scheduled_at: datetime | None
    next_run_at: datetime | None
    recurrence_pattern: RecurrencePattern | None
    is_recurring: bool
    end_date: date | None
    max_runs: int | None
    runs_done: int
    missed_run_policy: MissedRunPolicy
    parent_campaign_id: int | None
    parent_name: str | None
    archived: bool
    archived_at: datetime | None
    archive_reason: str | None
    created_at: datetime
    updated_at: datetime
    audience_size: int = 0
    last_run: RunView | None = None
    #: Saved segments the campaign sends to beside its lists, by name (docs/design.md §18).
    segments: tuple[str, ...] = ()


@dataclass(frozen=True)
class RunView:
    id: int
    campaign_id: int
    occurrence_at: datetime
    trigger: RunTrigger
    status: RunStatus
    started_at: datetime | None
    finished_at: datetime | None
    total: int
    sent: int
    failed: int
    skipped: int
    unconfirmed: int
    error: str | None
    # What came back afterwards: contacts this run's messages bounced or unsubscribed.
    bounced: int = 0
    unsubscribed: int = 0
    # When the history retention removed its recipients' details (None: they are kept).
    details_removed_at: datetime | None = None

    @property
    def pending(self) -> int:
        """Recipients not yet tried (total less every settled count)."""
        return self.total - self.sent - self.failed - self.skipped - self.unconfirmed

    @property
    def recipients(self) -> int:
        """The people it is sent to: total less those skipped (unsubscribed or bounced when
        the audience was taken), so it counts the people the campaign's audience count does."""
        return self.total - self.skipped


@dataclass(frozen=True)
class DeliveryView:
    id: int
    run_id: int
    contact_id: int | None
    email: str
    status: DeliveryStatus
    attempts: int
    last_error: str | None
    smtp_message_id: str | None
    sent_at: datetime | None
    feedback: str | None = None  # what came back: bounced, soft_bounce, unsubscribed (§11)


@dataclass(frozen=True)
class DueCampaign:
    """A campaign the scheduler found overdue (`CampaignService.overdue`)."""

    id: int
    due: tuple[datetime, ...]
    """Its occurrences already due, oldest first (aware UTC): `next_run_at` and any later
    ones the machine slept through."""
    missed_run_policy: MissedRunPolicy


@dataclass(frozen=True)
class ContactView:
    id: int
    email: str
    first_name: str
    last_name: str
    attributes: dict[str, Any]
    status: ContactStatus
    unsubscribed_at: datetime | None
    lists: tuple[str, ...]
    created_at: datetime
    updated_at: datetime
    # Why and when mail stopped (an unsubscribe's or a bounce's words; docs/design.md §11).
    status_reason: str | None = None
    bounced_at: datetime | None = None


@dataclass(frozen=True)
class ContactListView:
    id: int
    name: str
    description: str
    member_count: int
    subscribed_count: int


@dataclass(frozen=True)
class SegmentView:
    """A saved segment; `segment` is None when its stored conditions no longer load (it
    then matches nobody)."""

    id: int
    name: str
    segment: Segment | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class ImportReport:
    """What a CSV import did: counts, and each skipped row with its reason (1-based rows)."""

    created: int = 0
    updated: int = 0
    skipped: list[tuple[int, str]] = field(default_factory=list)
    cancelled: bool = False
    rows_read: int = 0
    status_unsubscribed: int = 0
    """Subscribed contacts (new or existing) the file's status column made unsubscribed."""
    status_bounced: int = 0
    """Subscribed contacts (new or existing) the file's status column made bounced."""
    status_refused: int = 0
    """Rows skipped for a status word that is no consent to mail (also in `skipped`)."""


@dataclass(frozen=True)
class Backup:
    """One automatic backup copy of the database, as the restore dialog lists it."""

    path: Path
    taken_at: datetime
    """When it was taken (aware UTC): from its name, or the file's time for a legacy .bak."""
    size: int
    """In bytes."""
