"""The desktop entry point: logging, QApplication, the AppContext, the scheduler, tray, window.

`main(["--self-test"])` runs a headless smoke test of the whole stack (used by CI and after
a PyInstaller build): it prints "self-test ok" and returns 0, or prints the reason.
"""

from __future__ import annotations

import argparse
import logging
import logging.handlers
import os
import sys
import tempfile
import traceback
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType

from PySide6.QtCore import QtMsgType, qInstallMessageHandler
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QApplication, QMenu, QMessageBox, QSystemTrayIcon

from campaign_desktop.context import AppContext, default_log_dir
from campaign_desktop.domain.errors import DomainError, SchedulerLockedError
from campaign_desktop.domain.events import SchedulerStateChanged
from campaign_desktop.domain.timezones import get_zone, to_local
from campaign_desktop.ui import formatting
from campaign_desktop.ui.icons import app_icon
from campaign_desktop.ui.main_window import MainWindow
from campaign_desktop.ui.schedule_dialog import PREVIEW_COUNT, ScheduleDialog

log = logging.getLogger("campaign_desktop.app")

_QT_LEVELS = {
    "QtDebugMsg": logging.DEBUG,
    "QtInfoMsg": logging.INFO,
    "QtWarningMsg": logging.WARNING,
    "QtCriticalMsg": logging.ERROR,
    "QtFatalMsg": logging.CRITICAL,
}


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="campaign-desktop", description=__doc__)
    parser.add_argument("--data-dir", type=Path, help="folder holding the database")
    parser.add_argument("--minimized", action="store_true", help="start in the tray")
    parser.add_argument(
        "--self-test", action="store_true", help="run a headless smoke test and exit"
    )
    return parser.parse_args(argv)


def _setup_logging(log_dir: Path) -> None:
    log_dir.mkdir(parents=True, exist_ok=True)
    handler = logging.handlers.RotatingFileHandler(
        log_dir / "campaign-desktop.log", maxBytes=2_000_000, backupCount=3, encoding="utf-8"
    )
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("campaign_desktop")
    root.setLevel(logging.INFO)
    if not any(isinstance(h, logging.handlers.RotatingFileHandler) for h in root.handlers):
        root.addHandler(handler)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    if args.self_test:
        # Headless on purpose: the self-test must run on build machines without a display.
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        return _self_test()
    _setup_logging(default_log_dir())
    return _run(args)


# --- the real application ---------------------------------------------------------------------


def _run(args: argparse.Namespace) -> int:

    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setApplicationName("Campaign Desktop")
    app.setOrganizationName("CampaignDesktop")
    app.setWindowIcon(app_icon())
    previous_handler = qInstallMessageHandler(_qt_message_to_log)
    previous_hook = sys.excepthook
    sys.excepthook = _crash_handler(lambda title, text: QMessageBox.critical(None, title, text))
    try:
        try:
            ctx = AppContext.open(args.data_dir)
        except DomainError as exc:
            QMessageBox.critical(None, "Campaign Desktop", exc.message)
            return 1
        try:
            try:
                ctx.scheduler.start()
            except SchedulerLockedError as exc:
                QMessageBox.warning(None, "Campaign Desktop is already running", exc.message)
                return 1
            window = MainWindow(ctx)
            tray = _make_tray(ctx, window) if QSystemTrayIcon.isSystemTrayAvailable() else None
            window.close_to_tray = tray is not None and bool(ctx.settings.get("ui.close_to_tray"))
            app.setQuitOnLastWindowClosed(tray is None)
            if not (args.minimized and tray is not None):
                if args.minimized:
                    window.showMinimized()
                else:
                    window.show()
            return app.exec()
        finally:
            ctx.close()
    finally:
        sys.excepthook = previous_hook
        qInstallMessageHandler(previous_handler)


def _make_tray(ctx: AppContext, window: MainWindow) -> QSystemTrayIcon:

    tray = QSystemTrayIcon(app_icon(), window)
    tray.setObjectName("trayIcon")
    menu = QMenu(window)
    open_action = QAction("Open", menu)

    def bring_forward() -> None:
        window.showNormal()
        window.activateWindow()

    open_action.triggered.connect(bring_forward)
    pause_action = QAction("Pause all sending", menu, checkable=True)
    pause_action.setChecked(ctx.scheduler.sending_paused)

    def toggle_pause(paused: bool) -> None:
        if paused:
            ctx.scheduler.pause_sending()
        else:
            ctx.scheduler.resume_sending()

    pause_action.toggled.connect(toggle_pause)
    quit_action = QAction("Quit", menu)

    def quit_app() -> None:
        window.quit()
        QApplication.quit()

    quit_action.triggered.connect(quit_app)
    menu.addActions([open_action, pause_action, quit_action])
    tray.setContextMenu(menu)

    def on_state(state: SchedulerStateChanged) -> None:
        when = formatting.on_this_machine(state.next_run_at).removesuffix(" (this computer)")
        paused = " (sending paused)" if state.sending_paused else ""
        tray.setToolTip(f"Campaign Desktop{paused}\nNext send: {when}")

    window.bridge.scheduler_state.connect(on_state)
    tray.setToolTip(f"Campaign Desktop\n{window.next_send_label.text()}")
    tray.activated.connect(bring_forward)
    tray.show()
    return tray


def _qt_message_to_log(mode: QtMsgType, _context: object, message: str) -> None:
    level = _QT_LEVELS.get(mode.name, logging.WARNING)
    logging.getLogger("campaign_desktop.qt").log(level, "%s", message)


def _crash_handler(
    show: Callable[[str, str], object],
) -> Callable[[type[BaseException], BaseException, TracebackType | None], None]:
    """sys.excepthook: expected failures become a message; bugs are logged and shown once."""

    shown = False

    def hook(kind: type[BaseException], error: BaseException, tb: TracebackType | None) -> None:
        nonlocal shown
        if isinstance(error, DomainError):
            log.info("refused: %s", error.message)
            show("Campaign Desktop", error.message)
            return
        log.critical("unhandled error", exc_info=(kind, error, tb))
        if not shown:
            shown = True
            details = "".join(traceback.format_exception_only(kind, error)).strip()
            show(
                "Campaign Desktop hit a bug",
                "Something went wrong that should not have. The details are in the log "
                f"({default_log_dir()}).\n\n{details}",
            )

    return hook


# --- the self-test ----------------------------------------------------------------------------


class SelfTestError(Exception):
    pass


def _self_test() -> int:
    try:
        with tempfile.TemporaryDirectory(prefix="campaign-desktop-selftest-") as tmp:
            _setup_logging(Path(tmp) / "logs")
            _self_test_in(Path(tmp) / "data")
    except Exception as exc:  # the self-test reports every failure as its reason
        log.exception("self-test failed")
        print(f"self-test FAILED: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print("self-test ok")
    return 0


def _self_test_in(data_dir: Path) -> None:

    app = QApplication.instance() or QApplication(sys.argv[:1])
    ctx = AppContext.open(data_dir)
    try:
        ctx.scheduler.start()
        window = MainWindow(ctx)
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
        dialog.deleteLater()
        window.quit()
        window.deleteLater()
        app.processEvents()
    finally:
        ctx.close()
