"""The sending engine: claims occurrences, snapshots audiences, and sends runs in workers.

Guarantee (DESIGN §5): no recipient gets one occurrence twice, even if the process dies at
any instant. A batch of `delivery` rows is committed `in_flight` before any SMTP traffic
and `sent`/`failed` after; rows found `in_flight` at the next start became `unconfirmed`
(never resent silently), so at most one batch per run can end up unconfirmed.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from campaign_desktop.channels.message import MessageTemplate
from campaign_desktop.channels.smtp import (
    SmtpAuthError,
    SmtpConnectError,
    SmtpConnection,
    SmtpError,
    SmtpRecipientRefused,
    SmtpSenderRefused,
    SmtpSettings,
    SmtpTransientError,
    SmtpUnconfirmedError,
)
from campaign_desktop.domain.clock import Clock
from campaign_desktop.domain.errors import DomainError, ValidationError
from campaign_desktop.domain.events import (
    CampaignChange,
    CampaignChanged,
    EventBus,
    RunEvent,
    RunPhase,
)
from campaign_desktop.domain.recurrence import RecurrencePattern, next_occurrence_after
from campaign_desktop.domain.status import (
    CampaignStatus,
    ContactStatus,
    DeliveryStatus,
    RunStatus,
    RunTrigger,
)
from campaign_desktop.domain.templates import (
    CampaignTemplates,
    build_render_context,
    compile_campaign_templates,
    sample_context,
)
from campaign_desktop.domain.views import RunView
from campaign_desktop.persistence import queries
from campaign_desktop.persistence.db import Database
from campaign_desktop.persistence.models import (
    Campaign,
    CampaignRun,
    Contact,
    Delivery,
    campaign_audience,
    list_membership,
)
from campaign_desktop.services.settings import SettingsService
from campaign_desktop.services.throttle import SendThrottle

log = logging.getLogger("campaign_desktop.sending")

ConnectionFactory = Callable[[SmtpSettings], SmtpConnection]

_UNCONFIRMED_NOTE = (
    "It may or may not have been delivered, so it was not resent (to avoid sending it twice)."
)
_INTERRUPTED_NOTE = "The app stopped while this message was being handed to the mail server. "


class _Stop(StrEnum):
    PAUSE = "pause"
    CANCEL = "cancel"
    SHUTDOWN = "shutdown"


@dataclass
class _RunControl:
    """How the GUI (or shutdown) asks a worker to stop; the worker checks between messages."""

    stop: threading.Event = field(default_factory=threading.Event)
    reason: _Stop | None = None

    def request(self, reason: _Stop) -> None:
        self.reason = reason
        self.stop.set()


@dataclass(frozen=True)
class _Recipient:
    delivery_id: int
    email: str
    first_name: str
    last_name: str
    attributes: dict[str, Any]


@dataclass(frozen=True)
class _Job:
    """Everything a worker needs for one run, read once: nothing ORM crosses the thread."""

    run_id: int
    campaign_id: int
    campaign_name: str
    is_test: bool
    templates: CampaignTemplates
    message: MessageTemplate  # the sender and the headers every message shares, made once
    unsubscribe_address: str
    test_context: dict[str, object] | None


@dataclass(frozen=True)
class _Result:
    """What became of one recipient: `pending` means not delivered and not to count as failed
    (never tried, or the run must pause: then `pause_message` says why)."""

    status: DeliveryStatus
    attempts: int
    error: str | None = None
    message_id: str | None = None
    pause_message: str | None = None


@dataclass
class _BatchOutcome:
    """Each delivery's result, as rows for one bulk UPDATE, and why the run must pause."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    pause_message: str | None = None

    def add(self, delivery_id: int, result: _Result, sent_at: datetime) -> None:
        self.rows.append(
            {
                "id": delivery_id,
                "status": result.status,
                "attempts": result.attempts,
                "last_error": result.error,
                "smtp_message_id": result.message_id,
                "sent_at": sent_at if result.status == DeliveryStatus.SENT else None,
            }
        )
        self.pause_message = self.pause_message or result.pause_message

    def count(self, status: DeliveryStatus) -> int:
        return sum(1 for row in self.rows if row["status"] == status)


class SendingEngine:
    """Starts runs (scheduled, catch-up, manual, test) and works them off in worker threads."""

    def __init__(
        self,
        db: Database,
        events: EventBus,
        clock: Clock,
        settings: SettingsService,
        *,
        connect: ConnectionFactory = SmtpConnection,
        max_workers: int = 4,
    ) -> None:
        self._db = db
        self._events = events
        self._clock = clock
        self._settings = settings
        self._connect = connect
        self._executor = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="send")
        self._lock = threading.Lock()
        self._controls: dict[int, _RunControl] = {}
        self._futures: dict[int, Future[None]] = {}
        self._idle = threading.Condition(self._lock)
        self._closed = False
        self.throttle = SendThrottle(clock)

    # --- starting runs -------------------------------------------------------------------

    def fire(
        self, campaign_id: int, occurrence_at: datetime, trigger: RunTrigger
    ) -> RunView | None:
        """Claim a scheduled occurrence, advance the campaign's next run, start sending.

        Returns None when the occurrence was already claimed (by another thread, trigger or
        process) or is no longer due: exactly one run ever exists per occurrence.
        """
        try:
            with self._db.write() as session:
                campaign = session.get(Campaign, campaign_id)
                if campaign is None or campaign.archived or campaign.next_run_at is None:
                    return None
                if campaign.next_run_at > occurrence_at:
                    return None  # a stale job: this occurrence was already dealt with
                run = self._claim(session, campaign, occurrence_at, trigger)
                self._advance(campaign, after=occurrence_at)
                view = queries.run_view(run)
        except IntegrityError:
            log.info("occurrence %s of campaign %s already claimed", occurrence_at, campaign_id)
            return None
        self._started(view, campaign_id)
        return view

    def record_missed(
        self, campaign_id: int, missed: list[datetime], *, advance_after: datetime | None
    ) -> list[RunView]:
        """Record occurrences that were not sent (app closed) as `missed` runs.

        With `advance_after`, the schedule moves on past that instant too.
        """
        views: list[RunView] = []
        with self._db.write() as session:
            campaign = session.get(Campaign, campaign_id)
            if campaign is None:
                return []
            for occurrence in missed:
                exists = session.scalar(
                    select(CampaignRun.id).where(
                        CampaignRun.campaign_id == campaign_id,
                        CampaignRun.occurrence_at == occurrence,
                    )
                )
                if exists is not None:
                    continue
                run = CampaignRun(
                    campaign_id=campaign_id,
                    occurrence_at=occurrence,
                    trigger=RunTrigger.SCHEDULED,
                    status=RunStatus.MISSED,
                    finished_at=self._clock.now(),
                    error="The app was not running when this send was due.",
                )
                session.add(run)
                session.flush()
                views.append(queries.run_view(run))
            if advance_after is not None:
                self._advance(campaign, after=advance_after)
                if campaign.next_run_at is None and campaign.status == CampaignStatus.SCHEDULED:
                    campaign.status = CampaignStatus.COMPLETED
            name = campaign.name
        for view in views:
            self._events.publish(RunEvent(RunPhase.MISSED, view, name, view.error or ""))
        self._events.publish(CampaignChanged(campaign_id, CampaignChange.STATUS))
        return views

    def send_manual(self, campaign_id: int) -> RunView:
        """A run started by hand now; it does not move the campaign's schedule."""
        view = self._claim_now(campaign_id, RunTrigger.MANUAL)
        self._started(view, campaign_id)
        return view

    def send_test(self, campaign_id: int, addresses: list[str]) -> RunView:
        """A `test` run to `addresses`, rendered with the first audience member's data."""
        now = self._clock.now()
        with self._db.write() as session:
            campaign = queries.load_campaign(session, campaign_id)
            run = CampaignRun(
                campaign_id=campaign_id,
                occurrence_at=self._free_instant(session, campaign_id, now),
                trigger=RunTrigger.TEST,
                status=RunStatus.SENDING,
                started_at=now,
                total=len(addresses),
            )
            session.add(run)
            session.flush()
            session.add_all(
                Delivery(run_id=run.id, contact_id=None, email=address, status="pending")
                for address in addresses
            )
            view = queries.run_view(run)
            name = campaign.name
        self._events.publish(RunEvent(RunPhase.STARTED, view, name))
        self._submit(view.id)
        return view

    def resume_interrupted(self) -> list[RunView]:
        """Resume runs a dead process left in `sending`; their in-flight rows become unconfirmed.

        Only the process holding the scheduler lock may call this, or it would touch runs a
        live process is still sending.
        """
        with self._db.read() as session:
            run_ids = session.scalars(
                select(CampaignRun.id).where(CampaignRun.status == RunStatus.SENDING)
            ).all()
        resumed = []
        for run_id in run_ids:
            with self._lock:
                if run_id in self._controls:
                    continue
            with self._db.write() as session:
                session.execute(
                    update(Delivery)
                    .where(Delivery.run_id == run_id, Delivery.status == DeliveryStatus.IN_FLIGHT)
                    .values(
                        status=DeliveryStatus.UNCONFIRMED,
                        last_error=_INTERRUPTED_NOTE + _UNCONFIRMED_NOTE,
                    )
                )
                run = self._recount(session, run_id)
                view = queries.run_view(run)
            log.warning("resuming run %s; %s unconfirmed recipients", run_id, view.unconfirmed)
            self._submit(run_id)
            resumed.append(view)
        return resumed

    # --- controlling runs ----------------------------------------------------------------

    def pause(self, run_id: int) -> None:
        """Stop after the message in hand; the rest waits as pending until `resume`."""
        if not self._request(run_id, _Stop.PAUSE):
            self._set_idle_status(run_id, RunStatus.PAUSED, expect=RunStatus.SENDING)

    def resume(self, run_id: int) -> None:
        with self._db.write() as session:
            run = queries.load_run(session, run_id)
            if run.status != RunStatus.PAUSED:
                raise ValidationError("status", "Only a paused send can be resumed.")
            run.status = RunStatus.SENDING
            run.error = None
            self._settle_campaign(session, run.campaign_id)
            view = queries.run_view(run)
            name = queries.load_campaign(session, run.campaign_id).name
        self._events.publish(RunEvent(RunPhase.RESUMED, view, name))
        self._submit(run_id)

    def cancel(self, run_id: int) -> None:
        """Stop for good: recipients not yet sent to are skipped."""
        if not self._request(run_id, _Stop.CANCEL):
            with self._db.read() as session:
                status = queries.load_run(session, run_id).status
            if status not in (RunStatus.PAUSED, RunStatus.SENDING):
                raise ValidationError("status", "This send has already ended.")
            self._finish(run_id, _Stop.CANCEL, None)

    def active_run_ids(self) -> list[int]:
        with self._lock:
            return list(self._controls)

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until no run is being worked on here (tests and shutdown use this)."""
        with self._idle:
            return self._idle.wait_for(lambda: not self._controls, timeout)

    def shutdown(self, timeout: float = 10.0) -> None:
        """Stop workers after the message in hand; their runs stay `sending` to resume later."""
        with self._lock:
            self._closed = True
            controls = list(self._controls.values())
        for control in controls:
            control.request(_Stop.SHUTDOWN)
        self.wait_idle(timeout)
        self._executor.shutdown(wait=True, cancel_futures=True)

    # --- claiming ------------------------------------------------------------------------

    def _claim(
        self, session: Session, campaign: Campaign, occurrence_at: datetime, trigger: RunTrigger
    ) -> CampaignRun:
        now = self._clock.now()
        run = CampaignRun(
            campaign_id=campaign.id,
            occurrence_at=occurrence_at,
            trigger=trigger,
            status=RunStatus.SENDING,
            started_at=now,
        )
        session.add(run)
        session.flush()  # the UNIQUE(campaign_id, occurrence_at) claim happens here
        self._snapshot_audience(session, run.id, campaign.id)
        self._recount(session, run.id)
        campaign.status = CampaignStatus.SENDING
        if trigger != RunTrigger.MANUAL:
            campaign.runs_done += 1
        return run

    def _claim_now(self, campaign_id: int, trigger: RunTrigger) -> RunView:
        with self._db.write() as session:
            campaign = queries.load_campaign(session, campaign_id)
            occurrence = self._free_instant(session, campaign_id, self._clock.now())
            run = self._claim(session, campaign, occurrence, trigger)
            return queries.run_view(run)

    @staticmethod
    def _free_instant(session: Session, campaign_id: int, instant: datetime) -> datetime:
        # Manual and test runs are keyed by "now"; two in the same microsecond get the next one.
        while session.scalar(
            select(CampaignRun.id).where(
                CampaignRun.campaign_id == campaign_id, CampaignRun.occurrence_at == instant
            )
        ):
            instant += timedelta(microseconds=1)
        return instant

    @staticmethod
    def _snapshot_audience(session: Session, run_id: int, campaign_id: int) -> None:
        # One INSERT…SELECT: each contact once however many of the campaign's lists hold it;
        # anyone not subscribed is recorded as skipped so the report can say why.
        session.execute(
            text(
                """
                INSERT INTO delivery (run_id, contact_id, email, status, attempts, last_error)
                SELECT :run_id, c.id, c.email,
                       CASE WHEN c.status = :subscribed THEN 'pending' ELSE 'skipped' END,
                       0,
                       CASE WHEN c.status = :subscribed THEN NULL
                            ELSE 'Contact is ' || c.status END
                FROM contact AS c
                WHERE c.id IN (
                    SELECT m.contact_id FROM list_membership AS m
                    JOIN campaign_audience AS a ON a.list_id = m.list_id
                    WHERE a.campaign_id = :campaign_id)
                ORDER BY c.id
                """
            ),
            {"run_id": run_id, "campaign_id": campaign_id, "subscribed": ContactStatus.SUBSCRIBED},
        )

    def _advance(self, campaign: Campaign, *, after: datetime) -> None:
        """Move `next_run_at` past `after` (at claim time, so a long send never delays it)."""
        if not campaign.is_recurring or campaign.recurrence_pattern is None:
            campaign.next_run_at = None
            return
        assert campaign.scheduled_local is not None
        pattern = RecurrencePattern.from_dict(campaign.recurrence_pattern)
        campaign.next_run_at = next_occurrence_after(
            pattern, campaign.scheduled_local, campaign.timezone, after
        )

    def _started(self, view: RunView, campaign_id: int) -> None:
        with self._db.read() as session:
            name = queries.load_campaign(session, campaign_id).name
        self._events.publish(RunEvent(RunPhase.STARTED, view, name))
        self._events.publish(CampaignChanged(campaign_id, CampaignChange.STATUS))
        self._submit(view.id)

    # --- working -------------------------------------------------------------------------

    def _submit(self, run_id: int) -> None:
        with self._lock:
            if self._closed:
                log.info("not starting run %s: the engine is shutting down", run_id)
                return
            if run_id in self._controls:
                return
            self._controls[run_id] = _RunControl()
            self._futures[run_id] = self._executor.submit(self._work, run_id)

    def _request(self, run_id: int, reason: _Stop) -> bool:
        with self._lock:
            control = self._controls.get(run_id)
        if control is None:
            return False
        control.request(reason)
        return True

    def _work(self, run_id: int) -> None:
        control = self._controls[run_id]
        stop: _Stop | None = None
        message: str | None = None
        try:
            job = self._prepare(run_id)
            stop, message = self._send_all(job, control)
        except DomainError as exc:
            stop, message = _Stop.PAUSE, exc.message
        except Exception as exc:
            log.exception("run %s failed", run_id)
            stop, message = None, f"Internal error: {exc.__class__.__name__}: {exc}"
            self._fail(run_id, message)
            return
        try:
            self._finish(run_id, stop, message)
        finally:
            with self._idle:
                self._controls.pop(run_id, None)
                self._futures.pop(run_id, None)
                self._idle.notify_all()

    def _prepare(self, run_id: int) -> _Job:
        with self._db.read() as session:
            run = queries.load_run(session, run_id)
            campaign = queries.load_campaign(session, run.campaign_id)
            keys = queries.attribute_keys(session)
            templates = compile_campaign_templates(
                campaign.subject, campaign.body_text, campaign.body_html, keys
            )
            is_test = run.trigger == RunTrigger.TEST
            unsubscribe = campaign.reply_to or campaign.from_email
            test_context = None
            if is_test:
                test_context = self._test_context(session, campaign, keys, unsubscribe)
            return _Job(
                run_id=run_id,
                campaign_id=campaign.id,
                campaign_name=campaign.name,
                is_test=is_test,
                templates=templates,
                message=MessageTemplate(
                    from_email=campaign.from_email,
                    from_name=campaign.from_name,
                    reply_to=campaign.reply_to,
                    list_unsubscribe_mailto=unsubscribe,
                ),
                unsubscribe_address=unsubscribe,
                test_context=test_context,
            )

    @staticmethod
    def _test_context(
        session: Session, campaign: Campaign, keys: list[str], unsubscribe: str
    ) -> dict[str, object]:
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

    def _send_all(self, job: _Job, control: _RunControl) -> tuple[_Stop | None, str | None]:
        smtp = self._settings.smtp_settings()
        batch_size = int(self._settings.get("sending.batch_size"))
        self.throttle.configure(
            per_minute=int(self._settings.get("throttle.per_minute")),
            per_hour=int(self._settings.get("throttle.per_hour")),
        )
        retry = _RetryPolicy(
            attempts=int(self._settings.get("sending.max_attempts")),
            base_delay=float(self._settings.get("sending.retry_base_seconds")),
        )
        connection, problem = self._open(smtp, retry, control)
        if connection is None:
            return control.reason or _Stop.PAUSE, problem
        try:
            while not control.stop.is_set():
                batch = self._take_batch(job.run_id, batch_size)
                if not batch:
                    return None, None
                outcome = self._send_batch(connection, job, batch, retry, control)
                self._record(job, outcome)
                if outcome.pause_message is not None:
                    return _Stop.PAUSE, outcome.pause_message
            return control.reason, None
        finally:
            connection.close()

    def _open(
        self, smtp: SmtpSettings, retry: _RetryPolicy, control: _RunControl
    ) -> tuple[SmtpConnection | None, str]:
        """Connect with retries; (None, why) when the server stays unreachable or stop came."""
        connection = self._connect(smtp)
        reason = ""
        for attempt in range(1, retry.attempts + 1):
            try:
                connection.open()
                return connection, ""
            except SmtpAuthError as exc:
                connection.close()
                return None, (
                    f"The mail server refused the username or password: {exc.message} "
                    "The send is paused; fix the account in Settings, then resume it."
                )
            except SmtpError as exc:
                log.warning("cannot reach %s:%s (try %s): %s", smtp.host, smtp.port, attempt, exc)
                reason = exc.message
                if attempt < retry.attempts and control.stop.wait(retry.delay(attempt)):
                    break
        connection.close()
        return None, (
            f"Could not reach the mail server {smtp.host}:{smtp.port} after {retry.attempts} "
            f"tries ({reason}). The send is paused; resume it when the server is reachable."
        )

    def _take_batch(self, run_id: int, size: int) -> list[_Recipient]:
        """Mark the next pending rows in flight, committed before any of them is sent."""
        with self._db.write() as session:
            rows = session.execute(
                select(
                    Delivery.id,
                    Delivery.email,
                    Contact.first_name,
                    Contact.last_name,
                    Contact.attributes,
                )
                .outerjoin(Contact, Contact.id == Delivery.contact_id)
                .where(Delivery.run_id == run_id, Delivery.status == DeliveryStatus.PENDING)
                .order_by(Delivery.id)
                .limit(size)
            ).all()
            if rows:
                session.execute(
                    update(Delivery)
                    .where(Delivery.id.in_([row.id for row in rows]))
                    .values(status=DeliveryStatus.IN_FLIGHT)
                )
        return [
            _Recipient(
                row.id, row.email, row.first_name or "", row.last_name or "", row.attributes or {}
            )
            for row in rows
        ]

    def _send_batch(
        self,
        connection: SmtpConnection,
        job: _Job,
        batch: list[_Recipient],
        retry: _RetryPolicy,
        control: _RunControl,
    ) -> _BatchOutcome:
        outcome = _BatchOutcome()
        untried = _Result(DeliveryStatus.PENDING, 0)
        for index, recipient in enumerate(batch):
            if control.stop.is_set() or not self.throttle.acquire(control.stop):
                for rest in batch[index:]:
                    outcome.add(rest.delivery_id, untried, self._clock.now())
                break
            result = self._send_one(connection, job, recipient, retry, control)
            outcome.add(recipient.delivery_id, result, self._clock.now())
            if result.pause_message is not None:
                for rest in batch[index + 1 :]:
                    outcome.add(rest.delivery_id, untried, self._clock.now())
                break
        return outcome

    def _send_one(  # noqa: PLR0911  (one return per SMTP outcome reads clearest)
        self,
        connection: SmtpConnection,
        job: _Job,
        recipient: _Recipient,
        retry: _RetryPolicy,
        control: _RunControl,
    ) -> _Result:
        context = job.test_context or build_render_context(
            contact_email=recipient.email,
            first_name=recipient.first_name,
            last_name=recipient.last_name,
            attributes=recipient.attributes,
            campaign_name=job.campaign_name,
            unsubscribe_mailto=job.unsubscribe_address,
        )
        try:
            rendered = job.templates.render(context)
            message = job.message.render(
                to=recipient.email,
                subject=("[TEST] " if job.is_test else "") + rendered.subject,
                text=rendered.text,
                html=rendered.html,
            )
        except ValidationError as exc:
            # This recipient's data cannot make a message (an address the email package
            # refuses, a value the sandbox blocks): fail the one row, never strand the batch.
            return _Result(DeliveryStatus.FAILED, 0, error=exc.message)
        attempt = 0
        while True:
            attempt += 1
            try:
                connection.send_bytes(message.sender, message.recipients, message.data)
                return _Result(DeliveryStatus.SENT, attempt, message_id=message.message_id)
            except SmtpRecipientRefused as exc:
                return _Result(DeliveryStatus.FAILED, attempt, error=exc.message)
            except SmtpUnconfirmedError as exc:
                # Handed over, then the line broke: it may have arrived. Never resend.
                return _Result(
                    DeliveryStatus.UNCONFIRMED, attempt, error=f"{exc.message} {_UNCONFIRMED_NOTE}"
                )
            except SmtpSenderRefused as exc:
                return _paused(
                    attempt - 1,
                    f"The mail server refused the sender address: {exc.message} "
                    "The send is paused; check the sender address, then resume it.",
                )
            except SmtpAuthError as exc:
                return _paused(
                    attempt - 1,
                    f"The mail server refused the username or password: {exc.message} "
                    "The send is paused; fix the account in Settings, then resume it.",
                )
            except (SmtpTransientError, SmtpConnectError) as exc:
                connection_trouble = exc.code is None
                if attempt >= retry.attempts:
                    if connection_trouble:
                        return _paused(
                            attempt - 1,
                            f"Lost the connection to the mail server {attempt} times in a row "
                            f"({exc.message}). The send is paused; resume it when the server "
                            "is reachable.",
                        )
                    return _Result(DeliveryStatus.FAILED, attempt, error=exc.message)
                if control.stop.wait(retry.delay(attempt)):
                    return _Result(DeliveryStatus.PENDING, attempt)

    def _record(self, job: _Job, outcome: _BatchOutcome) -> None:
        with self._db.write() as session:
            if outcome.rows:
                session.execute(update(Delivery), outcome.rows)
            run = queries.load_run(session, job.run_id)
            run.sent += outcome.count(DeliveryStatus.SENT)
            run.failed += outcome.count(DeliveryStatus.FAILED)
            run.unconfirmed += outcome.count(DeliveryStatus.UNCONFIRMED)
            view = queries.run_view(run)
        self._events.publish(RunEvent(RunPhase.PROGRESS, view, job.campaign_name))

    # --- ending --------------------------------------------------------------------------

    def _finish(self, run_id: int, stop: _Stop | None, message: str | None) -> None:
        with self._db.write() as session:
            run = self._recount(session, run_id)
            campaign = queries.load_campaign(session, run.campaign_id)
            if stop is _Stop.SHUTDOWN:
                # Left `sending` on purpose: the next start resumes it (nothing is in flight).
                return
            if stop is _Stop.PAUSE:
                run.status = RunStatus.PAUSED
                run.error = message
                phase = RunPhase.PAUSED
            elif stop is _Stop.CANCEL:
                session.execute(
                    update(Delivery)
                    .where(Delivery.run_id == run_id, Delivery.status == DeliveryStatus.PENDING)
                    .values(status=DeliveryStatus.SKIPPED, last_error="The send was cancelled.")
                )
                run = self._recount(session, run_id)
                run.status = RunStatus.CANCELLED
                run.finished_at = self._clock.now()
                phase = RunPhase.CANCELLED
            else:
                everyone_failed = run.failed > 0 and run.sent == 0
                run.status = RunStatus.FAILED if everyone_failed else RunStatus.COMPLETED
                run.finished_at = self._clock.now()
                if everyone_failed:
                    run.error = "The mail server refused every recipient."
                phase = RunPhase.FAILED if everyone_failed else RunPhase.FINISHED
            if run.trigger != RunTrigger.TEST:
                self._settle_campaign(session, campaign.id)
            view = queries.run_view(run)
            name = campaign.name
        self._events.publish(RunEvent(phase, view, name, message or view.error or ""))
        self._events.publish(CampaignChanged(view.campaign_id, CampaignChange.STATUS))

    def _fail(self, run_id: int, message: str) -> None:
        try:
            with self._db.write() as session:
                session.execute(
                    update(Delivery)
                    .where(Delivery.run_id == run_id, Delivery.status == DeliveryStatus.IN_FLIGHT)
                    .values(status=DeliveryStatus.PENDING)
                )
                run = self._recount(session, run_id)
                run.status = RunStatus.FAILED
                run.error = message
                run.finished_at = self._clock.now()
                if run.trigger != RunTrigger.TEST:
                    self._settle_campaign(session, run.campaign_id)
                view = queries.run_view(run)
                name = queries.load_campaign(session, run.campaign_id).name
            self._events.publish(RunEvent(RunPhase.FAILED, view, name, message))
        finally:
            with self._idle:
                self._controls.pop(run_id, None)
                self._futures.pop(run_id, None)
                self._idle.notify_all()

    def _set_idle_status(self, run_id: int, status: RunStatus, *, expect: RunStatus) -> None:
        with self._db.write() as session:
            run = queries.load_run(session, run_id)
            if run.status != expect:
                raise ValidationError("status", "This send is not running.")
            run.status = status
            self._settle_campaign(session, run.campaign_id)

    @staticmethod
    def _recount(session: Session, run_id: int) -> CampaignRun:
        """Set the run's counters from its delivery rows (the ledger is the truth)."""
        counts = dict(
            session.execute(
                select(Delivery.status, func.count())
                .where(Delivery.run_id == run_id)
                .group_by(Delivery.status)
            ).all()
        )
        run = queries.load_run(session, run_id)
        run.total = sum(counts.values())
        run.sent = counts.get(DeliveryStatus.SENT, 0)
        run.failed = counts.get(DeliveryStatus.FAILED, 0)
        run.skipped = counts.get(DeliveryStatus.SKIPPED, 0)
        run.unconfirmed = counts.get(DeliveryStatus.UNCONFIRMED, 0)
        return run

    @staticmethod
    def _settle_campaign(session: Session, campaign_id: int) -> None:
        """Derive the campaign's status from its runs and schedule."""
        campaign = queries.load_campaign(session, campaign_id)
        statuses = set(
            session.scalars(
                select(CampaignRun.status).where(
                    CampaignRun.campaign_id == campaign_id,
                    CampaignRun.trigger != RunTrigger.TEST,
                    CampaignRun.status.in_([RunStatus.SENDING, RunStatus.PAUSED]),
                )
            )
        )
        if RunStatus.SENDING in statuses:
            campaign.status = CampaignStatus.SENDING
        elif RunStatus.PAUSED in statuses:
            campaign.status = CampaignStatus.PAUSED
        elif campaign.next_run_at is not None and not campaign.archived:
            campaign.status = CampaignStatus.SCHEDULED
        elif campaign.status in (CampaignStatus.SENDING, CampaignStatus.PAUSED):
            last = session.scalar(
                select(CampaignRun.status)
                .where(CampaignRun.campaign_id == campaign_id, CampaignRun.trigger != "test")
                .order_by(CampaignRun.id.desc())
                .limit(1)
            )
            campaign.status = (
                CampaignStatus.FAILED if last == RunStatus.FAILED else CampaignStatus.COMPLETED
            )


@dataclass(frozen=True)
class _RetryPolicy:
    attempts: int
    base_delay: float

    def delay(self, attempt: int) -> float:
        """Exponential backoff: base, 2 x base, 4 x base, … after the 1st, 2nd, 3rd try."""
        return float(self.base_delay * 2 ** (attempt - 1))


def _paused(attempts: int, message: str) -> _Result:
    """The recipient goes back to pending and the whole run pauses, saying why."""
    return _Result(DeliveryStatus.PENDING, attempts, pause_message=message)
