"""List and segment names that differ only in case are one name (docs/design.md §21): creating
or renaming to such a name is refused, every lookup by name finds the list or segment ignoring
case, and a database that already holds "VIP" and "vip" keeps working; on SQLite and
PostgreSQL (``both_backends``)."""

from __future__ import annotations

import threading
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select

from campaign_desktop.context import AppContext
from campaign_desktop.domain.errors import ValidationError
from campaign_desktop.domain.segments import Condition, Operator, Segment, custom_field
from campaign_desktop.persistence.models import ContactList, SavedSegment
from tests.services.sending_support import configure_smtp, received_recipients
from tests.services.test_contacts import write_csv
from tests.services.test_ledger_truth import wait_until
from tests.smtp_server import running_smtp_server

pytestmark = pytest.mark.both_backends

LIST_NAMES_LOCK = 0x4C495354  # queries.lock_names

PARIS = Segment.of([Condition(custom_field("city"), Operator.IS, "Paris")])


def list_names(ctx: AppContext) -> list[str]:
    return [item.name for item in ctx.contacts.lists()]


def refusal(call: object) -> tuple[str, str]:
    assert callable(call)
    with pytest.raises(ValidationError) as caught:
        call()
    return caught.value.field, caught.value.message


def add_pair_made_before(ctx: AppContext) -> None:
    """Lists "VIP" (older) and "vip", and segments "Paris" and "PARIS", as a database made
    before names were compared ignoring case may hold them."""
    now = ctx.clock.now()
    with ctx.db.write() as session:
        for name in ("VIP", "vip"):
            session.execute(insert(ContactList).values(name=name, description="", created_at=now))
        for name in ("Paris", "PARIS"):
            session.execute(
                insert(SavedSegment).values(
                    name=name, definition=PARIS.to_dict(), created_at=now, updated_at=now
                )
            )


# --- refused names -----------------------------------------------------------------------


@pytest.mark.parametrize("typed", ["newsletter", "  NEWSLETTER ", "NewsLetter"])
def test_a_new_list_named_like_another_ignoring_case_is_refused(
    ctx: AppContext, typed: str
) -> None:
    ctx.contacts.create_list("Newsletter")
    assert refusal(lambda: ctx.contacts.create_list(typed)) == (
        "name",
        "A list named “Newsletter” already exists.",
    )
    assert list_names(ctx) == ["Newsletter"]


def test_strasse_and_strasse_with_sharp_s_are_one_name(ctx: AppContext) -> None:
    ctx.contacts.create_list("Straße")
    assert refusal(lambda: ctx.contacts.create_list("STRASSE")) == (
        "name",
        "A list named “Straße” already exists.",
    )
    ctx.segments.create("Café", PARIS)
    decomposed = "CAFE\N{COMBINING ACUTE ACCENT}"  # É typed as E and an accent
    assert refusal(lambda: ctx.segments.create(decomposed, PARIS)) == (
        "name",
        "A segment named “Café” already exists.",
    )


def test_renaming_a_list_to_another_lists_name_in_other_case_is_refused(
    ctx: AppContext,
) -> None:
    ctx.contacts.create_list("Newsletter")
    vip = ctx.contacts.create_list("VIP list")
    assert refusal(lambda: ctx.contacts.rename_list(vip.id, "NEWSLETTER")) == (
        "name",
        "A list named “Newsletter” already exists.",
    )
    assert list_names(ctx) == ["Newsletter", "VIP list"]


def test_a_list_can_be_renamed_to_its_own_name_in_other_case(ctx: AppContext) -> None:
    vip = ctx.contacts.create_list("vip")
    ctx.contacts.add("ann@example.com", lists=("vip",))
    renamed = ctx.contacts.rename_list(vip.id, "VIP")
    assert (renamed.id, renamed.name, renamed.member_count) == (vip.id, "VIP", 1)
    assert list_names(ctx) == ["VIP"]


def test_segment_names_are_refused_and_renamed_the_same_way(ctx: AppContext) -> None:
    ctx.segments.create("Parisians", PARIS)
    other = ctx.segments.create("Locals", PARIS)
    assert refusal(lambda: ctx.segments.create("PARISIANS", PARIS)) == (
        "name",
        "A segment named “Parisians” already exists.",
    )
    assert refusal(lambda: ctx.segments.rename(other.id, " parisians ")) == (
        "name",
        "A segment named “Parisians” already exists.",
    )
    assert ctx.segments.rename(other.id, "LOCALS").name == "LOCALS"
    assert [view.name for view in ctx.segments.list()] == ["LOCALS", "Parisians"]


# --- lookups by name ---------------------------------------------------------------------


def test_every_lookup_by_list_name_ignores_case(ctx: AppContext, tmp_path: Path) -> None:
    ctx.contacts.create_list("Newsletter")
    ann = ctx.contacts.add("ann@example.com", lists=("newsletter",))
    bob = ctx.contacts.add("bob@example.com")
    change = ctx.contacts.add_to_list([bob.id], "NEWSLETTER")
    assert (change.list_name, change.changed) == ("Newsletter", 1)
    report = ctx.contacts.import_csv(
        write_csv(tmp_path, "email\ncy@example.com\n"), list_name=" newsLetter "
    )
    assert report.created == 1
    assert list_names(ctx) == ["Newsletter"]
    assert ctx.contacts.count(list_name="newsletter") == 3
    assert [view.email for view in ctx.contacts.search(list_name="NEWSLETTER")] == [
        "ann@example.com",
        "bob@example.com",
        "cy@example.com",
    ]
    removed = ctx.contacts.remove_from_list([ann.id], "newsletter")
    assert (removed.list_name, removed.changed) == ("Newsletter", 1)
    edited = ctx.contacts.update(ann.id, lists=("NEWSLETTER", "newsletter"))
    assert edited.lists == ("Newsletter",)


def test_a_campaign_finds_its_lists_and_segments_ignoring_case(ctx: AppContext) -> None:
    ctx.contacts.add("ann@example.com", lists=("Customers",), attributes={"city": "Paris"})
    ctx.contacts.add("bob@example.com", lists=("Customers",))
    ctx.segments.create("Parisians", PARIS)
    campaign = ctx.campaigns.create(
        name="News",
        subject="Hi",
        body_text="Hello",
        from_email="news@shop.example",
        lists=("customers", "CUSTOMERS"),
        segments=("parisians",),
    )
    assert (campaign.lists, campaign.segments) == (("Customers",), ("Parisians",))
    assert campaign.audience_size == 2
    assert ctx.campaigns.audience_size(["CUSTOMERS"], ["PARISIANS"]) == 2
    assert ctx.campaigns.audience_size([], ["parisians"]) == 1


# --- databases that already hold names differing only in case ----------------------------


def test_a_database_with_vip_and_vip_in_lower_case_keeps_both_and_finds_each(
    ctx: AppContext,
) -> None:
    add_pair_made_before(ctx)
    ann = ctx.contacts.add("ann@example.com", lists=("vip",))
    bob = ctx.contacts.add("bob@example.com", lists=("VIP",))
    cy = ctx.contacts.add("cy@example.com", lists=("Vip",))  # no exact spelling: the older
    assert (ann.lists, bob.lists, cy.lists) == (("vip",), ("VIP",), ("VIP",))
    assert {item.name: item.member_count for item in ctx.contacts.lists()} == {
        "VIP": 2,
        "vip": 1,
    }
    assert ctx.contacts.count(list_name="vip") == 1
    campaign = ctx.campaigns.create(
        name="Two lists",
        subject="Hi",
        body_text="Hello",
        from_email="news@shop.example",
        lists=("VIP", "vip"),
        segments=("PARIS",),
    )
    assert sorted(campaign.lists) == ["VIP", "vip"]
    assert campaign.segments == ("PARIS",)
    vip = next(item for item in ctx.contacts.lists() if item.name == "vip")
    assert refusal(lambda: ctx.contacts.rename_list(vip.id, "Vip")) == (
        "name",
        "A list named “VIP” already exists.",
    )
    assert ctx.contacts.rename_list(vip.id, "VIP (old)").name == "VIP (old)"
    assert ctx.contacts.rename_list(vip.id, "vip (OLD)").name == "vip (OLD)"


def test_a_campaign_keeps_sending_to_a_renamed_segment(ctx: AppContext) -> None:
    ctx.contacts.add("ann@example.com", attributes={"city": "Paris"})
    ctx.contacts.add("bob@example.com", attributes={"city": "Lyon"})
    saved = ctx.segments.create("Parisians", PARIS)
    campaign = ctx.campaigns.create(
        name="Paris news",
        subject="Hi",
        body_text="Hello\n{{ unsubscribe_url }}",
        from_email="news@shop.example",
        segments=("Parisians",),
    )
    ctx.segments.rename(saved.id, "People of Paris")
    scheduled = ctx.campaigns.schedule(
        campaign.id, first_local=datetime(2031, 1, 6, 9, 0), timezone="Europe/Paris"
    )
    assert (scheduled.segments, scheduled.audience_size) == (("People of Paris",), 1)
    with running_smtp_server() as server:
        configure_smtp(ctx, server.port)
        run = ctx.campaigns.send_now(campaign.id)
        assert ctx.sending.wait_idle(10)
        assert received_recipients(server.handler.messages) == ["ann@example.com"]
    assert ctx.runs.get(run.id).sent == 1


@pytest.mark.postgresql_only  # on SQLite a write transaction holds the whole database's lock
def test_two_desktops_cannot_take_vip_and_vip_at_the_same_moment(ctx: AppContext) -> None:
    refused: list[str] = []

    def create() -> None:
        try:
            ctx.contacts.create_list("vip")
        except ValidationError as exc:
            refused.append(exc.message)

    def waiting_for_the_name_lock() -> bool:
        with ctx.db.engine.connect() as connection:
            query = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            return bool(connection.exec_driver_sql(query).scalar())

    # Another desktop's create_list("VIP"): it holds the name lock, checked, and inserts.
    with ctx.db.engine.connect() as other_desktop:
        other_desktop.execute(select(func.pg_advisory_xact_lock(LIST_NAMES_LOCK)))
        thread = threading.Thread(target=create)
        thread.start()
        assert wait_until(waiting_for_the_name_lock)
        other_desktop.execute(
            insert(ContactList).values(name="VIP", description="", created_at=ctx.clock.now())
        )
        other_desktop.commit()
    thread.join(10)
    assert refused == ["A list named “VIP” already exists."]
    assert list_names(ctx) == ["VIP"]
