"""The Calendar tab: every upcoming send of every scheduled campaign by month or week, on this
computer's clock, with the selected day's sends beside the grid (docs/design.md §12).

Loaded on a pool thread (the latest request wins); refreshed when a campaign changes.
Skipped sends and those of held campaigns are struck through; days on which this computer's
clock changes are marked.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

from PySide6.QtCore import (
    QModelIndex,
    QPersistentModelIndex,
    QPoint,
    QRect,
    QSize,
    Qt,
    QTimer,
    Signal,
    Slot,
)
from PySide6.QtGui import QColor, QFont, QFontMetrics, QMouseEvent, QPainter, QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMenu,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableView,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from campaign_desktop.context import AppContext
from campaign_desktop.domain.status import CampaignStatus
from campaign_desktop.domain.views import CampaignView
from campaign_desktop.ui.calendar.calendar_model import (
    MONTH_WEEKS,
    CalendarGridModel,
    CalendarRole,
    CalendarSend,
    DayColumn,
    DaySendsModel,
    calendar_sends,
    local_day_start,
    local_today,
)
from campaign_desktop.ui.calendar.ics_export import SCHEDULED_STATUSES, IcsExporter
from campaign_desktop.ui.common.background import BackgroundTask, Report, hand_to_crash_handler
from campaign_desktop.ui.common.bridge import EventBridge
from campaign_desktop.ui.common.prompts import call_service
from campaign_desktop.ui.common.widgets import data_table, named, named_action

log = logging.getLogger("campaign_desktop.ui.calendar")

EMPTY_TEXT = (
    "<h3>Nothing is scheduled</h3>"
    "<p>Every send of every scheduled campaign shows here, by month or by week, on this "
    "computer's clock.</p>"
    "<p>On the <b>Campaigns</b> tab, select a campaign and press <b>Schedule…</b> to send it "
    "once or on a repeat.</p>"
)
REFRESH_DELAY_MS = 150  # campaign events come in bursts (a run, a reschedule): load once


@dataclass(frozen=True)
class _Loaded:
    request: int
    sends: list[CalendarSend]
    anything_scheduled: bool


# --- painting a day ---------------------------------------------------------------------------


class CalendarDayDelegate(QStyledItemDelegate):
    """Paints a day: its number, the clock-change note, then one line per send ("09:00 News"),
    struck through when it will not happen; "+3 more" when they do not all fit."""

    PADDING = 4

    def _line_height(self, option: QStyleOptionViewItem) -> int:
        return QFontMetrics(option.font).height()

    def send_rects(
        self, rect: QRect, line_height: int, count: int, has_note: bool
    ) -> tuple[list[QRect], bool]:
        """Where each of `count` send lines goes in the cell `rect`, as many as fit, and
        whether some did not (the last fitting line then says "+N more")."""
        top = rect.top() + self.PADDING + line_height * (2 if has_note else 1)
        room = max(0, (rect.bottom() - self.PADDING - top + 1) // line_height)
        shown = count if count <= room else max(room - 1, 0)
        width = rect.width() - 2 * self.PADDING
        rects = [
            QRect(rect.left() + self.PADDING, top + n * line_height, width, line_height)
            for n in range(shown)
        ]
        return rects, shown < count

    def send_at(self, view: QTableView, index: QModelIndex, pos: QPoint) -> CalendarSend | None:
        """The send whose line is under `pos` (viewport coordinates) in the cell `index`."""
        sends: list[CalendarSend] = index.data(CalendarRole.SendsRole) or []
        rects, _more = self.send_rects(
            view.visualRect(index),
            QFontMetrics(view.font()).height(),
            len(sends),
            bool(index.data(CalendarRole.ClockChangeRole)),
        )
        for send, line in zip(sends, rects, strict=False):
            if line.contains(pos):
                return send
        return None

    def paint(
        self,
        painter: QPainter,
        option: QStyleOptionViewItem,
        index: QModelIndex | QPersistentModelIndex,
    ) -> None:
        rect: QRect = option.rect
        palette: QPalette = option.palette
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        painter.save()
        if selected:
            painter.fillRect(rect, palette.highlight())
        elif index.data(CalendarRole.TodayRole):
            painter.fillRect(rect, palette.alternateBase())
        text_role = QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text
        text = palette.color(text_role)
        faint = QColor(text)
        faint.setAlphaF(0.55)
        in_range = bool(index.data(CalendarRole.InRangeRole))
        font = QFont(option.font)
        line = QFontMetrics(font).height()
        pad = self.PADDING

        day: date = index.data(CalendarRole.DateRole)
        number_font = QFont(font)
        number_font.setBold(bool(index.data(CalendarRole.TodayRole)))
        painter.setFont(number_font)
        painter.setPen(text if in_range else faint)
        head = QRect(rect.left() + pad, rect.top() + pad, rect.width() - 2 * pad, line)
        painter.drawText(
            head, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, str(day.day)
        )

        note: str = index.data(CalendarRole.ClockChangeRole) or ""
        if note:
            small = QFont(font)
            small.setItalic(True)
            small.setPointSizeF(font.pointSizeF() * 0.85)
            painter.setFont(small)
            painter.setPen(text)
            below = QRect(head.translated(0, line))
            painter.drawText(
                below,
                Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                QFontMetrics(small).elidedText(
                    f"\N{CLOCKWISE OPEN CIRCLE ARROW} {note}",
                    Qt.TextElideMode.ElideRight,
                    below.width(),
                ),
            )

        sends: list[CalendarSend] = index.data(CalendarRole.SendsRole) or []
        rects, more = self.send_rects(rect, line, len(sends), bool(note))
        for send, place in zip(sends, rects, strict=False):
            send_font = QFont(font)
            send_font.setStrikeOut(send.skipped)
            painter.setFont(send_font)
            painter.setPen(faint if send.skipped else text)
            painter.drawText(
                place,
                Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                QFontMetrics(send_font).elidedText(
                    send.label, Qt.TextElideMode.ElideRight, place.width()
                ),
            )
        if more:
            painter.setFont(font)
            painter.setPen(text)
            top = rects[-1].bottom() + 1 if rects else rect.top() + pad + line * (2 if note else 1)
            painter.drawText(
                QRect(rect.left() + pad, top, rect.width() - 2 * pad, line),
                Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                f"+{len(sends) - len(rects)} more",
            )
        painter.restore()

    def sizeHint(  # noqa: N802  (a Qt override keeps Qt's name)
        self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> QSize:
        line = self._line_height(option)
        return QSize(110, line * 4 + 2 * self.PADDING)


class CalendarGridView(QTableView):
    """The grid; a double-click on a send's line asks to open its campaign."""

    send_activated = Signal(object)  # CalendarSend

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.day_delegate = CalendarDayDelegate(self)
        self.setItemDelegate(self.day_delegate)

    def send_at(self, pos: QPoint) -> CalendarSend | None:
        index = self.indexAt(pos)
        return self.day_delegate.send_at(self, index, pos) if index.isValid() else None

    def send_position(self, day: date, number: int = 0) -> QPoint | None:
        """The middle of the line of the day's `number`-th send (viewport coordinates), or
        None when it is not shown: where a user double-clicks it."""
        model = self.model()
        assert isinstance(model, CalendarGridModel)
        index = model.index_of(day)
        if not index.isValid():
            return None
        rects, _more = self.day_delegate.send_rects(
            self.visualRect(index),
            QFontMetrics(self.font()).height(),
            len(model.sends_on(day)),
            bool(index.data(CalendarRole.ClockChangeRole)),
        )
        return rects[number].center() if number < len(rects) else None

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:  # noqa: N802  (a Qt override keeps Qt's name)
        send = self.send_at(event.position().toPoint())
        if send is not None:
            self.send_activated.emit(send)
            event.accept()
            return
        super().mouseDoubleClickEvent(event)


# --- the tab ----------------------------------------------------------------------------------


class CalendarTab(QWidget):
    """Month and week views of the upcoming sends; `open_campaign(id)` on a double-click."""

    open_campaign = Signal(int)
    status_message = Signal(str)
    loaded = Signal()  # the grid shows the latest data (tests wait on it)

    def __init__(self, ctx: AppContext, bridge: EventBridge, parent: QWidget | None = None):
        super().__init__(parent)
        self._ctx = ctx
        self.setObjectName("calendarTab")
        self._week_view = False
        self._anchor = local_today(ctx.clock.now())
        self._selected = self._anchor
        self._request = 0
        self.loading = False
        self.grid_model = CalendarGridModel(self)
        self.day_model = DaySendsModel(self)
        self.exporter = IcsExporter(ctx, self)
        self._refresh_timer = QTimer(self)
        self._refresh_timer.setSingleShot(True)
        self._refresh_timer.setInterval(REFRESH_DELAY_MS)
        self._refresh_timer.timeout.connect(self.reload)
        self._build()
        bridge.campaign_changed.connect(self._on_campaign_changed)
        self.exporter.exported.connect(self._on_exported)
        self._show_range()
        self.reload()

    # --- building ------------------------------------------------------------------------

    def _build(self) -> None:
        self.action_previous = named_action(
            self,
            "actionCalendarPrevious",
            "&Previous",
            self.show_previous,
            icon_name="",
            tip="The month (or week) before (Page Up)",
            shortcuts=["PgUp"],
        )
        self.action_today = named_action(
            self,
            "actionCalendarToday",
            "T&oday",
            self.show_today,
            tip="Back to today (T)",
            shortcuts=["T"],
        )
        self.action_next = named_action(
            self,
            "actionCalendarNext",
            "Ne&xt",
            self.show_next,
            tip="The month (or week) after (Page Down)",
            shortcuts=["PgDown"],
        )
        for action in (self.action_previous, self.action_today, self.action_next):
            # Only while the calendar has focus: Page Up/Down scroll the other tabs' tables.
            action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            self.addAction(action)
        top = self._build_top()
        self._build_grid()
        side = self._build_day_list()
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setObjectName("calendarSplitter")
        self.splitter.addWidget(self.grid)
        self.splitter.addWidget(side)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.setSizes([900, 380])  # scaled to the real width when shown

        self.empty_label = named(QLabel(EMPTY_TEXT), "calendarEmpty", "Nothing is scheduled")
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_label.setWordWrap(True)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.splitter)
        self.stack.addWidget(self.empty_label)

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.stack, 1)

    def _build_top(self) -> QHBoxLayout:
        top = QHBoxLayout()
        for action, name in (
            (self.action_previous, "calendarPrevious"),
            (self.action_today, "calendarToday"),
            (self.action_next, "calendarNext"),
        ):
            button = QToolButton()
            button.setDefaultAction(action)
            button.setObjectName(name)
            button.setAccessibleName(action.text().replace("&", ""))
            top.addWidget(button)
        self.title = named(QLabel(), "calendarTitle", "Shown period")
        title_font = self.title.font()
        title_font.setPointSizeF(title_font.pointSizeF() * 1.35)
        title_font.setBold(True)
        self.title.setFont(title_font)
        top.addSpacing(12)
        top.addWidget(self.title, 1)
        self.month_button = named(QPushButton("&Month"), "calendarMonth", "Month view")
        self.week_button = named(QPushButton("&Week"), "calendarWeek", "Week view")
        self._view_mode = QButtonGroup(self)
        for mode in (self.month_button, self.week_button):
            mode.setCheckable(True)
            self._view_mode.addButton(mode)
            top.addWidget(mode)
        self.month_button.setChecked(True)
        self._view_mode.buttonToggled.connect(self._on_view_mode)
        self.export_button = named(
            QPushButton("&Export to calendar\N{HORIZONTAL ELLIPSIS}"),
            "calendarExport",
            "Export every scheduled campaign to a calendar file",
        )
        self.export_button.clicked.connect(lambda: self.exporter.export(None))
        top.addSpacing(12)
        top.addWidget(self.export_button)
        return top

    def _build_grid(self) -> None:
        self.grid = named(CalendarGridView(), "calendarGrid", "Calendar")
        self.grid.setModel(self.grid_model)
        self.grid.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.grid.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.grid.verticalHeader().hide()
        self.grid.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.grid.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.grid.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.grid.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.grid.setMinimumWidth(7 * 70)
        self.grid.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.grid.customContextMenuRequested.connect(self._on_grid_menu)
        self.grid.send_activated.connect(self._on_send_activated)
        self.grid.selectionModel().currentChanged.connect(self._on_current_day)

    def _build_day_list(self) -> QWidget:
        self.day_title = named(QLabel(), "calendarDayTitle", "Selected day")
        day_font = self.day_title.font()
        day_font.setBold(True)
        self.day_title.setFont(day_font)
        self.day_view = data_table("calendarDaySends", "Sends on the selected day")
        self.day_view.setModel(self.day_model)
        header = self.day_view.horizontalHeader()
        header.setSectionResizeMode(DayColumn.TIME, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(DayColumn.CAMPAIGN, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(
            DayColumn.CAMPAIGN_TIME, QHeaderView.ResizeMode.ResizeToContents
        )
        header.setSectionResizeMode(DayColumn.NOTE, QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(False)
        self.day_view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.day_view.customContextMenuRequested.connect(self._on_day_menu)
        self.day_view.doubleClicked.connect(self._on_day_double_clicked)
        self.day_empty = named(QLabel("No sends on this day."), "calendarDayEmpty", "No sends")
        self.day_empty.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.day_stack = QStackedWidget()
        self.day_stack.addWidget(self.day_view)
        self.day_stack.addWidget(self.day_empty)
        side = QWidget()
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(0, 0, 0, 0)
        side_layout.addWidget(self.day_title)
        side_layout.addWidget(self.day_stack, 1)
        side.setMinimumWidth(300)
        return side

    # --- navigation ----------------------------------------------------------------------

    @property
    def week_view(self) -> bool:
        return self._week_view

    def set_week_view(self, week: bool) -> None:
        (self.week_button if week else self.month_button).setChecked(True)

    def show_day(self, day: date) -> None:
        """Show the month (or week) of `day` with `day` selected."""
        self._anchor = day
        self._selected = day
        self._show_range()
        self.reload()

    @Slot()
    def show_today(self) -> None:
        self.show_day(local_today(self._ctx.clock.now()))

    @Slot()
    def show_previous(self) -> None:
        self._step(-1)

    @Slot()
    def show_next(self) -> None:
        self._step(1)

    def _step(self, direction: int) -> None:
        if self._week_view:
            day = self._anchor + timedelta(days=7 * direction)
        else:
            month = self._anchor.year * 12 + self._anchor.month - 1 + direction
            day = date(month // 12, month % 12 + 1, 1)
        today = local_today(self._ctx.clock.now())
        self._anchor = day
        # Today when the new month (or week) holds it, else its first day.
        if self._week_view:
            first, end = self._range_of(day)
            self._selected = today if first <= today < end else first
        else:
            self._selected = today if (today.year, today.month) == (day.year, day.month) else day
        self._show_range()
        self.reload()

    def _range_of(self, anchor: date) -> tuple[date, date]:
        if self._week_view:
            first = anchor - timedelta(days=anchor.weekday())
            return first, first + timedelta(days=7)
        start = anchor.replace(day=1)
        first = start - timedelta(days=start.weekday())
        return first, first + timedelta(days=7 * MONTH_WEEKS)

    def _show_range(self) -> None:
        first, _end = self._range_of(self._anchor)
        if self._week_view:
            self.grid_model.set_range(first, 1, None)
            self.title.setText(f"Week of {first.day} {first:%B %Y}")
        else:
            self.grid_model.set_range(first, MONTH_WEEKS, (self._anchor.year, self._anchor.month))
            self.title.setText(f"{self._anchor:%B %Y}")
        self._select(self._selected)

    def _select(self, day: date) -> None:
        index = self.grid_model.index_of(day)
        if index.isValid():
            self.grid.setCurrentIndex(index)
        self._show_day_list()

    @Slot()
    def _on_view_mode(self, *_args: object) -> None:
        week = self.week_button.isChecked()
        if week == self._week_view:
            return
        self._week_view = week
        self._anchor = self._selected
        self._show_range()
        self.reload()

    @Slot(QModelIndex, QModelIndex)
    def _on_current_day(self, current: QModelIndex, _previous: QModelIndex) -> None:
        day = current.data(CalendarRole.DateRole) if current.isValid() else None
        if isinstance(day, date):
            self._selected = day
            self._show_day_list()

    def selected_day(self) -> date:
        return self._selected

    def _show_day_list(self) -> None:
        sends = self.grid_model.sends_on(self._selected)
        self.day_model.set_sends(sends)
        self.day_title.setText(f"{self._selected:%A} {self._selected.day} {self._selected:%B %Y}")
        self.day_stack.setCurrentWidget(self.day_view if sends else self.day_empty)

    # --- loading -------------------------------------------------------------------------

    @Slot()
    def reload(self) -> None:
        """Read the shown range's sends again on a pool thread; only the latest answer shows."""
        self._refresh_timer.stop()
        self._request += 1
        request = self._request
        first, end = self._range_of(self._anchor)
        campaigns = self._ctx.campaigns
        now = self._ctx.clock.now()
        start_utc, end_utc = max(local_day_start(first), now), local_day_start(end)

        def work(_report: Report) -> _Loaded:
            sends: list[CalendarSend] = []
            if start_utc < end_utc:  # a past month shows no upcoming sends
                sends = calendar_sends(
                    campaigns.calendar(start_utc, end_utc),
                    campaigns.calendar_skips(start_utc, end_utc),
                )
            anything = bool(sends) or campaigns.count(statuses=SCHEDULED_STATUSES) > 0
            return _Loaded(request, sends, anything)

        self.loading = True
        task = BackgroundTask("calendar", work)
        task.finished.connect(self._on_loaded)
        task.start()

    @Slot(object, object)
    def _on_loaded(self, loaded: _Loaded | None, error: BaseException | None) -> None:
        if error is not None:
            self.loading = False
            hand_to_crash_handler(error)
            return
        assert loaded is not None
        if loaded.request != self._request:
            return  # a newer request is on its way
        self.loading = False
        self.grid_model.set_sends(loaded.sends, local_today(self._ctx.clock.now()))
        self._show_day_list()
        self.stack.setCurrentWidget(
            self.splitter if loaded.anything_scheduled else self.empty_label
        )
        self.export_button.setEnabled(loaded.anything_scheduled)
        self.loaded.emit()

    @Slot(int, str)
    def _on_campaign_changed(self, _campaign_id: int, _change: str) -> None:
        self._refresh_timer.start()

    # --- a send's actions ----------------------------------------------------------------

    def send_menu(self, send: CalendarSend) -> QMenu:
        """The context menu of one send: skip or restore it, hold or release its campaign,
        open it, export it."""
        menu = QMenu(self)
        menu.setObjectName("calendarSendMenu")
        menu.setTitle(send.label)
        campaign = send.campaign
        if send.held:
            pass  # a held campaign's sends come back with Release, not one by one
        elif send.skipped:
            menu.addAction("&Restore this send", lambda: self.restore_send(send))
        elif campaign.is_recurring:
            menu.addAction("&Skip this send", lambda: self.skip_send(send))
        if campaign.status == CampaignStatus.HELD:
            menu.addAction("R&elease campaign", lambda: self.release_campaign(campaign.id))
        elif campaign.status == CampaignStatus.SCHEDULED:
            menu.addAction("&Hold campaign", lambda: self.hold_campaign(campaign.id))
        menu.addSeparator()
        menu.addAction("&Open campaign", lambda: self.open_campaign.emit(campaign.id))
        menu.addAction(
            "E&xport to calendar (.ics)\N{HORIZONTAL ELLIPSIS}",
            lambda: self.exporter.export([campaign.id], [campaign.name]),
        )
        return menu

    def _call_then_reload(self, title: str, call: Callable[[], CampaignView]) -> bool:
        """One service call; the calendar reloads after it (events reload it too, later)."""
        done = bool(call_service(self, title, call, on_refused=self.status_message.emit))
        if done:
            self.reload()
        return done

    def skip_send(self, send: CalendarSend) -> None:
        if self._call_then_reload(
            "Skip this send",
            lambda: self._ctx.campaigns.skip_occurrence(send.campaign.id, send.instant),
        ):
            when = f"{send.local:%a %d %b %H:%M}"
            self.status_message.emit(f"\u201c{send.campaign.name}\u201d will not send on {when}.")

    def restore_send(self, send: CalendarSend) -> None:
        self._call_then_reload(
            "Restore this send",
            lambda: self._ctx.campaigns.unskip_occurrence(send.campaign.id, send.instant),
        )

    def hold_campaign(self, campaign_id: int) -> None:
        self._call_then_reload("Hold campaign", lambda: self._ctx.campaigns.hold(campaign_id))

    def release_campaign(self, campaign_id: int) -> None:
        self._call_then_reload("Release campaign", lambda: self._ctx.campaigns.release(campaign_id))

    @Slot(QPoint)
    def _on_grid_menu(self, pos: QPoint) -> None:
        send = self.grid.send_at(pos)
        if send is not None:
            self.send_menu(send).popup(self.grid.viewport().mapToGlobal(pos))

    @Slot(QPoint)
    def _on_day_menu(self, pos: QPoint) -> None:
        index = self.day_view.indexAt(pos)
        send = index.data(CalendarRole.SendRole) if index.isValid() else None
        if isinstance(send, CalendarSend):
            self.send_menu(send).popup(self.day_view.viewport().mapToGlobal(pos))

    @Slot(object)
    def _on_send_activated(self, send: CalendarSend) -> None:
        self.open_campaign.emit(send.campaign.id)

    @Slot(QModelIndex)
    def _on_day_double_clicked(self, index: QModelIndex) -> None:
        send = index.data(CalendarRole.SendRole)
        if isinstance(send, CalendarSend):
            self.open_campaign.emit(send.campaign.id)

    @Slot(object, str)
    def _on_exported(self, _path: object, message: str) -> None:
        self.status_message.emit(message)
