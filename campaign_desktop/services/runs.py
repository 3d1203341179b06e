"""Runs and their deliveries: what was sent, to whom, and control of a send in progress.

Reading is here; starting runs is the sending engine's (`SendingEngine`).
"""

from __future__ import annotations

import csv
from pathlib import Path

from sqlalchemy import func, select

from campaign_desktop.domain.views import DeliveryView, RunView
from campaign_desktop.persistence import queries
from campaign_desktop.persistence.db import Database
from campaign_desktop.persistence.models import Campaign, CampaignRun, Delivery
from campaign_desktop.services.sending import SendingEngine

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: object) -> str:
    """A CSV cell that a spreadsheet will not run as a formula (OWASP CSV injection)."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


class RunService:
    def __init__(self, db: Database, sending: SendingEngine) -> None:
        self._db = db
        self._sending = sending

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

    def deliveries(
        self, run_id: int, *, status: str | None = None, offset: int = 0, limit: int = 1000
    ) -> list[DeliveryView]:
        with self._db.read() as session:
            query = select(Delivery).where(Delivery.run_id == run_id)
            if status is not None:
                query = query.where(Delivery.status == status)
            rows = session.scalars(query.order_by(Delivery.id).offset(offset).limit(limit))
            return [queries.delivery_view(row) for row in rows]

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
        """Write the run's deliveries to `path` as CSV; returns the number of rows written."""
        written = 0
        with path.open("w", newline="", encoding="utf-8-sig") as handle:
            writer = csv.writer(handle)
            writer.writerow(["email", "status", "attempts", "sent_at", "error", "message_id"])
            offset = 0
            while batch := self.deliveries(run_id, offset=offset, limit=5000):
                for row in batch:
                    writer.writerow(
                        [
                            spreadsheet_safe(row.email),
                            row.status,
                            row.attempts,
                            row.sent_at.isoformat() if row.sent_at else "",
                            spreadsheet_safe(row.last_error),
                            spreadsheet_safe(row.smtp_message_id),
                        ]
                    )
                written += len(batch)
                offset += len(batch)
        return written

    def pause(self, run_id: int) -> None:
        self._sending.pause(run_id)

    def resume(self, run_id: int) -> None:
        self._sending.resume(run_id)

    def cancel(self, run_id: int) -> None:
        self._sending.cancel(run_id)
