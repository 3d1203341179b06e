"""The bases of the data tables' models: a header tuple over row objects.

`TableModel` answers what every table answers alike (columns, headers, a cell through
`_cell`); `RowTableModel` holds its rows in a list, changed only through the helpers here,
each inside Qt's begin/end calls, so views and proxies never see a half-changed model. A
table too large to hold is a `PagedTableModel` (`ui/common/paged_model.py`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, ClassVar, Generic, TypeVar

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, Qt

ModelIndex = QModelIndex | QPersistentModelIndex
_NO_INDEX = QModelIndex()

RowT = TypeVar("RowT")


class TableModel(QAbstractTableModel, Generic[RowT]):
    """A flat table of `RowT`s under `headers`; subclasses say where rows come from.

    They answer `rowCount` and `_row_at` (how the rows are held) and `_cell` (what a row
    shows); `_row_id` where rows are looked up by id.
    """

    headers: ClassVar[tuple[str, ...]] = ()

    # --- what subclasses say -------------------------------------------------------------

    def _row_at(self, position: int) -> RowT | None:
        """The row at `position` (0 ≤ position < rowCount()), or None if it cannot be read."""
        raise NotImplementedError

    def _cell(self, row: RowT, column: int, role: int) -> Any:
        """What `row` shows in `column` for `role`; None for nothing."""
        raise NotImplementedError

    def _row_id(self, row: RowT) -> int:
        """The id `row_of` finds `row` by (only models that look rows up need say)."""
        raise NotImplementedError

    # --- Qt overrides --------------------------------------------------------------------

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

    def data(self, index: ModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < self.rowCount():
            return None
        row = self._row_at(index.row())
        return None if row is None else self._cell(row, index.column(), role)

    # --- changes -------------------------------------------------------------------------

    def _row_changed(self, position: int) -> None:
        """Tell views the row at `position` shows a new state: dataChanged for it only."""
        # A new row object can change every role (the row itself is one), so no roles are
        # named: Qt reads an empty list as "all". Naming fewer would let a proxy skip
        # re-sorting or re-filtering the row.
        all_roles: list[int] = []
        self.dataChanged.emit(
            self.index(position, 0), self.index(position, self.columnCount() - 1), all_roles
        )


class RowTableModel(TableModel[RowT]):
    """A table whose rows are all held, in a list."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._rows: list[RowT] = []

    def rowCount(self, parent: ModelIndex = _NO_INDEX) -> int:  # noqa: N802  (a Qt override keeps Qt's name)
        return 0 if parent.isValid() else len(self._rows)

    def _row_at(self, position: int) -> RowT:
        return self._rows[position]

    # --- the rows ------------------------------------------------------------------------

    def row_of(self, row_id: int) -> int | None:
        """The position of the row with id `row_id`, or None if it is not (loaded) here."""
        for position, row in enumerate(self._rows):
            if self._row_id(row) == row_id:
                return position
        return None

    def _reset_rows(self, rows: Iterable[RowT]) -> None:
        self.beginResetModel()
        self._rows = list(rows)
        self.endResetModel()

    def _insert_row(self, position: int, row: RowT) -> None:
        self.beginInsertRows(_NO_INDEX, position, position)
        self._rows.insert(position, row)
        self.endInsertRows()

    def _append_rows(self, rows: Sequence[RowT]) -> None:
        """Add `rows` at the end (a fetched page); callers skip an empty page."""
        first = len(self._rows)
        self.beginInsertRows(_NO_INDEX, first, first + len(rows) - 1)
        self._rows.extend(rows)
        self.endInsertRows()

    def _replace_row(self, position: int, row: RowT) -> None:
        """Show a new state of the row at `position`: dataChanged for that row only."""
        self._rows[position] = row
        self._row_changed(position)

    def _remove_row(self, position: int) -> None:
        self.beginRemoveRows(_NO_INDEX, position, position)
        del self._rows[position]
        self.endRemoveRows()
