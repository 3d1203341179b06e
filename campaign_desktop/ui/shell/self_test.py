"""The headless self-test (`campaign-desktop --self-test`): the whole stack once, offscreen,
in a temporary folder. CI runs it, and `scripts/build.py --smoke` runs it in the frozen app.

It creates a contact and a campaign, schedules it in the real schedule dialog, checks the
preview and the table, and that events from a worker thread reach the status bar. It prints
"self-test ok" and returns 0, or prints the reason and returns 1.
"""

from __future__ import annotations

import logging
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

from PySide6.QtCore import QEvent, QEventLoop, QThreadPool
from PySide6.QtWidgets import QApplication

from campaign_desktop.context import AppContext
from campaign_desktop.domain.events import RunEvent, RunPhase
from campaign_desktop.domain.status import RunStatus, RunTrigger
from campaign_desktop.domain.timezones import get_zone, to_local
from campaign_desktop.domain.views import CampaignView, RunView
from campaign_desktop.ui.schedule.schedule_dialog import PREVIEW_COUNT, ScheduleDialog
from campaign_desktop.ui.shell.logs import setup_logging
from campaign_desktop.ui.shell.main_window import MainWindow
from campaign_desktop.ui.shell.tray import AppTray

log = logging.getLogger("campaign_desktop.ui.shell.self_test")


def run_self_test() -> int:
    """Run the self-test in a temporary folder; 0 when it passed (see the module docstring)."""
    try:
        with tempfile.TemporaryDirectory(prefix="campaign-desktop-selftest-") as tmp:
            setup_logging(Path(tmp) / "logs")
            _self_test_in(Path(tmp) / "data")
    except Exception as exc:  # the self-test reports every failure as its reason
        log.exception("self-test failed")
        print(f"self-test FAILED: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print("self-test ok")
    return 0


def _wait_for(condition: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SelfTestError(f"timed out waiting for {what}")
        QApplication.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)


def _check_progress_and_notifications(
    ctx: AppContext, window: MainWindow, tray: AppTray, campaign: CampaignView
) -> None:
    """Events from a worker thread reach the status bar: progress, then the notification."""
    now = ctx.clock.now()
    run = RunView(
        campaign.id,
        campaign.id,
        now,
        RunTrigger.MANUAL,
        RunStatus.SENDING,
        now,
        None,
        2,
        1,
        0,
        0,
        0,
        None,
    )
    done = replace(run, status=RunStatus.COMPLETED, sent=2, finished_at=now)
    name = campaign.name
    worker = threading.Thread(
        target=ctx.events.publish, args=(RunEvent(RunPhase.PROGRESS, run, name),)
    )
    worker.start()
    worker.join()
    expected = (
        f"Sending \N{LEFT DOUBLE QUOTATION MARK}{name}\N{RIGHT DOUBLE QUOTATION MARK}: 1 of 2 sent"
    )
    _wait_for(lambda: window.run_progress.text() == expected, "the status bar's progress")
    ctx.events.publish(RunEvent(RunPhase.FINISHED, done, name))
    _wait_for(lambda: tray.last_notification is not None, "the finished notification")
    if not window.statusBar().currentMessage().startswith("Sent \N{LEFT DOUBLE QUOTATION MARK}"):
        raise SelfTestError(f"status bar says {window.statusBar().currentMessage()!r}")
    if window.run_progress.isVisibleTo(window):
        raise SelfTestError("the progress stays visible after the send finished")


class SelfTestError(Exception):
    pass


def _self_test_in(data_dir: Path) -> None:
    app = QApplication.instance() or QApplication(sys.argv[:1])
    ctx = AppContext.open(data_dir)
    window: MainWindow | None = None
    try:
        window = MainWindow(ctx)
        # Forced off: the self-test checks the no-tray path (status bar) wherever it runs.
        tray = AppTray(ctx, window, tray_available=False, quit_app=lambda: None)
        ctx.scheduler.start()
        ctx.contacts.add("ann@example.com", first_name="Ann", lists=("Customers",))
        campaign = ctx.campaigns.create(
            name="Self-test",
            subject="Hello {{ first_name }}",
            body_text="Hi {{ first_name }}, this is the self-test.",
            from_email="news@example.com",
            lists=("Customers",),
        )
        dialog = ScheduleDialog(ctx, campaign, window)
        tz = "America/New_York"
        today = to_local(ctx.clock.now(), get_zone(tz)).date()
        monday = today + timedelta(days=7 - today.weekday())
        first = datetime(monday.year, monday.month, monday.day, 9, 0)  # noqa: DTZ001  (wall clock)
        dialog.set_values(first, tz, {"type": "weekly", "days_of_week": [0, 2]}, "send_late")
        if dialog.error_text():
            raise SelfTestError(f"schedule refused: {dialog.error_text()}")
        values = dialog.result_values()
        sends = dialog.preview_sends()
        if len(sends) != PREVIEW_COUNT:
            raise SelfTestError(f"preview lists {len(sends)} sends, not {PREVIEW_COUNT}")
        scheduled = ctx.campaigns.schedule(
            campaign.id,
            first_local=values.first_local,
            timezone=values.timezone,
            recurrence=values.recurrence,
            missed_run_policy=values.policy,
        )
        if scheduled.status != "scheduled" or scheduled.next_run_at != sends[0]:
            raise SelfTestError(f"campaign not scheduled as previewed: {scheduled}")
        app.processEvents()  # deliver the queued events to the window
        window.reload()
        if window.campaign_model.rowCount() != 1:
            raise SelfTestError("the campaign table does not show the campaign")
        _check_progress_and_notifications(ctx, window, tray, scheduled)
    finally:
        # Passed or not, the window goes before the context: no event, and no count on the
        # pool, may reach a closed database.
        if window is not None:
            window.quit()  # closes its event bridge
            window.deleteLater()
        QThreadPool.globalInstance().waitForDone()
        app.processEvents()
        QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
        ctx.close()
