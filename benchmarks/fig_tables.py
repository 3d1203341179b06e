"""The big tables: 100,000 campaigns in the Campaigns model, 100,000 contacts in the Contacts model.

Each is shown in a real (offscreen) QTableView in a shown window and painted. The baseline
is a bare QAbstractTableModel over tuples from a raw `sqlite3` query of the same rows (sorted
and filtered by SQLite where the app sorts and filters).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks import qt
from benchmarks.harness import (
    Bench,
    Row,
    Target,
    bounded,
    current_rss_mb,
    emit_note,
    emit_row,
    median,
    stopwatch,
)

from PySide6.QtCore import (  # isort: skip  (after benchmarks.qt set the platform)
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
)
from PySide6.QtWidgets import QAbstractItemView, QMainWindow, QTableView  # isort: skip

if TYPE_CHECKING:
    from campaign_desktop.context import AppContext
    from campaign_desktop.ui.campaigns.campaign_model import CampaignTableModel

ModelIndex = QModelIndex | QPersistentModelIndex
_ROOT = QModelIndex()


class TupleTableModel(QAbstractTableModel):
    """The bare baseline: rows are tuples, cells their str(); optionally paged from a cursor."""

    def __init__(self, columns: int, cursor: sqlite3.Cursor | None = None, page: int = 200):
        super().__init__()
        self._columns = columns
        self._rows: list[tuple[Any, ...]] = []
        self._cursor = cursor
        self._page = page
        self._more = cursor is not None

    def set_rows(self, rows: list[tuple[Any, ...]]) -> None:
        self.beginResetModel()
        self._rows = rows
        self.endResetModel()

    def rowCount(self, parent: ModelIndex = _ROOT) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: ModelIndex = _ROOT) -> int:  # noqa: N802
        return 0 if parent.isValid() else self._columns

    def data(self, index: ModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role != Qt.ItemDataRole.DisplayRole or not index.isValid():
            return None
        return str(self._rows[index.row()][index.column()])

    def canFetchMore(self, parent: ModelIndex) -> bool:  # noqa: N802
        return not parent.isValid() and self._more

    def fetchMore(self, parent: ModelIndex) -> None:  # noqa: N802
        if parent.isValid() or self._cursor is None:
            return
        page = self._cursor.fetchmany(self._page)
        if not page:
            self._more = False
            return
        self.beginInsertRows(_ROOT, len(self._rows), len(self._rows) + len(page) - 1)
        self._rows.extend(page)
        self.endInsertRows()


def shown_table(model: Any) -> tuple[QMainWindow, QTableView]:
    """A table view in a shown 1100 by 650 window, as the main window lays it out."""
    window = QMainWindow()
    view = QTableView()
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setAlternatingRowColors(True)
    view.verticalHeader().hide()
    view.horizontalHeader().setStretchLastSection(True)
    view.setModel(model)
    window.setCentralWidget(view)
    window.resize(1100, 650)
    window.show()
    qt.process_events()
    return window, view


def _database(data_dir: Path) -> sqlite3.Connection:
    from campaign_desktop.persistence.db import DATABASE_FILENAME  # noqa: PLC0415

    return sqlite3.connect(data_dir / DATABASE_FILENAME)


# --- campaigns -------------------------------------------------------------------------------

_BARE_CAMPAIGNS = (
    "SELECT c.name, c.status, c.timezone, c.next_run_at, c.recurrence_pattern, c.runs_done "
    "FROM campaign AS c WHERE c.archived = 0 {where} "
    "ORDER BY c.next_run_at IS NULL, c.next_run_at, c.id"
)


def _bare_campaigns(connection: sqlite3.Connection, text: str = "") -> sqlite3.Cursor:
    """Every shown campaign, sorted by next run (and filtered) by SQLite: a cursor on them."""
    where, args = "", tuple[str, ...]()
    if text:
        where, args = "AND (c.name LIKE ? OR c.subject LIKE ?)", (f"%{text}%", f"%{text}%")
    return connection.execute(_BARE_CAMPAIGNS.format(where=where), args)


def _bare_first_page(view: QTableView, cursor: sqlite3.Cursor) -> TupleTableModel:
    """The bare lazy table: a model on the cursor, its first page fetched, painted."""
    model = TupleTableModel(6, cursor)
    view.setModel(model)
    model.fetchMore(_ROOT)
    qt.paint(view)
    return model


def campaign_view(ctx: AppContext) -> tuple[CampaignTableModel, QMainWindow, QTableView]:
    """The app's path from nothing: a new model on the service, as the main window makes it
    (shown, sorted by next run); nothing read yet."""
    from campaign_desktop.ui.campaigns.campaign_model import (  # noqa: PLC0415
        CampaignTableModel,
        Column,
    )

    model = CampaignTableModel(ctx.campaigns)
    window, view = shown_table(model)
    view.horizontalHeader().setSortIndicator(Column.NEXT_RUN, Qt.SortOrder.AscendingOrder)
    view.setSortingEnabled(True)
    return model, window, view


def campaign_first_rows(model: CampaignTableModel, view: QTableView) -> float:
    """Seconds for the campaign table's first rows: its first page read, then painted."""
    with stopwatch() as elapsed:
        model.reload()
        qt.paint(view)
    return elapsed()


def audiences_counted(model: CampaignTableModel) -> float:
    """Seconds until no audience cell shows the ellipsis any more (events processed)."""
    from campaign_desktop.ui.campaigns.campaign_model import Column  # noqa: PLC0415

    with stopwatch() as waited:
        while any(
            model.index(row, Column.AUDIENCE).data() == "\N{HORIZONTAL ELLIPSIS}"
            for row in range(model.rowCount())
        ):
            qt.process_events()
    return waited()


def campaign_table(bench: Bench) -> None:  # noqa: PLR0915  (one scenario, told in order)
    from benchmarks import data  # noqa: PLC0415
    from campaign_desktop.ui.campaigns.campaign_model import Column  # noqa: PLC0415

    sizes = bench.sizes
    n = sizes.table_campaigns
    qt.application()
    full_dir = bench.campaigns_db(sizes.table_contacts, n)
    connection = _database(full_dir)
    ctx = data.open_context(full_dir)
    bare_model = TupleTableModel(6)
    bare_window, bare_view = shown_table(bare_model)
    with stopwatch() as elapsed:
        bare_model.set_rows(list(_bare_campaigns(connection)))
        qt.paint(bare_view)
    bare_all_rows = elapsed()

    model, window, view = campaign_view(ctx)
    row = Row(
        key="campaign-first-rows",
        figure=f"campaign table: first rows, new model → painted ({n:,} campaigns, "
        f"{sizes.table_contacts:,} contacts)",
        unit="ms",
        target=Target("max", 200, "≤ 200 ms"),
    )
    with stopwatch() as elapsed:
        _bare_first_page(bare_view, _bare_campaigns(connection))
    row.baseline = elapsed() * 1000
    with bounded(row, sizes.slow_budget):
        emit_row(row)  # announced: shown as stopped if the budget runs out
        row.ours = campaign_first_rows(model, view) * 1000
    first_audiences = audiences_counted(model)
    emit_row(row)

    load: list[float] = []
    bare_load: list[float] = []
    filters: list[float] = []
    clears: list[float] = []
    bare_filters: list[float] = []
    needle = "digest"  # "Weekly digest …": about one campaign in six
    for _ in range(sizes.repeats):
        with stopwatch() as elapsed:
            _bare_first_page(bare_view, _bare_campaigns(connection))
        bare_load.append(elapsed())
        with stopwatch() as elapsed:
            model.sort(Column.NEXT_RUN, Qt.SortOrder.AscendingOrder)
            qt.paint(view)
        load.append(elapsed())
        audiences_counted(model)
        with stopwatch() as elapsed:
            _bare_first_page(bare_view, _bare_campaigns(connection, needle))
        bare_filters.append(elapsed())
        with stopwatch() as elapsed:
            model.set_text(needle)
            qt.paint(view)
        filters.append(elapsed())
        audiences_counted(model)
        with stopwatch() as elapsed:
            model.set_text("")
            qt.paint(view)
        clears.append(elapsed())
        audiences_counted(model)
    shown = model.total()
    with stopwatch() as elapsed:
        model.sort(Column.NAME, Qt.SortOrder.AscendingOrder)
        qt.paint(view)
    by_name = elapsed()
    with stopwatch() as elapsed:
        model.sort(Column.AUDIENCE, Qt.SortOrder.DescendingOrder)
        qt.paint(view)
    by_audience = elapsed()
    connection.close()
    ctx.close()
    emit_row(
        Row(
            key="campaign-model",
            figure=f"campaign table: sort by next run + first page + paint ({shown:,} shown)",
            unit="ms",
            ours=median(load) * 1000,
            baseline=median(bare_load) * 1000,
            target=Target("max", 200, "≤ 200 ms"),
        )
    )
    emit_row(
        Row(
            key="campaign-filter",
            figure=f"campaign table: text filter over {shown:,}",
            unit="ms",
            ours=median(filters) * 1000,
            baseline=median(bare_filters) * 1000,
            target=Target("max", 100, "≤ 100 ms"),
        )
    )
    emit_note(
        f"campaign table: {n:,} campaigns ({shown:,} not archived) and "
        f"{sizes.table_contacts:,} contacts in `CampaignTableModel` (pages of 200 from "
        "`campaigns.page`, plus `campaigns.count`; filter and sort in SQL) in a shown "
        "QTableView sorted by next run, as the main window sets it up; each time = the call + "
        f"a synchronous repaint of the viewport ({len(load)} tries). Audience sizes are counted "
        "on a pool thread after the paint (not timed; the cells show an ellipsis until then): "
        f"{first_audiences * 1000:,.0f} ms after the first paint. Filter = "
        f"`set_text('digest')`; clearing it again took {median(clears) * 1000:,.0f} ms; "
        f"sorting by name {by_name * 1000:,.0f} ms, by audience (counted for every campaign, "
        f"sorted in Python) {by_audience * 1000:,.0f} ms. Bare = SQLite sorts (and filters "
        "with LIKE) the same rows; a QAbstractTableModel on the cursor fetches the first 200 "
        "as tuples (`fetchMore`) and paints; the time includes the query. The same bare model "
        f"holding all {shown:,} rows took {bare_all_rows * 1000:,.0f} ms."
    )
    window.close()
    bare_window.close()


# --- contacts --------------------------------------------------------------------------------

_BARE_CONTACT_COLUMNS = "email, first_name, last_name, status, created_at"
_SEARCHES = ("First4242", "Last123", "person0999", "example.com", "nobody-has-this")


def _bare_search(connection: sqlite3.Connection, text: str) -> tuple[int, list[tuple[Any, ...]]]:
    where, args = "", tuple[str, ...]()
    if text:
        like = f"%{text}%"
        where, args = "WHERE email LIKE ? OR first_name || ' ' || last_name LIKE ?", (like, like)
    (total,) = connection.execute(f"SELECT count(*) FROM contact {where}", args).fetchone()
    rows = connection.execute(
        f"SELECT {_BARE_CONTACT_COLUMNS} FROM contact {where} ORDER BY email LIMIT 200", args
    ).fetchall()
    return total, rows


def contacts_table(bench: Bench) -> None:  # noqa: PLR0915  (one scenario, told in order)
    from benchmarks import data  # noqa: PLC0415
    from campaign_desktop.ui.contacts.contact_model import ContactFilter, ContactTableModel  # noqa: PLC0415

    sizes = bench.sizes
    n = sizes.table_contacts
    qt.application()
    data_dir = bench.contacts_db(n)
    ctx = data.open_context(data_dir)
    connection = _database(data_dir)
    model = ContactTableModel(ctx.contacts)
    window, view = shown_table(model)
    bare_model = TupleTableModel(5)
    bare_window, bare_view = shown_table(bare_model)

    first: list[float] = []
    bare_first: list[float] = []
    searches: list[float] = []
    bare_searches: list[float] = []
    for _ in range(sizes.repeats):
        with stopwatch() as elapsed:
            _total, rows = _bare_search(connection, "")
            bare_model.set_rows(rows)
            qt.paint(bare_view)
        bare_first.append(elapsed())
        with stopwatch() as elapsed:
            model.set_filter(ContactFilter())
            qt.paint(view)
        first.append(elapsed())
        for text in _SEARCHES:
            with stopwatch() as elapsed:
                _total, rows = _bare_search(connection, text)
                bare_model.set_rows(rows)
                qt.paint(bare_view)
            bare_searches.append(elapsed())
            with stopwatch() as elapsed:
                model.set_filter(ContactFilter(text=text))
                qt.paint(view)
            searches.append(elapsed())
    emit_row(
        Row(
            key="contacts-first",
            figure=f"contacts table: first page painted ({n:,} contacts)",
            unit="ms",
            ours=median(first) * 1000,
            baseline=median(bare_first) * 1000,
            target=Target("info"),
        )
    )
    emit_row(
        Row(
            key="contacts-search",
            figure="contacts table: search (median of 5 texts)",
            unit="ms",
            ours=median(searches) * 1000,
            baseline=median(bare_searches) * 1000,
            target=Target("max", 150, "≤ 150 ms"),
        )
    )
    emit_note(
        f"contacts table: {n:,} contacts in `ContactTableModel` (pages of 200 from "
        "`contacts.search`, plus `contacts.count`) in a shown QTableView; each time = the call "
        "+ a synchronous repaint. Search = `set_filter(ContactFilter(text=…))` for "
        f"{', '.join(repr(t) for t in _SEARCHES)} (the search box's 250 ms typing pause not "
        f"included); slowest app search {max(searches) * 1000:.0f} ms. Bare = the same count "
        "and first page by raw SQL (same LIKE) into a tuple model."
    )

    # Scrolling to the end: every page the view asks for, until the model has no more.
    def scroll_to_end(table: QTableView, held: Any) -> tuple[float, int, float]:
        # The app's model reports every row and reads pages on demand (rows_held() says how
        # many it keeps); the bare cursor model grows with fetchMore.
        rss = current_rss_mb()
        with stopwatch() as elapsed:
            table.scrollToBottom()
            qt.process_events()
            while held.canFetchMore(_ROOT):
                table.scrollToBottom()
                qt.process_events()
            qt.paint(table)
        rows = held.rows_held() if hasattr(held, "rows_held") else held.rowCount()
        return elapsed(), rows, current_rss_mb() - rss

    cursor = connection.execute(f"SELECT {_BARE_CONTACT_COLUMNS} FROM contact ORDER BY email")
    bare_scroll = TupleTableModel(5, cursor)
    bare_view.setModel(bare_scroll)
    bare_scroll.fetchMore(_ROOT)
    bare_seconds, bare_rows, bare_mb = scroll_to_end(bare_view, bare_scroll)
    model.set_filter(ContactFilter())
    qt.process_events()
    row = Row(
        key="contacts-scroll",
        figure="contacts table: scroll to the end",
        unit="s",
        baseline=bare_seconds,
        target=Target("info"),
    )
    held = Row(
        key="contacts-held",
        figure="contacts table: rows held in Python at the end",
        unit="rows",
        baseline=bare_rows,
        target=Target("max", n - 1, "no full load"),
    )
    with bounded(row, sizes.slow_budget * 2):
        emit_row(row)
        seconds, rows_held, mb = scroll_to_end(view, model)
    row.ours = seconds
    held.ours = rows_held
    held.ours_text = f"{rows_held:,} of {n:,}"
    held.baseline_text = f"{bare_rows:,} of {n:,}"
    emit_row(row)
    emit_row(held)
    emit_note(
        "contacts scroll: `scrollToBottom()` + one event-loop pass until `canFetchMore` is "
        f"False; RSS grew {mb:.0f} MB (bare: {bare_mb:.0f} MB). Bare = one SQL cursor read "
        "200 rows per `fetchMore` (it, too, keeps every row it has shown)."
    )
    window.close()
    bare_window.close()
    connection.close()
    ctx.close()
