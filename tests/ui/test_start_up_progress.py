"""Start-up with a migration due on a big database (issue 16): the backup runs on the pool
while a progress dialog shows its steps, and the GUI thread keeps handling events."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QWidget
from pytestqt.qtbot import QtBot

from campaign_desktop import app as app_module
from campaign_desktop.app import open_context
from campaign_desktop.persistence import db as db_module
from campaign_desktop.persistence.db import HEAD_REVISION, current_revision, list_backups
from campaign_desktop.ui.shell import start_up_progress
from campaign_desktop.ui.shell.start_up_progress import BACKING_UP, UPDATING, StartUpProgress
from tests.persistence.test_backup_progress import database_at_previous_revision, dump

pytestmark = pytest.mark.gui


class RecordingProgress(StartUpProgress):
    """The real dialog, remembering what it showed (tests look back at it once closed)."""

    shown: ClassVar[list[RecordingProgress]] = []

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.values: list[int] = []
        self.visible_while_working = False
        RecordingProgress.shown.append(self)

    def on_progress(self, step: object) -> None:
        self.visible_while_working = self.visible_while_working or self.isVisible()
        super().on_progress(step)
        # The percentage shown; a busy bar (range 0-0) once the copy is whole.
        self.values.append(self.value() if self.maximum() else 100)


def test_a_big_backup_before_a_migration_shows_its_progress_and_keeps_the_gui_alive(
    tmp_path: Path, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    path = database_at_previous_revision(data, contacts=20_000)
    before = dump(path)
    monkeypatch.setattr(app_module, "SHOW_PROGRESS_BYTES", 0)  # this file counts as big
    monkeypatch.setattr(db_module, "BACKUP_STEP_PAGES", 8)
    monkeypatch.setattr(start_up_progress, "StartUpProgress", RecordingProgress)
    RecordingProgress.shown.clear()
    ticks: list[int] = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(1))
    timer.start(0)
    refusals: list[tuple[str, str]] = []

    ctx = open_context(data, lambda title, text: refusals.append((title, text)))

    timer.stop()
    assert ctx is not None and refusals == []
    try:
        (dialog,) = RecordingProgress.shown
        assert dialog.visible_while_working
        assert len(dialog.values) > 3 and dialog.values[0] < 100
        assert dialog.values == sorted(dialog.values)
        assert dialog.values[-1] == 100
        assert dialog.labelText() == UPDATING  # after the copy: the update itself
        assert dialog.maximum() == 0  # a busy bar: the update reports no progress
        assert not dialog.isVisible()
        assert ticks  # the GUI thread ran its events while the backup worked
        (backup,) = list_backups(data)
        assert dump(backup.path) == before
        assert current_revision(ctx.db.engine) == HEAD_REVISION
    finally:
        ctx.close()


def test_a_small_or_current_database_opens_without_a_dialog(
    tmp_path: Path, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    database_at_previous_revision(data, contacts=10)
    monkeypatch.setattr(start_up_progress, "StartUpProgress", RecordingProgress)
    RecordingProgress.shown.clear()
    for _start in range(2):  # migrated (small file), then already current
        ctx = open_context(data, lambda title, text: pytest.fail(text))
        assert ctx is not None
        ctx.close()
    assert RecordingProgress.shown == []
    assert len(list_backups(data)) == 1


def test_the_progress_dialog_cannot_be_closed_while_the_backup_runs(qtbot: QtBot) -> None:
    dialog = StartUpProgress()
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.keyClick(dialog, Qt.Key.Key_Escape)  # type: ignore[no-untyped-call]  # pytest-qt leaves keyClick untyped
    assert dialog.isVisible()
    dialog.close()  # the window's close button
    assert dialog.isVisible()
    assert dialog.labelText() == BACKING_UP
    dialog.on_progress((50, 200))
    assert dialog.value() == 25
    dialog.hide()
