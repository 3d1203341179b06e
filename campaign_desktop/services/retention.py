"""History retention: removes the delivery rows of runs older than the setting
`history.keep_months`, in short chunks, while each run keeps its counts (docs/design.md §15).

A run's row is never removed, only its recipients' details: the run stays in Activity with
its counts and `details_removed_at`, and its UNIQUE (campaign, occurrence) row still
stops anyone from claiming that occurrence again (the ledger's never-twice guarantee).
Only finished runs are compacted, and only their settled rows (sent, failed, skipped,
unconfirmed): a pending or in-flight row is never touched, whatever its run says.

Each chunk of `CHUNK_ROWS` rows is its own short write transaction (one DELETE … WHERE id
IN (SELECT … LIMIT n), the same on SQLite and PostgreSQL), with a short pause between
chunks, so the scheduler's sends and the GUI never wait behind a long one; a stop event
ends the work between chunks (the scheduler's shutdown), and the next pass goes on where it
stopped.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime

from dateutil.relativedelta import relativedelta
from sqlalchemy import delete, exists, func, select, update

from campaign_desktop.domain.clock import Clock
from campaign_desktop.domain.events import EventBus, HistoryCompacted
from campaign_desktop.domain.status import DeliveryStatus, RunStatus
from campaign_desktop.persistence.db import Database
from campaign_desktop.persistence.models import CampaignRun, Delivery
from campaign_desktop.services.settings import SettingsService

log = logging.getLogger("campaign_desktop.retention")

#: Delivery rows removed per transaction: tens of milliseconds of SQLite's work (median
#: 78 ms on the loaded 2-core machine; docs/performance.md, issue 16), so a send's next
#: commit waits at most that long, where one DELETE of the same rows holds it for seconds.
CHUNK_ROWS = 2000
#: The rest between two chunks (seconds): lets a waiting writer (a send) take the lock.
PAUSE_SECONDS = 0.02
#: Runs that can no longer change: only these lose their details.
FINISHED_RUNS = (
    RunStatus.COMPLETED,
    RunStatus.FAILED,
    RunStatus.CANCELLED,
    RunStatus.MISSED,
    RunStatus.SKIPPED,
)
#: Rows whose outcome is written for good; pending and in-flight rows are never removed.
SETTLED_ROWS = (
    DeliveryStatus.SENT,
    DeliveryStatus.FAILED,
    DeliveryStatus.SKIPPED,
    DeliveryStatus.UNCONFIRMED,
)


@dataclass(frozen=True)
class CompactionReport:
    """What one `compact()` pass did: runs whose details it removed (wholly or in part),
    delivery rows deleted, and whether it finished (False: stopped between chunks)."""

    runs: int = 0
    deliveries: int = 0
    complete: bool = True


def retention_cutoff(now: datetime, months: int) -> datetime:
    """The instant before which a finished run loses its details: `months` calendar months
    before `now` (31 March less one month is 28/29 February, dateutil's rule)."""
    return now - relativedelta(months=months)


class HistoryRetention:
    """Removes old delivery details; one door for the scheduler's job, tests and benchmarks."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        settings: SettingsService,
        events: EventBus | None = None,
        *,
        chunk_rows: int = CHUNK_ROWS,
        pause_seconds: float = PAUSE_SECONDS,
    ) -> None:
        if chunk_rows < 1:
            raise ValueError("chunk_rows must be at least 1")
        self._db = db
        self._clock = clock
        self._settings = settings
        self._events = events
        self._chunk_rows = chunk_rows
        self._pause_seconds = pause_seconds

    def due_runs(self, months: int | None = None) -> list[int]:
        """Ids of the finished runs older than the retention that still have settled
        delivery rows, oldest first; none while the setting keeps details forever (0).

        `months` overrides the setting `history.keep_months`. Raises StorageError.
        """
        if months is None:
            months = self._settings.snapshot().history_keep_months
        if months <= 0:
            return []
        cutoff = retention_cutoff(self._clock.now(), months)
        with self._db.read() as session:
            return list(
                session.scalars(
                    select(CampaignRun.id)
                    .where(
                        CampaignRun.status.in_(FINISHED_RUNS),
                        func.coalesce(CampaignRun.finished_at, CampaignRun.occurrence_at) < cutoff,
                        exists().where(
                            Delivery.run_id == CampaignRun.id,
                            Delivery.status.in_(SETTLED_ROWS),
                        ),
                    )
                    .order_by(CampaignRun.id)
                )
            )

    def compact(
        self, stop: threading.Event | None = None, *, months: int | None = None
    ) -> CompactionReport:
        """Remove the delivery rows of every run `due_runs` names, a chunk per transaction.

        Each run is marked `details_removed_at` in the transaction of its first chunk
        (feedback arriving later then leaves its counts alone). Between chunks it rests
        `pause_seconds` and returns early, `complete=False`, once `stop` is set. Raises
        StorageError when the database fails; what was removed until then stays removed.
        When rows were removed, a `HistoryCompacted` event says so (Activity reads again).
        """
        stop = stop or threading.Event()
        runs = deliveries = 0
        for run_id in self.due_runs(months):
            removed_here = 0
            while not stop.is_set():
                removed = self._remove_chunk(run_id)
                removed_here += removed
                if removed < self._chunk_rows:
                    break
                stop.wait(self._pause_seconds)
            if removed_here:
                runs += 1
                deliveries += removed_here
            if stop.is_set():
                break
            stop.wait(self._pause_seconds)
        report = CompactionReport(runs, deliveries, complete=not stop.is_set())
        if deliveries and self._events is not None:
            self._events.publish(HistoryCompacted(runs, deliveries))
        if deliveries or not report.complete:
            log.info(
                "history retention: removed %d delivery rows of %d runs%s",
                deliveries,
                runs,
                "" if report.complete else " (stopped; the rest next time)",
            )
        return report

    def _remove_chunk(self, run_id: int) -> int:
        """One transaction: mark the run (once), delete up to `chunk_rows` settled rows."""
        now = self._clock.now()
        finished = select(CampaignRun.id).where(
            CampaignRun.id == run_id, CampaignRun.status.in_(FINISHED_RUNS)
        )
        chunk = (
            select(Delivery.id)
            .where(
                Delivery.run_id == run_id,
                Delivery.run_id.in_(finished),
                Delivery.status.in_(SETTLED_ROWS),
            )
            .order_by(Delivery.id)
            .limit(self._chunk_rows)
        )
        with self._db.write() as session:
            result = session.execute(
                delete(Delivery)
                .where(Delivery.id.in_(chunk))
                .execution_options(synchronize_session=False)
            )
            removed = int(getattr(result, "rowcount", 0) or 0)
            if removed:
                session.execute(
                    update(CampaignRun)
                    .where(CampaignRun.id == run_id, CampaignRun.details_removed_at.is_(None))
                    .values(details_removed_at=now)
                    .execution_options(synchronize_session=False)
                )
        return removed
