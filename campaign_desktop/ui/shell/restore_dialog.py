"""Start-up with a damaged database: restore an automatic backup, start empty, or quit.

app.py shows it before any window exists, when `AppContext.open` raises StorageError
"corrupt". Nothing is deleted whichever the choice: `persistence.db` sets the damaged
file aside (``campaigns.sqlite3.damaged-<time>``) before a backup or an empty database
takes its place. `RestoreDialog.ask` is what app.py calls and what tests replace.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from PySide6.QtCore import Slot
from PySide6.QtWidgets import (
    QButtonGroup,
    QDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from campaign_desktop.domain.views import Backup
from campaign_desktop.ui.common.formatting import on_this_machine

TITLE = "Campaign Desktop cannot open its database"


class StartUpAction(StrEnum):
    """What the user chose to do about a damaged database."""

    RESTORE = "restore"
    START_EMPTY = "start_empty"
    QUIT = "quit"


@dataclass(frozen=True)
class RestoreChoice:
    """The user's choice; `backup` is the file to restore for `StartUpAction.RESTORE`."""

    action: StartUpAction
    backup: Path | None = None


def backup_label(backup: Backup) -> str:
    """e.g. "Mon 30 Nov 2026 14:03 CET (this computer) · 2.1 MB"."""
    megabytes = backup.size / 1_000_000
    size = f"{megabytes:.1f} MB" if megabytes >= 0.1 else f"{max(1, backup.size // 1000)} kB"
    return f"{on_this_machine(backup.taken_at)} \N{MIDDLE DOT} {size}"


class RestoreDialog(QDialog):
    """The reason, the backups newest first (one chosen), and three buttons.

    `choice` holds the answer once a button was pressed (QUIT when the window is closed).
    """

    def __init__(
        self, message: str, backups: Sequence[Backup], parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("restoreDialog")
        self.setWindowTitle(TITLE)
        self.choice = RestoreChoice(StartUpAction.QUIT)
        self._backups = list(backups)

        reason = QLabel(message)
        reason.setObjectName("restoreReason")
        reason.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(reason)

        self._group = QButtonGroup(self)
        if self._backups:
            heading = QLabel("Automatic backups, newest first:")
            heading.setObjectName("restoreBackupsHeading")
            layout.addWidget(heading)
            for index, backup in enumerate(self._backups):
                option = QRadioButton(backup_label(backup))
                option.setObjectName(f"restoreBackup{index}")
                option.setToolTip(str(backup.path))
                option.setChecked(index == 0)
                self._group.addButton(option, index)
                layout.addWidget(option)
        else:
            none = QLabel("There is no automatic backup to restore.")
            none.setObjectName("restoreNoBackups")
            layout.addWidget(none)

        self.restore_button = QPushButton("Restore this backup")
        self.restore_button.setObjectName("restoreButton")
        self.restore_button.setEnabled(bool(self._backups))
        self.restore_button.setDefault(bool(self._backups))
        self.empty_button = QPushButton("Start with an empty database")
        self.empty_button.setObjectName("startEmptyButton")
        self.quit_button = QPushButton("Quit")
        self.quit_button.setObjectName("quitButton")
        buttons = QHBoxLayout()
        buttons.addWidget(self.restore_button)
        buttons.addWidget(self.empty_button)
        buttons.addStretch(1)
        buttons.addWidget(self.quit_button)
        layout.addLayout(buttons)

        self.restore_button.clicked.connect(self._on_restore)
        self.empty_button.clicked.connect(self._on_start_empty)
        self.quit_button.clicked.connect(self.reject)

    def selected_backup(self) -> Backup | None:
        """The backup whose option is checked, or None when there is none."""
        index = self._group.checkedId()
        return self._backups[index] if 0 <= index < len(self._backups) else None

    @Slot()
    def _on_restore(self) -> None:
        backup = self.selected_backup()
        if backup is None:
            return
        self.choice = RestoreChoice(StartUpAction.RESTORE, backup.path)
        self.accept()

    @Slot()
    def _on_start_empty(self) -> None:
        self.choice = RestoreChoice(StartUpAction.START_EMPTY)
        self.accept()

    @classmethod
    def ask(
        cls, message: str, backups: Sequence[Backup], parent: QWidget | None = None
    ) -> RestoreChoice:
        """Show the dialog modally and return the user's choice (QUIT if closed)."""
        dialog = cls(message, backups, parent)
        dialog.exec()
        return dialog.choice
