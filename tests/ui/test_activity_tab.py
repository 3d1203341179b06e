"""The Activity tab against a real local SMTP server: runs update live (the messages the
server accepted and the rate, while sending), the drill-down shows deliveries (unconfirmed
ones highlighted and explained), CSV export, pause/resume/cancel."""

from __future__ import annotations

import csv
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PySide6.QtCore import QModelIndex, Qt
from pytestqt.modeltest import ModelTester
from pytestqt.qtbot import QtBot
from sqlalchemy import text

from campaign_desktop.context import AppContext
from campaign_desktop.domain.clock import ManualClock
from campaign_desktop.domain.events import RunEvent, RunPhase
from campaign_desktop.domain.status import RunStatus, RunTrigger
from campaign_desktop.domain.views import RunView
from campaign_desktop.services.retention import HistoryRetention
from campaign_desktop.ui.activity.activity_tab import ActivityTab, ChooseExportPath
from campaign_desktop.ui.activity.run_models import (
    DELIVERY_PAGE_SIZE,
    DeliveryColumn,
    DeliveryRole,
    DeliveryTableModel,
    RunColumn,
    RunRow,
    RunTableModel,
    failed_background,
    unconfirmed_background,
)
from campaign_desktop.ui.common import formatting
from campaign_desktop.ui.common.accessibility import unnamed_controls
from campaign_desktop.ui.common.bridge import EventBridge
from campaign_desktop.ui.common.prompts import Confirm
from tests.services.test_runs import make_run
from tests.smtp_server import RecordingHandler, SmtpServer, running_smtp_server
from tests.ui.conftest import make_campaign
from tests.ui.helpers import people_csv, record_threads, sending_run

pytestmark = pytest.mark.gui


@pytest.fixture
def server(gui_ctx: AppContext) -> Iterator[SmtpServer]:
    with running_smtp_server() as running:
        gui_ctx.settings.set_smtp(host="127.0.0.1", port=running.port, security="none")
        yield running


@pytest.fixture
def tab(gui_ctx: AppContext, qtbot: QtBot) -> Iterator[ActivityTab]:
    bridge = EventBridge(gui_ctx.events)
    widget = ActivityTab(gui_ctx, bridge)
    qtbot.addWidget(widget)
    with qtbot.waitSignal(widget.reloaded):
        widget.reload()
    yield widget
    bridge.close()


def _cells(tab: ActivityTab, row: int = 0) -> dict[str, str]:
    model = tab.run_model
    return {
        model.headers[column]: model.index(row, column).data()
        for column in range(model.columnCount())
    }


def _sent_run(gui_ctx: AppContext, tab: ActivityTab, qtbot: QtBot) -> RunView:
    """Send the campaign to Ann and Bob for real; wait until the tab shows it finished."""
    campaign = make_campaign(gui_ctx, "Spring news")
    run = gui_ctx.campaigns.send_now(campaign.id)
    qtbot.waitUntil(lambda: _cells(tab).get("Status") == "Completed", timeout=10_000)
    assert gui_ctx.sending.wait_idle(10)
    return run


def _select(tab: ActivityTab, qtbot: QtBot, run_id: int) -> None:
    """Select the run and wait until its deliveries (read on the pool) show."""
    with qtbot.waitSignal(tab.delivery_model.loaded):
        tab.select_run(run_id)


def _load(model: DeliveryTableModel, qtbot: QtBot, run_id: int, status: str | None = None) -> None:
    with qtbot.waitSignal(model.loaded):
        model.set_run(run_id, status)


def _fetch_all(model: DeliveryTableModel, qtbot: QtBot) -> None:
    """Scroll to the end: every page, each read on the pool."""
    while model.canFetchMore(QModelIndex()):
        with qtbot.waitSignal(model.rowsInserted):
            model.fetchMore(QModelIndex())


def _set_sql(gui_ctx: AppContext, statement: str, **params: object) -> None:
    with gui_ctx.db.engine.begin() as connection:
        connection.execute(text(statement), params)


def test_run_model_passes_the_model_tester(
    gui_ctx: AppContext, qtmodeltester: ModelTester, server: SmtpServer, qtbot: QtBot
) -> None:
    campaign = make_campaign(gui_ctx)
    gui_ctx.campaigns.send_now(campaign.id)
    assert gui_ctx.sending.wait_idle(10)
    model = RunTableModel()
    model.set_runs(RunRow(run, name, "UTC") for run, name in gui_ctx.runs.recent())
    qtmodeltester.check(model)  # type: ignore[no-untyped-call]  # pytest-qt leaves it untyped


def test_a_real_send_shows_up_live_with_its_counts(
    gui_ctx: AppContext, tab: ActivityTab, server: SmtpServer, qtbot: QtBot
) -> None:
    assert tab.run_stack.currentWidget() is tab.empty_label
    with qtbot.assertNotEmitted(tab.run_model.modelReset):
        run = _sent_run(gui_ctx, tab, qtbot)  # only run events: no reload
    cells = _cells(tab)
    assert cells["Campaign"] == "Spring news"
    assert cells["Trigger"] == "Manual"
    assert (cells["Total"], cells["Sent"], cells["Failed"], cells["Skipped"]) == (
        "2",
        "2",
        "0",
        "0",
    )
    assert cells["Unconfirmed"] == "0"
    assert cells["Occurrence"].endswith("UTC")  # the campaign's zone (a draft is in UTC)
    assert cells["Finished"] != "\N{EM DASH}"
    assert tab.run_model.run_at(0).id == run.id
    assert tab.run_stack.currentWidget() is tab.run_view
    assert len(server.handler.messages) == 2


def test_a_second_run_is_inserted_on_top_and_the_first_row_only_changes(
    gui_ctx: AppContext, tab: ActivityTab, server: SmtpServer, qtbot: QtBot
) -> None:
    first = _sent_run(gui_ctx, tab, qtbot)
    tab.select_run(first.id)
    with qtbot.waitSignal(tab.run_model.rowsInserted):
        gui_ctx.campaigns.send_test(first.campaign_id, ["me@agency.example"])
    qtbot.waitUntil(lambda: _cells(tab, 0)["Status"] == "Completed")
    assert _cells(tab, 0)["Trigger"] == "Test"
    assert tab.run_model.run_at(1).id == first.id
    assert tab.selected_run() is not None and tab.selected_run().id == first.id  # type: ignore[union-attr]


def test_selecting_a_run_shows_its_deliveries(
    gui_ctx: AppContext,
    tab: ActivityTab,
    server: SmtpServer,
    qtbot: QtBot,
    qtmodeltester: ModelTester,
) -> None:
    run = _sent_run(gui_ctx, tab, qtbot)
    _select(tab, qtbot, run.id)
    model = tab.delivery_model
    assert model.run_id == run.id
    qtmodeltester.check(model)  # type: ignore[no-untyped-call]  # pytest-qt leaves it untyped
    rows = [
        (model.index(r, DeliveryColumn.EMAIL).data(), model.index(r, DeliveryColumn.STATUS).data())
        for r in range(model.rowCount())
    ]
    assert rows == [("ann@example.com", "Sent"), ("bob@example.com", "Sent")]
    assert "2 recipients: 2 sent" in tab.delivery_counts.text()
    assert "Spring news" in tab.delivery_title.text()
    assert tab.unconfirmed_banner.isHidden()
    with qtbot.waitSignal(model.loaded):
        tab.delivery_filter.setCurrentIndex(tab.delivery_filter.findData("failed"))
    assert model.rowCount() == 0


def test_a_run_whose_details_were_removed_says_so_and_keeps_its_counts(
    gui_ctx: AppContext, tab: ActivityTab, server: SmtpServer, qtbot: QtBot
) -> None:
    kept = _sent_run(gui_ctx, tab, qtbot)
    _select(tab, qtbot, kept.id)
    assert tab.details_removed.isHidden() and tab.delivery_view.isVisibleTo(tab)
    later = ManualClock(datetime.now(UTC) + timedelta(days=400))
    retention = HistoryRetention(gui_ctx.db, later, gui_ctx.settings, gui_ctx.events)

    # As the scheduler's job does it: off the GUI thread; the tab hears of it and reads again.
    worker = threading.Thread(target=retention.compact, kwargs={"months": 12})
    worker.start()
    qtbot.waitUntil(lambda: not tab.details_removed.isHidden(), timeout=10_000)
    worker.join()

    assert tab.selected_run() is not None and tab.selected_run().id == kept.id  # type: ignore[union-attr]
    assert "details were removed on" in tab.details_removed.text()
    assert not tab.delivery_view.isVisibleTo(tab)
    assert "2 recipients: 2 sent" in tab.delivery_counts.text()
    assert _cells(tab)["Sent"] == "2"
    row = tab.run_model.row_of(kept.id)
    assert row is not None
    tooltip = tab.run_model.index(row, RunColumn.STATUS).data(Qt.ItemDataRole.ToolTipRole)
    assert "details removed on" in tooltip
    assert not tab.action_export.isEnabled()
    assert not tab.delivery_filter.isEnabled()


def test_an_unconfirmed_delivery_is_highlighted_and_explained(
    gui_ctx: AppContext, tab: ActivityTab, server: SmtpServer, qtbot: QtBot
) -> None:
    run = _sent_run(gui_ctx, tab, qtbot)
    # What a crash between handing over a message and recording it leaves behind.
    _set_sql(
        gui_ctx,
        "UPDATE delivery SET status = 'unconfirmed', sent_at = NULL "
        "WHERE run_id = :run AND email = 'bob@example.com'",
        run=run.id,
    )
    _set_sql(
        gui_ctx, "UPDATE campaign_run SET sent = 1, unconfirmed = 1 WHERE id = :run", run=run.id
    )
    with qtbot.waitSignal(tab.reloaded):
        tab.reload()
    _select(tab, qtbot, run.id)
    model = tab.delivery_model
    bob = model.index(1, DeliveryColumn.EMAIL)
    assert bob.data() == "bob@example.com"
    assert bob.data(DeliveryRole.UnconfirmedRole) is True
    assert bob.data(8) == unconfirmed_background()  # Qt.BackgroundRole
    assert "may or may not have been delivered" in bob.data(3)  # Qt.ToolTipRole
    assert "not resent" in bob.data(3)
    ann = model.index(0, DeliveryColumn.EMAIL)
    assert ann.data(8) is None
    assert not tab.unconfirmed_banner.isHidden()
    assert "1 delivery is unconfirmed" in tab.unconfirmed_banner.text()
    assert "same email twice" in tab.unconfirmed_banner.text()
    run_row = tab.run_model.row_of(run.id)
    assert run_row is not None
    assert tab.run_model.index(run_row, RunColumn.UNCONFIRMED).data(8) == unconfirmed_background()


def test_export_writes_a_csv_with_formula_like_cells_escaped(
    gui_ctx: AppContext,
    tab: ActivityTab,
    server: SmtpServer,
    qtbot: QtBot,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    run = _sent_run(gui_ctx, tab, qtbot)
    _set_sql(
        gui_ctx,
        "UPDATE delivery SET last_error = '=HYPERLINK(\"http://evil\")', "
        "smtp_message_id = '@SUM(A1)' WHERE run_id = :run AND email = 'ann@example.com'",
        run=run.id,
    )
    tab.select_run(run.id)
    target = tmp_path / "export.csv"
    suggested: list[str] = []

    def choose(_parent: object, name: str) -> Path:
        suggested.append(name)
        return target

    monkeypatch.setattr(ChooseExportPath, "ask", choose)
    tab.action_export.trigger()
    qtbot.waitUntil(lambda: "Exported 2 deliveries" in tab.export_label.text())
    assert suggested[0].startswith("Spring news ") and suggested[0].endswith(f"run {run.id}.csv")
    with target.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    ann = next(row for row in rows if row["email"] == "ann@example.com")
    assert ann["error"] == '\'=HYPERLINK("http://evil")'
    assert ann["message_id"] == "'@SUM(A1)"
    assert [row["status"] for row in rows] == ["sent", "sent"]
    assert tab.action_export.isEnabled()


def test_pause_resume_and_cancel_a_send(
    gui_ctx: AppContext,
    tab: ActivityTab,
    server: SmtpServer,
    qtbot: QtBot,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # One message a minute on a clock that stands still: the second recipient waits.
    gui_ctx.settings.set("throttle.per_minute", 1)
    campaign = make_campaign(gui_ctx)
    run = gui_ctx.campaigns.send_now(campaign.id)
    assert server.handler.wait_for(1)
    qtbot.waitUntil(lambda: tab.run_model.row_of(run.id) is not None)
    tab.select_run(run.id)
    assert tab.action_pause.isEnabled() and not tab.action_resume.isEnabled()
    tab.action_pause.trigger()
    qtbot.waitUntil(lambda: _cells(tab)["Status"] == "Paused", timeout=10_000)
    assert tab.action_resume.isEnabled() and tab.action_cancel.isEnabled()
    tab.action_resume.trigger()
    # "Sending", then "Sending, 0 messages/s" once progress events carry the rate.
    qtbot.waitUntil(lambda: _cells(tab)["Status"].startswith("Sending"))
    asked: list[str] = []

    def confirm(*args: str) -> bool:
        asked.append(args[2])
        return True

    monkeypatch.setattr(Confirm, "ask", confirm)
    read_again = record_threads(monkeypatch, gui_ctx.runs, "get")
    tab.action_cancel.trigger()
    qtbot.waitUntil(lambda: _cells(tab)["Status"] == "Cancelled", timeout=10_000)
    assert "1 recipient not yet sent to will be skipped" in asked[0]
    assert (_cells(tab)["Sent"], _cells(tab)["Skipped"]) == ("1", "1")
    assert not tab.action_cancel.isEnabled()
    assert len(server.handler.messages) == 1
    assert read_again and not any(read_again)  # the run read again after Cancel


# --- reading off the GUI thread ---------------------------------------------------------------


def test_selecting_a_run_reads_its_deliveries_off_the_gui_thread_and_shows_them(
    gui_ctx: AppContext, tab: ActivityTab, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_id = make_run(gui_ctx, 12)
    tab.reload()
    qtbot.waitUntil(lambda: tab.run_model.rowCount() == 1)
    counted = record_threads(monkeypatch, gui_ctx.runs, "delivery_counts")
    paged = record_threads(monkeypatch, gui_ctx.runs, "delivery_rows")
    model = tab.delivery_model

    def statuses() -> set[str]:
        return {model.index(row, DeliveryColumn.STATUS).data() for row in range(model.rowCount())}

    tab.select_run(run_id)
    qtbot.waitUntil(lambda: model.rowCount() == 12)
    tab.delivery_filter.setCurrentIndex(tab.delivery_filter.findData("failed"))
    qtbot.waitUntil(lambda: statuses() == {"Failed"})

    assert counted and paged and not any(counted + paged)
    assert tab.delivery_loading.isHidden()


def test_refresh_reads_the_runs_off_the_gui_thread(
    gui_ctx: AppContext, tab: ActivityTab, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_id = make_run(gui_ctx, 3)
    recent = record_threads(monkeypatch, gui_ctx.runs, "recent")
    zones = record_threads(monkeypatch, gui_ctx.campaigns, "timezones")

    tab.action_refresh.trigger()
    qtbot.waitUntil(lambda: tab.run_model.rowCount() == 1)

    assert tab.run_model.run_at(0).id == run_id
    assert _cells(tab)["Campaign"] == "News"
    assert tab.run_stack.currentWidget() is tab.run_view
    assert recent and zones and not any(recent + zones)


def test_scrolling_reads_each_page_off_the_gui_thread(
    gui_ctx: AppContext, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_id = make_run(gui_ctx, 2 * DELIVERY_PAGE_SIZE + 1)
    model = DeliveryTableModel(gui_ctx.runs)
    paged = record_threads(monkeypatch, gui_ctx.runs, "delivery_rows")
    model.set_run(run_id)
    qtbot.waitUntil(lambda: model.rowCount() == DELIVERY_PAGE_SIZE)
    while model.canFetchMore(QModelIndex()):
        shown = model.rowCount()
        model.fetchMore(QModelIndex())
        qtbot.waitUntil(lambda shown=shown: model.rowCount() > shown)  # type: ignore[misc]
    assert model.rowCount() == 2 * DELIVERY_PAGE_SIZE + 1
    assert len(paged) == 3 and not any(paged)


def test_the_deliveries_of_the_run_selected_last_show_whichever_answer_comes_last(
    gui_ctx: AppContext, tab: ActivityTab, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = make_run(gui_ctx, 5), make_run(gui_ctx, 3)
    with qtbot.waitSignal(tab.reloaded):
        tab.reload()
    # The first run's read is held until the second run shows: its answer then comes last.
    second_shown = threading.Event()
    first_answered = threading.Event()
    rows = gui_ctx.runs.delivery_rows

    def slow_for_the_first(run_id: int, **kwargs: object) -> object:
        if run_id == first:
            second_shown.wait(10)
            try:
                return rows(run_id, **kwargs)  # type: ignore[arg-type]
            finally:
                first_answered.set()
        return rows(run_id, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(gui_ctx.runs, "delivery_rows", slow_for_the_first)
    tab.select_run(first)
    with qtbot.waitSignal(tab.delivery_model.loaded):
        tab.select_run(second)
    second_shown.set()
    qtbot.waitUntil(first_answered.is_set)
    # The first run's answer is dropped when it arrives: nothing else is read or shown.
    with qtbot.assertNotEmitted(tab.delivery_model.loaded, wait=200):
        pass

    assert tab.delivery_model.run_id == second
    assert tab.delivery_model.rowCount() == 3


def test_a_slow_read_says_so_and_the_deliveries_replace_the_words(
    gui_ctx: AppContext, tab: ActivityTab, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_id = make_run(gui_ctx, 4)
    with qtbot.waitSignal(tab.reloaded):
        tab.reload()
    go_on = threading.Event()
    counts = gui_ctx.runs.delivery_counts

    def slow(run: int) -> dict[str, int]:
        go_on.wait(10)
        return counts(run)

    monkeypatch.setattr(gui_ctx.runs, "delivery_counts", slow)
    tab.select_run(run_id)
    qtbot.waitUntil(lambda: not tab.delivery_loading.isHidden())
    assert tab.delivery_loading.text() == "Reading the deliveries\N{HORIZONTAL ELLIPSIS}"
    assert tab.delivery_model.is_loading()
    go_on.set()
    qtbot.waitUntil(lambda: tab.delivery_model.rowCount() == 4)
    assert tab.delivery_loading.isHidden()


def test_a_run_event_of_a_campaign_not_shown_reads_its_zone_off_the_gui_thread(
    gui_ctx: AppContext, tab: ActivityTab, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    campaign = make_campaign(gui_ctx, "Spring news")
    gui_ctx.campaigns.schedule(
        campaign.id, first_local=datetime(2027, 2, 1, 9, 0), timezone="America/New_York"
    )
    zones = record_threads(monkeypatch, gui_ctx.campaigns, "timezones")
    run = sending_run(id=7, campaign_id=campaign.id)
    _publish_from_worker(
        gui_ctx,
        RunEvent(RunPhase.STARTED, run, "Spring news"),
        RunEvent(RunPhase.PROGRESS, replace(run, sent=3), "Spring news", rate=2.0),
    )
    qtbot.waitUntil(lambda: _cells(tab).get("Sent") == "3")
    assert _cells(tab)["Occurrence"].endswith((" EST", " EDT"))
    assert zones and not any(zones)


def test_a_run_event_during_a_reload_is_not_undone_by_what_the_reload_read(
    gui_ctx: AppContext, tab: ActivityTab, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_id = make_run(gui_ctx, 2)
    stored = gui_ctx.runs.get(run_id)  # completed
    go_on = threading.Event()
    recent = gui_ctx.runs.recent

    def read_then_wait(limit: int = 500) -> list[tuple[RunView, str]]:
        rows = recent(limit)
        go_on.wait(10)  # the event below comes after this read
        return rows

    monkeypatch.setattr(gui_ctx.runs, "recent", read_then_wait)
    tab.reload()
    newer = replace(stored, status=RunStatus.SENDING, sent=1)
    _publish_from_worker(gui_ctx, RunEvent(RunPhase.PROGRESS, newer, "News", rate=1.0))
    qtbot.waitUntil(lambda: tab.run_model.row_of(run_id) is not None)
    with qtbot.waitSignal(tab.reloaded):
        go_on.set()
    assert _cells(tab)["Status"] == "Sending, 1 message/s"
    assert tab.run_model.rowCount() == 1


def test_every_interactive_widget_is_named(tab: ActivityTab) -> None:
    assert unnamed_controls(tab) == []


# --- live progress ---------------------------------------------------------------------------


def _publish_from_worker(gui_ctx: AppContext, *events: RunEvent) -> None:
    """Publish as the engine does: on a thread that is not the GUI thread."""

    def publish() -> None:
        for event in events:
            gui_ctx.events.publish(event)

    worker = threading.Thread(target=publish)
    worker.start()
    worker.join()


def test_progress_events_from_a_worker_thread_show_sent_and_rate_in_row_and_details(
    gui_ctx: AppContext, tab: ActivityTab, qtbot: QtBot, qtmodeltester: ModelTester
) -> None:
    qtmodeltester.check(tab.run_model)  # type: ignore[no-untyped-call]  # pytest-qt leaves it untyped
    campaign = make_campaign(gui_ctx, "Spring news")
    run = sending_run(id=7, campaign_id=campaign.id)
    _publish_from_worker(gui_ctx, RunEvent(RunPhase.STARTED, run, "Spring news"))
    qtbot.waitUntil(lambda: tab.run_model.row_of(run.id) is not None)
    tab.select_run(run.id)
    assert tab.run_state.text().startswith("Sending now: 0 of 5,000 sent. ")

    with qtbot.assertNotEmitted(tab.run_model.modelReset):  # the row changes in place
        _publish_from_worker(
            gui_ctx,
            RunEvent(RunPhase.PROGRESS, replace(run, sent=1200), "Spring news"),
            RunEvent(
                RunPhase.PROGRESS, replace(run, sent=1234, failed=2), "Spring news", rate=38.4
            ),
        )
        qtbot.waitUntil(lambda: _cells(tab)["Sent"] == "1,234")
    cells = _cells(tab)
    assert (cells["Status"], cells["Total"], cells["Failed"]) == (
        "Sending, 38 messages/s",
        "5,000",
        "2",
    )
    live = "Sending now: 1,234 of 5,000 sent, 38 messages/s."
    assert tab.run_state.text() == (
        f"{live} The deliveries below are as they were when selected; Refresh reads them again."
    )
    assert not tab.run_state.isHidden()
    assert "1,234 sent, 2 failed" in tab.delivery_counts.text()
    status = tab.run_model.index(0, RunColumn.STATUS)
    assert status.data(3) == live  # Qt.ToolTipRole

    why = "The mail server refused the login: 535 5.7.8 Authentication credentials invalid."
    paused = replace(run, status=RunStatus.PAUSED, sent=1234, failed=2, error=why)
    _publish_from_worker(gui_ctx, RunEvent(RunPhase.PAUSED, paused, "Spring news", why))
    qtbot.waitUntil(lambda: _cells(tab)["Status"].startswith("Paused"))
    assert _cells(tab)["Status"] == f"Paused: {why}"
    assert tab.run_state.text() == f"Paused: {why} 1,234 of 5,000 sent so far."
    assert tab.action_resume.isEnabled()
    # Read back from the database later (no event): the reason is the run's stored error.
    assert RunRow(paused, "Spring news", "UTC").state_text() == f"Paused: {why}"
    by_user = RunRow(replace(paused, error=None), "Spring news", "UTC")
    assert by_user.state_text() == "Paused"
    assert by_user.progress_text() == "Paused: 1,234 of 5,000 sent so far. Resume sends the rest."


def test_a_real_slow_send_shows_the_count_the_server_accepted_while_it_sends(
    gui_ctx: AppContext, tab: ActivityTab, qtbot: QtBot, tmp_path: Path
) -> None:
    # 300 recipients over 2 connections to a server that takes 20 ms a message: ~3 s.
    gui_ctx.contacts.import_csv(people_csv(tmp_path / "people.csv", 298), "Customers")
    gui_ctx.settings.set("sending.connections", 2)
    handler = RecordingHandler(data_delay=0.02)
    with running_smtp_server(handler) as server:
        gui_ctx.settings.set_smtp(host=server.host, port=server.port, security="none")
        campaign = make_campaign(gui_ctx, "Spring news")
        run = gui_ctx.campaigns.send_now(campaign.id)
        qtbot.waitUntil(lambda: tab.run_model.row_of(run.id) is not None)
        tab.select_run(run.id)

        def sending_midway() -> bool:
            cells = _cells(tab)
            return cells["Status"].startswith("Sending, ") and 0 < int(cells["Sent"]) < 300

        qtbot.waitUntil(sending_midway, timeout=10_000)
        cells = _cells(tab)
        shown = int(cells["Sent"])
        assert cells["Total"] == "300"
        assert cells["Status"].endswith("messages/s")
        # Counted from the ledger after the server's reply: never more than it received.
        assert shown <= len(handler.messages)
        assert tab.run_state.text().startswith(f"Sending now: {shown} of 300 sent, ")
        handler.data_delay = 0  # let the rest go quickly
        qtbot.waitUntil(lambda: _cells(tab)["Status"] == "Completed", timeout=20_000)
        assert gui_ctx.sending.wait_idle(10)
    assert _cells(tab)["Sent"] == "300"
    assert len(handler.messages) == 300
    assert tab.run_state.isHidden()  # nothing live to say once it has ended


def test_scrolling_a_long_run_reads_each_delivery_once_in_order(
    gui_ctx: AppContext, qtmodeltester: ModelTester, qtbot: QtBot
) -> None:
    run_id = make_run(gui_ctx, 3 * DELIVERY_PAGE_SIZE + 7)
    model = DeliveryTableModel(gui_ctx.runs)
    _load(model, qtbot, run_id)
    assert model.rowCount() == DELIVERY_PAGE_SIZE
    qtmodeltester.check(model)  # type: ignore[no-untyped-call]  # pytest-qt leaves it untyped
    _fetch_all(model, qtbot)
    emails = [model.index(row, DeliveryColumn.EMAIL).data() for row in range(model.rowCount())]
    expected = [f"person{n:05d}@example.com" for n in range(3 * DELIVERY_PAGE_SIZE + 7)]
    assert len(emails) == len(set(emails)), [e for e in emails if emails.count(e) > 1][:20]
    assert emails == expected
    _load(model, qtbot, run_id, "failed")
    _fetch_all(model, qtbot)
    statuses = {model.index(row, DeliveryColumn.STATUS).data() for row in range(model.rowCount())}
    assert model.rowCount() == model.counts()["failed"] and statuses == {"Failed"}


@pytest.fixture
def tokyo_machine(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """This computer's clock in Tokyo (JST, UTC+9: no DST), whatever the test machine's."""
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_every_time_shows_on_the_campaigns_clock_with_this_computers_in_the_tooltip(
    gui_ctx: AppContext, tab: ActivityTab, server: SmtpServer, qtbot: QtBot, tokyo_machine: None
) -> None:
    campaign = make_campaign(gui_ctx, "Spring news")
    gui_ctx.campaigns.schedule(
        campaign.id, first_local=datetime(2027, 2, 1, 9, 0), timezone="America/New_York"
    )
    run = gui_ctx.campaigns.send_now(campaign.id)
    qtbot.waitUntil(lambda: _cells(tab).get("Status") == "Completed", timeout=10_000)
    assert gui_ctx.sending.wait_idle(10)
    model = tab.run_model
    for column in (RunColumn.OCCURRENCE, RunColumn.STARTED, RunColumn.FINISHED):
        cell = model.index(0, column)
        assert cell.data().endswith(" EST"), cell.data()
        assert cell.data(Qt.ItemDataRole.ToolTipRole).endswith(" JST (this computer)")
    _select(tab, qtbot, run.id)
    deliveries = tab.delivery_model
    sent = deliveries.index(0, DeliveryColumn.SENT_AT)
    assert sent.data().endswith(" EST"), sent.data()
    assert sent.data(Qt.ItemDataRole.ToolTipRole).endswith(" JST (this computer)")
    assert " EST" in tab.delivery_title.text()


def test_a_send_caught_up_late_says_so_in_its_row_while_it_sends() -> None:
    due = datetime(2027, 1, 4, 14, 0, tzinfo=UTC)  # 09:00 in New York
    late = sending_run(sent=120, trigger=RunTrigger.CATCH_UP, occurrence_at=due)
    row = RunRow(late, "News", "America/New_York", rate=38.0)
    assert row.state_text() == "Sending late, 38 messages/s"
    assert row.progress_text() == (
        "Sending late (it was due Mon 04 Jan 2027 09:00 EST): 120 of 5,000 sent, 38 messages/s."
    )
    on_time = RunRow(replace(late, trigger=RunTrigger.SCHEDULED), "News", "America/New_York")
    assert on_time.state_text() == "Sending"


def test_a_send_that_waits_says_why_in_its_row() -> None:
    why = "Trying again in 3 min: 3 recipients the mail server put off"
    row = RunRow(sending_run(sent=1863), "News", "UTC", rate=0.0, waiting=why)
    assert row.state_text() == f"Sending \N{EM DASH} {why}"
    assert row.progress_text() == f"Sending now: 1,863 of 5,000 sent. {why}."


def test_delivery_cells_show_each_value_as_the_view_does(
    gui_ctx: AppContext, qtmodeltester: ModelTester, qtbot: QtBot
) -> None:
    run_id = make_run(gui_ctx, 12)
    _set_sql(
        gui_ctx,
        "UPDATE delivery SET sent_at = NULL, status = 'pending', feedback = 'bounced' "
        "WHERE run_id = :run AND email = 'person00001@example.com'",
        run=run_id,
    )
    model = DeliveryTableModel(gui_ctx.runs)
    _load(model, qtbot, run_id)
    qtmodeltester.check(model)  # type: ignore[no-untyped-call]  # pytest-qt leaves it untyped
    views = gui_ctx.runs.deliveries(run_id)
    assert [model.index(r, 0).data(DeliveryRole.DeliveryRole) for r in range(12)] == views
    for row, view in enumerate(views):
        shown = [model.index(row, column).data() for column in DeliveryColumn]
        assert shown == [
            view.email,
            formatting.status_text(view.status),
            str(view.attempts),
            formatting.in_zone(view.sent_at, "UTC"),
            view.last_error or "",
            view.smtp_message_id or "",
            formatting.status_text(view.feedback) if view.feedback else "",
        ]
    # On the campaign's clock (UTC: `set_run` was given no zone), as every time in Activity.
    sent = model.index(0, DeliveryColumn.SENT_AT)
    assert sent.data() == formatting.in_zone(views[0].sent_at, "UTC") != ""
    assert sent.data(Qt.ItemDataRole.ToolTipRole) == formatting.on_this_machine(views[0].sent_at)
    assert model.index(1, DeliveryColumn.SENT_AT).data() == "—"  # never sent
    assert model.index(1, DeliveryColumn.CAME_BACK).data() == "Bounced"
    failed = model.index(2, DeliveryColumn.EMAIL)  # STATUSES in tests/services/test_runs.py
    assert failed.data(8) == failed_background()  # Qt.BackgroundRole
    assert model.index(7, DeliveryColumn.ERROR).data(3) == "=cmd|' /C calc'!A0"  # tooltip
