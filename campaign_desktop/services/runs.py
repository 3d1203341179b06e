"""Runs and their deliveries: what was sent, to whom, and control of a send in progress.

Reading is here; starting runs is the sending engine's (`SendingEngine`).

A run's deliveries are paged by id, never by OFFSET (issue 16): the next page starts after
the last id shown, read straight from the (run_id, id) index of migration 0007, so the
end of a 50,000-recipient run costs what its start does. Rows are read as plain tuples
(Core), not ORM objects, and as stored (`delivery_rows`): no value is converted until it is
shown (`delivery_view`), so scrolling to the end of a long run or exporting it costs about
what a bare cursor does (docs/performance.md, issue 16).
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from datetime import datetime
from enum import IntEnum
from pathlib import Path
from typing import Any

from sqlalchemy import Integer, Select, String, bindparam, func, select, type_coerce
from sqlalchemy.types import NullType

from campaign_desktop.domain.status import DeliveryStatus, RunStatus
from campaign_desktop.domain.views import DeliveryView, RunView
from campaign_desktop.persistence import queries
from campaign_desktop.persistence.db import Database
from campaign_desktop.persistence.models import Campaign, CampaignRun, Delivery
from campaign_desktop.services.sending import SendingEngine

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
#: Rows per query of an export: each is its own short read, so a long export never holds
#: one read transaction (and SQLite's WAL checkpoints) open for its whole length.
EXPORT_PAGE = 5000


class DeliveryField(IntEnum):
    """The position of each value in a `DeliveryRow` (DeliveryView's field order)."""

    ID = 0
    RUN_ID = 1
    CONTACT_ID = 2
    EMAIL = 3
    STATUS = 4
    ATTEMPTS = 5
    LAST_ERROR = 6
    MESSAGE_ID = 7
    SENT_AT = 8
    FEEDBACK = 9


#: One delivery as the database driver returns it, in `DeliveryField` order: ints and
#: strings as they are, `status` its stored text, `sent_at` the stored UTC instant (text on
#: SQLite, a naive datetime on PostgreSQL). `RunService.delivery_view` and
#: `RunService.delivery_sent_at` convert it.
DeliveryRow = Sequence[Any]

# In DeliveryField order. NullType: SQLAlchemy hands the driver's values through untouched
# (the typed columns cost ~2 µs a row each in result processing, 3x a bare cursor).
_DELIVERY_COLUMNS = tuple(
    type_coerce(column, NullType())
    for column in (
        Delivery.id,
        Delivery.run_id,
        Delivery.contact_id,
        Delivery.email,
        Delivery.status,
        Delivery.attempts,
        Delivery.last_error,
        Delivery.smtp_message_id,
        Delivery.sent_at,
        Delivery.feedback,
    )
)


def spreadsheet_safe(value: object) -> str:
    """A CSV cell that a spreadsheet will not run as a formula (OWASP CSV injection)."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


class RunService:
    def __init__(self, db: Database, sending: SendingEngine) -> None:
        self._db = db
        self._sending = sending
        # What SQLAlchemy would do to a stored `sent_at` (the driver's value to an aware UTC
        # datetime), for this database's dialect; applied only to the rows shown.
        dialect = db.engine.dialect
        sent_at = Delivery.__table__.c.sent_at.type.dialect_impl(dialect)
        stored_instant = sent_at.result_processor(dialect, None)
        self._instant: Callable[[Any], datetime | None] = stored_instant or (lambda value: value)

    def for_campaign(self, campaign_id: int) -> list[RunView]:
        """The campaign's runs, newest first, with their counts."""
        with self._db.read() as session:
            runs = session.scalars(
                select(CampaignRun)
                .where(CampaignRun.campaign_id == campaign_id)
                .order_by(CampaignRun.occurrence_at.desc(), CampaignRun.id.desc())
            )
            return [queries.run_view(run) for run in runs]

    def get(self, run_id: int) -> RunView:
        with self._db.read() as session:
            return queries.run_view(queries.load_run(session, run_id))

    def recent(self, limit: int = 500) -> list[tuple[RunView, str]]:
        """The newest runs of every campaign with the campaign's name (the Activity tab)."""
        with self._db.read() as session:
            rows = session.execute(
                select(CampaignRun, Campaign.name)
                .join(Campaign, Campaign.id == CampaignRun.campaign_id)
                .order_by(CampaignRun.id.desc())
                .limit(limit)
            )
            return [(queries.run_view(run), name) for run, name in rows]

    def paused(self) -> list[tuple[RunView, str]]:
        """Runs paused now (by the user or the app; `RunView.error` says why the app did),
        oldest first, with their campaign's name: what a restart must still show."""
        with self._db.read() as session:
            rows = session.execute(
                select(CampaignRun, Campaign.name)
                .join(Campaign, Campaign.id == CampaignRun.campaign_id)
                .where(CampaignRun.status == RunStatus.PAUSED)
                .order_by(CampaignRun.id)
            )
            return [(queries.run_view(run), name) for run, name in rows]

    def deliveries(
        self,
        run_id: int,
        *,
        status: str | None = None,
        after_id: int | None = None,
        limit: int = 1000,
    ) -> list[DeliveryView]:
        """Up to `limit` of the run's deliveries (of `status` only, if given) by id, those
        after `after_id` (the last id of the page before; None for the first page)."""
        rows = self.delivery_rows(run_id, status=status, after_id=after_id, limit=limit)
        return [self.delivery_view(row) for row in rows]

    def delivery_rows(
        self,
        run_id: int,
        *,
        status: str | None = None,
        after_id: int | None = None,
        limit: int = 1000,
    ) -> list[DeliveryRow]:
        """`deliveries`, as stored (`DeliveryRow`s): for a table that converts only the
        rows it paints. Raises ValueError for a `limit` below 1."""
        if limit < 1:
            raise ValueError(f"limit must be >= 1, got {limit}")
        query = _DELIVERY_PAGE if status is None else _STATUS_PAGE
        params = {"run_id": run_id, "status": status, "after_id": after_id or 0, "limit": limit}
        with self._db.read() as session:
            # A Core statement built once, on the session's connection; the driver's own
            # tuples (nothing to process: `_DELIVERY_COLUMNS` are untyped), no Row objects.
            result = session.connection().execute(query, params)
            try:
                return list(result.cursor.fetchall())
            finally:
                result.close()

    def delivery_view(self, row: DeliveryRow) -> DeliveryView:
        """The view of a stored delivery row (from `delivery_rows`)."""
        (id_, run_id, contact_id, email, status, attempts, error, message_id, sent_at, feedback) = (
            row
        )
        return DeliveryView(
            id=id_,
            run_id=run_id,
            contact_id=contact_id,
            email=email,
            status=DeliveryStatus(status),
            attempts=attempts,
            last_error=error,
            smtp_message_id=message_id,
            sent_at=self._instant(sent_at),
            feedback=feedback,
        )

    def delivery_sent_at(self, row: DeliveryRow) -> datetime | None:
        """When a stored delivery row's message was sent (aware UTC), or None."""
        return self._instant(row[DeliveryField.SENT_AT])

    def delivery_counts(self, run_id: int) -> dict[str, int]:
        with self._db.read() as session:
            return dict(
                session.execute(
                    select(Delivery.status, func.count())
                    .where(Delivery.run_id == run_id)
                    .group_by(Delivery.status)
                ).all()
            )

    def export_csv(self, run_id: int, path: Path) -> int:
        """Write the run's deliveries to `path` as CSV; returns the number of rows written.

        Columns: email, status, attempts, sent_at (ISO 8601 in UTC, "" if never sent),
        error, message_id; cells a spreadsheet would run as a formula are quoted
        (`spreadsheet_safe`). Read a keyset page of `EXPORT_PAGE` rows at a time.
        """
        written = 0
        last_id: int | None = None
        iso = self._iso_instant
        safe = spreadsheet_safe
        with path.open("w", newline="", encoding="utf-8-sig") as handle:
            writer = csv.writer(handle)
            writer.writerow(["email", "status", "attempts", "sent_at", "error", "message_id"])
            while batch := self.delivery_rows(run_id, after_id=last_id, limit=EXPORT_PAGE):
                # Per row only what a value needs: most errors and ids are empty.
                writer.writerows(
                    [
                        safe(email),
                        status,
                        attempts,
                        iso(sent_at) if sent_at is not None else "",
                        safe(error) if error else "",
                        safe(message_id) if message_id else "",
                    ]
                    for _, _, _, email, status, attempts, error, message_id, sent_at, _ in batch
                )
                written += len(batch)
                last_id = batch[-1][DeliveryField.ID]
        return written

    def _iso_instant(self, stored: Any) -> str:
        """A stored `sent_at` (not None) as ISO 8601 in UTC, as `delivery_sent_at(...)
        .isoformat()` writes it, without building an aware datetime per row: the
        column holds naive UTC (SQLite: SQLAlchemy's text, which `fromisoformat` reads;
        PostgreSQL: a naive datetime), and UTC's offset is always "+00:00"."""
        naive = datetime.fromisoformat(stored) if isinstance(stored, str) else stored
        if isinstance(naive, datetime) and naive.tzinfo is None:
            return naive.isoformat() + "+00:00"
        instant = self._instant(stored)  # anything else: SQLAlchemy's own conversion
        return instant.isoformat() if instant is not None else ""

    def pause(self, run_id: int) -> None:
        self._sending.pause(run_id)

    def resume(self, run_id: int) -> None:
        self._sending.resume(run_id)

    def cancel(self, run_id: int) -> None:
        self._sending.cancel(run_id)


def _page_of_deliveries(*, by_status: bool) -> Select[*tuple[Any, ...]]:
    """One keyset page of a run's deliveries (`_DELIVERY_COLUMNS`, by id) after the id
    `:after_id` (0 for the first: ids start at 1), `:limit` rows, of `:status` if
    `by_status`. Built once: the statement's cache key is then computed once too."""
    query = select(*_DELIVERY_COLUMNS).where(
        Delivery.run_id == bindparam("run_id"), Delivery.id > bindparam("after_id")
    )
    if by_status:
        query = query.where(Delivery.status == bindparam("status", type_=String))
    return query.order_by(Delivery.id).limit(bindparam("limit", type_=Integer))


_DELIVERY_PAGE = _page_of_deliveries(by_status=False)
_STATUS_PAGE = _page_of_deliveries(by_status=True)
