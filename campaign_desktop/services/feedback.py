"""What came back for a delivery — a bounce or an unsubscribe — and what it does to the
contact and the run's counts (docs/design.md §11).

Used by the reply mailbox (`services/inbound.py`) and by sending, when a server refuses a
recipient with an enhanced status 5.1.x at send time. Every function here works inside the
caller's transaction and is idempotent: a second bounce of the same delivery changes nothing.
Also the database's token secret (`load_tokens`), made once on first use.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from campaign_desktop.domain.status import ContactStatus, DeliveryFeedback, DeliveryStatus
from campaign_desktop.domain.tokens import DeliveryTokens
from campaign_desktop.persistence.db import Database
from campaign_desktop.persistence.models import CampaignRun, Contact, Delivery, Setting
from campaign_desktop.persistence.portable import insert_or_ignore

#: The `setting` row of the per-database token secret. Not a user setting (it is not in
#: `services/settings.py`'s SPECS) and not a credential: it only lets this database check
#: its own tokens, and whoever can read it can change the contacts anyway.
TOKEN_SECRET_KEY = "inbound.token_secret"  # noqa: S105 — the row's name, not the secret
#: Soft bounces (4.x.x) of a contact's latest deliveries in a row that make it bounced.
SOFT_BOUNCES_IN_A_ROW = 3


def load_tokens(db: Database) -> DeliveryTokens:
    """The database's `DeliveryTokens`; the secret (32 random bytes) is made on first use.

    INSERT … ON CONFLICT DO NOTHING, then read: two desktops starting together on one team
    database end up with the same secret.
    """
    with db.write() as session:
        session.execute(
            insert_or_ignore(session, Setting).values(
                key=TOKEN_SECRET_KEY, value=json.dumps(secrets.token_hex(32))
            )
        )
        stored = session.scalar(select(Setting.value).where(Setting.key == TOKEN_SECRET_KEY))
    assert stored is not None
    return DeliveryTokens(bytes.fromhex(json.loads(stored)))


@dataclass(frozen=True)
class Effect:
    """What one piece of feedback changed: the contact's address ("" for none) and words."""

    email: str
    words: str
    bounced: bool = False  # the contact became bounced now
    unsubscribed: bool = False  # the contact became unsubscribed now


def bounce(
    session: Session, delivery: Delivery, *, hard: bool, reason: str, now: datetime
) -> Effect:
    """A bounce of `delivery`: hard → the contact is bounced; soft → counted, and the
    contact is bounced when its last `SOFT_BOUNCES_IN_A_ROW` sent deliveries all bounced."""
    contact = session.get(Contact, delivery.contact_id) if delivery.contact_id else None
    # The first decisive answer stays the delivery's (an unsubscribe after a bounce, or the
    # other way round, changes neither the row nor the run's counts); soft can become hard.
    open_to_bounce = delivery.feedback in (None, DeliveryFeedback.SOFT_BOUNCE)
    if hard:
        if open_to_bounce:
            delivery.feedback = DeliveryFeedback.BOUNCED.value
    elif delivery.feedback is None:
        delivery.feedback = DeliveryFeedback.SOFT_BOUNCE.value
    session.flush()
    if contact is None:
        return Effect(delivery.email, "No contact behind this message (a test send, or deleted).")
    if not hard and not _soft_bounces_in_a_row(session, contact.id):
        return Effect(contact.email, "A temporary bounce, counted; the contact stays subscribed.")
    if not hard:
        reason = f"{SOFT_BOUNCES_IN_A_ROW} temporary bounces in a row; the last: {reason}"
        if open_to_bounce:
            delivery.feedback = DeliveryFeedback.BOUNCED.value
    effect = bounce_contact(session, contact, reason=reason, now=now)
    refresh_run_counts(session, delivery.run_id)
    return effect


def unsubscribe(session: Session, delivery: Delivery, *, reason: str, now: datetime) -> Effect:
    """The recipient of `delivery` asked to unsubscribe: the contact is unsubscribed."""
    contact = session.get(Contact, delivery.contact_id) if delivery.contact_id else None
    if delivery.feedback in (None, DeliveryFeedback.SOFT_BOUNCE):
        delivery.feedback = DeliveryFeedback.UNSUBSCRIBED.value
    session.flush()
    if contact is None:
        return Effect(delivery.email, "No contact behind this message (a test send, or deleted).")
    effect = unsubscribe_contact(session, contact, reason=reason, now=now)
    refresh_run_counts(session, delivery.run_id)
    return effect


def bounce_contact(session: Session, contact: Contact, *, reason: str, now: datetime) -> Effect:
    """A hard bounce for `contact`: bounced unless already unsubscribed or bounced (its
    message's run counts are `bounce`'s business; alone, for a message the history
    retention removed, no run's counts change)."""
    became = contact.status == ContactStatus.SUBSCRIBED
    if became:
        contact.status = ContactStatus.BOUNCED
        contact.bounced_at = now
        contact.status_reason = reason[:2000]
        contact.updated_at = now
    words = "Marked bounced: never mailed again." if became else f"Already {contact.status}."
    return Effect(contact.email, words, bounced=became)


def unsubscribe_contact(
    session: Session, contact: Contact, *, reason: str, now: datetime
) -> Effect:
    """`contact` asked to unsubscribe: unsubscribed unless already so or bounced (its
    message's run counts are `unsubscribe`'s business; alone, for a message the history
    retention removed, no run's counts change)."""
    became = contact.status == ContactStatus.SUBSCRIBED
    if became:
        contact.status = ContactStatus.UNSUBSCRIBED
        contact.unsubscribed_at = now
        contact.status_reason = reason[:2000]
        contact.updated_at = now
    words = "Unsubscribed." if became else f"Already {contact.status}."
    return Effect(contact.email, words, unsubscribed=became)


def refresh_run_counts(session: Session, run_id: int) -> None:
    """Set the run's `bounced` and `unsubscribed` from its rows' feedback (rows are the truth),
    unless the run's details were removed (then its counts stay as they were)."""
    counts = dict(
        session.execute(
            select(Delivery.feedback, func.count())
            .where(Delivery.run_id == run_id, Delivery.feedback.is_not(None))
            .group_by(Delivery.feedback)
        ).all()
    )
    session.execute(
        update(CampaignRun)
        # A run whose details the history retention removed keeps the counts it had: its
        # remaining rows no longer hold the truth (services/retention.py).
        .where(CampaignRun.id == run_id, CampaignRun.details_removed_at.is_(None))
        .values(
            bounced=counts.get(DeliveryFeedback.BOUNCED, 0),
            unsubscribed=counts.get(DeliveryFeedback.UNSUBSCRIBED, 0),
        )
        .execution_options(synchronize_session=False)
    )


def _soft_bounces_in_a_row(session: Session, contact_id: int) -> bool:
    latest = session.scalars(
        select(Delivery.feedback)
        .where(
            Delivery.contact_id == contact_id,
            Delivery.status == DeliveryStatus.SENT,
        )
        .order_by(Delivery.sent_at.desc(), Delivery.id.desc())
        .limit(SOFT_BOUNCES_IN_A_ROW)
    ).all()
    return len(latest) == SOFT_BOUNCES_IN_A_ROW and all(
        feedback in (DeliveryFeedback.SOFT_BOUNCE, DeliveryFeedback.BOUNCED) for feedback in latest
    )


def bounced_at_send(db: Database, delivery_id: int, reason: str, now: datetime) -> None:
    """A server refused the recipient with 5.1.x ("no such user") at send time: the contact
    is bounced at once, in its own short transaction (a rare path, off the per-message one)."""
    with db.write() as session:
        delivery = session.get(Delivery, delivery_id)
        if delivery is not None:
            bounce(session, delivery, hard=True, reason=f"Refused at send: {reason}", now=now)


@dataclass(frozen=True)
class ReplyAddresses:
    """Where a campaign's unsubscribes and bounces go (the one answer for sending and preview).

    `unsubscribe` is the mailbox address (setting `inbound.unsubscribe_address`, else the
    campaign's reply-to, else its sender); `page_url` the one-click page ("" for none);
    `verp` the address whose plus-form is the envelope sender ("" when VERP is off).
    """

    unsubscribe: str
    page_url: str
    verp: str


def reply_addresses(
    values: Mapping[str, Any], reply_to: str | None, from_email: str
) -> ReplyAddresses:
    """The `ReplyAddresses` of a campaign with this reply-to and sender, from the settings'
    `values` (`SettingsService.all()`): sending and the editor's preview ask the same way."""
    address = values["inbound.unsubscribe_address"] or reply_to or from_email
    return ReplyAddresses(
        unsubscribe=address,
        page_url=values["inbound.unsubscribe_page_url"],
        verp=address if values["inbound.verp"] else "",
    )
