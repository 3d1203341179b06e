"""The Schedule dialog's RRULE field and its skipped sends (docs/design.md §3, §12): a pasted
rule fills the repeat controls or says why it cannot; the preview strikes skipped sends
through and skips or restores one from its menu (through the service for a saved schedule).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QComboBox, QMenu, QRadioButton, QSpinBox
from pytestqt.qtbot import QtBot

from campaign_desktop.context import AppContext
from campaign_desktop.ui.schedule.schedule_dialog import PreviewColumn, ScheduleDialog
from tests.ui.conftest import make_campaign

pytestmark = [
    pytest.mark.gui,
    pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints"),
]

NY = "America/New_York"


@pytest.fixture
def dialog(gui_ctx: AppContext, qtbot: QtBot) -> ScheduleDialog:
    widget = ScheduleDialog(gui_ctx, make_campaign(gui_ctx))
    qtbot.addWidget(widget)
    widget.set_values(datetime(2027, 2, 1, 9, 0), NY, None)
    return widget


def _child(dialog: ScheduleDialog, kind: type[Any], name: str) -> Any:
    widget = dialog.findChild(kind, name)
    assert widget is not None, name
    return widget


def _checked_days(dialog: ScheduleDialog) -> list[int]:
    return [i for i in range(7) if _child(dialog, QCheckBox, f"weekday{i}").isChecked()]


def _trigger(menu: QMenu | None, text: str) -> None:
    assert menu is not None
    [action] = [a for a in menu.actions() if a.text().replace("&", "") == text]
    action.trigger()


def _struck(dialog: ScheduleDialog) -> list[bool]:
    model = dialog._preview_model
    fonts = [
        model.index(row, PreviewColumn.CAMPAIGN).data(Qt.ItemDataRole.FontRole)
        for row in range(model.rowCount())
    ]
    return [font is not None and font.strikeOut() for font in fonts]


# --- Paste RRULE -------------------------------------------------------------------------------


def test_a_pasted_weekly_rule_fills_the_repeat_controls(dialog: ScheduleDialog) -> None:
    assert dialog.paste_rrule("RRULE:FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,WE;COUNT=10")
    assert _child(dialog, QComboBox, "repeat").currentText() == "Weekly"
    assert _child(dialog, QSpinBox, "interval").value() == 2
    assert _checked_days(dialog) == [0, 2]
    assert _child(dialog, QRadioButton, "endAfter").isChecked()
    assert _child(dialog, QSpinBox, "endCount").value() == 10
    assert dialog.rrule_error() == ""
    assert dialog.sentence().startswith("Every 2 weeks on Monday and Wednesday at 09:00")
    assert dialog.result_values().recurrence == {
        "type": "weekly",
        "interval": 2,
        "days_of_week": [0, 2],
        "count": 10,
    }
    assert dialog._ok_button.isEnabled()


def test_a_pasted_monthly_last_friday_and_a_yearly_rule_fill_the_controls(
    dialog: ScheduleDialog,
) -> None:
    assert dialog.paste_rrule("FREQ=MONTHLY;BYDAY=-1FR;UNTIL=20271231")
    assert _child(dialog, QComboBox, "repeat").currentText() == "Monthly"
    assert _child(dialog, QRadioButton, "monthlyByWeekday").isChecked()
    assert _child(dialog, QComboBox, "weekOfMonth").currentText() == "last"
    assert _child(dialog, QComboBox, "monthWeekday").currentText() == "Friday"
    assert _child(dialog, QRadioButton, "endOnDate").isChecked()
    assert dialog.result_values().recurrence == {
        "type": "monthly",
        "interval": 1,
        "weekday": 4,
        "week_of_month": -1,
        "end_date": "2027-12-31",
    }
    assert dialog.paste_rrule("FREQ=YEARLY")
    assert _child(dialog, QComboBox, "repeat").currentText() == "Yearly"
    assert dialog.sentence().startswith("Every year on 1 February")


def test_a_rule_the_app_cannot_express_is_refused_with_the_reason_and_changes_nothing(
    dialog: ScheduleDialog,
) -> None:
    dialog.paste_rrule("FREQ=DAILY;COUNT=3")
    before = dialog.result_values()
    assert not dialog.paste_rrule("FREQ=HOURLY;INTERVAL=4")
    assert dialog.rrule_error() == (
        "Campaigns repeat daily, weekly, monthly or yearly; FREQ=HOURLY is not possible."
    )
    assert dialog.result_values() == before
    assert not dialog.paste_rrule("FREQ=WEEKLY;BYHOUR=9")
    assert "cannot repeat by" in dialog.rrule_error()
    assert dialog.paste_rrule("FREQ=WEEKLY")  # a good one clears the reason
    assert dialog.rrule_error() == ""


def test_enter_in_the_rrule_field_uses_the_rule_and_does_not_schedule(
    dialog: ScheduleDialog, qtbot: QtBot
) -> None:
    dialog.show()
    qtbot.waitExposed(dialog)
    field = dialog._rrule
    field.setFocus()
    field.setText("FREQ=DAILY;INTERVAL=3")
    qtbot.keyClick(field, Qt.Key.Key_Return)  # type: ignore[no-untyped-call]  # pytest-qt leaves it untyped
    assert dialog.isVisible() and dialog.result() == 0
    assert _child(dialog, QComboBox, "repeat").currentText() == "Daily"
    assert _child(dialog, QSpinBox, "interval").value() == 3


# --- skipped sends in the preview --------------------------------------------------------------


def test_skipping_a_send_of_an_unsaved_schedule_strikes_it_and_goes_into_the_pattern(
    dialog: ScheduleDialog,
) -> None:
    dialog.paste_rrule("FREQ=DAILY")
    second = datetime(2027, 2, 2, 14, 0, tzinfo=UTC)
    assert dialog.preview_sends()[1] == second
    _trigger(dialog.preview_menu(1), "Skip this send")
    assert _struck(dialog) == [False, True, False, False, False]
    assert dialog.preview_skipped() == [second]
    assert second not in dialog.preview_sends()
    assert dialog._preview_model.index(1, PreviewColumn.NOTE).data() == "Skipped"
    recurrence = dialog.result_values().recurrence
    assert recurrence is not None and recurrence["exdates"] == ["2027-02-02T09:00"]
    assert "skipping 2 February 2027" in dialog.sentence()

    _trigger(dialog.preview_menu(1), "Restore this send")
    assert _struck(dialog) == [False] * 5
    recurrence = dialog.result_values().recurrence
    assert recurrence is not None and "exdates" not in recurrence


def test_a_single_send_has_no_skip_in_the_preview(dialog: ScheduleDialog) -> None:
    assert dialog.preview_menu(0) is None


def test_skipping_from_the_preview_of_a_saved_schedule_saves_it_at_once(
    gui_ctx: AppContext, qtbot: QtBot
) -> None:
    campaign = make_campaign(gui_ctx)
    scheduled = gui_ctx.campaigns.schedule(
        campaign.id,
        first_local=datetime(2027, 1, 11, 9, 0),
        timezone=NY,
        recurrence={"type": "daily"},
    )
    dialog = ScheduleDialog(gui_ctx, scheduled)
    qtbot.addWidget(dialog)
    first = datetime(2027, 1, 11, 14, 0, tzinfo=UTC)
    assert dialog.preview_sends()[0] == first
    _trigger(dialog.preview_menu(0), "Skip this send")
    saved = gui_ctx.campaigns.get(campaign.id)
    assert saved.recurrence_pattern is not None
    assert saved.recurrence_pattern.to_dict()["exdates"] == ["2027-01-11T09:00"]
    assert saved.next_run_at == datetime(2027, 1, 12, 14, 0, tzinfo=UTC)
    assert dialog.preview_skipped() == [first]
    # Scheduling again from the dialog keeps the skip.
    recurrence = dialog.result_values().recurrence
    assert recurrence is not None and recurrence["exdates"] == ["2027-01-11T09:00"]

    _trigger(dialog.preview_menu(0), "Restore this send")
    restored = gui_ctx.campaigns.get(campaign.id)
    assert restored.recurrence_pattern is not None
    assert "exdates" not in restored.recurrence_pattern.to_dict()
    assert restored.next_run_at == first
