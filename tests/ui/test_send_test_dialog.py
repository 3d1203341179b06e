"""Send test…: a bad address shows inline; a good one reaches the server once, and the main
window's action starts it and the Activity tab lists the `test` run."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from campaign_desktop.context import AppContext
from campaign_desktop.ui.activity.run_models import RunColumn
from campaign_desktop.ui.campaigns.send_test_dialog import SendTestDialog, split_addresses
from campaign_desktop.ui.common.accessibility import unnamed_controls
from campaign_desktop.ui.settings.settings_dialog import SettingsDialog
from campaign_desktop.ui.shell.main_window import MainWindow
from tests.smtp_server import SmtpServer, running_smtp_server
from tests.ui.conftest import make_campaign

pytestmark = pytest.mark.gui


@pytest.fixture
def server(gui_ctx: AppContext) -> Iterator[SmtpServer]:
    with running_smtp_server() as running:
        gui_ctx.settings.set_smtp(host="127.0.0.1", port=running.port, security="none")
        yield running


def test_addresses_may_be_separated_by_commas_semicolons_or_spaces() -> None:
    assert split_addresses(" a@x.com, b@x.com;c@x.com\n d@x.com ") == [
        "a@x.com",
        "b@x.com",
        "c@x.com",
        "d@x.com",
    ]
    assert split_addresses(" , ") == []


def test_a_bad_address_shows_inline_and_sends_nothing(
    gui_ctx: AppContext, qtbot: QtBot, server: SmtpServer
) -> None:
    dialog = SendTestDialog(gui_ctx, make_campaign(gui_ctx))
    qtbot.addWidget(dialog)
    dialog.addresses.clear()
    assert not dialog.send_button.isEnabled()
    dialog.addresses.setText("me@agency.example, not-an-address")
    dialog.send_button.click()
    assert dialog.run is None
    assert dialog.result() != dialog.DialogCode.Accepted
    assert not dialog.error_label.isHidden()
    assert "not-an-address" in dialog.error_label.text()
    assert gui_ctx.runs.recent() == []
    dialog.addresses.setText("me@agency.example")
    assert dialog.error_label.isHidden()  # typing clears the complaint


def test_the_senders_address_is_filled_in_and_enter_sends(
    gui_ctx: AppContext, qtbot: QtBot, server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(SendTestDialog, "last_addresses", "")
    campaign = make_campaign(gui_ctx)
    dialog = SendTestDialog(gui_ctx, campaign)
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.addresses.text() == campaign.from_email
    dialog.addresses.setFocus()
    qtbot.keyClick(dialog.addresses, Qt.Key.Key_Return)  # type: ignore[no-untyped-call]
    assert dialog.result() == dialog.DialogCode.Accepted
    assert dialog.run is not None and dialog.run.trigger == "test"
    assert server.handler.wait_for(1, timeout=10)
    assert server.handler.messages[0].message["To"] == campaign.from_email


def test_a_good_address_gets_exactly_one_message(
    gui_ctx: AppContext, qtbot: QtBot, server: SmtpServer
) -> None:
    dialog = SendTestDialog(gui_ctx, make_campaign(gui_ctx))
    qtbot.addWidget(dialog)
    dialog.addresses.setText("me@agency.example")
    dialog.send_button.click()
    assert dialog.result() == dialog.DialogCode.Accepted
    assert dialog.run is not None and dialog.run.trigger == "test"
    assert server.handler.wait_for(1)
    assert gui_ctx.sending.wait_idle(10)
    (message,) = server.handler.messages
    assert message.rcpt_tos == ("me@agency.example",)
    assert message.message["Subject"].startswith("[TEST]")


def test_send_test_from_the_main_window_shows_in_the_activity_tab(
    gui_ctx: AppContext, qtbot: QtBot, server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    campaign = make_campaign(gui_ctx, "Spring news")
    window = MainWindow(gui_ctx)
    qtbot.addWidget(window)
    window.select_campaign(campaign.id)
    assert window.action_send_test.isEnabled()

    def fill_and_send(parent: Any, ctx: AppContext, chosen: Any) -> Any:
        dialog = SendTestDialog(ctx, chosen, parent)
        dialog.addresses.setText("me@agency.example")
        dialog.accept()
        return dialog.run

    monkeypatch.setattr(SendTestDialog, "ask", fill_and_send)
    window.action_send_test.trigger()
    assert server.handler.wait_for(1)
    model = window.activity_tab.run_model
    qtbot.waitUntil(
        lambda: model.rowCount() == 1 and model.index(0, RunColumn.STATUS).data() == "Completed"
    )
    assert model.index(0, RunColumn.TRIGGER).data() == "Test"
    assert model.index(0, RunColumn.CAMPAIGN).data() == "Spring news"
    assert "see the Activity tab" in window.statusBar().currentMessage()


def test_settings_action_is_in_the_file_menu_with_ctrl_comma(
    gui_ctx: AppContext, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    window = MainWindow(gui_ctx)
    qtbot.addWidget(window)
    assert window.action_settings in window.file_menu.actions()
    assert "Ctrl+," in [shortcut.toString() for shortcut in window.action_settings.shortcuts()]
    opened: list[AppContext] = []

    def save(_parent: object, ctx: AppContext) -> bool:
        opened.append(ctx)
        return True

    monkeypatch.setattr(SettingsDialog, "ask", save)
    window.action_settings.trigger()
    assert opened == [gui_ctx]
    assert window.statusBar().currentMessage() == "Settings saved."


def test_every_interactive_widget_is_named(gui_ctx: AppContext, qtbot: QtBot) -> None:
    dialog = SendTestDialog(gui_ctx, make_campaign(gui_ctx))
    qtbot.addWidget(dialog)
    assert unnamed_controls(dialog) == []
