"""The base of a table too large to hold: every matching row is a row of the model, but only
the pages the view painted lately are in memory.

A subclass says how to read `limit` rows from `offset` (`_fetch`) and how many rows match
(`_count`). The model holds a small most-recently-used cache of `cached_pages` pages of
`page_size` rows, each read with one `_fetch` when a row in it is first asked for: scrolling
anywhere costs a page or two, and 100,000 rows never cost more than
`cached_pages * page_size` Python objects.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from typing import ClassVar

from PySide6.QtCore import QModelIndex, QObject

from campaign_desktop.ui.common.table_model import ModelIndex, RowT, TableModel

_NO_INDEX = QModelIndex()


class PagedTableModel(TableModel[RowT]):
    """`rowCount()` is how many rows match; `data()` reads a row from its cached page,
    reading the page when it is not cached.

    The rows' order is the subclass's query's; it must be stable (a unique sort key), or
    pages read at different times would overlap.
    """

    page_size: ClassVar[int] = 200
    cached_pages: ClassVar[int] = 10  # a screen shows at most two pages; the rest: scrolling

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._total = 0
        self._pages: OrderedDict[int, list[RowT]] = OrderedDict()  # oldest use first
        # Pages holding only their first rows (the rest moved up into them after a removal,
        # from a page not held): the rest is read when asked for.
        self._partial: set[int] = set()

    # --- what subclasses say -------------------------------------------------------------

    def _fetch(self, offset: int, limit: int) -> list[RowT]:
        """At most `limit` matching rows from position `offset`, in the table's order."""
        raise NotImplementedError

    def _count(self) -> int:
        """How many rows match."""
        raise NotImplementedError

    # --- Qt overrides --------------------------------------------------------------------

    def rowCount(self, parent: ModelIndex = _NO_INDEX) -> int:  # noqa: N802  (a Qt override keeps Qt's name)
        return 0 if parent.isValid() else self._total

    # --- reading -------------------------------------------------------------------------

    def _read_again(self) -> None:
        """Forget every page; count the matches and read the first page (a model reset).

        Subclasses call it after changing their query.
        """
        first = self._fetch(0, self.page_size)
        # A short first page is every match: no need to count them again.
        self._show_first_page(first, len(first) if len(first) < self.page_size else self._count())

    def _show_first_page(self, first: list[RowT], total: int) -> None:
        """Forget every page and show `first` of `total` matches (a model reset): for a
        subclass that read them elsewhere (a pool thread)."""
        self.beginResetModel()
        self._pages.clear()
        self._partial.clear()
        self._total = total
        self._pages[0] = first
        self.endResetModel()

    def total(self) -> int:
        """How many rows match (loaded or not)."""
        return self._total

    def rows_held(self) -> int:
        """How many rows the model holds in memory now (the cached pages)."""
        return sum(len(page) for page in self._pages.values())

    def _row_at(self, position: int) -> RowT | None:
        """The row at `position`, or None when its page came back short (deleted elsewhere)."""
        number, offset = divmod(position, self.page_size)
        page = self._pages.get(number)
        if page is None or (offset >= len(page) and number in self._partial):
            # Not held, or held only in part since rows before it were removed: read it.
            self._partial.discard(number)
            page = self._fetch(number * self.page_size, self.page_size)
            self._pages[number] = page
            while len(self._pages) > self.cached_pages:
                self._partial.discard(self._pages.popitem(last=False)[0])
        elif number != next(reversed(self._pages)):
            self._pages.move_to_end(number)
        return page[offset] if offset < len(page) else None

    def _held_row(self, position: int) -> RowT | None:
        """The row at `position` if a cached page holds it, else None; never reads.

        For a subclass's `_fetch` that starts a page from the row next to it (keyset
        paging) when it is at hand.
        """
        if not 0 <= position < self._total:
            return None
        page = self._pages.get(position // self.page_size)
        offset = position % self.page_size
        return page[offset] if page is not None and offset < len(page) else None

    def rows_at(self, positions: Iterable[int]) -> list[RowT]:
        """The rows at `positions`, in order, for acting on a selection of any size.

        Rows in cached pages come from the cache; each run of consecutive other positions
        is read with one `_fetch` and not cached, so a large selection neither costs a
        query per page nor pushes the rows on screen out of the cache.
        """
        wanted = sorted({p for p in positions if 0 <= p < self._total})
        found: dict[int, RowT] = {}
        missing: list[int] = []
        for position in wanted:
            page = self._pages.get(position // self.page_size)
            if page is None:
                missing.append(position)
            elif position % self.page_size < len(page):
                found[position] = page[position % self.page_size]
        for first, count in runs(missing):
            # Not strict: rows deleted elsewhere since the count make the answer short.
            read = range(first, first + count)
            found.update(zip(read, self._fetch(first, count), strict=False))
        return [found[position] for position in wanted if position in found]

    def row_of(self, row_id: int) -> int | None:
        """The position of the row with id `row_id`, or None if it is not in a cached page."""
        for number, page in self._pages.items():
            for offset, row in enumerate(page):
                if self._row_id(row) == row_id:
                    return number * self.page_size + offset
        return None

    # --- changes -------------------------------------------------------------------------

    def _replace_row(self, row: RowT) -> None:
        """Show the new state of a cached row (dataChanged for it only), found by its id.

        A row not in a cached page needs nothing: its page is read afresh when shown.
        """
        position = self.row_of(self._row_id(row))
        if position is None:
            return
        self._pages[position // self.page_size][position % self.page_size] = row
        self._row_changed(position)

    def _remove_rows(self, row_ids: Iterable[int]) -> None:
        """Take rows deleted in the database out of the table, keeping the rest (and the
        scroll) as is.

        Their positions are found in the cached pages; when one is not there (a selection
        wider than the cache), the table is read again instead.
        """
        ids = set(row_ids)
        positions = {p for p in (self.row_of(row_id) for row_id in ids) if p is not None}
        if len(positions) < len(ids):
            self._read_again()
            return
        # Last run first, so the positions of the runs still to go keep their numbers.
        for first, count in reversed(list(runs(sorted(positions)))):
            self.beginRemoveRows(_NO_INDEX, first, first + count - 1)
            # Counted down before the rows go: a count label reads `total()` on rowsRemoved.
            self._total -= count
            self._shift_held_rows(first, count)
            self.endRemoveRows()

    def _shift_held_rows(self, first: int, count: int) -> None:
        """Forget the held rows `first` … `first + count - 1` and move the later ones up.

        The database lost all the removed rows at once, but views see one run of them go at
        a time: between two runs, rows must read as the model says, so the held rows move
        up here (a page then takes the first rows of the next page, when that is held)
        instead of being read again from the database.
        """
        size = self.page_size
        start = first // size
        later = [number for number in self._pages if number >= start]
        held: dict[int, RowT] = {}
        for number in later:
            held.update(enumerate(self._pages.pop(number), start=number * size))
            self._partial.discard(number)
        moved = {
            (position if position < first else position - count): row
            for position, row in held.items()
            if not first <= position < first + count
        }
        for number in later:
            rows: list[RowT] = []
            position = number * size
            while len(rows) < size and position in moved:
                rows.append(moved[position])
                position += 1
            if not rows:
                continue
            self._pages[number] = rows
            if len(rows) < size and position < self._total:
                self._partial.add(number)


def runs(positions: Sequence[int]) -> Iterator[tuple[int, int]]:
    """(first, count) of each run of consecutive numbers in the sorted `positions`."""
    start = previous = -2
    for position in positions:
        if position != previous + 1:
            if start >= 0:
                yield start, previous - start + 1
            start = position
        previous = position
    if start >= 0:
        yield start, previous - start + 1
