"""A date-time field that also takes a whole date-time typed in one go ("2027-03-28 09:30"),
beside QDateTimeEdit's own section-by-section editing, arrows and calendar pop-up.

QDateTimeEdit only edits one section at a time: with everything selected, typing a full
date-time loses the year and jumps sections at every separator (issue 17).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, time

from PySide6.QtCore import QCoreApplication, QDate, QDateTime, QEvent, Qt, QTime, QTimeZone
from PySide6.QtGui import QFocusEvent, QKeyEvent, QValidator
from PySide6.QtWidgets import QDateTimeEdit, QWidget

# What a marketer types: ISO ("2027-03-28 09:30", "2027-03-28T09:30", "2027/03/28 9:30") or
# the words the field shows ("Sun 28 Mar 2027 09:30", "28 Mar 2027 09:30").
_FORMATS = (
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M",
    "%Y/%m/%d %H:%M",
    "%d %b %Y %H:%M",
    "%a %d %b %Y %H:%M",
)
# A date alone keeps the time already set.
_DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%d %b %Y", "%a %d %b %Y")
# A time with two minute digits at the end: the typing is complete, take it at once.
_COMPLETE = re.compile(r"\d{1,2}:\d{2}$")
_PLAIN_KEYS = Qt.KeyboardModifier.ShiftModifier | Qt.KeyboardModifier.KeypadModifier
_LINE_KEYS = frozenset(
    {
        Qt.Key.Key_Backspace,
        Qt.Key.Key_Delete,
        Qt.Key.Key_Left,
        Qt.Key.Key_Right,
        Qt.Key.Key_Home,
        Qt.Key.Key_End,
    }
)


def parse_typed_date_time(text: str, time_of_day: time | None = None) -> datetime | None:
    """The naive wall-clock date-time `text` names in one of the accepted forms, or None.

    With `time_of_day`, a date alone ("2027-03-28") is taken at that time.
    """
    words = " ".join(text.replace(",", " ").split())
    forms = _FORMATS + (_DATE_FORMATS if time_of_day is not None else ())
    for form in forms:
        try:
            parsed = datetime.strptime(words, form)  # noqa: DTZ007  (a wall-clock time, read in the campaign's zone)
        except ValueError:
            continue
        if form in _DATE_FORMATS and time_of_day is not None:
            return datetime.combine(parsed.date(), time_of_day)
        return parsed
    return None


class TypedDateTimeEdit(QDateTimeEdit):
    """A UTC-clocked QDateTimeEdit (wall times kept exactly as typed) that also accepts a
    whole date-time typed over the selected text.

    Typing over the whole selection (or a digit over the selected day name, where Tab puts
    the cursor) starts free typing: the text is taken as typed and read
    with `parse_typed_date_time` once it ends in a complete time, or on Enter, Tab or
    leaving the field (a date alone keeps the time set before); text that names no
    date-time then puts the previous value back.
    Escape abandons free typing.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setTimeZone(QTimeZone.utc())
        self._typing = False

    @property
    def typing(self) -> bool:
        """Whether a whole date-time is being typed (not yet taken)."""
        return self._typing

    def validate(self, text: str, pos: int) -> tuple[QValidator.State, str, int]:
        if self._typing:
            state = (
                QValidator.State.Acceptable
                if parse_typed_date_time(text)
                else QValidator.State.Intermediate
            )
            return (state, text, pos)
        return super().validate(text, pos)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802  (a Qt override keeps Qt's name)
        line = self.lineEdit()
        key = event.key()
        printable = bool(event.text()) and event.text().isprintable()
        plain = not (event.modifiers() & ~_PLAIN_KEYS)
        everything_selected = line.hasSelectedText() and line.selectedText() == line.text()
        # A digit over the selected day name (what Tab into the field selects) can only be
        # the start of a date typed in full.
        over_day_name = (
            line.hasSelectedText() and line.selectionStart() == 0 and event.text().isdigit()
        )
        if printable and plain and (self._typing or everything_selected or over_day_name):
            if not self._typing:
                line.selectAll()
            self._typing = True
            self._edit_quietly(lambda: line.insert(event.text()))
            if _COMPLETE.search(line.text()):
                self._take_typed()
            return
        if self._typing and key in _LINE_KEYS:
            # Moving and deleting within the typed text, not from section to section.
            self._edit_quietly(lambda: QCoreApplication.sendEvent(line, event))
            return
        if self._typing and key == Qt.Key.Key_Escape:
            self._typing = False
            self._show_value()
            return
        if self._typing and key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self._take_typed()
        super().keyPressEvent(event)

    def event(self, event: QEvent) -> bool:
        # Tab and Backtab move the focus before keyPressEvent sees them: take the text first.
        if (
            self._typing
            and isinstance(event, QKeyEvent)
            and event.type() == QEvent.Type.KeyPress
            and event.key() in (Qt.Key.Key_Tab, Qt.Key.Key_Backtab)
        ):
            self._take_typed()
        return super().event(event)

    def focusOutEvent(self, event: QFocusEvent) -> None:  # noqa: N802  (a Qt override keeps Qt's name)
        if self._typing:
            self._take_typed()
        super().focusOutEvent(event)

    def _edit_quietly(self, edit: Callable[[], object]) -> None:
        # QDateTimeEdit reacts to every text and cursor change of its line edit by reading
        # the text section by section, which would throw the half-typed text away.
        line = self.lineEdit()
        line.blockSignals(True)
        try:
            edit()
        finally:
            line.blockSignals(False)

    def _show_value(self) -> None:
        """The value in the display format again (setting an unchanged value shows nothing)."""
        line = self.lineEdit()
        self._edit_quietly(lambda: line.setText(self.textFromDateTime(self.dateTime())))

    def _take_typed(self) -> None:
        shown = self.time()
        typed = parse_typed_date_time(self.lineEdit().text(), time(shown.hour(), shown.minute()))
        self._typing = False
        if typed is None:
            self._show_value()
            return
        self.setDateTime(
            QDateTime(
                QDate(typed.year, typed.month, typed.day),
                QTime(typed.hour, typed.minute),
                QTimeZone.utc(),
            )
        )
