"""The Settings dialog: inline validation that saves nothing on a bad value, the password to
the keyring only, "Test connection" off the GUI thread, and the no-keyring case."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import keyring
import pytest
from keyring.backends.fail import Keyring as FailKeyring
from pytestqt.qtbot import QtBot

from campaign_desktop.context import AppContext
from campaign_desktop.services.credentials import SERVICE_NAME, keyring_help
from campaign_desktop.ui.accessibility import unnamed_controls
from campaign_desktop.ui.settings_dialog import SettingsDialog
from tests.memory_keyring import MemoryKeyring
from tests.smtp_server import free_port, running_smtp_server

pytestmark = pytest.mark.gui

SECRET = "S3cret-Pa55word!"


@pytest.fixture
def dialog(gui_ctx: AppContext, qtbot: QtBot) -> SettingsDialog:
    widget = SettingsDialog(gui_ctx)
    qtbot.addWidget(widget)
    return widget


def _fill_server(dialog: SettingsDialog, port: int | str, security: str = "none") -> None:
    dialog.host.setText("127.0.0.1")
    dialog.security.setCurrentIndex(dialog.security.findData(security))
    dialog.port.setText(str(port))


def test_an_invalid_port_shows_inline_and_nothing_is_saved(
    dialog: SettingsDialog, gui_ctx: AppContext, memory_keyring: MemoryKeyring
) -> None:
    before = gui_ctx.settings.all()
    _fill_server(dialog, "70000")
    dialog.username.setText("ann")
    dialog.password.setText(SECRET)
    dialog.per_minute.setValue(30)
    dialog.accept()
    assert dialog.result() != dialog.DialogCode.Accepted
    error = dialog._errors["smtp.port"]
    assert not error.isHidden()
    assert error.text() == "The port must be between 1 and 65535."
    assert gui_ctx.settings.all() == before  # not even the valid values
    assert memory_keyring.store == {}


def test_a_bad_sender_address_shows_next_to_its_field(
    dialog: SettingsDialog, gui_ctx: AppContext
) -> None:
    dialog.from_email.setText("news at example")
    assert not dialog.save()
    assert "sender.from_email" in dialog.problems()[1]
    assert not dialog._errors["sender.from_email"].isHidden()
    assert gui_ctx.settings.get("sender.from_email") == ""


def test_saving_stores_the_values_and_the_password_goes_to_the_keyring(
    dialog: SettingsDialog,
    gui_ctx: AppContext,
    memory_keyring: MemoryKeyring,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    _fill_server(dialog, 2525)
    dialog.username.setText("ann")
    dialog.password.setText(SECRET)
    dialog.from_name.setText("The Shop")
    dialog.from_email.setText("news@shop.example")
    dialog.per_minute.setValue(30)
    dialog.grace.setValue(6)
    dialog.close_to_tray.setChecked(False)
    dialog.accept()
    assert dialog.result() == dialog.DialogCode.Accepted
    settings = gui_ctx.settings
    assert (settings.get("smtp.host"), settings.get("smtp.port")) == ("127.0.0.1", 2525)
    assert (settings.get("smtp.security"), settings.get("smtp.username")) == ("none", "ann")
    assert settings.get("sender.from_name") == "The Shop"
    assert settings.get("sender.from_email") == "news@shop.example"
    assert settings.get("throttle.per_minute") == 30
    assert settings.get("schedule.grace_hours") == 6.0
    assert settings.get("ui.close_to_tray") is False
    assert memory_keyring.store == {(SERVICE_NAME, "ann"): SECRET}
    assert SECRET not in caplog.text
    assert SECRET not in repr(settings.all())


def test_an_empty_password_keeps_the_stored_one(
    gui_ctx: AppContext, qtbot: QtBot, memory_keyring: MemoryKeyring
) -> None:
    gui_ctx.settings.set_smtp(
        host="smtp.example.com", port=587, security="starttls", username="ann", password=SECRET
    )
    dialog = SettingsDialog(gui_ctx)
    qtbot.addWidget(dialog)
    assert "stored in the keyring" in dialog.password.placeholderText()
    dialog.from_name.setText("Shop")
    assert dialog.save()
    assert memory_keyring.store == {(SERVICE_NAME, "ann"): SECRET}
    dialog.username.setText("bob")  # a new user name takes the stored password along
    assert dialog.save()
    assert memory_keyring.store[(SERVICE_NAME, "bob")] == SECRET


def test_changing_security_suggests_its_usual_port(dialog: SettingsDialog) -> None:
    dialog.security.setCurrentIndex(dialog.security.findData("ssl"))
    assert dialog.port.text() == "465"
    dialog.security.setCurrentIndex(dialog.security.findData("starttls"))
    assert dialog.port.text() == "587"
    dialog.port.setText("2525")
    dialog.security.setCurrentIndex(dialog.security.findData("ssl"))
    assert dialog.port.text() == "2525"  # a port the user chose is kept…
    assert "usually listen on port 465" in dialog.port_hint.text()  # …with a hint


def test_test_connection_reaches_the_local_server_without_blocking(
    dialog: SettingsDialog, qtbot: QtBot
) -> None:
    with running_smtp_server() as server:
        _fill_server(dialog, server.port)
        dialog.test_button.click()
        # The click returned before the check finished: the GUI thread was not blocked.
        assert dialog.testing
        assert dialog.test_result.text().startswith("Connecting to 127.0.0.1")
        assert not dialog.test_button.isEnabled()
        qtbot.waitUntil(lambda: not dialog.testing, timeout=20_000)
    assert dialog.test_result.text().startswith("\N{CHECK MARK} Connected to 127.0.0.1")
    assert dialog.test_button.isEnabled()


def test_test_connection_to_a_closed_port_shows_the_error(
    dialog: SettingsDialog, gui_ctx: AppContext, qtbot: QtBot
) -> None:
    _fill_server(dialog, free_port())
    dialog.test_button.click()
    assert dialog.testing
    qtbot.waitUntil(lambda: not dialog.testing, timeout=20_000)
    assert dialog.test_result.text().startswith("\N{CROSS MARK}")
    assert not dialog.test_result.isHidden()
    assert gui_ctx.settings.get("smtp.host") == ""  # testing saves nothing


def test_test_connection_with_a_bad_port_says_so_at_once(dialog: SettingsDialog) -> None:
    _fill_server(dialog, "abc")
    dialog.test_button.click()
    assert not dialog.testing
    assert dialog._errors["smtp.port"].text() == "The port must be a whole number."


@pytest.fixture
def no_keyring() -> Iterator[None]:
    previous = keyring.get_keyring()
    keyring.set_keyring(FailKeyring())  # type: ignore[no-untyped-call]  # keyring is untyped
    yield
    keyring.set_keyring(previous)


@pytest.mark.usefixtures("no_keyring")
def test_without_a_keyring_the_dialog_says_what_to_install_and_stays_open(
    gui_ctx: AppContext, qtbot: QtBot
) -> None:
    dialog = SettingsDialog(gui_ctx)
    qtbot.addWidget(dialog)
    assert not dialog.keyring_label.isHidden()
    assert dialog.keyring_label.text() == keyring_help()
    _fill_server(dialog, 587, "starttls")
    dialog.username.setText("ann")
    dialog.password.setText(SECRET)
    dialog.accept()
    assert dialog.result() != dialog.DialogCode.Accepted
    assert keyring_help() in dialog.keyring_label.text()
    assert gui_ctx.settings.get("smtp.host") == ""  # nothing saved without the password
    dialog.password.clear()
    assert dialog.save()  # without a password to store, the rest saves fine
    assert gui_ctx.settings.get("smtp.host") == "127.0.0.1"


def test_every_interactive_widget_is_named(dialog: SettingsDialog) -> None:
    assert unnamed_controls(dialog) == []
