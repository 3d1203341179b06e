"""The Settings dialog: inline validation that saves nothing on a bad value, the password to
the keyring only, the keyring and "Test connection" off the GUI thread, and the no-keyring
case."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from datetime import timedelta

import keyring
import pytest
from keyring.backends.fail import Keyring as FailKeyring
from pytestqt.qtbot import QtBot

from campaign_desktop.context import AppContext
from campaign_desktop.services.credentials import SERVICE_NAME, keyring_help
from campaign_desktop.ui.common.accessibility import unnamed_controls
from campaign_desktop.ui.settings.settings_dialog import SettingsDialog
from tests.memory_keyring import MemoryKeyring
from tests.services.test_retention import make_run
from tests.smtp_server import free_port, running_smtp_server
from tests.ui.conftest import NOW

pytestmark = pytest.mark.gui

SECRET = "S3cret-Pa55word!"


@pytest.fixture
def dialog(gui_ctx: AppContext, qtbot: QtBot) -> SettingsDialog:
    widget = SettingsDialog(gui_ctx)
    qtbot.addWidget(widget)
    return widget


def saved(dialog: SettingsDialog, qtbot: QtBot, *, close: bool = False) -> bool:
    """Press Save (`close`: as the button does, closing when stored; else `save()` alone)
    and wait for the pool to store; True when every value was stored."""
    with qtbot.waitSignal(dialog.saved, timeout=10_000) as blocker:
        if close:
            dialog.accept()
        else:
            dialog.save()
    assert blocker.args is not None  # the signal came
    return bool(blocker.args[0])


def _fill_server(dialog: SettingsDialog, port: int | str, security: str = "none") -> None:
    dialog.host.setText("127.0.0.1")
    dialog.security.setCurrentIndex(dialog.security.findData(security))
    dialog.port.setText(str(port))


def test_an_invalid_port_shows_inline_and_nothing_is_saved(
    dialog: SettingsDialog, gui_ctx: AppContext, memory_keyring: MemoryKeyring, qtbot: QtBot
) -> None:
    before = gui_ctx.settings.all()
    _fill_server(dialog, "70000")
    dialog.username.setText("ann")
    dialog.password.setText(SECRET)
    dialog.per_minute.setValue(30)
    assert not saved(dialog, qtbot, close=True)
    assert dialog.result() != dialog.DialogCode.Accepted
    error = dialog._errors["smtp.port"]
    assert not error.isHidden()
    assert error.text() == "The port must be between 1 and 65535."
    assert gui_ctx.settings.all() == before  # not even the valid values
    assert memory_keyring.store == {}


def test_a_bad_sender_address_shows_next_to_its_field(
    dialog: SettingsDialog, gui_ctx: AppContext, qtbot: QtBot
) -> None:
    dialog.from_email.setText("news at example")
    assert not saved(dialog, qtbot)
    assert "sender.from_email" in dialog.problems()[1]
    assert not dialog._errors["sender.from_email"].isHidden()
    assert gui_ctx.settings.get("sender.from_email") == ""


def test_saving_stores_the_values_and_the_password_goes_to_the_keyring(
    dialog: SettingsDialog,
    gui_ctx: AppContext,
    memory_keyring: MemoryKeyring,
    caplog: pytest.LogCaptureFixture,
    qtbot: QtBot,
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
    assert saved(dialog, qtbot, close=True)
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
    qtbot.waitUntil(lambda: "stored in the keyring" in dialog.password.placeholderText())
    dialog.from_name.setText("Shop")
    assert saved(dialog, qtbot)
    assert memory_keyring.store == {(SERVICE_NAME, "ann"): SECRET}
    dialog.username.setText("bob")  # a new user name takes the stored password along
    assert saved(dialog, qtbot)
    assert memory_keyring.store[(SERVICE_NAME, "bob")] == SECRET


class ThreadRecordingKeyring(MemoryKeyring):
    """The in-memory keyring, noting the thread of every call (a real one may block)."""

    def __init__(self) -> None:
        super().__init__()
        self.threads: list[threading.Thread] = []

    def get_password(self, service: str, username: str) -> str | None:
        self.threads.append(threading.current_thread())
        return super().get_password(service, username)

    def set_password(self, service: str, username: str, password: str) -> None:
        self.threads.append(threading.current_thread())
        super().set_password(service, username, password)


@pytest.fixture
def recording_keyring() -> Iterator[ThreadRecordingKeyring]:
    previous = keyring.get_keyring()
    backend = ThreadRecordingKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


def test_the_keyring_is_read_and_written_off_the_gui_thread(
    gui_ctx: AppContext, qtbot: QtBot, recording_keyring: ThreadRecordingKeyring
) -> None:
    gui_ctx.settings.set_smtp(
        host="smtp.example.com", port=587, security="starttls", username="ann", password=SECRET
    )
    recording_keyring.threads.clear()
    dialog = SettingsDialog(gui_ctx)
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: "stored in the keyring" in dialog.password.placeholderText())
    dialog.username.setText("bob")  # the stored password moves to the new user name
    assert saved(dialog, qtbot, close=True)
    assert recording_keyring.store[(SERVICE_NAME, "bob")] == SECRET
    assert gui_ctx.settings.get("smtp.username") == "bob"
    # Read at opening, read and written again by Save: never on the GUI thread.
    assert len(recording_keyring.threads) == 3
    assert threading.main_thread() not in recording_keyring.threads


def test_save_is_one_at_a_time_and_the_button_waits_for_the_store(
    dialog: SettingsDialog, gui_ctx: AppContext, qtbot: QtBot
) -> None:
    dialog.from_name.setText("The Shop")
    with qtbot.waitSignal(dialog.saved, timeout=10_000):
        dialog.save()
        assert dialog.saving and not dialog.save_button.isEnabled()
        dialog.save()  # a second press while storing starts nothing more
    assert not dialog.saving and dialog.save_button.isEnabled()
    assert gui_ctx.settings.get("sender.from_name") == "The Shop"


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
    qtbot.waitUntil(lambda: dialog.keyring_state is not None)
    assert dialog.password.placeholderText() == "cannot be stored: no keyring"
    assert dialog.keyring_label.isHidden()  # no warning before a password is typed
    _fill_server(dialog, 587, "starttls")
    dialog.username.setText("ann")
    dialog.password.setText(SECRET)
    assert dialog.keyring_label.text() == keyring_help()
    assert not dialog.keyring_label.isHidden()
    assert not saved(dialog, qtbot, close=True)
    assert dialog.result() != dialog.DialogCode.Accepted
    assert keyring_help() in dialog.keyring_label.text()
    assert gui_ctx.settings.get("smtp.host") == ""  # nothing saved without the password
    dialog.password.clear()
    assert saved(dialog, qtbot)  # without a password to store, the rest saves fine
    assert gui_ctx.settings.get("smtp.host") == "127.0.0.1"


def test_every_interactive_widget_is_named(dialog: SettingsDialog) -> None:
    assert unnamed_controls(dialog) == []


# --- sending: connections and retries ---------------------------------------------------------


def test_connections_retry_delay_and_attempts_round_trip(
    dialog: SettingsDialog, gui_ctx: AppContext, qtbot: QtBot
) -> None:
    # The declared defaults show first.
    assert (dialog.connections.value(), dialog.retry_after.value()) == (4, 60)
    assert dialog.max_attempts.value() == 5
    dialog.connections.setValue(8)
    dialog.retry_after.setValue(120)
    dialog.max_attempts.setValue(3)
    assert saved(dialog, qtbot)
    settings = gui_ctx.settings
    assert settings.get("sending.connections") == 8
    assert settings.get("sending.retry_base_seconds") == 120.0
    assert settings.get("sending.max_attempts") == 3
    again = SettingsDialog(gui_ctx)
    qtbot.addWidget(again)
    assert (again.connections.value(), again.retry_after.value()) == (8, 120)
    assert again.max_attempts.value() == 3
    assert again.retry_after.text() == "120 seconds"


@pytest.mark.parametrize("typed", ["0", "17", "-3"])
def test_connections_out_of_range_are_refused_inline_and_nothing_is_saved(
    dialog: SettingsDialog, gui_ctx: AppContext, qtbot: QtBot, typed: str
) -> None:
    error = dialog._errors["sending.connections"]
    dialog.from_name.setText("The Shop")
    dialog.connections.selectAll()
    qtbot.keyClicks(dialog.connections, typed)  # type: ignore[no-untyped-call]  # pytest-qt leaves it untyped
    # Kept as typed (a plain spin box would swallow 17 or quietly put 4 back) and refused
    # while typing, before Save.
    assert dialog.connections.value() == int(typed)
    assert not error.isHidden()
    assert error.text() == "Connections must be between 1 and 16."
    assert not saved(dialog, qtbot)
    assert gui_ctx.settings.get("sending.connections") == 4
    assert gui_ctx.settings.get("sender.from_name") == ""  # one bad value saves nothing
    dialog.connections.selectAll()
    qtbot.keyClicks(dialog.connections, "6")  # type: ignore[no-untyped-call]  # pytest-qt leaves it untyped
    assert error.isHidden()
    assert saved(dialog, qtbot)
    assert gui_ctx.settings.get("sending.connections") == 6


def test_connection_arrows_stay_within_1_and_16(dialog: SettingsDialog) -> None:
    dialog.connections.setValue(16)
    dialog.connections.stepUp()
    assert dialog.connections.value() == 16
    dialog.connections.setValue(1)
    dialog.connections.stepBy(-10)  # Page Down
    assert dialog.connections.value() == 1
    dialog.connections.setValue(17)  # typed in error: one step down is back in range
    dialog.connections.stepDown()
    assert dialog.connections.value() == 16


def test_attempts_out_of_range_are_refused_inline(
    dialog: SettingsDialog, gui_ctx: AppContext, qtbot: QtBot
) -> None:
    dialog.max_attempts.setValue(0)
    assert not saved(dialog, qtbot)
    assert dialog._errors["sending.max_attempts"].text() == "Attempts must be between 1 and 10."
    assert gui_ctx.settings.get("sending.max_attempts") == 5


def test_connections_have_a_one_line_explanation(dialog: SettingsDialog) -> None:
    assert dialog.connections_hint.text() == (
        "How many messages go to the mail server at once. More is faster; some providers "
        "allow only a few."
    )
    assert dialog.retry_after.specialValueText() == "At once"  # 0 s: retry straight away


def test_history_is_kept_forever_until_a_number_of_months_is_saved(
    dialog: SettingsDialog, gui_ctx: AppContext, qtbot: QtBot
) -> None:
    assert dialog.keep_months.value() == 0
    assert dialog.keep_months.text() == "Forever"
    assert "counts" in dialog.keep_months_hint.text()
    dialog.tabs.setCurrentWidget(dialog.database_page)
    assert dialog.keep_months.isVisibleTo(dialog)
    dialog.keep_months.setValue(18)
    assert saved(dialog, qtbot)
    assert gui_ctx.settings.snapshot().history_keep_months == 18
    reopened = SettingsDialog(gui_ctx)
    qtbot.addWidget(reopened)
    assert reopened.keep_months.value() == 18


def test_months_out_of_range_are_refused_inline_and_nothing_is_saved(
    dialog: SettingsDialog, gui_ctx: AppContext, qtbot: QtBot
) -> None:
    dialog.keep_months.lineEdit().setText("5000")
    dialog.keep_months.interpretText()
    error = dialog._errors["history.keep_months"]
    assert not error.isHidden()
    assert "between 0 and 1200" in error.text()
    dialog.tabs.setCurrentIndex(0)  # Save pressed while another tab shows
    assert not dialog.tabs.currentWidget().isAncestorOf(error)
    assert not saved(dialog, qtbot)
    assert gui_ctx.settings.get("history.keep_months") == 0
    assert dialog.tabs.currentWidget().isAncestorOf(error)  # the refusal is in view


def test_saving_a_shorter_history_removes_the_old_details_in_the_background(
    dialog: SettingsDialog, gui_ctx: AppContext, qtbot: QtBot
) -> None:
    old = make_run(gui_ctx, "completed", NOW - timedelta(days=800), {"sent": 3})
    recent = make_run(gui_ctx, "completed", NOW - timedelta(days=30), {"sent": 2})
    gui_ctx.scheduler.start()
    dialog.keep_months.setValue(12)
    assert saved(dialog, qtbot)
    qtbot.waitUntil(lambda: gui_ctx.runs.get(old).details_removed_at is not None, timeout=10_000)
    assert gui_ctx.runs.deliveries(old) == []
    assert gui_ctx.runs.get(old).total == 3
    assert len(gui_ctx.runs.deliveries(recent)) == 2
