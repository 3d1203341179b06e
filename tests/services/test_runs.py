"""RunService's reading side (issue 16): a run's deliveries paged by id after the last one
shown, never by OFFSET, and exported to CSV a page at a time (``both_backends``)."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert

from campaign_desktop.context import AppContext
from campaign_desktop.persistence.models import Campaign, CampaignRun, Delivery
from campaign_desktop.services import runs as runs_module

pytestmark = pytest.mark.both_backends

SENT_AT = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)
STATUSES = ("sent", "sent", "failed", "sent", "unconfirmed")


def make_run(ctx: AppContext, recipients: int) -> int:
    """A finished run with `recipients` deliveries of mixed statuses; its id."""
    with ctx.db.write() as session:
        campaign = Campaign(
            name="News", subject="News", body_text="Hello", from_email="news@shop.example"
        )
        session.add(campaign)
        session.flush()
        run = CampaignRun(
            campaign_id=campaign.id, occurrence_at=SENT_AT, trigger="manual", status="completed"
        )
        session.add(run)
        session.flush()
        session.execute(
            insert(Delivery),
            [
                {
                    "run_id": run.id,
                    "email": f"person{n:05d}@example.com",
                    "status": STATUSES[n % len(STATUSES)],
                    "attempts": 1,
                    "last_error": "=cmd|' /C calc'!A0" if n == 7 else None,
                    "sent_at": SENT_AT + timedelta(seconds=n),
                }
                for n in range(recipients)
            ],
        )
        return run.id


def test_pages_follow_the_last_id_and_cover_the_run_once(ctx: AppContext) -> None:
    run_id = make_run(ctx, 1_234)
    make_run(ctx, 10)  # another run's rows never show
    seen: list[str] = []
    last_id = None
    while page := ctx.runs.deliveries(run_id, after_id=last_id, limit=500):
        seen.extend(row.email for row in page)
        assert [row.id for row in page] == sorted(row.id for row in page)
        last_id = page[-1].id
    assert seen == [f"person{n:05d}@example.com" for n in range(1_234)]
    first = ctx.runs.deliveries(run_id, limit=1)[0]
    assert (first.status, first.attempts, first.sent_at) == ("sent", 1, SENT_AT)


def test_a_status_page_starts_after_the_last_row_shown(ctx: AppContext) -> None:
    run_id = make_run(ctx, 100)
    failed = ctx.runs.deliveries(run_id, status="failed", limit=5)
    assert [row.email for row in failed] == [
        f"person{n:05d}@example.com" for n in (2, 7, 12, 17, 22)
    ]
    after = ctx.runs.deliveries(run_id, status="failed", after_id=failed[-1].id, limit=2)
    assert [row.email for row in after] == ["person00027@example.com", "person00032@example.com"]


def test_export_writes_every_delivery_in_order_a_page_at_a_time(
    ctx: AppContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runs_module, "EXPORT_PAGE", 100)
    run_id = make_run(ctx, 1_050)
    path = tmp_path / "run.csv"
    assert ctx.runs.export_csv(run_id, path) == 1_050
    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["email", "status", "attempts", "sent_at", "error", "message_id"]
    assert [row[0] for row in rows[1:]] == [f"person{n:05d}@example.com" for n in range(1_050)]
    assert rows[8][4] == "'=cmd|' /C calc'!A0"  # a spreadsheet shows it, never runs it
    assert rows[1][3] == SENT_AT.isoformat()
