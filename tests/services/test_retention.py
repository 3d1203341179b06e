"""History retention (issue 16, docs/design.md §15): old runs lose their recipients' rows in
chunks and keep their counts; nothing unfinished is touched, an occurrence is never sent
twice, and feedback about a removed message still reaches the contact (``both_backends``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select

from campaign_desktop.context import AppContext
from campaign_desktop.domain.clock import ManualClock
from campaign_desktop.domain.status import ContactStatus, RunTrigger
from campaign_desktop.persistence.models import Campaign, CampaignRun, Delivery
from campaign_desktop.services.retention import HistoryRetention, retention_cutoff
from tests.services import inbound_samples as samples
from tests.services.sending_support import add_contacts, configure_smtp, make_campaign
from tests.services.test_ledger_truth import wait_until
from tests.smtp_server import SmtpServer, running_smtp_server

pytestmark = [pytest.mark.both_backends, pytest.mark.usefixtures("every_backend")]

START = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)


@pytest.fixture
def server() -> Iterator[SmtpServer]:
    with running_smtp_server() as running:
        yield running


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def app(data_dir: Path, server: SmtpServer, clock: ManualClock) -> Iterator[AppContext]:
    ctx = AppContext.open(data_dir, clock=clock)
    configure_smtp(ctx, server.port)
    yield ctx
    ctx.close()


def delivery_rows(app: AppContext, run_id: int) -> dict[str, str]:
    with app.db.read() as session:
        return dict(
            session.execute(
                select(Delivery.email, Delivery.status).where(Delivery.run_id == run_id)
            ).all()
        )


def send_daily_run(app: AppContext, clock: ManualClock, campaign_id: int) -> tuple[int, datetime]:
    """Schedule `campaign_id` daily from tomorrow, fire its first send, wait for the end;
    (run id, occurrence)."""
    first = (clock.now() + timedelta(days=1)).replace(tzinfo=None)
    app.campaigns.schedule(
        campaign_id, first_local=first, timezone="UTC", recurrence={"type": "daily"}
    )
    due = first.replace(tzinfo=UTC)
    clock.set(due)
    run = app.sending.fire(campaign_id, due, RunTrigger.SCHEDULED)
    assert run is not None
    assert app.sending.wait_idle(10)
    return run.id, due


def make_run(app: AppContext, status: str, finished_at: datetime, rows: dict[str, int]) -> int:
    """A run of a new campaign with `rows` (delivery status → how many); its id."""
    with app.db.write() as session:
        campaign = Campaign(
            name=f"Old {status}", subject="News", body_text="Hi", from_email="news@shop.example"
        )
        session.add(campaign)
        session.flush()
        run = CampaignRun(
            campaign_id=campaign.id,
            occurrence_at=finished_at - timedelta(minutes=5),
            trigger="scheduled",
            status=status,
            finished_at=None if status in ("sending", "paused") else finished_at,
            total=sum(rows.values()),
        )
        session.add(run)
        session.flush()
        values = [
            {"run_id": run.id, "email": f"{row_status}{n}@example.com", "status": row_status}
            for row_status, count in rows.items()
            for n in range(count)
        ]
        if values:
            session.execute(insert(Delivery), values)
        return run.id


def test_keeping_details_forever_is_the_default_and_removes_nothing(
    app: AppContext, clock: ManualClock
) -> None:
    run_id = make_run(app, "completed", START - timedelta(days=3650), {"sent": 5})
    assert app.settings.snapshot().history_keep_months == 0
    assert app.retention.compact().deliveries == 0
    assert len(delivery_rows(app, run_id)) == 5
    assert app.runs.get(run_id).details_removed_at is None


def test_old_runs_lose_their_rows_and_keep_their_counts_newer_ones_keep_both(
    app: AppContext, clock: ManualClock, server: SmtpServer
) -> None:
    add_contacts(app, 4)
    old_run, _ = send_daily_run(app, clock, make_campaign(app, "Old news"))
    before = app.runs.get(old_run)
    assert (before.total, before.sent) == (4, 4)
    clock.set(clock.now() + timedelta(days=200))
    recent_run, _ = send_daily_run(app, clock, make_campaign(app, "Recent news"))
    clock.set(clock.now() + timedelta(days=100))
    app.settings.set("history.keep_months", 6)

    report = app.retention.compact()

    assert (report.runs, report.deliveries, report.complete) == (1, 4, True)
    assert delivery_rows(app, old_run) == {}
    after = app.runs.get(old_run)
    assert (after.total, after.sent, after.failed, after.status) == (4, 4, 0, "completed")
    assert after.details_removed_at == clock.now()
    assert len(delivery_rows(app, recent_run)) == 4
    assert app.runs.get(recent_run).details_removed_at is None
    # A second pass finds nothing left to do.
    assert app.retention.compact().deliveries == 0


def test_a_compacted_occurrence_is_never_claimed_or_sent_again(
    app: AppContext, clock: ManualClock, server: SmtpServer
) -> None:
    add_contacts(app, 3)
    campaign_id = make_campaign(app)
    run_id, due = send_daily_run(app, clock, campaign_id)
    assert len(server.handler.messages) == 3
    clock.set(due + timedelta(days=400))
    app.settings.set("history.keep_months", 12)
    assert app.retention.compact().deliveries == 3

    assert app.sending.fire(campaign_id, due, RunTrigger.SCHEDULED) is None
    assert app.sending.fire(campaign_id, due, RunTrigger.CATCH_UP) is None
    assert app.sending.wait_idle(10)
    assert len(server.handler.messages) == 3
    (run,) = app.runs.for_campaign(campaign_id)
    assert (run.id, run.occurrence_at, run.sent) == (run_id, due, 3)


def test_unfinished_runs_and_unsettled_rows_are_never_touched(
    app: AppContext, clock: ManualClock
) -> None:
    old = START - timedelta(days=800)
    sending = make_run(app, "sending", old, {"sent": 3, "in_flight": 1, "pending": 2})
    paused = make_run(app, "paused", old, {"sent": 2, "pending": 2})
    # A finished run can still hold a pending row (a cancelled send's rest): it stays.
    cancelled = make_run(app, "cancelled", old, {"sent": 2, "failed": 1, "pending": 3})
    app.settings.set("history.keep_months", 1)

    report = app.retention.compact()

    assert report.runs == 1 and report.deliveries == 3
    assert (
        sorted(delivery_rows(app, sending).values())
        == ["in_flight"] + ["pending"] * 2 + ["sent"] * 3
    )
    assert len(delivery_rows(app, paused)) == 4
    assert app.runs.get(sending).details_removed_at is None
    assert set(delivery_rows(app, cancelled).values()) == {"pending"}
    assert app.runs.get(cancelled).details_removed_at is not None


class StopAfterChunks(threading.Event):
    """The stop signal, set after the compaction has rested between `chunks` chunks."""

    def __init__(self, chunks: int) -> None:
        super().__init__()
        self._left = chunks

    def wait(self, timeout: float | None = None) -> bool:
        self._left -= 1
        if self._left <= 0:
            self.set()
        return self.is_set()


def test_compaction_goes_a_chunk_per_transaction_and_stops_between_chunks(
    app: AppContext, clock: ManualClock
) -> None:
    run_id = make_run(app, "completed", START - timedelta(days=800), {"sent": 1_050})
    app.settings.set("history.keep_months", 24)
    retention = HistoryRetention(app.db, clock, app.settings, chunk_rows=200, pause_seconds=0)
    stopped = retention.compact(StopAfterChunks(2))

    assert (stopped.deliveries, stopped.complete) == (400, False)
    assert len(delivery_rows(app, run_id)) == 650  # two chunks committed, the rest waits
    assert app.runs.get(run_id).details_removed_at is not None
    rest = retention.compact()
    assert (rest.deliveries, rest.complete) == (650, True)
    assert delivery_rows(app, run_id) == {}
    assert app.runs.get(run_id).total == 1_050


def test_feedback_about_a_removed_message_still_marks_the_contact(
    app: AppContext, clock: ManualClock, server: SmtpServer
) -> None:
    add_contacts(app, 3)
    run_id, due = send_daily_run(app, clock, make_campaign(app))
    sent = {m.rcpt_tos[0]: m.content for m in server.handler.messages}
    # One bounce came back before the details went: the run's count keeps it.
    first = app.inbound.process_message(
        samples.rfc3464_bounce(sent["person0003@example.com"], "person0003@example.com")
    )
    assert first.bounced and app.runs.get(run_id).bounced == 1
    clock.set(due + timedelta(days=100))
    app.settings.set("history.keep_months", 3)
    assert app.retention.compact().deliveries == 3

    leave = app.inbound.process_message(
        samples.unsubscribe_request(sent["person0001@example.com"], "person0001@example.com")
    )
    bounce = app.inbound.process_message(
        samples.rfc3464_bounce(
            sent["person0002@example.com"],
            "person0002@example.com",
            message_id="<late-bounce@mx1.mail.example>",
        )
    )

    assert leave.unsubscribed and "removed" in leave.effect
    assert bounce.bounced and "removed" in bounce.effect
    statuses = {
        address: view.status
        for address in (
            "person0001@example.com",
            "person0002@example.com",
            "person0003@example.com",
        )
        if (view := app.contacts.find(address)) is not None
    }
    assert statuses == {
        "person0001@example.com": ContactStatus.UNSUBSCRIBED,
        "person0002@example.com": ContactStatus.BOUNCED,
        "person0003@example.com": ContactStatus.BOUNCED,
    }
    after = app.runs.get(run_id)
    assert (after.bounced, after.unsubscribed, after.sent) == (1, 0, 3)


def test_an_unsubscribe_from_a_stranger_with_a_removed_token_changes_no_one(
    app: AppContext, clock: ManualClock, server: SmtpServer
) -> None:
    add_contacts(app, 1)
    _run_id, due = send_daily_run(app, clock, make_campaign(app))
    token = str(server.handler.messages[0].message["X-Campaign-Desktop-Token"])
    clock.set(due + timedelta(days=100))
    app.settings.set("history.keep_months", 1)
    app.retention.compact()

    result = app.inbound.process_message(
        samples.unsubscribe_with_token(token, "stranger@elsewhere.example")
    )

    assert not result.unsubscribed and result.kind == "other"
    contact = app.contacts.find("person0001@example.com")
    assert contact is not None and contact.status == ContactStatus.SUBSCRIBED


def test_the_scheduler_compacts_in_the_background_when_asked(
    app: AppContext, clock: ManualClock
) -> None:
    run_id = make_run(app, "completed", START - timedelta(days=800), {"sent": 10})
    app.settings.set("history.keep_months", 12)
    app.scheduler.start()
    app.scheduler.compact_history_soon()
    assert wait_until(lambda: delivery_rows(app, run_id) == {}, timeout=20)
    assert app.runs.get(run_id).total == 10


def test_months_are_calendar_months() -> None:
    assert retention_cutoff(datetime(2027, 3, 31, 12, tzinfo=UTC), 1) == datetime(
        2027, 2, 28, 12, tzinfo=UTC
    )
    assert retention_cutoff(datetime(2027, 3, 31, tzinfo=UTC), 12) == datetime(
        2026, 3, 31, tzinfo=UTC
    )


def test_the_setting_refuses_what_is_not_a_whole_number_of_months(app: AppContext) -> None:
    _cleaned, found = app.settings.check({"history.keep_months": -1})
    assert "between 0 and 1200" in found["history.keep_months"]
    _cleaned, found = app.settings.check({"history.keep_months": "six"})
    assert "whole number" in found["history.keep_months"]
    with app.db.read() as session:
        assert session.scalar(select(func.count()).select_from(CampaignRun)) == 0


@pytest.mark.slow
def test_stopping_the_scheduler_ends_a_long_compaction_between_chunks(
    app: AppContext, clock: ManualClock
) -> None:
    run_id = make_run(app, "completed", START - timedelta(days=800), {"sent": 30_000})
    app.settings.set("history.keep_months", 12)
    app.scheduler.start()
    app.scheduler.compact_history_soon()
    assert wait_until(lambda: len(delivery_rows(app, run_id)) < 30_000, timeout=20)

    app.scheduler.stop()  # returns once the job ended: between two chunks

    left = len(delivery_rows(app, run_id))
    assert 0 < left < 30_000 and left % 2_000 == 0
    assert app.runs.get(run_id).details_removed_at is not None
    assert app.retention.compact().deliveries == left  # the next pass goes on
