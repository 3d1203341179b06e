"""Typed status columns (`StoredEnum`): the ORM hands back the domain's enums while the
table keeps the very strings it held before, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import StatementError

from campaign_desktop.context import AppContext
from campaign_desktop.domain.status import CampaignStatus, ContactStatus, MissedRunPolicy
from campaign_desktop.persistence.models import Campaign, Contact

pytestmark = pytest.mark.both_backends


def test_statuses_come_back_as_enums_and_are_stored_as_their_plain_strings(
    ctx: AppContext,
) -> None:
    ctx.contacts.add("ann@example.com", lists=("Customers",))
    ctx.contacts.unsubscribe("ann@example.com")
    ctx.campaigns.create(
        name="News",
        subject="Hello",
        body_text="Hi",
        from_email="news@shop.example",
        lists=("Customers",),
        missed_run_policy="skip",
    )
    with ctx.db.read() as session:
        campaign = session.scalars(select(Campaign)).one()
        assert campaign.status is CampaignStatus.DRAFT
        assert campaign.missed_run_policy is MissedRunPolicy.SKIP
        assert session.scalar(select(Contact.status)) is ContactStatus.UNSUBSCRIBED
        raw = session.execute(text("SELECT status, missed_run_policy FROM campaign")).one()
        assert tuple(raw) == ("draft", "skip")
        assert type(raw[0]) is str
        assert session.scalar(text("SELECT status FROM contact")) == "unsubscribed"


def test_rows_written_as_plain_strings_read_back_as_enums(ctx: AppContext) -> None:
    ctx.contacts.add("bob@example.com")
    with ctx.db.write() as session:
        session.execute(text("UPDATE contact SET status = 'bounced'"))
    with ctx.db.read() as session:
        assert session.scalar(select(Contact.status)) is ContactStatus.BOUNCED
        # A filter may name the status by its string too.
        assert session.scalar(select(Contact.email).where(Contact.status == "bounced"))


def test_a_status_outside_the_vocabulary_is_never_written(ctx: AppContext) -> None:
    ctx.contacts.add("cy@example.com")
    refused = pytest.raises(StatementError, match="'gone' is not a valid ContactStatus")
    with refused, ctx.db.write() as session:
        session.scalars(select(Contact)).one().status = "gone"  # type: ignore[assignment]
    with ctx.db.read() as session:
        assert session.scalar(text("SELECT status FROM contact")) == "subscribed"
