"""The ledger: every state change of a run and of its delivery rows, in one place.

The rules it keeps (docs/design.md §5 and §9):

- An occurrence is claimed once: the `campaign_run` row is the claim, UNIQUE(campaign_id,
  occurrence_at); the audience is snapshotted into `delivery` rows in the same transaction.
- A row is `in_flight` only while its own SMTP transaction is open: `begin` marks one row
  (and records the previous row's outcome in the same commit), so after a kill at most one
  row per open connection is unconfirmed.
- `begin` checks the contact's status at that moment: unsubscribed, bounced or deleted since
  the snapshot → `skipped`, with the reason.
- Outcomes only ever move a row out of the state it was in (`in_flight`, or `pending` for a
  message that could not be built): a row that may have been delivered never goes back.
- Counters on the run are derived from the rows (`recount`); the rows are the truth.

Nothing here sends or waits; the engine calls these, one short transaction each.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, ClassVar, Protocol, cast

from sqlalchemy import (
    Connection,
    CursorResult,
    Integer,
    String,
    Table,
    bindparam,
    case,
    delete,
    func,
    insert,
    literal,
    null,
    select,
    update,
)
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import Update
from sqlalchemy.sql.selectable import Select

from campaign_desktop.domain.clock import Clock
from campaign_desktop.domain.errors import ValidationError
from campaign_desktop.domain.recurrence import RecurrencePattern, next_occurrence_after
from campaign_desktop.domain.status import (
    CampaignStatus,
    ContactStatus,
    DeliveryStatus,
    RunStatus,
    RunTrigger,
)
from campaign_desktop.domain.views import RunView
from campaign_desktop.persistence import queries
from campaign_desktop.persistence.db import Database
from campaign_desktop.persistence.models import (
    Campaign,
    CampaignRun,
    Contact,
    Delivery,
    Desktop,
    campaign_audience,
    list_membership,
)
from campaign_desktop.persistence.portable import database_utc_now, insert_or_ignore

UNCONFIRMED_NOTE = (
    "It may or may not have been delivered, so it was not resent (to avoid sending it twice)."
)
INTERRUPTED_NOTE = "The app stopped while this message was being handed to the mail server. "
HELD_NOTE = "Skipped: the campaign was on hold."
MISSED_NOTE = (
    "The app was not running (or the computer was asleep) when this send was due, and it was "
    "not sent late."
)


@dataclass(frozen=True, slots=True)
class Recipient:
    """A pending row with what its message needs; read before anything is marked."""

    delivery_id: int
    email: str
    first_name: str
    last_name: str
    attributes: dict[str, Any]
    attempts: int  # SMTP transactions tried so far for this row


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one row; `expect` is the status the row must still have.

    `pending` with `retry_at` is a deferred retry (a 4xx); `pending` without is a row
    handed back untried (a pause came, or the connection was lost before any data).
    """

    delivery_id: int
    status: DeliveryStatus
    expect: DeliveryStatus = DeliveryStatus.IN_FLIGHT
    error: str | None = None
    message_id: str | None = None
    sent_at: datetime | None = None
    retry_at: datetime | None = None
    uncount: bool = False  # the try does not count (the server asked to slow down)

    def row(self) -> dict[str, Any]:
        return {
            "b_id": self.delivery_id,
            "b_expect": self.expect,
            "b_status": self.status,
            "b_error": self.error,
            "b_message_id": self.message_id,
            "b_sent_at": self.sent_at,
            "b_retry_at": self.retry_at,
            "b_uncount": int(self.uncount),
        }


class Begin:
    """What `Ledger.begin` did with the row asked for."""

    GO = "go"  # marked in flight: send it now
    SKIPPED = "skipped"  # the contact left since the snapshot: not to be sent
    TAKEN = "taken"  # no longer pending (another connection or desktop has it)


@dataclass(frozen=True, slots=True)
class PendingState:
    """Rows still to send: how many may be tried now, and when the next deferred one is due."""

    due: int
    next_retry_at: datetime | None


_DELIVERY = cast(Table, Delivery.__table__)  # declared as FromClause
_CONTACT = cast(Table, Contact.__table__)
# The statements of the per-message path, built once: Core, not ORM, so that each message
# costs a few prepared executions and one commit (docs/performance.md).
_RECORD = (
    update(_DELIVERY)
    .where(_DELIVERY.c.id == bindparam("b_id"), _DELIVERY.c.status == bindparam("b_expect"))
    .values(
        status=bindparam("b_status"),
        last_error=bindparam("b_error"),
        smtp_message_id=bindparam("b_message_id"),
        sent_at=bindparam("b_sent_at"),
        retry_at=bindparam("b_retry_at"),
        attempts=_DELIVERY.c.attempts - bindparam("b_uncount"),
    )
)
_PEEK = (
    select(_DELIVERY.c.status, _DELIVERY.c.contact_id, _CONTACT.c.status)
    .select_from(_DELIVERY.outerjoin(_CONTACT, _CONTACT.c.id == _DELIVERY.c.contact_id))
    .where(_DELIVERY.c.id == bindparam("b_id"))
)
_STILL_PENDING = (_DELIVERY.c.id == bindparam("b_id")) & (
    _DELIVERY.c.status == DeliveryStatus.PENDING.value
)
# FOR UPDATE SKIP LOCKED (PostgreSQL; SQLite ignores it, its writers take turns): a row
# another desktop is marking right now is passed over at once instead of waited for.
_UNLOCKED = _DELIVERY.c.id.in_(
    select(_DELIVERY.c.id)
    .where(_DELIVERY.c.id == bindparam("b_id"))
    .with_for_update(skip_locked=True)
    .scalar_subquery()
)
_MARK = (
    update(_DELIVERY)
    .where(_STILL_PENDING, _UNLOCKED)
    .values(
        status=DeliveryStatus.IN_FLIGHT.value,
        attempts=_DELIVERY.c.attempts + 1,
        claimed_by=bindparam("b_me"),
    )
)
# The common case in one statement: still pending and (for a real run) still subscribed.
_MARK_IF_SUBSCRIBED = _MARK.where(
    select(_CONTACT.c.id)
    .where(
        _CONTACT.c.id == _DELIVERY.c.contact_id,
        _CONTACT.c.status == ContactStatus.SUBSCRIBED.value,
    )
    .exists()
)
_SKIP = (
    update(_DELIVERY)
    .where(_STILL_PENDING)
    .values(status=DeliveryStatus.SKIPPED.value, last_error=bindparam("b_reason"))
)


# --- the per-message statements on the SQLite file -----------------------------------------
# On SQLite, `begin` and `record` run the statements above compiled once by SQLAlchemy's own
# SQLite compiler, with its own bind processors (the UTC datetimes), on the DBAPI connection
# of `Database.write_raw`: the same SQL and values as the Core path, without SQLAlchemy's
# per-execute work, which cost four times what SQLite does (docs/performance.md). PostgreSQL
# (team mode) keeps Core, FOR UPDATE SKIP LOCKED included.

_SQLITE_DIALECT = sqlite.dialect(paramstyle="named")
_Hot = Update | Select[Any]


class _SqliteStatement:
    """A Core statement compiled for SQLite once: its SQL, fixed values and converters."""

    def __init__(self, statement: _Hot) -> None:
        compiled = statement.compile(dialect=_SQLITE_DIALECT)
        self.sql = str(compiled)
        binds = compiled.bind_names  # bind parameter → its name in the SQL
        self._convert: dict[str, Callable[[Any], Any]] = {}
        for bind, name in binds.items():
            processor = bind.type.dialect_impl(_SQLITE_DIALECT).bind_processor(_SQLITE_DIALECT)
            if processor is not None:
                self._convert[name] = processor
        # The statement's own values (not parameters) never change: converted once here,
        # so a message pays only for converting what it gives.
        self._fixed = {
            name: self._converted(name, bind.effective_value)
            for bind, name in binds.items()
            if not bind.required
        }
        self._given_convert = {
            name: convert for name, convert in self._convert.items() if name not in self._fixed
        }
        # Converted statuses by (parameter, value): the converters are pure functions.
        self._statuses: dict[tuple[str, StrEnum], Any] = {}

    def _converted(self, name: str, value: Any) -> Any:
        convert = self._convert.get(name)
        return value if convert is None else convert(value)

    def params(self, given: Mapping[str, Any]) -> dict[str, Any]:
        params = {**self._fixed, **given}
        for name, convert in self._given_convert.items():
            value = params[name]
            if isinstance(value, StrEnum):  # a status: a few values, each converted once
                key = (name, value)
                converted = self._statuses.get(key)
                if converted is None:
                    converted = self._statuses[key] = convert(value)
                params[name] = converted
            else:
                params[name] = convert(value)
        return params


class _Statements(Protocol):
    """Runs the hot statements in one open write transaction (Core or the raw connection)."""

    def changed(self, statement: _Hot, params: Sequence[Mapping[str, Any]]) -> int:
        """Rows changed by `statement` run once per parameter set."""
        ...

    def first(self, statement: _Hot, params: Mapping[str, Any]) -> Sequence[Any] | None:
        """The first row `statement` returns, or None."""
        ...


class _CoreStatements:
    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def changed(self, statement: _Hot, params: Sequence[Mapping[str, Any]]) -> int:
        result = self._connection.execute(statement, list(params) if len(params) > 1 else params[0])
        return int(cast(CursorResult[Any], result).rowcount)

    def first(self, statement: _Hot, params: Mapping[str, Any]) -> Sequence[Any] | None:
        return self._connection.execute(statement, params).first()


class _SqliteStatements:
    # By id() of the statement: only the module-level statements above come here, and they
    # live as long as the process.
    _compiled: ClassVar[dict[int, _SqliteStatement]] = {}

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection

    @classmethod
    def _of(cls, statement: _Hot) -> _SqliteStatement:
        compiled = cls._compiled.get(id(statement))
        if compiled is None:
            compiled = cls._compiled[id(statement)] = _SqliteStatement(statement)
        return compiled

    def changed(self, statement: _Hot, params: Sequence[Mapping[str, Any]]) -> int:
        compiled = self._of(statement)
        if len(params) == 1:
            cursor = self._connection.execute(compiled.sql, compiled.params(params[0]))
        else:
            cursor = self._connection.executemany(
                compiled.sql, [compiled.params(one) for one in params]
            )
        return cursor.rowcount

    def first(self, statement: _Hot, params: Mapping[str, Any]) -> Sequence[Any] | None:
        compiled = self._of(statement)
        row: Sequence[Any] | None = self._connection.execute(
            compiled.sql, compiled.params(params)
        ).fetchone()
        return row


class Ledger:
    """The run and delivery tables, changed only through these methods."""

    def __init__(self, db: Database, clock: Clock, desktop_id: str) -> None:
        self._db = db
        self._clock = clock
        self.desktop_id = desktop_id

    # --- claiming ------------------------------------------------------------------------

    def claim_occurrence(
        self, campaign_id: int, occurrence_at: datetime, trigger: RunTrigger
    ) -> tuple[RunView, str] | None:
        """Claim a scheduled occurrence and advance the campaign's next run past it.

        Returns (run, campaign name), or None when the occurrence is no longer due (a stale
        job) or was claimed already. Raises IntegrityError when another claim won the race.
        """
        with self._db.write() as session:
            campaign = session.get(Campaign, campaign_id)
            if campaign is None or campaign.archived or campaign.next_run_at is None:
                return None
            if campaign.next_run_at > occurrence_at:
                return None  # this occurrence was already dealt with
            run = self._claim(session, campaign, occurrence_at, trigger)
            advance(campaign, after=occurrence_at)
            return queries.run_view(run), campaign.name

    def claim_manual(
        self, campaign_id: int, check: Callable[[Campaign], None] | None = None
    ) -> tuple[RunView, str]:
        """A manual run now; `check` (may raise ValidationError) runs in the same transaction."""
        with self._db.write() as session:
            campaign = queries.load_campaign(session, campaign_id)
            if check is not None:
                check(campaign)
            occurrence = self._free_instant(session, campaign_id, self._clock.now())
            run = self._claim(session, campaign, occurrence, RunTrigger.MANUAL)
            return queries.run_view(run), campaign.name

    def create_test_run(self, campaign_id: int, addresses: Sequence[str]) -> tuple[RunView, str]:
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
                owner_id=self.desktop_id,
            )
            session.add(run)
            session.flush()
            session.add_all(
                Delivery(run_id=run.id, contact_id=None, email=address, status="pending")
                for address in addresses
            )
            return queries.run_view(run), campaign.name

    def record_missed(
        self, campaign_id: int, missed: Sequence[datetime], *, advance_after: datetime | None
    ) -> tuple[list[RunView], str] | None:
        """Record occurrences that were not sent as `missed` runs (idempotent per occurrence).

        With `advance_after`, the schedule moves on past that instant too.
        """
        with self._db.write() as session:
            campaign = session.get(Campaign, campaign_id)
            if campaign is None:
                return None
            runs = record_unsent(
                session,
                campaign_id,
                missed,
                status=RunStatus.MISSED,
                note=MISSED_NOTE,
                now=self._clock.now(),
            )
            if advance_after is not None:
                advance(campaign, after=advance_after)
                if campaign.next_run_at is None and campaign.status == CampaignStatus.SCHEDULED:
                    campaign.status = CampaignStatus.COMPLETED
            return [queries.run_view(run) for run in runs], campaign.name

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
            owner_id=self.desktop_id,
        )
        session.add(run)
        session.flush()  # the UNIQUE(campaign_id, occurrence_at) claim happens here
        _snapshot_audience(session, run.id, campaign.id)
        recount(session, run.id)
        campaign.status = CampaignStatus.SENDING
        if trigger != RunTrigger.MANUAL:
            campaign.runs_done += 1
        return run

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

    # --- working off a run ---------------------------------------------------------------

    def pending_page(self, run_id: int, after_id: int, limit: int) -> list[Recipient]:
        """Up to `limit` pending rows due now with id > `after_id`, in id order (unmarked)."""
        now = self._clock.now()
        with self._db.read() as session:
            rows = session.execute(
                select(
                    Delivery.id,
                    Delivery.email,
                    Contact.first_name,
                    Contact.last_name,
                    Contact.attributes,
                    Delivery.attempts,
                )
                .outerjoin(Contact, Contact.id == Delivery.contact_id)
                .where(
                    Delivery.run_id == run_id,
                    Delivery.status == DeliveryStatus.PENDING,
                    Delivery.id > after_id,
                    (Delivery.retry_at.is_(None)) | (Delivery.retry_at <= now),
                )
                .order_by(Delivery.id)
                .limit(limit)
            ).all()
        return [
            Recipient(
                row.id,
                row.email,
                row.first_name or "",
                row.last_name or "",
                row.attributes or {},
                row.attempts,
            )
            for row in rows
        ]

    def pending_state(self, run_id: int) -> PendingState:
        now = self._clock.now()
        with self._db.read() as session:
            due = session.scalar(
                select(func.count())
                .select_from(Delivery)
                .where(
                    Delivery.run_id == run_id,
                    Delivery.status == DeliveryStatus.PENDING,
                    (Delivery.retry_at.is_(None)) | (Delivery.retry_at <= now),
                )
            )
            later = session.scalar(
                select(func.min(Delivery.retry_at)).where(
                    Delivery.run_id == run_id,
                    Delivery.status == DeliveryStatus.PENDING,
                    Delivery.retry_at > now,
                )
            )
        return PendingState(int(due or 0), later)

    def begin(
        self, delivery_id: int, outcomes: Sequence[Outcome], *, check_contact: bool = True
    ) -> str:
        """Record `outcomes`, then mark `delivery_id` in flight — one commit (a `Begin` value).

        With `check_contact`, a contact that is no longer subscribed (or was deleted) makes
        the row `skipped` with the reason instead. Raises StorageError (nothing written).
        """
        with self._hot_write() as statements:
            if outcomes:
                statements.changed(_RECORD, [outcome.row() for outcome in outcomes])
            mark = _MARK_IF_SUBSCRIBED if check_contact else _MARK
            params = {"b_id": delivery_id, "b_me": self.desktop_id}
            if statements.changed(mark, [params]) == 1:
                return Begin.GO
            # Not pending any more, or the contact left: find out which.
            row = statements.first(_PEEK, {"b_id": delivery_id})
            if row is None or row[0] != DeliveryStatus.PENDING:
                return Begin.TAKEN
            _, contact_id, contact_status = row
            reason = None
            if check_contact and contact_id is None:
                reason = "The contact was deleted after the send started."
            elif check_contact and contact_status != ContactStatus.SUBSCRIBED:
                reason = f"The contact is {contact_status} (since the send started)."
            if reason is None:  # pragma: no cover — the first UPDATE would have marked it
                return Begin.TAKEN
            skipped = statements.changed(_SKIP, [{"b_id": delivery_id, "b_reason": reason}])
            return Begin.SKIPPED if skipped == 1 else Begin.TAKEN

    def record(self, outcomes: Sequence[Outcome]) -> None:
        """Record outcomes on their own (one commit). Raises StorageError (nothing written)."""
        if not outcomes:
            return
        with self._hot_write() as statements:
            statements.changed(_RECORD, [outcome.row() for outcome in outcomes])

    @contextmanager
    def _hot_write(self) -> Iterator[_Statements]:
        """One write transaction for the per-message statements: on the SQLite file the
        raw connection (`Database.write_raw`), on PostgreSQL SQLAlchemy Core."""
        if self._db.is_sqlite:
            with self._db.write_raw() as raw:
                yield _SqliteStatements(raw)
        else:
            with self._db.write_core() as connection:
                yield _CoreStatements(connection)

    def view(self, run_id: int) -> RunView:
        """The run as last written (a read: works while the database refuses writes)."""
        with self._db.read() as session:
            return queries.run_view(queries.load_run(session, run_id))

    def progress(self, run_id: int) -> RunView:
        """The run with counters recomputed from its rows (written back)."""
        with self._db.write() as session:
            return queries.run_view(recount(session, run_id))

    # --- life cycle of a run -------------------------------------------------------------

    # --- desktops (team mode) -------------------------------------------------------------

    def heartbeat(self, name: str, pid: int) -> None:
        """Say this desktop is alive (inserted on first call), on the database's clock."""
        with self._db.write() as session:
            now = database_utc_now(session)
            updated = session.execute(
                update(Desktop)
                .where(Desktop.id == self.desktop_id)
                .values(heartbeat_at=now)
                .execution_options(synchronize_session=False)
            )
            if getattr(updated, "rowcount", 0) == 0:
                session.execute(
                    insert_or_ignore(session, Desktop).values(
                        id=self.desktop_id,
                        name=name[:200],
                        pid=pid,
                        started_at=now,
                        heartbeat_at=now,
                    )
                )

    def leave(self) -> None:
        """This desktop stops: others may take its runs over at once."""
        with self._db.write() as session:
            session.execute(delete(Desktop).where(Desktop.id == self.desktop_id))

    def alive_desktops(self, lease: timedelta) -> set[str]:
        """Desktops whose heartbeat (on the database's clock) is younger than `lease`;
        this one always counts."""
        with self._db.read() as session:
            since = database_utc_now(session) - lease
            alive = set(session.scalars(select(Desktop.id).where(Desktop.heartbeat_at >= since)))
        return alive | {self.desktop_id}

    # --- runs whose desktop is gone ---------------------------------------------------------

    def orphaned_runs(self, alive: set[str]) -> list[int]:
        """`sending` runs that no live desktop works off (their owner died or quit)."""
        with self._db.read() as session:
            return list(
                session.scalars(
                    select(CampaignRun.id).where(
                        CampaignRun.status == RunStatus.SENDING,
                        CampaignRun.owner_id.is_(None) | CampaignRun.owner_id.not_in(alive),
                    )
                )
            )

    def take_over(self, run_id: int, alive: set[str]) -> RunView | None:
        """Make this desktop the run's owner if its owner is gone; the gone desktops' rows
        in flight become unconfirmed (never resent). None when someone else was quicker or
        the owner is alive after all."""
        with self._db.write() as session:
            run = queries.load_run(session, run_id)
            previous = run.owner_id
            if run.status != RunStatus.SENDING or (
                previous in alive and previous != self.desktop_id
            ):
                return None
            taken: CursorResult[Any] = session.execute(  # type: ignore[assignment]
                update(CampaignRun)
                .where(
                    CampaignRun.id == run_id,
                    CampaignRun.owner_id.is_(None)
                    if previous is None
                    else CampaignRun.owner_id == previous,
                )
                .values(owner_id=self.desktop_id)
                .execution_options(synchronize_session=False)
            )
            if taken.rowcount != 1:
                return None
            session.execute(
                update(Delivery)
                .where(
                    Delivery.run_id == run_id,
                    Delivery.status == DeliveryStatus.IN_FLIGHT,
                    Delivery.claimed_by.is_(None) | Delivery.claimed_by.not_in(alive),
                )
                .values(
                    status=DeliveryStatus.UNCONFIRMED,
                    last_error=INTERRUPTED_NOTE + UNCONFIRMED_NOTE,
                )
                .execution_options(synchronize_session=False)
            )
            session.expire(run)
            return queries.run_view(recount(session, run_id))

    def resume(self, run_id: int) -> tuple[RunView, str]:
        with self._db.write() as session:
            run = queries.load_run(session, run_id)
            if run.status != RunStatus.PAUSED:
                raise ValidationError("status", "Only a paused send can be resumed.")
            run.status = RunStatus.SENDING
            run.error = None
            run.owner_id = self.desktop_id
            settle_campaign(session, run.campaign_id)
            return queries.run_view(run), queries.load_campaign(session, run.campaign_id).name

    def pause_idle(self, run_id: int) -> None:
        """Pause a run no worker is sending (e.g. left `sending` and not yet resumed)."""
        with self._db.write() as session:
            run = queries.load_run(session, run_id)
            if run.status != RunStatus.SENDING:
                raise ValidationError("status", "This send is not running.")
            run.status = RunStatus.PAUSED
            settle_campaign(session, run.campaign_id)

    def run_status(self, run_id: int) -> str:
        with self._db.read() as session:
            return queries.load_run(session, run_id).status

    def finish(self, run_id: int, how: str, message: str | None) -> tuple[RunView, str]:
        """End (or pause) a run: `how` is "done", "pause" or "cancel".

        "cancel" skips the rows not yet sent; "done" ends `completed`, or `failed` when no
        one was sent and someone failed, with the commonest failure as the reason.
        """
        with self._db.write() as session:
            run = recount(session, run_id)
            if how == "pause":
                run.status = RunStatus.PAUSED
                run.error = message
            elif how == "cancel":
                session.execute(
                    update(Delivery)
                    .where(Delivery.run_id == run_id, Delivery.status == DeliveryStatus.PENDING)
                    .values(status=DeliveryStatus.SKIPPED, last_error="The send was cancelled.")
                )
                run = recount(session, run_id)
                run.status = RunStatus.CANCELLED
                run.finished_at = self._clock.now()
            else:
                everyone_failed = run.failed > 0 and run.sent == 0 and run.unconfirmed == 0
                run.status = RunStatus.FAILED if everyone_failed else RunStatus.COMPLETED
                run.finished_at = self._clock.now()
                if everyone_failed:
                    run.error = "No one was sent this email. " + _commonest_error(session, run_id)
                elif message:
                    run.error = message
            if run.trigger != RunTrigger.TEST:
                settle_campaign(session, run.campaign_id)
            return queries.run_view(run), queries.load_campaign(session, run.campaign_id).name

    def fail(self, run_id: int, message: str) -> tuple[RunView, str]:
        """A run that cannot go on (a bug): ends `failed`; rows in flight stay as they are."""
        with self._db.write() as session:
            run = recount(session, run_id)
            run.status = RunStatus.FAILED
            run.error = message
            run.finished_at = self._clock.now()
            if run.trigger != RunTrigger.TEST:
                settle_campaign(session, run.campaign_id)
            return queries.run_view(run), queries.load_campaign(session, run.campaign_id).name


def _commonest_error(session: Session, run_id: int) -> str:
    row = session.execute(
        select(Delivery.last_error, func.count().label("n"))
        .where(Delivery.run_id == run_id, Delivery.status == DeliveryStatus.FAILED)
        .group_by(Delivery.last_error)
        .order_by(func.count().desc())
        .limit(1)
    ).first()
    return f"The most common reason: {row[0]}" if row and row[0] else ""


def recount(session: Session, run_id: int) -> CampaignRun:
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


def record_unsent(
    session: Session,
    campaign_id: int,
    occurrences: Sequence[datetime],
    *,
    status: RunStatus,
    note: str,
    now: datetime,
) -> list[CampaignRun]:
    """Record occurrences that were not sent (missed, or skipped while held) as finished runs
    with no deliveries; an occurrence already recorded or claimed is left alone, so two
    desktops recording the same one never collide (ON CONFLICT DO NOTHING).
    """
    if not occurrences:
        return []
    inserted = (
        session.execute(
            insert_or_ignore(session, CampaignRun)
            .values(
                [
                    {
                        "campaign_id": campaign_id,
                        "occurrence_at": occurrence,
                        "trigger": RunTrigger.SCHEDULED.value,
                        "status": status.value,
                        "finished_at": now,
                        "error": note,
                        "total": 0,
                        "sent": 0,
                        "failed": 0,
                        "skipped": 0,
                        "unconfirmed": 0,
                    }
                    for occurrence in occurrences
                ]
            )
            .returning(CampaignRun.id)
        )
        .scalars()
        .all()
    )
    return list(session.scalars(select(CampaignRun).where(CampaignRun.id.in_(list(inserted)))))


def settle_campaign(session: Session, campaign_id: int) -> None:
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


def advance(campaign: Campaign, *, after: datetime) -> None:
    """Move `next_run_at` past `after` (at claim time, so a long send never delays it)."""
    if not campaign.is_recurring or campaign.recurrence_pattern is None:
        campaign.next_run_at = None
        return
    assert campaign.scheduled_local is not None
    pattern = RecurrencePattern.from_dict(campaign.recurrence_pattern)
    campaign.next_run_at = next_occurrence_after(
        pattern, campaign.scheduled_local, campaign.timezone, after
    )


def _snapshot_audience(session: Session, run_id: int, campaign_id: int) -> None:
    # One INSERT…SELECT: each contact once however many of the campaign's lists and segments
    # hold it (docs/design.md §18); anyone not subscribed is recorded as skipped so the
    # report can say why.
    members = (
        select(list_membership.c.contact_id)
        .join(campaign_audience, campaign_audience.c.list_id == list_membership.c.list_id)
        .where(campaign_audience.c.campaign_id == campaign_id)
    )
    segments = queries.campaign_segments(session, campaign_id)
    subscribed = Contact.status == ContactStatus.SUBSCRIBED
    rows = (
        select(
            literal(run_id, Integer),
            Contact.id,
            Contact.email,
            case((subscribed, literal(DeliveryStatus.PENDING.value)), else_=literal("skipped")),
            literal(0, Integer),
            case((subscribed, null()), else_=literal("Contact is ", String).concat(Contact.status)),
        )
        .where(queries.audience_condition(members, segments))
        .order_by(Contact.id)
    )
    session.execute(
        insert(Delivery).from_select(
            ["run_id", "contact_id", "email", "status", "attempts", "last_error"], rows
        )
    )
