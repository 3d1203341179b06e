"""Saved segments (docs/design.md §18): contacts picked by their fields' values, kept under a
name, counted and previewed in SQL, and usable as a campaign's audience beside lists.

Reached as `ctx.segments`. Deleting a segment is refused while a campaign sends to it (as
deleting a list is): the marketer removes it from those campaigns first, and no campaign's
audience ever shrinks behind its back.
"""

from __future__ import annotations

import builtins
from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import case, delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from campaign_desktop.domain.clock import Clock
from campaign_desktop.domain.errors import ValidationError
from campaign_desktop.domain.segments import Segment
from campaign_desktop.domain.status import ContactStatus
from campaign_desktop.domain.views import ContactView, SegmentView
from campaign_desktop.persistence import queries
from campaign_desktop.persistence.db import Database
from campaign_desktop.persistence.models import Campaign, Contact, SavedSegment, campaign_segment
from campaign_desktop.persistence.segment_sql import segment_sql
from campaign_desktop.services.contacts import ContactService, refuse_while_in_use

MAX_NAME_LENGTH = 200


@dataclass(frozen=True)
class SegmentCount:
    """How many contacts a segment picks: all of them, and the subscribed ones (those a
    campaign would send to)."""

    matching: int
    subscribed: int


class SegmentService:
    def __init__(self, db: Database, clock: Clock, contacts: ContactService) -> None:
        self._db = db
        self._clock = clock
        self._contacts = contacts

    # --- reading -------------------------------------------------------------------------

    def list(self) -> list[SegmentView]:
        """Every saved segment, by name (ignoring case)."""
        with self._db.read() as session:
            rows = session.scalars(select(SavedSegment)).all()
            views = [_view(row) for row in rows]
        return sorted(views, key=lambda view: (view.name.casefold(), view.name))

    def get(self, segment_id: int) -> SegmentView:
        with self._db.read() as session:
            return _view(_load(session, segment_id))

    def count(self, segment: Segment) -> SegmentCount:
        """Contacts `segment` picks, in one pass (a scan of `contact`: about a second per
        million contacts on SQLite; call it off the GUI thread)."""
        subscribed = case((Contact.status == ContactStatus.SUBSCRIBED, 1), else_=0)
        with self._db.read() as session:
            row = session.execute(
                select(func.count(), func.coalesce(func.sum(subscribed), 0))
                .select_from(Contact)
                .where(segment_sql(segment))
            ).one()
        return SegmentCount(matching=int(row[0]), subscribed=int(row[1]))

    def preview(self, segment: Segment, limit: int = 20) -> builtins.list[ContactView]:
        """The first `limit` contacts `segment` picks, by email (any status)."""
        return self._contacts.search(segment=segment, limit=limit)

    def subscribed_counts(self, segment_ids: Collection[int]) -> dict[int, int]:
        """Subscribed contacts each saved segment picks (what a campaign to it reaches), by
        id; a segment whose stored conditions no longer load counts 0."""
        with self._db.read() as session:
            stored = queries.stored_segments(session, segment_ids)
            return {
                segment_id: queries.count_audience(session, (), [stored[segment_id]])
                if segment_id in stored
                else 0
                for segment_id in segment_ids
            }

    def users(self, segment_id: int) -> builtins.list[str]:
        """Names of the campaigns that send to this segment."""
        with self._db.read() as session:
            return _users(session, segment_id)

    # --- writing -------------------------------------------------------------------------

    def create(self, name: str, segment: Segment) -> SegmentView:
        """Save `segment` as `name`. ValidationError ("name") for an empty name or one that
        another segment has, ignoring case (docs/design.md §21)."""
        clean = _name(name)
        checked = Segment.of(segment.conditions, segment.match)
        now = self._clock.now()
        try:
            with self._db.write() as session:
                _refuse_taken_name(session, clean)
                row = SavedSegment(
                    name=clean, definition=checked.to_dict(), created_at=now, updated_at=now
                )
                session.add(row)
                session.flush()
                return _view(row)
        except IntegrityError:  # another desktop saved the name a moment ago
            raise ValidationError("name", _taken_message(clean)) from None

    def update(self, segment_id: int, segment: Segment) -> SegmentView:
        """New conditions for a saved segment; campaigns sending to it follow (their next
        run snapshots the new audience)."""
        checked = Segment.of(segment.conditions, segment.match)
        with self._db.write() as session:
            row = _load(session, segment_id)
            row.definition = checked.to_dict()
            row.updated_at = self._clock.now()
            session.flush()
            return _view(row)

    def rename(self, segment_id: int, name: str) -> SegmentView:
        """Give a saved segment a new name; campaigns keep sending to it (they refer to it,
        not to its name). ValidationError ("name") for an empty name or one another segment
        has, ignoring case (docs/design.md §21: "parisians" → "Parisians" is fine);
        NotFoundError for a segment no longer there."""
        clean = _name(name)
        try:
            with self._db.write() as session:
                row = _load(session, segment_id)
                if row.name != clean:
                    _refuse_taken_name(session, clean, other_than=segment_id)
                    row.name = clean
                    row.updated_at = self._clock.now()
                    session.flush()
                return _view(row)
        except IntegrityError:
            raise ValidationError("name", _taken_message(clean)) from None

    def delete(self, segment_id: int) -> None:
        """Delete a saved segment (contacts stay); refused while a campaign sends to it,
        naming those campaigns."""
        with self._db.write() as session:
            row = _load(session, segment_id)
            refuse_while_in_use("segment", row.name, _users(session, segment_id))
            session.execute(delete(SavedSegment).where(SavedSegment.id == segment_id))


def _view(row: SavedSegment) -> SegmentView:
    return SegmentView(
        id=row.id,
        name=row.name,
        segment=queries.stored_segment(row.id, row.definition),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _load(session: Session, segment_id: int) -> SavedSegment:
    return queries.load(session, SavedSegment, segment_id, "Segment")


def _users(session: Session, segment_id: int) -> list[str]:
    return list(
        session.scalars(
            select(Campaign.name)
            .join(campaign_segment, campaign_segment.c.campaign_id == Campaign.id)
            .where(campaign_segment.c.segment_id == segment_id)
            .order_by(Campaign.name)
        )
    )


def _name(value: object) -> str:
    name = value.strip() if isinstance(value, str) else ""
    if not name:
        raise ValidationError("name", "Give the segment a name.")
    if len(name) > MAX_NAME_LENGTH:
        raise ValidationError("name", f"Keep the name under {MAX_NAME_LENGTH} characters.")
    return name


def _refuse_taken_name(session: Session, name: str, *, other_than: int | None = None) -> None:
    taken = queries.name_taken(session, SavedSegment, name, other_than=other_than)
    if taken is not None:
        raise ValidationError("name", _taken_message(taken))


def _taken_message(name: str) -> str:
    return f"A segment named “{name}” already exists."
