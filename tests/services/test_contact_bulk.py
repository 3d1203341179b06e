"""Bulk contact actions (issue 16): delete and status changes for many contacts, a chunk per
statement, with progress and cancel; on a real migrated database (``both_backends``)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import insert, select

from campaign_desktop.domain.clock import ManualClock
from campaign_desktop.domain.errors import ValidationError
from campaign_desktop.persistence.db import Database
from campaign_desktop.persistence.models import Campaign, CampaignRun, Contact, Delivery
from campaign_desktop.services.contacts import BULK_CHUNK, ContactService
from tests.services.conftest import Snapshot

pytestmark = pytest.mark.both_backends


def add_numbered(database: Database, count: int, clock: ManualClock) -> list[int]:
    """`count` subscribed contacts in the list "Customers"; their ids in order."""
    contacts = ContactService(database, clock)
    contacts.create_list("Customers")
    now = clock.now()
    with database.write_core() as connection:
        connection.execute(
            insert(Contact),
            [
                {
                    "email": f"person{n:05d}@example.com",
                    "first_name": f"First{n}",
                    "last_name": "Last",
                    "attributes": {},
                    "status": "subscribed",
                    "created_at": now,
                    "updated_at": now,
                }
                for n in range(count)
            ],
        )
        ids = list(connection.scalars(select(Contact.id).order_by(Contact.id)))
    contacts.add_to_list(ids, "Customers")
    return ids


def add_history(database: Database, contact_ids: list[int], clock: ManualClock) -> None:
    """One completed run that sent to every contact in `contact_ids`."""
    with database.write() as session:
        campaign = Campaign(
            name="News", subject="News", body_text="Hello", from_email="news@shop.example"
        )
        session.add(campaign)
        session.flush()
        run = CampaignRun(
            campaign_id=campaign.id,
            occurrence_at=clock.now(),
            trigger="manual",
            status="completed",
        )
        session.add(run)
        session.flush()
        session.execute(
            insert(Delivery),
            [
                {
                    "run_id": run.id,
                    "contact_id": cid,
                    "email": f"sent-{cid}@example.com",
                    "status": "sent",
                }
                for cid in contact_ids
            ],
        )


def test_delete_many_deletes_in_chunks_and_keeps_the_send_history(
    database: Database, clock: ManualClock
) -> None:
    ids = add_numbered(database, 2 * BULK_CHUNK + 200, clock)
    add_history(database, ids, clock)
    contacts = ContactService(database, clock)
    doomed, kept = ids[:-10], ids[-10:]
    reports: list[tuple[int, int]] = []

    outcome = contacts.delete_many(
        doomed, progress=lambda done, asked: reports.append((done, asked))
    )

    assert outcome.handled == tuple(doomed)
    assert outcome.changed == len(doomed)
    assert not outcome.cancelled
    assert reports == [(BULK_CHUNK, len(doomed)), (2 * BULK_CHUNK, len(doomed)), (len(doomed),) * 2]
    assert contacts.count() == 10
    (customers,) = contacts.lists()
    assert customers.member_count == 10
    with database.read() as session:
        history = session.execute(select(Delivery.contact_id, Delivery.email)).all()
    assert len(history) == len(ids)  # every delivery is still there, with its address
    assert sorted(cid for cid, _ in history if cid is not None) == kept


def test_delete_many_skips_contacts_already_gone(database: Database, clock: ManualClock) -> None:
    ids = add_numbered(database, 3, clock)
    contacts = ContactService(database, clock)
    contacts.delete(ids[0])
    outcome = contacts.delete_many([ids[0], ids[1], ids[1]])
    assert outcome.handled == (ids[0], ids[1])
    assert outcome.changed == 1
    assert [view.id for view in contacts.search()] == [ids[2]]


def test_cancel_stops_before_the_next_chunk_and_keeps_the_chunks_done(
    database: Database, clock: ManualClock
) -> None:
    ids = add_numbered(database, 3 * BULK_CHUNK, clock)
    contacts = ContactService(database, clock)
    cancel = threading.Event()

    def cancel_after_the_first_chunk(done: int, asked: int) -> None:
        cancel.set()

    outcome = contacts.delete_many(ids, progress=cancel_after_the_first_chunk, cancel=cancel)

    assert outcome.cancelled
    assert outcome.handled == tuple(ids[:BULK_CHUNK])
    assert outcome.changed == BULK_CHUNK
    assert contacts.count() == 2 * BULK_CHUNK


def test_bulk_status_changes_follow_the_one_contact_rules(
    database: Database, clock: ManualClock
) -> None:
    ids = add_numbered(database, BULK_CHUNK + 5, clock)
    contacts = ContactService(database, clock)
    first = contacts.get(ids[0]).email
    earlier = contacts.unsubscribe(first).unsubscribed_at
    clock.advance(timedelta(hours=1))

    outcome = contacts.set_status_many(ids, "unsubscribed")
    assert outcome.changed == len(ids) - 1  # the first one was unsubscribed already
    assert contacts.count(status="unsubscribed") == len(ids)
    assert contacts.get(ids[0]).unsubscribed_at == earlier  # the first time is kept
    assert contacts.get(ids[1]).unsubscribed_at == clock.now()

    # A bounce never overrides an unsubscribe.
    assert contacts.set_status_many(ids[:3], "bounced").changed == 0
    assert contacts.count(status="unsubscribed") == len(ids)

    back = contacts.set_status_many(ids[1:], "subscribed")
    assert back.changed == len(ids) - 1
    assert contacts.get(ids[1]).unsubscribed_at is None
    assert contacts.set_status_many(ids[1:3], "bounced").changed == 2
    assert [contacts.get(cid).status for cid in ids[:4]] == [
        "unsubscribed",
        "bounced",
        "bounced",
        "subscribed",
    ]


def test_an_unknown_status_changes_nothing(
    database: Database, clock: ManualClock, snapshot: Callable[[], Snapshot]
) -> None:
    ids = add_numbered(database, 3, clock)
    before = snapshot()
    with pytest.raises(ValidationError) as error:
        ContactService(database, clock).set_status_many(ids, "gone")
    assert error.value.field == "status"
    assert snapshot() == before


def test_get_many_reads_contacts_in_the_order_asked_and_leaves_out_the_gone(
    database: Database, clock: ManualClock
) -> None:
    ids = add_numbered(database, 4, clock)
    contacts = ContactService(database, clock)
    contacts.delete(ids[1])
    views = contacts.get_many([ids[3], ids[1], ids[0]])
    assert [view.id for view in views] == [ids[3], ids[0]]
    assert views[0].lists == ("Customers",)
