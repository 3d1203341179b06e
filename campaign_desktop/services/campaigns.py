"""Campaign use cases: write, schedule, duplicate, archive, restore, delete, send.

Each public method is one transaction; it validates first and raises `ValidationError`
with a field and plain words, so a refused call leaves the database as it was.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Sequence
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, Row, Select, delete, func, select, update
from sqlalchemy.orm import Session

from campaign_desktop.channels.message import check_header_text
from campaign_desktop.domain.clock import Clock
from campaign_desktop.domain.emails import normalize_email
from campaign_desktop.domain.errors import NotFoundError, ValidationError
from campaign_desktop.domain.events import CampaignChange, CampaignChanged, EventBus
from campaign_desktop.domain.recurrence import RecurrencePattern, occurrences
from campaign_desktop.domain.status import CampaignStatus, MissedRunPolicy, RunTrigger
from campaign_desktop.domain.templates import (
    build_render_context,
    compile_campaign_templates,
    sample_context,
)
from campaign_desktop.domain.timezones import get_zone
from campaign_desktop.domain.views import CampaignView, RunView
from campaign_desktop.persistence import queries
from campaign_desktop.persistence.db import Database
from campaign_desktop.persistence.models import Campaign, CampaignRun, ContactList
from campaign_desktop.persistence.portable import contains_ignoring_case

if TYPE_CHECKING:
    from campaign_desktop.services.sending import SendingEngine

# A run is in progress: the campaign's content and schedule must hold still.
_BUSY = {CampaignStatus.SENDING, CampaignStatus.PAUSED}
_COPY_SUFFIX = re.compile(r" \(copy(?: \d+)?\)$")

# Campaigns that fire by themselves (the scheduler arms these).
_ARMED_CONDITIONS = (
    Campaign.archived.is_(False),
    Campaign.next_run_at.is_not(None),
    Campaign.status.in_([CampaignStatus.SCHEDULED, CampaignStatus.SENDING, CampaignStatus.PAUSED]),
)
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


CONTENT_FIELDS = (
    "name",
    "subject",
    "body_text",
    "body_html",
    "from_name",
    "from_email",
    "reply_to",
    "lists",
    "missed_run_policy",
)


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
            .where(*_ARMED_CONDITIONS)
            .order_by(Campaign.next_run_at, Campaign.id)
        )

    def count_scheduled(self) -> int:
        """How many campaigns will fire by themselves (as many as `list_scheduled` lists),
        counted in SQL: no views built (the tray asks this before quitting)."""
        with self._db.read() as session:
            count = session.scalar(
                select(func.count()).select_from(Campaign).where(*_ARMED_CONDITIONS)
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
            ids = {
                name: list_id
                for name, list_id in session.execute(select(ContactList.name, ContactList.id))
            }
            by_ids = {
                names: frozenset(ids[name] for name in names if name in ids) for names in wanted
            }
            sizes = queries.list_set_sizes(session, set(by_ids.values()))
        return {names: sizes[key] for names, key in by_ids.items()}

    def timezones(self, campaign_ids: Collection[int]) -> dict[int, str]:
        """These campaigns' time zones (archived ones too), by id; gone ones are left out."""
        ids = list(campaign_ids)
        zones: dict[int, str] = {}
        with self._db.read() as session:
            for start in range(0, len(ids), queries.IN_LIMIT):
                chunk = ids[start : start + queries.IN_LIMIT]
                query = select(Campaign.id, Campaign.timezone).where(Campaign.id.in_(chunk))
                zones.update({campaign_id: zone for campaign_id, zone in session.execute(query)})
        return zones

    def next_run_at(self) -> datetime | None:
        """When the next campaign fires by itself (what `list_scheduled()[0]` would say)."""
        with self._db.read() as session:
            return session.scalar(
                select(Campaign.next_run_at)
                .where(*_ARMED_CONDITIONS)
                .order_by(Campaign.next_run_at)
                .limit(1)
            )

    def _views(self, query: Select[Any]) -> list[CampaignView]:
        with self._db.read() as session:
            return queries.campaign_views(session, session.execute(query).all())

    def attribute_keys(self) -> list[str]:
        """The free CSV columns known on contacts: each is a template variable too."""
        with self._db.read() as session:
            return queries.attribute_keys(session)

    # --- writing -------------------------------------------------------------------------

    def create(
        self,
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
    ) -> CampaignView:
        with self._db.write() as session:
            campaign = Campaign(status=CampaignStatus.DRAFT, timezone="UTC")
            self._apply_content(
                session,
                campaign,
                {
                    "name": name,
                    "subject": subject,
                    "body_text": body_text,
                    "body_html": body_html,
                    "from_name": from_name,
                    "from_email": from_email,
                    "reply_to": reply_to,
                    "lists": lists,
                    "missed_run_policy": missed_run_policy,
                },
            )
            session.add(campaign)
            session.flush()
            campaign_id = campaign.id
        self._publish(campaign_id, CampaignChange.CREATED)
        return self.get(campaign_id)

    def update(self, campaign_id: int, **changes: Any) -> CampaignView:
        """Change content fields (see CONTENT_FIELDS); a scheduled campaign stays scheduled."""
        unknown = set(changes) - set(CONTENT_FIELDS)
        if unknown:
            field = sorted(unknown)[0]
            raise ValidationError(field, f"“{field}” cannot be changed here.")
        with self._db.write() as session:
            campaign = queries.load_campaign(session, campaign_id)
            self._refuse_if_archived(campaign, "edit")
            self._refuse_if_busy(campaign, "edit")
            current = {
                "name": campaign.name,
                "subject": campaign.subject,
                "body_text": campaign.body_text,
                "body_html": campaign.body_html,
                "from_name": campaign.from_name,
                "from_email": campaign.from_email,
                "reply_to": campaign.reply_to,
                "lists": [item.name for item in campaign.lists],
                "missed_run_policy": campaign.missed_run_policy,
            }
            self._apply_content(session, campaign, current | changes)
            if campaign.status == CampaignStatus.SCHEDULED:
                self._require_sendable(campaign)
        self._publish(campaign_id, CampaignChange.UPDATED)
        return self.get(campaign_id)

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
            if campaign.status != CampaignStatus.SCHEDULED:
                raise ValidationError("status", "This campaign is not scheduled.")
            campaign.status = CampaignStatus.DRAFT
            campaign.next_run_at = None
        self._publish(campaign_id, CampaignChange.UNSCHEDULED)
        return self.get(campaign_id)

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
            if campaign.status == CampaignStatus.SCHEDULED:
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
        if campaign.status in _BUSY:
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

    def _apply_content(self, session: Session, campaign: Campaign, values: dict[str, Any]) -> None:
        name = _required_text(values["name"], "name", "Give the campaign a name.", 200)
        subject = _required_text(values["subject"], "subject", "Write a subject line.", 998)
        check_header_text("subject", subject)  # control characters: refused now, not at send
        body_text = values["body_text"]
        if not isinstance(body_text, str) or not body_text.strip():
            raise ValidationError("body_text", "Write the text of the email.")
        body_html = values["body_html"] or None
        if body_html is not None and not isinstance(body_html, str):
            raise ValidationError("body_html", "The HTML body must be text.")
        from_name = values["from_name"] or ""
        if not isinstance(from_name, str) or len(from_name) > 200:
            raise ValidationError("from_name", "Keep the sender name under 200 characters.")
        check_header_text("from_name", from_name)
        from_email = values["from_email"] or ""
        if isinstance(from_email, str):
            check_header_text("from_email", from_email)
        from_email = normalize_email(from_email, "from_email")
        reply_to = values["reply_to"]
        if isinstance(reply_to, str):
            check_header_text("reply_to", reply_to)
        reply_to = normalize_email(reply_to, "reply_to") if reply_to else None
        lists = self._find_lists(session, values["lists"])
        self._try_templates(
            session,
            (subject, body_text, body_html),
            campaign_name=name,
            unsubscribe_mailto=reply_to or from_email,
            list_ids=[item.id for item in lists],
        )
        campaign.name = name
        campaign.subject = subject
        campaign.body_text = body_text
        campaign.body_html = body_html
        campaign.from_name = from_name.strip()
        campaign.from_email = from_email
        campaign.reply_to = reply_to
        campaign.lists = lists
        campaign.missed_run_policy = _policy(values["missed_run_policy"])

    @staticmethod
    def _find_lists(session: Session, names: Iterable[str]) -> list[ContactList]:
        if isinstance(names, str):
            names = (names,)
        wanted = list(dict.fromkeys(name.strip() for name in names))
        found = {
            item.name: item
            for item in session.scalars(select(ContactList).where(ContactList.name.in_(wanted)))
        }
        missing = [name for name in wanted if name not in found]
        if missing:
            raise ValidationError("lists", f"There is no contact list called “{missing[0]}”.")
        return [found[name] for name in wanted]

    def _require_sendable(self, campaign: Campaign) -> None:
        if not campaign.lists:
            raise ValidationError("lists", "Choose at least one contact list to send to.")

    def _check_templates(self, session: Session, campaign: Campaign) -> None:
        self._try_templates(
            session,
            (campaign.subject, campaign.body_text, campaign.body_html),
            campaign_name=campaign.name,
            unsubscribe_mailto=campaign.reply_to or campaign.from_email,
            list_ids=[item.id for item in campaign.lists],
        )

    @staticmethod
    def _try_templates(
        session: Session,
        sources: tuple[str, str, str | None],
        *,
        campaign_name: str,
        unsubscribe_mailto: str,
        list_ids: Sequence[int],
    ) -> None:
        """Compile the templates and fill them in for the sample contact and a sample of
        the audience, as sending would; the first failure is a ValidationError naming the
        contact. Runtime faults (1/0, a bound reached, an object printed) show here rather
        than once per recipient at send time (docs/design.md §9)."""
        keys = queries.attribute_keys(session)
        templates = compile_campaign_templates(*sources, keys)
        templates.render(
            sample_context(keys, campaign_name, unsubscribe_mailto),
            recipient="the sample contact",
        )
        for contact in queries.sample_audience(
            session, list_ids, first=_SAMPLE_FIRST, unusual=_SAMPLE_UNUSUAL
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


def _policy(value: Any) -> str:
    try:
        return MissedRunPolicy(value).value
    except ValueError:
        raise ValidationError(
            "missed_run_policy", "Choose whether missed sends go out late or are skipped."
        ) from None


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
