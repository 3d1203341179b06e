"""Every file dialog of the app opens in the user's documents folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PySide6.QtWidgets import QFileDialog

from campaign_desktop.ui.activity.activity_tab import ChooseExportPath
from campaign_desktop.ui.calendar.ics_export import ChooseIcsPath
from campaign_desktop.ui.common.widgets import documents_folder
from campaign_desktop.ui.contacts.import_dialog import ChooseCsvFile
from campaign_desktop.ui.contacts.list_dialogs import ChooseContactsExportPath
from campaign_desktop.ui.settings.inbound_page import ChooseUnsubscribeCsv
from campaign_desktop.ui.settings.settings_dialog import ChooseCaFile

pytestmark = pytest.mark.gui

# The real `ask`s, taken before tests/ui/conftest.py replaces them with "unexpected dialog".
_ASK: dict[type, Any] = {
    cls: cls.__dict__["ask"].__func__
    for cls in (
        ChooseCsvFile,
        ChooseCaFile,
        ChooseUnsubscribeCsv,
        ChooseExportPath,
        ChooseIcsPath,
        ChooseContactsExportPath,
    )
}


def test_every_file_dialog_opens_in_the_documents_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    documents = tmp_path / "Documents"
    documents.mkdir()
    monkeypatch.setenv("XDG_DOCUMENTS_DIR", str(documents))
    monkeypatch.setenv("HOME", str(tmp_path))
    opened: list[str] = []

    def fake(_parent: Any, _title: str, where: str, _filter: str) -> tuple[str, str]:
        opened.append(where)
        return "", ""

    monkeypatch.setattr(QFileDialog, "getOpenFileName", fake)
    monkeypatch.setattr(QFileDialog, "getSaveFileName", fake)
    folder = documents_folder()
    assert Path(folder).name == "Documents"
    assert _ASK[ChooseCsvFile](ChooseCsvFile, None) is None
    assert _ASK[ChooseCaFile](ChooseCaFile, None) is None
    assert _ASK[ChooseUnsubscribeCsv](ChooseUnsubscribeCsv, None) is None
    assert _ASK[ChooseExportPath](ChooseExportPath, None, "run.csv") is None
    assert _ASK[ChooseIcsPath](ChooseIcsPath, None, "news.ics") is None
    assert _ASK[ChooseContactsExportPath](ChooseContactsExportPath, None, "contacts.csv") is None
    assert opened[:3] == [folder] * 3
    assert opened[3:] == [
        str(Path(folder) / name) for name in ("run.csv", "news.ics", "contacts.csv")
    ]
