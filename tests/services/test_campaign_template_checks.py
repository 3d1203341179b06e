"""Saving and scheduling fill the templates in for the sample contact and a sample of the audience.

A template that would fail at send time for some recipient (1/0, an empty value indexed, a
bound reached, an object printed) is refused when saved or scheduled, naming the contact,
and nothing is written (docs/design.md §9).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from campaign_desktop.context import AppContext
from campaign_desktop.domain.clock import ManualClock
from campaign_desktop.domain.errors import ValidationError
from campaign_desktop.persistence.db import Database
from tests.services.conftest import Snapshot

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)

# Initials: fine for everyone with a first name, a failure for anyone without one.
INITIAL = "Dear {{ first_name[0] }}. {{ last_name }},\nour sale starts now."


@pytest.fixture
def app(data_dir: Path, database: Database) -> Iterator[AppContext]:
    # `database` (conftest) opens the same file first: its `snapshot` reads what we write.
    assert database.path.parent == data_dir
    context = AppContext.open(data_dir, clock=ManualClock(NOW))
    context.contacts.add(
        "anna@example.com", first_name="Anna", last_name="Lee", lists=("Customers",)
    )
    context.contacts.add("bob@example.com", first_name="Bob", last_name="Ray", lists=("Customers",))
    yield context
    context.close()


def make(app: AppContext, **overrides: Any) -> int:
    fields: dict[str, Any] = {
        "name": "Winter sale",
        "subject": "Hello {{ first_name }}",
        "body_text": "Hi {{ first_name }}, our winter sale starts now.",
        "from_email": "news@shop.example",
        "lists": ("Customers",),
    }
    fields.update(overrides)
    return app.campaigns.create(**fields).id


def refused(action: Callable[[], object]) -> ValidationError:
    with pytest.raises(ValidationError) as raised:
        action()
    return raised.value


def test_a_template_failing_for_the_sample_contact_is_refused_at_create(
    app: AppContext, snapshot: Callable[[], Snapshot]
) -> None:
    before = snapshot()

    error = refused(lambda: make(app, body_text="Hi {{ first_name }}\n{{ 1/0 }}"))

    assert error.field == "body_text"
    assert error.message == (
        "The text body could not be filled in on line 2 for the sample contact: division by zero."
    )
    assert snapshot() == before


def test_a_template_failing_for_one_real_contact_is_refused_naming_the_contact(
    app: AppContext, snapshot: Callable[[], Snapshot]
) -> None:
    app.contacts.add("nofirst@example.com", last_name="Smith", lists=("Customers",))
    before = snapshot()

    error = refused(lambda: make(app, body_text=INITIAL))

    assert error.field == "body_text"
    assert error.message == (
        "The text body could not be filled in on line 1 for nofirst@example.com: "
        "str object has no element 0."
    )
    assert snapshot() == before


def test_a_template_fine_for_every_sampled_contact_is_saved(app: AppContext) -> None:
    view = app.campaigns.get(make(app, body_text=INITIAL))

    assert view.status == "draft"


def test_the_contact_with_the_least_data_is_tried_even_far_down_the_list(
    app: AppContext,
) -> None:
    for n in range(40):
        first = "" if n == 33 else f"Person{n}"
        app.contacts.add(f"p{n}@example.com", first_name=first, lists=("Customers",))

    error = refused(lambda: make(app, body_text=INITIAL))

    assert "for p33@example.com:" in error.message


def test_the_contact_with_the_most_data_is_tried_even_far_down_the_list(
    app: AppContext,
) -> None:
    for n in range(40):
        bio = "x" * 2000 if n == 35 else "Likes tea."
        app.contacts.add(
            f"p{n}@example.com", first_name="P", lists=("Customers",), attributes={"bio": bio}
        )

    error = refused(lambda: make(app, body_text="{{ (bio * 1000)|length }}"))

    assert error.message == (
        "The text body would build a text longer than 1 MB on line 1 for p35@example.com: "
        "“*” would make 2,000,000 characters."
    )


def test_contacts_outside_the_audience_are_not_tried(app: AppContext) -> None:
    app.contacts.add("vip@example.com", last_name="Only VIP", lists=("VIP",))
    app.contacts.add("gone@example.com", last_name="Left", lists=("Customers",))
    app.contacts.unsubscribe("gone@example.com")

    view = app.campaigns.get(make(app, body_text=INITIAL))

    assert view.audience_size == 2


def test_an_update_refused_for_a_runtime_fault_leaves_the_campaign_as_it_was(
    app: AppContext, snapshot: Callable[[], Snapshot]
) -> None:
    campaign_id = make(app)
    before = snapshot()

    error = refused(lambda: app.campaigns.update(campaign_id, subject="{{ first_name + 1 }}"))

    assert error.field == "subject"
    assert error.message == (
        "The subject could not be filled in on line 1 for the sample contact: "
        'can only concatenate str (not "int") to str.'
    )
    assert snapshot() == before
    assert app.campaigns.get(campaign_id).status == "draft"


def test_scheduling_tries_the_contacts_added_since_the_save(
    app: AppContext, snapshot: Callable[[], Snapshot]
) -> None:
    campaign_id = make(app, body_text=INITIAL)
    app.contacts.add("late@example.com", last_name="Late", lists=("Customers",))
    before = snapshot()

    error = refused(
        lambda: app.campaigns.schedule(
            campaign_id, first_local=datetime(2027, 1, 4, 9, 0), timezone="UTC"
        )
    )

    assert error.field == "body_text"
    assert "for late@example.com:" in error.message
    assert snapshot() == before
    assert app.campaigns.get(campaign_id).status == "draft"


@pytest.mark.parametrize(
    ("field", "source", "words"),
    [
        ("body_text", "{% include 'footer.txt' %}", "{% include %} cannot be used"),
        ("body_text", "{{ self }}", "{{ self }} would show the template itself, not text."),
        (
            "body_text",
            "{{ first_name.upper }}",
            "The text body would show a method instead of text on line 1 for the sample contact: "
            "{{ first_name.upper }} (add () to call it).",
        ),
        (
            "body_html",
            "{% for a in range(99999) %}{% for b in range(99999) %}{% endfor %}{% endfor %}",
            "The HTML body asks for a range that is too long on line 1 for the sample contact",
        ),
        ("subject", "{{ 'a' * 10**9 }}", "The subject would build a text longer than 1 MB"),
    ],
)
def test_bounds_and_printed_objects_are_refused_at_create(
    app: AppContext, snapshot: Callable[[], Snapshot], field: str, source: str, words: str
) -> None:
    before = snapshot()

    error = refused(lambda: make(app, **{field: source}))

    assert error.field == field
    assert words in error.message
    assert snapshot() == before
