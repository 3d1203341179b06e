"""Read queries shared by services: ORM rows in, frozen domain views out.

Bulk-friendly: views for many campaigns cost a fixed number of queries, not one per row.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from campaign_desktop.domain.errors import NotFoundError
from campaign_desktop.domain.status import ContactStatus, RunTrigger
from campaign_desktop.domain.views import CampaignView, DeliveryView, RunView
from campaign_desktop.persistence.models import (
    Campaign,
    CampaignRun,
    Contact,
    Delivery,
    campaign_audience,
    list_membership,
)

# Beyond this many ids an IN (...) list stops paying off (and SQLite caps parameters);
# the query then covers every campaign and the caller picks what it needs.
_IN_LIMIT = 500


def load_campaign(session: Session, campaign_id: int) -> Campaign:
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise NotFoundError(f"Campaign {campaign_id} does not exist (any more).")
    return campaign


def load_run(session: Session, run_id: int) -> CampaignRun:
    run = session.get(CampaignRun, run_id)
    if run is None:
        raise NotFoundError(f"Run {run_id} does not exist (any more).")
    return run


def run_view(run: CampaignRun) -> RunView:
    return RunView(
        id=run.id,
        campaign_id=run.campaign_id,
        occurrence_at=run.occurrence_at,
        trigger=run.trigger,
        status=run.status,
        started_at=run.started_at,
        finished_at=run.finished_at,
        total=run.total,
        sent=run.sent,
        failed=run.failed,
        skipped=run.skipped,
        unconfirmed=run.unconfirmed,
        error=run.error,
    )


def delivery_view(row: Delivery) -> DeliveryView:
    return DeliveryView(
        id=row.id,
        run_id=row.run_id,
        contact_id=row.contact_id,
        email=row.email,
        status=row.status,
        attempts=row.attempts,
        last_error=row.last_error,
        smtp_message_id=row.smtp_message_id,
        sent_at=row.sent_at,
    )


def audience_sizes(session: Session, campaign_ids: Sequence[int]) -> dict[int, int]:
    """Subscribed contacts each campaign would reach (each contact once across its lists)."""
    query = (
        select(campaign_audience.c.campaign_id, func.count(func.distinct(Contact.id)))
        .join(list_membership, list_membership.c.list_id == campaign_audience.c.list_id)
        .join(Contact, Contact.id == list_membership.c.contact_id)
        .where(Contact.status == ContactStatus.SUBSCRIBED)
        .group_by(campaign_audience.c.campaign_id)
    )
    if len(campaign_ids) <= _IN_LIMIT:
        query = query.where(campaign_audience.c.campaign_id.in_(campaign_ids))
    return {campaign_id: count for campaign_id, count in session.execute(query)}


def last_runs(session: Session, campaign_ids: Sequence[int]) -> dict[int, CampaignRun]:
    """The newest real (non-test) run of each campaign."""
    newest = select(func.max(CampaignRun.id)).where(CampaignRun.trigger != RunTrigger.TEST)
    if len(campaign_ids) <= _IN_LIMIT:
        newest = newest.where(CampaignRun.campaign_id.in_(campaign_ids))
    newest = newest.group_by(CampaignRun.campaign_id)
    runs = session.scalars(select(CampaignRun).where(CampaignRun.id.in_(newest)))
    return {run.campaign_id: run for run in runs}


def campaign_views(session: Session, campaigns: Sequence[Campaign]) -> list[CampaignView]:
    ids = [campaign.id for campaign in campaigns]
    sizes = audience_sizes(session, ids)
    runs = last_runs(session, ids)
    parent_ids = {c.parent_campaign_id for c in campaigns if c.parent_campaign_id is not None}
    parents: dict[int, str] = {}
    if parent_ids:
        parents = dict(
            session.execute(
                select(Campaign.id, Campaign.name).where(Campaign.id.in_(parent_ids))
            ).all()
        )
    views = []
    for c in campaigns:
        run = runs.get(c.id)
        views.append(
            CampaignView(
                id=c.id,
                name=c.name,
                status=c.status,
                subject=c.subject,
                body_text=c.body_text,
                body_html=c.body_html,
                from_name=c.from_name,
                from_email=c.from_email,
                reply_to=c.reply_to,
                lists=tuple(item.name for item in c.lists),
                timezone=c.timezone,
                scheduled_local=c.scheduled_local,
                scheduled_at=c.scheduled_at,
                next_run_at=c.next_run_at,
                recurrence_pattern=c.recurrence_pattern,
                is_recurring=c.is_recurring,
                end_date=c.end_date,
                max_runs=c.max_runs,
                runs_done=c.runs_done,
                missed_run_policy=c.missed_run_policy,
                parent_campaign_id=c.parent_campaign_id,
                parent_name=parents.get(c.parent_campaign_id)
                if c.parent_campaign_id is not None
                else None,
                archived=c.archived,
                archived_at=c.archived_at,
                archive_reason=c.archive_reason,
                created_at=c.created_at,
                updated_at=c.updated_at,
                audience_size=sizes.get(c.id, 0),
                last_run=run_view(run) if run is not None else None,
            )
        )
    return views


def attribute_keys(session: Session) -> list[str]:
    """Every key that appears in any contact's free attributes, sorted."""
    rows = session.execute(
        text("SELECT DISTINCT j.key FROM contact, json_each(contact.attributes) AS j ORDER BY 1")
    )
    return [str(key) for (key,) in rows]
