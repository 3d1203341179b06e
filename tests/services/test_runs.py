"""RunService's reading side (issue 16): a run's deliveries paged by id after the last one
shown, never by OFFSET, and exported to CSV a page at a time (``both_backends``)."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert, select

from campaign_desktop.context import AppContext
from campaign_desktop.domain.status import DeliveryStatus
from campaign_desktop.domain.views import DeliveryView
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


def test_stored_rows_convert_to_the_views_the_orm_reads(ctx: AppContext) -> None:
    run_id = make_run(ctx, 6)
    with ctx.db.write() as session:
        first = session.scalars(select(Delivery).where(Delivery.run_id == run_id)).first()
        assert first is not None
        # A row never sent (sent_at NULL), with what came back and microseconds elsewhere.
        first.sent_at, first.feedback, first.status = None, "bounced", DeliveryStatus.PENDING
    with ctx.db.read() as session:
        expected = [
            DeliveryView(
                id=d.id,
                run_id=d.run_id,
                contact_id=d.contact_id,
                email=d.email,
                status=d.status,
                attempts=d.attempts,
                last_error=d.last_error,
                smtp_message_id=d.smtp_message_id,
                sent_at=d.sent_at,
                feedback=d.feedback,
            )
            for d in session.scalars(
                select(Delivery).where(Delivery.run_id == run_id).order_by(Delivery.id)
            )
        ]
    rows = ctx.runs.delivery_rows(run_id)
    views = [ctx.runs.delivery_view(row) for row in rows]
    assert views == expected
    assert views[0].sent_at is None and views[0].status is DeliveryStatus.PENDING
    assert views[1].sent_at == SENT_AT + timedelta(seconds=1)
    assert views[1].sent_at is not None and views[1].sent_at.tzinfo is UTC
    assert [ctx.runs.delivery_sent_at(row) for row in rows] == [v.sent_at for v in views]


def test_a_limit_below_one_is_refused(ctx: AppContext) -> None:
    with pytest.raises(ValueError, match="limit"):
        ctx.runs.delivery_rows(make_run(ctx, 1), limit=0)


def test_export_writes_each_time_as_the_view_reads_it(ctx: AppContext, tmp_path: Path) -> None:
    run_id = make_run(ctx, 4)
    times = [
        None,  # never sent
        datetime(2027, 3, 28, 1, 30, tzinfo=UTC),  # whole seconds: no fraction written
        datetime(2027, 10, 31, 23, 59, 59, 999_999, tzinfo=UTC),
        datetime(1999, 12, 31, 0, 0, 0, 7, tzinfo=UTC),
    ]
    with ctx.db.write() as session:
        deliveries = session.scalars(
            select(Delivery).where(Delivery.run_id == run_id).order_by(Delivery.id)
        ).all()
        for delivery, sent_at in zip(deliveries, times, strict=True):
            delivery.sent_at = sent_at
    path = tmp_path / "run.csv"
    ctx.runs.export_csv(run_id, path)
    with path.open(encoding="utf-8-sig", newline="") as handle:
        written = [row[3] for row in list(csv.reader(handle))[1:]]
    assert written == [
        view.sent_at.isoformat() if view.sent_at else "" for view in ctx.runs.deliveries(run_id)
    ]
    assert written[1:3] == ["2027-03-28T01:30:00+00:00", "2027-10-31T23:59:59.999999+00:00"]
