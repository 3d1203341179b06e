"""The Contacts table model: contacts matching a search, a list and a status, paged from SQLite.

Only the rows the view has scrolled to are loaded (`canFetchMore`/`fetchMore`, a page at a
time), so 100,000 contacts cost one page of Python objects, not 100,000.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from PySide6.QtCore import QObject, Qt

from campaign_desktop.domain.status import ContactStatus
from campaign_desktop.domain.views import ContactView
from campaign_desktop.services.contacts import ContactService
from campaign_desktop.ui import formatting
from campaign_desktop.ui.table_model import ModelIndex, RowTableModel

PAGE_SIZE = 200


class ContactRole(IntEnum):
    ContactRole = Qt.ItemDataRole.UserRole + 1
    ContactIdRole = Qt.ItemDataRole.UserRole + 2


class ContactColumn(IntEnum):
    EMAIL = 0
    FIRST_NAME = 1
    LAST_NAME = 2
    STATUS = 3
    ADDED = 4
    LISTS = 5  # last: it stretches, and a contact can be in many lists


@dataclass(frozen=True)
class ContactFilter:
    """What the Contacts tab asks for; empty text / None mean "any"."""

    text: str = ""
    list_name: str | None = None
    status: str | None = None

    @property
    def is_empty(self) -> bool:
        return not self.text and self.list_name is None and self.status is None


class ContactTableModel(RowTableModel[ContactView]):
    """Contacts matching a `ContactFilter`, ordered by email, fetched a page at a time."""

    headers = ("Email", "First name", "Last name", "Status", "Added", "Lists")

    def __init__(self, contacts: ContactService, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._contacts = contacts
        self._filter = ContactFilter()
        self._total = 0

    # --- Qt overrides --------------------------------------------------------------------

    def canFetchMore(self, parent: ModelIndex) -> bool:  # noqa: N802  (a Qt override keeps Qt's name)
        return not parent.isValid() and len(self._rows) < self._total

    def fetchMore(self, parent: ModelIndex) -> None:  # noqa: N802  (a Qt override keeps Qt's name)
        if parent.isValid():
            return
        f = self._filter
        page = self._contacts.search(
            f.text, list_name=f.list_name, status=f.status, offset=len(self._rows), limit=PAGE_SIZE
        )
        if not page:
            # Rows went away since the count (deleted elsewhere): stop asking.
            self._total = len(self._rows)
            return
        self._append_rows(page)

    # --- the cells -----------------------------------------------------------------------

    def _cell(self, contact: ContactView, column: int, role: int) -> Any:
        if role == ContactRole.ContactRole:
            return contact
        if role == ContactRole.ContactIdRole:
            return contact.id
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(contact, column)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(contact, column)
        return None

    def _row_id(self, contact: ContactView) -> int:
        return contact.id

    @staticmethod
    def _display(contact: ContactView, column: int) -> str | None:  # noqa: PLR0911  (one return per column)
        match column:
            case ContactColumn.EMAIL:
                return contact.email
            case ContactColumn.FIRST_NAME:
                return contact.first_name
            case ContactColumn.LAST_NAME:
                return contact.last_name
            case ContactColumn.STATUS:
                return formatting.status_text(contact.status)
            case ContactColumn.LISTS:
                return ", ".join(contact.lists)
            case ContactColumn.ADDED:
                return contact.created_at.astimezone().strftime("%d %b %Y")
        return None

    @staticmethod
    def _tooltip(contact: ContactView, column: int) -> str | None:
        if column == ContactColumn.STATUS and contact.status == ContactStatus.UNSUBSCRIBED:
            return f"Unsubscribed {formatting.on_this_machine(contact.unsubscribed_at)}"
        if column == ContactColumn.STATUS and contact.status == ContactStatus.BOUNCED:
            return "Mail to this address bounced: it is not sent to any more."
        if column == ContactColumn.EMAIL and contact.attributes:
            return "\n".join(f"{key}: {value}" for key, value in sorted(contact.attributes.items()))
        return None

    # --- the rows ------------------------------------------------------------------------

    @property
    def current_filter(self) -> ContactFilter:
        return self._filter

    def set_filter(self, contact_filter: ContactFilter) -> None:
        """Show the contacts matching `contact_filter`: a count and the first page."""
        f = contact_filter
        self.beginResetModel()
        self._filter = f
        self._total = self._contacts.count(f.text, list_name=f.list_name, status=f.status)
        self._rows = self._contacts.search(
            f.text, list_name=f.list_name, status=f.status, offset=0, limit=PAGE_SIZE
        )
        self.endResetModel()

    def reload(self) -> None:
        self.set_filter(self._filter)

    def total(self) -> int:
        """How many contacts match the filter (loaded or not)."""
        return self._total

    def contact_at(self, row: int) -> ContactView:
        return self._rows[row]

    def replace_contact(self, contact: ContactView) -> None:
        """Show the new state of a loaded contact (dataChanged for its row only)."""
        row = self.row_of(contact.id)
        if row is None:
            return
        self._replace_row(row, contact)

    def remove_contacts(self, contact_ids: Iterable[int]) -> None:
        """Take deleted contacts out of the table, keeping the rest (and the scroll) as is."""
        rows = sorted(
            (row for row in (self.row_of(cid) for cid in contact_ids) if row is not None),
            reverse=True,
        )
        for row in rows:
            # Counted down before the row goes: the count label reads `total()` on rowsRemoved.
            self._total -= 1
            self._remove_row(row)
