"""The Calendar tab's models: a month (or week) grid of days, and the list of one day's sends.

Everything is on this computer's clock (Python's local time, as `formatting.on_this_machine`
shows it); the campaign's own clock is in the tooltips (docs/design.md §12).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import IntEnum
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, Qt
from PySide6.QtGui import QFont

from campaign_desktop.domain.status import CampaignStatus
from campaign_desktop.domain.timezones import get_zone, zone_label
from campaign_desktop.domain.views import CampaignView
from campaign_desktop.ui.common.table_model import RowTableModel

ModelIndex = QModelIndex | QPersistentModelIndex
_NO_INDEX = QModelIndex()
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MONTH_WEEKS = 6  # every month fits in six Monday-to-Sunday rows


class CalendarRole(IntEnum):
    DateRole = Qt.ItemDataRole.UserRole + 1  # the day (date)
    SendsRole = Qt.ItemDataRole.UserRole + 2  # list[CalendarSend] of that day, by time
    InRangeRole = Qt.ItemDataRole.UserRole + 3  # False for the greyed days of the months around
    TodayRole = Qt.ItemDataRole.UserRole + 4  # bool
    ClockChangeRole = Qt.ItemDataRole.UserRole + 5  # "" or "Clocks go forward 1 h"
    SendRole = Qt.ItemDataRole.UserRole + 6  # the CalendarSend of a day-list row


# --- this computer's clock --------------------------------------------------------------------


def local_day_start(day: date) -> datetime:
    """The aware UTC instant this computer's day `day` begins at (midnight, local time)."""
    return datetime.combine(day, time()).astimezone(UTC)


def local_time(instant: datetime) -> datetime:
    """An aware instant on this computer's clock (aware, with the local offset)."""
    return instant.astimezone()


def local_today(now: datetime) -> date:
    return local_time(now).date()


def _offset_words(delta: timedelta) -> str:
    minutes = abs(int(delta.total_seconds())) // 60
    hours, rest = divmod(minutes, 60)
    if hours and rest:
        return f"{hours} h {rest} min"
    return f"{hours} h" if hours else f"{rest} min"


def clock_change(day: date) -> tuple[str, str]:
    """("Clocks go forward 1 h", tooltip) when this computer's UTC offset changes during
    `day` (daylight saving, or a zone changing its standard time); ("", "") otherwise."""
    before = local_time(local_day_start(day)).utcoffset()
    after = local_time(local_day_start(day + timedelta(days=1))).utcoffset()
    if before is None or after is None or before == after:
        return "", ""
    way = "forward" if after > before else "back"
    note = f"Clocks go {way} {_offset_words(after - before)}"
    tip = (
        f"This computer's clock changes on this day: {_utc_label(before)} \N{RIGHTWARDS ARROW} "
        f"{_utc_label(after)}. Times here move against the campaigns' own clocks."
    )
    return note, tip


def _utc_label(offset: timedelta) -> str:
    sign = "+" if offset >= timedelta(0) else "\N{MINUS SIGN}"
    minutes = abs(int(offset.total_seconds())) // 60
    return f"UTC{sign}{minutes // 60:02d}:{minutes % 60:02d}"


# --- one send ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CalendarSend:
    """One send of a campaign: it will happen, or it will not (`skipped`)."""

    campaign: CampaignView
    instant: datetime  # aware UTC
    skipped: bool = False  # skipped one by one, or the campaign is on hold

    @property
    def held(self) -> bool:
        return self.campaign.status == CampaignStatus.HELD

    @property
    def local(self) -> datetime:
        return local_time(self.instant)

    @property
    def label(self) -> str:
        """ "09:00 News", as the grid and the day list show it."""
        return f"{self.local:%H:%M} {self.campaign.name}"

    @property
    def state_words(self) -> str:
        """ "" for a send that happens; why not, for one that will not."""
        if self.held:
            return "campaign on hold"
        return "skipped" if self.skipped else ""

    @property
    def tooltip(self) -> str:
        """ "News — 09:00 New York time, 14:00 here", and why it will not happen."""
        tz = self.campaign.timezone
        there = self.instant.astimezone(get_zone(tz))
        place = "UTC" if tz in ("UTC", "Etc/UTC") else f"{zone_label(tz)} time"
        text = f"{self.campaign.name} \N{EM DASH} {there:%H:%M} {place}, {self.local:%H:%M} here"
        if there.date() != self.local.date():
            text = (
                f"{self.campaign.name} \N{EM DASH} {there:%a %d %b %H:%M} {place}, "
                f"{self.local:%a %d %b %H:%M} here"
            )
        return f"{text} ({self.state_words})" if self.state_words else text


def calendar_sends(
    happening: list[tuple[CampaignView, datetime]], skipped: list[tuple[CampaignView, datetime]]
) -> list[CalendarSend]:
    """The two lists of `CampaignService.calendar`/`calendar_skips` as one, by time then name."""
    sends = [CalendarSend(view, instant) for view, instant in happening]
    sends += [CalendarSend(view, instant, skipped=True) for view, instant in skipped]
    sends.sort(key=lambda send: (send.instant, send.campaign.name.casefold(), send.campaign.id))
    return sends


# --- the grid ---------------------------------------------------------------------------------


class CalendarGridModel(QAbstractTableModel):
    """Days in rows of weeks (Monday first), seven columns: a month is six rows, a week one.

    Each cell is one day on this computer's clock; its sends are `CalendarRole.SendsRole`.
    """

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._first = date(2000, 1, 3)  # a Monday; set_range replaces it
        self._weeks = MONTH_WEEKS
        self._month: tuple[int, int] | None = None  # (year, month) in month view
        self._today: date | None = None
        self._sends: dict[date, list[CalendarSend]] = {}
        self._changes: dict[date, tuple[str, str]] = {}

    def set_range(self, first_monday: date, weeks: int, month: tuple[int, int] | None) -> None:
        """Show `weeks` weeks from `first_monday`; days outside `month` (if given) are greyed."""
        self.beginResetModel()
        self._first = first_monday
        self._weeks = weeks
        self._month = month
        self._sends = {}
        self._changes = {day: clock_change(day) for day in self.days()}
        self.endResetModel()

    def set_sends(self, sends: list[CalendarSend], today: date) -> None:
        """The sends to show (any in the range; the rest are ignored), and today's date."""
        by_day: dict[date, list[CalendarSend]] = {}
        for send in sends:
            by_day.setdefault(send.local.date(), []).append(send)
        self._sends = by_day
        self._today = today
        if self._weeks:
            # Every cell's sends may have changed (a reload): name no roles, i.e. all of them.
            all_roles: list[int] = []
            self.dataChanged.emit(self.index(0, 0), self.index(self._weeks - 1, 6), all_roles)

    def days(self) -> list[date]:
        return [self._first + timedelta(days=n) for n in range(self._weeks * 7)]

    def first_day(self) -> date:
        return self._first

    def end_day(self) -> date:
        """The day after the last one shown."""
        return self._first + timedelta(days=self._weeks * 7)

    def index_of(self, day: date) -> QModelIndex:
        offset = (day - self._first).days
        if not 0 <= offset < self._weeks * 7:
            return QModelIndex()
        return self.index(offset // 7, offset % 7)

    def sends_on(self, day: date) -> list[CalendarSend]:
        return list(self._sends.get(day, []))

    # --- Qt overrides --------------------------------------------------------------------

    def rowCount(self, parent: ModelIndex = _NO_INDEX) -> int:  # noqa: N802  (a Qt override keeps Qt's name)
        return 0 if parent.isValid() else self._weeks

    def columnCount(self, parent: ModelIndex = _NO_INDEX) -> int:  # noqa: N802  (a Qt override keeps Qt's name)
        return 0 if parent.isValid() else 7

    def headerData(  # noqa: N802  (a Qt override keeps Qt's name)
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if (
            orientation == Qt.Orientation.Horizontal
            and role == Qt.ItemDataRole.DisplayRole
            and 0 <= section < 7
        ):
            return WEEKDAYS[section]
        return None

    def data(self, index: ModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:  # noqa: PLR0911  (one return per role)
        if not index.isValid() or not (0 <= index.row() < self._weeks and 0 <= index.column() < 7):
            return None
        day = self._first + timedelta(days=index.row() * 7 + index.column())
        sends = self._sends.get(day, [])
        note, note_tip = self._changes.get(day, ("", ""))
        match role:
            case Qt.ItemDataRole.DisplayRole | Qt.ItemDataRole.AccessibleTextRole:
                # Plain text of the whole cell: what a screen reader says, what tests read.
                if role == Qt.ItemDataRole.DisplayRole:
                    lines = [str(day.day)]
                else:
                    lines = [f"{day:%A} {day.day} {day:%B %Y}"]
                if note:
                    lines.append(note)
                lines += [
                    f"{send.label} ({send.state_words})" if send.skipped else send.label
                    for send in sends
                ]
                return "\n".join(lines)
            case Qt.ItemDataRole.ToolTipRole:
                tips = [send.tooltip for send in sends]
                if note_tip:
                    tips.insert(0, note_tip)
                return "\n".join(tips) or None
            case CalendarRole.DateRole:
                return day
            case CalendarRole.SendsRole:
                return list(sends)
            case CalendarRole.InRangeRole:
                return self._month is None or (day.year, day.month) == self._month
            case CalendarRole.TodayRole:
                return day == self._today
            case CalendarRole.ClockChangeRole:
                return note
        return None


# --- the day list -----------------------------------------------------------------------------


class DayColumn(IntEnum):
    TIME = 0
    CAMPAIGN = 1
    CAMPAIGN_TIME = 2
    NOTE = 3


class DaySendsModel(RowTableModel[CalendarSend]):
    """The selected day's sends, one per row: time here, campaign, its own clock, and a note
    ("skipped", "campaign on hold"); sends that will not happen are struck through."""

    headers = ("Time", "Campaign", "Campaign's time", "")

    def set_sends(self, sends: list[CalendarSend]) -> None:
        self._reset_rows(sends)

    def sends(self) -> list[CalendarSend]:
        return list(self._rows)

    def _row_id(self, row: CalendarSend) -> int:
        return row.campaign.id

    def _cell(self, row: CalendarSend, column: int, role: int) -> Any:  # noqa: PLR0911  (one return per role)
        if role == CalendarRole.SendRole:
            return row
        if role == Qt.ItemDataRole.ToolTipRole:
            return row.tooltip
        if role == Qt.ItemDataRole.FontRole and row.skipped:
            font = QFont()
            font.setStrikeOut(True)
            return font
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        match column:
            case DayColumn.TIME:
                return f"{row.local:%H:%M}"
            case DayColumn.CAMPAIGN:
                return row.campaign.name
            case DayColumn.CAMPAIGN_TIME:
                tz = row.campaign.timezone
                there = row.instant.astimezone(get_zone(tz))
                # The date only when the campaign's clock is on another day than this one's.
                when = f"{there:%H:%M}" if there.date() == row.local.date() else f"{there:%a %H:%M}"
                return f"{when} {there.tzname() or tz}"
            case DayColumn.NOTE:
                return row.state_words.capitalize()
        return None
