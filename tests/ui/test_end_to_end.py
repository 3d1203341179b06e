"""End to end through the GUI: write a campaign in the editor, schedule it in the Schedule dialog,
and watch the real scheduler send it to a real SMTP server and the window show the result.

Timing: the Schedule dialog works in whole minutes, as a marketer does, so "a send 2 s from
now" is the next whole minute of the app's clock. The app's clock here is the system clock
shifted (it ticks in real time) so that minute is 3 s away; the real APScheduler thread's
reconcile pass (every 0.5 s) then fires the send by the app's clock. The date job's own
firing on the machine's clock is covered by tests/scheduling (`…received_within_a_second`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QDate, QDateTime, Qt, QTime, QTimeZone
from PySide6.QtGui import QStandardItemModel
from PySide6.QtWidgets import (
    QComboBox,
    QDateTimeEdit,
    QLineEdit,
    QListView,
    QPlainTextEdit,
    QPushButton,
)
from pytestqt.qtbot import QtBot

from campaign_desktop.context import AppContext
from campaign_desktop.domain.timezones import get_zone
from campaign_desktop.domain.views import CampaignView
from campaign_desktop.ui.activity.run_models import RunColumn
from campaign_desktop.ui.campaigns.campaign_editor import CampaignEditor, ListNameRole
from campaign_desktop.ui.campaigns.campaign_model import Column
from campaign_desktop.ui.schedule.schedule_dialog import ScheduleDialog, ScheduleValues
from campaign_desktop.ui.shell.main_window import MainWindow
from tests.smtp_server import SmtpServer, running_smtp_server

pytestmark = [
    pytest.mark.gui,
    pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints"),
]

TIMEZONE = "America/New_York"
LEAD = timedelta(seconds=3)
SEND_TIMEOUT_MS = 10_000


class ShiftedClock:
    """The system clock moved by a fixed offset: it ticks in real time, from another origin."""

    def __init__(self) -> None:
        self._offset = timedelta(0)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return datetime.now(UTC) + self._offset

    def monotonic(self) -> float:
        return time.monotonic()

    def put_next_minute(self, ahead: timedelta) -> datetime:
        """Shift so the next whole minute is `ahead` away; returns that minute (aware UTC)."""
        real = datetime.now(UTC)
        minute = real.replace(second=0, microsecond=0) + timedelta(minutes=1)
        with self._lock:
            self._offset = minute - ahead - real
        return minute


@pytest.fixture
def server() -> Iterator[SmtpServer]:
    with running_smtp_server() as running:
        yield running


@pytest.fixture
def clock() -> ShiftedClock:
    return ShiftedClock()


@pytest.fixture
def ctx(data_dir: Path, server: SmtpServer, clock: ShiftedClock) -> Iterator[AppContext]:
    context = AppContext.open(data_dir, clock=clock, reconcile_seconds=0.5)
    context.settings.set_smtp(host="127.0.0.1", port=server.port, security="none")
    context.contacts.add("ann@example.com", first_name="Ann", lists=("Customers",))
    yield context
    context.close()


def _write_campaign_in_the_editor(qtbot: QtBot, editor: CampaignEditor) -> CampaignView:
    """Fill the real editor's widgets as a user would, and press Save."""
    qtbot.addWidget(editor)
    editor.show()
    qtbot.waitUntil(editor.is_loaded)  # the lists and settings, read on the pool
    for name, text in (
        ("name", "Spring news"),
        ("subject", "Hello {{ first_name }}"),
        ("fromName", "Shop"),
        ("fromEmail", "news@example.com"),
    ):
        line = editor.findChild(QLineEdit, name)
        assert line is not None, name
        line.setText(text)
    body = editor.findChild(QPlainTextEdit, "bodyText")
    assert body is not None
    body.setPlainText("Hi {{ first_name }}, spring is here.")
    lists = editor.findChild(QListView, "lists")
    assert lists is not None
    model = lists.model()
    assert isinstance(model, QStandardItemModel)
    for row in range(model.rowCount()):
        if model.item(row).data(ListNameRole) == "Customers":
            model.item(row).setCheckState(Qt.CheckState.Checked)
    qtbot.waitUntil(editor.save_button.isEnabled)  # the live check runs after a short pause
    qtbot.mouseClick(editor.save_button, Qt.MouseButton.LeftButton)  # type: ignore[no-untyped-call]  # pytest-qt leaves mouseClick untyped
    qtbot.waitUntil(lambda: editor.saved is not None)  # saved on the pool
    assert editor.saved is not None
    return editor.saved


def _schedule_in_the_dialog(
    qtbot: QtBot, dialog: ScheduleDialog, first_send: datetime
) -> ScheduleValues | None:
    """Set the real dialog's widgets to a single send at `first_send` and press Schedule."""
    qtbot.addWidget(dialog)
    dialog.show()
    timezone = dialog.findChild(QComboBox, "timezone")
    assert timezone is not None
    timezone.setCurrentText(TIMEZONE)
    repeat = dialog.findChild(QComboBox, "repeat")
    assert repeat is not None
    repeat.setCurrentIndex(0)  # Does not repeat
    wall = first_send.astimezone(get_zone(TIMEZONE))
    editor = dialog.findChild(QDateTimeEdit, "firstSend")
    assert editor is not None
    editor.setDateTime(
        QDateTime(
            QDate(wall.year, wall.month, wall.day),
            QTime(wall.hour, wall.minute),
            QTimeZone.utc(),  # the editor keeps the wall time as typed (see the dialog)
        )
    )
    ok = dialog.findChild(QPushButton, "scheduleOk")
    assert dialog.error_text() == "", dialog.error_text()
    assert ok is not None and ok.isEnabled()
    qtbot.mouseClick(ok, Qt.MouseButton.LeftButton)  # type: ignore[no-untyped-call]  # pytest-qt leaves mouseClick untyped
    assert dialog.result() == ScheduleDialog.DialogCode.Accepted
    return dialog.result_values()


def test_campaign_written_and_scheduled_in_the_gui_is_sent_and_shown(
    ctx: AppContext,
    server: SmtpServer,
    clock: ShiftedClock,
    qtbot: QtBot,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    window = MainWindow(ctx)
    qtbot.addWidget(window)
    window.show()

    def write(parent: Any, app: AppContext, campaign: CampaignView | None = None) -> Any:
        return _write_campaign_in_the_editor(qtbot, CampaignEditor(app, campaign, parent))

    monkeypatch.setattr(CampaignEditor, "ask", write)
    window.action_new.trigger()
    (campaign,) = window.campaign_model.campaigns()
    assert (campaign.name, campaign.status) == ("Spring news", "draft")
    assert window.selected_campaign() == campaign

    first_send = clock.put_next_minute(LEAD)

    def schedule(parent: Any, app: AppContext, chosen: CampaignView) -> Any:
        return _schedule_in_the_dialog(qtbot, ScheduleDialog(app, chosen, parent), first_send)

    monkeypatch.setattr(ScheduleDialog, "ask", schedule)
    window.action_schedule.trigger()
    row = window.campaign_model.row_of(campaign.id)
    assert row is not None
    assert window.campaign_model.index(row, Column.STATUS).data() == "Scheduled"
    assert ctx.campaigns.get(campaign.id).next_run_at == first_send

    ctx.scheduler.start()

    def row_shows_sent() -> bool:
        model = window.campaign_model
        status, result = (model.index(row, c).data() for c in (Column.STATUS, Column.LAST_RESULT))
        return (status, result) == ("Completed", "1 sent")

    qtbot.waitUntil(row_shows_sent, timeout=SEND_TIMEOUT_MS)
    assert [m.rcpt_tos for m in server.handler.messages] == [("ann@example.com",)]
    assert server.handler.messages[0].message["Subject"] == "Hello Ann"

    runs = window.activity_tab.run_model
    qtbot.waitUntil(lambda: runs.rowCount() == 1)
    qtbot.waitUntil(lambda: runs.index(0, RunColumn.STATUS).data() == "Completed")
    assert runs.index(0, RunColumn.CAMPAIGN).data() == "Spring news"
    assert runs.index(0, RunColumn.SENT).data() == "1"
