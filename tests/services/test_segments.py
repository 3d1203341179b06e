"""Segments in SQL and as a campaign's audience (docs/design.md §18), on SQLite and
PostgreSQL: every operator over the contact's columns and custom fields (missing keys,
numbers kept as text or as numbers, letters beyond ASCII in any case, LIKE's wildcards
typed as text), saved segments, and a campaign to a segment sending through a real SMTP
server to exactly the matching subscribed contacts."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest
from sqlalchemy import update

from campaign_desktop.context import AppContext
from campaign_desktop.domain.errors import ValidationError
from campaign_desktop.domain.segments import Condition, Operator, Segment, custom_field
from campaign_desktop.persistence.models import SavedSegment
from tests.services.sending_support import configure_smtp, received_recipients
from tests.smtp_server import SmtpServer, running_smtp_server

pytestmark = pytest.mark.both_backends

CITY = custom_field("city")
AGE = custom_field("age")
JOINED = custom_field("joined")


@pytest.fixture
def people(ctx: AppContext) -> AppContext:
    add = ctx.contacts.add
    add(
        "ann@example.com",
        "Ann",
        "Lee",
        ("Customers",),
        {"city": "Paris", "age": "34", "joined": "2025-03-01"},
    )
    add(
        "bob@shop.example", "Bob", "Marley", (), {"city": "paris", "age": 9, "joined": "2024-12-31"}
    )
    add("zoe@example.com", "Zoë", "Éclair", ("Customers",), {"city": "ZÜRICH", "age": "abc"})
    add("max@example.com", "Max", "", (), {})
    add("pct@example.com", "50%", "Off", (), {"city": ""})
    add("five@example.com", "50x", "Off", (), {"city": "  "})
    ctx.contacts.unsubscribe("bob@shop.example")
    return ctx


def matching(ctx: AppContext, *conditions: Condition, match: str = "all") -> list[str]:
    segment = Segment.of(conditions, match)
    found = sorted(view.email.split("@")[0] for view in ctx.contacts.search(segment=segment))
    assert ctx.contacts.count(segment=segment) == len(found)
    assert ctx.segments.count(segment).matching == len(found)
    return found


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        (Condition(CITY, Operator.IS, "PARIS"), ["ann", "bob"]),
        (Condition(CITY, Operator.IS_NOT, "paris"), ["five", "max", "pct", "zoe"]),
        (Condition(CITY, Operator.CONTAINS, "ri"), ["ann", "bob", "zoe"]),
        (Condition(CITY, Operator.NOT_CONTAINS, "ri"), ["five", "max", "pct"]),
        (Condition(CITY, Operator.STARTS_WITH, "zü"), ["zoe"]),
        (Condition(CITY, Operator.IS_EMPTY), ["five", "max", "pct"]),
        (Condition(CITY, Operator.IS_NOT_EMPTY), ["ann", "bob", "zoe"]),
        (Condition("email", Operator.STARTS_WITH, "Z"), ["zoe"]),
        (Condition("email", Operator.CONTAINS, "@shop."), ["bob"]),
        (Condition("first_name", Operator.IS, "zoë"), ["zoe"]),
        (Condition("last_name", Operator.IS, "ÉCLAIR"), ["zoe"]),
        (Condition("last_name", Operator.IS_EMPTY), ["max"]),
        (Condition("first_name", Operator.CONTAINS, "%"), ["pct"]),
        (Condition("first_name", Operator.IS, "50_"), []),
        (Condition("status", Operator.IS, "unsubscribed"), ["bob"]),
        (Condition("status", Operator.IS_NOT, "subscribed"), ["bob"]),
    ],
)
def test_each_operator_picks_the_contacts_a_marketer_expects(
    people: AppContext, condition: Condition, expected: list[str]
) -> None:
    assert matching(people, condition) == expected


def test_numbers_compare_as_numbers_whether_stored_as_text_or_number(people: AppContext) -> None:
    # "34" (text) and 9 (a number); "abc" and a missing age are neither bigger nor smaller.
    assert matching(people, Condition(AGE, Operator.GREATER_THAN, "10")) == ["ann"]
    assert matching(people, Condition(AGE, Operator.LESS_THAN, "10")) == ["bob"]
    assert matching(people, Condition(AGE, Operator.GREATER_THAN, "-1e6")) == ["ann", "bob"]


def test_iso_dates_compare_as_dates(people: AppContext) -> None:
    assert matching(people, Condition(JOINED, Operator.GREATER_THAN, "2025-01-01")) == ["ann"]
    assert matching(people, Condition(JOINED, Operator.LESS_THAN, "2025-01-01")) == ["bob"]


def test_all_and_any(people: AppContext) -> None:
    paris = Condition(CITY, Operator.IS, "paris")
    customers_name = Condition("last_name", Operator.IS, "lee")
    assert matching(people, paris, customers_name) == ["ann"]
    assert matching(
        people, paris, Condition("email", Operator.STARTS_WITH, "zoe"), match="any"
    ) == [
        "ann",
        "bob",
        "zoe",
    ]


def test_the_segment_filter_combines_with_search_list_and_status(people: AppContext) -> None:
    segment = Segment.of([Condition(CITY, Operator.IS_NOT_EMPTY)])
    found = people.contacts.search(list_name="Customers", status="subscribed", segment=segment)
    assert [view.email for view in found] == ["ann@example.com", "zoe@example.com"]
    assert people.contacts.count("zo", segment=segment) == 1


def test_count_says_how_many_are_subscribed(people: AppContext) -> None:
    paris = Segment.of([Condition(CITY, Operator.IS, "paris")])
    count = people.segments.count(paris)
    assert (count.matching, count.subscribed) == (2, 1)
    assert [view.email for view in people.segments.preview(paris, limit=1)] == ["ann@example.com"]


def test_saved_segments_are_named_uniquely_renamed_changed_and_deleted(people: AppContext) -> None:
    paris = Segment.of([Condition(CITY, Operator.IS, "Paris")])
    saved = people.segments.create("  Parisians ", paris)
    assert (saved.name, saved.segment) == ("Parisians", paris)
    with pytest.raises(ValidationError) as caught:
        people.segments.create("Parisians", paris)
    assert caught.value.field == "name"
    assert "A segment named “Parisians” already exists." in caught.value.message
    with pytest.raises(ValidationError, match="Give the segment a name"):
        people.segments.create(" ", paris)

    renamed = people.segments.rename(saved.id, "Paris people")
    zurich = Segment.of([Condition(CITY, Operator.IS, "zürich")])
    changed = people.segments.update(saved.id, zurich)
    assert (renamed.name, changed.segment) == ("Paris people", zurich)
    assert [view.name for view in people.segments.list()] == ["Paris people"]
    assert people.segments.subscribed_counts([saved.id]) == {saved.id: 1}

    people.segments.delete(saved.id)
    assert people.segments.list() == []


def test_a_segment_a_campaign_sends_to_cannot_be_deleted(people: AppContext) -> None:
    saved = people.segments.create("Parisians", Segment.of([Condition(CITY, Operator.IS, "paris")]))
    people.campaigns.create(
        name="Paris news",
        subject="Hi",
        body_text="Hello",
        from_email="news@shop.example",
        segments=("Parisians",),
    )
    with pytest.raises(ValidationError) as caught:
        people.segments.delete(saved.id)
    assert caught.value.message == (
        "“Parisians” is the audience of campaign “Paris news”. Remove it from that campaign first."
    )
    assert [view.name for view in people.segments.list()] == ["Parisians"]


def test_the_audience_is_lists_or_segments_each_subscribed_contact_once(people: AppContext) -> None:
    people.segments.create("Parisians", Segment.of([Condition(CITY, Operator.IS, "paris")]))
    people.segments.create(
        "Named Z", Segment.of([Condition("first_name", Operator.STARTS_WITH, "z")])
    )
    campaign = people.campaigns.create(
        name="Both",
        subject="Hi",
        body_text="Hello",
        from_email="news@shop.example",
        lists=("Customers",),
        segments=("Parisians", "Named Z"),
    )
    # Customers: ann, zoe; Parisians: ann, bob (unsubscribed); Named Z: zoe.
    assert campaign.segments == ("Parisians", "Named Z")
    assert campaign.audience_size == 2
    assert people.campaigns.audience_size(["Customers"], ["Parisians"]) == 2
    assert people.campaigns.audience_size([], ["Named Z"]) == 1
    page = people.campaigns.page(audience=True)
    assert [view.audience_size for view in page] == [2]
    copy = people.campaigns.duplicate(campaign.id)
    assert copy.segments == ("Parisians", "Named Z") and copy.audience_size == 2


def test_a_campaign_naming_an_unknown_segment_is_refused(people: AppContext) -> None:
    with pytest.raises(ValidationError) as caught:
        people.campaigns.create(
            name="X",
            subject="Hi",
            body_text="Hello",
            from_email="news@shop.example",
            segments=("Nobody",),
        )
    assert (caught.value.field, caught.value.message) == (
        "segments",
        "There is no segment called “Nobody”.",
    )


def test_a_campaign_with_only_a_segment_can_be_scheduled(people: AppContext) -> None:
    people.segments.create("Parisians", Segment.of([Condition(CITY, Operator.IS, "paris")]))
    campaign = people.campaigns.create(
        name="Paris",
        subject="Hi",
        body_text="Hello",
        from_email="news@shop.example",
        segments=("Parisians",),
    )
    scheduled = people.campaigns.schedule(
        campaign.id, first_local=datetime(2031, 1, 6, 9, 0), timezone="Europe/Paris"
    )
    assert scheduled.status == "scheduled"
    bare = people.campaigns.create(
        name="Nobody", subject="Hi", body_text="Hello", from_email="news@shop.example"
    )
    with pytest.raises(ValidationError, match="Choose at least one contact list or segment"):
        people.campaigns.schedule(
            bare.id, first_local=datetime(2031, 1, 6, 9, 0), timezone="Europe/Paris"
        )


@pytest.fixture
def server() -> Iterator[SmtpServer]:
    with running_smtp_server() as running:
        yield running


def test_a_campaign_to_a_segment_sends_exactly_to_its_subscribed_contacts(
    people: AppContext, server: SmtpServer
) -> None:
    configure_smtp(people, server.port)
    people.contacts.add("ann2@example.com", "Ann", "Two", ("Customers",), {"city": "PARIS"})
    people.segments.create("Parisians", Segment.of([Condition(CITY, Operator.IS, "paris")]))
    campaign = people.campaigns.create(
        name="Paris news",
        subject="Bonjour {{ first_name }}",
        body_text="Hello {{ first_name }} from {{ city }}.\n{{ unsubscribe_url }}",
        from_email="news@shop.example",
        lists=("Customers",),
        segments=("Parisians",),
    )
    run = people.campaigns.send_now(campaign.id)
    assert people.sending.wait_idle(10)
    # Customers (ann, zoe, ann2) or Paris (ann, ann2, bob unsubscribed): each once.
    assert sorted(received_recipients(server.handler.messages)) == [
        "ann2@example.com",
        "ann@example.com",
        "zoe@example.com",
    ]
    finished = people.runs.get(run.id)
    assert (finished.total, finished.sent, finished.skipped) == (4, 3, 1)
    skipped = [row for row in people.runs.deliveries(run.id) if row.status == "skipped"]
    assert [(row.email, row.last_error) for row in skipped] == [
        ("bob@shop.example", "Contact is unsubscribed")
    ]


def test_a_stored_segment_that_no_longer_loads_matches_nobody_and_says_so(
    people: AppContext, caplog: pytest.LogCaptureFixture
) -> None:
    saved = people.segments.create("Paris", Segment.of([Condition(CITY, Operator.IS, "paris")]))
    campaign = people.campaigns.create(
        name="Both",
        subject="Hi",
        body_text="Hello",
        from_email="news@shop.example",
        lists=("Customers",),
        segments=("Paris",),
    )
    with people.db.write() as session:  # as a hand edit or a later version might leave it
        session.execute(
            update(SavedSegment)
            .where(SavedSegment.id == saved.id)
            .values(definition={"conditions": [{"field": "email", "operator": "resembles"}]})
        )
    assert people.segments.get(saved.id).segment is None
    # Customers only (ann, zoe): nobody is added by the broken segment, nothing fails.
    assert people.campaigns.get(campaign.id).audience_size == 2
    assert "stored conditions not understood" in caplog.text
