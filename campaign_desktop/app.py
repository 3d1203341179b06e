"""The desktop entry point: start-up only. Parse the command line, set up logging and the
fault log, then the QApplication, the AppContext, the main window, tray and scheduler.

Start-up failures the user can act on (a read-only or full data folder, a database locked
by another program or damaged) arrive as StorageError from `AppContext.open` or
`scheduler.start()` and are shown as a message, never as the crash dialog; a damaged
database opens the restore dialog (`open_context`). What ends the app otherwise (bugs, fatal
errors, SIGTERM/SIGINT) is `ui/shell/crash_handler.py`'s; `--self-test` runs
`ui/shell/self_test.py`.

Cold start (issue 16, docs/design.md §19): what the first paint does not need is imported
when first used (the self-test, the restore dialog, the tabs not shown, the sending stack),
and the scheduler starts right after the window's first paint (at once when the window
starts hidden), followed by the one garbage collection that freezes start-up's objects.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

from campaign_desktop.context import (
    AppContext,
    default_data_dir,
    default_database_url,
    default_log_dir,
)
from campaign_desktop.domain.errors import DomainError, SchedulerLockedError, StorageError
from campaign_desktop.domain.views import Backup
from campaign_desktop.services.backups import (
    list_backups,
    migration_backup_size,
    restore_backup,
    set_aside_database,
)
from campaign_desktop.ui.common.background import finish_background_work, freeze_start_up_objects
from campaign_desktop.ui.common.icons import app_icon
from campaign_desktop.ui.shell.crash_handler import (
    FaultLog,
    crash_handler,
    open_fault_log,
    quit_on_termination_signals,
)
from campaign_desktop.ui.shell.logs import route_qt_messages, setup_logging
from campaign_desktop.ui.shell.main_window import MainWindow
from campaign_desktop.ui.shell.single_instance import SingleInstance
from campaign_desktop.ui.shell.start_at_login_offer import StartAtLoginOffer
from campaign_desktop.ui.shell.start_up_progress import SHOW_PROGRESS_BYTES, open_with_progress
from campaign_desktop.ui.shell.tray import AppTray

if TYPE_CHECKING:
    from campaign_desktop.ui.shell.restore_dialog import RestoreChoice

log = logging.getLogger("campaign_desktop.app")


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


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    if args.self_test:
        # Headless on purpose: the self-test must run on build machines without a display.
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        from campaign_desktop.ui.shell.self_test import run_self_test  # noqa: PLC0415

        return run_self_test()
    setup_logging(default_log_dir())
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
    stop_routing_qt_messages = route_qt_messages()
    previous_hook = sys.excepthook
    sys.excepthook = crash_handler(lambda title, text: QMessageBox.critical(None, title, text))
    data_dir = args.data_dir if args.data_dir is not None else default_data_dir()
    # Before the database opens: a second launch only wakes the first, never a 2nd scheduler.
    instance = SingleInstance(data_dir)
    try:
        if not instance.acquire():
            return 0
        # After the single-instance check: the fault log is this instance's (one per data
        # folder), and a second launch must not take it over.
        fault_log = open_fault_log(default_log_dir(), instance.name)
        try:
            return _run_instance(args, app, data_dir, instance, fault_log)
        finally:
            fault_log.close()
    finally:
        instance.close()
        sys.excepthook = previous_hook
        stop_routing_qt_messages()


def _run_instance(
    args: argparse.Namespace,
    app: QApplication,
    data_dir: Path,
    instance: SingleInstance,
    fault_log: FaultLog,
) -> int:
    """The app itself, once this launch is the data folder's one instance."""
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
        stop_signals = quit_on_termination_signals(window.quit)
        frozen: list[Callable[[], None]] = []

        def start_scheduler() -> bool:
            """Start sending on schedule; False once a refusal was told (the app then ends
            with exit code 1)."""
            try:
                ctx.scheduler.start()
            except SchedulerLockedError as exc:
                QMessageBox.warning(None, "Campaign Desktop is already running", exc.message)
                return False
            except DomainError as exc:  # StorageError: locked elsewhere, full, read-only
                _show_critical(START_FAILED, exc.message)
                return False
            # What start-up built lives as long as the app: leave it out of every later
            # garbage collection, whose full passes would otherwise walk it all while
            # holding the GIL (the longest pauses of a busy window).
            frozen.append(freeze_start_up_objects())
            log.info("running on %s", data_dir)
            return True

        def start_scheduler_in_loop() -> None:
            if not start_scheduler():
                app.exit(1)
                return
            window.show_paused_sends()

        try:
            tray.show_window(minimized=args.minimized)
            if fault_log.previous_crash is not None:
                window.statusBar().showMessage(
                    "Campaign Desktop stopped unexpectedly last time; the report is in "
                    f"{fault_log.previous_crash}.",
                    30_000,
                )
            if window.isVisible() and not window.isMinimized():
                # A send due now still goes out on time: this is the event loop's first
                # turns, and the scheduler sends anything due within the last 2 minutes
                # as scheduled (docs/design.md §4).
                AfterFirstPaint(window, start_scheduler_in_loop)
            elif not start_scheduler():  # nothing to paint first
                return 1
            try:
                return app.exec()
            finally:
                # A bulk action or an import still running stops at its next step (what it
                # did stays done) and ends before the database closes.
                finish_background_work()
                for thaw in frozen:
                    thaw()
        finally:
            stop_signals()
    finally:
        ctx.close()


class AfterFirstPaint(QObject):
    """Calls `then()` once, as soon as `window` has painted for the first time (after that
    paint has been handled, so the frame is on screen first), or after `at_most_ms` if no
    paint came (a window manager that shows the window somewhere not painted yet): the
    scheduler must never wait for the screen."""

    def __init__(self, window: QWidget, then: Callable[[], None], at_most_ms: int = 2000) -> None:
        super().__init__(window)
        self._window = window
        self._then: Callable[[], None] | None = then
        window.installEventFilter(self)
        QTimer.singleShot(at_most_ms, self, self._call)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802  (a Qt override)
        if watched is self._window and event.type() == QEvent.Type.Paint:
            self._window.removeEventFilter(self)
            QTimer.singleShot(0, self, self._call)
        return False

    def _call(self) -> None:
        then, self._then = self._then, None
        if then is not None:
            self._window.removeEventFilter(self)
            then()


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

    A migration due on a big SQLite file shows the backup's progress (`open_with_progress`:
    the backup and the update run on the pool, the window stays responsive).

    `check(ctx)` runs the start-up's first reads (the app builds its main window there):
    damage that the file's header and the migration check cannot see shows up in them as a
    "corrupt" StorageError, and gets the same offer instead of ending the app.
    """
    while True:
        try:
            size = migration_backup_size(data_dir, database_url)
            if size is not None and size >= SHOW_PROGRESS_BYTES:
                ctx = open_with_progress(
                    lambda report: AppContext.open(data_dir, database_url, backup_progress=report)
                )
            else:
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
            # The restore dialog's module is imported only for a damaged database.
            from campaign_desktop.ui.shell.restore_dialog import RestoreDialog  # noqa: PLC0415

            ask = ask_restore if ask_restore is not None else RestoreDialog.ask
            choice = ask(exc.message, list_backups(data_dir))
        except DomainError as exc:
            show(START_FAILED, exc.message)
            return None
        from campaign_desktop.ui.shell.restore_dialog import StartUpAction  # noqa: PLC0415

        try:
            if choice.action is StartUpAction.RESTORE and choice.backup is not None:
                restore_backup(data_dir, choice.backup)
            elif choice.action is StartUpAction.START_EMPTY:
                set_aside_database(data_dir)
            else:
                return None
        except StorageError as exc:  # e.g. the backup is damaged too: say so, ask again
            show(START_FAILED, exc.message)
