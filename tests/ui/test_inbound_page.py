"""Settings ▸ Replies and bounces against a real Dovecot, the tray's words for a mailbox
check, Activity's bounced/unsubscribed counts after a real check, and the editor's preview
showing the unsubscribe address that is sent (issue 15)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from pytestqt.modeltest import ModelTester
from pytestqt.qtbot import QtBot
from sqlalchemy import select

from campaign_desktop.context import AppContext
from campaign_desktop.domain.events import MailboxChecked
from campaign_desktop.persistence.models import Setting
from campaign_desktop.services.credentials import SERVICE_NAME
from campaign_desktop.services.inbound import password_key
from campaign_desktop.ui.activity.activity_tab import ActivityTab
from campaign_desktop.ui.activity.run_models import DeliveryColumn, RunColumn
from campaign_desktop.ui.campaigns.campaign_editor import CampaignEditor
from campaign_desktop.ui.common.accessibility import unnamed_controls
from campaign_desktop.ui.common.bridge import EventBridge
from campaign_desktop.ui.contacts.contact_model import (
    ContactColumn,
    ContactFilter,
    ContactTableModel,
)
from campaign_desktop.ui.settings.inbound_page import ChooseUnsubscribeCsv, InboundPage
from campaign_desktop.ui.settings.settings_dialog import SettingsDialog
from campaign_desktop.ui.shell.notifications import Level, notification_for
from tests.imap_server import PASSWORD, USERNAME, DovecotServer
from tests.memory_keyring import MemoryKeyring
from tests.services import inbound_samples as samples
from tests.smtp_server import HOST, SmtpServer, running_smtp_server
from tests.ui.conftest import make_campaign
from tests.ui.test_settings_dialog import saved

pytestmark = pytest.mark.gui


@pytest.fixture
def dialog(gui_ctx: AppContext, qtbot: QtBot) -> SettingsDialog:
    widget = SettingsDialog(gui_ctx)
    qtbot.addWidget(widget)
    return widget


@pytest.fixture
def server(gui_ctx: AppContext) -> Iterator[SmtpServer]:
    with running_smtp_server() as running:
        gui_ctx.settings.set_smtp(host="127.0.0.1", port=running.port, security="none")
        yield running


def _fill_mailbox(dialog: SettingsDialog, port: int | str, password: str = PASSWORD) -> None:
    page = dialog.inbound_page
    page.host.setText(HOST)
    page.security.setCurrentIndex(page.security.findData("none"))
    page.port.setText(str(port))
    page.username.setText(USERNAME)
    page.password.setText(password)


def test_the_page_is_a_tab_of_settings_and_every_control_is_named(
    dialog: SettingsDialog,
) -> None:
    assert dialog.tabs.indexOf(dialog.inbound_page) >= 0
    assert unnamed_controls(dialog.inbound_page) == []
    assert dialog.inbound_page.processed.text() == "Processed by Campaign Desktop"
    assert dialog.inbound_page.folder.text() == "INBOX"


def test_test_connection_logs_in_to_dovecot_off_the_gui_thread(
    dialog: SettingsDialog, dovecot: DovecotServer, qtbot: QtBot
) -> None:
    _fill_mailbox(dialog, dovecot.port)
    page = dialog.inbound_page
    page.test_connection()
    assert page.busy  # the login happens on a pool thread
    assert page.result.text().startswith("Connecting to")
    qtbot.waitUntil(lambda: not page.busy, timeout=20_000)
    assert page.result.text().startswith("\N{CHECK MARK} Logged in")


def test_a_wrong_password_shows_the_servers_refusal(
    dialog: SettingsDialog, dovecot: DovecotServer, qtbot: QtBot
) -> None:
    _fill_mailbox(dialog, dovecot.port, password="wrong")
    dialog.inbound_page.test_connection()
    qtbot.waitUntil(lambda: not dialog.inbound_page.busy, timeout=20_000)
    assert "refused the username or password" in dialog.inbound_page.result.text()


def test_saving_keeps_the_password_in_the_keyring_only(
    dialog: SettingsDialog, gui_ctx: AppContext, memory_keyring: MemoryKeyring, qtbot: QtBot
) -> None:
    _fill_mailbox(dialog, 1143)
    dialog.inbound_page.minutes.setText("5")
    assert saved(dialog, qtbot)
    settings = gui_ctx.settings.all()
    assert (settings["inbound.host"], settings["inbound.port"]) == (HOST, 1143)
    assert settings["inbound.check_minutes"] == 5
    assert memory_keyring.get_password(SERVICE_NAME, password_key(USERNAME, HOST)) == PASSWORD
    with gui_ctx.db.read() as session:
        stored = " ".join(session.scalars(select(Setting.value)))
    assert PASSWORD not in stored


def test_a_bad_value_on_the_page_saves_nothing_and_shows_the_page(
    dialog: SettingsDialog, gui_ctx: AppContext, memory_keyring: MemoryKeyring, qtbot: QtBot
) -> None:
    before = gui_ctx.settings.all()
    _fill_mailbox(dialog, "not a port")
    dialog.inbound_page.page_url.setText("http://example.com/u")  # not https, no {token}
    dialog.per_minute.setValue(30)
    assert not saved(dialog, qtbot)
    assert dialog.tabs.currentWidget() is dialog.inbound_page
    assert not dialog.inbound_page._errors["inbound.port"].isHidden()
    assert "https://" in dialog.inbound_page._errors["inbound.unsubscribe_page_url"].text()
    assert gui_ctx.settings.all() == before
    assert memory_keyring.store == {}


def test_the_tray_tells_how_many_unsubscribes_and_bounces_were_processed() -> None:
    told = notification_for(MailboxChecked(bounced=1, unsubscribed=2, processed=3))
    assert told is not None
    assert told.text.startswith("2 unsubscribes and 1 bounce processed")
    assert notification_for(MailboxChecked(0, 0, 1)) is None  # only auto-replies: no noise
    failed = notification_for(MailboxChecked(0, 0, 0, error="The IMAP server refused."))
    assert failed is not None and failed.level == Level.WARNING


def test_activity_shows_bounced_and_unsubscribed_after_a_real_mailbox_check(
    gui_ctx: AppContext, server: SmtpServer, dovecot: DovecotServer, qtbot: QtBot
) -> None:
    gui_ctx.inbound.set_account(
        host=HOST, port=dovecot.port, security="none", username=USERNAME, password=PASSWORD
    )
    bridge = EventBridge(gui_ctx.events)
    tab = ActivityTab(gui_ctx, bridge)
    qtbot.addWidget(tab)
    campaign = make_campaign(gui_ctx)
    gui_ctx.campaigns.send_now(campaign.id)
    assert gui_ctx.sending.wait_idle(10)
    tab.reload()
    sent = {m.rcpt_tos[0]: m.content for m in server.handler.messages}
    dovecot.append(samples.exim_bounce(sent["ann@example.com"], "ann@example.com"))
    dovecot.append(samples.unsubscribe_request(sent["bob@example.com"], "bob@example.com"))

    gui_ctx.inbound.check_mailbox()

    model = tab.run_model
    qtbot.waitUntil(lambda: model.index(0, RunColumn.BOUNCED).data() == "1", timeout=10_000)
    assert model.index(0, RunColumn.UNSUBSCRIBED).data() == "1"
    tab.select_run(model.run_at(0).id)
    deliveries = tab.delivery_model
    qtbot.waitUntil(lambda: deliveries.rowCount() == 2, timeout=10_000)
    came_back = {
        deliveries.index(row, DeliveryColumn.EMAIL).data(): deliveries.index(
            row, DeliveryColumn.CAME_BACK
        ).data()
        for row in range(deliveries.rowCount())
    }
    assert came_back == {"ann@example.com": "Bounced", "bob@example.com": "Unsubscribed"}
    bridge.close()


def test_the_preview_shows_the_unsubscribe_address_that_is_sent(
    gui_ctx: AppContext, qtbot: QtBot
) -> None:
    gui_ctx.settings.set("inbound.unsubscribe_address", "leave@shop.example")
    editor = CampaignEditor(gui_ctx)
    qtbot.addWidget(editor)
    qtbot.waitUntil(editor.is_loaded)  # the settings, read on the pool
    editor._name.setText("Spring news")
    editor._subject.setText("Hi")
    editor._from_email.setText("news@example.com")
    editor._body_text.setPlainText("Bye: {{ unsubscribe_url }}")
    editor._check()
    assert "mailto:leave@shop.example?subject=Unsubscribe%20" in editor._preview.toPlainText()


def test_import_unsubscribes_reads_the_pages_csv(
    dialog: SettingsDialog,
    gui_ctx: AppContext,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    qtbot: QtBot,
) -> None:
    path = tmp_path / "export.csv"
    path.write_text("email\nann@example.com\nnobody@example.com\n", encoding="utf-8")
    monkeypatch.setattr(ChooseUnsubscribeCsv, "ask", classmethod(lambda cls, parent: path))
    page = dialog.inbound_page
    page.import_unsubscribes()
    assert page.importing  # the file and the database are read on a pool thread
    qtbot.waitUntil(lambda: not page.importing)
    assert page.import_result.text() == (
        "1 contact unsubscribed. 1 row skipped (row 3: nobody@example.com is not in your contacts.)"
    )
    found = gui_ctx.contacts.find("ann@example.com")
    assert found is not None and found.status == "unsubscribed"


def test_contacts_filter_by_bounced_and_show_when_and_why(
    gui_ctx: AppContext, server: SmtpServer, qtmodeltester: ModelTester
) -> None:
    campaign = make_campaign(gui_ctx)
    gui_ctx.campaigns.send_now(campaign.id)
    assert gui_ctx.sending.wait_idle(10)
    sent = {m.rcpt_tos[0]: m.content for m in server.handler.messages}
    gui_ctx.inbound.process_message(
        samples.gmail_style_dsn(sent["bob@example.com"], "bob@example.com")
    )

    model = ContactTableModel(gui_ctx.contacts)
    model.set_filter(ContactFilter(status="bounced"))
    qtmodeltester.check(model)  # type: ignore[no-untyped-call]  # pytest-qt leaves it untyped
    assert model.rowCount() == 1
    tip = model.index(0, ContactColumn.STATUS).data(Qt.ItemDataRole.ToolTipRole)
    assert tip.startswith("Mail to this address bounced (")
    assert "5.1.1 550-5.1.1 The email account that you tried to reach does not exist" in tip


def _save_mailbox(gui_ctx: AppContext, port: int, password: str) -> None:
    gui_ctx.inbound.set_account(
        host=HOST, port=port, security="none", username=USERNAME, password=password
    )


def _check_now(page: InboundPage, qtbot: QtBot) -> str:
    page.check_now()
    qtbot.waitUntil(lambda: not page.busy, timeout=20_000)
    assert page.busy_bar.isHidden() and page.cancel_button.isHidden()
    return page.result.text()


def test_check_now_uses_the_typed_password_even_when_the_saved_one_is_right(
    gui_ctx: AppContext, dovecot: DovecotServer, qtbot: QtBot
) -> None:
    _save_mailbox(gui_ctx, dovecot.port, PASSWORD)
    dialog = SettingsDialog(gui_ctx)
    qtbot.addWidget(dialog)
    page = dialog.inbound_page
    page.password.setText("wrong")

    page.check_now()
    assert page.busy  # on a pool thread, with the busy bar and Stop showing
    assert not page.busy_bar.isHidden() and not page.cancel_button.isHidden()
    assert page.result.text().startswith("Checking the mailbox on")
    qtbot.waitUntil(lambda: not page.busy, timeout=20_000)

    assert "refused the username or password" in page.result.text()


def test_check_now_tests_a_typed_account_without_saving_or_applying_anything(
    gui_ctx: AppContext,
    server: SmtpServer,
    dovecot: DovecotServer,
    memory_keyring: MemoryKeyring,
    qtbot: QtBot,
) -> None:
    _save_mailbox(gui_ctx, dovecot.port, "an old password")  # the saved one is wrong
    campaign = make_campaign(gui_ctx)
    gui_ctx.campaigns.send_now(campaign.id)
    assert gui_ctx.sending.wait_idle(10)
    sent = {m.rcpt_tos[0]: m.content for m in server.handler.messages}
    dovecot.append(samples.exim_bounce(sent["ann@example.com"], "ann@example.com"))
    settings_before, keyring_before = gui_ctx.settings.all(), dict(memory_keyring.store)
    dialog = SettingsDialog(gui_ctx)
    qtbot.addWidget(dialog)
    _fill_mailbox(dialog, dovecot.port)  # the right password, typed

    text = _check_now(dialog.inbound_page, qtbot)

    assert text.startswith(f"\N{CHECK MARK} Logged in to {HOST}:{dovecot.port}; “INBOX” holds 1")
    assert "not saved" in text
    assert gui_ctx.settings.all() == settings_before
    assert memory_keyring.store == keyring_before
    found = gui_ctx.contacts.find("ann@example.com")
    assert found is not None and found.status == "subscribed"  # not read from an unsaved box
    assert len(dovecot.folder_uids("INBOX")) == 1


def test_check_now_reads_and_processes_the_saved_mailbox(
    gui_ctx: AppContext, server: SmtpServer, dovecot: DovecotServer, qtbot: QtBot
) -> None:
    _save_mailbox(gui_ctx, dovecot.port, PASSWORD)
    campaign = make_campaign(gui_ctx)
    gui_ctx.campaigns.send_now(campaign.id)
    assert gui_ctx.sending.wait_idle(10)
    sent = {m.rcpt_tos[0]: m.content for m in server.handler.messages}
    dovecot.append(samples.exim_bounce(sent["ann@example.com"], "ann@example.com"))
    dialog = SettingsDialog(gui_ctx)
    qtbot.addWidget(dialog)

    text = _check_now(dialog.inbound_page, qtbot)  # the page shows the saved account

    assert text == (
        f"\N{CHECK MARK} Logged in to {HOST}:{dovecot.port}. Read 1 new message: "
        "1 contact bounced, 0 unsubscribed, 1 moved."
    )
    found = gui_ctx.contacts.find("ann@example.com")
    assert found is not None and found.status == "bounced"


@pytest.mark.parametrize(
    ("host", "security", "words"),
    [
        ("imap.nowhere.invalid", "none", "no server of that name was found"),
        (HOST, "ssl", "the secure connection could not be set up"),
    ],
)
def test_check_now_says_in_words_what_is_wrong_with_the_typed_server(
    dialog: SettingsDialog,
    dovecot: DovecotServer,
    qtbot: QtBot,
    host: str,
    security: str,
    words: str,
) -> None:
    _fill_mailbox(dialog, dovecot.port)  # nothing saved: only what is typed can be checked
    page = dialog.inbound_page
    page.host.setText(host)
    page.security.setCurrentIndex(page.security.findData(security))
    page.port.setText(str(dovecot.port))

    assert words in _check_now(page, qtbot)


def test_check_now_shows_a_bad_value_under_its_field_and_connects_nowhere(
    dialog: SettingsDialog, qtbot: QtBot
) -> None:
    _fill_mailbox(dialog, "not a port")
    dialog.inbound_page.check_now()
    assert not dialog.inbound_page.busy
    assert not dialog.inbound_page._errors["inbound.port"].isHidden()
    assert dialog.inbound_page.result.text() == "Fix the values above first."


def test_stop_ends_a_check_between_messages_and_the_next_check_reads_the_rest(
    gui_ctx: AppContext, server: SmtpServer, dovecot: DovecotServer, qtbot: QtBot
) -> None:
    _save_mailbox(gui_ctx, dovecot.port, PASSWORD)
    campaign = make_campaign(gui_ctx)
    gui_ctx.campaigns.send_now(campaign.id)
    assert gui_ctx.sending.wait_idle(10)
    sent = {m.rcpt_tos[0]: m.content for m in server.handler.messages}
    dovecot.append(samples.exim_bounce(sent["ann@example.com"], "ann@example.com"))
    dovecot.append(samples.unsubscribe_request(sent["bob@example.com"], "bob@example.com"))
    dialog = SettingsDialog(gui_ctx)
    qtbot.addWidget(dialog)
    page = dialog.inbound_page

    # A check already running (the scheduler's) holds the mailbox: Stop is pressed meanwhile.
    with gui_ctx.inbound._checking:
        page.check_now()
        qtbot.mouseClick(page.cancel_button, Qt.MouseButton.LeftButton)  # type: ignore[no-untyped-call]  # pytest-qt leaves mouseClick untyped
        assert page.result.text() == "Stopping after this message…"
    qtbot.waitUntil(lambda: not page.busy, timeout=20_000)

    assert "Read 0 new messages" in page.result.text()
    assert "Stopped before the end" in page.result.text()
    assert len(dovecot.folder_uids("INBOX")) == 2
    assert "1 contact bounced, 1 unsubscribed, 2 moved." in _check_now(page, qtbot)
