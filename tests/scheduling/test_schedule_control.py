"""Hold and release, skipping single sends, the calendar and the .ics export (docs/design.md
§12), with a real APScheduler thread, a real SMTP server and both database backends."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import recurring_ical_events
from icalendar import Calendar
from sqlalchemy import text

from campaign_desktop.context import AppContext
from campaign_desktop.domain.clock import ManualClock
from campaign_desktop.domain.errors import ValidationError
from campaign_desktop.domain.events import RunPhase
from tests.scheduling.test_scheduler import EventWaiter, open_app
from tests.services.sending_support import add_contacts, make_campaign
from tests.smtp_server import SmtpServer, running_smtp_server

pytestmark = [pytest.mark.both_backends, pytest.mark.usefixtures("every_backend")]

START = datetime(2030, 3, 1, 12, tzinfo=UTC)
NY = "America/New_York"


@pytest.fixture
def server() -> Iterator[SmtpServer]:
    with running_smtp_server() as running:
        yield running


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def app(data_dir: Path, server: SmtpServer, clock: ManualClock) -> Iterator[AppContext]:
    with open_app(data_dir, server, clock) as context:
        add_contacts(context, 2)
        context.scheduler.start()
        yield context


def daily(app: AppContext, first: datetime = datetime(2030, 3, 2, 9), **rule: object) -> int:
    campaign_id = make_campaign(app)
    app.campaigns.schedule(
        campaign_id, first_local=first, timezone=NY, recurrence={"type": "daily", **rule}
    )
    return campaign_id


def rows(app: AppContext) -> list[tuple[object, ...]]:
    with app.db.read() as session:
        return [
            tuple(row)
            for table in ("campaign", "campaign_run", "delivery")
            for row in session.execute(text(f"SELECT * FROM {table} ORDER BY id"))
        ]


def ny(day: int, hour: int = 9, month: int = 3) -> datetime:
    """9:00 New York on a March 2030 day, in UTC (EST until the 10th, EDT after)."""
    offset = 5 if (month, day) < (3, 10) else 4
    return datetime(2030, month, day, hour + offset, tzinfo=UTC)


# --- hold and release --------------------------------------------------------------------------


def test_a_held_campaign_does_not_fire_and_release_records_what_fell_as_skipped(
    app: AppContext, clock: ManualClock, server: SmtpServer
) -> None:
    campaign_id = daily(app)
    view = app.campaigns.hold(campaign_id)
    assert view.status == "held" and view.next_run_at is None
    assert app.scheduler.job_run_date(campaign_id) is None
    clock.set(ny(5) - timedelta(hours=1))  # the sends of the 2nd, 3rd and 4th fell while held
    assert app.scheduler.reconcile() == 0
    assert server.handler.messages == []

    view = app.campaigns.release(campaign_id)
    assert view.status == "scheduled"
    assert view.next_run_at == ny(5)  # re-armed from the next send, nothing caught up
    assert app.scheduler.job_run_date(campaign_id) == ny(5)
    runs = sorted(app.runs.for_campaign(campaign_id), key=lambda run: run.occurrence_at)
    assert [(run.occurrence_at, run.status) for run in runs] == [
        (ny(2), "skipped"),
        (ny(3), "skipped"),
        (ny(4), "skipped"),
    ]
    assert all(run.total == 0 and "on hold" in (run.error or "") for run in runs)
    assert server.handler.messages == []

    waiter = EventWaiter(app)
    clock.set(ny(5) + timedelta(seconds=1))
    assert app.scheduler.reconcile() == 1
    waiter.wait_run(RunPhase.FINISHED)
    assert len(server.handler.messages) == 2


def test_hold_is_refused_for_a_campaign_that_is_not_scheduled_and_changes_nothing(
    app: AppContext,
) -> None:
    draft = make_campaign(app)
    before = rows(app)
    with pytest.raises(ValidationError) as caught:
        app.campaigns.hold(draft)
    assert caught.value.field == "status"
    with pytest.raises(ValidationError):
        app.campaigns.release(draft)
    assert rows(app) == before


def test_a_single_send_whose_time_passed_while_held_stays_held_with_a_clear_reason(
    app: AppContext, clock: ManualClock
) -> None:
    campaign_id = make_campaign(app)
    app.campaigns.schedule(campaign_id, first_local=datetime(2030, 3, 2, 9), timezone=NY)
    app.campaigns.hold(campaign_id)
    clock.set(ny(3))
    before = rows(app)
    with pytest.raises(ValidationError) as caught:
        app.campaigns.release(campaign_id)
    assert "passed while it was on hold" in caught.value.message
    assert rows(app) == before
    assert app.campaigns.unschedule(campaign_id).status == "draft"


# --- skipping single sends -----------------------------------------------------------------------


def test_skipping_the_next_send_moves_the_job_to_the_one_after_and_undo_brings_it_back(
    app: AppContext, clock: ManualClock, server: SmtpServer
) -> None:
    campaign_id = daily(app, count=5)
    view = app.campaigns.skip_occurrence(campaign_id, ny(2))
    assert view.next_run_at == ny(3)
    assert app.scheduler.job_run_date(campaign_id) == ny(3)
    assert view.recurrence_pattern is not None
    assert view.recurrence_pattern.to_dict()["exdates"] == ["2030-03-02T09:00"]
    view = app.campaigns.unskip_occurrence(campaign_id, ny(2))
    assert view.next_run_at == ny(2)
    assert app.scheduler.job_run_date(campaign_id) == ny(2)

    app.campaigns.skip_occurrence(campaign_id, ny(3))
    waiter = EventWaiter(app)
    for number, due in enumerate((ny(2), ny(4)), start=1):
        clock.set(due + timedelta(seconds=1))
        assert app.scheduler.reconcile() == 1
        waiter.wait_run(RunPhase.FINISHED, number)
    sent = sorted(run.occurrence_at for run in app.runs.for_campaign(campaign_id))
    assert sent == [ny(2), ny(4)]  # the 3rd never went out
    # The skipped send still counts towards the five: the 5th and 6th remain.
    assert app.campaigns.get(campaign_id).next_run_at == ny(5)


def test_a_skip_across_the_dst_change_names_the_local_send(app: AppContext) -> None:
    campaign_id = daily(app, first=datetime(2030, 3, 9, 2, 30))  # 10 March 02:30 does not exist
    sends = [send for _, send in app.campaigns.calendar(ny(9, 0), ny(12, 0))]
    assert len(sends) == 3
    view = app.campaigns.skip_occurrence(campaign_id, sends[1])
    assert view.recurrence_pattern is not None
    assert view.recurrence_pattern.to_dict()["exdates"] == ["2030-03-10T02:30"]
    assert [send for _, send in app.campaigns.calendar(ny(9, 0), ny(12, 0))] == [
        sends[0],
        sends[2],
    ]


@pytest.mark.parametrize(
    ("when", "words"),
    [
        (ny(2, 10), "not a send of this campaign"),
        (START - timedelta(days=1), "in the past"),
        (datetime(2030, 3, 2, 14), "one of the campaign's sends"),  # naive
    ],
)
def test_skipping_something_that_is_not_a_future_send_is_refused(
    app: AppContext, when: datetime, words: str
) -> None:
    campaign_id = daily(app)
    before = rows(app)
    with pytest.raises(ValidationError) as caught:
        app.campaigns.skip_occurrence(campaign_id, when)
    assert caught.value.field == "occurrence"
    assert words in caught.value.message
    assert rows(app) == before


def test_skipping_the_last_send_is_refused_with_a_hint_to_unschedule(app: AppContext) -> None:
    campaign_id = daily(app, count=1)
    with pytest.raises(ValidationError) as caught:
        app.campaigns.skip_occurrence(campaign_id, ny(2))
    assert "unschedule" in caught.value.message


# --- calendar and .ics ----------------------------------------------------------------------


def test_the_calendar_lists_every_upcoming_send_and_apart_the_skipped_and_held_ones(
    app: AppContext,
) -> None:
    news = daily(app, count=4)
    weekly = make_campaign(app, name="Weekly")
    app.campaigns.schedule(
        weekly,
        first_local=datetime(2030, 3, 4, 8),
        timezone="Europe/London",
        recurrence={"type": "weekly"},
    )
    once = make_campaign(app, name="Launch")
    app.campaigns.schedule(once, first_local=datetime(2030, 3, 3, 9), timezone=NY)
    app.campaigns.skip_occurrence(news, ny(3))
    app.campaigns.hold(once)

    window = (ny(1, 0), ny(12, 0))
    got = [(view.name, send) for view, send in app.campaigns.calendar(*window)]
    assert got == [
        ("News", ny(2)),
        ("Weekly", datetime(2030, 3, 4, 8, tzinfo=UTC)),
        ("News", ny(4)),
        ("News", ny(5)),
        ("Weekly", datetime(2030, 3, 11, 8, tzinfo=UTC)),
    ]
    skips = [(view.name, view.status, send) for view, send in app.campaigns.calendar_skips(*window)]
    assert skips == [("Launch", "held", ny(3)), ("News", "scheduled", ny(3))]


def test_the_ics_export_lists_exactly_the_calendars_sends(app: AppContext) -> None:
    news = daily(app, count=6)
    app.campaigns.skip_occurrence(news, ny(4))
    weekly = make_campaign(app, name="Weekly")
    app.campaigns.schedule(
        weekly,
        first_local=datetime(2030, 3, 4, 8),
        timezone="Europe/London",
        recurrence={"type": "weekly", "count": 3},
    )
    document = app.campaigns.export_ics([news, weekly, make_campaign(app, name="Draft")])
    events = recurring_ical_events.of(Calendar.from_ical(document)).between(
        datetime(2030, 1, 1), datetime(2031, 1, 1)
    )
    from_file = sorted((str(e["SUMMARY"]), e["DTSTART"].dt.astimezone(UTC)) for e in events)
    from_app = sorted(
        (view.name, send)
        for view, send in app.campaigns.calendar(START, datetime(2031, 1, 1, tzinfo=UTC))
    )
    assert from_file == from_app
    assert len(from_app) == 5 + 3


def test_exporting_only_unscheduled_campaigns_is_refused(app: AppContext) -> None:
    with pytest.raises(ValidationError) as caught:
        app.campaigns.export_ics([make_campaign(app)])
    assert caught.value.field == "campaigns"
