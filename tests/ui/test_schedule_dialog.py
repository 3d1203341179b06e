"""The Schedule dialog: live validation through the service, the preview and the sentence."""

from __future__ import annotations

from datetime import datetime

import pytest
from PySide6.QtWidgets import QLabel
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


def test_end_date_before_first_send_disables_ok(dialog: ScheduleDialog) -> None:
    dialog.set_values(
        datetime(2027, 2, 1, 9, 0), "UTC", {"type": "daily", "end_date": "2027-01-20"}
    )
    assert not dialog._ok_button.isEnabled()
    assert "end date" in _error_label(dialog).text().lower()


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
