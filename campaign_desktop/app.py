"""The desktop entry point: logging, QApplication, the AppContext, the scheduler, tray, window.

Start-up failures the user can act on (a read-only or full data folder, a database locked
by another program or damaged) arrive as StorageError from `AppContext.open` or
`scheduler.start()` and are shown as a message, never as the crash dialog; a damaged
database opens the restore dialog (`open_context`).

`main(["--self-test"])` runs a headless smoke test of the whole stack (used by CI and after
a PyInstaller build): it prints "self-test ok" and returns 0, or prints the reason.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import logging.handlers
import os
import signal
import socket
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType

from PySide6.QtCore import QEventLoop, QSocketNotifier, QtMsgType, qInstallMessageHandler
from PySide6.QtWidgets import QApplication, QMessageBox

from campaign_desktop.context import (
    AppContext,
    default_data_dir,
    default_database_url,
    default_log_dir,
)
from campaign_desktop.domain.errors import DomainError, SchedulerLockedError, StorageError
from campaign_desktop.domain.events import RunEvent, RunPhase
from campaign_desktop.domain.timezones import get_zone, to_local
from campaign_desktop.domain.views import CampaignView, RunView
from campaign_desktop.persistence.db import (
    Backup,
    list_backups,
    restore_backup,
    set_aside_database,
)
from campaign_desktop.ui.common.background import freeze_start_up_objects
from campaign_desktop.ui.common.icons import app_icon
from campaign_desktop.ui.schedule.schedule_dialog import PREVIEW_COUNT, ScheduleDialog
from campaign_desktop.ui.shell.main_window import MainWindow
from campaign_desktop.ui.shell.restore_dialog import RestoreChoice, RestoreDialog, StartUpAction
from campaign_desktop.ui.shell.single_instance import SingleInstance
from campaign_desktop.ui.shell.start_at_login_offer import StartAtLoginOffer
from campaign_desktop.ui.shell.tray import AppTray

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
    parser.add_argument(
        "--database-url",
        default=default_database_url(),
        metavar="URL",
        help=(
            "team mode: a PostgreSQL database shared by several desktops, as "
            "postgresql://user@host:port/database (default: $CAMPAIGN_DESKTOP_DATABASE_URL; "
            "none: the SQLite file in the data folder). A password given here is moved to "
            "the system keyring."
        ),
    )
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
    # The app ends when the main window really closes (AppTray decides), never because the
    # last visible window went away: hidden in the tray, a closing dialog must not quit it.
    app.setQuitOnLastWindowClosed(False)
    previous_handler = qInstallMessageHandler(_qt_message_to_log)
    previous_hook = sys.excepthook
    sys.excepthook = _crash_handler(lambda title, text: QMessageBox.critical(None, title, text))
    data_dir = args.data_dir if args.data_dir is not None else default_data_dir()
    # Before the database opens: a second launch only wakes the first, never a 2nd scheduler.
    instance = SingleInstance(data_dir)
    try:
        if not instance.acquire():
            return 0
        # The window (and its event bridge) exists before the scheduler starts, so the
        # start-up catch-up report and the first runs' events reach the tray. It is built
        # inside open_context: its first reads are where deeper damage shows.
        windows: list[MainWindow] = []
        ctx = open_context(
            data_dir,
            _show_critical,
            database_url=args.database_url,
            check=lambda opened: windows.append(MainWindow(opened)),
        )
        if ctx is None:
            return 1
        try:
            window = windows[-1]
            tray = AppTray(ctx, window, quit_app=app.quit)
            # Before the scheduler starts: its start-up catch-up may be what to offer it on.
            StartAtLoginOffer(ctx, window)
            instance.activation_requested.connect(tray.bring_to_front)
            stop_signals = _quit_on_termination_signals(window.quit)
            try:
                try:
                    ctx.scheduler.start()
                except SchedulerLockedError as exc:
                    QMessageBox.warning(None, "Campaign Desktop is already running", exc.message)
                    return 1
                except DomainError as exc:  # StorageError: locked elsewhere, full, read-only
                    _show_critical(START_FAILED, exc.message)
                    return 1
                tray.show_window(minimized=args.minimized)
                # What start-up built lives as long as the app: leave it out of every later
                # garbage collection, whose full passes would otherwise walk it all while
                # holding the GIL (the longest pauses of a busy window).
                thaw = freeze_start_up_objects()
                log.info("running on %s", data_dir)
                try:
                    return app.exec()
                finally:
                    thaw()
            finally:
                stop_signals()
        finally:
            ctx.close()
    finally:
        instance.close()
        sys.excepthook = previous_hook
        qInstallMessageHandler(previous_handler)


START_FAILED = "Campaign Desktop cannot start"


def _show_critical(title: str, text: str) -> None:
    QMessageBox.critical(None, title, text)


def open_context(
    data_dir: Path,
    show: Callable[[str, str], object],
    ask_restore: Callable[[str, Sequence[Backup]], RestoreChoice] | None = None,
    *,
    database_url: str | None = None,
    check: Callable[[AppContext], object] | None = None,
) -> AppContext | None:
    """`AppContext.open(data_dir, database_url)`, or None once the user was told why it
    cannot be.

    Expected failures (a DomainError: StorageError for a read-only or full folder, a
    database locked by another program, …) are shown with `show(title, text)`, never as a
    crash. A damaged database ("corrupt") asks `ask_restore` (the restore dialog) whether
    to restore a backup, start with an empty database (the damaged file set aside) or
    quit, and opens again after either of the first two.

    `check(ctx)` runs the start-up's first reads (the app builds its main window there):
    damage that the file's header and the migration check cannot see shows up in them as a
    "corrupt" StorageError, and gets the same offer instead of ending the app.
    """
    ask = ask_restore if ask_restore is not None else RestoreDialog.ask
    while True:
        try:
            ctx = AppContext.open(data_dir, database_url)
            try:
                if check is not None:
                    check(ctx)
            except BaseException:
                ctx.close()
                raise
            return ctx
        except StorageError as exc:
            if exc.kind != "corrupt":
                show(START_FAILED, exc.message)
                return None
            log.warning("database refused at start-up: %s", exc.message)
            choice = ask(exc.message, list_backups(data_dir))
        except DomainError as exc:
            show(START_FAILED, exc.message)
            return None
        try:
            if choice.action is StartUpAction.RESTORE and choice.backup is not None:
                restore_backup(data_dir, choice.backup)
            elif choice.action is StartUpAction.START_EMPTY:
                set_aside_database(data_dir)
            else:
                return None
        except StorageError as exc:  # e.g. the backup is damaged too: say so, ask again
            show(START_FAILED, exc.message)


def _quit_on_termination_signals(quit_app: Callable[[], None]) -> Callable[[], None]:
    """SIGTERM and SIGINT (log-out, `kill`, Ctrl+C) quit like the Quit menu: the scheduler stops
    and sends stop after the message in hand, instead of dying mid-batch.

    Python runs a signal handler only when the interpreter gets control, which Qt's event loop
    does not give it while idle; the wake-up socket makes the loop call into Python at once.
    Returns the function that undoes all this.
    """
    receive, wake = socket.socketpair()
    receive.setblocking(False)
    wake.setblocking(False)
    notifier = QSocketNotifier(receive.fileno(), QSocketNotifier.Type.Read)

    def drain() -> None:
        with contextlib.suppress(OSError):
            receive.recv(64)

    def on_signal(signum: int, _frame: object) -> None:
        log.info("signal %s: quitting", signum)
        quit_app()

    notifier.activated.connect(drain)
    previous_fd = signal.set_wakeup_fd(wake.fileno())
    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        signal.set_wakeup_fd(previous_fd)
        notifier.setEnabled(False)
        receive.close()
        wake.close()

    return restore


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
        campaign.id, campaign.id, now, "manual", "sending", now, None, 2, 1, 0, 0, 0, None
    )
    done = replace(run, status="completed", sent=2, finished_at=now)
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
        dialog.deleteLater()
        window.quit()
        window.deleteLater()
        app.processEvents()
    finally:
        ctx.close()
