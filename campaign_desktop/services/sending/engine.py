"""The sending engine: starts runs and works each off over several SMTP connections.

`SendingEngine` is the one door (scheduler, campaign service, GUI): it claims runs through
the `Ledger`, runs a `_RunWorker` thread per run — which starts `sending.connections`
`ConnectionSender` threads and reports progress — and publishes every run event, after
the commit it reports, from here only.

The SMTP channel, message building and Jinja2 templates (`delivery.py` and what it uses)
are imported when a run is first prepared, not with this module: the engine is built at
every start, most starts send nothing for a while, and the first paint must not wait for
them (issue 16, docs/design.md §19).
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from campaign_desktop.domain.clock import Clock
from campaign_desktop.domain.errors import DomainError, StorageError, ValidationError
from campaign_desktop.domain.events import (
    CampaignChange,
    CampaignChanged,
    EventBus,
    RunEvent,
    RunPhase,
)
from campaign_desktop.domain.status import ContactStatus, RunStatus, RunTrigger
from campaign_desktop.domain.tokens import DeliveryTokens
from campaign_desktop.domain.views import RunView
from campaign_desktop.persistence import queries
from campaign_desktop.persistence.db import Database
from campaign_desktop.persistence.models import (
    Campaign,
    Contact,
    campaign_audience,
    list_membership,
)
from campaign_desktop.services.feedback import bounced_at_send, load_tokens, reply_addresses
from campaign_desktop.services.sending.control import RunControl, Stop
from campaign_desktop.services.sending.ledger import Ledger, Outcome
from campaign_desktop.services.sending.throttle import SendThrottle
from campaign_desktop.services.settings import SettingsService

if TYPE_CHECKING:
    from campaign_desktop.channels.smtp import SmtpConnection, SmtpSettings
    from campaign_desktop.services.sending.delivery import ConnectionFactory, Job, RunShared

log = logging.getLogger("campaign_desktop.sending")

#: How often a run reports its progress (counts from the ledger, and the rate).
PROGRESS_SECONDS = 0.5
#: How long the connections left after some retired (the server asked for fewer) must go
#: without another slow-down before one more is added back (design §9).
REGROW_SECONDS = 60.0
#: The rate a progress event carries is measured over this many seconds.
RATE_WINDOW_SECONDS = 5.0
#: After a stop request, how long connections may finish the message in hand before their
#: sockets are cut (a silent server must not hold up pause, cancel or quit).
STOP_GRACE_SECONDS = 1.5


class SendingEngine:
    """Starts runs (scheduled, catch-up, manual, test) and works them off in worker threads."""

    def __init__(
        self,
        db: Database,
        events: EventBus,
        clock: Clock,
        settings: SettingsService,
        *,
        connect: ConnectionFactory | None = None,
        desktop_id: str | None = None,
        heartbeat_seconds: float = 10.0,
    ) -> None:
        self._db = db
        self._events = events
        self._clock = clock
        self._settings = settings
        self._connect: ConnectionFactory = connect or smtp_connection
        self.desktop_id = desktop_id or uuid.uuid4().hex
        #: A desktop whose heartbeat is older than this is gone (team mode).
        self.lease = timedelta(seconds=3 * heartbeat_seconds)
        self.ledger = Ledger(db, clock, self.desktop_id)
        self.throttle = SendThrottle(db, clock)
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._workers: dict[int, _RunWorker] = {}
        self._closed = False
        self._tokens: DeliveryTokens | None = None

    # --- starting runs -------------------------------------------------------------------

    def fire(
        self, campaign_id: int, occurrence_at: datetime, trigger: RunTrigger
    ) -> RunView | None:
        """Claim a scheduled occurrence, advance the campaign's next run, start sending.

        Returns None when the occurrence was already claimed (by another thread, trigger or
        process) or is no longer due: exactly one run ever exists per occurrence.
        """
        try:
            claimed = self.ledger.claim_occurrence(campaign_id, occurrence_at, trigger)
        except IntegrityError:
            log.info("occurrence %s of campaign %s already claimed", occurrence_at, campaign_id)
            return None
        if claimed is None:
            return None
        view, name = claimed
        self._started(view, name)
        return view

    def record_missed(
        self, campaign_id: int, missed: list[datetime], *, advance_after: datetime | None
    ) -> list[RunView]:
        """Record occurrences that were not sent as `missed` runs (idempotent).

        With `advance_after`, the schedule moves on past that instant too.
        """
        recorded = self.ledger.record_missed(campaign_id, missed, advance_after=advance_after)
        if recorded is None:
            return []
        views, name = recorded
        for view in views:
            self._publish(RunPhase.MISSED, view, name, view.error or "", campaign_changed=False)
        self._events.publish(CampaignChanged(campaign_id, CampaignChange.STATUS))
        return views

    def send_manual(
        self, campaign_id: int, check: Callable[[Campaign], None] | None = None
    ) -> RunView:
        """A run started by hand now; it does not move the campaign's schedule.

        `check` runs inside the claiming transaction (it may raise ValidationError), so the
        check and the claim cannot be split by another change.
        """
        view, name = self.ledger.claim_manual(campaign_id, check)
        self._started(view, name)
        return view

    def send_test(self, campaign_id: int, addresses: Sequence[str]) -> RunView:
        """A `test` run to `addresses`, rendered with the first audience member's data."""
        view, name = self.ledger.create_test_run(campaign_id, addresses)
        self._submit(view.id, started=(view, name))
        return view

    def resume_interrupted(self) -> list[RunView]:
        """Take over and resume runs left `sending` by a desktop that is gone.

        Their rows in flight on the gone desktop become unconfirmed (never resent). On the
        SQLite file only the process holding the scheduler's file lock calls this, so any
        other owner is dead; in team mode a desktop is gone when its heartbeat is older
        than the lease, and a live desktop's run is never touched.
        """
        alive = self.alive_desktops()
        resumed = []
        for run_id in self.ledger.orphaned_runs(alive):
            with self._lock:
                if run_id in self._workers:
                    continue
            view = self.ledger.take_over(run_id, alive)
            if view is None:
                continue  # another desktop was quicker, or the owner came back
            log.warning("resuming run %s; %s unconfirmed recipients", run_id, view.unconfirmed)
            self._submit(run_id)
            resumed.append(view)
        return resumed

    def alive_desktops(self) -> set[str]:
        """The desktops sending from this database now (just this one on the SQLite file)."""
        if self._db.engine.dialect.name == "sqlite":
            return {self.desktop_id}
        return self.ledger.alive_desktops(self.lease)

    def heartbeat(self) -> None:
        """Tell the other desktops this one is alive (the scheduler calls it regularly)."""
        self.ledger.heartbeat(socket.gethostname(), os.getpid())

    # --- controlling runs ----------------------------------------------------------------

    def pause(self, run_id: int) -> None:
        """Stop after the message in hand; the rest waits as pending until `resume`."""
        if not self._request(run_id, Stop.PAUSE):
            self.ledger.pause_idle(run_id)
            self._events.publish(CampaignChanged(self._campaign_of(run_id), CampaignChange.STATUS))

    def resume(self, run_id: int) -> None:
        view, name = self.ledger.resume(run_id)
        self._publish(RunPhase.RESUMED, view, name)
        self._submit(run_id)

    def cancel(self, run_id: int) -> None:
        """Stop for good: recipients not yet sent to are skipped."""
        if self._request(run_id, Stop.CANCEL):
            return
        if self.ledger.run_status(run_id) not in (RunStatus.PAUSED, RunStatus.SENDING):
            raise ValidationError("status", "This send has already ended.")
        view, name = self.ledger.finish(run_id, "cancel", None)
        self._publish(RunPhase.CANCELLED, view, name)

    def active_run_ids(self) -> list[int]:
        with self._lock:
            return list(self._workers)

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until no run is being worked on here (tests and shutdown use this)."""
        with self._idle:
            return self._idle.wait_for(lambda: not self._workers, timeout)

    def shutdown(self, timeout: float = 10.0) -> None:
        """Stop every run now (connections cut after a short grace); they stay `sending`
        and resume at the next start."""
        with self._lock:
            self._closed = True
            workers = list(self._workers.values())
        for worker in workers:
            worker.control.request(Stop.SHUTDOWN)
        self.wait_idle(timeout)

    # --- internals -----------------------------------------------------------------------

    def _campaign_of(self, run_id: int) -> int:
        with self._db.read() as session:
            return queries.load_run(session, run_id).campaign_id

    def _started(self, view: RunView, name: str) -> None:
        self._submit(view.id, started=(view, name))

    def _publish(
        self,
        phase: RunPhase,
        view: RunView,
        name: str,
        message: str = "",
        *,
        campaign_changed: bool = True,
        rate: float | None = None,
    ) -> None:
        """The one place run events leave the engine (always after the commit they report)."""
        self._events.publish(RunEvent(phase, view, name, message, rate))
        if campaign_changed and view.trigger != RunTrigger.TEST:
            self._events.publish(CampaignChanged(view.campaign_id, CampaignChange.STATUS))

    def _submit(self, run_id: int, *, started: tuple[RunView, str] | None = None) -> None:
        """Register the run's worker (so `wait_idle` sees it at once), say STARTED when
        `started` is given, then let the worker go."""
        with self._lock:
            if self._closed:
                log.info("not starting run %s: the engine is shutting down", run_id)
                return
            if run_id in self._workers:
                return
            worker = _RunWorker(self, run_id)
            self._workers[run_id] = worker
        if started is not None:
            view, name = started
            self._publish(RunPhase.STARTED, view, name)
        worker.start()

    def _request(self, run_id: int, reason: Stop) -> bool:
        with self._lock:
            worker = self._workers.get(run_id)
        if worker is None:
            return False
        worker.control.request(reason)
        return True

    def _worker_done(self, run_id: int) -> None:
        with self._idle:
            self._workers.pop(run_id, None)
            self._idle.notify_all()

    def _prepare(self, run_id: int) -> Job:
        # The sending stack, loaded by the first run (see the module docstring).
        from campaign_desktop.channels.message import MessageTemplate  # noqa: PLC0415
        from campaign_desktop.domain.templates import compile_campaign_templates  # noqa: PLC0415
        from campaign_desktop.services.sending.delivery import Job  # noqa: PLC0415

        tokens = self._delivery_tokens()  # before the read: it may write the secret once
        settings = self._settings.all()
        with self._db.read() as session:
            run = queries.load_run(session, run_id)
            campaign = queries.load_campaign(session, run.campaign_id)
            keys = queries.attribute_keys(session)
            templates = compile_campaign_templates(
                campaign.subject, campaign.body_text, campaign.body_html, keys
            )
            is_test = run.trigger == RunTrigger.TEST
            replies = reply_addresses(settings, campaign.reply_to, campaign.from_email)
            unsubscribe = replies.unsubscribe
            test_context = _test_context(session, campaign, keys, unsubscribe) if is_test else None
            return Job(
                run_id=run_id,
                campaign_name=campaign.name,
                is_test=is_test,
                templates=templates,
                message=MessageTemplate(
                    from_email=campaign.from_email,
                    from_name=campaign.from_name,
                    reply_to=campaign.reply_to,
                    list_unsubscribe_mailto=unsubscribe,
                    unsubscribe_page_url=replies.page_url,
                    verp_address=replies.verp,
                ),
                unsubscribe_address=unsubscribe,
                test_context=test_context,
                tokens=tokens,
                unsubscribe_page=replies.page_url,
            )

    def _delivery_tokens(self) -> DeliveryTokens:
        # Read once per engine: the secret never changes once made (docs/design.md §11).
        if self._tokens is None:
            self._tokens = load_tokens(self._db)
        return self._tokens

    def _bounced_at_send(self, delivery_id: int, reason: str) -> None:
        bounced_at_send(self._db, delivery_id, reason, self._clock.now())

    def _shared(self, job: Job, control: RunControl) -> tuple[RunShared, int]:
        from campaign_desktop.services.sending.delivery import RetryPolicy, RunShared  # noqa: PLC0415

        settings = self._settings.snapshot()
        self.throttle.configure(
            per_minute=settings.throttle_per_minute, per_hour=settings.throttle_per_hour
        )
        policy = RetryPolicy(
            attempts=settings.sending_max_attempts,
            base_delay=settings.sending_retry_base_seconds,
            storage_seconds=settings.sending_storage_retry_seconds,
        )
        shared = RunShared(
            job=job,
            ledger=self.ledger,
            throttle=self.throttle,
            clock=self._clock,
            control=control,
            policy=policy,
            smtp=self._settings.smtp_settings_of(settings),
            connect=self._connect,
            no_such_user=self._bounced_at_send,
        )
        return shared, settings.sending_connections


class _RunWorker(threading.Thread):
    """One run: starts its connections, reports progress, ends the run in the ledger."""

    def __init__(self, engine: SendingEngine, run_id: int) -> None:
        super().__init__(name=f"send-run-{run_id}", daemon=True)
        self.engine = engine
        self.run_id = run_id
        self.control = RunControl()
        self._campaign_name = ""

    def run(self) -> None:
        engine = self.engine
        try:
            self._work()
        except Exception as exc:  # a bug: the run ends failed and says so, never silently
            log.exception("run %s failed", self.run_id)
            message = f"Internal error: {exc.__class__.__name__}: {exc}"
            try:
                view, name = engine.ledger.fail(self.run_id, message)
                engine._publish(RunPhase.FAILED, view, name, message)
            except DomainError:
                log.exception("run %s: could not record the failure", self.run_id)
        finally:
            engine._worker_done(self.run_id)

    def _work(self) -> None:
        engine, control = self.engine, self.control
        try:
            job = engine._prepare(self.run_id)
            self._campaign_name = job.campaign_name
            shared, connections = engine._shared(job, control)
        except DomainError as exc:  # no password, no keyring, a template gone bad, …
            self._end(Stop.PAUSE, exc.message, [])
            return

        threads = [self._connection_thread(shared, index) for index in range(connections)]
        for thread in threads:
            thread.start()
        self._watch(shared, threads, connections)
        self._end(control.reason, control.message, shared.unrecorded)

    def _connection_thread(self, shared: RunShared, index: int) -> threading.Thread:
        from campaign_desktop.services.sending.delivery import ConnectionSender  # noqa: PLC0415

        sender = ConnectionSender(shared)
        return threading.Thread(target=sender.run, name=f"send-{self.run_id}-{index}", daemon=True)

    def _watch(self, shared: RunShared, threads: list[threading.Thread], wanted: int) -> None:
        """Wait for the connections, reporting progress; cut them if a stop drags on; add
        back, one at a time, connections that retired when the server asked for fewer."""
        stop_seen: float | None = None
        # (instant, sent) of the last few seconds: the rate over a window reads steadily.
        samples: collections.deque[tuple[float, int]] = collections.deque()
        while any(thread.is_alive() for thread in threads):
            for thread in threads:
                thread.join(PROGRESS_SECONDS / len(threads))
            if self.control.stop.is_set():
                stop_seen = stop_seen or time.monotonic()
                if time.monotonic() - stop_seen > STOP_GRACE_SECONDS:
                    shared.abort_all()
                continue
            try:
                view = self.engine.ledger.progress(self.run_id)
            except StorageError:
                continue  # the connections deal with a failing database
            now = time.monotonic()
            samples.append((now, view.sent))
            while now - samples[0][0] > RATE_WINDOW_SECONDS:
                samples.popleft()
            rate = None
            if now > samples[0][0]:
                rate = (view.sent - samples[0][1]) / (now - samples[0][0])
            self.engine._publish(
                RunPhase.PROGRESS,
                view,
                self._campaign_name,
                shared.waiting_note(view.pending),
                campaign_changed=False,
                rate=rate,
            )
            if shared.may_grow(wanted, REGROW_SECONDS):
                thread = self._connection_thread(shared, len(threads))
                thread.start()
                threads.append(thread)

    def _end(self, stop: Stop | None, message: str | None, unrecorded: list[Outcome]) -> None:
        """Write what is left and end the run; a failing database is retried until it
        works (or the app quits: then the rows in flight are unconfirmed at the next start)."""
        engine = self.engine
        if stop is Stop.SHUTDOWN:
            # Left `sending` on purpose: the next start resumes it. One try each, no waiting:
            # what cannot be written now is unconfirmed at the next start.
            with contextlib.suppress(StorageError):
                engine.ledger.record(unrecorded)
                engine.ledger.progress(self.run_id)
            return
        if unrecorded:
            # The database failed: say so now, while we wait for it.
            with contextlib.suppress(StorageError):
                view = engine.ledger.view(self.run_id)
                engine._publish(RunPhase.PAUSED, view, self._campaign_name, message or "")
        if not self._retry_until_written(lambda: engine.ledger.record(unrecorded)):
            return
        how = {Stop.PAUSE: "pause", Stop.CANCEL: "cancel"}.get(stop, "done") if stop else "done"
        ended: list[tuple[RunView, str]] = []
        if not self._retry_until_written(
            lambda: ended.append(engine.ledger.finish(self.run_id, how, message))
        ):
            return
        view, name = ended[0]
        phase = {
            "pause": RunPhase.PAUSED,
            "cancel": RunPhase.CANCELLED,
        }.get(how, RunPhase.FAILED if view.status == RunStatus.FAILED else RunPhase.FINISHED)
        engine._publish(phase, view, name, message or view.error or "")

    def _retry_until_written(self, write: Callable[[], object]) -> bool:
        """Keep trying a ledger write through storage failures; False if the app quit first."""
        delay = 0.2
        while True:
            try:
                write()
                return True
            except StorageError as exc:
                log.warning("run %s: %s; trying again", self.run_id, exc.message)
                if self.control.shutdown.wait(delay):
                    return False
                delay = min(delay * 2, 5.0)


def smtp_connection(settings: SmtpSettings) -> SmtpConnection:
    """The engine's default `ConnectionFactory`: a real SMTP connection (`channels/smtp.py`,
    imported here, on the first connection)."""
    from campaign_desktop.channels.smtp import SmtpConnection  # noqa: PLC0415

    return SmtpConnection(settings)


def _test_context(
    session: Session, campaign: Campaign, keys: list[str], unsubscribe: str
) -> dict[str, object]:
    from campaign_desktop.domain.templates import build_render_context, sample_context  # noqa: PLC0415

    first = session.scalars(
        select(Contact)
        .join(list_membership, list_membership.c.contact_id == Contact.id)
        .join(campaign_audience, campaign_audience.c.list_id == list_membership.c.list_id)
        .where(
            campaign_audience.c.campaign_id == campaign.id,
            Contact.status == ContactStatus.SUBSCRIBED,
        )
        .order_by(Contact.id)
        .limit(1)
    ).first()
    if first is None:
        return sample_context(keys, campaign.name, unsubscribe)
    return build_render_context(
        contact_email=first.email,
        first_name=first.first_name,
        last_name=first.last_name,
        attributes={key: first.attributes.get(key, "") for key in keys},
        campaign_name=campaign.name,
        unsubscribe_mailto=unsubscribe,
    )
