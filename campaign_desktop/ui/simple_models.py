"""Minimal table models for the Contacts and Activity tabs (first slice).

Contacts are paged from the service as the view scrolls (`fetchMore`), so 100,000 contacts
never load at once; runs are the most recent few hundred.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, Qt

from campaign_desktop.domain.views import ContactView, RunView
from campaign_desktop.services.contacts import ContactService
from campaign_desktop.services.runs import RunService
from campaign_desktop.ui import formatting

ModelIndex = QModelIndex | QPersistentModelIndex
_NO_INDEX = QModelIndex()
PAGE_SIZE = 200


class _RowsModel(QAbstractTableModel):
    headers: tuple[str, ...] = ()

    def rowCount(self, parent: ModelIndex = _NO_INDEX) -> int:  # noqa: N802  (a Qt override keeps Qt's name)
        return 0 if parent.isValid() else self._row_count()

    def columnCount(self, parent: ModelIndex = _NO_INDEX) -> int:  # noqa: N802  (a Qt override keeps Qt's name)
        return 0 if parent.isValid() else len(self.headers)

    def headerData(  # noqa: N802  (a Qt override keeps Qt's name)
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if (
            orientation == Qt.Orientation.Horizontal
            and role == Qt.ItemDataRole.DisplayRole
            and 0 <= section < len(self.headers)
        ):
            return self.headers[section]
        return None

    def _row_count(self) -> int:
        raise NotImplementedError


class ContactTableModel(_RowsModel):
    """Contacts matching a search text, fetched a page at a time."""

    headers = ("Email", "First name", "Last name", "Status", "Lists")

    def __init__(self, contacts: ContactService, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._contacts = contacts
        self._text = ""
        self._rows: list[ContactView] = []
        self._total = 0

    def set_search(self, text: str) -> None:
        self.beginResetModel()
        self._text = text.strip()
        self._total = self._contacts.count(self._text)
        self._rows = self._contacts.search(self._text, offset=0, limit=PAGE_SIZE)
        self.endResetModel()

    def total(self) -> int:
        return self._total

    def _row_count(self) -> int:
        return len(self._rows)

    def canFetchMore(self, parent: ModelIndex) -> bool:  # noqa: N802  (a Qt override keeps Qt's name)
        return not parent.isValid() and len(self._rows) < self._total

    def fetchMore(self, parent: ModelIndex) -> None:  # noqa: N802  (a Qt override keeps Qt's name)
        if parent.isValid():
            return
        page = self._contacts.search(self._text, offset=len(self._rows), limit=PAGE_SIZE)
        if not page:
            self._total = len(self._rows)
            return
        self.beginInsertRows(_NO_INDEX, len(self._rows), len(self._rows) + len(page) - 1)
        self._rows.extend(page)
        self.endInsertRows()

    def data(self, index: ModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or role != Qt.ItemDataRole.DisplayRole:
            return None
        contact = self._rows[index.row()]
        return (
            contact.email,
            contact.first_name,
            contact.last_name,
            formatting.status_text(contact.status),
            ", ".join(contact.lists),
        )[index.column()]


class RunTableModel(_RowsModel):
    """Recent runs of every campaign, newest first, with their counts."""

    headers = ("Campaign", "Due", "Trigger", "Status", "Sent", "Failed", "Skipped", "Unconfirmed")

    def __init__(self, runs: RunService, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._runs = runs
        self._rows: list[tuple[RunView, str]] = []

    def reload(self) -> None:
        self.beginResetModel()
        self._rows = self._runs.recent()
        self.endResetModel()

    def _row_count(self) -> int:
        return len(self._rows)

    def data(self, index: ModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        run, name = self._rows[index.row()]
        if role == Qt.ItemDataRole.ToolTipRole:
            return run.error or None
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        return (
            name,
            formatting.on_this_machine(run.occurrence_at).removesuffix(" (this computer)"),
            formatting.status_text(run.trigger),
            formatting.status_text(run.status),
            str(run.sent),
            str(run.failed),
            str(run.skipped),
            str(run.unconfirmed),
        )[index.column()]
