"""The background scheduler: one APScheduler date job per scheduled campaign, derived from
the database (`campaign.next_run_at` is the only truth), plus a reconcile pass and start-up
catch-up of what fell due while the app was closed (docs/design.md §4).

APScheduler and filelock are imported by `start()`, not with this module: the composition
root builds the scheduler at every start, and the app starts it only after the first paint
(issue 16, docs/design.md §19). Every trigger is made while the scheduler runs, so it is
loaded then.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from campaign_desktop.domain.clock import Clock
from campaign_desktop.domain.errors import DomainError, SchedulerLockedError
from campaign_desktop.domain.events import (
    CampaignChanged,
    CatchUpReport,
    Event,
    EventBus,
    RunEvent,
    RunPhase,
    SchedulerStateChanged,
)
from campaign_desktop.domain.status import MissedRunPolicy, RunTrigger
from campaign_desktop.services.campaigns import CampaignService
from campaign_desktop.services.settings import SettingsService
from campaign_desktop.services.team import TeamChanges

if TYPE_CHECKING:
    from apscheduler.schedulers.background import BackgroundScheduler
    from filelock import BaseFileLock

    from campaign_desktop.services.sending import SendingEngine

log = logging.getLogger("campaign_desktop.scheduler")

#: An occurrence found due no later than this after its time is sent as scheduled, not as a
#: late catch-up (a reconcile pass runs every 30 s; a busy machine may add a little).
ON_TIME = timedelta(minutes=2)
#: The history retention (services/retention.py) runs this long after start, then daily.
COMPACT_AFTER_START = timedelta(minutes=2)
COMPACT_EVERY = timedelta(days=1)


class CampaignScheduler:
    """Fires due campaigns on time while the app runs; one per database (a lock file)."""

    def __init__(
        self,
        campaigns: CampaignService,
        events: EventBus,
        clock: Clock,
        sending: SendingEngine,
        settings: SettingsService,
        *,
        lock_path: Path,
        team_changes: TeamChanges | None = None,
        reconcile_seconds: float = 30.0,
        heartbeat_seconds: float = 10.0,
        check_mailbox: Callable[[], object] | None = None,
        compact_history: Callable[[threading.Event], object] | None = None,
        compact_after_start: timedelta = COMPACT_AFTER_START,
    ) -> None:
        """`lock_path`: the lock file that keeps one scheduler per SQLite file.
        `team_changes`: given in team mode (PostgreSQL), where several desktops send from
        one database and coordinate in it instead of by the lock file.
        `compact_history(stop)`: the history retention, run `compact_after_start` after
        start and then daily; it must return soon after `stop` is set (at shutdown)."""
        self._campaigns = campaigns
        # Reads the reply mailbox (docs/design.md §11): every `inbound.check_minutes` and
        # after each run ends; it logs and reports its own failures.
        self._check_mailbox = check_mailbox
        self._compact_history = compact_history
        self._compact_after_start = compact_after_start
        # Set at stop: a compaction between two chunks ends instead of holding shutdown up.
        self._stopping = threading.Event()
        self._events = events
        self._clock = clock
        self._sending = sending
        self._settings = settings
        self._reconcile_seconds = reconcile_seconds
        self._heartbeat_seconds = heartbeat_seconds
        self._team = team_changes is not None
        self._team_changes = team_changes
        self._lock_path = lock_path
        self._lock: BaseFileLock | None = None  # made by `start()` (filelock loads then)
        self._scheduler: BackgroundScheduler | None = None
        self._unsubscribe: Any = None
        self._state = threading.RLock()
        self._sending_paused = False

    @property
    def running(self) -> bool:
        return self._scheduler is not None

    @property
    def lock_path(self) -> Path:
        return self._lock_path

    @property
    def _lock_file(self) -> BaseFileLock:
        if self._lock is None:
            from filelock import FileLock  # noqa: PLC0415  (see the module docstring)

            self._lock = FileLock(str(self._lock_path), is_singleton=False)
        return self._lock

    # --- life cycle ----------------------------------------------------------------------

    def start(self) -> CatchUpReport:
        """Take the database's scheduler lock, resume interrupted runs, catch up, arm jobs."""
        with self._state:
            if self._scheduler is not None:
                return CatchUpReport((), ())
            from filelock import Timeout  # noqa: PLC0415  (see the module docstring)

            try:
                if not self._team:
                    self._lock_file.acquire(timeout=0)
            except Timeout:
                raise SchedulerLockedError(
                    "Another Campaign Desktop window is already sending from this database. "
                    "Use that window, or close it first."
                ) from None
            try:
                from apscheduler.schedulers.background import BackgroundScheduler  # noqa: PLC0415
                from apscheduler.triggers.interval import IntervalTrigger  # noqa: PLC0415

                self._sending.heartbeat()
                self._sending.resume_interrupted()
                report = self.catch_up()
                scheduler = BackgroundScheduler(
                    timezone="UTC",
                    job_defaults={
                        # A job that runs late still runs: `fire` decides from the database
                        # whether the occurrence is still due (the default grace of 1 s
                        # silently drops a job delayed by a busy machine).
                        "misfire_grace_time": None,
                        "coalesce": True,
                        "max_instances": 1,
                    },
                )
                scheduler.add_job(
                    self.reconcile,
                    IntervalTrigger(seconds=self._reconcile_seconds),
                    id="reconcile",
                )
                scheduler.add_job(
                    self._heartbeat,
                    IntervalTrigger(seconds=self._heartbeat_seconds),
                    id="heartbeat",
                )
                if self._check_mailbox is not None:
                    scheduler.add_job(
                        self._check_mailbox,
                        IntervalTrigger(minutes=self._settings.snapshot().inbound_check_minutes),
                        id="mailbox",
                    )
                if self._compact_history is not None:
                    self._stopping.clear()
                    scheduler.add_job(
                        self._compact,
                        IntervalTrigger(seconds=COMPACT_EVERY.total_seconds()),
                        id="history",
                        # APScheduler runs on the real clock, so "now" is the real now.
                        next_run_time=datetime.now(UTC) + self._compact_after_start,
                    )
                if self._team_changes is not None:
                    self._team_changes.poll()  # learn the current state; report from now on
                    scheduler.add_job(
                        self._on_team_changes,
                        IntervalTrigger(seconds=min(self._heartbeat_seconds, 2.0)),
                        id="team",
                    )
                scheduler.start()
                self._scheduler = scheduler
                self._unsubscribe = self._events.subscribe(self._on_event)
                self.sync_all()
            except BaseException:
                if not self._team:
                    self._lock_file.release()
                raise
        self._publish_state()
        return report

    def stop(self) -> None:
        """Stop firing and release the lock; runs in progress are the engine's to stop."""
        with self._state:
            scheduler, self._scheduler = self._scheduler, None
            if scheduler is None:
                return
            if self._unsubscribe is not None:
                self._unsubscribe()
                self._unsubscribe = None
        self._stopping.set()
        # Not under `_state`: a job still running may need it (sync) before it can end.
        scheduler.shutdown(wait=True)
        if self._team:
            # Gone at once, so the others take over this desktop's sends without waiting.
            with contextlib.suppress(DomainError):
                self._sending.ledger.leave()
        else:
            self._lock_file.release()
        self._publish_state()

    def pause_sending(self) -> None:
        """Hold every scheduled send (the tray's "Pause all sending"); runs in progress pause."""
        with self._state:
            self._sending_paused = True
            if self._scheduler is not None:
                self._scheduler.pause()
        for run_id in self._sending.active_run_ids():
            self._sending.pause(run_id)
        self._publish_state()

    def resume_sending(self) -> None:
        with self._state:
            self._sending_paused = False
            if self._scheduler is not None:
                self._scheduler.resume()
        self.reconcile()
        self._publish_state()

    @property
    def sending_paused(self) -> bool:
        return self._sending_paused

    # --- jobs ----------------------------------------------------------------------------

    def job_run_date(self, campaign_id: int) -> datetime | None:
        """When the campaign's job is armed to fire (None: no job)."""
        with self._state:
            if self._scheduler is None:
                return None
            job = self._scheduler.get_job(_job_id(campaign_id))
            return None if job is None else job.next_run_time

    def sync(self, campaign_id: int) -> None:
        """Make the campaign's job match the database: armed at next_run_at, or gone."""
        due = self._campaigns.armed_at(campaign_id)
        with self._state:
            if self._scheduler is None:
                return
            if due is None:
                if self._scheduler.get_job(_job_id(campaign_id)) is not None:
                    self._scheduler.remove_job(_job_id(campaign_id))
                return
            from apscheduler.triggers.date import DateTrigger  # noqa: PLC0415  (loaded by start)

            self._scheduler.add_job(
                self._fire,
                DateTrigger(run_date=due),
                args=(campaign_id, due),
                id=_job_id(campaign_id),
                replace_existing=True,
            )

    def sync_all(self) -> None:
        armed = self._campaigns.armed()
        wanted = {_job_id(campaign_id): (campaign_id, due) for campaign_id, due in armed.items()}
        with self._state:
            if self._scheduler is None:
                return
            from apscheduler.triggers.date import DateTrigger  # noqa: PLC0415  (loaded by start)

            for job in self._scheduler.get_jobs():
                if job.id.startswith("campaign-") and job.id not in wanted:
                    job.remove()
            for job_id, (campaign_id, due) in wanted.items():
                self._scheduler.add_job(
                    self._fire,
                    DateTrigger(run_date=due),
                    args=(campaign_id, due),
                    id=job_id,
                    replace_existing=True,
                )

    def reconcile(self) -> int:
        """Fire everything due that no job fired (sleep, clock jump, lost job); returns count.

        More than one overdue occurrence of a campaign (the machine slept through them) is
        dealt with by the missed-run rule, exactly as at start (`catch_up`).
        """
        if self._team:
            # Another desktop may have died mid-send: take its runs over.
            self._sending.resume_interrupted()
        if self._sending_paused:
            return 0
        report = self._deal_with_due(at_start=False)
        return len(report.sent_late) + len(report.on_time)

    def catch_up(self) -> CatchUpReport:
        """Deal with occurrences that fell due while the app was closed (docs/design.md §4)."""
        return self._deal_with_due(at_start=True)

    def _deal_with_due(self, *, at_start: bool) -> CatchUpReport:
        """The one missed-run rule, at start and whenever the scheduler finds work overdue.

        Per campaign: an occurrence due just now (within `ON_TIME`) and alone is sent as
        scheduled. Otherwise the most recent overdue occurrence is sent late once
        (`catch_up`) if the campaign's policy is `send_late` and it is within the grace
        window; every other overdue occurrence is recorded as a `missed` run, and the
        schedule moves on. The user is told (a CatchUpReport event) of anything late or missed.
        """
        now = self._clock.now()
        grace = timedelta(hours=self._settings.snapshot().schedule_grace_hours)
        on_time: list[tuple[int, datetime]] = []
        sent_late: list[tuple[int, datetime]] = []
        missed: list[tuple[int, datetime]] = []
        for campaign in self._campaigns.overdue(now):
            due = campaign.due
            last = due[-1]
            if len(due) == 1 and now - last <= ON_TIME:
                if self._sending.fire(campaign.id, last, RunTrigger.SCHEDULED):
                    on_time.append((campaign.id, last))
                self.sync(campaign.id)
                continue
            send_late = (
                campaign.missed_run_policy == MissedRunPolicy.SEND_LATE and now - last <= grace
            )
            skipped = list(due[:-1] if send_late else due)
            if skipped:
                self._sending.record_missed(
                    campaign.id, skipped, advance_after=None if send_late else last
                )
                missed.extend((campaign.id, at) for at in skipped)
            if send_late and self._sending.fire(campaign.id, last, RunTrigger.CATCH_UP):
                sent_late.append((campaign.id, last))
            self.sync(campaign.id)
        report = CatchUpReport(tuple(sent_late), tuple(missed), at_start, tuple(on_time))
        if sent_late or missed:
            log.info("catch-up: %d sent late, %d missed", len(sent_late), len(missed))
            self._events.publish(report)
        return report

    # --- internals -----------------------------------------------------------------------

    def _fire(self, campaign_id: int, occurrence_at: datetime) -> None:
        try:
            if self._clock.now() + timedelta(seconds=1) < occurrence_at:
                # The injected clock disagrees with the machine's (tests, benchmarks): not due
                # yet by the app's clock. Re-arming would spin; the reconcile pass fires it.
                return
            if not self._sending_paused:
                # Through the missed-run rule: a job that fires hours late (the machine
                # slept) must not send a backlog.
                self._deal_with_due(at_start=False)
            self.sync(campaign_id)
        except Exception:
            # A job must never die silently: log it; the reconcile pass will try again.
            log.exception("firing campaign %s at %s failed", campaign_id, occurrence_at)

    def _on_team_changes(self) -> None:
        """Publish what the other desktops changed: tables update, jobs re-arm."""
        if self._team_changes is None:
            return
        try:
            events = self._team_changes.poll()
        except DomainError as exc:
            log.warning("other desktops' changes not read: %s", exc.message)
            return
        for event in events:
            self._events.publish(event)

    def _heartbeat(self) -> None:
        try:
            self._sending.heartbeat()
        except DomainError as exc:  # the database is busy or gone for a moment
            log.warning("heartbeat not written: %s", exc.message)

    def check_mailbox_soon(self, minutes: int | None = None) -> None:
        """Read the reply mailbox now (off the caller's thread); with `minutes`, also check
        every that many minutes from now on (the setting changed)."""
        with self._state:
            if self._scheduler is None or self._check_mailbox is None:
                return
            if minutes is not None:
                from apscheduler.triggers.interval import IntervalTrigger  # noqa: PLC0415

                self._scheduler.reschedule_job("mailbox", trigger=IntervalTrigger(minutes=minutes))
            # The interval job brought forward, not a one-shot job: a one-shot job due while
            # the scheduler shuts down makes its thread fail (JobLookupError, APScheduler 3).
            # APScheduler runs on the real clock, so "now" is the real now.
            self._scheduler.modify_job("mailbox", next_run_time=datetime.now(UTC))

    def compact_history_soon(self) -> None:
        """Run the history retention now (off the caller's thread): the setting changed."""
        with self._state:
            if self._scheduler is None or self._compact_history is None:
                return
            self._scheduler.modify_job("history", next_run_time=datetime.now(UTC))

    def _compact(self) -> None:
        if self._compact_history is None:
            return
        try:
            self._compact_history(self._stopping)
        except DomainError as exc:  # the database is busy or failing: the next pass goes on
            log.warning("history retention stopped: %s", exc.message)
        except Exception:
            log.exception("history retention failed")

    def _on_event(self, event: Event) -> None:
        if isinstance(event, CampaignChanged):
            self.sync(event.campaign_id)
            self._publish_state()
        elif (
            isinstance(event, RunEvent)
            and event.phase in (RunPhase.FINISHED, RunPhase.FAILED)
            and event.run.trigger != RunTrigger.TEST
        ):
            self.check_mailbox_soon()  # bounces of a send often arrive within minutes

    def _publish_state(self) -> None:
        next_run = self._campaigns.next_run_at()
        self._events.publish(SchedulerStateChanged(self.running, self._sending_paused, next_run))


def _job_id(campaign_id: int) -> str:
    return f"campaign-{campaign_id}"
