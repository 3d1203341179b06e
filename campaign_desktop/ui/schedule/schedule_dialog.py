"""The Schedule dialog: first send, timezone, repeat rule, end and missed-run policy, with a live
preview of the next sends (campaign and machine clocks, offset changes marked) and the sentence.

Validation goes through `CampaignService.plan_schedule`, the same door `schedule` uses, so the
dialog can never accept what the service would refuse.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import IntEnum
from typing import Any, NamedTuple

from PySide6.QtCore import (
    QDate,
    QDateTime,
    QEvent,
    QObject,
    QPoint,
    QStringListModel,
    Qt,
    QTime,
    QTimer,
    QTimeZone,
    Slot,
)
from PySide6.QtGui import QFont, QKeyEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QCompleter,
    QDateEdit,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMenu,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from campaign_desktop.context import AppContext
from campaign_desktop.domain.errors import ValidationError
from campaign_desktop.domain.recurrence import (
    DAY_NAMES,
    MAX_INTERVAL,
    RecurrencePattern,
    describe_once,
    occurrences,
    wall_time_of,
)
from campaign_desktop.domain.status import CampaignStatus, MissedRunPolicy
from campaign_desktop.domain.timezones import (
    get_zone,
    is_dst_change_between,
    ordered_timezones,
    to_local,
    utc_offset_label,
)
from campaign_desktop.domain.views import CampaignView
from campaign_desktop.ui.common import formatting
from campaign_desktop.ui.common.prompts import call_service
from campaign_desktop.ui.common.table_model import RowTableModel
from campaign_desktop.ui.common.theme import mark_as_error
from campaign_desktop.ui.schedule.typed_date_time import TypedDateTimeEdit

log = logging.getLogger("campaign_desktop.ui.schedule")

PREVIEW_COUNT = 5
# A pause this long on zone text that starts no zone's name shows why it is refused.
ZONE_TYPING_PAUSE_MS = 1500
_DAY_SHORT = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_WEEKS = (("first", 1), ("second", 2), ("third", 3), ("fourth", 4), ("last", -1))
_UNITS = {"daily": "day(s)", "weekly": "week(s)", "monthly": "month(s)", "yearly": "year(s)"}


def _exdate_texts(pattern: RecurrencePattern | None) -> list[str]:
    """The pattern's skipped sends as stored ("2027-03-15T09:00"), none for no pattern."""
    stored = pattern.to_dict().get("exdates") if pattern else None
    return [str(text) for text in stored] if isinstance(stored, list) else []


class ScheduleValues(NamedTuple):
    """What the dialog returns: exactly the arguments of `CampaignService.schedule`."""

    first_local: datetime
    timezone: str
    recurrence: dict[str, Any] | None
    policy: str


def machine_timezone() -> str:
    """This computer's IANA zone if the app knows it, else UTC."""
    key = bytes(QTimeZone.systemTimeZoneId().data()).decode("ascii", "replace")
    return key if key in set(ordered_timezones()) else "UTC"


# --- the preview ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PreviewRow:
    instant: datetime  # aware UTC
    campaign_text: str
    machine_text: str
    offset_change: str  # "" or the "Clocks change" note
    skipped: bool = False  # taken out of the schedule (an EXDATE): shown struck through


class PreviewColumn(IntEnum):
    CAMPAIGN = 0
    MACHINE = 1
    NOTE = 2


class SchedulePreviewModel(RowTableModel[PreviewRow]):
    """The next sends, one per row; a note where the zone's UTC offset changed since the last."""

    OffsetChangedRole = Qt.ItemDataRole.UserRole + 1

    headers = ("Campaign time", "This computer", "")

    def set_sends(
        self, instants: list[datetime], tz: str, skipped: frozenset[datetime] = frozenset()
    ) -> None:
        """`instants` in order (aware UTC); those in `skipped` are shown struck through."""
        zone = get_zone(tz)
        rows = []
        for i, instant in enumerate(instants):
            note = ""
            if i and is_dst_change_between(instants[i - 1], instant, zone):
                before = utc_offset_label(instants[i - 1], zone)
                note = f"\N{WARNING SIGN} Clocks change: {before} \N{RIGHTWARDS ARROW} " + (
                    utc_offset_label(instant, zone)
                )
            rows.append(
                PreviewRow(
                    instant,
                    formatting.in_zone(instant, tz),
                    formatting.on_this_machine(instant).removesuffix(" (this computer)"),
                    note,
                    instant in skipped,
                )
            )
        self._reset_rows(rows)

    def clear(self) -> None:
        self._reset_rows([])

    def sends(self) -> list[datetime]:
        """The sends that happen (skipped ones left out)."""
        return [row.instant for row in self._rows if not row.skipped]

    def skipped(self) -> list[datetime]:
        return [row.instant for row in self._rows if row.skipped]

    def row_at(self, position: int) -> PreviewRow | None:
        return self._rows[position] if 0 <= position < len(self._rows) else None

    def headerData(  # noqa: N802  (a Qt override keeps Qt's name)
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Vertical and role == Qt.ItemDataRole.DisplayRole:
            return str(section + 1)
        return super().headerData(section, orientation, role)

    def _cell(self, row: PreviewRow, column: int, role: int) -> Any:
        if role == self.OffsetChangedRole:
            return bool(row.offset_change)
        if role == Qt.ItemDataRole.FontRole and row.skipped:
            font = QFont()
            font.setStrikeOut(True)
            return font
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            note = row.offset_change
            if row.skipped:
                note = f"Skipped — {note}" if note else "Skipped"
            return (row.campaign_text, row.machine_text, note)[column]
        return None


# --- the dialog -------------------------------------------------------------------------------


class ScheduleDialog(QDialog):
    """Edit when (and how often) a campaign is sent; OK only while the schedule is valid."""

    def __init__(
        self, ctx: AppContext, campaign: CampaignView, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self._ctx = ctx
        self._campaign = campaign
        self._loading = False
        self._known_zones = frozenset(ordered_timezones())
        self._zone_names = tuple(zone.lower() for zone in self._known_zones)
        # Skipped sends (docs/design.md §12), as stored: "2027-03-15T09:00" wall-clock times.
        self._exdates: list[str] = []
        self.setObjectName("scheduleDialog")
        self.setWindowTitle(
            f"Schedule \N{LEFT DOUBLE QUOTATION MARK}{campaign.name}\N{RIGHT DOUBLE QUOTATION MARK}"
        )
        self._build()
        self._load_from(campaign)
        self._connect()
        self._refresh()

    @classmethod
    def ask(
        cls, parent: QWidget | None, ctx: AppContext, campaign: CampaignView
    ) -> ScheduleValues | None:
        """Show the dialog modally; the chosen values, or None if cancelled. Tests replace it."""
        dialog = cls(ctx, campaign, parent)
        try:
            if dialog.exec() == QDialog.DialogCode.Accepted:
                return dialog.result_values()
            return None
        finally:
            dialog.deleteLater()

    # --- building ------------------------------------------------------------------------

    def _named(self, widget: QWidget, name: str, accessible: str) -> None:
        widget.setObjectName(name)
        widget.setAccessibleName(accessible)

    def _build(self) -> None:
        form = QFormLayout()

        # A UTC editor has no DST gaps: the wall time typed is kept exactly as typed and only
        # read in the campaign's zone (the machine's zone must not shift it). It also takes a
        # whole date-time typed over the selection ("2027-03-28 09:30").
        self._first_send = TypedDateTimeEdit()
        self._first_send.setToolTip("Type a date and time such as 2027-03-28 09:30, or pick one.")
        self._first_send.setDisplayFormat("ddd d MMM yyyy  HH:mm")
        self._first_send.setCalendarPopup(True)
        self._named(self._first_send, "firstSend", "First send date and time")
        form.addRow("&First send:", self._first_send)

        self._timezone = self._build_timezone()
        form.addRow("&Timezone:", self._timezone)
        self._build_repeat(form)
        self._build_rrule(form)

        self._build_bottom()
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self._sentence)
        layout.addWidget(QLabel(f"Next {PREVIEW_COUNT} sends:"))
        layout.addWidget(self._preview)
        layout.addStretch(1)
        layout.addWidget(self._error)
        layout.addWidget(self._buttons)
        self.resize(720, 480)

    def _build_timezone(self) -> QComboBox:
        # While the user types a zone, an unknown one is not an error yet (docs/design.md §6).
        self._zone_settled = True
        self._zone_pause = QTimer(self, singleShot=True, interval=ZONE_TYPING_PAUSE_MS)
        self._zone_pause.timeout.connect(self._on_zone_settled)
        self._timezone = QComboBox()
        self._timezone.setEditable(True)
        self._timezone.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self._timezone.setModel(QStringListModel(ordered_timezones(), self._timezone))
        self._timezone.setMaxVisibleItems(15)
        completer = QCompleter(self._timezone.model(), self._timezone)
        completer.setFilterMode(Qt.MatchFlag.MatchContains)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        completer.setCompletionMode(QCompleter.CompletionMode.PopupCompletion)
        self._timezone.setCompleter(completer)
        completer.activated.connect(self._on_zone_settled)
        self._named(self._timezone, "timezone", "Timezone")
        return self._timezone

    def _build_repeat(self, form: QFormLayout) -> None:
        self._repeat = QComboBox()
        for text, kind in (
            ("Does not repeat", None),
            ("Daily", "daily"),
            ("Weekly", "weekly"),
            ("Monthly", "monthly"),
            ("Yearly", "yearly"),
        ):
            self._repeat.addItem(text, kind)
        self._named(self._repeat, "repeat", "Repeat")
        form.addRow("&Repeat:", self._repeat)

        self._interval = QSpinBox()
        self._interval.setRange(1, MAX_INTERVAL)
        self._named(self._interval, "interval", "Repeat every")
        self._interval_unit = QLabel()
        every = QWidget()
        every_layout = QHBoxLayout(every)
        every_layout.setContentsMargins(0, 0, 0, 0)
        every_layout.addWidget(self._interval)
        every_layout.addWidget(self._interval_unit, 1)
        self._every_row = every
        self._every_label = QLabel("E&very:")
        self._every_label.setBuddy(self._interval)
        form.addRow(self._every_label, every)

        self._weekdays: list[QCheckBox] = []
        days = QWidget()
        days_layout = QHBoxLayout(days)
        days_layout.setContentsMargins(0, 0, 0, 0)
        for i, short in enumerate(_DAY_SHORT):
            box = QCheckBox(short)
            self._named(box, f"weekday{i}", DAY_NAMES[i])
            self._weekdays.append(box)
            days_layout.addWidget(box)
        self._days_row = days
        self._days_label = QLabel("On:")
        form.addRow(self._days_label, days)

        self._monthly_row = self._build_monthly()
        self._monthly_label = QLabel("On:")
        form.addRow(self._monthly_label, self._monthly_row)

        self._ends_row = self._build_ends()
        self._ends_label = QLabel("Ends:")
        form.addRow(self._ends_label, self._ends_row)

        self._policy = QComboBox()
        self._policy.addItem(
            "Send once, late, when the app starts again", MissedRunPolicy.SEND_LATE.value
        )
        self._policy.addItem("Skip the missed send", MissedRunPolicy.SKIP.value)
        self._named(self._policy, "missedRunPolicy", "If a send is missed")
        form.addRow("If a send is &missed:", self._policy)

    def _build_bottom(self) -> None:
        self._sentence = QLabel()
        self._sentence.setWordWrap(True)
        self._sentence.setObjectName("scheduleSentence")
        self._sentence.setAccessibleName("Schedule summary")
        self._sentence.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self._preview_model = SchedulePreviewModel(self)
        self._preview = QTableView()
        self._preview.setModel(self._preview_model)
        self._preview.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self._preview.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self._preview.horizontalHeader().setSectionResizeMode(
            QHeaderView.ResizeMode.ResizeToContents
        )
        self._preview.horizontalHeader().setStretchLastSection(True)
        self._named(self._preview, "schedulePreview", f"Next {PREVIEW_COUNT} sends")
        # Always PREVIEW_COUNT rows: sized to them, so the dialog has no empty band below.
        self._preview.setFixedHeight(
            self._preview.horizontalHeader().sizeHint().height()
            + self._preview.verticalHeader().defaultSectionSize() * PREVIEW_COUNT
            + 2 * self._preview.frameWidth()
        )
        self._preview.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self._preview.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self._preview.customContextMenuRequested.connect(self._on_preview_menu)

        self._error = QLabel()
        self._error.setWordWrap(True)
        mark_as_error(self._error)
        self._error.setObjectName("scheduleError")
        self._error.setAccessibleName("Schedule problem")

        self._buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        ok = self._ok_button
        ok.setText("Schedule")
        self._named(ok, "scheduleOk", "Schedule")
        cancel = self._buttons.button(QDialogButtonBox.StandardButton.Cancel)
        self._named(cancel, "scheduleCancel", "Cancel")

    def _build_monthly(self) -> QWidget:
        row = QWidget()
        layout = QVBoxLayout(row)
        layout.setContentsMargins(0, 0, 0, 0)
        self._monthly_mode = QButtonGroup(row)

        by_day = QHBoxLayout()
        self._monthly_by_day = QRadioButton("On day")
        self._named(self._monthly_by_day, "monthlyByDay", "Monthly on a day of the month")
        self._day_of_month = QSpinBox()
        self._day_of_month.setRange(1, 31)
        self._named(self._day_of_month, "dayOfMonth", "Day of the month")
        self._short_month = QComboBox()
        self._short_month.addItem("in shorter months: the last day", "last_day")
        self._short_month.addItem("in shorter months: skip", "skip")
        self._named(self._short_month, "shortMonth", "In shorter months")
        by_day.addWidget(self._monthly_by_day)
        by_day.addWidget(self._day_of_month)
        by_day.addWidget(self._short_month, 1)

        by_weekday = QHBoxLayout()
        self._monthly_by_weekday = QRadioButton("On the")
        self._named(self._monthly_by_weekday, "monthlyByWeekday", "Monthly on a weekday")
        self._week_of_month = QComboBox()
        for text, value in _WEEKS:
            self._week_of_month.addItem(text, value)
        self._named(self._week_of_month, "weekOfMonth", "Week of the month")
        self._month_weekday = QComboBox()
        for i, name in enumerate(DAY_NAMES):
            self._month_weekday.addItem(name, i)
        self._named(self._month_weekday, "monthWeekday", "Weekday")
        by_weekday.addWidget(self._monthly_by_weekday)
        by_weekday.addWidget(self._week_of_month)
        by_weekday.addWidget(self._month_weekday, 1)

        self._monthly_mode.addButton(self._monthly_by_day)
        self._monthly_mode.addButton(self._monthly_by_weekday)
        self._monthly_by_day.setChecked(True)
        layout.addLayout(by_day)
        layout.addLayout(by_weekday)
        return row

    def _build_ends(self) -> QWidget:
        row = QWidget()
        layout = QHBoxLayout(row)
        layout.setContentsMargins(0, 0, 0, 0)
        self._end_mode = QButtonGroup(row)
        self._end_never = QRadioButton("Never")
        self._named(self._end_never, "endNever", "Never ends")
        self._end_on_date = QRadioButton("On")
        self._named(self._end_on_date, "endOnDate", "Ends on a date")
        self._end_date = QDateEdit()
        self._end_date.setCalendarPopup(True)
        self._end_date.setDisplayFormat("d MMM yyyy")
        self._named(self._end_date, "endDate", "End date")
        self._end_after = QRadioButton("After")
        self._named(self._end_after, "endAfter", "Ends after a number of sends")
        self._count = QSpinBox()
        self._count.setRange(1, 100_000)
        self._count.setSuffix(" sends")
        self._named(self._count, "endCount", "Number of sends")
        for button in (self._end_never, self._end_on_date, self._end_after):
            self._end_mode.addButton(button)
        self._end_never.setChecked(True)
        for widget in (
            self._end_never,
            self._end_on_date,
            self._end_date,
            self._end_after,
            self._count,
        ):
            layout.addWidget(widget)
        layout.addStretch(1)
        return row

    # --- pasting an RRULE; skipping single sends (docs/design.md §3, §12) --------------------

    def _build_rrule(self, form: QFormLayout) -> None:
        self._rrule = QLineEdit()
        self._rrule.setPlaceholderText("FREQ=WEEKLY;BYDAY=MO,WE;COUNT=10")
        self._rrule.setClearButtonEnabled(True)
        self._named(self._rrule, "rruleText", "Repeat rule (RRULE) to paste")
        self._rrule.installEventFilter(self)
        self._rrule_button = QPushButton("&Paste RRULE…")
        self._named(self._rrule_button, "rruleApply", "Use the pasted repeat rule")
        self._rrule_button.setAutoDefault(False)
        self._rrule_button.clicked.connect(self._on_rrule)
        self._rrule_error = QLabel()
        self._rrule_error.setWordWrap(True)
        mark_as_error(self._rrule_error)
        self._named(self._rrule_error, "rruleError", "Repeat rule problem")
        self._rrule_error.hide()
        row = QWidget()
        layout = QVBoxLayout(row)
        layout.setContentsMargins(0, 0, 0, 0)
        line = QHBoxLayout()
        line.addWidget(self._rrule, 1)
        line.addWidget(self._rrule_button)
        layout.addLayout(line)
        layout.addWidget(self._rrule_error)
        label = QLabel("From an R&RULE:")
        label.setBuddy(self._rrule)
        form.addRow(label, row)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802  (a Qt override keeps Qt's name)
        # Enter in the RRULE field uses the rule; it must not press Schedule as well.
        if (
            watched is self._rrule
            and event.type() == QEvent.Type.KeyPress
            and isinstance(event, QKeyEvent)
            and event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
        ):
            self._on_rrule()
            return True
        return super().eventFilter(watched, event)

    def paste_rrule(self, text: str) -> bool:
        """Fill the repeat controls from an RFC 5545 RRULE; False (and the reason shown
        under the field) when the app cannot express it. Skipped sends are kept."""
        self._rrule.setText(text)
        try:
            pattern = RecurrencePattern.from_rrule(text, self.timezone() or None)
        except ValidationError as exc:
            self._rrule_error.setText(exc.message)
            self._rrule_error.show()
            return False
        self._rrule_error.clear()
        self._rrule_error.hide()
        values = pattern.to_dict()
        if self._exdates and not pattern.exdates:
            values["exdates"] = list(self._exdates)
        self.set_values(self.first_local(), self.timezone(), values)
        return True

    def rrule_error(self) -> str:
        return self._rrule_error.text() if self._rrule_error.isVisibleTo(self) else ""

    @Slot()
    def _on_rrule(self) -> None:
        self.paste_rrule(self._rrule.text())

    def preview_skipped(self) -> list[datetime]:
        """The sends the preview shows struck through (aware UTC)."""
        return self._preview_model.skipped()

    def preview_menu(self, position: int) -> QMenu | None:
        """The preview row's menu: Skip this send, or Restore this send."""
        row = self._preview_model.row_at(position)
        if row is None or self._repeat.currentData() is None:
            return None  # a single send has nothing to skip (hold or unschedule it)
        menu = QMenu(self)
        menu.setObjectName("previewMenu")
        if row.skipped:
            menu.addAction("&Restore this send", lambda: self.set_skipped(row.instant, False))
        else:
            menu.addAction("&Skip this send", lambda: self.set_skipped(row.instant, True))
        return menu

    @Slot(QPoint)
    def _on_preview_menu(self, pos: QPoint) -> None:
        menu = self.preview_menu(self._preview.indexAt(pos).row())
        if menu is not None:
            menu.popup(self._preview.viewport().mapToGlobal(pos))

    def set_skipped(self, instant: datetime, skip: bool) -> None:
        """Skip (or restore) one send of the preview. For the campaign's saved schedule this
        is saved at once through the service, as the Calendar does; for a schedule being
        edited it becomes part of the pattern the dialog returns."""
        values = self.result_values()
        if self._is_saved_schedule(values):
            campaigns, campaign_id = self._ctx.campaigns, self._campaign.id
            change = campaigns.skip_occurrence if skip else campaigns.unskip_occurrence
            title = "Skip this send" if skip else "Restore this send"
            outcome = call_service(self, title, lambda: change(campaign_id, instant))
            if outcome:
                saved = outcome.value
                self._campaign = saved
                self._exdates = _exdate_texts(saved.recurrence_pattern)
                self._refresh()
            return
        if values.recurrence is None:
            return
        try:
            pattern = RecurrencePattern.from_dict(values.recurrence)
        except ValidationError:
            return
        wall = wall_time_of(pattern, values.first_local, values.timezone, instant)
        if wall is None:
            return
        changed = pattern.with_exdate(wall) if skip else pattern.without_exdate(wall)
        self._exdates = _exdate_texts(changed)
        self._refresh()

    def _is_saved_schedule(self, values: ScheduleValues) -> bool:
        """Whether the dialog shows the campaign's stored schedule unchanged (skips aside)."""
        campaign = self._campaign
        if campaign.status not in (CampaignStatus.SCHEDULED, CampaignStatus.HELD):
            return False
        if (campaign.scheduled_local, campaign.timezone) != (values.first_local, values.timezone):
            return False
        if not campaign.recurrence_pattern or values.recurrence is None:
            return False
        try:
            stored = campaign.recurrence_pattern
            shown = RecurrencePattern.from_dict(values.recurrence)
        except ValidationError:
            return False
        return dataclasses.replace(stored, exdates=()) == dataclasses.replace(shown, exdates=())

    def _connect(self) -> None:
        self._buttons.accepted.connect(self.accept)
        self._buttons.rejected.connect(self.reject)
        self._first_send.dateTimeChanged.connect(self._on_first_send_changed)
        self._timezone.currentTextChanged.connect(self._on_zone_typed)
        zone_line = self._timezone.lineEdit()
        assert zone_line is not None  # an editable combo box has one
        zone_line.editingFinished.connect(self._on_zone_settled)
        self._repeat.currentIndexChanged.connect(self._refresh)
        self._interval.valueChanged.connect(self._refresh)
        for box in self._weekdays:
            box.toggled.connect(self._refresh)
        self._monthly_mode.buttonToggled.connect(self._refresh)
        self._day_of_month.valueChanged.connect(self._refresh)
        self._short_month.currentIndexChanged.connect(self._refresh)
        self._week_of_month.currentIndexChanged.connect(self._refresh)
        self._month_weekday.currentIndexChanged.connect(self._refresh)
        self._end_mode.buttonToggled.connect(self._refresh)
        self._end_date.dateChanged.connect(self._refresh)
        self._count.valueChanged.connect(self._refresh)

    @property
    def _ok_button(self) -> QPushButton:
        return self._buttons.button(QDialogButtonBox.StandardButton.Ok)

    # --- values in and out ---------------------------------------------------------------

    def _load_from(self, campaign: CampaignView) -> None:
        now = self._ctx.clock.now()
        scheduled = campaign.scheduled_local
        if scheduled is not None and campaign.timezone:
            tz = campaign.timezone
            try:
                in_future = scheduled.replace(tzinfo=get_zone(tz)) > now
            except ValidationError:
                in_future = False
            first = scheduled if in_future else self._default_first(tz, now)
        else:
            tz = campaign.timezone if campaign.timezone != "UTC" else machine_timezone()
            first = self._default_first(tz, now)
        pattern = campaign.recurrence_pattern
        self.set_values(
            first, tz, pattern.to_dict() if pattern else None, campaign.missed_run_policy
        )

    @staticmethod
    def _default_first(tz: str, now: datetime) -> datetime:
        """Tomorrow at 09:00 on the campaign's clock: a sensible first guess for a newsletter."""
        try:
            local = to_local(now, get_zone(tz))
        except ValidationError:
            local = now.replace(tzinfo=None)
        return datetime.combine(local.date() + timedelta(days=1), datetime.min.time()).replace(
            hour=9
        )

    def set_values(
        self,
        first_local: datetime,
        timezone: str,
        recurrence: dict[str, Any] | None = None,
        policy: str | None = None,
    ) -> None:
        """Fill every widget from a schedule (the stored one, or one a caller chooses)."""
        self._loading = True
        try:
            self._first_send.setDateTime(
                QDateTime(
                    QDate(first_local.year, first_local.month, first_local.day),
                    QTime(first_local.hour, first_local.minute),
                    QTimeZone.utc(),
                )
            )
            self._follow_first_send(first_local.date())
            self._timezone.setCurrentText(timezone)
            self._zone_settled = True
            self._zone_pause.stop()
            pattern = recurrence or {}
            self._exdates = [str(day) for day in pattern.get("exdates") or []]
            kind = pattern.get("type")
            index = self._repeat.findData(kind) if kind else 0
            self._repeat.setCurrentIndex(max(index, 0))
            self._interval.setValue(int(pattern.get("interval") or 1))
            days = pattern.get("days_of_week") or [first_local.weekday()]
            for i, box in enumerate(self._weekdays):
                box.setChecked(i in days)
            self._day_of_month.setValue(int(pattern.get("day_of_month") or first_local.day))
            self._short_month.setCurrentIndex(
                max(self._short_month.findData(pattern.get("short_month", "last_day")), 0)
            )
            if pattern.get("weekday") is not None:
                self._monthly_by_weekday.setChecked(True)
                self._month_weekday.setCurrentIndex(int(pattern["weekday"]))
                self._week_of_month.setCurrentIndex(
                    max(self._week_of_month.findData(pattern.get("week_of_month", 1)), 0)
                )
            else:
                self._monthly_by_day.setChecked(True)
                self._month_weekday.setCurrentIndex(first_local.weekday())
                self._week_of_month.setCurrentIndex(min((first_local.day - 1) // 7, 3))
            end = pattern.get("end_date")
            end_day = date.fromisoformat(end) if isinstance(end, str) else end
            if isinstance(end_day, date):
                self._end_on_date.setChecked(True)
                self._end_date.setDate(QDate(end_day.year, end_day.month, end_day.day))
            else:
                later = first_local.date() + timedelta(days=90)
                self._end_date.setDate(QDate(later.year, later.month, later.day))
            if pattern.get("count") is not None:
                self._count.setValue(int(pattern["count"]))
                if not isinstance(end_day, date):
                    self._end_after.setChecked(True)
            else:
                self._count.setValue(10)
            if not isinstance(end_day, date) and pattern.get("count") is None:
                self._end_never.setChecked(True)
            if policy is not None:
                self._policy.setCurrentIndex(max(self._policy.findData(policy), 0))
        finally:
            self._loading = False
        self._refresh()

    def first_local(self) -> datetime:
        edited = self._first_send.dateTime()
        d, t = edited.date(), edited.time()
        return datetime(d.year(), d.month(), d.day(), t.hour(), t.minute())  # noqa: DTZ001  (a wall-clock time, read in the chosen zone)

    def timezone(self) -> str:
        return self._timezone.currentText().strip()

    def recurrence(self) -> dict[str, Any] | None:
        """The pattern as the widgets say (docs/design.md §3 JSON), or None for a single send."""
        kind = self._repeat.currentData()
        if kind is None:
            return None
        pattern: dict[str, Any] = {"type": kind, "interval": self._interval.value()}
        if kind == "weekly":
            # An empty list is kept: the pattern refuses it with a message the user can act on.
            pattern["days_of_week"] = [i for i, box in enumerate(self._weekdays) if box.isChecked()]
        elif kind == "monthly":
            if self._monthly_by_weekday.isChecked():
                pattern["weekday"] = self._month_weekday.currentData()
                pattern["week_of_month"] = self._week_of_month.currentData()
            else:
                pattern["day_of_month"] = self._day_of_month.value()
                pattern["short_month"] = self._short_month.currentData()
        elif kind == "yearly":
            # 29 February in other years: the last day of February, or skip (RFC 5545).
            pattern["short_month"] = self._short_month.currentData()
        if self._end_on_date.isChecked():
            end = self._end_date.date()
            pattern["end_date"] = date(end.year(), end.month(), end.day()).isoformat()
        elif self._end_after.isChecked():
            pattern["count"] = self._count.value()
        if self._exdates:
            pattern["exdates"] = list(self._exdates)
        return pattern

    def policy(self) -> str:
        return str(self._policy.currentData())

    def result_values(self) -> ScheduleValues:
        return ScheduleValues(self.first_local(), self.timezone(), self.recurrence(), self.policy())

    def preview_sends(self) -> list[datetime]:
        """The sends the preview lists now (aware UTC)."""
        return self._preview_model.sends()

    def error_text(self) -> str:
        return self._error.text()

    def sentence(self) -> str:
        return self._sentence.text()

    # --- live check ----------------------------------------------------------------------

    @Slot()
    def _refresh(self) -> None:
        if self._loading:
            return
        self._show_rows()
        values = self.result_values()
        try:
            plan = self._ctx.campaigns.plan_schedule(
                first_local=values.first_local,
                timezone=values.timezone,
                recurrence=values.recurrence,
            )
        except ValidationError as exc:
            if not self._zone_settled and values.timezone not in self._known_zones:
                self._show_problem("")  # still typing the zone: OK waits, no red yet
                return
            self._show_problem(exc.message)
            return
        first = values.first_local
        if plan.pattern is None:
            sentence = describe_once(first, values.timezone)
        else:
            sentence = plan.pattern.describe(first, values.timezone)
        sends, skipped = _preview_sends(plan.pattern, first, values.timezone)
        self._preview_model.set_sends(sends, values.timezone, skipped)
        self._sentence.setText(sentence)
        self._error.clear()
        self._error.hide()
        self._ok_button.setEnabled(True)

    def _show_problem(self, message: str) -> None:
        self._preview_model.clear()
        self._sentence.clear()
        self._error.setText(message)
        self._error.setVisible(bool(message))
        self._ok_button.setEnabled(False)

    # --- following the user's typing -----------------------------------------------------

    @Slot()
    def _on_first_send_changed(self) -> None:
        self._follow_first_send(self.first_local().date())
        self._refresh()

    def _follow_first_send(self, first_day: date) -> None:
        """The end date can never be before the first send: a first send moved later
        pushes the end date along (QDateEdit moves a date below its new minimum up)."""
        self._end_date.setMinimumDate(QDate(first_day.year, first_day.month, first_day.day))

    @Slot(str)
    def _on_zone_typed(self, text: str) -> None:
        """A zone being typed shows no error: only once the user leaves the field, presses
        Enter or picks from the list, or pauses on text that starts no zone's name."""
        if self._loading:
            return
        typed = text.strip().lower()
        self._zone_settled = text.strip() in self._known_zones
        self._zone_pause.stop()
        if not self._zone_settled and not any(typed in zone for zone in self._zone_names):
            self._zone_pause.start()
        self._refresh()

    @Slot()
    def _on_zone_settled(self) -> None:
        self._zone_pause.stop()
        if not self._zone_settled:
            self._zone_settled = True
            self._refresh()

    def _show_rows(self) -> None:
        kind = self._repeat.currentData()
        repeating = kind is not None
        self._every_label.setVisible(repeating)
        self._every_row.setVisible(repeating)
        self._interval_unit.setText(_UNITS.get(str(kind), ""))
        self._days_label.setVisible(kind == "weekly")
        self._days_row.setVisible(kind == "weekly")
        self._monthly_label.setVisible(kind == "monthly")
        self._monthly_row.setVisible(kind == "monthly")
        self._ends_label.setVisible(repeating)
        self._ends_row.setVisible(repeating)
        self._end_date.setEnabled(self._end_on_date.isChecked())
        self._count.setEnabled(self._end_after.isChecked())
        by_day = self._monthly_by_day.isChecked()
        self._day_of_month.setEnabled(by_day)
        self._short_month.setEnabled(by_day)
        self._week_of_month.setEnabled(not by_day)
        self._month_weekday.setEnabled(not by_day)


def _preview_sends(
    pattern: RecurrencePattern | None, first: datetime, tz: str
) -> tuple[list[datetime], frozenset[datetime]]:
    """The first PREVIEW_COUNT sends of the rule, skipped ones included, and which are skipped."""
    if pattern is None or not pattern.exdates:
        return occurrences(pattern, first, tz, limit=PREVIEW_COUNT), frozenset()
    every = occurrences(dataclasses.replace(pattern, exdates=()), first, tz, limit=PREVIEW_COUNT)
    kept = occurrences(pattern, first, tz, limit=PREVIEW_COUNT)
    return every, frozenset(every) - frozenset(kept)
