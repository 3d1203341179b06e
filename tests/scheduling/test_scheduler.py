"""The background scheduler with a real APScheduler thread, real SMTP server, real SQLite."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

# Scheduled dates lie years ahead of the machine's clock, so the APScheduler date jobs never
# fire on their own while a test moves the injected clock; the reconcile pass does.
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from campaign_desktop.context import AppContext
from campaign_desktop.domain.clock import ManualClock
from campaign_desktop.domain.errors import SchedulerLockedError
from campaign_desktop.domain.events import CatchUpReport, Event, RunEvent, RunPhase
from campaign_desktop.domain.status import RunTrigger
from tests.services.sending_support import add_contacts, configure_smtp, make_campaign
from tests.smtp_server import SmtpServer, running_smtp_server

NEW_YORK = ZoneInfo("America/New_York")


pytestmark = [pytest.mark.both_backends, pytest.mark.usefixtures("every_backend")]


@pytest.fixture
def server() -> Iterator[SmtpServer]:
    with running_smtp_server() as running:
        yield running


def open_app(
    data_dir: Path,
    server: SmtpServer,
    clock: ManualClock | None = None,
    reconcile_seconds: float = 30.0,
) -> AppContext:
    app = AppContext.open(data_dir, clock=clock, reconcile_seconds=reconcile_seconds)
    configure_smtp(app, server.port)
    return app


class EventWaiter:
    """Collects events from the bus; waits on a condition, never sleeps blindly."""

    def __init__(self, app: AppContext) -> None:
        self.events: list[Event] = []
        self._cond = threading.Condition()
        app.events.subscribe(self._on_event)

    def _on_event(self, event: Event) -> None:
        with self._cond:
            self.events.append(event)
            self._cond.notify_all()

    def wait_run(self, phase: RunPhase, count: int = 1, timeout: float = 10.0) -> list[RunEvent]:
        def matching() -> list[RunEvent]:
            return [e for e in self.events if isinstance(e, RunEvent) and e.phase == phase]

        with self._cond:
            assert self._cond.wait_for(lambda: len(matching()) >= count, timeout), self.events
            return matching()


def test_campaign_due_in_two_seconds_is_sent_by_its_date_job_at_the_due_time(
    data_dir: Path, server: SmtpServer
) -> None:
    # How soon after the due instant the message arrives is a benchmark figure ("firing
    # latency", benchmarks/fig_send.py), not a test: a clock bound here flakes on a busy
    # machine. What is tested: the date job sends it (the first reconcile pass comes 30 s
    # after start, past the wait), never before it is due.
    with open_app(data_dir, server, reconcile_seconds=30.0) as app:
        add_contacts(app, 1)
        campaign_id = make_campaign(app)
        app.scheduler.start()
        # Whole seconds on the wall clock: pick the first that is at least 2 s away.
        due = (datetime.now(UTC) + timedelta(seconds=3)).replace(microsecond=0)
        app.campaigns.schedule(campaign_id, first_local=due.replace(tzinfo=None), timezone="UTC")
        assert app.scheduler.job_run_date(campaign_id) == due
        assert server.handler.wait_for(1, timeout=10)
        assert datetime.now(UTC) >= due
        (run,) = app.runs.for_campaign(campaign_id)
        assert run.trigger == "scheduled" and run.occurrence_at == due


def test_daily_campaign_rearms_at_the_same_wall_clock_time_across_dst(
    data_dir: Path, server: SmtpServer
) -> None:
    clock = ManualClock(datetime(2030, 11, 1, 12, tzinfo=UTC))
    with open_app(data_dir, server, clock) as app:
        add_contacts(app, 1)
        campaign_id = make_campaign(app)
        app.scheduler.start()
        app.campaigns.schedule(
            campaign_id,
            first_local=datetime(2030, 11, 2, 9, 0),
            timezone="America/New_York",
            recurrence={"type": "daily"},
        )
        expected = [
            datetime(2030, 11, 2, 13, tzinfo=UTC),  # EDT
            datetime(2030, 11, 3, 14, tzinfo=UTC),  # EST from the fall-back day on
            datetime(2030, 11, 4, 14, tzinfo=UTC),
        ]
        waiter = EventWaiter(app)
        for number, due in enumerate(expected[:2], start=1):
            assert app.campaigns.get(campaign_id).next_run_at == due
            assert app.scheduler.job_run_date(campaign_id) == due
            clock.set(due + timedelta(seconds=1))
            assert app.scheduler.reconcile() == 1
            waiter.wait_run(RunPhase.FINISHED, number)
        view = app.campaigns.get(campaign_id)
        assert view.next_run_at == expected[2]
        assert app.scheduler.job_run_date(campaign_id) == expected[2]
        assert view.status == "scheduled"
        local_times = {
            run.occurrence_at.astimezone(NEW_YORK).time()
            for run in app.runs.for_campaign(campaign_id)
        }
        assert local_times == {datetime(2030, 1, 1, 9).time()}


def _schedule_daily(app: AppContext, campaign_id: int, **recurrence: object) -> None:
    app.campaigns.schedule(
        campaign_id,
        first_local=datetime(2030, 12, 1, 9, 0),
        timezone="UTC",
        recurrence={"type": "daily", **recurrence},
    )


@pytest.mark.parametrize(
    ("closed_until", "policy", "late", "missed"),
    [
        (datetime(2030, 12, 1, 10, tzinfo=UTC), "send_late", 1, 0),  # one occurrence, 1 h late
        (datetime(2030, 12, 3, 10, tzinfo=UTC), "send_late", 1, 2),  # three: one late, two missed
        (datetime(2030, 12, 1, 10, tzinfo=UTC), "skip", 0, 1),
        (datetime(2030, 12, 2, 9, 30, tzinfo=UTC), "skip", 0, 2),
    ],
)
def test_missed_occurrences_collapse_into_at_most_one_late_send(
    data_dir: Path,
    server: SmtpServer,
    closed_until: datetime,
    policy: str,
    late: int,
    missed: int,
) -> None:
    clock = ManualClock(datetime(2030, 11, 30, tzinfo=UTC))
    with open_app(data_dir, server, clock) as app:
        add_contacts(app, 2)
        campaign_id = make_campaign(app)
        app.campaigns.update(campaign_id, missed_run_policy=policy)
        _schedule_daily(app, campaign_id)
    clock.set(closed_until)
    with open_app(data_dir, server, clock) as app:
        waiter = EventWaiter(app)
        report = app.scheduler.start()
        assert len(report.sent_late) == late and len(report.missed) == missed
        if late:
            waiter.wait_run(RunPhase.FINISHED)
        runs = app.runs.for_campaign(campaign_id)
        assert sorted(run.trigger for run in runs if run.status != "missed") == ["catch_up"] * late
        assert len([run for run in runs if run.status == "missed"]) == missed
        assert len(server.handler.messages) == 2 * late
        if late:
            (caught,) = [run for run in runs if run.trigger == "catch_up"]
            assert caught.occurrence_at == closed_until.replace(hour=9, minute=0)
        next_run = app.campaigns.get(campaign_id).next_run_at
        assert next_run is not None and next_run > closed_until
        assert [e for e in waiter.events if isinstance(e, CatchUpReport)] == [report]


def test_missed_send_beyond_the_grace_window_is_not_sent(
    data_dir: Path, server: SmtpServer
) -> None:
    clock = ManualClock(datetime(2030, 11, 30, tzinfo=UTC))
    with open_app(data_dir, server, clock) as app:
        add_contacts(app, 1)
        campaign_id = make_campaign(app)
        app.settings.set("schedule.grace_hours", 2)
        app.campaigns.schedule(campaign_id, first_local=datetime(2030, 12, 1, 9, 0), timezone="UTC")
    clock.set(datetime(2030, 12, 1, 11, 30, tzinfo=UTC))
    with open_app(data_dir, server, clock) as app:
        report = app.scheduler.start()
        assert report.sent_late == () and len(report.missed) == 1
        (run,) = app.runs.for_campaign(campaign_id)
        assert run.status == "missed"
        assert app.campaigns.get(campaign_id).status == "completed"
        assert server.handler.messages == []


def test_one_scheduler_per_sqlite_file_several_per_team_database(
    data_dir: Path, server: SmtpServer, backend: str
) -> None:
    with open_app(data_dir, server) as first, open_app(data_dir, server) as second:
        first.scheduler.start()
        if backend == "sqlite":  # one sending app per file (the lock file beside it)
            with pytest.raises(SchedulerLockedError, match="already sending"):
                second.scheduler.start()
            first.scheduler.stop()
            second.scheduler.start()  # the lock is free again
            assert second.scheduler.running
        else:  # team mode: desktops share the database and see each other alive
            second.scheduler.start()
            both = {first.sending.desktop_id, second.sending.desktop_id}
            assert first.sending.alive_desktops() == both == second.sending.alive_desktops()


def test_double_fire_from_threads_and_contexts_yields_one_run(
    data_dir: Path, server: SmtpServer
) -> None:
    clock = ManualClock(datetime(2030, 11, 30, tzinfo=UTC))
    with open_app(data_dir, server, clock) as app, open_app(data_dir, server, clock) as other:
        add_contacts(app, 3)
        campaign_id = make_campaign(app)
        _schedule_daily(app, campaign_id)
        due = datetime(2030, 12, 1, 9, tzinfo=UTC)
        clock.set(due)
        barrier = threading.Barrier(4)
        results: list[object] = []

        def fire(ctx: AppContext) -> None:
            barrier.wait()
            results.append(ctx.sending.fire(campaign_id, due, RunTrigger.SCHEDULED))

        threads = [threading.Thread(target=fire, args=(ctx,)) for ctx in (app, app, other, other)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len([r for r in results if r is not None]) == 1
        assert app.sending.wait_idle(10) and other.sending.wait_idle(10)
        assert len(app.runs.for_campaign(campaign_id)) == 1
        assert len(server.handler.messages) == 3


def test_archive_removes_the_job_restore_does_not_rearm_and_delete_removes_it(
    data_dir: Path, server: SmtpServer
) -> None:
    clock = ManualClock(datetime(2030, 11, 30, tzinfo=UTC))
    with open_app(data_dir, server, clock) as app:
        add_contacts(app, 1)
        first, second = make_campaign(app, "First"), make_campaign(app, "Second")
        app.scheduler.start()
        _schedule_daily(app, first)
        _schedule_daily(app, second)
        assert app.scheduler.job_run_date(first) is not None
        app.campaigns.archive(first)
        assert app.scheduler.job_run_date(first) is None
        app.campaigns.restore(first)
        assert app.scheduler.job_run_date(first) is None
        assert app.scheduler.job_run_date(second) is not None
        app.campaigns.unschedule(second)
        assert app.scheduler.job_run_date(second) is None
        _schedule_daily(app, second)
        app.campaigns.delete(second)
        assert app.scheduler.job_run_date(second) is None
        clock.set(datetime(2030, 12, 5, tzinfo=UTC))
        assert app.scheduler.reconcile() == 0  # nothing fires by itself after all that


def test_reconcile_pass_fires_what_became_due_without_its_job(
    data_dir: Path, server: SmtpServer
) -> None:
    clock = ManualClock(datetime(2030, 11, 30, tzinfo=UTC))
    with open_app(data_dir, server, clock, reconcile_seconds=0.2) as app:
        add_contacts(app, 1)
        campaign_id = make_campaign(app)
        app.scheduler.start()
        app.campaigns.schedule(campaign_id, first_local=datetime(2030, 12, 1, 9, 0), timezone="UTC")
        waiter = EventWaiter(app)
        # The machine's clock is far from 1 December: the date job itself will not fire.
        clock.set(datetime(2030, 12, 1, 9, 0, 5, tzinfo=UTC))  # the clock jumps
        (started,) = waiter.wait_run(RunPhase.STARTED)
        assert started.run.occurrence_at == datetime(2030, 12, 1, 9, tzinfo=UTC)
        waiter.wait_run(RunPhase.FINISHED)
        assert len(server.handler.messages) == 1
        assert app.campaigns.get(campaign_id).status == "completed"


def test_close_stops_the_scheduler_and_releases_the_lock(
    data_dir: Path, server: SmtpServer
) -> None:
    app = open_app(data_dir, server)
    app.scheduler.start()
    lock = app.scheduler.lock_path
    app.close()
    assert not app.scheduler.running
    with open_app(data_dir, server) as again:
        again.scheduler.start()
        assert again.scheduler.running
    assert lock.name.endswith(".lock")
