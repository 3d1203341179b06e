"""Qt models over campaign views: the Campaigns table and the Archive table, paged from SQL.

Search, status filter and sort are SQL (`CampaignService.page`); only the pages scrolled to
are loaded. A change replaces one row in place (`dataChanged` for that row only) so live
updates never reset the view.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from enum import IntEnum
from typing import Any, ClassVar

from PySide6.QtCore import QObject, Qt, Slot

from campaign_desktop.domain.errors import DomainError
from campaign_desktop.domain.status import CampaignStatus
from campaign_desktop.domain.views import CampaignView, RunView
from campaign_desktop.services.campaigns import (
    PAGE_SIZE,
    AudienceKey,
    CampaignService,
    CampaignSort,
    audience_key,
)
from campaign_desktop.ui.common import formatting
from campaign_desktop.ui.common.background import Report, hand_to_crash_handler, run_in_background
from campaign_desktop.ui.common.table_model import ModelIndex, RowTableModel


class Role(IntEnum):
    """Custom item roles, shared by every campaign model."""

    CampaignIdRole = Qt.ItemDataRole.UserRole + 1
    CampaignRole = Qt.ItemDataRole.UserRole + 2


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
    """One page after another of `CampaignService.page`, filtered and sorted in SQL.

    Subclasses say what each column shows and sorts by. Audience sizes are counted on a pool
    thread (on large lists that takes longer than a page should): until they arrive the cell
    shows an ellipsis, then the audience column changes in one `dataChanged`.
    """

    archived: ClassVar[bool] = False
    column_sorts: ClassVar[tuple[CampaignSort, ...]] = ()
    default_sort: ClassVar[tuple[int, Qt.SortOrder]] = (0, Qt.SortOrder.AscendingOrder)
    audience_column: ClassVar[int | None] = None

    def __init__(self, campaigns: CampaignService, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._campaigns = campaigns
        self._text = ""
        self._statuses: tuple[str, ...] = ()
        self._sort_column, self._sort_order = self.default_sort
        self._total = 0
        self._loaded = False  # reload() has run: a sort before that only records the order
        # Audience per set of list and segment names, while the contacts stay as they were counted.
        self._sizes: dict[AudienceKey, int] = {}
        self._counting: set[AudienceKey] = set()
        self._waiting: set[int] = set()  # rows (by campaign id) whose audience is not known
        self._generation = 0  # bumped when contacts change: older counts are dropped

    def _cell(self, view: CampaignView, column: int, role: int) -> Any:
        """The roles every campaign table answers alike; subclasses end their `_cell` here."""
        if role == Role.CampaignIdRole:
            return view.id
        if role == Role.CampaignRole:
            return view
        return None

    def _row_id(self, view: CampaignView) -> int:
        return view.id

    def audience_known(self, view: CampaignView) -> bool:
        return view.id not in self._waiting

    # --- Qt overrides --------------------------------------------------------------------

    def canFetchMore(self, parent: ModelIndex) -> bool:  # noqa: N802  (a Qt override keeps Qt's name)
        return not parent.isValid() and len(self._rows) < self._total

    def fetchMore(self, parent: ModelIndex) -> None:  # noqa: N802  (a Qt override keeps Qt's name)
        # Qt (and its model tester) may call this with nothing left to fetch, even while rows
        # are being removed: then it must neither query nor insert.
        if not self.canFetchMore(parent):
            return
        page = self._page(offset=len(self._rows))
        if not page:
            # Rows went away since the count (deleted elsewhere): stop asking.
            self._total = len(self._rows)
            return
        self._append_rows(page)
        self._count_audiences(page)

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """Sort in SQL (the header's click): the first page again, in the new order."""
        if 0 <= column < len(self.column_sorts):
            self._sort_column, self._sort_order = column, order
            if self._loaded:
                self.reload()

    # --- the query -----------------------------------------------------------------------

    def set_text(self, text: str) -> None:
        """Show campaigns whose name or subject contains `text` (any case); "" shows all."""
        text = text.strip()
        if text != self._text:
            self._text = text
            self.reload()

    def set_statuses(self, statuses: Sequence[str]) -> None:
        """Show only these statuses; an empty sequence shows all."""
        wanted = tuple(sorted(statuses))
        if wanted != self._statuses:
            self._statuses = wanted
            self.reload()

    def reload(self, *, recount: bool = False) -> None:
        """Count the matching campaigns and show the first page.

        Audiences counted before are kept (a new search or order shows them at once) unless
        `recount` asks to count them again.
        """
        if recount:
            self._forget_audiences()
        self.beginResetModel()
        self._total = self._campaigns.count(
            archived=self.archived, text=self._text, statuses=self._statuses
        )
        self._rows = self._page(offset=0)
        self._waiting = set()
        self._loaded = True
        self.endResetModel()
        self._count_audiences(self._rows)

    def refresh_audiences(self) -> None:
        """The contacts changed: count the loaded rows' audiences again (off the GUI thread)."""
        self._forget_audiences()
        self._count_audiences(self._rows, keep_shown=True)

    def _forget_audiences(self) -> None:
        self._generation += 1
        self._sizes.clear()
        self._counting.clear()

    def _page(self, offset: int) -> list[CampaignView]:
        return self._campaigns.page(
            archived=self.archived,
            text=self._text,
            statuses=self._statuses,
            sort=self.column_sorts[self._sort_column],
            descending=self._sort_order == Qt.SortOrder.DescendingOrder,
            offset=offset,
            limit=PAGE_SIZE,
            audience=False,
        )

    @property
    def filtered(self) -> bool:
        """Whether a search text or a status filter hides some campaigns."""
        return bool(self._text or self._statuses)

    def matches(self, view: CampaignView) -> bool:
        """Whether `view` belongs in this table under the current search and status filter."""
        if view.archived != self.archived:
            return False
        if self._statuses and view.status not in self._statuses:
            return False
        needle = self._text.casefold()
        return not needle or needle in view.name.casefold() or needle in view.subject.casefold()

    # --- audiences -----------------------------------------------------------------------

    def _count_audiences(self, views: Sequence[CampaignView], *, keep_shown: bool = False) -> None:
        """Fill in the audience of `views` from the counts in hand; count the rest on the pool.

        `keep_shown` leaves the numbers on screen until the new counts arrive (no flicker).
        """
        if self.audience_column is None:
            return
        known: list[int] = []
        wanted: set[AudienceKey] = set()
        for view in views:
            key = audience_key(view)
            if key in self._sizes:
                known.append(view.id)
                continue
            if not keep_shown:
                self._waiting.add(view.id)
            if key not in self._counting:
                wanted.add(key)
        if known:
            self._apply_sizes(known)
        if not wanted:
            return
        self._counting |= wanted
        campaigns, generation = self._campaigns, self._generation

        def work(_report: Report) -> tuple[int, dict[AudienceKey, int]]:
            return generation, campaigns.audience_sizes_of(wanted)

        run_in_background("count audiences", work, self._on_counted)

    @Slot(object, object)
    def _on_counted(
        self,
        result: tuple[int, dict[AudienceKey, int]] | None,
        error: BaseException | None,
    ) -> None:
        if error is not None:
            self._counting.clear()  # counted again with the next page or reload
            # A locked or failing database arrives as StorageError (a DomainError, from
            # Database.read): a refusal, counted again later, no bug.
            if not isinstance(error, DomainError):
                hand_to_crash_handler(error)
            return
        assert result is not None
        generation, sizes = result
        if generation != self._generation:
            return  # counted before the contacts changed
        self._sizes.update(sizes)
        self._counting -= sizes.keys()
        self._apply_sizes([view.id for view in self._rows])

    def _apply_sizes(self, campaign_ids: Iterable[int]) -> None:
        """Put the counted sizes into these rows' views: one dataChanged for the column."""
        wanted = set(campaign_ids)
        changed: list[int] = []
        for position, view in enumerate(self._rows):
            size = self._sizes.get(audience_key(view))
            if view.id not in wanted or size is None:
                continue
            self._waiting.discard(view.id)
            if size != view.audience_size:
                self._rows[position] = replace(view, audience_size=size)
            changed.append(position)
        if changed and self.audience_column is not None:
            column = self.audience_column
            self.dataChanged.emit(
                self.index(min(changed), column), self.index(max(changed), column), []
            )

    # --- the rows ------------------------------------------------------------------------

    def campaigns(self) -> list[CampaignView]:
        """The loaded rows (the first pages; scrolling loads more)."""
        return list(self._rows)

    def campaign_at(self, row: int) -> CampaignView:
        return self._rows[row]

    def total(self) -> int:
        """How many campaigns match the search and status filter (loaded or not)."""
        return self._total

    def update_campaign(self, view: CampaignView, *, audience_counted: bool = True) -> None:
        """Show a new state of a campaign.

        A loaded row changes in place (dataChanged for that row only). A campaign not loaded
        is put on top if it matches the search and status filter; one that no longer matches
        goes away. `audience_counted=False` (a view from `get(audience=False)`) keeps the
        audience shown, or counts it on the pool like a page's.
        """
        row = self.row_of(view.id)
        count_it = False
        if not audience_counted:
            known = self._sizes.get(audience_key(view))
            if known is None:
                previous = self._rows[row] if row is not None else None
                if (
                    previous is not None
                    and audience_key(previous) == audience_key(view)
                    and self.audience_known(previous)
                ):
                    known = previous.audience_size  # same lists: the count shown still holds
                else:
                    count_it = True
            view = replace(view, audience_size=known or 0)
        if row is not None and not self.matches(view):
            self.remove_campaign(view.id)
            return
        if row is None and not self.matches(view):
            return
        if count_it:
            self._waiting.add(view.id)
        else:
            self._waiting.discard(view.id)
        if row is not None:
            self._replace_row(row, view)
        else:
            self._insert_row(0, view)
            self._total += 1
        if count_it:
            self._count_audiences([view])

    def show_run_progress(self, run: RunView) -> None:
        """A send under way moved: its campaign's last result shows the new counts (its
        row only, nothing read); a campaign whose latest run is another is left alone."""
        row = self.row_of(run.campaign_id)
        if row is None:
            return
        view = self._rows[row]
        if view.last_run is not None and view.last_run.id == run.id:
            self._replace_row(row, replace(view, last_run=run))

    def remove_campaign(self, campaign_id: int) -> bool:
        row = self.row_of(campaign_id)
        if row is None:
            return False
        # Counted down first: while the row goes, `canFetchMore` must not see one row more
        # to fetch (a view or the model tester fetching then would insert mid-removal).
        self._total = max(0, self._total - 1)
        self._remove_row(row)
        return True


class CampaignTableModel(_CampaignRowsModel):
    """The Campaigns tab: name, status, audience, next run, repeats, last result."""

    headers = ("Name", "Status", "Audience", "Next run", "Repeats", "Last result")
    column_sorts = (
        CampaignSort.NAME,
        CampaignSort.STATUS,
        CampaignSort.AUDIENCE,
        CampaignSort.NEXT_RUN,
        CampaignSort.REPEATS,
        CampaignSort.LAST_RESULT,
    )
    default_sort = (Column.NEXT_RUN, Qt.SortOrder.AscendingOrder)
    audience_column = Column.AUDIENCE

    def _cell(self, view: CampaignView, column: int, role: int) -> Any:
        if role == Qt.ItemDataRole.DisplayRole:
            if column == Column.AUDIENCE and not self.audience_known(view):
                return "…"  # being counted
            return self._display(view, column)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(view, column)
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
            case Column.REPEATS if view.status == CampaignStatus.DRAFT:
                # A draft keeps its last schedule (or its original's) only for next time.
                return formatting.DASH
            case Column.REPEATS:
                return formatting.repeats(view)
            case Column.LAST_RESULT:
                return formatting.run_counts(view.last_run)
        return None

    @staticmethod
    def _tooltip(view: CampaignView, column: int) -> str | None:  # noqa: PLR0911  (one return per column)
        match column:
            case Column.NAME:
                lines = [view.name, f"Subject: {view.subject}"]
                if view.parent_name:
                    lines.append(f"Copy of {view.parent_name}")
                return "\n".join(lines)
            case Column.AUDIENCE:
                return _audience_tooltip(view)
            case Column.NEXT_RUN:
                return formatting.on_this_machine(view.next_run_at)
            case Column.REPEATS if view.status == CampaignStatus.DRAFT:
                kept = formatting.repeats(view)
                if kept == formatting.DASH:
                    return "Not scheduled"
                return f"Not scheduled. Schedule\u2026 starts from its last schedule: {kept}"
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


class ArchiveTableModel(_CampaignRowsModel):
    """The Archive tab: name, when and why it was archived, and its (kept) schedule."""

    headers = ("Name", "Archived", "Reason", "Repeats")
    archived = True
    column_sorts = (
        CampaignSort.NAME,
        CampaignSort.ARCHIVED_AT,
        CampaignSort.REASON,
        CampaignSort.REPEATS,
    )
    default_sort = (ArchiveColumn.ARCHIVED_AT, Qt.SortOrder.DescendingOrder)

    def _cell(self, view: CampaignView, column: int, role: int) -> Any:
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
        return super()._cell(view, column, role)


def _audience_tooltip(view: CampaignView) -> str:
    """ "Lists: Customers, VIP" and/or "Segments: Boston" — who the campaign is for."""
    parts = []
    if view.lists:
        parts.append("Lists: " + ", ".join(view.lists))
    if view.segments:
        parts.append("Segments: " + ", ".join(view.segments))
    return "\n".join(parts) or "No lists or segments chosen yet"
