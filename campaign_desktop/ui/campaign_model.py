"""Qt models over campaign views: the Campaigns table, the Archive table, and their filter.

Rows are frozen `CampaignView`s from the services; a change replaces one row in place
(`dataChanged` for that row only) so live updates never reset the view.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from enum import IntEnum
from typing import Any

from PySide6.QtCore import QObject, QSortFilterProxyModel, Qt

from campaign_desktop.domain.views import CampaignView
from campaign_desktop.ui import formatting
from campaign_desktop.ui.table_model import ModelIndex, RowTableModel

_FAR_FUTURE = float("inf")  # "never runs" sorts after every date


class Role(IntEnum):
    """Custom item roles, shared by every campaign model."""

    CampaignIdRole = Qt.ItemDataRole.UserRole + 1
    CampaignRole = Qt.ItemDataRole.UserRole + 2
    SortRole = Qt.ItemDataRole.UserRole + 3


class Column(IntEnum):
    NAME = 0
    STATUS = 1
    AUDIENCE = 2
    NEXT_RUN = 3
    REPEATS = 4
    LAST_RESULT = 5


class ArchiveColumn(IntEnum):
    NAME = 0
    ARCHIVED_AT = 1
    REASON = 2
    REPEATS = 3


class _CampaignRowsModel(RowTableModel[CampaignView]):
    """A table over a list of CampaignViews keyed by id; subclasses say what each column shows."""

    def _cell(self, view: CampaignView, column: int, role: int) -> Any:
        """The roles every campaign table answers alike; subclasses end their `_cell` here."""
        if role == Role.CampaignIdRole:
            return view.id
        if role == Role.CampaignRole:
            return view
        return None

    def _row_id(self, view: CampaignView) -> int:
        return view.id

    # --- the rows ------------------------------------------------------------------------

    def campaigns(self) -> list[CampaignView]:
        return list(self._rows)

    def campaign_at(self, row: int) -> CampaignView:
        return self._rows[row]

    def set_campaigns(self, rows: Iterable[CampaignView]) -> None:
        self._reset_rows(rows)

    def add_campaign(self, view: CampaignView, row: int = 0) -> None:
        self._insert_row(max(0, min(row, len(self._rows))), view)

    def update_campaign(self, view: CampaignView) -> None:
        """Replace the row with `view`'s id (dataChanged for that row), or insert it on top."""
        row = self.row_of(view.id)
        if row is None:
            self.add_campaign(view)
            return
        self._replace_row(row, view)

    def remove_campaign(self, campaign_id: int) -> bool:
        row = self.row_of(campaign_id)
        if row is None:
            return False
        self._remove_row(row)
        return True


class CampaignTableModel(_CampaignRowsModel):
    """The Campaigns tab: name, status, audience, next run, repeats, last result."""

    headers = ("Name", "Status", "Audience", "Next run", "Repeats", "Last result")

    def _cell(self, view: CampaignView, column: int, role: int) -> Any:
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(view, column)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(view, column)
        if role == Role.SortRole:
            return self._sort_key(view, column)
        if role == Qt.ItemDataRole.TextAlignmentRole and column == Column.AUDIENCE:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return super()._cell(view, column, role)

    @staticmethod
    def _display(view: CampaignView, column: int) -> str | None:  # noqa: PLR0911  (one return per column)
        match column:
            case Column.NAME if view.parent_name:
                # Lineage on a second line: duplicates are told apart at a glance.
                return f"{view.name}\n↳ copy of {view.parent_name}"
            case Column.NAME:
                return view.name
            case Column.STATUS:
                return formatting.status_text(view.status)
            case Column.AUDIENCE:
                return f"{view.audience_size:,}"
            case Column.NEXT_RUN:
                return formatting.in_zone(view.next_run_at, view.timezone)
            case Column.REPEATS:
                return formatting.repeats(view)
            case Column.LAST_RESULT:
                return formatting.run_counts(view.last_run)
        return None

    @staticmethod
    def _tooltip(view: CampaignView, column: int) -> str | None:
        match column:
            case Column.NAME:
                lines = [view.name, f"Subject: {view.subject}"]
                if view.parent_name:
                    lines.append(f"Copy of {view.parent_name}")
                return "\n".join(lines)
            case Column.AUDIENCE:
                return ", ".join(view.lists) or "No lists chosen yet"
            case Column.NEXT_RUN:
                return formatting.on_this_machine(view.next_run_at)
            case Column.REPEATS:
                return formatting.repeats(view)
            case Column.LAST_RESULT if view.last_run is not None:
                run = view.last_run
                text = (
                    f"{formatting.status_text(run.trigger)} run due "
                    f"{formatting.in_zone(run.occurrence_at, view.timezone)}: "
                    f"{run.sent} sent, {run.failed} failed, {run.skipped} skipped, "
                    f"{run.unconfirmed} unconfirmed of {run.total}"
                )
                return f"{text}\n{run.error}" if run.error else text
        return None

    @staticmethod
    def _sort_key(view: CampaignView, column: int) -> Any:  # noqa: PLR0911  (one return per column)
        match column:
            case Column.NAME:
                return view.name.casefold()
            case Column.STATUS:
                return view.status
            case Column.AUDIENCE:
                return view.audience_size
            case Column.NEXT_RUN:
                return view.next_run_at.timestamp() if view.next_run_at else _FAR_FUTURE
            case Column.REPEATS:
                return formatting.repeats(view).casefold()
            case Column.LAST_RESULT:
                return view.last_run.sent if view.last_run else -1
        return None


class ArchiveTableModel(_CampaignRowsModel):
    """The Archive tab: name, when and why it was archived, and its (kept) schedule."""

    headers = ("Name", "Archived", "Reason", "Repeats")

    def _cell(self, view: CampaignView, column: int, role: int) -> Any:  # noqa: PLR0911  (one return per column)
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            match column:
                case ArchiveColumn.NAME:
                    return view.name
                case ArchiveColumn.ARCHIVED_AT:
                    if role == Qt.ItemDataRole.ToolTipRole:
                        return formatting.on_this_machine(view.archived_at)
                    return formatting.in_zone(view.archived_at, view.timezone)
                case ArchiveColumn.REASON:
                    return view.archive_reason or formatting.DASH
                case ArchiveColumn.REPEATS:
                    return formatting.repeats(view)
        if role == Role.SortRole:
            if column == ArchiveColumn.ARCHIVED_AT:
                return view.archived_at.timestamp() if view.archived_at else 0.0
            return str(self._cell(view, column, Qt.ItemDataRole.DisplayRole)).casefold()
        return super()._cell(view, column, role)


class CampaignFilterProxy(QSortFilterProxyModel):
    """Filters campaigns by a search text (name or subject) and a status; sorts by SortRole."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._text = ""
        self._statuses: frozenset[str] = frozenset()
        self.setSortRole(Role.SortRole)
        self.setDynamicSortFilter(True)

    def set_text(self, text: str) -> None:
        self.beginFilterChange()
        self._text = text.strip().casefold()
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def set_statuses(self, statuses: Sequence[str]) -> None:
        """Show only these statuses; an empty sequence shows all."""
        self.beginFilterChange()
        self._statuses = frozenset(statuses)
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def campaign_at(self, row: int) -> CampaignView:
        view = self.index(row, 0).data(Role.CampaignRole)
        assert isinstance(view, CampaignView)
        return view

    def filterAcceptsRow(self, source_row: int, source_parent: ModelIndex) -> bool:  # noqa: N802  (a Qt override keeps Qt's name)
        source = self.sourceModel()
        view = source.index(source_row, 0, source_parent).data(Role.CampaignRole)
        if not isinstance(view, CampaignView):
            return False
        if self._statuses and view.status not in self._statuses:
            return False
        if self._text:
            return self._text in view.name.casefold() or self._text in view.subject.casefold()
        return True
