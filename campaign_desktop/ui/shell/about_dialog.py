"""Help ▸ About: the app's version (from the installed package metadata, also when frozen),
the Qt and PySide6 versions, and where the data and the logs live.
"""

from __future__ import annotations

import sys
from pathlib import Path

import PySide6
from PySide6.QtCore import Qt, QUrl, qVersion
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QVBoxLayout,
    QWidget,
)

import campaign_desktop
from campaign_desktop.context import default_log_dir
from campaign_desktop.ui.common.icons import app_icon

APP_TITLE = "Campaign Desktop"


def version_text() -> str:
    """e.g. "Version 0.1.0" — `campaign_desktop.__version__`, read from package metadata."""
    return f"Version {campaign_desktop.__version__}"


def qt_versions_text() -> str:
    """e.g. "Qt 6.12.0 · PySide6 6.12.0 · Python 3.11.7" (Qt's run-time version)."""
    python = ".".join(str(part) for part in sys.version_info[:3])
    return f"Qt {qVersion()} · PySide6 {PySide6.__version__} · Python {python}"


class AboutDialog(QDialog):
    """A small modal box; `AboutDialog.ask(parent, data_dir)` shows it (tests replace ask)."""

    def __init__(
        self, data_dir: Path, parent: QWidget | None = None, *, log_dir: Path | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("aboutDialog")
        self.setWindowTitle(f"About {APP_TITLE}")
        self.data_dir = data_dir
        self.log_dir = log_dir if log_dir is not None else default_log_dir()

        icon_label = QLabel()
        icon_label.setPixmap(app_icon().pixmap(64, 64))
        icon_label.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        title = QLabel(f"<b>{APP_TITLE}</b>")
        title.setObjectName("aboutTitle")
        title.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        self.version_label = QLabel(version_text())
        self.version_label.setObjectName("aboutVersion")
        self.version_label.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        self.version_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.qt_label = QLabel(qt_versions_text())
        self.qt_label.setObjectName("aboutQtVersions")
        self.qt_label.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        self.qt_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.data_label = self._folder_label(self.data_dir, "aboutDataDir")
        self.log_label = self._folder_label(self.log_dir, "aboutLogDir")
        folders = QFormLayout()
        folders.addRow("Data folder:", self.data_label)
        folders.addRow("Logs:", self.log_label)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(icon_label)
        layout.addWidget(title)
        layout.addWidget(self.version_label)
        layout.addWidget(self.qt_label)
        layout.addSpacing(8)
        layout.addLayout(folders)
        layout.addWidget(buttons)

    @staticmethod
    def _folder_label(folder: Path, name: str) -> QLabel:
        """The folder's path, a link that opens it in the file manager, and selectable."""
        url = QUrl.fromLocalFile(str(folder))
        label = QLabel(f'<a href="{url.toString()}">{_escape(str(folder))}</a>')
        label.setObjectName(name)
        label.setToolTip("Open in the file manager")
        label.setTextFormat(Qt.TextFormat.RichText)
        label.setTextInteractionFlags(
            Qt.TextInteractionFlag.LinksAccessibleByMouse
            | Qt.TextInteractionFlag.TextSelectableByMouse
        )
        label.linkActivated.connect(lambda link: QDesktopServices.openUrl(QUrl(link)))
        return label

    @classmethod
    def ask(cls, parent: QWidget | None, data_dir: Path) -> None:
        """Show the dialog modally until closed. Tests replace it (no real modal loop)."""
        dialog = cls(data_dir, parent)
        try:
            dialog.exec()
        finally:
            dialog.deleteLater()


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
