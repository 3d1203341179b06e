"""Campaign use cases: write, schedule, duplicate, archive, restore, delete, send.

Each public method is one transaction; it validates first and raises `ValidationError`
with a field and plain words, so a refused call leaves the database as it was.

Message headers (`channels/message.py`), Jinja2 templates and the iCalendar writer are
imported by the methods that use them (a save, a send, an export), not with this module:
the first paint lists campaigns and needs none of them (issue 16).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, fields, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any, TypeVar, overload

from sqlalchemy import ColumnElement, Row, Select, delete, func, select, update
from sqlalchemy.orm import Session

from campaign_desktop.domain.clock import Clock
from campaign_desktop.domain.emails import normalize_email
from campaign_desktop.domain.errors import NotFoundError, ValidationError
from campaign_desktop.domain.events import CampaignChange, CampaignChanged, EventBus
from campaign_desktop.domain.recurrence import (
    RecurrencePattern,
    next_occurrence_after,
    occurrences,
    occurrences_between,
    wall_time_of,
)
from campaign_desktop.domain.status import (
    BUSY_STATUSES,
    CampaignStatus,
    MissedRunPolicy,
    RunStatus,
    RunTrigger,
)
from campaign_desktop.domain.timezones import get_zone
from campaign_desktop.domain.views import CampaignView, DueCampaign, RunView
from campaign_desktop.persistence import queries
from campaign_desktop.persistence.db import Database
from campaign_desktop.persistence.models import Campaign, CampaignRun, ContactList, SavedSegment
from campaign_desktop.persistence.portable import contains_ignoring_case
from campaign_desktop.services.sending.ledger import HELD_NOTE, record_unsent

if TYPE_CHECKING:
    from campaign_desktop.services.sending import SendingEngine

_COPY_SUFFIX = re.compile(r" \(copy(?: \d+)?\)$")

# How far catch-up looks for the occurrences of one campaign that fell due (a year of dailies).
_MAX_MISSED = 5000
PAGE_SIZE = 200

# Real contacts a save renders the templates for, besides the sample contact: the first
# ones, and the ones with the most and the least data (see `queries.sample_audience`).
# About 20 renders: well under a millisecond each for a normal template.
_SAMPLE_FIRST = 12
_SAMPLE_UNUSUAL = 4


class CampaignSort(StrEnum):
    """What `CampaignService.page` can sort by: one per column of the two campaign tables."""

    NAME = "name"
    STATUS = "status"
    AUDIENCE = "audience"
    NEXT_RUN = "next_run"
    REPEATS = "repeats"
    LAST_RESULT = "last_result"
    ARCHIVED_AT = "archived_at"
    REASON = "reason"


@dataclass(frozen=True)
class CampaignDraft:
    """A campaign's content as written (not yet checked): what `create` and `update` take,
    and what `check_draft` tries. `lists` are contact list names, in the order chosen;
    `segments` saved segment names (docs/design.md §18), sent to beside the lists."""

    name: str
    subject: str
    body_text: str
    from_email: str
    lists: tuple[str, ...] = ()
    from_name: str = ""
    reply_to: str | None = None
    body_html: str | None = None
    missed_run_policy: str = MissedRunPolicy.SEND_LATE
    segments: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # One name, or any iterable of them, becomes the tuple the field promises.
        for name in ("lists", "segments"):
            names: Any = getattr(self, name)
            object.__setattr__(self, name, (names,) if isinstance(names, str) else tuple(names))


#: A campaign's audience as names: (its lists, its segments). Campaigns with the same key
#: reach the same contacts.
AudienceKey = tuple[frozenset[str], frozenset[str]]


def audience_key(view: CampaignView) -> AudienceKey:
    return frozenset(view.lists), frozenset(view.segments)


#: The fields `update` can change: every field of a draft.
CONTENT_FIELDS = tuple(field.name for field in fields(CampaignDraft))


class CampaignService:
    def __init__(
        self,
        db: Database,
        events: EventBus,
        clock: Clock,
        sending: SendingEngine,
    ) -> None:
        self._db = db
        self._events = events
        self._clock = clock
        self._sending = sending

    # --- reading -------------------------------------------------------------------------

    def get(self, campaign_id: int, *, audience: bool = True) -> CampaignView:
        """One campaign; `audience=False` leaves `audience_size` at 0 (see `page`)."""
        with self._db.read() as session:
            rows = session.execute(
                queries.select_campaigns().where(Campaign.id == campaign_id)
            ).all()
            if not rows:
                raise NotFoundError(f"Campaign {campaign_id} does not exist (any more).")
            return queries.campaign_views(session, rows, audience=audience)[0]

    def list_all(self, *, archived: bool = False) -> list[CampaignView]:
        """Every campaign (or every archived one), newest first."""
        return self._views(
            queries.select_campaigns()
            .where(Campaign.archived.is_(archived))
            .order_by(Campaign.id.desc())
        )

    def list_scheduled(self) -> list[CampaignView]:
        """Campaigns that will fire by themselves, soonest first."""
        return self._views(
            queries.select_campaigns()
            .where(queries.is_armed())
            .order_by(Campaign.next_run_at, Campaign.id)
        )

    def count_scheduled(self) -> int:
        """How many campaigns will fire by themselves (as many as `list_scheduled` lists),
        counted in SQL: no views built (the tray asks this before quitting)."""
        with self._db.read() as session:
            count = session.scalar(
                select(func.count()).select_from(Campaign).where(queries.is_armed())
            )
            return int(count or 0)

    def list_archived(self) -> list[CampaignView]:
        """Archived campaigns, most recently archived first."""
        return self._views(
            queries.select_campaigns()
            .where(Campaign.archived.is_(True))
            .order_by(Campaign.archived_at.desc(), Campaign.id.desc())
        )

    def page(
        self,
        *,
        archived: bool = False,
        text: str = "",
        statuses: Collection[str] = (),
        sort: CampaignSort = CampaignSort.NEXT_RUN,
        descending: bool = False,
        offset: int = 0,
        limit: int = PAGE_SIZE,
        audience: bool = True,
    ) -> list[CampaignView]:
        """One page of the campaign (or archive) table: filtered, sorted and cut in SQL.

        `text` matches name or subject (any case), `statuses` empty means any. With
        `audience=False` every `audience_size` is 0: counting audiences can take a while on
        large lists, so the table counts them separately (`audience_sizes`).
        """
        conditions = _table_conditions(archived, text, statuses)
        with self._db.read() as session:
            if sort == CampaignSort.AUDIENCE:
                ids = _ids_by_audience(session, conditions, descending)[offset : offset + limit]
                found = session.execute(
                    queries.select_campaigns().where(Campaign.id.in_(ids))
                ).all()
                by_id = {row.id: row for row in found}
                rows: Sequence[Row[Any]] = [by_id[i] for i in ids if i in by_id]
            else:
                rows = session.execute(
                    queries.select_campaigns()
                    .where(*conditions)
                    .order_by(*campaign_order(sort, descending))
                    .offset(offset)
                    .limit(limit)
                ).all()
            return queries.campaign_views(session, rows, audience=audience)

    def count(
        self, *, archived: bool = False, text: str = "", statuses: Collection[str] = ()
    ) -> int:
        """How many campaigns `page` would page through with the same filters."""
        with self._db.read() as session:
            return (
                session.scalar(
                    select(func.count())
                    .select_from(Campaign)
                    .where(*_table_conditions(archived, text, statuses))
                )
                or 0
            )

    def audience_sizes(self, list_sets: Iterable[Iterable[str]]) -> dict[frozenset[str], int]:
        """Subscribed contacts on at least one list of each set of list names."""
        wanted = {frozenset(names) for names in list_sets}
        with self._db.read() as session:
            ids = queries.named_ids(
                session, ContactList, {name for names in wanted for name in names}
            )
            by_ids = {
                names: frozenset(ids[name] for name in names if name in ids) for names in wanted
            }
            sizes = queries.list_set_sizes(session, set(by_ids.values()))
        return {names: sizes[key] for names, key in by_ids.items()}

    def audience_sizes_of(self, keys: Iterable[AudienceKey]) -> dict[AudienceKey, int]:
        """Subscribed contacts reached by each (list names, segment names) pair, each contact
        once (docs/design.md §18): what the campaign table shows. Pairs without segments are
        counted together as `audience_sizes` does; each other pair costs one query."""
        wanted = set(keys)
        plain = {lists for lists, segments in wanted if not segments}
        sizes: dict[AudienceKey, int] = {
            (lists, frozenset()): size for lists, size in self.audience_sizes(plain).items()
        }
        for lists, segments in wanted - sizes.keys():
            sizes[lists, segments] = self.audience_size(lists, segments)
        return {key: sizes[key] for key in wanted}

    def audience_size(self, lists: Iterable[str], segments: Iterable[str] = ()) -> int:
        """Subscribed contacts a campaign to these lists and saved segments (by name) would
        reach, each once (docs/design.md §18); unknown names count nobody."""
        list_names, segment_names = set(lists), set(segments)
        with self._db.read() as session:
            list_ids = set(queries.named_ids(session, ContactList, list_names).values())
            segment_ids = set(queries.named_ids(session, SavedSegment, segment_names).values())
            stored = queries.stored_segments(session, segment_ids)
            return queries.count_audience(session, list_ids, list(stored.values()))

    def timezones(self, campaign_ids: Collection[int]) -> dict[int, str]:
        """These campaigns' time zones (archived ones too), by id; gone ones are left out."""
        ids = list(campaign_ids)
        zones: dict[int, str] = {}
        with self._db.read() as session:
            for chunk in queries.in_chunks(ids):
                query = select(Campaign.id, Campaign.timezone).where(Campaign.id.in_(chunk))
                zones.update({campaign_id: zone for campaign_id, zone in session.execute(query)})
        return zones

    def next_run_at(self) -> datetime | None:
        """When the next campaign fires by itself (what `list_scheduled()[0]` would say)."""
        with self._db.read() as session:
            return session.scalar(
                select(Campaign.next_run_at)
                .where(queries.is_armed())
                .order_by(Campaign.next_run_at)
                .limit(1)
            )

    # --- what the scheduler arms (docs/design.md §4) -------------------------------------

    def armed(self) -> dict[int, datetime]:
        """Every campaign that fires by itself: id → when it fires next (aware UTC)."""
        with self._db.read() as session:
            rows = session.execute(
                select(Campaign.id, Campaign.next_run_at).where(queries.is_armed())
            )
            return {campaign_id: due for campaign_id, due in rows if due is not None}

    def armed_at(self, campaign_id: int) -> datetime | None:
        """When this campaign fires by itself next (aware UTC); None when it does not (a
        draft, archived, finished or deleted campaign)."""
        with self._db.read() as session:
            return session.scalar(
                select(Campaign.next_run_at).where(Campaign.id == campaign_id, queries.is_armed())
            )

    def overdue(self, now: datetime) -> list[DueCampaign]:
        """The campaigns that fire by themselves and are due at `now` (aware UTC), the
        longest due first, each with every occurrence already due (what the scheduler's
        missed-run rule decides on)."""
        with self._db.read() as session:
            found = session.scalars(
                select(Campaign)
                .where(queries.is_armed(), Campaign.next_run_at <= now)
                .order_by(Campaign.next_run_at, Campaign.id)
            ).all()
            return [
                DueCampaign(
                    id=campaign.id,
                    due=(campaign.next_run_at, *_later_due(campaign, now)),
                    missed_run_policy=campaign.missed_run_policy,
                )
                for campaign in found
                if campaign.next_run_at is not None
            ]

    def _views(self, query: Select[Any]) -> list[CampaignView]:
        with self._db.read() as session:
            return queries.campaign_views(session, session.execute(query).all())

    def attribute_keys(self) -> list[str]:
        """The free CSV columns known on contacts: each is a template variable too."""
        with self._db.read() as session:
            return queries.attribute_keys(session)

    # --- writing -------------------------------------------------------------------------

    @overload
    def create(self, draft: CampaignDraft, /) -> CampaignView: ...

    @overload
    def create(
        self,
        /,
        *,
        name: str,
        subject: str,
        body_text: str,
        from_email: str,
        lists: Iterable[str] = (),
        from_name: str = "",
        reply_to: str | None = None,
        body_html: str | None = None,
        missed_run_policy: str = MissedRunPolicy.SEND_LATE,
        segments: Iterable[str] = (),
    ) -> CampaignView: ...

    def create(self, draft: CampaignDraft | None = None, /, **content: Any) -> CampaignView:
        """A new draft campaign from `draft`, or from its fields as keywords (docs/design.md
        §8). Raises ValidationError (nothing saved) for content `check_draft` refuses, an
        unknown list, or templates that fail for the sample or the audience."""
        if draft is None:
            draft = CampaignDraft(**content)
        elif content:
            raise TypeError("create() takes a draft or its fields, not both")
        with self._db.write() as session:
            campaign = Campaign(status=CampaignStatus.DRAFT, timezone="UTC")
            self._apply_content(session, campaign, draft)
            session.add(campaign)
            session.flush()
            campaign_id = campaign.id
        self._publish(campaign_id, CampaignChange.CREATED)
        return self.get(campaign_id)

    def update(
        self, campaign_id: int, draft: CampaignDraft | None = None, /, **changes: Any
    ) -> CampaignView:
        """Replace the content with `draft`, or change the fields named (see CONTENT_FIELDS);
        a scheduled campaign stays scheduled. Raises ValidationError (nothing saved) as
        `create` does, and while the campaign is archived or being sent."""
        unknown = set(changes) - set(CONTENT_FIELDS)
        if unknown:
            field = sorted(unknown)[0]
            raise ValidationError(field, f"“{field}” cannot be changed here.")
        if draft is not None and changes:
            raise TypeError("update() takes a draft or the fields to change, not both")
        with self._db.write() as session:
            campaign = queries.load_campaign(session, campaign_id)
            self._refuse_if_archived(campaign, "edit")
            self._refuse_if_busy(campaign, "edit")
            if draft is None:
                draft = replace(_draft_of(campaign), **changes)
            self._apply_content(session, campaign, draft)
            if campaign.status == CampaignStatus.SCHEDULED:
                self._require_sendable(campaign)
        self._publish(campaign_id, CampaignChange.UPDATED)
        return self.get(campaign_id)

    @staticmethod
    def check_draft(draft: CampaignDraft) -> dict[str, str]:
        """A dry run of saving `draft`: field → message for each field `create` and
        `update` would refuse, in the form's order (empty when it would do). Reads nothing:
        fine as the user types. The list names and the templates are checked at save (the
        templates against the audience, which needs the database)."""
        return _check_content(draft)[1]

    def schedule(
        self,
        campaign_id: int,
        *,
        first_local: datetime,
        timezone: str,
        recurrence: dict[str, Any] | RecurrencePattern | None = None,
        missed_run_policy: str | None = None,
    ) -> CampaignView:
        """Schedule the first send at `first_local` (wall clock in `timezone`), maybe repeating."""
        plan = self.plan_schedule(first_local=first_local, timezone=timezone, recurrence=recurrence)
        with self._db.write() as session:
            campaign = queries.load_campaign(session, campaign_id)
            if campaign.archived:
                raise ValidationError(
                    "status", "This campaign is archived. Restore it before scheduling it."
                )
            self._refuse_if_busy(campaign, "reschedule")
            self._require_sendable(campaign)
            self._check_templates(session, campaign)
            if missed_run_policy is not None:
                campaign.missed_run_policy = _policy(missed_run_policy)
            pattern = plan.pattern
            campaign.timezone = timezone
            campaign.scheduled_local = first_local.replace(microsecond=0)
            campaign.scheduled_at = plan.first_send
            campaign.next_run_at = plan.first_send
            campaign.recurrence_pattern = pattern.to_dict() if pattern else None
            campaign.is_recurring = pattern is not None
            campaign.end_date = pattern.end_date if pattern else None
            campaign.max_runs = pattern.count if pattern else None
            campaign.runs_done = 0
            campaign.status = CampaignStatus.SCHEDULED
        self._publish(campaign_id, CampaignChange.SCHEDULED)
        return self.get(campaign_id)

    def plan_schedule(
        self,
        *,
        first_local: datetime,
        timezone: str,
        recurrence: dict[str, Any] | RecurrencePattern | None = None,
    ) -> SchedulePlan:
        """Validate a schedule without saving it: the dialog's live check uses this too."""
        if not isinstance(first_local, datetime) or first_local.tzinfo is not None:
            raise ValidationError(
                "scheduled_local", "Give the first send as a date and time on the local clock."
            )
        get_zone(timezone)
        pattern = (
            recurrence
            if isinstance(recurrence, RecurrencePattern) or recurrence is None
            else RecurrencePattern.from_dict(recurrence)
        )
        first_local = first_local.replace(microsecond=0)
        upcoming = occurrences(pattern, first_local, timezone, limit=1)
        if not upcoming:
            raise ValidationError(
                "end_date", "The end date is before the first send: nothing would be sent."
            )
        if upcoming[0] <= self._clock.now():
            raise ValidationError(
                "scheduled_local", "That time has already passed. Choose a time in the future."
            )
        return SchedulePlan(pattern=pattern, first_send=upcoming[0])

    def unschedule(self, campaign_id: int) -> CampaignView:
        """Back to draft; the pattern is kept for next time."""
        with self._db.write() as session:
            campaign = queries.load_campaign(session, campaign_id)
            if campaign.status not in (CampaignStatus.SCHEDULED, CampaignStatus.HELD):
                raise ValidationError("status", "This campaign is not scheduled.")
            campaign.status = CampaignStatus.DRAFT
            campaign.next_run_at = None
        self._publish(campaign_id, CampaignChange.UNSCHEDULED)
        return self.get(campaign_id)

    # --- hold, skip, calendar (docs/design.md §12) ------------------------------------------

    def hold(self, campaign_id: int) -> CampaignView:
        """Stop a scheduled campaign from firing while keeping its schedule.

        ValidationError("status") unless it is scheduled and no run of it is in progress.
        The sends that come while it is held are recorded as skipped at `release`.
        """
        with self._db.write() as session:
            campaign = queries.load_campaign(session, campaign_id)
            self._refuse_if_busy(campaign, "hold")
            if campaign.archived or campaign.status != CampaignStatus.SCHEDULED:
                raise ValidationError("status", "Only a scheduled campaign can be put on hold.")
            campaign.status = CampaignStatus.HELD
            campaign.next_run_at = None
        self._publish(campaign_id, CampaignChange.HELD)
        return self.get(campaign_id)

    def release(self, campaign_id: int) -> CampaignView:
        """Re-arm a held campaign from its next send after now.

        The sends that fell while it was held are recorded as `skipped` runs (never sent
        late). ValidationError("status") when it is not held; ValidationError
        ("scheduled_local") when no send is left (a single send whose time passed while
        held): it stays held until it is scheduled again or unscheduled.
        """
        now = self._clock.now()
        with self._db.write() as session:
            campaign = queries.load_campaign(session, campaign_id)
            if campaign.status != CampaignStatus.HELD:
                raise ValidationError("status", "This campaign is not on hold.")
            pattern, first = self._schedule_of(campaign)
            since = session.scalar(
                select(func.max(CampaignRun.occurrence_at)).where(
                    CampaignRun.campaign_id == campaign_id,
                    CampaignRun.trigger.in_([RunTrigger.SCHEDULED, RunTrigger.CATCH_UP]),
                )
            )
            # What fell since its last run (or its first send) up to now, skips left out.
            held = [
                send
                for send in occurrences(pattern, first, campaign.timezone, after=since, limit=5000)
                if send <= now
            ]
            upcoming = next_occurrence_after(pattern, first, campaign.timezone, now)
            if upcoming is None and pattern is None:
                raise ValidationError(
                    "scheduled_local",
                    "Its send time passed while it was on hold. Schedule it for a new time.",
                )
            record_unsent(
                session, campaign_id, held, status=RunStatus.SKIPPED, note=HELD_NOTE, now=now
            )
            campaign.next_run_at = upcoming
            campaign.status = (
                CampaignStatus.SCHEDULED if upcoming is not None else CampaignStatus.COMPLETED
            )
        self._publish(campaign_id, CampaignChange.RELEASED)
        return self.get(campaign_id)

    def skip_occurrence(self, campaign_id: int, occurrence_utc: datetime) -> CampaignView:
        """Take one future send of a repeating campaign out (an EXDATE in its pattern).

        `occurrence_utc` is an aware instant from `calendar`/the preview. ValidationError
        ("occurrence") when it is not a future send of this campaign.
        """
        return self._change_skips(campaign_id, occurrence_utc, skip=True)

    def unskip_occurrence(self, campaign_id: int, occurrence_utc: datetime) -> CampaignView:
        """Undo `skip_occurrence`: the send happens again (if it is still in the future)."""
        return self._change_skips(campaign_id, occurrence_utc, skip=False)

    def _change_skips(self, campaign_id: int, occurrence: datetime, *, skip: bool) -> CampaignView:
        if not isinstance(occurrence, datetime) or occurrence.tzinfo is None:
            raise ValidationError("occurrence", "Choose one of the campaign's sends.")
        now = self._clock.now()
        if occurrence <= now:
            raise ValidationError(
                "occurrence", "That send is in the past; only future sends can be changed."
            )
        with self._db.write() as session:
            campaign = queries.load_campaign(session, campaign_id)
            self._refuse_if_busy(campaign, "skip or restore sends of")
            if campaign.status not in (CampaignStatus.SCHEDULED, CampaignStatus.HELD):
                raise ValidationError("status", "Only a scheduled campaign has sends to skip.")
            pattern, first = self._schedule_of(campaign)
            if pattern is None:
                raise ValidationError(
                    "occurrence",
                    "This campaign sends once: unschedule it or put it on hold instead.",
                )
            wall = wall_time_of(pattern, first, campaign.timezone, occurrence)
            if wall is None:
                raise ValidationError("occurrence", "That is not a send of this campaign.")
            changed = pattern.with_exdate(wall) if skip else pattern.without_exdate(wall)
            if changed == pattern:
                return self.get(campaign_id)
            if skip and not occurrences(changed, first, campaign.timezone, after=now, limit=1):
                raise ValidationError(
                    "occurrence",
                    "That is its last send; unschedule the campaign instead of skipping it.",
                )
            campaign.recurrence_pattern = changed.to_dict()
            if campaign.next_run_at is not None:
                # The next send is either unchanged, this one (un-skipped), or the one after.
                campaign.next_run_at = next_occurrence_after(
                    changed,
                    first,
                    campaign.timezone,
                    min(campaign.next_run_at, occurrence) - timedelta(seconds=1),
                )
        self._publish(campaign_id, CampaignChange.SKIPS)
        return self.get(campaign_id)

    def calendar(
        self, start_utc: datetime, end_utc: datetime
    ) -> list[tuple[CampaignView, datetime]]:
        """Every send that will happen in [start_utc, end_utc): (campaign, UTC instant),
        ascending. Held campaigns and skipped sends are not in it: see `calendar_skips`.

        At most 5,000 sends per campaign in the window (a daily campaign over 13 years).
        """
        return self._calendar(start_utc, end_utc, skipped=False)

    def calendar_skips(
        self, start_utc: datetime, end_utc: datetime
    ) -> list[tuple[CampaignView, datetime]]:
        """The sends in [start_utc, end_utc) that will not happen: those skipped one by one,
        and every send of a held campaign. Same shape as `calendar`."""
        return self._calendar(start_utc, end_utc, skipped=True)

    def _calendar(
        self, start: datetime, end: datetime, *, skipped: bool
    ) -> list[tuple[CampaignView, datetime]]:
        if start.tzinfo is None or end.tzinfo is None:
            raise ValueError("calendar() takes aware UTC datetimes")
        views = self._views(
            queries.select_campaigns().where(
                Campaign.archived.is_(False),
                Campaign.scheduled_local.is_not(None),
                Campaign.status.in_(
                    [
                        CampaignStatus.SCHEDULED,
                        CampaignStatus.SENDING,
                        CampaignStatus.PAUSED,
                        CampaignStatus.HELD,
                    ]
                ),
            )
        )
        found: list[tuple[CampaignView, datetime]] = []
        for view in views:
            found.extend((view, send) for send in _sends_in(view, start, end, skipped=skipped))
        found.sort(key=lambda item: (item[1], item[0].name.casefold(), item[0].id))
        return found

    def export_ics(self, ids: Iterable[int]) -> bytes:
        """The schedules of these campaigns as one iCalendar file (text/calendar, UTF-8).

        Campaigns without a schedule are left out; ValidationError("campaigns") when none of
        them has one. See domain/ics.py for what the file holds.
        """
        from campaign_desktop.domain.ics import CalendarEntry, ics_document  # noqa: PLC0415

        wanted = list(dict.fromkeys(ids))
        views = self._views(queries.select_campaigns().where(Campaign.id.in_(wanted)))
        entries = [
            CalendarEntry(
                uid=f"campaign-{view.id}@campaign-desktop",
                name=view.name,
                pattern=view.recurrence_pattern if view.is_recurring else None,
                first_local=view.scheduled_local,
                tz=view.timezone,
            )
            for view in sorted(views, key=lambda v: wanted.index(v.id))
            if view.scheduled_local is not None and view.status != CampaignStatus.DRAFT
        ]
        if not entries:
            raise ValidationError("campaigns", "None of these campaigns is scheduled.")
        return ics_document(entries, stamp=self._clock.now())

    @staticmethod
    def _schedule_of(campaign: Campaign) -> tuple[RecurrencePattern | None, datetime]:
        assert campaign.scheduled_local is not None
        pattern = (
            RecurrencePattern.from_dict(campaign.recurrence_pattern)
            if campaign.is_recurring and campaign.recurrence_pattern
            else None
        )
        return pattern, campaign.scheduled_local

    def duplicate(self, campaign_id: int) -> CampaignView:
        """An unscheduled draft copy named "<name> (copy)", "<name> (copy 2)", …"""
        with self._db.write() as session:
            source = queries.load_campaign(session, campaign_id)
            copy = Campaign(
                name=self._copy_name(session, source.name),
                channel=source.channel,
                subject=source.subject,
                body_text=source.body_text,
                body_html=source.body_html,
                from_name=source.from_name,
                from_email=source.from_email,
                reply_to=source.reply_to,
                status=CampaignStatus.DRAFT,
                timezone=source.timezone,
                scheduled_local=source.scheduled_local,
                recurrence_pattern=source.recurrence_pattern,
                is_recurring=source.is_recurring,
                end_date=source.end_date,
                max_runs=source.max_runs,
                missed_run_policy=source.missed_run_policy,
                parent_campaign_id=source.id,
                lists=list(source.lists),
                segments=list(source.segments),
            )
            session.add(copy)
            session.flush()
            copy_id = copy.id
        self._publish(copy_id, CampaignChange.CREATED)
        return self.get(copy_id)

    def archive(self, campaign_id: int, reason: str | None = None) -> CampaignView:
        """Put away: unschedules (keeps the pattern); refused while a run is in progress."""
        with self._db.write() as session:
            campaign = queries.load_campaign(session, campaign_id)
            if campaign.archived:
                raise ValidationError("archived", "This campaign is already archived.")
            self._refuse_if_busy(campaign, "archive")
            campaign.archived = True
            campaign.archived_at = self._clock.now()
            campaign.archive_reason = (reason or "").strip() or None
            campaign.next_run_at = None
            if campaign.status in (CampaignStatus.SCHEDULED, CampaignStatus.HELD):
                campaign.status = CampaignStatus.DRAFT
        self._publish(campaign_id, CampaignChange.ARCHIVED)
        return self.get(campaign_id)

    def restore(self, campaign_id: int) -> CampaignView:
        """Back from the archive as a draft that never fires until scheduled again."""
        with self._db.write() as session:
            campaign = queries.load_campaign(session, campaign_id)
            if not campaign.archived:
                raise ValidationError("archived", "This campaign is not archived.")
            campaign.archived = False
            campaign.archived_at = None
            campaign.archive_reason = None
            campaign.status = CampaignStatus.DRAFT
            campaign.next_run_at = None
        self._publish(campaign_id, CampaignChange.RESTORED)
        return self.get(campaign_id)

    def delete(self, campaign_id: int) -> None:
        """Delete for good, with its runs and deliveries; refused while a run is in progress."""
        with self._db.write() as session:
            campaign = queries.load_campaign(session, campaign_id)
            self._refuse_if_busy(campaign, "delete")
            # Copies keep existing; they just lose their lineage link.
            session.execute(
                update(Campaign)
                .where(Campaign.parent_campaign_id == campaign_id)
                .values(parent_campaign_id=None)
            )
            session.execute(delete(Campaign).where(Campaign.id == campaign_id))
        self._publish(campaign_id, CampaignChange.DELETED)

    # --- sending -------------------------------------------------------------------------

    def send_now(self, campaign_id: int) -> RunView:
        """Start a manual run at once; it goes on in a worker thread.

        The checks run inside the claiming transaction, so nothing can change in between.
        """

        def check(campaign: Campaign) -> None:
            if campaign.archived:
                raise ValidationError("archived", "Restore this campaign before sending it.")
            self._refuse_if_busy(campaign, "send it again")
            self._require_sendable(campaign)
            # Templates are not re-checked here: they passed at save, and data that changed
            # since makes that one recipient fail with the true reason (docs/design.md §9),
            # instead of one odd contact holding back everyone's send.

        return self._sending.send_manual(campaign_id, check)

    def send_test(self, campaign_id: int, to: Sequence[str]) -> RunView:
        """Send the campaign to `to` only, as a `test` run; the real ledger is untouched."""
        addresses = [normalize_email(address, "to") for address in to]
        if not addresses:
            raise ValidationError("to", "Enter at least one address to send the test to.")
        with self._db.read() as session:
            campaign = queries.load_campaign(session, campaign_id)
            self._check_templates(session, campaign)
        return self._sending.send_test(campaign_id, addresses)

    # --- internals -----------------------------------------------------------------------

    @staticmethod
    def _refuse_if_busy(campaign: Campaign, action: str) -> None:
        if campaign.status in BUSY_STATUSES:
            raise ValidationError(
                "status",
                f"“{campaign.name}” is being sent right now. Wait for the send to finish "
                f"(or cancel it) before you {action} it.",
            )

    @staticmethod
    def _refuse_if_archived(campaign: Campaign, action: str) -> None:
        if campaign.archived:
            raise ValidationError(
                "archived", f"This campaign is archived. Restore it before you {action} it."
            )

    def _apply_content(self, session: Session, campaign: Campaign, draft: CampaignDraft) -> None:
        content, found = _check_content(draft)
        if found:
            field = next(iter(found))
            raise ValidationError(field, found[field])
        lists = self._find_lists(session, draft.lists)
        segments = _find_segments(session, draft.segments)
        self._try_templates(
            session,
            (content.subject, content.body_text, content.body_html),
            campaign_name=content.name,
            unsubscribe_mailto=content.reply_to or content.from_email,
            list_ids=[item.id for item in lists],
            segment_ids=[item.id for item in segments],
        )
        campaign.name = content.name
        campaign.subject = content.subject
        campaign.body_text = content.body_text
        campaign.body_html = content.body_html
        campaign.from_name = content.from_name
        campaign.from_email = content.from_email
        campaign.reply_to = content.reply_to
        campaign.lists = lists
        campaign.segments = segments
        campaign.missed_run_policy = MissedRunPolicy(content.missed_run_policy)

    @staticmethod
    def _find_lists(session: Session, names: Iterable[str]) -> list[ContactList]:
        if isinstance(names, str):
            names = (names,)
        return _find_named(session, ContactList, names, "lists", "contact list")

    def _require_sendable(self, campaign: Campaign) -> None:
        if not campaign.lists and not campaign.segments:
            raise ValidationError(
                "lists", "Choose at least one contact list or segment to send to."
            )

    def _check_templates(self, session: Session, campaign: Campaign) -> None:
        self._try_templates(
            session,
            (campaign.subject, campaign.body_text, campaign.body_html),
            campaign_name=campaign.name,
            unsubscribe_mailto=campaign.reply_to or campaign.from_email,
            list_ids=[item.id for item in campaign.lists],
            segment_ids=[item.id for item in campaign.segments],
        )

    @staticmethod
    def _try_templates(
        session: Session,
        sources: tuple[str, str, str | None],
        *,
        campaign_name: str,
        unsubscribe_mailto: str,
        list_ids: Sequence[int],
        segment_ids: Sequence[int] = (),
    ) -> None:
        """Compile the templates and fill them in for the sample contact and a sample of
        the audience, as sending would; the first failure is a ValidationError naming the
        contact. Runtime faults (1/0, a bound reached, an object printed) show here rather
        than once per recipient at send time (docs/design.md §9)."""
        from campaign_desktop.domain.templates import (  # noqa: PLC0415  (module docstring)
            build_render_context,
            compile_campaign_templates,
            sample_context,
        )

        keys = queries.attribute_keys(session)
        templates = compile_campaign_templates(*sources, keys)
        templates.render(
            sample_context(keys, campaign_name, unsubscribe_mailto),
            recipient="the sample contact",
        )
        segments = list(queries.stored_segments(session, segment_ids).values())
        for contact in queries.sample_audience(
            session, list_ids, first=_SAMPLE_FIRST, unusual=_SAMPLE_UNUSUAL, segments=segments
        ):
            context = build_render_context(
                contact_email=contact.email,
                first_name=contact.first_name,
                last_name=contact.last_name,
                attributes=contact.attributes or {},
                campaign_name=campaign_name,
                unsubscribe_mailto=unsubscribe_mailto,
            )
            templates.render(context, recipient=contact.email)

    @staticmethod
    def _copy_name(session: Session, name: str) -> str:
        base = _COPY_SUFFIX.sub("", name)
        taken = set(
            session.scalars(select(Campaign.name).where(Campaign.name.startswith(base))).all()
        )
        candidate = f"{base} (copy)"
        number = 2
        while candidate in taken:
            candidate = f"{base} (copy {number})"
            number += 1
        return candidate[:200]

    def _publish(self, campaign_id: int, change: CampaignChange) -> None:
        self._events.publish(CampaignChanged(campaign_id, change))


class SchedulePlan:
    """A validated schedule: the pattern (None = once) and the UTC instant of the first send."""

    __slots__ = ("first_send", "pattern")

    def __init__(self, pattern: RecurrencePattern | None, first_send: datetime) -> None:
        self.pattern = pattern
        self.first_send = first_send


def _required_text(value: Any, field: str, empty_message: str, max_length: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(field, empty_message)
    text = value.strip()
    if len(text) > max_length:
        raise ValidationError(field, f"Keep it under {max_length} characters.")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate, e.g. half an emoji pasted from elsewhere
        raise ValidationError(
            field, "This contains a broken character (half of an emoji or symbol). Retype it."
        ) from None
    return text


def _find_segments(session: Session, names: Iterable[str]) -> list[SavedSegment]:
    """The saved segments called `names`, in that order; ValidationError ("segments") for
    one that does not exist."""
    return _find_named(session, SavedSegment, names, "segments", "segment")


NamedT = TypeVar("NamedT", ContactList, SavedSegment)


def _find_named(
    session: Session, model: type[NamedT], names: Iterable[str], field: str, noun: str
) -> list[NamedT]:
    """The lists or segments (`model`) called `names` (ignoring case, `queries.named_ids`),
    in that order, each once; ValidationError(`field`) naming the first that does not
    exist."""
    wanted = list(dict.fromkeys(name.strip() for name in names))
    ids = queries.named_ids(session, model, wanted)
    missing = [name for name in wanted if name not in ids]
    if missing:
        raise ValidationError(field, f"There is no {noun} called “{missing[0]}”.")
    chosen = list(dict.fromkeys(ids[name] for name in wanted))  # "VIP" and "vip": one list
    found = {item.id: item for item in session.scalars(select(model).where(model.id.in_(chosen)))}
    return [found[item_id] for item_id in chosen]


def _draft_of(campaign: Campaign) -> CampaignDraft:
    """The campaign's content as stored, as a draft (what `update` changes fields of)."""
    return CampaignDraft(
        name=campaign.name,
        subject=campaign.subject,
        body_text=campaign.body_text,
        body_html=campaign.body_html,
        from_name=campaign.from_name,
        from_email=campaign.from_email,
        reply_to=campaign.reply_to,
        lists=tuple(item.name for item in campaign.lists),
        segments=tuple(item.name for item in campaign.segments),
        missed_run_policy=campaign.missed_run_policy,
    )


def _check_content(draft: CampaignDraft) -> tuple[CampaignDraft, dict[str, str]]:
    """(the draft cleaned, field → message for each field refused): the one place the
    content rules are written, for saving and for the editor's dry run alike."""
    cleaned: dict[str, Any] = {}
    found: dict[str, str] = {}
    checks: dict[str, Callable[[], Any]] = {
        "name": lambda: _required_text(draft.name, "name", "Give the campaign a name.", 200),
        # Control characters in a header are refused now, not at send.
        "subject": lambda: _header(
            "subject", _required_text(draft.subject, "subject", "Write a subject line.", 998)
        ),
        "body_text": lambda: _body_text(draft.body_text),
        "body_html": lambda: _body_html(draft.body_html),
        "from_name": lambda: _from_name(draft.from_name),
        "from_email": lambda: normalize_email(
            _header("from_email", draft.from_email or ""), "from_email"
        ),
        "reply_to": lambda: _reply_to(draft.reply_to),
        "missed_run_policy": lambda: _policy(draft.missed_run_policy),
    }
    for field, check in checks.items():
        try:
            cleaned[field] = check()
        except ValidationError as exc:
            found.setdefault(exc.field or field, exc.message)
    if found:
        return draft, found
    return replace(draft, **cleaned), found


def _header(field: str, value: Any) -> Any:
    if isinstance(value, str):
        from campaign_desktop.channels.message import check_header_text  # noqa: PLC0415

        check_header_text(field, value)
    return value


def _body_text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError("body_text", "Write the text of the email.")
    return value


def _body_html(value: Any) -> str | None:
    value = value or None
    if value is not None and not isinstance(value, str):
        raise ValidationError("body_html", "The HTML body must be text.")
    return value


def _from_name(value: Any) -> str:
    text = value or ""
    if not isinstance(text, str) or len(text) > 200:
        raise ValidationError("from_name", "Keep the sender name under 200 characters.")
    from campaign_desktop.channels.message import check_header_text  # noqa: PLC0415

    check_header_text("from_name", text)
    return text.strip()


def _reply_to(value: Any) -> str | None:
    _header("reply_to", value)
    return normalize_email(value, "reply_to") if value else None


def _policy(value: Any) -> MissedRunPolicy:
    try:
        return MissedRunPolicy(value)
    except ValueError:
        raise ValidationError(
            "missed_run_policy", "Choose whether missed sends go out late or are skipped."
        ) from None


def _later_due(campaign: Campaign, now: datetime) -> list[datetime]:
    """The campaign's occurrences after `next_run_at` that are also due at `now`."""
    if not campaign.is_recurring or campaign.recurrence_pattern is None:
        return []
    assert campaign.scheduled_local is not None and campaign.next_run_at is not None
    later = occurrences(
        RecurrencePattern.from_dict(campaign.recurrence_pattern),
        campaign.scheduled_local,
        campaign.timezone,
        after=campaign.next_run_at,
        limit=_MAX_MISSED,
    )
    return [at for at in later if at <= now]


# --- the campaign table's queries -------------------------------------------------------------


def _table_conditions(
    archived: bool, text: str, statuses: Collection[str]
) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [Campaign.archived.is_(archived)]
    if statuses:
        conditions.append(Campaign.status.in_(list(statuses)))
    needle = text.strip()
    if needle:
        columns = [Campaign.name.expression, Campaign.subject.expression]
        conditions.append(contains_ignoring_case(columns, needle))
    return conditions


def campaign_order(sort: CampaignSort, descending: bool) -> list[ColumnElement[Any]]:
    """ORDER BY terms, the campaign id last so that pages never overlap or skip rows.

    Next run and name match the indexes of migrations 0003 and 0005 (never-runs sort after
    every date; names by ``lower(name)``, which folds ASCII letters only on SQLite, as its
    NOCASE did, and every letter on PostgreSQL). Repeats sorts one-offs first, then by kind
    of repeat: the sentence shown is made in Python, so SQL cannot sort by it.
    """
    match sort:
        case CampaignSort.NAME:
            terms: list[ColumnElement[Any]] = [func.lower(Campaign.name)]
        case CampaignSort.STATUS:
            terms = [Campaign.status.expression]
        case CampaignSort.REPEATS:
            # JSON paths that compile to json_extract on SQLite and ->> on PostgreSQL.
            pattern = Campaign.recurrence_pattern
            terms = [
                Campaign.is_recurring.expression,
                pattern["type"].as_string(),
                pattern["interval"].as_integer(),
            ]
        case CampaignSort.LAST_RESULT:
            last_sent = (
                select(CampaignRun.sent)
                .where(
                    CampaignRun.campaign_id == Campaign.id,
                    CampaignRun.trigger != RunTrigger.TEST,
                )
                .order_by(CampaignRun.id.desc())
                .limit(1)
                .scalar_subquery()
            )
            terms = [func.coalesce(last_sent, -1)]
        case CampaignSort.ARCHIVED_AT:
            terms = [Campaign.archived_at.expression]
        case CampaignSort.REASON:
            terms = [func.lower(Campaign.archive_reason)]
        case _:
            terms = [Campaign.next_run_at.is_(None), Campaign.next_run_at.expression]
    terms.append(Campaign.id.expression)
    return [term.desc() for term in terms] if descending else [term.asc() for term in terms]


def _ids_by_audience(
    session: Session, conditions: Sequence[ColumnElement[bool]], descending: bool
) -> list[int]:
    """Every matching campaign id, by audience size: SQL cannot sort by it, Python does."""
    ids = list(session.scalars(select(Campaign.id).where(*conditions)))
    sizes = queries.audience_sizes(session, ids)
    ids.sort(key=lambda campaign_id: (sizes.get(campaign_id, 0), campaign_id), reverse=descending)
    return ids


def _sends_in(
    view: CampaignView, start: datetime, end: datetime, *, skipped: bool
) -> Iterator[datetime]:
    """The campaign's sends in [start, end): those that will happen, or (skipped=True) those
    that will not (its skipped sends, or all of them while it is held)."""
    assert view.scheduled_local is not None
    pattern = view.recurrence_pattern if view.is_recurring else None
    held = view.status == CampaignStatus.HELD
    if skipped and not held:
        if pattern is None or not pattern.exdates:
            return
        unskipped = replace(pattern, exdates=())
        taken = occurrences_between(unskipped, view.scheduled_local, view.timezone, start, end)
        kept = occurrences_between(pattern, view.scheduled_local, view.timezone, start, end)
        yield from sorted(set(taken) - set(kept))
        return
    if not skipped and held:
        return
    # What will happen starts at the next unclaimed send; a held one shows from now on.
    begin = start if held or view.next_run_at is None else max(start, view.next_run_at)
    if not held and view.next_run_at is None:
        return
    yield from occurrences_between(pattern, view.scheduled_local, view.timezone, begin, end)
