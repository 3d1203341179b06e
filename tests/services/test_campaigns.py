"""Campaign use cases through AppContext on a real, migrated database: an SQLite file and
a PostgreSQL database (``both_backends``, tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from campaign_desktop.context import AppContext
from campaign_desktop.domain.clock import ManualClock
from campaign_desktop.domain.errors import NotFoundError, ValidationError
from campaign_desktop.domain.events import CampaignChange, CampaignChanged, Event
from campaign_desktop.persistence import queries
from campaign_desktop.services.campaigns import CampaignDraft, CampaignSort

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)

pytestmark = pytest.mark.both_backends


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOW)


@pytest.fixture
def app(data_dir: Path, database_url: str | None, clock: ManualClock) -> Iterator[AppContext]:
    context = AppContext.open(data_dir, database_url, clock=clock)
    context.contacts.add("ann@example.com", first_name="Ann", lists=("Customers",))
    context.contacts.add("bob@example.com", first_name="Bob", lists=("Customers", "VIP"))
    yield context
    context.close()


DRAFT = CampaignDraft(
    name="Winter sale",
    subject="Hello {{ first_name }}",
    body_text="Hi {{ first_name }}, our winter sale starts now.",
    from_email="news@shop.example",
    lists=("Customers",),
)


def make(app: AppContext, name: str = "Winter sale", **overrides: Any) -> int:
    return app.campaigns.create(replace(DRAFT, name=name, **overrides)).id


def snapshot(app: AppContext) -> list[tuple[object, ...]]:
    """Every row of the campaign tables, to prove a refused call changed nothing."""
    rows: list[tuple[object, ...]] = []
    with app.db.read() as session:
        for table in ("campaign", "campaign_audience", "campaign_run", "delivery"):
            rows += [(table, *row) for row in session.execute(text(f"SELECT * FROM {table}"))]
    return rows


def test_create_returns_a_draft_with_its_lists_and_audience_size(app: AppContext) -> None:
    view = app.campaigns.get(make(app, lists=("Customers", "VIP")))
    assert view.status == "draft"
    assert view.lists == ("Customers", "VIP")
    assert view.audience_size == 2  # Bob is on both lists but counted once
    assert view.next_run_at is None and not view.archived


def test_lists_keep_the_order_they_were_chosen_in(app: AppContext) -> None:
    app.contacts.create_list("Newsletter")
    campaign_id = make(app, lists=("VIP", "Customers"))
    assert app.campaigns.get(campaign_id).lists == ("VIP", "Customers")  # not by name or id
    view = app.campaigns.update(campaign_id, lists=("Newsletter", "VIP"))
    assert view.lists == ("VIP", "Newsletter")  # a list kept keeps its place; new ones follow
    copy = app.campaigns.duplicate(campaign_id)
    assert copy.lists == ("VIP", "Newsletter")
    assert [c.lists for c in app.campaigns.page()] == [("VIP", "Newsletter")] * 2


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"name": "  "}, "name"),
        ({"subject": ""}, "subject"),
        ({"body_text": ""}, "body_text"),
        ({"from_email": "not-an-address"}, "from_email"),
        ({"reply_to": "also@wrong@"}, "reply_to"),
        ({"lists": ("Nobody",)}, "lists"),
        ({"subject": "Hi {{ first_name"}, "subject"),
        ({"body_text": "Hi {{ frist_name }}"}, "body_text"),
        ({"body_html": "<p>{% if %}</p>"}, "body_html"),
        ({"missed_run_policy": "sometimes"}, "missed_run_policy"),
        ({"name": "Sale \ud83d"}, "name"),  # a lone surrogate: half an emoji
        ({"subject": "Sale \udc00 now"}, "subject"),
    ],
)
def test_create_refuses_bad_input_with_the_field_and_saves_nothing(
    app: AppContext, overrides: dict[str, Any], field: str
) -> None:
    before = snapshot(app)
    with pytest.raises(ValidationError) as error:
        make(app, **overrides)
    assert error.value.field == field
    assert error.value.message
    assert snapshot(app) == before


def test_unknown_template_variable_is_named_in_the_error(app: AppContext) -> None:
    with pytest.raises(ValidationError, match="frist_name"):
        make(app, body_text="Hi {{ frist_name }}")


def test_contact_attributes_are_template_variables(app: AppContext) -> None:
    app.contacts.import_csv(_csv(app, "email,company\ncy@example.com,Acme\n"), "Customers")
    view = app.campaigns.get(make(app, body_text="Hello {{ company }}"))
    assert view.body_text == "Hello {{ company }}"


def _csv(app: AppContext, content: str) -> Path:
    path = app.data_dir / "contacts.csv"
    path.write_text(content, encoding="utf-8")
    return path


def test_schedule_once_sets_first_send_in_utc_from_the_local_wall_clock(app: AppContext) -> None:
    campaign_id = make(app)
    view = app.campaigns.schedule(
        campaign_id, first_local=datetime(2027, 1, 4, 9, 0), timezone="America/New_York"
    )
    assert view.status == "scheduled"
    assert view.scheduled_at == view.next_run_at == datetime(2027, 1, 4, 14, 0, tzinfo=UTC)
    assert view.scheduled_local == datetime(2027, 1, 4, 9, 0)
    assert not view.is_recurring and view.recurrence_pattern is None


def test_schedule_recurring_keeps_the_pattern_end_date_and_count(app: AppContext) -> None:
    view = app.campaigns.schedule(
        make(app),
        first_local=datetime(2026, 12, 7, 9, 0),
        timezone="America/Chicago",
        recurrence={
            "type": "weekly",
            "interval": 2,
            "days_of_week": [0, 2],
            "end_date": "2027-06-30",
            "count": 12,
        },
    )
    assert view.is_recurring
    assert view.recurrence_pattern is not None
    assert view.recurrence_pattern.days_of_week == (0, 2)
    assert view.end_date == date(2027, 6, 30)
    assert view.max_runs == 12
    assert view.next_run_at == datetime(2026, 12, 7, 15, 0, tzinfo=UTC)


def test_list_scheduled_is_soonest_first(app: AppContext) -> None:
    later, sooner, draft = make(app, "Later"), make(app, "Sooner"), make(app, "Draft")
    app.campaigns.schedule(later, first_local=datetime(2027, 3, 1, 9), timezone="UTC")
    app.campaigns.schedule(sooner, first_local=datetime(2027, 2, 1, 9), timezone="UTC")
    assert [c.id for c in app.campaigns.list_scheduled()] == [sooner, later]
    assert draft not in [c.id for c in app.campaigns.list_scheduled()]


def test_count_scheduled_counts_what_list_scheduled_lists(app: AppContext) -> None:
    assert app.campaigns.count_scheduled() == 0
    first, second, archived = make(app, "First"), make(app, "Second"), make(app, "Old")
    make(app, "Draft")
    for campaign in (first, second, archived):
        app.campaigns.schedule(campaign, first_local=datetime(2027, 2, 1, 9), timezone="UTC")
    app.campaigns.archive(archived)
    assert app.campaigns.count_scheduled() == len(app.campaigns.list_scheduled()) == 2


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        (
            {"first_local": datetime(2026, 11, 28, 6, 59), "timezone": "America/New_York"},
            "scheduled_local",
        ),
        ({"first_local": datetime(2027, 1, 4, 9), "timezone": "Mars/Olympus_Mons"}, "timezone"),
        ({"first_local": datetime(2027, 1, 4, 9), "timezone": ""}, "timezone"),
        (
            {
                "first_local": datetime(2027, 1, 4, 9),
                "timezone": "UTC",
                "recurrence": {"type": "daily", "end_date": "2027-01-01"},
            },
            "end_date",
        ),
        (
            {
                "first_local": datetime(2027, 1, 4, 9),
                "timezone": "UTC",
                "recurrence": {"type": "daily", "interval": 0},
            },
            "interval",
        ),
        (
            {
                "first_local": datetime(2027, 1, 4, 9),
                "timezone": "UTC",
                "recurrence": {"type": "hourly"},
            },
            "type",
        ),
        (
            {
                "first_local": datetime(2027, 1, 4, 9),
                "timezone": "UTC",
                "recurrence": {"type": "weekly", "days_of_week": []},
            },
            "days_of_week",
        ),
        (
            {
                "first_local": datetime(2027, 1, 4, 9),
                "timezone": "UTC",
                "recurrence": {"type": "daily", "count": 0},
            },
            "count",
        ),
        (
            {
                "first_local": datetime(2027, 1, 4, 9),
                "timezone": "UTC",
                "recurrence": {"type": "daily", "colour": "red"},
            },
            "colour",
        ),
        (
            {"first_local": datetime(2027, 1, 4, 9, tzinfo=UTC), "timezone": "UTC"},
            "scheduled_local",
        ),
    ],
)
def test_schedule_refuses_bad_input_and_changes_nothing(
    app: AppContext, kwargs: dict[str, object], field: str
) -> None:
    campaign_id = make(app)
    before = snapshot(app)
    with pytest.raises(ValidationError) as error:
        app.campaigns.schedule(campaign_id, **kwargs)  # type: ignore[arg-type]
    assert error.value.field == field
    assert snapshot(app) == before


def test_schedule_without_lists_is_refused(app: AppContext) -> None:
    campaign_id = make(app, lists=())
    with pytest.raises(ValidationError) as error:
        app.campaigns.schedule(campaign_id, first_local=datetime(2027, 1, 4, 9), timezone="UTC")
    assert error.value.field == "lists"


def test_unschedule_returns_to_draft_and_keeps_the_pattern(app: AppContext) -> None:
    campaign_id = make(app)
    app.campaigns.schedule(
        campaign_id,
        first_local=datetime(2027, 1, 4, 9),
        timezone="UTC",
        recurrence={"type": "daily"},
    )
    view = app.campaigns.unschedule(campaign_id)
    assert view.status == "draft" and view.next_run_at is None
    assert view.recurrence_pattern is not None
    assert view.recurrence_pattern.type == "daily"
    with pytest.raises(ValidationError):
        app.campaigns.unschedule(campaign_id)


def test_duplicate_copies_content_and_names_copies_in_sequence(app: AppContext) -> None:
    source = make(app, lists=("Customers", "VIP"), from_name="Shop", reply_to="help@shop.example")
    app.campaigns.schedule(
        source,
        first_local=datetime(2027, 1, 4, 9),
        timezone="Europe/London",
        recurrence={"type": "weekly", "days_of_week": [0]},
    )
    first = app.campaigns.duplicate(source)
    second = app.campaigns.duplicate(source)
    third = app.campaigns.duplicate(first.id)
    assert [first.name, second.name, third.name] == [
        "Winter sale (copy)",
        "Winter sale (copy 2)",
        "Winter sale (copy 3)",
    ]
    assert first.status == "draft" and first.next_run_at is None
    assert first.parent_campaign_id == source and first.parent_name == "Winter sale"
    assert first.lists == ("Customers", "VIP")
    assert first.timezone == "Europe/London"
    assert first.recurrence_pattern == app.campaigns.get(source).recurrence_pattern
    assert (first.subject, first.body_text, first.from_name, first.reply_to) == (
        "Hello {{ first_name }}",
        "Hi {{ first_name }}, our winter sale starts now.",
        "Shop",
        "help@shop.example",
    )


def test_archive_unschedules_and_restore_gives_a_draft_that_never_fires(app: AppContext) -> None:
    campaign_id = make(app)
    app.campaigns.schedule(
        campaign_id,
        first_local=datetime(2027, 1, 4, 9),
        timezone="UTC",
        recurrence={"type": "daily"},
    )
    archived = app.campaigns.archive(campaign_id, reason="  Season over ")
    assert archived.archived and archived.archive_reason == "Season over"
    assert archived.archived_at == NOW
    assert archived.next_run_at is None and archived.recurrence_pattern is not None
    assert app.campaigns.list_scheduled() == []
    assert [c.id for c in app.campaigns.list_archived()] == [campaign_id]
    restored = app.campaigns.restore(campaign_id)
    assert restored.status == "draft" and not restored.archived
    assert restored.next_run_at is None
    assert app.campaigns.list_archived() == []


def test_list_archived_is_newest_first(app: AppContext, clock: ManualClock) -> None:
    first, second = make(app, "A"), make(app, "B")
    app.campaigns.archive(first)
    clock.set(datetime(2026, 11, 29, tzinfo=UTC))
    app.campaigns.archive(second)
    assert [c.id for c in app.campaigns.list_archived()] == [second, first]


def test_illegal_transitions_are_validation_errors(app: AppContext) -> None:
    campaign_id = make(app)
    with pytest.raises(ValidationError):
        app.campaigns.restore(campaign_id)  # not archived
    app.campaigns.archive(campaign_id)
    with pytest.raises(ValidationError):
        app.campaigns.archive(campaign_id)
    with pytest.raises(ValidationError):
        app.campaigns.schedule(campaign_id, first_local=datetime(2027, 1, 4, 9), timezone="UTC")
    with pytest.raises(ValidationError):
        app.campaigns.update(campaign_id, subject="New")
    with app.db.write() as session:  # a run in progress, as the sending engine would set it
        session.execute(text("UPDATE campaign SET archived = false, status = 'sending'"))
    for action in (
        lambda: app.campaigns.update(campaign_id, subject="New"),
        lambda: app.campaigns.archive(campaign_id),
        lambda: app.campaigns.delete(campaign_id),
        lambda: app.campaigns.schedule(
            campaign_id, first_local=datetime(2027, 1, 4, 9), timezone="UTC"
        ),
    ):
        with pytest.raises(ValidationError) as error:
            action()
        assert error.value.field == "status"


def test_update_changes_content_and_keeps_the_schedule(app: AppContext) -> None:
    campaign_id = make(app)
    app.campaigns.schedule(campaign_id, first_local=datetime(2027, 1, 4, 9), timezone="UTC")
    view = app.campaigns.update(campaign_id, subject="New subject", lists=("VIP",))
    assert view.subject == "New subject" and view.lists == ("VIP",)
    assert view.status == "scheduled" and view.next_run_at is not None
    with pytest.raises(ValidationError) as error:
        app.campaigns.update(campaign_id, status="completed")
    assert error.value.field == "status"


def test_delete_removes_the_campaign_and_keeps_its_copies(app: AppContext) -> None:
    source = make(app)
    copy = app.campaigns.duplicate(source)
    app.campaigns.delete(source)
    with pytest.raises(NotFoundError):
        app.campaigns.get(source)
    assert app.campaigns.get(copy.id).parent_campaign_id is None


def test_changes_are_published_after_commit(app: AppContext) -> None:
    seen: list[Event] = []
    app.events.subscribe(seen.append)
    campaign_id = make(app)
    app.campaigns.schedule(campaign_id, first_local=datetime(2027, 1, 4, 9), timezone="UTC")
    app.campaigns.archive(campaign_id)
    changes = [e.change for e in seen if isinstance(e, CampaignChanged)]
    assert changes[:3] == [
        CampaignChange.CREATED,
        CampaignChange.SCHEDULED,
        CampaignChange.ARCHIVED,
    ]


# --- the campaign table's queries ---------------------------------------------------------


def test_page_sorts_by_next_run_with_never_runs_last_and_pages_without_overlap(
    app: AppContext,
) -> None:
    draft, later, sooner = make(app, "Draft"), make(app, "Later"), make(app, "Sooner")
    app.campaigns.schedule(later, first_local=datetime(2027, 3, 1, 9), timezone="UTC")
    app.campaigns.schedule(sooner, first_local=datetime(2027, 2, 1, 9), timezone="UTC")
    assert [c.id for c in app.campaigns.page()] == [sooner, later, draft]
    assert [c.id for c in app.campaigns.page(descending=True)] == [draft, later, sooner]
    pages = [app.campaigns.page(offset=offset, limit=2) for offset in (0, 2)]
    assert [[c.id for c in page] for page in pages] == [[sooner, later], [draft]]


def test_page_and_count_filter_by_text_in_name_or_subject_and_by_status(app: AppContext) -> None:
    make(app, "Spring news", subject="Flowers")
    autumn = make(app, "Autumn sale", subject="Leaves and SPRING cleaning")
    make(app, "100% off_", subject="Snow")
    app.campaigns.schedule(autumn, first_local=datetime(2027, 2, 1, 9), timezone="UTC")
    app.campaigns.archive(make(app, "Spring archived"))
    found = app.campaigns.page(text=" spring ", sort=CampaignSort.NAME)
    assert [c.name for c in found] == ["Autumn sale", "Spring news"]
    assert app.campaigns.count(text="spring") == 2
    assert [c.name for c in app.campaigns.page(text="spring", statuses=["scheduled"])] == [
        "Autumn sale"
    ]
    assert app.campaigns.count(statuses=["draft"]) == 2
    # LIKE's wildcards are matched as themselves.
    assert [c.name for c in app.campaigns.page(text="0% off_")] == ["100% off_"]
    assert app.campaigns.count(text="%") == 1
    assert [c.name for c in app.campaigns.page(archived=True)] == ["Spring archived"]


def test_text_and_status_filters_both_hold_when_the_text_matches_name_or_subject(
    app: AppContext,
) -> None:
    # The text's "name OR subject" must stay one term beside the status filter.
    make(app, "Spring news", subject="Flowers")
    make(app, "Autumn", subject="Spring cleaning")
    winter = make(app, "Winter", subject="Snow")
    app.campaigns.schedule(winter, first_local=datetime(2027, 2, 1, 9), timezone="UTC")
    assert app.campaigns.page(text="spring", statuses=["scheduled"]) == []
    assert app.campaigns.count(text="spring", statuses=["scheduled"]) == 0
    assert app.campaigns.count(text="spring", statuses=["draft"]) == 2


def test_page_sorts_by_name_ignoring_case_and_by_audience(app: AppContext) -> None:
    small = make(app, "beta", lists=("VIP",))
    large = make(app, "Alpha", lists=("Customers", "VIP"))
    page = app.campaigns.page(sort=CampaignSort.NAME)
    assert [c.name for c in page] == ["Alpha", "beta"]
    assert [c.audience_size for c in page] == [2, 1]
    assert [c.id for c in app.campaigns.page(sort=CampaignSort.AUDIENCE)] == [small, large]
    by_size = app.campaigns.page(sort=CampaignSort.AUDIENCE, descending=True, audience=False)
    assert [c.id for c in by_size] == [large, small]
    assert [c.audience_size for c in by_size] == [0, 0]  # not counted when not asked for


@pytest.mark.parametrize("few_sets", [3, 0], ids=["count-per-set", "one-membership-pass"])
def test_audience_counts_subscribed_contacts_once_across_lists(
    app: AppContext, few_sets: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(queries, "_FEW_SETS", few_sets)
    app.contacts.add("cy@example.com", lists=("VIP", "Newsletter"))
    app.contacts.add("dee@example.com", lists=("Customers", "Newsletter"))
    app.contacts.unsubscribe("dee@example.com")
    app.contacts.add("eve@example.com")  # on no list
    ids: dict[tuple[str, ...], int] = {
        lists: make(app, "+".join(lists), lists=lists)
        for lists in (("Customers",), ("VIP",), ("Newsletter",), ("Customers", "Newsletter"))
    }
    sizes: dict[tuple[str, ...], int] = {c.lists: c.audience_size for c in app.campaigns.list_all()}
    assert sizes == {
        ("Customers",): 2,
        ("VIP",): 2,
        ("Newsletter",): 1,
        ("Customers", "Newsletter"): 3,
    }
    with app.db.read() as session:
        assert queries.audience_sizes(session, list(ids.values())) == {
            ids[lists]: size for lists, size in sizes.items()
        }
    by_names = app.campaigns.audience_sizes([("VIP", "Customers"), ("Newsletter",), ()])
    assert by_names == {
        frozenset({"VIP", "Customers"}): 3,
        frozenset({"Newsletter"}): 1,
        frozenset(): 0,
    }


def test_timezones_and_next_run_at_are_read_without_views(app: AppContext) -> None:
    assert app.campaigns.next_run_at() is None
    paris, tokyo = make(app, "Paris"), make(app, "Tokyo")
    app.campaigns.schedule(paris, first_local=datetime(2027, 3, 1, 9), timezone="Europe/Paris")
    app.campaigns.schedule(tokyo, first_local=datetime(2027, 2, 1, 9), timezone="Asia/Tokyo")
    app.campaigns.archive(tokyo)
    assert app.campaigns.timezones([paris, tokyo, 999]) == {
        paris: "Europe/Paris",
        tokyo: "Asia/Tokyo",
    }
    assert app.campaigns.next_run_at() == app.campaigns.list_scheduled()[0].next_run_at
    assert app.campaigns.next_run_at() == datetime(2027, 3, 1, 8, 0, tzinfo=UTC)


def test_create_takes_the_keywords_of_the_design_or_a_draft_alike(app: AppContext) -> None:
    by_keywords = app.campaigns.create(
        name="By keywords",
        subject=DRAFT.subject,
        body_text=DRAFT.body_text,
        from_email=DRAFT.from_email,
        lists=["Customers", "VIP"],
    )
    by_draft = app.campaigns.create(replace(DRAFT, name="By draft", lists=("Customers", "VIP")))
    assert by_keywords.lists == by_draft.lists == ("Customers", "VIP")
    assert (by_keywords.subject, by_keywords.from_email) == (by_draft.subject, by_draft.from_email)


def test_update_with_a_draft_replaces_the_content(app: AppContext) -> None:
    campaign_id = make(app, lists=("Customers", "VIP"))
    view = app.campaigns.update(
        campaign_id, replace(DRAFT, subject="Spring is here", lists=("VIP",), from_name="Shop")
    )
    assert (view.subject, view.lists, view.from_name) == ("Spring is here", ("VIP",), "Shop")


def test_check_draft_gives_every_refusal_of_a_save_with_the_saves_own_words(
    app: AppContext,
) -> None:
    bad = replace(DRAFT, name=" ", subject="", from_email="news at shop", reply_to="nope")
    found = app.campaigns.check_draft(bad)
    assert list(found) == ["name", "subject", "from_email", "reply_to"]
    for field, message in found.items():
        # Saving says the same, field by field, and saves nothing.
        with pytest.raises(ValidationError) as refused:
            app.campaigns.create(replace(DRAFT, **{field: getattr(bad, field)}))
        assert (refused.value.field, refused.value.message) == (field, message)
    assert app.campaigns.list_all() == []
    assert app.campaigns.check_draft(DRAFT) == {}
