"""Campaign use cases: write, schedule, duplicate, archive, restore, delete, send.

Each public method is one transaction; it validates first and raises `ValidationError`
with a field and plain words, so a refused call leaves the database as it was.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, selectinload

from campaign_desktop.domain.clock import Clock
from campaign_desktop.domain.emails import normalize_email
from campaign_desktop.domain.errors import ValidationError
from campaign_desktop.domain.events import CampaignChange, CampaignChanged, EventBus
from campaign_desktop.domain.recurrence import RecurrencePattern, occurrences
from campaign_desktop.domain.status import CampaignStatus, MissedRunPolicy
from campaign_desktop.domain.templates import compile_campaign_templates
from campaign_desktop.domain.timezones import get_zone
from campaign_desktop.domain.views import CampaignView, RunView
from campaign_desktop.persistence import queries
from campaign_desktop.persistence.db import Database
from campaign_desktop.persistence.models import Campaign, ContactList

if TYPE_CHECKING:
    from campaign_desktop.services.sending import SendingEngine

# A run is in progress: the campaign's content and schedule must hold still.
_BUSY = {CampaignStatus.SENDING, CampaignStatus.PAUSED}
_COPY_SUFFIX = re.compile(r" \(copy(?: \d+)?\)$")

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

    def get(self, campaign_id: int) -> CampaignView:
        with self._db.read() as session:
            return queries.campaign_views(session, [queries.load_campaign(session, campaign_id)])[0]

    def list_all(self, *, archived: bool = False) -> list[CampaignView]:
        """Every campaign (or every archived one), newest first."""
        with self._db.read() as session:
            rows = session.scalars(
                select(Campaign)
                .where(Campaign.archived.is_(archived))
                .options(selectinload(Campaign.lists))
                .order_by(Campaign.id.desc())
            ).all()
            return queries.campaign_views(session, rows)

    def list_scheduled(self) -> list[CampaignView]:
        """Campaigns that will fire by themselves, soonest first."""
        with self._db.read() as session:
            rows = session.scalars(
                select(Campaign)
                .where(
                    Campaign.archived.is_(False),
                    Campaign.next_run_at.is_not(None),
                    Campaign.status.in_(
                        [CampaignStatus.SCHEDULED, CampaignStatus.SENDING, CampaignStatus.PAUSED]
                    ),
                )
                .options(selectinload(Campaign.lists))
                .order_by(Campaign.next_run_at, Campaign.id)
            ).all()
            return queries.campaign_views(session, rows)

    def list_archived(self) -> list[CampaignView]:
        """Archived campaigns, most recently archived first."""
        with self._db.read() as session:
            rows = session.scalars(
                select(Campaign)
                .where(Campaign.archived.is_(True))
                .options(selectinload(Campaign.lists))
                .order_by(Campaign.archived_at.desc(), Campaign.id.desc())
            ).all()
            return queries.campaign_views(session, rows)

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
        """Start a manual run at once; it goes on in a worker thread."""
        with self._db.read() as session:
            campaign = queries.load_campaign(session, campaign_id)
            if campaign.archived:
                raise ValidationError("archived", "Restore this campaign before sending it.")
            self._refuse_if_busy(campaign, "send it again")
            self._require_sendable(campaign)
        return self._sending.send_manual(campaign_id)

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
        body_text = values["body_text"]
        if not isinstance(body_text, str) or not body_text.strip():
            raise ValidationError("body_text", "Write the text of the email.")
        body_html = values["body_html"] or None
        if body_html is not None and not isinstance(body_html, str):
            raise ValidationError("body_html", "The HTML body must be text.")
        from_name = values["from_name"] or ""
        if not isinstance(from_name, str) or len(from_name) > 200:
            raise ValidationError("from_name", "Keep the sender name under 200 characters.")
        from_email = normalize_email(values["from_email"] or "", "from_email")
        reply_to = values["reply_to"]
        reply_to = normalize_email(reply_to, "reply_to") if reply_to else None
        lists = self._find_lists(session, values["lists"])
        compile_campaign_templates(subject, body_text, body_html, queries.attribute_keys(session))
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
        compile_campaign_templates(
            campaign.subject,
            campaign.body_text,
            campaign.body_html,
            queries.attribute_keys(session),
        )

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
    return text


def _policy(value: Any) -> str:
    try:
        return MissedRunPolicy(value).value
    except ValueError:
        raise ValidationError(
            "missed_run_policy", "Choose whether missed sends go out late or are skipped."
        ) from None
