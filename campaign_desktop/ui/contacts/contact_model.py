"""The Contacts table model: contacts matching a search, a list and a status, paged from SQLite.

The table has as many rows as contacts match (`contacts.count`), but holds only the pages the
view has painted lately: a small most-recently-used cache of `CACHED_PAGES` pages of
`PAGE_SIZE` contacts, each read with one `contacts.search(offset=…, limit=PAGE_SIZE)` when a
row in it is first asked for. Scrolling anywhere costs a page or two, and 100,000 contacts
never cost more than `CACHED_PAGES * PAGE_SIZE` Python objects.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from PySide6.QtCore import QModelIndex, QObject, Qt

from campaign_desktop.domain.status import ContactStatus
from campaign_desktop.domain.views import ContactView
from campaign_desktop.services.contacts import ContactService
from campaign_desktop.ui.common import formatting
from campaign_desktop.ui.common.table_model import ModelIndex, RowTableModel

_NO_INDEX = QModelIndex()
PAGE_SIZE = 200
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
    """Contacts matching a `ContactFilter`, ordered by email, read a page at a time.

    `rowCount()` is the number of matching contacts; `data()` reads a row from its page,
    loading the page when it is not cached. The base class's row list stays empty.
    """

    headers = ("Email", "First name", "Last name", "Status", "Added", "Lists")

    def __init__(self, contacts: ContactService, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._contacts = contacts
        self._filter = ContactFilter()
        self._total = 0
        self._pages: OrderedDict[int, list[ContactView]] = OrderedDict()  # oldest use first

    # --- Qt overrides --------------------------------------------------------------------

    def rowCount(self, parent: ModelIndex = _NO_INDEX) -> int:  # noqa: N802  (a Qt override keeps Qt's name)
        return 0 if parent.isValid() else self._total

    def data(self, index: ModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < self._total:
            return None
        contact = self._contact(index.row())
        return None if contact is None else self._cell(contact, index.column(), role)

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
        f = contact_filter
        self.beginResetModel()
        self._filter = f
        self._pages.clear()
        first = self._search(0, PAGE_SIZE)
        # A short first page is every match: no need to count them again.
        self._total = len(first) if len(first) < PAGE_SIZE else self._count()
        self._pages[0] = first
        self.endResetModel()

    def reload(self) -> None:
        self.set_filter(self._filter)

    def total(self) -> int:
        """How many contacts match the filter (loaded or not)."""
        return self._total

    def rows_held(self) -> int:
        """How many contacts the model holds in memory now (the cached pages)."""
        return sum(len(page) for page in self._pages.values())

    def contact_at(self, row: int) -> ContactView:
        contact = self._contact(row) if 0 <= row < self._total else None
        if contact is None:
            raise IndexError(f"no contact at row {row}")
        return contact

    def contacts_at(self, rows: Iterable[int]) -> list[ContactView]:
        """The contacts at `rows`, in row order, for acting on a selection of any size.

        Rows in cached pages come from the cache; each run of consecutive other rows is
        read with one query and not cached, so a large selection neither costs a query per
        page nor pushes the rows on screen out of the cache.
        """
        wanted = sorted({row for row in rows if 0 <= row < self._total})
        found: dict[int, ContactView] = {}
        missing: list[int] = []
        for row in wanted:
            page = self._pages.get(row // PAGE_SIZE)
            if page is None:
                missing.append(row)
            elif row % PAGE_SIZE < len(page):
                found[row] = page[row % PAGE_SIZE]
        for first, count in _runs(missing):
            # Not strict: rows deleted elsewhere since the count make the answer short.
            rows_read = range(first, first + count)
            found.update(zip(rows_read, self._search(first, count), strict=False))
        return [found[row] for row in wanted if row in found]

    def row_of(self, row_id: int) -> int | None:
        """The row of the contact with id `row_id`, or None if it is not in a cached page."""
        for number, page in self._pages.items():
            for position, contact in enumerate(page):
                if contact.id == row_id:
                    return number * PAGE_SIZE + position
        return None

    def replace_contact(self, contact: ContactView) -> None:
        """Show the new state of a cached contact (dataChanged for its row only).

        A contact not in a cached page needs nothing: its page is read afresh when shown.
        """
        row = self.row_of(contact.id)
        if row is None:
            return
        self._pages[row // PAGE_SIZE][row % PAGE_SIZE] = contact
        # A new row object can change every role (the row itself is one), so no roles are
        # named: Qt reads an empty list as "all".
        all_roles: list[int] = []
        self.dataChanged.emit(
            self.index(row, 0), self.index(row, self.columnCount() - 1), all_roles
        )

    def remove_contacts(self, contact_ids: Iterable[int]) -> None:
        """Take deleted contacts out of the table, keeping the rest (and the scroll) as is.

        Their rows are found in the cached pages; when one is not there (a selection wider
        than the cache), the table is read again instead.
        """
        ids = set(contact_ids)
        rows = {row for row in (self.row_of(cid) for cid in ids) if row is not None}
        if len(rows) < len(ids):
            self.reload()
            return
        # Last run first, so the rows of the runs still to go keep their numbers.
        for first, count in reversed(list(_runs(sorted(rows)))):
            self.beginRemoveRows(_NO_INDEX, first, first + count - 1)
            # Counted down before the rows go: the count label reads `total()` on rowsRemoved.
            self._total -= count
            # Every later row moved up: the pages from the first removed row on are read
            # again when shown (the database no longer has the removed contacts).
            for number in [n for n in self._pages if n >= first // PAGE_SIZE]:
                del self._pages[number]
            self.endRemoveRows()

    # --- the pages -----------------------------------------------------------------------

    def _contact(self, row: int) -> ContactView | None:
        """The contact at `row`, or None when its page came back short (deleted elsewhere)."""
        number, position = divmod(row, PAGE_SIZE)
        page = self._pages.get(number)
        if page is None:
            page = self._search(number * PAGE_SIZE, PAGE_SIZE)
            self._pages[number] = page
            while len(self._pages) > CACHED_PAGES:
                self._pages.popitem(last=False)
        elif number != next(reversed(self._pages)):
            self._pages.move_to_end(number)
        return page[position] if position < len(page) else None

    def _search(self, offset: int, limit: int) -> list[ContactView]:
        f = self._filter
        return self._contacts.search(
            f.text, list_name=f.list_name, status=f.status, offset=offset, limit=limit
        )

    def _count(self) -> int:
        f = self._filter
        return self._contacts.count(f.text, list_name=f.list_name, status=f.status)


def _runs(rows: Sequence[int]) -> Iterator[tuple[int, int]]:
    """(first, count) of each run of consecutive numbers in the sorted `rows`."""
    start = previous = -2
    for row in rows:
        if row != previous + 1:
            if start >= 0:
                yield start, previous - start + 1
            start = row
        previous = row
    if start >= 0:
        yield start, previous - start + 1
