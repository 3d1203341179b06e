"""The Contacts table model: contacts matching a search, a list and a status, paged from SQL.

A `PagedTableModel`: as many rows as contacts match (`contacts.count`), but only the pages
the view painted lately are held; 100,000 contacts never cost more than
`CACHED_PAGES * PAGE_SIZE` objects. A page next to a held one is read from that one's edge
(keyset paging: `search(after_email=…)` / `search(before_email=…)`), so scrolling costs the
same at any depth and shows no row twice, nor skips one, when contacts were added or
deleted meanwhile; a jump to a page with no neighbour held reads with `offset=…`.

A search that nearly every contact matches shows its first page at once and is counted on
the pool afterwards (`ContactService.first_page`): until then the table has the first
page's rows and `is_counting()`; the count then adds the other rows (rowsInserted).

Custom fields (the contacts' `attributes`) can be shown as extra columns after the fixed
ones (`set_attribute_columns`); they are not sortable, as no column is: the rows are paged
in the email order SQL gives.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, TypedDict

from PySide6.QtCore import QModelIndex, QObject, QPersistentModelIndex, Qt, Signal, Slot

from campaign_desktop.domain.errors import DomainError
from campaign_desktop.domain.segments import Segment
from campaign_desktop.domain.status import ContactStatus
from campaign_desktop.domain.views import ContactView
from campaign_desktop.services.contacts import ContactService
from campaign_desktop.ui.common import formatting
from campaign_desktop.ui.common.background import (
    BackgroundTask,
    Report,
    hand_to_crash_handler,
    run_in_background,
)
from campaign_desktop.ui.common.paged_model import PagedTableModel

log = logging.getLogger("campaign_desktop.ui.contacts")

PAGE_SIZE = 200
_NO_INDEX = QModelIndex()
CACHED_PAGES = 10  # a screen shows at most two pages; the rest is for scrolling back


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


class ServiceFilters(TypedDict):
    """The filter keywords `ContactService.search`, `first_page`, `count`, `ids` and
    `export_csv` take beside the search text."""

    list_name: str | None
    status: str | None
    segment: Segment | None


@dataclass(frozen=True)
class ContactFilter:
    """What the Contacts tab asks for; empty text / None mean "any"."""

    text: str = ""
    list_name: str | None = None
    status: str | None = None
    segment: Segment | None = None  # conditions on the fields (docs/design.md §18)

    def service_filters(self) -> ServiceFilters:
        """This filter as the service's keywords: every read of the table's contacts (pages,
        counts, selected ids, the export) passes them all through here, so none leaves one
        out."""
        return {"list_name": self.list_name, "status": self.status, "segment": self.segment}

    @property
    def is_empty(self) -> bool:
        return (
            not self.text
            and self.list_name is None
            and self.status is None
            and self.segment is None
        )


class ContactTableModel(PagedTableModel[ContactView]):
    """Contacts matching a `ContactFilter`, ordered by email, read a page at a time."""

    headers = ("Email", "First name", "Last name", "Status", "Added", "Lists")
    page_size = PAGE_SIZE

    #: The matches were counted after the first page was shown (`is_counting()` is False
    #: again); the number of them.
    counted = Signal(int)
    cached_pages = CACHED_PAGES

    def __init__(self, contacts: ContactService, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._contacts = contacts
        self._filter = ContactFilter()
        self._attribute_columns: tuple[str, ...] = ()
        # Each reset starts a new generation: a count read for an older one is dropped.
        self._generation = 0
        self._counting = False
        self._count_task: BackgroundTask | None = None

    # --- the query (what PagedTableModel asks) -------------------------------------------

    def _fetch(self, offset: int, limit: int) -> list[ContactView]:
        f = self._filter
        before = self._held_row(offset - 1) if offset > 0 else None
        if before is not None:  # scrolling down: the rows after the last one shown
            return self._contacts.search(
                f.text, **f.service_filters(), after_email=before.email, limit=limit
            )
        # Not for the first page: it starts at the start, and is read again (`reload`)
        # while the pages of before are still held.
        after = self._held_row(offset + limit) if offset > 0 else None
        if after is not None:  # scrolling back up: the rows before the first one shown
            return self._contacts.search(
                f.text, **f.service_filters(), before_email=after.email, limit=limit
            )
        return self._contacts.search(f.text, **f.service_filters(), offset=offset, limit=limit)

    def _count(self) -> int:
        f = self._filter
        return self._contacts.count(f.text, **f.service_filters())

    def _row_id(self, contact: ContactView) -> int:
        return contact.id

    # --- custom-field columns ------------------------------------------------------------

    @property
    def attribute_columns(self) -> tuple[str, ...]:
        """The custom fields shown as columns, in column order after the fixed ones."""
        return self._attribute_columns

    def set_attribute_columns(self, keys: Iterable[str]) -> None:
        """Show these custom fields as columns (after the fixed ones, in the order given),
        and no others: columns removed and inserted as Qt's begin/end calls say."""
        wanted = tuple(dict.fromkeys(keys))
        if wanted == self._attribute_columns:
            return
        first = len(self.headers)
        if self._attribute_columns:
            self.beginRemoveColumns(_NO_INDEX, first, first + len(self._attribute_columns) - 1)
            self._attribute_columns = ()
            self.endRemoveColumns()
        if wanted:
            self.beginInsertColumns(_NO_INDEX, first, first + len(wanted) - 1)
            self._attribute_columns = wanted
            self.endInsertColumns()

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = _NO_INDEX) -> int:  # noqa: N802  (a Qt override keeps Qt's name)
        return 0 if parent.isValid() else len(self.headers) + len(self._attribute_columns)

    def headerData(  # noqa: N802  (a Qt override keeps Qt's name)
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        extra = section - len(self.headers)
        if (
            orientation == Qt.Orientation.Horizontal
            and 0 <= extra < len(self._attribute_columns)
            and role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole)
        ):
            key = self._attribute_columns[extra]
            return key if role == Qt.ItemDataRole.DisplayRole else f"Custom field “{key}”"
        return super().headerData(section, orientation, role)

    # --- the cells -----------------------------------------------------------------------

    def _cell(self, contact: ContactView, column: int, role: int) -> Any:
        if role == ContactRole.ContactRole:
            return contact
        if role == ContactRole.ContactIdRole:
            return contact.id
        if column >= len(self.headers):
            return self._field_cell(contact, column, role)
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(contact, column)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(contact, column)
        return None

    def _field_cell(self, contact: ContactView, column: int, role: int) -> str | None:
        extra = column - len(self.headers)
        shown = role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole)
        if not shown or not 0 <= extra < len(self._attribute_columns):
            return None
        return _field_text(contact.attributes.get(self._attribute_columns[extra]))

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
        # When and why (an unsubscribe email, a bounce report: docs/design.md §11).
        why = f"\n{contact.status_reason}" if contact.status_reason else ""
        if column == ContactColumn.STATUS and contact.status == ContactStatus.UNSUBSCRIBED:
            return f"Unsubscribed {formatting.on_this_machine(contact.unsubscribed_at)}{why}"
        if column == ContactColumn.STATUS and contact.status == ContactStatus.BOUNCED:
            since = (
                f" ({formatting.on_this_machine(contact.bounced_at)})" if contact.bounced_at else ""
            )
            return f"Mail to this address bounced{since}: it is not sent to any more.{why}"
        if column == ContactColumn.EMAIL and contact.attributes:
            return "\n".join(f"{key}: {value}" for key, value in sorted(contact.attributes.items()))
        return None

    # --- the rows ------------------------------------------------------------------------

    @property
    def current_filter(self) -> ContactFilter:
        return self._filter

    def set_filter(self, contact_filter: ContactFilter) -> None:
        """Show the contacts matching `contact_filter`: a count and the first page."""
        self.show_filter(contact_filter, *self.read_filter(self._contacts, contact_filter))

    @staticmethod
    def read_filter(
        contacts: ContactService, contact_filter: ContactFilter
    ) -> tuple[list[ContactView], int | None]:
        """The first page and the number of matches for `contact_filter`, for `show_filter`;
        None for a number that is read later (`ContactService.first_page`).

        Reads through the service only (no model state): safe on a pool thread, so that
        the Contacts tab searches off the GUI thread.
        """
        f = contact_filter
        return contacts.first_page(f.text, **f.service_filters(), limit=PAGE_SIZE)

    def show_filter(
        self, contact_filter: ContactFilter, first: list[ContactView], total: int | None
    ) -> None:
        """Show what `read_filter` read for `contact_filter` (a model reset); a total of
        None is counted on the pool, and the rest of the rows follow when it is known."""
        self._filter = contact_filter
        self._show_first_page(first, len(first) if total is None else total)
        if total is None:
            self._count_later()

    def is_counting(self) -> bool:
        """True while the matches are being counted: `total()` is the rows read so far."""
        return self._counting

    def _show_first_page(self, first: list[ContactView], total: int) -> None:
        self._generation += 1
        self._counting = False
        super()._show_first_page(first, total)

    def _count_later(self) -> None:
        self._counting = True
        generation, f, contacts = self._generation, self._filter, self._contacts

        def count(_report: Report) -> tuple[int, int]:
            return generation, contacts.count(f.text, **f.service_filters())

        # A bound slot, not a closure: Qt drops it if the model is deleted first.
        self._count_task = run_in_background("contacts: count", count, self._on_counted)

    @Slot(object, object)
    def _on_counted(self, result: tuple[int, int] | None, error: BaseException | None) -> None:
        self._count_task = None
        if error is not None:
            self._counting = False
            if not isinstance(error, DomainError):
                hand_to_crash_handler(error)
                return
            # The database could not be read (busy, gone): the rows read so far stay, and
            # the label stops saying "counting"; the next search counts again.
            log.warning("contacts: counting the matches failed: %s", error)
            self.counted.emit(self._total)
            return
        assert result is not None
        generation, total = result
        if generation != self._generation:
            return  # the table shows another search (or was read again) since
        self._counting = False
        held = self._total
        if total > held:
            self.beginInsertRows(QModelIndex(), held, total - 1)
            self._total = total
            self.endInsertRows()
        elif total < held:  # contacts deleted meanwhile: the rows past the count go
            self.beginRemoveRows(QModelIndex(), total, held - 1)
            self._total = total
            self.endRemoveRows()
        self.counted.emit(total)

    def reload(self) -> None:
        self._read_again()

    def contact_at(self, row: int) -> ContactView:
        contact = self._row_at(row) if 0 <= row < self.total() else None
        if contact is None:
            raise IndexError(f"no contact at row {row}")
        return contact

    def contacts_at(self, rows: Iterable[int]) -> list[ContactView]:
        """The contacts at `rows`, in row order, for acting on a selection of any size."""
        return self.rows_at(rows)

    def replace_contact(self, contact: ContactView) -> None:
        """Show the new state of a contact (dataChanged for its row, if it is cached)."""
        self._replace_row(contact)

    def remove_contacts(self, contact_ids: Iterable[int]) -> None:
        """Take deleted contacts out of the table, keeping the rest (and the scroll) as is."""
        self._remove_rows(contact_ids)


def _field_text(value: object) -> str:
    """A custom field's value as a cell shows it (and the CSV export writes it)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
