"""The Schedule dialog: live validation through the service, the preview and the sentence."""

from __future__ import annotations

from datetime import datetime

import pytest
from PySide6.QtCore import QDate, Qt
from PySide6.QtWidgets import QComboBox, QDateEdit, QDateTimeEdit, QLabel
from pytestqt.qtbot import QtBot

from campaign_desktop.context import AppContext
from campaign_desktop.ui.schedule.schedule_dialog import (
    PREVIEW_COUNT,
    PreviewColumn,
    ScheduleDialog,
)
from tests.ui.conftest import make_campaign

pytestmark = pytest.mark.gui


@pytest.fixture
def dialog(gui_ctx: AppContext, qtbot: QtBot) -> ScheduleDialog:
    widget = ScheduleDialog(gui_ctx, make_campaign(gui_ctx))
    qtbot.addWidget(widget)
    return widget


def _error_label(dialog: ScheduleDialog) -> QLabel:
    label = dialog.findChild(QLabel, "scheduleError")
    assert label is not None
    return label


def test_valid_weekly_schedule_enables_ok(dialog: ScheduleDialog) -> None:
    dialog.set_values(datetime(2027, 2, 1, 9, 0), "Europe/Paris", {"type": "weekly"})
    assert dialog._ok_button.isEnabled()
    assert _error_label(dialog).text() == ""
    values = dialog.result_values()
    assert values.first_local == datetime(2027, 2, 1, 9, 0)
    assert values.timezone == "Europe/Paris"
    assert values.recurrence == {"type": "weekly", "interval": 1, "days_of_week": [0]}
    assert values.policy == "send_late"


def test_first_send_in_the_past_disables_ok_with_the_reason(dialog: ScheduleDialog) -> None:
    dialog.set_values(datetime(2026, 12, 1, 9, 0), "America/New_York")
    assert not dialog._ok_button.isEnabled()
    assert "already passed" in _error_label(dialog).text()
    assert dialog.preview_sends() == []


def test_an_end_date_before_the_first_send_cannot_be_chosen(dialog: ScheduleDialog) -> None:
    dialog.set_values(
        datetime(2027, 2, 1, 9, 0), "UTC", {"type": "daily", "end_date": "2027-01-20"}
    )
    assert dialog.recurrence() == {"type": "daily", "interval": 1, "end_date": "2027-02-01"}
    end_date = dialog.findChild(QDateEdit, "endDate")
    assert end_date is not None
    end_date.setDate(QDate(2027, 1, 25))
    assert end_date.date() == QDate(2027, 2, 1)  # the first send's day at the earliest
    assert dialog._ok_button.isEnabled()


def test_the_end_date_starts_at_the_first_send_and_moves_along_with_it(
    dialog: ScheduleDialog,
) -> None:
    dialog.set_values(
        datetime(2027, 2, 1, 9, 0), "UTC", {"type": "daily", "end_date": "2027-02-10"}
    )
    end_date = dialog.findChild(QDateEdit, "endDate")
    first_send = dialog.findChild(QDateTimeEdit, "firstSend")
    assert end_date is not None and first_send is not None
    assert end_date.minimumDate() == QDate(2027, 2, 1)
    first_send.setDate(QDate(2027, 2, 20))  # later than the end date
    assert end_date.minimumDate() == QDate(2027, 2, 20)
    assert dialog.recurrence() == {"type": "daily", "interval": 1, "end_date": "2027-02-20"}
    assert dialog._ok_button.isEnabled()
    first_send.setDate(QDate(2027, 2, 5))  # earlier again: the end date stays where it is
    assert end_date.minimumDate() == QDate(2027, 2, 5)
    assert end_date.date() == QDate(2027, 2, 20)


@pytest.mark.parametrize(
    "typed", ["2027-03-28 09:30", "Sun 28 Mar 2027 09:30", "28 Mar 2027 9:30", "2027-03-28T09:30"]
)
def test_typing_a_whole_date_time_in_first_send_gives_that_date_time(
    dialog: ScheduleDialog, qtbot: QtBot, typed: str
) -> None:
    dialog.set_values(datetime(2027, 2, 1, 9, 0), "Europe/Paris")
    dialog.show()
    qtbot.waitExposed(dialog)
    first_send = dialog.findChild(QDateTimeEdit, "firstSend")
    assert first_send is not None
    first_send.setFocus()
    qtbot.keyClick(first_send, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)  # type: ignore[no-untyped-call]  # pytest-qt leaves it untyped
    qtbot.keyClicks(first_send, typed)  # type: ignore[no-untyped-call]  # pytest-qt leaves it untyped
    qtbot.keyClick(first_send, Qt.Key.Key_Tab)  # type: ignore[no-untyped-call]  # pytest-qt leaves it untyped
    assert dialog.first_local() == datetime(2027, 3, 28, 9, 30)
    assert "28 Mar 2027" in first_send.text()
    assert dialog._ok_button.isEnabled()


def test_tabbing_into_first_send_and_typing_a_whole_date_time_gives_it(
    dialog: ScheduleDialog, qtbot: QtBot
) -> None:
    dialog.set_values(datetime(2027, 2, 1, 9, 0), "Europe/Paris")
    dialog.show()
    qtbot.waitExposed(dialog)
    first_send = dialog.findChild(QDateTimeEdit, "firstSend")
    assert first_send is not None
    first_send.setFocus(Qt.FocusReason.TabFocusReason)  # selects the day name, as Tab does
    line = first_send.lineEdit()
    line.setSelection(0, 3)
    assert line.selectedText() == "Mon"
    qtbot.keyClicks(first_send, "2027-03-28 09:30")  # type: ignore[no-untyped-call]  # pytest-qt leaves it untyped
    assert dialog.first_local() == datetime(2027, 3, 28, 9, 30)


def test_typing_a_date_alone_keeps_the_time_of_day(dialog: ScheduleDialog, qtbot: QtBot) -> None:
    dialog.set_values(datetime(2027, 2, 1, 9, 15), "Europe/Paris")
    dialog.show()
    qtbot.waitExposed(dialog)
    first_send = dialog.findChild(QDateTimeEdit, "firstSend")
    assert first_send is not None
    first_send.setFocus()
    first_send.selectAll()
    qtbot.keyClicks(first_send, "2027-04-02")  # type: ignore[no-untyped-call]  # pytest-qt leaves it untyped
    qtbot.keyClick(first_send, Qt.Key.Key_Return)  # type: ignore[no-untyped-call]  # pytest-qt leaves it untyped
    assert dialog.first_local() == datetime(2027, 4, 2, 9, 15)


def test_a_date_time_being_typed_can_be_corrected_in_place(
    dialog: ScheduleDialog, qtbot: QtBot
) -> None:
    dialog.set_values(datetime(2027, 2, 1, 9, 0), "Europe/Paris")
    dialog.show()
    qtbot.waitExposed(dialog)
    first_send = dialog.findChild(QDateTimeEdit, "firstSend")
    assert first_send is not None
    first_send.selectAll()
    qtbot.keyClicks(first_send, "2027-03-29")  # type: ignore[no-untyped-call]  # pytest-qt leaves it untyped
    qtbot.keyClick(first_send, Qt.Key.Key_Backspace)  # type: ignore[no-untyped-call]  # pytest-qt leaves it untyped
    qtbot.keyClicks(first_send, "8 0930")  # type: ignore[no-untyped-call]  # pytest-qt leaves it untyped
    for _ in range(2):  # back before the minutes, to add the colon
        qtbot.keyClick(first_send, Qt.Key.Key_Left)  # type: ignore[no-untyped-call]  # pytest-qt leaves it untyped
    qtbot.keyClicks(first_send, ":")  # type: ignore[no-untyped-call]  # pytest-qt leaves it untyped
    qtbot.keyClick(first_send, Qt.Key.Key_Return)  # type: ignore[no-untyped-call]  # pytest-qt leaves it untyped
    assert dialog.first_local() == datetime(2027, 3, 28, 9, 30)


def test_typing_no_date_time_puts_the_first_send_back(dialog: ScheduleDialog, qtbot: QtBot) -> None:
    dialog.set_values(datetime(2027, 2, 1, 9, 0), "Europe/Paris")
    dialog.show()
    qtbot.waitExposed(dialog)
    first_send = dialog.findChild(QDateTimeEdit, "firstSend")
    assert first_send is not None
    first_send.setFocus()
    first_send.selectAll()
    qtbot.keyClicks(first_send, "next tuesday")  # type: ignore[no-untyped-call]  # pytest-qt leaves it untyped
    qtbot.keyClick(first_send, Qt.Key.Key_Tab)  # type: ignore[no-untyped-call]  # pytest-qt leaves it untyped
    assert dialog.first_local() == datetime(2027, 2, 1, 9, 0)
    assert "1 Feb 2027" in first_send.text()


# Typing in the zone field opens the completer's pop-up, which the offscreen platform
# cannot raise or give the keyboard to.
_POPUP_NOISE = pytest.mark.qt_log_ignore(
    "This plugin does not support propagateSizeHints",
    "This plugin does not support raise",
    "This plugin does not support grabbing the keyboard",
)


@_POPUP_NOISE
def test_the_timezone_shows_no_error_while_it_is_being_typed(
    dialog: ScheduleDialog, qtbot: QtBot
) -> None:
    dialog.set_values(datetime(2027, 2, 1, 9, 0), "UTC")
    dialog.show()
    qtbot.waitExposed(dialog)
    zone = dialog.findChild(QComboBox, "timezone")
    assert zone is not None
    line = zone.lineEdit()
    assert line is not None
    line.selectAll()
    for part in ("Eur", "ope/Pa"):
        qtbot.keyClicks(line, part)  # type: ignore[no-untyped-call]  # pytest-qt leaves it untyped
        assert _error_label(dialog).isHidden()  # a name still being typed
        assert not dialog._ok_button.isEnabled()
    qtbot.keyClicks(line, "ris")  # type: ignore[no-untyped-call]  # pytest-qt leaves it untyped
    assert dialog.timezone() == "Europe/Paris"
    assert dialog._ok_button.isEnabled()
    assert _error_label(dialog).isHidden()


@_POPUP_NOISE
def test_a_timezone_no_zone_starts_with_is_refused_after_a_pause_or_on_enter(
    dialog: ScheduleDialog, qtbot: QtBot
) -> None:
    dialog.set_values(datetime(2027, 2, 1, 9, 0), "UTC")
    dialog.show()
    qtbot.waitExposed(dialog)
    zone = dialog.findChild(QComboBox, "timezone")
    assert zone is not None
    line = zone.lineEdit()
    assert line is not None
    line.selectAll()
    qtbot.keyClicks(line, "Mars/Oly")  # type: ignore[no-untyped-call]  # pytest-qt leaves it untyped
    assert _error_label(dialog).isHidden()
    qtbot.waitUntil(lambda: not _error_label(dialog).isHidden())
    assert "not a timezone" in _error_label(dialog).text()

    line.selectAll()
    # A valid start: no error, however long the pause.
    qtbot.keyClicks(line, "Europe/Pa")  # type: ignore[no-untyped-call]  # pytest-qt leaves it untyped
    assert _error_label(dialog).isHidden()
    line.editingFinished.emit()  # what Enter or leaving the field does
    assert "not a timezone" in _error_label(dialog).text()
    assert not dialog._ok_button.isEnabled()


def test_weekly_with_no_days_disables_ok(dialog: ScheduleDialog, qtbot: QtBot) -> None:
    dialog.set_values(datetime(2027, 2, 1, 9, 0), "UTC", {"type": "weekly"})
    for box in dialog._weekdays:
        box.setChecked(False)
    assert not dialog._ok_button.isEnabled()
    assert _error_label(dialog).text() == "Pick at least one day of the week."
    dialog._weekdays[2].setChecked(True)
    assert dialog._ok_button.isEnabled()


def test_unknown_timezone_text_disables_ok(dialog: ScheduleDialog) -> None:
    dialog.set_values(datetime(2027, 2, 1, 9, 0), "Mars/Olympus")
    assert not dialog._ok_button.isEnabled()
    assert "not a timezone" in _error_label(dialog).text()


def test_preview_across_us_dst_change_marks_the_offset_change(dialog: ScheduleDialog) -> None:
    dialog.set_values(
        datetime(2027, 3, 1, 9, 0),
        "America/New_York",
        {"type": "weekly", "days_of_week": [0, 2]},
    )
    model = dialog._preview_model
    assert model.rowCount() == PREVIEW_COUNT
    campaign_times = [model.index(r, PreviewColumn.CAMPAIGN).data() for r in range(5)]
    assert campaign_times[0] == "Mon 01 Mar 2027 09:00 EST"
    assert campaign_times[4] == "Mon 15 Mar 2027 09:00 EDT"  # after the 14 March change
    notes = [model.index(r, PreviewColumn.NOTE).data() for r in range(5)]
    assert notes[:4] == ["", "", "", ""]
    assert "Clocks change" in notes[4]
    assert "UTC\N{MINUS SIGN}05:00" in notes[4]
    assert "UTC\N{MINUS SIGN}04:00" in notes[4]
    assert model.index(4, 0).data(model.OffsetChangedRole) is True
    assert dialog.sentence() == "Every week on Monday and Wednesday at 09:00 New York time"


def test_sentence_for_a_single_send_and_for_a_monthly_last_weekday(
    dialog: ScheduleDialog,
) -> None:
    dialog.set_values(datetime(2027, 1, 11, 9, 0), "America/New_York")
    assert dialog.sentence() == "Once on Monday 11 January 2027 at 09:00 New York time"
    dialog.set_values(
        datetime(2027, 1, 25, 9, 0),
        "America/New_York",
        {"type": "monthly", "weekday": 0, "week_of_month": -1, "count": 3},
    )
    assert dialog.sentence() == "Every month on the last Monday at 09:00 New York time, 3 times"
    assert len(dialog.preview_sends()) == 3
    assert dialog.result_values().recurrence == {
        "type": "monthly",
        "interval": 1,
        "weekday": 0,
        "week_of_month": -1,
        "count": 3,
    }
