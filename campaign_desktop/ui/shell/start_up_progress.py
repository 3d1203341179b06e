"""Start-up with a migration due on a big database: the safety backup and the update run on
the pool while a progress dialog says which step is under way and how far it is.

app.py asks `migration_backup_size` first and shows this only when the file is big
(`SHOW_PROGRESS_BYTES`); a small backup takes a blink and needs no dialog. The backup has
no Cancel: it is a safety copy before the update, and stopping it would stop the start.
The window stays responsive: the GUI thread only runs an event loop until the work ends.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from PySide6.QtCore import QEventLoop, Qt, Slot
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import QProgressDialog, QWidget

from campaign_desktop.services.backups import BackupProgress
from campaign_desktop.ui.common.background import BackgroundTask, Report

T = TypeVar("T")

#: From this size on (bytes), the backup before a migration shows its progress: about a
#: second of copying on a slow disk (docs/performance.md, issue 16).
SHOW_PROGRESS_BYTES = 100 * 1024 * 1024
BACKING_UP = "Backing up your data before updating it\N{HORIZONTAL ELLIPSIS}"
UPDATING = "Updating your data for this version of Campaign Desktop\N{HORIZONTAL ELLIPSIS}"


class StartUpProgress(QProgressDialog):
    """The steps of opening a database that needs an update: the backup in percent, then
    the update itself (a busy bar: Alembic reports no progress)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(BACKING_UP, "", 0, 100, parent)
        self.setObjectName("startUpProgress")
        self.setAccessibleName("Progress of opening the database")
        self.setWindowTitle("Campaign Desktop")
        self.setCancelButton(None)  # no Cancel: see the module docstring
        self.setMinimumDuration(0)
        self.setAutoClose(False)
        self.setAutoReset(False)
        self.setWindowModality(Qt.WindowModality.ApplicationModal)
        self.setMinimumWidth(420)
        self.setValue(0)

    def reject(self) -> None:
        """Escape does nothing: the backup cannot be stopped (the start waits for it), and
        a hidden dialog would only leave the user wondering."""

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802  (a Qt override keeps Qt's name)
        # The window's close button, likewise (QProgressDialog would cancel and hide).
        event.ignore()

    @Slot(object)
    def on_progress(self, step: object) -> None:
        """`step` is (pages copied, pages in all) from the backup."""
        assert isinstance(step, tuple)
        copied, total = step
        if total and copied < total:
            self.setValue(copied * 100 // total)
            return
        # The copy is done: the update follows, for as long as it takes.
        self.setValue(100)
        self.setLabelText(UPDATING)
        self.setRange(0, 0)


def open_with_progress(work: Callable[[BackupProgress], T], title: str = "open the database") -> T:
    """Run `work(backup_progress)` on the pool while `StartUpProgress` shows its steps; its
    result, or what it raised (re-raised here, on the GUI thread)."""
    dialog = StartUpProgress()
    outcome: dict[str, Any] = {}
    loop = QEventLoop()

    def run(report: Report) -> T:
        return work(lambda copied, total: report((copied, total)))

    def finished(result: object, error: object) -> None:
        outcome["result"], outcome["error"] = result, error
        loop.quit()

    task = BackgroundTask(title, run)
    task.progress.connect(dialog.on_progress)
    task.finished.connect(finished)
    dialog.show()
    task.start()
    if "error" not in outcome:
        loop.exec()
    dialog.hide()  # not close(): `closeEvent` refuses it
    dialog.deleteLater()
    error = outcome["error"]
    if isinstance(error, BaseException):
        raise error
    result: T = outcome["result"]
    return result
