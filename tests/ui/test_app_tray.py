"""The tray, the status bar and what closing the window means, with and without a tray.

Offscreen there is no system tray, so the "with a tray" cases pass `tray_available=True`:
the icon then exists (its balloons are a no-op offscreen) and the close policy is the tray's.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, Qt
from pytestqt.qtbot import QtBot

from campaign_desktop.context import AppContext
from campaign_desktop.domain.clock import ManualClock
from campaign_desktop.domain.events import CatchUpReport, RunEvent, RunPhase, SchedulerStateChanged
from campaign_desktop.domain.status import RunStatus, RunTrigger
from campaign_desktop.ui.activity.run_progress import (
    ActiveRun,
    RunProgressIndicator,
    progress_text,
)
from campaign_desktop.ui.common.formatting import on_this_machine, sent_of_total
from campaign_desktop.ui.shell.main_window import MainWindow
from campaign_desktop.ui.shell.notifications import Kind
from campaign_desktop.ui.shell.tray import (
    TOLD_ABOUT_TRAY_KEY,
    AppTray,
    ConfirmQuit,
    quit_soon_warning,
    quit_warning,
    tooltip_text,
)
from tests.ui.conftest import NOW, make_campaign
from tests.ui.helpers import sending_run

pytestmark = [
    pytest.mark.gui,
    pytest.mark.qt_log_ignore(
        "This plugin does not support propagateSizeHints",
        "This plugin does not support raise",
        # A tray icon made offscreen (tray_available=True) finds no tray to watch.
        "No such signal QPlatformNativeInterface::systemTrayWindowChanged",
    ),
]

RUN = sending_run(sent=120)


class QuitRecorder:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> None:
        self.calls += 1


@pytest.fixture
def window(gui_ctx: AppContext, qtbot: QtBot) -> MainWindow:
    widget = MainWindow(gui_ctx)
    qtbot.addWidget(widget)
    return widget


@pytest.fixture
def settings(tmp_path: Path) -> QSettings:
    return QSettings(str(tmp_path / "tray.ini"), QSettings.Format.IniFormat)


def _tray(
    ctx: AppContext, window: MainWindow, settings: QSettings, *, available: bool
) -> tuple[AppTray, QuitRecorder]:
    quit_app = QuitRecorder()
    return AppTray(
        ctx, window, tray_available=available, settings=settings, quit_app=quit_app
    ), quit_app


def _publish_from_worker(ctx: AppContext, *events: object) -> None:
    def publish() -> None:
        for event in events:
            ctx.events.publish(event)  # type: ignore[arg-type]  # the events built above

    worker = threading.Thread(target=publish)
    worker.start()
    worker.join()


def _schedule_one(ctx: AppContext) -> None:
    campaign = make_campaign(ctx)
    ctx.campaigns.schedule(campaign.id, first_local=datetime(2027, 2, 1, 9, 0), timezone="UTC")


# --- pure decisions --------------------------------------------------------------------------


def test_tooltip_names_the_next_send_or_why_there_is_none() -> None:
    assert tooltip_text(SchedulerStateChanged(True, False, None)) == (
        "Campaign Desktop\nNo send scheduled"
    )
    assert tooltip_text(SchedulerStateChanged(True, True, NOW)).endswith("All sending paused")
    assert "scheduler is stopped" in tooltip_text(SchedulerStateChanged(False, False, NOW))
    assert tooltip_text(SchedulerStateChanged(True, False, NOW)).startswith(
        "Campaign Desktop\nNext send: Mon 04 Jan 2027"
    )


def test_quit_warning_when_not_counted_yet() -> None:
    assert quit_warning(None, 0) == (
        "Scheduled campaigns only go out while Campaign Desktop is running. Quit anyway?"
    )


def test_quit_warning_only_when_something_waits_to_go_out() -> None:
    assert quit_warning(0, 0) is None
    assert quit_warning(2, 0) == (
        "Scheduled campaigns only go out while Campaign Desktop is running. Quit anyway?"
    )
    assert "The send in progress stops and carries on" in (quit_warning(0, 1) or "")
    assert "The 2 sends in progress stop" in (quit_warning(1, 2) or "")


def test_progress_text_for_one_and_several_runs() -> None:
    assert progress_text([]) == ""
    assert progress_text([ActiveRun("News", 120, 5000)]) == (
        "Sending \u201cNews\u201d: 120 of 5,000 sent"  # no rate before the second event
    )
    assert progress_text([ActiveRun("News", 1234, 5000, rate=38.2)]) == (
        "Sending \u201cNews\u201d: 1,234 of 5,000 sent, 38 messages/s"
    )
    assert progress_text([ActiveRun("A", 1, 10, rate=0.5), ActiveRun("B", 2, 20, rate=2.0)]) == (
        "Sending 2 campaigns: 3 of 30 sent, 2.5 messages/s"
    )


def test_progress_text_says_why_a_send_is_waiting() -> None:
    why = "Trying again in 25 s: the mail server asked to slow down (451 4.7.1 Rate limit)"
    assert progress_text([ActiveRun("News", 0, 1868, rate=0.0, waiting=why)]) == (
        f"Sending \u201cNews\u201d: 0 of 1,868 sent. {why}"
    )
    # While another run still sends, the sum of the rates says enough.
    assert progress_text(
        [ActiveRun("A", 1, 10, rate=0.0, waiting=why), ActiveRun("B", 2, 20, rate=2.0)]
    ) == ("Sending 2 campaigns: 3 of 30 sent, 2 messages/s")


def test_progress_text_says_why_a_send_is_paused() -> None:
    refused = ActiveRun("Promo", 40, 100, paused=True, reason="The server refused the login.")
    assert progress_text([refused]) == "\u201cPromo\u201d paused: The server refused the login."
    assert progress_text([ActiveRun("Promo", 40, 100, paused=True)]) == "\u201cPromo\u201d paused"
    assert progress_text([ActiveRun("News", 120, 5000, rate=10), refused]) == (
        "Sending \u201cNews\u201d: 120 of 5,000 sent, 10 messages/s; "
        "\u201cPromo\u201d paused: The server refused the login."
    )


def test_a_send_caught_up_late_says_so_while_it_sends(
    window: MainWindow, gui_ctx: AppContext, qtbot: QtBot
) -> None:
    window.show()
    progress = window.run_progress
    due = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)
    late = replace(RUN, trigger=RunTrigger.CATCH_UP, occurrence_at=due)
    _publish_from_worker(gui_ctx, RunEvent(RunPhase.STARTED, late, "News"))
    when = on_this_machine(due).removesuffix(" (this computer)")
    qtbot.waitUntil(lambda: progress.text().startswith("Sending \u201cNews\u201d late"))
    assert (
        progress.text() == f"Sending \u201cNews\u201d late (it was due {when}): 120 of 5,000 sent"
    )
    on_time = replace(RUN, id=RUN.id + 1)
    _publish_from_worker(gui_ctx, RunEvent(RunPhase.STARTED, on_time, "Promo"))
    qtbot.waitUntil(lambda: "2 campaigns" in progress.text())
    assert progress.text().startswith("Sending 2 campaigns (1 late): ")


# --- the status bar --------------------------------------------------------------------------


def test_status_bar_follows_a_run_published_on_a_worker_thread(
    window: MainWindow, gui_ctx: AppContext, qtbot: QtBot
) -> None:
    window.show()
    progress = window.run_progress
    assert not progress.isVisible()
    _publish_from_worker(gui_ctx, RunEvent(RunPhase.PROGRESS, RUN, "News"))
    qtbot.waitUntil(lambda: progress.text() == "Sending \u201cNews\u201d: 120 of 5,000 sent")
    assert progress.isVisible()
    assert (progress.bar.value(), progress.bar.maximum()) == (120, 5000)

    # Half a second later: the server accepted 19 more, and the event carries the rate.
    later = replace(RUN, sent=139, failed=3)
    _publish_from_worker(gui_ctx, RunEvent(RunPhase.PROGRESS, later, "News", rate=38.0))
    qtbot.waitUntil(lambda: "38 messages/s" in progress.text())
    assert progress.text() == "Sending \u201cNews\u201d: 139 of 5,000 sent, 38 messages/s"
    assert progress.label.text() == progress.text()  # short enough to show whole
    assert progress.bar.value() == 139  # what the server accepted, not the failures too

    why = "The mail server refused the login: 535 5.7.8 Authentication credentials invalid."
    paused = replace(later, status=RunStatus.PAUSED, error=why)
    _publish_from_worker(gui_ctx, RunEvent(RunPhase.PAUSED, paused, "News", why))
    qtbot.waitUntil(lambda: "paused" in progress.text())
    assert progress.text() == f"\u201cNews\u201d paused: {why}"
    assert progress.isVisible() and progress.bar.isHidden()  # no bar for a send that waits
    assert progress.label.toolTip() == progress.text()

    _publish_from_worker(gui_ctx, RunEvent(RunPhase.RESUMED, later, "News"))
    qtbot.waitUntil(lambda: progress.text().startswith("Sending"))
    assert not progress.bar.isHidden()

    done = replace(RUN, status=RunStatus.COMPLETED, sent=5000)
    _publish_from_worker(gui_ctx, RunEvent(RunPhase.FINISHED, done, "News"))
    qtbot.waitUntil(lambda: not progress.isVisible())
    assert progress.text() == ""


def test_status_bar_shows_scheduler_state_and_next_send(
    window: MainWindow, gui_ctx: AppContext, qtbot: QtBot
) -> None:
    assert window.scheduler_label.text() == "Scheduler stopped"
    assert window.next_send_label.text() == "No send scheduled"
    _publish_from_worker(gui_ctx, SchedulerStateChanged(True, False, NOW))
    qtbot.waitUntil(lambda: window.scheduler_label.text() == "Scheduler running")
    assert window.next_send_label.text().startswith("Next send: Mon 04 Jan 2027")


# --- notifications ---------------------------------------------------------------------------


def test_without_a_tray_notifications_go_to_the_status_bar(
    window: MainWindow, gui_ctx: AppContext, settings: QSettings, qtbot: QtBot
) -> None:
    tray, _ = _tray(gui_ctx, window, settings, available=False)
    assert tray.icon is None
    failed = replace(RUN, status=RunStatus.FAILED, sent=0)
    _publish_from_worker(
        gui_ctx, RunEvent(RunPhase.FAILED, failed, "News", "The server refused the login.")
    )
    qtbot.waitUntil(lambda: tray.last_notification is not None)
    assert window.statusBar().currentMessage() == (
        "Sending \u201cNews\u201d failed: The server refused the login."
    )


def test_catch_up_at_start_is_one_notification(
    window: MainWindow, gui_ctx: AppContext, settings: QSettings, qtbot: QtBot
) -> None:
    tray, _ = _tray(gui_ctx, window, settings, available=False)
    missed = replace(RUN, status=RunStatus.MISSED, sent=0)
    report = CatchUpReport(((1, NOW),), ((2, NOW), (3, NOW)))
    _publish_from_worker(
        gui_ctx,
        RunEvent(RunPhase.MISSED, missed, "News"),
        RunEvent(RunPhase.MISSED, missed, "Promo"),
        report,
    )
    qtbot.waitUntil(lambda: tray.last_notification is not None)
    assert tray.last_notification is not None
    assert tray.last_notification.kind == Kind.CATCH_UP
    assert "Sending 1 campaign late; 2 sends missed while Campaign Desktop was closed." in (
        window.statusBar().currentMessage()
    )


# --- the tray's menu -------------------------------------------------------------------------


def test_tray_menu_pauses_and_resumes_all_sending(
    window: MainWindow, gui_ctx: AppContext, settings: QSettings, qtbot: QtBot
) -> None:
    tray, _ = _tray(gui_ctx, window, settings, available=True)
    assert [a.text() for a in tray.menu.actions() if not a.isSeparator()] == [
        "&Open Campaign Desktop",
        "&Pause all sending",
        "&Quit",
    ]
    assert tray.quit_action in window.file_menu.actions()
    gui_ctx.scheduler.start()
    qtbot.waitUntil(tray.pause_action.isEnabled)
    tray.pause_action.trigger()
    qtbot.waitUntil(lambda: tray.pause_action.text() == "&Resume sending")
    assert gui_ctx.scheduler.sending_paused
    assert tray.tooltip().endswith("All sending paused")
    qtbot.waitUntil(tray.pause_action.isEnabled)
    tray.pause_action.trigger()
    qtbot.waitUntil(lambda: tray.pause_action.text() == "&Pause all sending")
    assert not gui_ctx.scheduler.sending_paused
    qtbot.waitUntil(lambda: window.statusBar().currentMessage() == "Sending resumed.")


def test_resume_fires_what_fell_due_on_the_pool_and_the_run_shows(
    window: MainWindow,
    gui_ctx: AppContext,
    settings: QSettings,
    qtbot: QtBot,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tray, _ = _tray(gui_ctx, window, settings, available=True)
    campaign = make_campaign(gui_ctx)
    gui_ctx.campaigns.schedule(
        campaign.id, first_local=(NOW + timedelta(minutes=1)).replace(tzinfo=None), timezone="UTC"
    )
    gui_ctx.scheduler.start()
    qtbot.waitUntil(tray.pause_action.isEnabled)
    tray.pause_action.trigger()
    qtbot.waitUntil(lambda: tray.pause_action.text() == "&Resume sending")
    qtbot.waitUntil(tray.pause_action.isEnabled)
    assert isinstance(gui_ctx.clock, ManualClock)
    gui_ctx.clock.advance(timedelta(minutes=2))  # the send falls due while paused
    reconciled_on: list[threading.Thread] = []
    reconcile = gui_ctx.scheduler.reconcile

    def watched_reconcile() -> int:
        reconciled_on.append(threading.current_thread())
        return reconcile()

    monkeypatch.setattr(gui_ctx.scheduler, "reconcile", watched_reconcile)
    tray.pause_action.trigger()
    qtbot.waitUntil(lambda: [run.campaign_id for run, _name in gui_ctx.runs.recent()] != [])
    assert [run.campaign_id for run, _name in gui_ctx.runs.recent()] == [campaign.id]
    qtbot.waitUntil(lambda: tray.pause_action.text() == "&Pause all sending")
    assert reconciled_on and threading.main_thread() not in reconciled_on


def test_tooltip_follows_the_next_send(
    window: MainWindow, gui_ctx: AppContext, settings: QSettings, qtbot: QtBot
) -> None:
    tray, _ = _tray(gui_ctx, window, settings, available=True)
    assert tray.icon is not None
    # Built before the scheduler starts (as the app does); the start's state event follows.
    assert tray.icon.toolTip() == "Campaign Desktop\nNot sending: the scheduler is stopped"
    at = datetime(2027, 2, 1, 9, 0, tzinfo=UTC)
    _publish_from_worker(gui_ctx, SchedulerStateChanged(True, False, at))
    qtbot.waitUntil(lambda: "Next send: Mon 01 Feb 2027" in tray.icon.toolTip())  # type: ignore[union-attr]  # checked above


def test_open_brings_a_hidden_window_back(
    window: MainWindow, gui_ctx: AppContext, settings: QSettings
) -> None:
    tray, _ = _tray(gui_ctx, window, settings, available=True)
    window.showMinimized()
    window.hide()
    tray.open_action.trigger()
    assert window.isVisible()
    assert not window.windowState() & Qt.WindowState.WindowMinimized


def test_quit_from_the_menu_closes_without_asking(
    window: MainWindow, gui_ctx: AppContext, settings: QSettings
) -> None:
    tray, quit_app = _tray(gui_ctx, window, settings, available=True)
    _schedule_one(gui_ctx)  # no question even so: Quit was chosen on purpose
    window.show()
    tray.quit_action.trigger()
    assert not window.isVisible()
    assert quit_app.calls == 1


def test_quit_soon_warning_names_a_send_due_within_the_hour_or_under_way() -> None:
    assert quit_soon_warning(None, NOW, 0) is None
    assert quit_soon_warning(NOW + timedelta(hours=2), NOW, 0) is None
    soon = quit_soon_warning(NOW + timedelta(minutes=25), NOW, 0)
    assert soon is not None and "due in 25 minutes" in soon and soon.endswith("Quit anyway?")
    busy = quit_soon_warning(None, NOW, 2)
    assert busy is not None and busy.startswith("2 sends are in progress")


def test_quit_asks_first_when_a_send_is_due_within_the_hour(
    window: MainWindow, gui_ctx: AppContext, settings: QSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    tray, quit_app = _tray(gui_ctx, window, settings, available=True)
    campaign = make_campaign(gui_ctx)
    gui_ctx.campaigns.schedule(
        campaign.id, first_local=datetime(2027, 1, 4, 12, 40), timezone="UTC"
    )
    tray._on_scheduler_state(window.scheduler_state())  # as the bridge delivers it
    asked: list[str] = []

    def keep(_parent: object, text: str) -> bool:
        asked.append(text)
        return False

    monkeypatch.setattr(ConfirmQuit, "ask", keep)
    window.show()
    tray.quit_action.trigger()
    assert asked and "due in 40 minutes" in asked[0]
    assert window.isVisible() and quit_app.calls == 0  # kept running
    monkeypatch.setattr(ConfirmQuit, "ask", lambda *_args: True)
    tray.quit_action.trigger()
    assert quit_app.calls == 1


# --- closing the window ----------------------------------------------------------------------


def test_with_a_tray_closing_hides_and_tells_the_user_once(
    window: MainWindow, gui_ctx: AppContext, settings: QSettings
) -> None:
    tray, quit_app = _tray(gui_ctx, window, settings, available=True)
    window.show()
    assert not window.close()
    assert not window.isVisible()
    assert quit_app.calls == 0
    assert tray.last_notification is not None
    assert tray.last_notification.kind == Kind.TRAY_HINT
    assert settings.value(TOLD_ABOUT_TRAY_KEY, False, bool)

    tray.last_notification = None
    window.show()
    assert not window.close()
    assert tray.last_notification is None  # told once is enough
    assert not window.isVisible()

    tray.quit_action.trigger()  # Quit from the tray while hidden ends the app
    assert quit_app.calls == 1


def test_with_a_tray_but_close_to_tray_off_closing_quits(
    window: MainWindow, gui_ctx: AppContext, settings: QSettings, qtbot: QtBot
) -> None:
    gui_ctx.settings.set("ui.close_to_tray", False)
    tray, quit_app = _tray(gui_ctx, window, settings, available=True)
    qtbot.waitUntil(lambda: tray.scheduled_count == 0)
    window.show()
    assert window.close()
    assert quit_app.calls == 1


def test_without_a_tray_closing_with_nothing_scheduled_just_quits(
    window: MainWindow, gui_ctx: AppContext, settings: QSettings, qtbot: QtBot
) -> None:
    tray, quit_app = _tray(gui_ctx, window, settings, available=False)
    qtbot.waitUntil(lambda: tray.scheduled_count == 0)  # counted on the pool
    window.show()
    assert window.close()  # ConfirmQuit.ask is not replaced: it must not be asked
    assert quit_app.calls == 1


def test_without_a_tray_closing_with_scheduled_campaigns_asks_first(
    window: MainWindow,
    gui_ctx: AppContext,
    settings: QSettings,
    monkeypatch: pytest.MonkeyPatch,
    qtbot: QtBot,
) -> None:
    tray, quit_app = _tray(gui_ctx, window, settings, available=False)
    qtbot.waitUntil(lambda: tray.scheduled_count == 0)
    _schedule_one(gui_ctx)
    # The change reaches the tray as an event; it counts again on the pool.
    qtbot.waitUntil(lambda: tray.scheduled_count == 1)
    asked: list[str] = []
    answer = False

    def ask(_parent: object, text: str) -> bool:
        asked.append(text)
        return answer

    monkeypatch.setattr(ConfirmQuit, "ask", ask)
    window.show()
    assert not window.close()
    assert asked == [
        "Scheduled campaigns only go out while Campaign Desktop is running. Quit anyway?"
    ]
    assert window.isVisible()
    assert window.windowState() & Qt.WindowState.WindowMinimized  # kept running, out of the way
    assert quit_app.calls == 0

    answer = True
    assert window.close()
    assert quit_app.calls == 1


# --- starting minimized ----------------------------------------------------------------------


def test_minimized_start_with_a_tray_shows_no_window(
    window: MainWindow, gui_ctx: AppContext, settings: QSettings
) -> None:
    tray, _ = _tray(gui_ctx, window, settings, available=True)
    tray.show_window(minimized=True)
    assert not window.isVisible()


def test_minimized_start_without_a_tray_minimizes_the_window(
    window: MainWindow, gui_ctx: AppContext, settings: QSettings
) -> None:
    tray, _ = _tray(gui_ctx, window, settings, available=False)
    tray.show_window(minimized=True)
    assert window.isVisible()
    assert window.windowState() & Qt.WindowState.WindowMinimized


def test_normal_start_shows_the_window(
    window: MainWindow, gui_ctx: AppContext, settings: QSettings
) -> None:
    tray, _ = _tray(gui_ctx, window, settings, available=True)
    tray.show_window(minimized=False)
    assert window.isVisible()


def test_progress_counts_the_same_people_as_the_audience(gui_ctx: AppContext) -> None:
    """An unsubscribed contact on the list is in neither: "to its 2 recipients" and "of 2"."""
    gui_ctx.contacts.add("cy@example.com", first_name="Cy", lists=("Customers",))
    gui_ctx.contacts.unsubscribe("cy@example.com")
    campaign = make_campaign(gui_ctx)
    assert gui_ctx.campaigns.get(campaign.id).audience_size == 2
    run = sending_run(campaign_id=campaign.id, total=3, skipped=1, sent=1)
    indicator = RunProgressIndicator()
    indicator.on_run_event(RunEvent(RunPhase.PROGRESS, run, campaign.name, rate=None))
    assert "1 of 2 sent" in indicator.label.text()
    assert indicator.bar.maximum() == 2
    assert sent_of_total(run) == "1 of 2 sent"
