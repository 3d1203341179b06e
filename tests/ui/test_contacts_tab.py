"""The Contacts tab: the paged model, search and filters, subscription actions, lists, and a
.csv file dropped onto the tab opening the import dialog."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import (
    QItemSelection,
    QItemSelectionModel,
    QMimeData,
    QPoint,
    QPointF,
    Qt,
    QUrl,
)
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication
from pytestqt.modeltest import ModelTester
from pytestqt.qtbot import QtBot

from campaign_desktop.context import AppContext
from campaign_desktop.domain.views import ContactView
from campaign_desktop.services.contacts import BULK_CHUNK
from campaign_desktop.ui.common.accessibility import unnamed_controls
from campaign_desktop.ui.common.prompts import Confirm, ErrorMessage
from campaign_desktop.ui.contacts.contact_dialog import ContactDialog
from campaign_desktop.ui.contacts.contact_model import (
    CACHED_PAGES,
    PAGE_SIZE,
    ContactColumn,
    ContactFilter,
    ContactTableModel,
)
from campaign_desktop.ui.contacts.contacts_tab import (
    CHANGED_MEANWHILE,
    AddContactDialog,
    ContactsTab,
)
from campaign_desktop.ui.contacts.import_dialog import ImportDialog
from campaign_desktop.ui.contacts.list_dialogs import NewListName
from campaign_desktop.ui.shell.main_window import MainWindow
from tests.ui.conftest import make_campaign
from tests.ui.helpers import people_csv, record_threads, write_csv

pytestmark = pytest.mark.gui


@pytest.fixture
def tab(gui_ctx: AppContext, qtbot: QtBot) -> ContactsTab:
    widget = ContactsTab(gui_ctx)
    qtbot.addWidget(widget)
    with qtbot.waitSignal(widget.filter_applied):
        widget.reload()
    return widget


def _emails(model: ContactTableModel) -> list[str]:
    return [model.contact_at(row).email for row in range(model.rowCount())]


def _select(tab: ContactsTab, *emails: str) -> None:
    tab.view.clearSelection()
    for email in emails:
        row = _emails(tab.model).index(email)
        tab.view.selectionModel().select(
            tab.model.index(row, 0),
            tab.view.selectionModel().SelectionFlag.Select
            | tab.view.selectionModel().SelectionFlag.Rows,
        )


def test_model_pages_and_passes_the_model_tester(
    gui_ctx: AppContext, qtmodeltester: ModelTester, tmp_path: Path
) -> None:
    gui_ctx.contacts.import_csv(people_csv(tmp_path / "people.csv", 450), "Customers")
    model = ContactTableModel(gui_ctx.contacts)
    model.set_filter(ContactFilter())
    assert model.total() == 452
    assert model.rowCount() == 452  # every match is a row...
    assert model.rows_held() == PAGE_SIZE  # ...but only the first page is loaded
    qtmodeltester.check(model)  # type: ignore[no-untyped-call]  # pytest-qt leaves it untyped
    assert model.rowCount() == 452
    assert len(set(_emails(model))) == 452  # every row reads, each a different contact
    assert model.index(0, ContactColumn.EMAIL).data() == "ann@example.com"
    assert model.index(0, ContactColumn.LISTS).data() == "Customers"


@pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints")
def test_scrolling_to_the_end_holds_only_a_few_pages(
    gui_ctx: AppContext, qtbot: QtBot, tmp_path: Path
) -> None:
    gui_ctx.contacts.import_csv(people_csv(tmp_path / "people.csv", 2_500), "Customers")
    total = gui_ctx.contacts.count()
    assert total == 2_502
    widget = ContactsTab(gui_ctx)
    qtbot.addWidget(widget)
    with qtbot.waitSignal(widget.filter_applied):
        widget.reload()
    widget.show()
    qtbot.waitExposed(widget)
    assert widget.model.rowCount() == total
    everyone = [contact.email for contact in gui_ctx.contacts.search(limit=total)]
    for row in range(0, total, 97):  # every page, as a slow scroll would show them
        widget.view.scrollTo(widget.model.index(row, 0))
        QApplication.processEvents()
        assert widget.model.index(row, ContactColumn.EMAIL).data() == everyone[row]
    widget.view.scrollToBottom()
    QApplication.processEvents()
    assert widget.model.index(total - 1, ContactColumn.EMAIL).data() == everyone[-1]
    assert widget.model.rows_held() <= CACHED_PAGES * PAGE_SIZE < total
    # Back at the top, the first page is read again, and still right.
    widget.view.scrollToTop()
    assert widget.model.index(0, ContactColumn.EMAIL).data() == everyone[0]
    assert widget.model.rows_held() <= CACHED_PAGES * PAGE_SIZE


def test_acting_on_a_selection_wider_than_the_cache(
    gui_ctx: AppContext, qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gui_ctx.contacts.import_csv(people_csv(tmp_path / "people.csv", 2_500), "Customers")
    widget = ContactsTab(gui_ctx)
    qtbot.addWidget(widget)
    with qtbot.waitSignal(widget.filter_applied):
        widget.reload()
    widget.view.selectAll()  # every row, not just the loaded ones
    assert len(widget.selected_rows()) == 2_502
    assert widget.action_delete.isEnabled()
    assert widget.model.rows_held() <= CACHED_PAGES * PAGE_SIZE
    chosen = widget.selected_contacts()
    assert [c.email for c in chosen] == [c.email for c in gui_ctx.contacts.search(limit=3_000)]
    assert widget.model.rows_held() <= CACHED_PAGES * PAGE_SIZE
    # Delete the first and the last contact: one is cached, the other is not.
    widget.view.clearSelection()
    last = widget.model.rowCount() - 1
    for row in (0, last):
        widget.view.selectionModel().select(
            widget.model.index(row, 0),
            widget.view.selectionModel().SelectionFlag.Select
            | widget.view.selectionModel().SelectionFlag.Rows,
        )
    doomed = [c.email for c in widget.selected_contacts()]
    monkeypatch.setattr(Confirm, "ask", lambda *args: True)
    with qtbot.waitSignal(widget.bulk_finished):
        widget.action_delete.trigger()
    assert gui_ctx.contacts.count() == 2_500
    assert widget.model.rowCount() == 2_500
    assert widget.count_label.text() == "2,500 contacts"
    shown = [widget.model.contact_at(row).email for row in range(widget.model.rowCount())]
    assert shown == [c.email for c in gui_ctx.contacts.search(limit=3_000)]
    assert not set(doomed) & set(shown)


def test_deleting_cached_rows_keeps_the_rows_below_right(
    gui_ctx: AppContext, qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gui_ctx.contacts.import_csv(people_csv(tmp_path / "people.csv", 450), "Customers")
    widget = ContactsTab(gui_ctx)
    qtbot.addWidget(widget)
    with qtbot.waitSignal(widget.filter_applied):
        widget.reload()
    widget.model.contact_at(PAGE_SIZE + 5)  # a second page in the cache
    emails = [c.email for c in gui_ctx.contacts.search(limit=500)]
    doomed = [emails[3], emails[4], emails[PAGE_SIZE + 5]]
    _select(widget, *doomed)
    monkeypatch.setattr(Confirm, "ask", lambda *args: True)
    with (
        qtbot.assertNotEmitted(widget.model.modelReset),
        qtbot.waitSignal(widget.bulk_finished),
    ):
        widget.action_delete.trigger()
    expected = [email for email in emails if email not in doomed]
    assert _emails(widget.model) == expected
    assert widget.count_label.text() == f"{len(expected):,} contacts"


def test_search_list_and_status_filters_narrow_the_table(
    tab: ContactsTab, gui_ctx: AppContext, qtbot: QtBot
) -> None:
    assert _emails(tab.model) == ["ann@example.com", "bob@example.com"]
    assert tab.count_label.text() == "2 contacts"
    tab.search.setText("BOB")
    qtbot.waitUntil(lambda: _emails(tab.model) == ["bob@example.com"])  # after the typing pause
    assert tab.count_label.text() == "1 contact matches"
    tab.search.clear()
    with qtbot.waitSignal(tab.filter_applied):
        tab.list_filter.setCurrentIndex(tab.list_filter.findData("VIP"))
    assert _emails(tab.model) == ["bob@example.com"]
    assert tab.list_filter.currentText() == "VIP (1)"
    tab.list_filter.setCurrentIndex(0)
    gui_ctx.contacts.unsubscribe("ann@example.com")
    with qtbot.waitSignal(tab.filter_applied):
        tab.status_filter.setCurrentIndex(tab.status_filter.findData("unsubscribed"))
    assert _emails(tab.model) == ["ann@example.com"]


def test_unsubscribe_and_resubscribe_change_the_row_in_place(
    tab: ContactsTab, gui_ctx: AppContext, qtbot: QtBot
) -> None:
    _select(tab, "ann@example.com")
    assert tab.action_unsubscribe.isEnabled()
    assert not tab.action_resubscribe.isEnabled()
    with (
        qtbot.waitSignal(tab.bulk_finished),
        qtbot.assertNotEmitted(tab.model.modelReset),
    ):
        tab.action_unsubscribe.trigger()
        assert tab.bulk_progress.isVisible() or not tab.isVisible()
        assert not tab.action_delete.isEnabled()  # one bulk action at a time
    assert not tab.bulk_progress.isVisibleTo(tab)
    assert tab.model.index(0, ContactColumn.STATUS).data() == "Unsubscribed"
    assert gui_ctx.contacts.find("ann@example.com").status == "unsubscribed"  # type: ignore[union-attr]
    assert tab.action_resubscribe.isEnabled()
    with qtbot.waitSignal(tab.bulk_finished):
        tab.action_resubscribe.trigger()
    assert gui_ctx.contacts.find("ann@example.com").status == "subscribed"  # type: ignore[union-attr]
    assert tab.model.index(0, ContactColumn.STATUS).data() == "Subscribed"


def test_edit_contact_opens_for_one_selected_row_and_shows_what_was_saved(
    tab: ContactsTab, gui_ctx: AppContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[tuple[str, list[str]]] = []

    def edit(_parent: Any, ctx: AppContext, contact: ContactView, lists: list[str]) -> Any:
        asked.append((contact.email, lists))
        return ctx.contacts.update(contact.id, last_name="Lee")

    monkeypatch.setattr(ContactDialog, "ask", edit)
    _select(tab, "ann@example.com", "bob@example.com")
    assert not tab.action_edit.isEnabled()  # one contact at a time
    _select(tab, "ann@example.com")
    assert tab.action_edit.isEnabled()
    row = _emails(tab.model).index("ann@example.com")
    tab.view.doubleClicked.emit(tab.model.index(row, 0))
    assert asked == [("ann@example.com", ["Customers", "VIP"])]
    assert tab.model.index(row, ContactColumn.LAST_NAME).data() == "Lee"


def test_delete_asks_first_then_removes_the_rows(
    tab: ContactsTab, gui_ctx: AppContext, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    _select(tab, "ann@example.com", "bob@example.com")
    asked: list[str] = []

    def decline(*args: str) -> bool:
        asked.append(args[2])
        return False

    monkeypatch.setattr(Confirm, "ask", decline)
    tab.action_delete.trigger()
    assert "these 2 contacts" in asked[0]
    assert gui_ctx.contacts.count() == 2
    monkeypatch.setattr(Confirm, "ask", lambda *args: True)
    with qtbot.waitSignal(tab.bulk_finished):
        tab.action_delete.trigger()
    assert gui_ctx.contacts.count() == 0
    assert tab.model.rowCount() == 0
    assert tab.stack.currentWidget() is tab.empty_label  # nothing left: say how to import


def test_empty_state_explains_how_to_import(
    tab: ContactsTab, gui_ctx: AppContext, qtbot: QtBot
) -> None:
    assert tab.stack.currentWidget() is tab.view
    for contact in gui_ctx.contacts.search():
        gui_ctx.contacts.delete(contact.id)
    with qtbot.waitSignal(tab.filter_applied):
        tab.reload()
    assert tab.stack.currentWidget() is tab.empty_label
    assert "drag a .csv file onto this tab" in tab.empty_label.text()


def test_add_contact_goes_through_the_dialog(
    tab: ContactsTab, gui_ctx: AppContext, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    def add(_parent: Any, ctx: AppContext, list_name: str | None) -> Any:
        dialog = AddContactDialog(ctx, list_name)
        assert dialog.list_combo.currentText() == ""  # no list chosen for the user
        dialog.list_combo.setCurrentText("Customers")
        dialog.email.setText("not an address")
        dialog.accept()
        assert dialog.added is None  # refused inline, the dialog stays open
        assert "not a valid email address" in dialog._errors["email"].text()
        dialog.email.setText("cy@example.com")
        dialog.first_name.setText("Cy")
        dialog.accept()
        return dialog.added

    monkeypatch.setattr(AddContactDialog, "ask", add)
    with qtbot.waitSignal(tab.filter_applied):
        tab.action_add.trigger()
    assert "cy@example.com" in _emails(tab.model)
    assert [c.email for c in tab.selected_contacts()] == ["cy@example.com"]  # shown selected
    assert gui_ctx.contacts.find("cy@example.com").lists == ("Customers",)  # type: ignore[union-attr]


def test_add_contact_offers_the_last_list_used_and_never_makes_one_unasked(
    gui_ctx: AppContext, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(AddContactDialog, "last_list", "")
    first = AddContactDialog(gui_ctx)
    qtbot.addWidget(first)
    first.email.setText("cy@example.com")
    first.accept()
    assert first.added is not None and first.added.lists == ()
    assert sorted(item.name for item in gui_ctx.contacts.lists()) == ["Customers", "VIP"]
    second = AddContactDialog(gui_ctx)
    qtbot.addWidget(second)
    second.list_combo.setCurrentText("VIP")
    second.email.setText("dee@example.com")
    second.accept()
    third = AddContactDialog(gui_ctx)
    qtbot.addWidget(third)
    assert third.list_combo.currentText() == "VIP"  # the last one used
    assert third.minimumWidth() >= 480


def test_add_contact_dialog_reads_the_lists_off_the_gui_thread_and_keeps_what_is_typed(
    gui_ctx: AppContext, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(AddContactDialog, "last_list", "")
    read = record_threads(monkeypatch, gui_ctx.contacts, "lists")
    dialog = AddContactDialog(gui_ctx)
    qtbot.addWidget(dialog)
    dialog.list_combo.setCurrentText("News")  # typed before the lists are in
    combo = dialog.list_combo
    qtbot.waitUntil(
        lambda: [combo.itemText(i) for i in range(combo.count())] == ["", "Customers", "VIP"]
    )
    assert combo.currentText() == "News"
    assert read and not any(read)


def test_add_contact_dialog_shows_a_bad_address_next_to_the_field(
    gui_ctx: AppContext, qtbot: QtBot
) -> None:
    dialog = AddContactDialog(gui_ctx)
    qtbot.addWidget(dialog)
    dialog.email.setText("ann@example.com")
    dialog.accept()
    assert dialog.added is None
    label = dialog._errors["email"]
    assert "already in your contacts" in label.text()
    assert not label.isHidden()


def test_new_list_then_delete_it(
    tab: ContactsTab, gui_ctx: AppContext, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        NewListName, "ask", lambda _parent, ctx: ctx.contacts.create_list("Spring fair")
    )
    with qtbot.waitSignal(tab.filter_applied):
        tab.action_new_list.trigger()
    assert tab.list_filter.currentData() == "Spring fair"
    assert tab.model.total() == 0
    assert tab.action_delete_list.isEnabled()
    monkeypatch.setattr(Confirm, "ask", lambda *args: True)
    with qtbot.waitSignal(tab.contacts_changed):
        tab.action_delete_list.trigger()
    assert [item.name for item in gui_ctx.contacts.lists()] == ["Customers", "VIP"]
    assert tab.list_filter.currentData() is None
    assert not tab.action_delete_list.isEnabled()


def test_a_new_list_named_like_another_in_any_case_is_refused_in_the_dialog(
    gui_ctx: AppContext, qtbot: QtBot
) -> None:
    dialog = NewListName(gui_ctx)
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.name.setText("customers")
    dialog.accept()
    assert dialog.error.isVisibleTo(dialog)
    assert dialog.error.text() == "A list named “Customers” already exists."
    assert dialog.isVisible() and dialog.saved is None
    assert [item.name for item in gui_ctx.contacts.lists()] == ["Customers", "VIP"]
    dialog.name.setText(" ")
    dialog.accept()
    assert dialog.error.text() == "Give the contact list a name."
    dialog.name.setText("Spring fair")
    dialog.accept()
    assert dialog.saved is not None and dialog.saved.name == "Spring fair"
    assert not dialog.isVisible()


def test_a_cancelled_new_list_changes_nothing(
    tab: ContactsTab, gui_ctx: AppContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    tab.list_filter.setCurrentIndex(tab.list_filter.findData("VIP"))
    monkeypatch.setattr(NewListName, "ask", lambda *args: None)
    messages: list[str] = []
    tab.status_message.connect(messages.append)
    tab.action_new_list.trigger()
    assert [item.name for item in gui_ctx.contacts.lists()] == ["Customers", "VIP"]
    assert tab.list_filter.currentData() == "VIP"
    assert messages == []


def test_deleting_a_list_a_campaign_uses_shows_why_not(
    tab: ContactsTab, gui_ctx: AppContext, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_campaign(gui_ctx, "Spring news")  # sends to Customers
    tab.list_filter.setCurrentIndex(tab.list_filter.findData("Customers"))
    shown: list[str] = []
    monkeypatch.setattr(ErrorMessage, "show", lambda *args: shown.append(args[2]))
    tab.action_delete_list.trigger()  # no question first: it cannot be deleted
    qtbot.waitUntil(lambda: len(shown) == 1)
    assert "audience of the campaign “Spring news”" in shown[0]
    assert "Customers" in [item.name for item in gui_ctx.contacts.lists()]


def _drag_events(path: Path) -> tuple[QDragEnterEvent, QDropEvent, QMimeData]:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    enter = QDragEnterEvent(
        QPoint(20, 20),  # QPoint: PySide6 6.11 takes no QPointF here (6.12 converts)
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    drop = QDropEvent(
        QPointF(20, 20),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    return enter, drop, mime


def test_dropping_a_csv_file_opens_the_import_dialog_with_it(
    tab: ContactsTab, qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_csv(tmp_path / "new.csv", ["email"], [["dee@example.com"]])
    opened: list[Path | None] = []

    def open_dialog(_parent: Any, ctx: AppContext, chosen: Path | None) -> Any:
        opened.append(chosen)
        return ctx.contacts.import_csv(chosen or Path(), "Customers")

    monkeypatch.setattr(ImportDialog, "ask", open_dialog)
    enter, drop, _mime = _drag_events(path)
    QApplication.sendEvent(tab, enter)
    assert enter.isAccepted()
    QApplication.sendEvent(tab, drop)
    assert drop.isAccepted()
    qtbot.waitUntil(lambda: opened == [path])
    qtbot.waitUntil(lambda: "dee@example.com" in _emails(tab.model))  # reloaded after import


def test_after_an_import_the_tab_says_what_the_status_column_did(
    tab: ContactsTab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_csv(
        tmp_path / "old-tool.csv",
        ["email", "status"],
        [["dee@example.com", "opted out"], ["eve@example.com", "maybe"]],
    )
    monkeypatch.setattr(
        ImportDialog, "ask", lambda _parent, ctx, chosen: ctx.contacts.import_csv(chosen)
    )
    messages: list[str] = []
    tab.status_message.connect(messages.append)

    tab.import_file(path)

    assert messages == [
        "Imported: 1 created, 0 updated, 1 skipped. The status column unsubscribed 1 contact. "
        "1 row was skipped for a status that is no consent to mail."
    ]


def test_dragging_something_else_is_refused(tab: ContactsTab, tmp_path: Path) -> None:
    other = tmp_path / "photo.png"
    other.write_bytes(b"\x89PNG")
    enter, _drop, _mime = _drag_events(other)
    QApplication.sendEvent(tab, enter)
    assert not enter.isAccepted()


@pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints")
def test_the_delete_key_in_the_contact_table_deletes_contacts_not_campaigns(
    gui_ctx: AppContext, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_campaign(gui_ctx, "Spring news")
    window = MainWindow(gui_ctx)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)  # shortcuts need the active window
    window.tabs.setCurrentWidget(window.contacts_tab)
    tab = window.contacts_tab
    qtbot.waitUntil(lambda: tab.model.rowCount() == 2)
    tab.view.setFocus()
    _select(tab, "bob@example.com")
    asked: list[str] = []

    def confirm(*args: str) -> bool:
        asked.append(args[2])
        return True

    monkeypatch.setattr(Confirm, "ask", confirm)
    qtbot.keyClick(tab.view, Qt.Key.Key_Delete)  # type: ignore[no-untyped-call]  # pytest-qt leaves keyClick untyped
    qtbot.waitUntil(lambda: _emails(tab.model) == ["ann@example.com"])
    assert "bob@example.com" in asked[0]
    assert [c.name for c in gui_ctx.campaigns.list_all()] == ["Spring news"]  # not archived


def test_every_interactive_widget_is_named(
    tab: ContactsTab, gui_ctx: AppContext, qtbot: QtBot
) -> None:
    assert unnamed_controls(tab) == []
    dialog = AddContactDialog(gui_ctx)
    qtbot.addWidget(dialog)
    assert unnamed_controls(dialog) == []


# --- a million contacts (issue 16): searches and bulk actions off the GUI thread -------------


def test_searches_run_off_the_gui_thread_and_only_the_newest_is_shown(
    tab: ContactsTab, gui_ctx: AppContext, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_first_page = gui_ctx.contacts.first_page
    threads: list[threading.Thread] = []
    release_ann = threading.Event()
    ann_read = threading.Event()

    def first_page(text: str = "", **kwargs: Any) -> Any:
        threads.append(threading.current_thread())
        if text == "ann":
            release_ann.wait(10)  # the slow, older search
            ann_read.set()
        return real_first_page(text, **kwargs)

    monkeypatch.setattr(gui_ctx.contacts, "first_page", first_page)
    tab.search.setText("ann")
    tab.apply_filter()
    tab.search.setText("bob")
    with qtbot.waitSignal(tab.filter_applied):
        tab.apply_filter()
    assert _emails(tab.model) == ["bob@example.com"]
    with qtbot.assertNotEmitted(tab.filter_applied, wait=100):
        release_ann.set()
        qtbot.waitUntil(ann_read.is_set)
    assert _emails(tab.model) == ["bob@example.com"]  # the older answer came last, unshown
    assert tab.count_label.text() == "1 contact matches"
    assert threading.main_thread() not in threads


def test_a_bulk_delete_shows_progress_and_cancel_keeps_what_is_done(
    gui_ctx: AppContext, qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gui_ctx.contacts.import_csv(people_csv(tmp_path / "people.csv", 1_200), "Customers")
    widget = ContactsTab(gui_ctx)
    qtbot.addWidget(widget)
    with qtbot.waitSignal(widget.filter_applied):
        widget.reload()
    real_delete_many = gui_ctx.contacts.delete_many
    first_part_done = threading.Event()

    def delete_many(ids: list[int], *, progress: Any, cancel: threading.Event) -> Any:
        def report(done: int, asked: int) -> None:
            progress(done, asked)
            first_part_done.set()
            cancel.wait(10)  # the user is looking at the progress bar

        return real_delete_many(ids, progress=report, cancel=cancel)

    monkeypatch.setattr(gui_ctx.contacts, "delete_many", delete_many)
    messages: list[str] = []
    widget.status_message.connect(messages.append)
    widget.view.selectAll()
    asked: list[str] = []

    def confirm(*args: str) -> bool:
        asked.append(args[2])
        return True

    monkeypatch.setattr(Confirm, "ask", confirm)
    widget.action_delete.trigger()
    assert "these 1,202 contacts" in asked[0]
    qtbot.waitUntil(first_part_done.is_set)
    assert widget.bulk_progress.isVisibleTo(widget)
    assert widget.bulk_progress.label.text() == "Deleting 1,202 contacts…"
    assert not widget.action_unsubscribe.isEnabled()
    qtbot.waitUntil(lambda: widget.bulk_progress.bar.value() == BULK_CHUNK)
    assert widget.bulk_progress.bar.maximum() == 1_202
    with qtbot.waitSignal(widget.bulk_finished):
        qtbot.mouseClick(widget.bulk_progress.cancel_button, Qt.MouseButton.LeftButton)  # type: ignore[no-untyped-call]  # pytest-qt leaves mouseClick untyped
    assert not widget.bulk_progress.isVisibleTo(widget)
    assert gui_ctx.contacts.count() == 1_202 - BULK_CHUNK
    qtbot.waitUntil(lambda: widget.model.rowCount() == 1_202 - BULK_CHUNK)
    assert _emails(widget.model) == [c.email for c in gui_ctx.contacts.search(limit=2_000)]
    assert f"Stopped: deleted {BULK_CHUNK:,} contacts." in messages
    assert widget.action_add.isEnabled()  # the next action may start


def test_a_search_everyone_matches_shows_rows_first_and_the_count_when_known(
    tab: ContactsTab,
    gui_ctx: AppContext,
    qtbot: QtBot,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gui_ctx.contacts.import_csv(people_csv(tmp_path / "people.csv", 500), "Customers")
    real_count = gui_ctx.contacts.count
    release = threading.Event()
    counting_threads: list[threading.Thread] = []

    def count(*args: Any, **kwargs: Any) -> int:
        counting_threads.append(threading.current_thread())
        release.wait(10)  # a million contacts: the count takes a while
        return real_count(*args, **kwargs)

    monkeypatch.setattr(gui_ctx.contacts, "count", count)
    tab.search.setText("example.com")
    with qtbot.waitSignal(tab.filter_applied):
        tab.apply_filter()
    assert tab.model.rowCount() == PAGE_SIZE  # the first page, before the count
    assert tab.count_label.text() == f"{PAGE_SIZE}+ contacts match (counting…)"
    with qtbot.waitSignal(tab.model.counted, timeout=10_000):
        release.set()
    assert tab.count_label.text() == "502 contacts match"
    assert tab.model.rowCount() == 502
    assert threading.main_thread() not in counting_threads


def test_a_huge_selection_is_read_on_the_pool_and_a_changed_table_deletes_nothing(
    gui_ctx: AppContext, qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl+A over more rows than the table holds: the ids are read on a pool thread (a
    million contacts never load on the GUI thread); when another desktop changed the
    contacts meanwhile, the delete does nothing and says why."""
    gui_ctx.contacts.import_csv(people_csv(tmp_path / "people.csv", 1_200), "Customers")
    widget = ContactsTab(gui_ctx)
    qtbot.addWidget(widget)
    with qtbot.waitSignal(widget.filter_applied):
        widget.reload()
    real_ids = gui_ctx.contacts.ids
    threads: list[threading.Thread] = []

    def ids(*args: Any, **kwargs: Any) -> list[int]:
        threads.append(threading.current_thread())
        return real_ids(*args, **kwargs)

    monkeypatch.setattr(gui_ctx.contacts, "ids", ids)
    monkeypatch.setattr(Confirm, "ask", lambda *_args: True)
    errors: list[str] = []
    monkeypatch.setattr(ErrorMessage, "show", lambda _parent, _title, text: errors.append(text))
    widget.view.selectAll()
    gui_ctx.contacts.delete(gui_ctx.contacts.search(limit=1)[0].id)  # another desktop
    with qtbot.waitSignal(widget.bulk_finished):
        widget.action_delete.trigger()
    assert threads and threading.main_thread() not in threads
    assert errors == [
        "The contacts shown changed meanwhile, so nothing was done. "
        "Look at the list again and select them once more."
    ]
    assert gui_ctx.contacts.count() == 1_201
    qtbot.waitUntil(lambda: widget.model.rowCount() == 1_201)  # the table shows what is
    widget.view.selectAll()
    with qtbot.waitSignal(widget.bulk_finished, timeout=20_000):
        widget.action_unsubscribe.trigger()
    assert gui_ctx.contacts.count(status="unsubscribed") == 1_201


def test_a_big_selection_reaches_exactly_the_contacts_selected_whatever_changed_around_it(
    gui_ctx: AppContext, qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows 100 to 1,299 selected (more than the table inspects): a contact deleted elsewhere
    before them does not shift the delete onto others; one deleted inside them makes the
    delete refuse and do nothing."""
    gui_ctx.contacts.import_csv(people_csv(tmp_path / "people.csv", 2_600), "Customers")
    total = gui_ctx.contacts.count()
    widget = ContactsTab(gui_ctx)
    qtbot.addWidget(widget)
    widget.show()
    qtbot.waitExposed(widget)
    with qtbot.waitSignal(widget.filter_applied):
        widget.reload()
    monkeypatch.setattr(Confirm, "ask", lambda *_args: True)
    errors: list[str] = []
    monkeypatch.setattr(ErrorMessage, "show", lambda _parent, _title, text: errors.append(text))

    def select_rows(first: int, last: int) -> list[str]:
        # As a user does: click the first row, scroll to the last, Shift+click it (both
        # were on screen, so the table holds them as shown).
        model = widget.model
        for row in (first, last):
            widget.view.scrollTo(model.index(row, 0))
            widget.view.viewport().repaint()
        selection = QItemSelection(model.index(first, 0), model.index(last, 0))
        widget.view.selectionModel().select(
            selection,
            QItemSelectionModel.SelectionFlag.ClearAndSelect
            | QItemSelectionModel.SelectionFlag.Rows,
        )
        return [c.email for c in gui_ctx.contacts.search(offset=first, limit=last - first + 1)]

    chosen = select_rows(100, 1_299)
    gui_ctx.contacts.delete(gui_ctx.contacts.search(limit=1)[0].id)  # another desktop
    with qtbot.waitSignal(widget.bulk_finished, timeout=20_000):
        widget.action_delete.trigger()
    assert errors == []
    left = {c.email for c in gui_ctx.contacts.search(limit=5_000)}
    assert not left & set(chosen)
    assert len(left) == total - 1 - 1_200

    qtbot.waitUntil(lambda: widget.model.rowCount() == len(left))
    select_rows(100, 1_299)
    inside = gui_ctx.contacts.search(offset=700, limit=1)[0]
    gui_ctx.contacts.delete(inside.id)  # another desktop, inside the selection
    with qtbot.waitSignal(widget.bulk_finished, timeout=20_000):
        widget.action_delete.trigger()
    assert errors == [CHANGED_MEANWHILE]
    assert gui_ctx.contacts.count() == len(left) - 1  # nothing deleted by the app


def test_selecting_every_row_does_not_walk_the_rows_to_paint_the_header(
    gui_ctx: AppContext, qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl+A on a big table: painting the column header must not ask the model about every
    row (Qt's `isColumnSelected` does, through the model's `index()`: 1.5 s on the GUI
    thread at 100,000 contacts); only the rows on screen are read."""
    gui_ctx.contacts.import_csv(people_csv(tmp_path / "people.csv", 3_000), "Customers")
    calls: list[int] = []
    real_column_count = ContactTableModel.columnCount

    def column_count(self: ContactTableModel, *args: Any) -> int:
        calls.append(1)
        return real_column_count(self, *args)

    # Before the model is made: PySide looks a Python override up when the object is.
    monkeypatch.setattr(ContactTableModel, "columnCount", column_count)
    widget = ContactsTab(gui_ctx)
    qtbot.addWidget(widget)
    widget.show()
    qtbot.waitExposed(widget)
    with qtbot.waitSignal(widget.filter_applied):
        widget.reload()
    QApplication.processEvents()
    calls.clear()
    widget.view.selectAll()
    QApplication.processEvents()
    widget.view.horizontalHeader().repaint()
    assert widget.model.rowCount() == 3_002
    assert len(widget.selected_rows()) == 3_002
    assert len(calls) < 1_000  # the rows on screen, not 3,002 x the columns
