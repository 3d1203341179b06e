"""Team mode: what the other desktops changed, found by a short poll of the shared database.

Every few seconds (the scheduler's `team` job) `TeamChanges.poll()` returns events for what
changed since the last poll and was not done here: campaigns created, edited or deleted on
another desktop (`CampaignChanged`), and runs another desktop is sending or has ended
(`RunEvent`). Published on this desktop's bus, they update its tables and re-arm its jobs
like its own changes do. A poll rather than LISTEN/NOTIFY: it needs no connection held open
per desktop, works the same through poolers, and a few seconds' delay is fine for a team
(docs/design.md §10).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, or_, select

from campaign_desktop.domain.events import (
    CampaignChange,
    CampaignChanged,
    Event,
    RunEvent,
    RunPhase,
)
from campaign_desktop.domain.status import RunStatus
from campaign_desktop.persistence import queries
from campaign_desktop.persistence.db import Database
from campaign_desktop.persistence.models import Campaign, CampaignRun

#: Each poll looks this far behind the newest change it saw: another desktop's clock may lag.
_OVERLAP = timedelta(minutes=2)
_ENDED = {
    RunStatus.COMPLETED: RunPhase.FINISHED,
    RunStatus.FAILED: RunPhase.FAILED,
    RunStatus.CANCELLED: RunPhase.CANCELLED,
    RunStatus.PAUSED: RunPhase.PAUSED,
}


class TeamChanges:
    """Turns the shared database's changes by other desktops into this desktop's events."""

    def __init__(self, db: Database, desktop_id: str) -> None:
        self._db = db
        self._desktop_id = desktop_id
        self._campaigns: dict[int, datetime] = {}  # id → updated_at last seen
        self._runs: dict[int, tuple[str, int]] = {}  # id → (status, sent) last seen
        self._since: datetime | None = None
        self._primed = False

    def poll(self) -> list[Event]:
        """Events for what changed since the last call (none on the first call, which only
        learns the current state). Raises StorageError when the database cannot be read."""
        events: list[Event] = []
        with self._db.read() as session:
            campaign_query = select(Campaign.id, Campaign.updated_at)
            if self._since is not None:
                campaign_query = campaign_query.where(Campaign.updated_at >= self._since)
            changed = session.execute(campaign_query).all()
            ids_now = set(session.scalars(select(Campaign.id)))
            runs = session.execute(
                select(CampaignRun, Campaign.name)
                .join(Campaign, Campaign.id == CampaignRun.campaign_id)
                .where(
                    or_(
                        CampaignRun.status.in_([RunStatus.SENDING, RunStatus.PAUSED]),
                        CampaignRun.id.in_(list(self._runs)),
                    ),
                    or_(
                        CampaignRun.owner_id.is_(None),
                        CampaignRun.owner_id != self._desktop_id,
                    ),
                )
            ).all()
            newest = session.scalar(select(func.max(Campaign.updated_at)))
            run_views = [(queries.run_view(run), name) for run, name in runs]
        for campaign_id, updated_at in changed:
            if self._campaigns.get(campaign_id) != updated_at:
                self._campaigns[campaign_id] = updated_at
                if self._primed:
                    events.append(CampaignChanged(campaign_id, CampaignChange.UPDATED))
        for gone in set(self._campaigns) - ids_now:
            del self._campaigns[gone]
            if self._primed:
                events.append(CampaignChanged(gone, CampaignChange.DELETED))
        for view, name in run_views:
            seen = (view.status, view.sent)
            if self._runs.get(view.id) == seen:
                continue
            self._runs[view.id] = seen
            if self._primed:
                phase = _ENDED.get(RunStatus(view.status), RunPhase.PROGRESS)
                events.append(RunEvent(phase, view, name))
            if view.status not in (RunStatus.SENDING, RunStatus.PAUSED):
                del self._runs[view.id]  # ended: reported once
        if newest is not None:
            self._since = newest - _OVERLAP
        self._primed = True
        return events
