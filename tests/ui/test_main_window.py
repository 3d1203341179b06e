"""The main window's campaign actions, with the dialogs replaced through their ask()."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from campaign_desktop.context import AppContext
from campaign_desktop.domain.clock import ManualClock
from campaign_desktop.domain.events import RunEvent, RunPhase
from campaign_desktop.ui.campaigns.campaign_editor import CampaignEditor
from campaign_desktop.ui.campaigns.campaign_model import Column
from campaign_desktop.ui.common.prompts import ArchiveReason, Confirm, ErrorMessage
from campaign_desktop.ui.contacts.contact_model import ContactColumn
from campaign_desktop.ui.settings.inbound_page import ChooseUnsubscribeCsv
from campaign_desktop.ui.settings.settings_dialog import SettingsDialog
from campaign_desktop.ui.shell.main_window import MainWindow
from tests.imap_server import PASSWORD, USERNAME, DovecotServer
from tests.services import inbound_samples as samples
from tests.smtp_server import HOST, running_smtp_server
from tests.storage_faults import lock_held_elsewhere
from tests.ui.conftest import NOW, make_campaign

pytestmark = [
    pytest.mark.gui,
    pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints"),
]


@pytest.fixture
def window(gui_ctx: AppContext, qtbot: QtBot) -> MainWindow:
    widget = MainWindow(gui_ctx)
    qtbot.addWidget(widget)
    return widget


def _names(window: MainWindow) -> list[str]:
    return sorted(view.name for view in window.campaign_model.campaigns())


def test_empty_state_then_new_campaign_through_the_editor(
    window: MainWindow, gui_ctx: AppContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert window.campaign_stack.currentWidget() is window.empty_label

    def create(*_args: Any) -> Any:
        return make_campaign(gui_ctx, "Brand new")

    monkeypatch.setattr(CampaignEditor, "ask", create)
    window.action_new.trigger()
    assert _names(window) == ["Brand new"]
    assert window.campaign_stack.currentWidget() is window.campaign_view
    assert window.selected_campaign() is not None


def test_duplicate_offers_to_schedule_the_copy(
    window: MainWindow, gui_ctx: AppContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = make_campaign(gui_ctx, "Spring news")
    window.reload()
    window.select_campaign(source.id)
    offered: list[str] = []

    def decline(*args: Any) -> bool:
        offered.append(args[2])
        return False

    monkeypatch.setattr(Confirm, "ask", decline)
    window.action_duplicate.trigger()
    assert _names(window) == ["Spring news", "Spring news (copy)"]
    assert "Spring news (copy)" in offered[0]


def test_ctrl_d_duplicates_the_selected_row(
    window: MainWindow, gui_ctx: AppContext, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = make_campaign(gui_ctx, "Weekly")
    window.reload()
    window.show()
    qtbot.waitExposed(window)
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)  # window shortcuts need the active window
    window.campaign_view.setFocus()
    window.select_campaign(source.id)
    monkeypatch.setattr(Confirm, "ask", lambda *args: False)
    qtbot.keyClick(  # type: ignore[no-untyped-call]  # pytest-qt leaves keyClick untyped
        window.campaign_view, Qt.Key.Key_D, Qt.KeyboardModifier.ControlModifier
    )
    qtbot.waitUntil(lambda: len(_names(window)) == 2)
    assert _names(window) == ["Weekly", "Weekly (copy)"]


def test_archive_with_reason_then_restore_as_draft(
    window: MainWindow, gui_ctx: AppContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    campaign = make_campaign(gui_ctx, "Old promo")
    gui_ctx.campaigns.schedule(campaign.id, first_local=datetime(2027, 2, 1, 9, 0), timezone="UTC")
    window.reload()
    window.select_campaign(campaign.id)
    monkeypatch.setattr(ArchiveReason, "ask", lambda *args, **kwargs: "Season over")
    window.action_archive.trigger()
    assert _names(window) == []
    archived = window.archive_model.campaigns()
    assert [(c.name, c.archive_reason) for c in archived] == [("Old promo", "Season over")]
    assert window.archive_model.index(0, 2).data() == "Season over"

    window.tabs.setCurrentIndex(1)
    window.archive_view.selectRow(0)
    window.action_restore.trigger()
    assert window.archive_model.rowCount() == 0
    assert [(c.name, c.status) for c in window.campaign_model.campaigns()] == [
        ("Old promo", "draft")
    ]
    assert "comes back as a draft" in window.statusBar().currentMessage()


def test_delete_for_good_asks_first(
    window: MainWindow, gui_ctx: AppContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    campaign = make_campaign(gui_ctx, "Gone")
    gui_ctx.campaigns.archive(campaign.id)
    window.reload()
    window.tabs.setCurrentIndex(1)
    window.archive_view.selectRow(0)
    monkeypatch.setattr(Confirm, "ask", lambda *args: True)
    window.action_delete.trigger()
    assert window.archive_model.rowCount() == 0
    assert gui_ctx.campaigns.list_archived() == []


@pytest.fixture
def impatient_ctx(tmp_path: Path) -> Iterator[AppContext]:
    """A context whose writes give up after 0.2 s when another program holds the database."""
    context = AppContext.open(tmp_path / "data", clock=ManualClock(NOW), busy_timeout=0.2)
    context.contacts.add("ann@example.com", first_name="Ann", lists=("Customers",))
    yield context
    context.close()


@pytest.fixture
def errors_shown(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    shown: list[tuple[str, str]] = []
    monkeypatch.setattr(
        ErrorMessage, "show", lambda _parent, title, text: shown.append((title, text))
    )
    return shown


def test_a_refused_delete_for_good_leaves_the_archive_row(
    impatient_ctx: AppContext,
    qtbot: QtBot,
    monkeypatch: pytest.MonkeyPatch,
    errors_shown: list[tuple[str, str]],
) -> None:
    # The service returns nothing either way: only the outcome tells a refusal from a delete.
    campaign = make_campaign(impatient_ctx, "Kept")
    impatient_ctx.campaigns.archive(campaign.id)
    window = MainWindow(impatient_ctx)
    qtbot.addWidget(window)
    window.tabs.setCurrentIndex(1)
    window.archive_view.selectRow(0)
    monkeypatch.setattr(Confirm, "ask", lambda *args: True)
    with lock_held_elsewhere(impatient_ctx.db.path):
        window.action_delete.trigger()
    assert [title for title, _text in errors_shown] == ["Delete"]
    assert [c.name for c in window.archive_model.campaigns()] == ["Kept"]
    assert [c.name for c in impatient_ctx.campaigns.list_archived()] == ["Kept"]
    assert errors_shown[0][1] in window.statusBar().currentMessage()


def test_a_refused_archive_leaves_the_campaign_where_it_was(
    impatient_ctx: AppContext,
    qtbot: QtBot,
    monkeypatch: pytest.MonkeyPatch,
    errors_shown: list[tuple[str, str]],
) -> None:
    campaign = make_campaign(impatient_ctx, "Still here")
    window = MainWindow(impatient_ctx)
    qtbot.addWidget(window)
    window.select_campaign(campaign.id)
    monkeypatch.setattr(ArchiveReason, "ask", lambda *args, **kwargs: "")
    with lock_held_elsewhere(impatient_ctx.db.path):
        window.action_archive.trigger()
    assert [title for title, _text in errors_shown] == ["Archive"]
    assert _names(window) == ["Still here"]
    assert window.archive_model.rowCount() == 0
    assert not impatient_ctx.campaigns.get(campaign.id).archived


def test_a_refused_send_now_starts_nothing_and_says_why(
    window: MainWindow,
    gui_ctx: AppContext,
    monkeypatch: pytest.MonkeyPatch,
    errors_shown: list[tuple[str, str]],
) -> None:
    campaign = gui_ctx.campaigns.create(
        name="No audience", subject="Hi", body_text="Hello", from_email="news@example.com"
    )
    window.reload()
    window.select_campaign(campaign.id)
    monkeypatch.setattr(Confirm, "ask", lambda *args: True)
    window.action_send_now.trigger()
    assert errors_shown == [("Send now", "Choose at least one contact list or segment to send to.")]
    assert (
        window.statusBar().currentMessage()
        == "Choose at least one contact list or segment to send to."
    )
    assert gui_ctx.runs.recent() == []


def test_interactive_widgets_have_object_and_accessible_names(window: MainWindow) -> None:
    for widget in (window.search, window.status_filter, window.campaign_view, window.archive_view):
        assert widget.objectName()
        assert widget.accessibleName()


def test_contacts_change_recounts_audiences_without_reading_every_campaign(
    window: MainWindow, gui_ctx: AppContext, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_campaign(gui_ctx, "Spring news")
    window.reload()
    model = window.campaign_model
    qtbot.waitUntil(lambda: model.index(0, Column.AUDIENCE).data() == "2")
    gui_ctx.contacts.add("cy@example.com", lists=("Customers",))

    def no_full_read(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError("the whole campaign list was read on the GUI thread")

    monkeypatch.setattr(gui_ctx.campaigns, "list_all", no_full_read)
    with qtbot.assertNotEmitted(model.modelReset):
        window.contacts_tab.contacts_changed.emit()
        qtbot.waitUntil(lambda: model.index(0, Column.AUDIENCE).data() == "3")


def test_status_bar_shows_the_next_scheduled_send(window: MainWindow, gui_ctx: AppContext) -> None:
    assert window.next_send_label.text() == "No send scheduled"
    campaign = make_campaign(gui_ctx)
    gui_ctx.campaigns.schedule(campaign.id, first_local=datetime(2027, 2, 1, 9, 0), timezone="UTC")
    window.reload()
    assert window.next_send_label.text().startswith("Next send: ")
    assert window.scheduler_state().next_run_at == gui_ctx.campaigns.next_run_at()


def test_a_search_that_finds_nothing_keeps_the_table_not_the_empty_message(
    window: MainWindow, gui_ctx: AppContext
) -> None:
    make_campaign(gui_ctx, "Spring news")
    window.reload()
    window.search.setText("nothing like it")
    assert window.campaign_model.rowCount() == 0
    assert window.campaign_stack.currentWidget() is window.campaign_view
    window.search.clear()
    assert _names(window) == ["Spring news"]


def test_send_now_says_when_the_campaign_already_went_to_its_recipients(
    window: MainWindow, gui_ctx: AppContext, monkeypatch: pytest.MonkeyPatch, qtbot: QtBot
) -> None:
    campaign = make_campaign(gui_ctx, "Spring news")
    window.reload()
    window.select_campaign(campaign.id)
    asked: list[str] = []

    def decline(_parent: Any, _title: str, text: str, _action: str) -> bool:
        asked.append(text)
        return False

    monkeypatch.setattr(Confirm, "ask", decline)
    window.action_send_now.trigger()
    assert "already" not in asked[-1] and "to its 2 recipients now?" in asked[-1]

    with running_smtp_server() as server:
        gui_ctx.settings.set_smtp(host="127.0.0.1", port=server.port, security="none")
        gui_ctx.campaigns.send_now(campaign.id)
        qtbot.waitUntil(
            lambda: (
                gui_ctx.campaigns.get(campaign.id).last_run is not None
                and gui_ctx.campaigns.get(campaign.id).status == "completed"
            ),
            timeout=10_000,
        )
    window.reload()
    window.select_campaign(campaign.id)
    window.action_send_now.trigger()
    assert asked[-1].startswith("It already went to 2 people on ")
    assert "Send it again to its 2 recipients now?" in asked[-1]
    assert len(gui_ctx.runs.for_campaign(campaign.id)) == 1  # declined: nothing sent


@pytest.mark.parametrize("scheduled", [True, False])
def test_archive_says_it_stops_the_schedule_only_of_a_scheduled_campaign(
    window: MainWindow, gui_ctx: AppContext, monkeypatch: pytest.MonkeyPatch, scheduled: bool
) -> None:
    campaign = make_campaign(gui_ctx, "Old promo")
    if scheduled:
        gui_ctx.campaigns.schedule(
            campaign.id, first_local=datetime(2027, 2, 1, 9, 0), timezone="UTC"
        )
    window.reload()
    window.select_campaign(campaign.id)
    told: list[bool] = []

    def cancel(_parent: Any, _name: str, *, scheduled: bool = False) -> None:
        told.append(scheduled)

    monkeypatch.setattr(ArchiveReason, "ask", cancel)
    window.action_archive.trigger()
    assert told == [scheduled]


def test_keyboard_reaches_every_tab_and_the_main_campaign_actions(
    window: MainWindow, qtbot: QtBot
) -> None:
    window.show()
    qtbot.waitExposed(window)
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)  # window shortcuts need the active window
    texts = [window.tabs.tabText(i) for i in range(window.tabs.count())]
    assert all("&" in text for text in texts)  # access keys: Alt+C, Alt+R, …
    letters = [text[text.index("&") + 1].lower() for text in texts]
    assert len(set(letters)) == len(letters)
    for number in range(window.tabs.count(), 0, -1):
        target = QApplication.focusWidget() or window
        qtbot.keyClick(target, Qt.Key(Qt.Key.Key_0 + number), Qt.KeyboardModifier.ControlModifier)  # type: ignore[no-untyped-call]
        assert window.tabs.currentIndex() == number - 1
    assert window.action_schedule.shortcut().toString() == "Ctrl+Shift+S"
    assert window.action_send_now.shortcut().toString() == "Ctrl+Return"


def test_the_toolbar_shows_only_the_current_tabs_actions(window: MainWindow, qtbot: QtBot) -> None:
    window.show()
    qtbot.waitExposed(window)
    assert window.campaign_toolbar.isVisible() and window.app_toolbar.isVisible()
    for index in range(1, window.tabs.count()):
        window.tabs.setCurrentIndex(index)
        assert not window.campaign_toolbar.isVisible()
        assert window.app_toolbar.isVisible()  # Settings belong to the whole app
    window.tabs.setCurrentIndex(0)
    assert window.campaign_toolbar.isVisible()


def test_tabs_other_than_campaigns_are_built_when_first_shown(
    window: MainWindow, gui_ctx: AppContext, qtbot: QtBot
) -> None:
    """Start-up shows the Campaigns tab only (docs/design.md §19): the Archive is read and
    the other tabs built when first shown."""
    gui_ctx.contacts.add("anna@example.com", first_name="Anna", lists=("Customers",))
    gui_ctx.campaigns.archive(make_campaign(gui_ctx, "Old news").id)
    window.show()
    assert window.archive_view.model().rowCount() == 0  # not read yet
    window.tabs.setCurrentIndex(1)
    assert [c.name for c in window.archive_model.campaigns()] == ["Old news"]
    assert window.archive_view.model().rowCount() == 1
    placeholder = window.tabs.widget(2)
    assert window._contacts_tab is None
    assert [window.tabs.tabText(index) for index in range(window.tabs.count())] == [
        "&Campaigns",
        "A&rchive",
        "C&ontacts",
        "Ac&tivity",
        "Ca&lendar",
    ]

    show_contacts = window.tab_actions[2]
    assert show_contacts.shortcut().toString() == "Ctrl+3"
    show_contacts.trigger()

    assert window.tabs.currentIndex() == 2
    assert window.tabs.currentWidget() is window.contacts_tab
    assert window.tabs.currentWidget() is not placeholder
    assert window.tabs.tabText(2) == "C&ontacts"
    assert window.contacts_tab.isVisible()
    assert not window.campaign_toolbar.isVisible()  # the tab change reached the other slots
    model = window.contact_model
    qtbot.waitUntil(  # its data are read when it is first shown
        lambda: (
            "anna@example.com" in [model.contact_at(row).email for row in range(model.rowCount())]
        )
    )
    # Asking for a tab builds it without showing it.
    assert window._calendar_tab is None
    calendar = window.calendar_tab
    assert window.tabs.indexOf(calendar) == 4
    assert window.tabs.currentIndex() == 2


def _status_shown(window: MainWindow, address: str) -> str | None:
    model = window.contact_model
    for row in range(model.rowCount()):
        if model.index(row, ContactColumn.EMAIL).data() == address:
            return str(model.index(row, ContactColumn.STATUS).data())
    return None


@pytest.mark.parametrize("via", ["the scheduler's check", "Settings ▸ Check now"])
def test_a_bounce_read_from_the_mailbox_lowers_the_audience_without_a_refresh(
    window: MainWindow,
    gui_ctx: AppContext,
    dovecot: DovecotServer,
    qtbot: QtBot,
    monkeypatch: pytest.MonkeyPatch,
    via: str,
) -> None:
    gui_ctx.inbound.set_account(
        host=HOST, port=dovecot.port, security="none", username=USERNAME, password=PASSWORD
    )
    campaign = make_campaign(gui_ctx, "Spring news")  # to Customers: Ann and Bob
    with running_smtp_server() as server:
        gui_ctx.settings.set_smtp(host=HOST, port=server.port, security="none")
        gui_ctx.campaigns.send_now(campaign.id)
        assert gui_ctx.sending.wait_idle(10)
        sent = {m.rcpt_tos[0]: m.content for m in server.handler.messages}
    dovecot.append(samples.exim_bounce(sent["ann@example.com"], "ann@example.com"))
    window.reload()
    model = window.campaign_model
    qtbot.waitUntil(lambda: model.index(0, Column.AUDIENCE).data() == "2")
    qtbot.waitUntil(lambda: _status_shown(window, "ann@example.com") == "Subscribed")

    counted_on: list[bool] = []  # per count: whether it ran on the GUI thread
    count = gui_ctx.campaigns.audience_sizes_of

    def counting(*args: Any, **kwargs: Any) -> Any:
        counted_on.append(threading.current_thread() is threading.main_thread())
        return count(*args, **kwargs)

    monkeypatch.setattr(gui_ctx.campaigns, "audience_sizes_of", counting)
    if via == "the scheduler's check":  # the scheduler's job runs on its own thread
        checking = threading.Thread(target=gui_ctx.inbound.check_if_configured)
        checking.start()
        checking.join(20)
    else:
        dialog = SettingsDialog(gui_ctx, window)
        qtbot.addWidget(dialog)
        dialog.inbound_page.check_now()
        qtbot.waitUntil(lambda: not dialog.inbound_page.busy, timeout=20_000)
        assert "1 contact bounced" in dialog.inbound_page.result.text()

    qtbot.waitUntil(lambda: model.index(0, Column.AUDIENCE).data() == "1", timeout=10_000)
    qtbot.waitUntil(lambda: _status_shown(window, "ann@example.com") == "Bounced")
    assert counted_on and not any(counted_on)


def test_imported_unsubscribes_lower_the_audience_without_a_refresh(
    window: MainWindow,
    gui_ctx: AppContext,
    qtbot: QtBot,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    make_campaign(gui_ctx, "Spring news")  # to Customers: Ann and Bob
    window.reload()
    model = window.campaign_model
    qtbot.waitUntil(lambda: model.index(0, Column.AUDIENCE).data() == "2")
    qtbot.waitUntil(lambda: _status_shown(window, "ann@example.com") == "Subscribed")
    path = tmp_path / "unsubscribe-page-export.csv"
    path.write_text("email\nann@example.com\n", encoding="utf-8")
    monkeypatch.setattr(ChooseUnsubscribeCsv, "ask", classmethod(lambda cls, parent: path))
    dialog = SettingsDialog(gui_ctx, window)
    qtbot.addWidget(dialog)

    dialog.inbound_page.import_unsubscribes()

    qtbot.waitUntil(lambda: model.index(0, Column.AUDIENCE).data() == "1")
    qtbot.waitUntil(lambda: _status_shown(window, "ann@example.com") == "Unsubscribed")


def test_a_send_under_way_moves_its_campaigns_last_result(
    window: MainWindow, gui_ctx: AppContext, qtbot: QtBot
) -> None:
    """The Campaigns tab's "Last result" follows a send's progress, not only its start and
    end (it said "0 sent, sending" while the status bar said 1,239)."""
    campaign = make_campaign(gui_ctx, "Spring news")
    other = make_campaign(gui_ctx, "Other")
    run, name = gui_ctx.sending.ledger.claim_manual(campaign.id)
    window.reload()
    model = window.campaign_model
    row = model.row_of(campaign.id)
    assert row is not None
    cell = model.index(row, Column.LAST_RESULT)
    assert cell.data() == "0 sent, sending"
    gui_ctx.events.publish(RunEvent(RunPhase.PROGRESS, replace(run, sent=144), name, rate=40.0))
    qtbot.waitUntil(lambda: cell.data() == "144 sent, sending")
    # A run of another campaign (or an older run) leaves this row alone.
    elsewhere = replace(run, id=run.id + 1000, campaign_id=other.id, sent=9)
    gui_ctx.events.publish(RunEvent(RunPhase.PROGRESS, elsewhere, "Other"))
    gui_ctx.events.publish(RunEvent(RunPhase.PROGRESS, replace(run, sent=150), name))
    qtbot.waitUntil(lambda: cell.data() == "150 sent, sending")
    other_row = model.row_of(other.id)
    assert other_row is not None
    assert model.index(other_row, Column.LAST_RESULT).data() == "\N{EM DASH}"


def test_a_send_paused_before_a_restart_still_shows_in_the_status_bar(
    window: MainWindow, gui_ctx: AppContext, qtbot: QtBot
) -> None:
    by_app = make_campaign(gui_ctx, "Spring news")
    by_user = make_campaign(gui_ctx, "Promo")
    ledger = gui_ctx.sending.ledger
    why = "The mail server refused the sender address. The send is paused; check it."
    ledger.finish(ledger.claim_manual(by_app.id)[0].id, "pause", why)
    ledger.finish(ledger.claim_manual(by_user.id)[0].id, "pause", None)
    assert window.run_progress.text() == ""  # a new window knows nothing of them yet
    window.show_paused_sends()
    qtbot.waitUntil(lambda: window.run_progress.text() == "2 sends paused")
    assert window.run_progress.label.toolTip().splitlines() == [
        f"\N{LEFT DOUBLE QUOTATION MARK}Spring news\N{RIGHT DOUBLE QUOTATION MARK} paused: {why}",
        "\N{LEFT DOUBLE QUOTATION MARK}Promo\N{RIGHT DOUBLE QUOTATION MARK} paused",
    ]
