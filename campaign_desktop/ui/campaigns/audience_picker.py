"""The campaign editor's segments, beside its lists (docs/design.md §18): the saved segments,
checkable, each with how many subscribed contacts it picks, and the whole audience's size.

Every count is read on the pool (a segment is a scan of the contacts); the newest count of
the audience wins, older ones are dropped when they arrive.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from PySide6.QtCore import (
    QAbstractListModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    QTimer,
    Signal,
    Slot,
)
from PySide6.QtWidgets import QAbstractItemView, QLabel, QListView, QVBoxLayout, QWidget

from campaign_desktop.context import AppContext
from campaign_desktop.domain.errors import DomainError
from campaign_desktop.domain.views import SegmentView
from campaign_desktop.ui.common.background import (
    Report,
    hand_to_crash_handler,
    run_in_background,
)

ModelIndex = QModelIndex | QPersistentModelIndex
_NO_INDEX = QModelIndex()
SegmentNameRole = Qt.ItemDataRole.UserRole + 1

NO_SEGMENTS_TEXT = (
    "No saved segments yet. In Contacts, filter by field and choose “Save as segment…”."
)


@dataclass(frozen=True)
class SegmentChoice:
    """One row: a saved segment, its subscribed contacts (None while counted), chosen or not."""

    name: str
    description: str
    subscribed: int | None
    chosen: bool


class SegmentChoiceModel(QAbstractListModel):
    """Checkable saved segments; `chosen_changed` fires when the user (un)checks one."""

    chosen_changed = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._rows: list[SegmentChoice] = []

    def rowCount(self, parent: ModelIndex = _NO_INDEX) -> int:  # noqa: N802  (a Qt override keeps Qt's name)
        return 0 if parent.isValid() else len(self._rows)

    def data(self, index: ModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        row = self._rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            count = "counting…" if row.subscribed is None else f"{row.subscribed:,} subscribed"
            return f"{row.name} ({count})"
        if role == Qt.ItemDataRole.CheckStateRole:
            return Qt.CheckState.Checked if row.chosen else Qt.CheckState.Unchecked
        if role == Qt.ItemDataRole.ToolTipRole:
            return row.description
        if role == SegmentNameRole:
            return row.name
        return None

    def flags(self, index: ModelIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return (
            Qt.ItemFlag.ItemIsEnabled
            | Qt.ItemFlag.ItemIsSelectable
            | Qt.ItemFlag.ItemIsUserCheckable
        )

    def setData(  # noqa: N802  (a Qt override keeps Qt's name)
        self, index: ModelIndex, value: Any, role: int = Qt.ItemDataRole.EditRole
    ) -> bool:
        if role != Qt.ItemDataRole.CheckStateRole or not index.isValid():
            return False
        chosen = Qt.CheckState(value) == Qt.CheckState.Checked
        position = index.row()
        self._rows[position] = replace(self._rows[position], chosen=chosen)
        self.dataChanged.emit(index, index, [Qt.ItemDataRole.CheckStateRole])
        self.chosen_changed.emit()
        return True

    def set_choices(self, rows: Iterable[SegmentChoice]) -> None:
        self.beginResetModel()
        self._rows = list(rows)
        self.endResetModel()

    def set_counts(self, counts: dict[str, int]) -> None:
        """Fill in the subscribed counts, by segment name (one dataChanged)."""
        self._rows = [
            replace(row, subscribed=counts.get(row.name, row.subscribed)) for row in self._rows
        ]
        if self._rows:
            self.dataChanged.emit(
                self.index(0), self.index(len(self._rows) - 1), [Qt.ItemDataRole.DisplayRole]
            )

    def chosen(self) -> list[str]:
        return [row.name for row in self._rows if row.chosen]


class AudiencePicker(QWidget):
    """Saved segments to send to, and the audience's size with the editor's lists.

    `changed` fires when the chosen segments change; `set_lists` tells it the lists chosen
    beside them, for the total.
    """

    changed = Signal()
    counted = Signal()  # the audience total on screen is up to date (tests wait on it)

    def __init__(
        self, ctx: AppContext, chosen: Iterable[str] = (), parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self._ctx = ctx
        self._lists: tuple[str, ...] = ()
        self._count_number = 0
        self.model = SegmentChoiceModel(self)
        # What the campaign has, until the saved segments are read (the form's draft needs it).
        self.model.set_choices(SegmentChoice(name, "", None, True) for name in chosen)
        self.model.chosen_changed.connect(self._on_chosen_changed)

        self.view = QListView()
        self.view.setObjectName("segments")
        self.view.setAccessibleName("Saved segments to send to")
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.setMaximumHeight(80)
        self.view.setModel(self.model)
        self.empty_label = QLabel(NO_SEGMENTS_TEXT)
        self.empty_label.setObjectName("noSegments")
        self.empty_label.setWordWrap(True)
        self.empty_label.hide()
        self.total_label = QLabel("Audience: counting…")
        self.total_label.setObjectName("audienceTotal")
        self.total_label.setAccessibleName("Audience size")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.view)
        layout.addWidget(self.empty_label)
        layout.addWidget(self.total_label)

        self._count_timer = QTimer(self, singleShot=True, interval=150)
        self._count_timer.timeout.connect(self._count_total)
        self._read_segments()

    # --- reading -------------------------------------------------------------------------

    def chosen_segments(self) -> list[str]:
        return self.model.chosen()

    def set_lists(self, names: Iterable[str]) -> None:
        """The lists chosen beside the segments: the total is counted again."""
        self._lists = tuple(names)
        self._count_timer.start()

    def _read_segments(self) -> None:
        segments = self._ctx.segments

        def read(_report: Report) -> list[SegmentView]:
            return segments.list()

        run_in_background("editor: segments", read, self._on_segments_read)

    @Slot(object, object)
    def _on_segments_read(self, result: Any, error: BaseException | None) -> None:
        if error is not None:
            self._on_error(error)
            return
        views: list[SegmentView] = result
        chosen = set(self.model.chosen())
        self.model.set_choices(
            SegmentChoice(
                view.name,
                view.segment.describe() if view.segment is not None else "",
                None,
                view.name in chosen,
            )
            for view in views
        )
        self.empty_label.setVisible(not views)
        self.view.setVisible(bool(views))
        if views:
            self._count_segments(views)
        self._count_timer.start()

    def _count_segments(self, views: list[SegmentView]) -> None:
        segments = self._ctx.segments
        ids = {view.id: view.name for view in views}

        def count(_report: Report) -> dict[str, int]:
            return {ids[key]: size for key, size in segments.subscribed_counts(ids).items()}

        run_in_background("editor: segment counts", count, self._on_segments_counted)

    @Slot(object, object)
    def _on_segments_counted(self, result: Any, error: BaseException | None) -> None:
        if error is not None:
            self._on_error(error)
            return
        self.model.set_counts(result)

    @Slot()
    def _on_chosen_changed(self) -> None:
        self.changed.emit()
        self._count_timer.start()

    @Slot()
    def _count_total(self) -> None:
        self._count_number += 1
        number = self._count_number
        lists, chosen = self._lists, tuple(self.model.chosen())
        campaigns = self._ctx.campaigns
        self.total_label.setText("Audience: counting…")

        def count(_report: Report) -> tuple[int, int]:
            return number, campaigns.audience_size(lists, chosen)

        run_in_background("editor: audience size", count, self._on_total_counted)

    @Slot(object, object)
    def _on_total_counted(self, result: Any, error: BaseException | None) -> None:
        if error is not None:
            self._on_error(error)
            return
        number, size = result
        if number != self._count_number:
            return  # a newer count is on its way
        noun = "contact" if size == 1 else "contacts"
        self.total_label.setText(f"Audience: {size:,} subscribed {noun}, each sent to once")
        self.counted.emit()

    def _on_error(self, error: BaseException) -> None:
        if isinstance(error, DomainError):
            self.total_label.setText(f"Audience could not be counted: {error.message}")
        else:
            hand_to_crash_handler(error)
