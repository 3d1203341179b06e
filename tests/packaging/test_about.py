"""The About dialog shows the version from the package metadata, Qt's versions, the folders."""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path

import PySide6
import pytest
from PySide6.QtCore import QTimer, qVersion
from PySide6.QtWidgets import QApplication, QLabel
from pytestqt.qtbot import QtBot

import campaign_desktop
from campaign_desktop.ui.shell.about_dialog import AboutDialog

pytestmark = pytest.mark.gui


def _label(dialog: AboutDialog, name: str) -> QLabel:
    label = dialog.findChild(QLabel, name)
    assert label is not None, name
    return label


@pytest.fixture
def dialog(tmp_path: Path, qtbot: QtBot) -> AboutDialog:
    widget = AboutDialog(tmp_path / "data", log_dir=tmp_path / "logs")
    qtbot.addWidget(widget)
    return widget


def test_shows_the_version_from_the_package_metadata(dialog: AboutDialog) -> None:
    installed = version("campaign-desktop")
    assert campaign_desktop.__version__ == installed
    assert dialog.objectName() == "aboutDialog"
    assert _label(dialog, "aboutVersion").text() == f"Version {installed}"


def test_shows_qt_and_pyside_versions(dialog: AboutDialog) -> None:
    text = _label(dialog, "aboutQtVersions").text()
    assert f"Qt {qVersion()}" in text
    assert f"PySide6 {PySide6.__version__}" in text


def test_shows_the_data_and_log_folders(dialog: AboutDialog, tmp_path: Path) -> None:
    assert str(tmp_path / "data") in _label(dialog, "aboutDataDir").text()
    assert str(tmp_path / "logs") in _label(dialog, "aboutLogDir").text()


# The offscreen platform warns when a dialog is shown for real; nothing is wrong.
@pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints")
def test_ask_shows_it_modally_until_closed(tmp_path: Path, qtbot: QtBot) -> None:
    seen: list[str] = []

    def close_it() -> None:
        modal = QApplication.activeModalWidget()
        assert isinstance(modal, AboutDialog)
        seen.append(_label(modal, "aboutVersion").text())
        modal.reject()

    QTimer.singleShot(0, close_it)
    AboutDialog.ask(None, tmp_path / "data")
    assert seen == [f"Version {campaign_desktop.__version__}"]
