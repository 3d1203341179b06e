"""The system tray: icon, tooltip with the next send, menu, notifications, and what closing
the main window means (hide to the tray, or quit after a warning where no tray exists).

Everything here also works where the desktop has no tray (Qt's `offscreen`, some Wayland
desktops): notifications then go to the main window's status bar and closing quits.

Nothing here waits for the database on the GUI thread: how many campaigns are scheduled is
counted on the pool whenever a campaign or the scheduler changes (the close policy reads the
last count), and "Pause all sending" / "Resume sending" (whose resume fires what fell due,
an INSERT … SELECT) run on the pool too.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from PySide6.QtCore import QObject, QSettings, Qt, Slot
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QApplication, QMenu, QMessageBox, QSystemTrayIcon, QWidget

from campaign_desktop.context import AppContext
from campaign_desktop.domain.errors import DomainError
from campaign_desktop.domain.events import SchedulerStateChanged
from campaign_desktop.ui.common import formatting
from campaign_desktop.ui.common.background import hand_to_crash_handler, run_in_background
from campaign_desktop.ui.common.icons import app_icon, icon
from campaign_desktop.ui.common.prompts import ask_two_ways
from campaign_desktop.ui.shell.main_window import MainWindow
from campaign_desktop.ui.shell.notifications import Kind, Level, Notification, Notifier

log = logging.getLogger("campaign_desktop.ui.shell.tray")

TOLD_ABOUT_TRAY_KEY = "tray/told_about_hiding"
BALLOON_MS = 10_000
STATUS_BAR_MS = 15_000
_TRAY_ICONS = {
    Level.INFO: QSystemTrayIcon.MessageIcon.Information,
    Level.WARNING: QSystemTrayIcon.MessageIcon.Warning,
    Level.ERROR: QSystemTrayIcon.MessageIcon.Critical,
}


def tooltip_text(state: SchedulerStateChanged) -> str:
    """The tray icon's tooltip: the app, then whether and when it sends next."""
    if not state.running:
        detail = "Not sending: the scheduler is stopped"
    elif state.sending_paused:
        detail = "All sending paused"
    elif state.next_run_at is None:
        detail = "No send scheduled"
    else:
        when = formatting.on_this_machine(state.next_run_at).removesuffix(" (this computer)")
        detail = f"Next send: {when}"
    return f"Campaign Desktop\n{detail}"


def quit_warning(scheduled: int | None, sending: int) -> str | None:
    """Why quitting now may surprise the user, or None when nothing is waiting to go out.

    `scheduled` None: not counted yet, so campaigns may be waiting (the warning is given).
    """
    if scheduled == 0 and not sending:
        return None
    text = "Scheduled campaigns only go out while Campaign Desktop is running."
    if sending:
        text += (
            " The send in progress stops and carries on when you start the app again."
            if sending == 1
            else f" The {sending} sends in progress stop and carry on when you start the app again."
        )
    return f"{text} Quit anyway?"


#: Quit asks first when a scheduled send is due this soon (or a send is under way).
QUIT_ASKS_WITHIN = timedelta(hours=1)


def quit_soon_warning(next_run_at: datetime | None, now: datetime, sending: int) -> str | None:
    """Why the Quit command (which asks nothing otherwise) should ask: a send under way, or
    one due within `QUIT_ASKS_WITHIN`; None when quitting now misses nothing soon."""
    parts = []
    if sending:
        parts.append(
            "A send is in progress: it stops and carries on when you start the app again."
            if sending == 1
            else f"{sending} sends are in progress: they stop and carry on when you start the "
            "app again."
        )
    if next_run_at is not None and now <= next_run_at <= now + QUIT_ASKS_WITHIN:
        minutes = max(1, round((next_run_at - now).total_seconds() / 60))
        when = formatting.on_this_machine(next_run_at).removesuffix(" (this computer)")
        parts.append(
            f"A scheduled send is due in {minutes} minute{'' if minutes == 1 else 's'} "
            f"({when}); it goes out only while Campaign Desktop is running."
        )
    if not parts:
        return None
    return " ".join(parts) + " Quit anyway?"


def bring_to_front(window: QWidget) -> None:
    """Show `window` restored and active (from the tray, or when a second launch asks)."""
    state = window.windowState() & ~Qt.WindowState.WindowMinimized
    window.setWindowState(state | Qt.WindowState.WindowActive)
    window.show()
    window.raise_()
    window.activateWindow()


class ConfirmQuit:
    """Asks whether to quit although campaigns are waiting; tests replace `ask`."""

    @classmethod
    def ask(cls, parent: QWidget | None, text: str) -> bool:
        return ask_two_ways(
            parent,
            "Quit Campaign Desktop?",
            text,
            name="confirmQuit",
            action="Quit",
            other="Keep running",
            action_role=QMessageBox.ButtonRole.DestructiveRole,
            default_is_action=False,
        )


class AppTray(QObject):
    """The tray icon (where a tray exists), the app-wide actions and the close policy.

    `tray_available=None` asks Qt; tests pass it. `quit_app` ends the event loop (the
    application's `quit`); it runs whenever the main window really closes.
    """

    def __init__(
        self,
        ctx: AppContext,
        window: MainWindow,
        *,
        tray_available: bool | None = None,
        settings: QSettings | None = None,
        quit_app: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(window)
        self._ctx = ctx
        self._window = window
        self._settings = settings or QSettings(
            str(ctx.data_dir / "window.ini"), QSettings.Format.IniFormat
        )
        self._quit_app = quit_app or QApplication.quit
        self.last_notification: Notification | None = None
        self._tooltip = ""
        # Campaigns that will fire by themselves, as last counted on the pool (None: not yet).
        self.scheduled_count: int | None = None
        self._counting = False
        self._count_again = False  # something changed while counting: count once more
        self._next_run_at: datetime | None = None  # from the last scheduler state
        self._toggling = False  # a pause or resume is under way on the pool
        self._resuming = False  # which of the two
        if tray_available is None:
            tray_available = QSystemTrayIcon.isSystemTrayAvailable()
        self._build_actions(window)

        self.icon: QSystemTrayIcon | None = None
        if tray_available:
            self.icon = QSystemTrayIcon(app_icon(), self)
            self.icon.setObjectName("trayIcon")
            self.icon.setContextMenu(self.menu)
            self.icon.activated.connect(self._on_activated)

        self.notifier = Notifier(self)
        window.bridge.run_event.connect(self.notifier.on_event)
        window.bridge.catch_up.connect(self.notifier.on_event)
        window.bridge.mailbox_checked.connect(self.notifier.on_event)
        self.notifier.notify.connect(self.show_notification)
        window.bridge.scheduler_state.connect(self._on_scheduler_state)
        window.bridge.campaign_changed.connect(self._recount)
        self._on_scheduler_state(window.scheduler_state())

        window.close_guard = self.allow_close
        window.closed.connect(self._on_window_closed)
        if self.icon is not None:
            self.icon.show()

    def _build_actions(self, window: MainWindow) -> None:
        self.open_action = QAction(app_icon(), "&Open Campaign Desktop", self)
        self.open_action.setObjectName("actionOpen")
        self.open_action.triggered.connect(self.bring_to_front)
        self.pause_action = QAction(icon("pause"), "&Pause all sending", self)
        self.pause_action.setObjectName("actionPauseAllSending")
        self.pause_action.setStatusTip("Hold every scheduled send until you resume")
        self.pause_action.triggered.connect(self._on_pause_toggled)
        self.quit_action = QAction("&Quit", self)
        self.quit_action.setObjectName("actionQuit")
        self.quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        self.quit_action.setStatusTip("Stop Campaign Desktop; scheduled sends wait for its return")
        self.quit_action.triggered.connect(self._on_quit)

        self.menu = QMenu(window)
        self.menu.setObjectName("trayMenu")
        self.menu.addAction(self.open_action)
        self.menu.addSeparator()
        self.menu.addAction(self.pause_action)
        self.menu.addSeparator()
        self.menu.addAction(self.quit_action)
        # The same actions in the window, for desktops without a tray.
        window.add_app_actions([self.pause_action, self.quit_action])

    @property
    def in_tray(self) -> bool:
        return self.icon is not None

    def tooltip(self) -> str:
        return self.icon.toolTip() if self.icon is not None else self._tooltip

    # --- showing ---------------------------------------------------------------------------

    def show_window(self, *, minimized: bool) -> None:
        """The first showing: `--minimized` starts hidden in the tray, or minimized without one."""
        if minimized and self.in_tray:
            log.info("started hidden in the tray")
        elif minimized:
            log.info("started minimized (no system tray here)")
            self._window.showMinimized()
        else:
            self._window.show()

    @Slot()
    def bring_to_front(self) -> None:
        bring_to_front(self._window)

    @Slot(object)
    def show_notification(self, notification: Notification) -> None:
        """A balloon from the tray; the window's status bar where there is no tray."""
        self.last_notification = notification
        log.info("notification: %s", notification.one_line())
        if self.icon is not None:
            self.icon.showMessage(
                notification.title,
                notification.text,
                _TRAY_ICONS[notification.level],
                BALLOON_MS,
            )
        else:
            self._window.statusBar().showMessage(notification.one_line(), STATUS_BAR_MS)

    # --- closing ---------------------------------------------------------------------------

    def allow_close(self) -> bool:
        """MainWindow's close guard: True lets the window close, and with it the app."""
        if self.icon is not None and self._ctx.settings.snapshot().ui_close_to_tray:
            self._window.hide()
            self._tell_once_about_the_tray()
            return False
        warning = quit_warning(self.scheduled_count, len(self._ctx.sending.active_run_ids()))
        if warning is not None and not ConfirmQuit.ask(self._window, warning):
            # Out of the way, as the user wanted, but still running and sending.
            self._window.showMinimized()
            return False
        return True

    def _tell_once_about_the_tray(self) -> None:
        if self._settings.value(TOLD_ABOUT_TRAY_KEY, False, bool):
            return
        self._settings.setValue(TOLD_ABOUT_TRAY_KEY, True)
        self._settings.sync()
        self.show_notification(
            Notification(
                kind=Kind.TRAY_HINT,
                title="Campaign Desktop is still running",
                text="Scheduled campaigns keep going out on time. To quit, use Quit in the "
                "tray icon's menu.",
            )
        )

    @Slot()
    def _on_window_closed(self) -> None:
        if self.icon is not None:
            self.icon.hide()
        self._quit_app()

    # --- live state ------------------------------------------------------------------------

    @Slot()
    def _on_quit(self) -> None:
        """Quit (menu, Ctrl+Q, the tray's Quit): asks first only when a send is under way or
        due within the hour. Read from memory (the last scheduler state), never the disk."""
        warning = quit_soon_warning(
            self._next_run_at, self._ctx.clock.now(), len(self._ctx.sending.active_run_ids())
        )
        if warning is not None and not ConfirmQuit.ask(self._window, warning):
            return
        self._window.quit()

    @Slot(object)
    def _on_scheduler_state(self, state: SchedulerStateChanged) -> None:
        self._next_run_at = state.next_run_at
        self._tooltip = tooltip_text(state)
        if self.icon is not None:
            self.icon.setToolTip(self._tooltip)
        self.pause_action.setEnabled(state.running and not self._toggling)
        if state.sending_paused:
            self.pause_action.setText("&Resume sending")
            self.pause_action.setIcon(icon("resume"))
        else:
            self.pause_action.setText("&Pause all sending")
            self.pause_action.setIcon(icon("pause"))
        self._recount()

    @Slot()
    def _recount(self, *_changed: object) -> None:
        """Count the scheduled campaigns again on the pool (one count at a time)."""
        if self._counting:
            self._count_again = True
            return
        self._counting, self._count_again = True, False
        campaigns = self._ctx.campaigns
        run_in_background(
            "count scheduled campaigns",
            lambda _report: campaigns.count_scheduled(),
            self._on_counted,
        )

    @Slot(object, object)
    def _on_counted(self, count: int | None, error: BaseException | None) -> None:
        self._counting = False
        if error is None:
            self.scheduled_count = count
        elif isinstance(error, DomainError):  # the database busy for a moment: keep the last
            log.warning("scheduled campaigns not counted: %s", error.message)
        else:
            hand_to_crash_handler(error)
        if self._count_again:
            self._recount()

    @Slot()
    def _on_pause_toggled(self) -> None:
        if self._toggling:
            return
        scheduler = self._ctx.scheduler
        self._resuming = scheduler.sending_paused
        self._toggling = True
        self.pause_action.setEnabled(False)
        # Both touch the database (pausing the runs in progress; resuming fires what fell
        # due meanwhile, an INSERT … SELECT per campaign): on the pool, never here.
        if self._resuming:
            run_in_background(
                "resume sending", lambda _report: scheduler.resume_sending(), self._on_toggled
            )
        else:
            run_in_background(
                "pause all sending", lambda _report: scheduler.pause_sending(), self._on_toggled
            )

    @Slot(object, object)
    def _on_toggled(self, _result: object, error: BaseException | None) -> None:
        self._toggling = False
        self.pause_action.setEnabled(self._ctx.scheduler.running)
        bar = self._window.statusBar()
        if isinstance(error, DomainError):
            bar.showMessage(error.message, 10_000)
        elif error is not None:
            hand_to_crash_handler(error)
        elif self._resuming:
            bar.showMessage("Sending resumed.", 5000)
        else:
            bar.showMessage("All sending paused: nothing goes out until you resume.", 8000)

    @Slot(QSystemTrayIcon.ActivationReason)
    def _on_activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason in (
            QSystemTrayIcon.ActivationReason.Trigger,
            QSystemTrayIcon.ActivationReason.DoubleClick,
        ):
            self.bring_to_front()
