"""The Contacts tab's list actions (add to / remove from a list, rename, delete), custom
fields as columns, and the CSV export (issue 17): real widgets offscreen on a real database,
dialogs replaced through their `ask` methods, the dialogs themselves driven as widgets."""

from __future__ import annotations

import csv
import io
import threading
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QPoint, QSettings, Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QMenu, QToolBar
from pytestqt.modeltest import ModelTester
from pytestqt.qtbot import QtBot

from campaign_desktop.context import AppContext
from campaign_desktop.services.contacts import BULK_CHUNK
from campaign_desktop.ui.common.prompts import Confirm, ErrorMessage
from campaign_desktop.ui.contacts.contact_model import ContactColumn, ContactFilter
from campaign_desktop.ui.contacts.contacts_tab import FIELD_COLUMNS_KEY, ContactsTab
from campaign_desktop.ui.contacts.list_dialogs import (
    ChooseContactsExportPath,
    ChooseListDialog,
    ExportScope,
    RenameListDialog,
)
from campaign_desktop.ui.shell.main_window import MainWindow
from tests.ui.conftest import make_campaign
from tests.ui.helpers import people_csv

pytestmark = pytest.mark.gui


@pytest.fixture
def settings(tmp_path: Path) -> QSettings:
    return QSettings(str(tmp_path / "window.ini"), QSettings.Format.IniFormat)


def open_tab(ctx: AppContext, qtbot: QtBot, settings: QSettings) -> ContactsTab:
    widget = ContactsTab(ctx, settings)
    qtbot.addWidget(widget)
    with qtbot.waitSignal(widget.filter_applied):
        widget.reload()
    return widget


@pytest.fixture
def tab(gui_ctx: AppContext, qtbot: QtBot, settings: QSettings) -> ContactsTab:
    return open_tab(gui_ctx, qtbot, settings)


def messages_of(tab: ContactsTab) -> list[str]:
    messages: list[str] = []
    tab.status_message.connect(messages.append)
    return messages


def select_emails(tab: ContactsTab, *emails: str) -> None:
    tab.view.clearSelection()
    shown = [tab.model.contact_at(row).email for row in range(tab.model.rowCount())]
    flags = tab.view.selectionModel().SelectionFlag
    for email in emails:
        index = tab.model.index(shown.index(email), 0)
        tab.view.selectionModel().select(index, flags.Select | flags.Rows)


def filter_on(tab: ContactsTab, qtbot: QtBot, list_name: str | None) -> None:
    with qtbot.waitSignal(tab.filter_applied):
        tab.list_filter.setCurrentIndex(tab.list_filter.findData(list_name))


def list_labels(tab: ContactsTab) -> list[str]:
    return [tab.list_filter.itemText(i) for i in range(tab.list_filter.count())]


# --- add to / remove from a list ---------------------------------------------------------


def test_add_to_list_says_how_many_were_added_and_already_in_it(
    tab: ContactsTab, gui_ctx: AppContext, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[tuple[Any, ...]] = []

    def choose(*args: Any, **kwargs: Any) -> str:
        asked.append((*args[1:], kwargs))
        return "VIP"

    monkeypatch.setattr(ChooseListDialog, "ask", choose)
    messages = messages_of(tab)
    select_emails(tab, "ann@example.com", "bob@example.com")
    assert tab.action_add_to_list.isEnabled()

    with qtbot.waitSignal(tab.bulk_finished):
        tab.action_add_to_list.trigger()

    assert asked == [(["Customers", "VIP"], 2, {"adding": True, "current": None})]
    assert messages == ["1 contact added to “VIP”; 1 was already in it."]
    row = [tab.model.contact_at(r).email for r in range(2)].index("ann@example.com")
    assert tab.model.index(row, ContactColumn.LISTS).data() == "Customers, VIP"
    qtbot.waitUntil(lambda: "VIP (2)" in list_labels(tab))
    assert gui_ctx.contacts.count(list_name="VIP") == 2
    with qtbot.waitSignal(tab.bulk_finished):
        tab.action_add_to_list.trigger()  # the next time, the list used last is offered
    assert asked[1][-1] == {"adding": True, "current": "VIP"}
    assert messages[1] == "0 contacts added to “VIP”; 2 were already in it."


def test_add_to_a_new_list_typed_in_makes_it(
    tab: ContactsTab, gui_ctx: AppContext, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ChooseListDialog, "ask", lambda *args, **kwargs: "Spring fair")
    messages = messages_of(tab)
    select_emails(tab, "bob@example.com")
    with qtbot.waitSignal(tab.bulk_finished):
        tab.action_add_to_list.trigger()
    assert messages == ["1 contact added to “Spring fair”."]
    qtbot.waitUntil(lambda: "Spring fair (1)" in list_labels(tab))
    assert [c.email for c in gui_ctx.contacts.search(list_name="Spring fair")] == [
        "bob@example.com"
    ]


def test_remove_from_the_list_shown_takes_the_rows_away(
    tab: ContactsTab, gui_ctx: AppContext, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    filter_on(tab, qtbot, "VIP")
    offered: list[Any] = []

    def choose(*args: Any, **kwargs: Any) -> str:
        offered.append(kwargs)
        return "VIP"

    monkeypatch.setattr(ChooseListDialog, "ask", choose)
    messages = messages_of(tab)
    select_emails(tab, "bob@example.com")
    with qtbot.waitSignal(tab.bulk_finished):
        tab.action_remove_from_list.trigger()
    qtbot.waitUntil(lambda: tab.model.rowCount() == 0)
    assert offered == [{"adding": False, "current": "VIP"}]  # the list shown
    assert messages == ["1 contact taken out of “VIP”."]
    assert gui_ctx.contacts.find("bob@example.com") is not None  # still a contact
    qtbot.waitUntil(lambda: "VIP (0)" in list_labels(tab))


def test_the_choose_list_dialog_shows_a_missing_choice_inline(qtbot: QtBot) -> None:
    dialog = ChooseListDialog(["Customers", "VIP"], 3, adding=True)
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.list_combo.currentText() == ""  # nothing chosen unasked
    dialog.accept()
    assert dialog.error.isVisibleTo(dialog)
    assert "type the name of a new one" in dialog.error.text()
    assert dialog.chosen is None
    dialog.list_combo.setCurrentText("  Newsletter ")
    dialog.accept()
    assert dialog.chosen == "Newsletter"

    removing = ChooseListDialog(["Customers", "VIP"], 1, adding=False, current="VIP")
    qtbot.addWidget(removing)
    assert not removing.list_combo.isEditable()  # only lists that exist
    removing.accept()
    assert removing.chosen == "VIP"


def test_a_list_name_typed_in_another_case_chooses_that_list(qtbot: QtBot) -> None:
    dialog = ChooseListDialog(["Customers", "VIP"], 2, adding=True)
    qtbot.addWidget(dialog)
    dialog.list_combo.setCurrentText(" vip ")
    dialog.accept()
    assert dialog.chosen == "VIP"  # not a new list "vip" (docs/design.md §21)


def test_a_large_add_shows_progress_and_cancel_keeps_what_is_done(
    gui_ctx: AppContext,
    qtbot: QtBot,
    settings: QSettings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gui_ctx.contacts.import_csv(people_csv(tmp_path / "people.csv", 1_200), "Customers")
    widget = open_tab(gui_ctx, qtbot, settings)
    real_add = gui_ctx.contacts.add_to_list
    first_part_done = threading.Event()

    def add_to_list(ids: list[int], name: str, *, progress: Any, cancel: Any) -> Any:
        def report(done: int, asked: int) -> None:
            progress(done, asked)
            first_part_done.set()
            cancel.wait(10)  # the user is looking at the progress bar

        return real_add(ids, name, progress=report, cancel=cancel)

    monkeypatch.setattr(gui_ctx.contacts, "add_to_list", add_to_list)
    monkeypatch.setattr(ChooseListDialog, "ask", lambda *args, **kwargs: "Big")
    messages = messages_of(widget)
    widget.view.selectAll()  # "all 1,202 matching": every row of the paged table
    widget.action_add_to_list.trigger()
    qtbot.waitUntil(first_part_done.is_set)
    assert widget.bulk_progress.label.text() == "Adding 1,202 contacts to “Big”…"
    qtbot.waitUntil(lambda: widget.bulk_progress.bar.value() == BULK_CHUNK)
    assert not widget.action_export.isEnabled()  # one bulk action at a time
    with qtbot.waitSignal(widget.bulk_finished):
        qtbot.mouseClick(widget.bulk_progress.cancel_button, Qt.MouseButton.LeftButton)  # type: ignore[no-untyped-call]  # pytest-qt leaves mouseClick untyped
    assert not widget.bulk_progress.isVisibleTo(widget)
    assert messages == [f"Stopped: {BULK_CHUNK:,} contacts added to “Big”."]
    assert gui_ctx.contacts.count(list_name="Big") == BULK_CHUNK


# --- rename and delete a list ------------------------------------------------------------


def test_the_rename_dialog_shows_a_taken_name_inline_and_renames(
    gui_ctx: AppContext, qtbot: QtBot
) -> None:
    vip = next(item for item in gui_ctx.contacts.lists() if item.name == "VIP")
    dialog = RenameListDialog(gui_ctx, vip)
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.name.setText("Customers")
    dialog.accept()
    assert dialog.error.isVisibleTo(dialog)
    assert dialog.error.text() == "A list named “Customers” already exists."
    assert dialog.renamed is None
    dialog.name.setText("CUSTOMERS")
    dialog.accept()
    assert dialog.error.text() == "A list named “Customers” already exists."
    dialog.name.setText("Gold")
    dialog.accept()
    assert dialog.renamed is not None
    assert dialog.renamed.name == "Gold"
    assert not dialog.isVisible()


def test_renaming_the_list_shown_keeps_it_shown_and_its_campaigns(
    tab: ContactsTab, gui_ctx: AppContext, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    campaign = make_campaign(gui_ctx, "Spring news")  # sends to Customers
    filter_on(tab, qtbot, "Customers")
    assert tab.action_rename_list.isEnabled()

    def rename(_parent: Any, ctx: AppContext, item: Any) -> Any:
        return ctx.contacts.rename_list(item.id, "Clients")

    monkeypatch.setattr(RenameListDialog, "ask", rename)
    messages = messages_of(tab)
    with qtbot.waitSignal(tab.filter_applied):
        tab.action_rename_list.trigger()
    assert tab.list_filter.currentData() == "Clients"
    assert tab.model.rowCount() == 2
    assert messages == [
        "Renamed the list “Customers” to “Clients”; its campaigns keep sending to it."
    ]
    assert gui_ctx.campaigns.get(campaign.id).lists == ("Clients",)


def test_delete_list_asks_with_the_number_of_contacts_it_holds(
    tab: ContactsTab, gui_ctx: AppContext, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    filter_on(tab, qtbot, "VIP")
    asked: list[str] = []

    def confirm(*args: str) -> bool:
        asked.append(args[2])
        return False

    monkeypatch.setattr(Confirm, "ask", confirm)
    tab.action_delete_list.trigger()
    qtbot.waitUntil(lambda: len(asked) == 1)
    assert asked == [
        "Delete the list “VIP”? It holds 1 contact; they stay in your contacts. "
        "No campaign sends to this list."
    ]
    assert "VIP" in [item.name for item in gui_ctx.contacts.lists()]  # said no


def test_delete_list_names_every_campaign_that_uses_it(
    tab: ContactsTab, gui_ctx: AppContext, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_campaign(gui_ctx, "Spring news")
    make_campaign(gui_ctx, "Autumn news")
    filter_on(tab, qtbot, "Customers")
    shown: list[str] = []
    monkeypatch.setattr(ErrorMessage, "show", lambda *args: shown.append(args[2]))
    tab.action_delete_list.trigger()
    qtbot.waitUntil(lambda: len(shown) == 1)
    assert "the campaigns “Autumn news”, “Spring news”, so it cannot be deleted" in shown[0]


# --- custom fields as columns ------------------------------------------------------------


# A popped-up menu on the offscreen platform: Qt says it cannot raise it or grab the keyboard.
popup_offscreen = pytest.mark.qt_log_ignore("This plugin does not support (raise|grabbing)")


def open_field_menu(tab: ContactsTab, qtbot: QtBot) -> QMenu:
    with qtbot.waitSignal(tab.field_menu_ready) as menu_shown:
        tab.view.horizontalHeader().customContextMenuRequested.emit(QPoint(10, 5))
    menu = menu_shown.args[0]
    assert isinstance(menu, QMenu)
    return menu


@popup_offscreen
def test_custom_fields_become_columns_and_are_remembered(
    gui_ctx: AppContext,
    qtbot: QtBot,
    settings: QSettings,
    qtmodeltester: ModelTester,
) -> None:
    ann = gui_ctx.contacts.find("ann@example.com")
    assert ann is not None
    gui_ctx.contacts.update(ann.id, attributes={"company": "Acme", "city": "Oslo"})
    widget = open_tab(gui_ctx, qtbot, settings)
    base = widget.model.columnCount()

    menu = open_field_menu(widget, qtbot)
    assert [action.text() for action in menu.actions()] == ["city", "company"]
    company = next(a for a in menu.actions() if a.text() == "company")
    assert not company.isChecked()
    company.trigger()

    assert widget.model.columnCount() == base + 1
    assert widget.model.headerData(base, Qt.Orientation.Horizontal) == "company"
    row = [widget.model.contact_at(r).email for r in range(2)].index("ann@example.com")
    assert widget.model.index(row, base).data() == "Acme"
    assert widget.model.index(1 - row, base).data() == ""
    qtmodeltester.check(widget.model)  # type: ignore[no-untyped-call]  # pytest-qt leaves it untyped
    settings.sync()

    again = open_tab(gui_ctx, qtbot, settings)  # the next start
    assert again.model.attribute_columns == ("company",)
    second = open_field_menu(again, qtbot)
    assert [a.text() for a in second.actions() if a.isChecked()] == ["company"]
    next(a for a in second.actions() if a.text() == "company").trigger()  # hide it again
    assert again.model.columnCount() == base
    assert settings.value(FIELD_COLUMNS_KEY) in ([], None, "")


@popup_offscreen
def test_the_field_menu_says_when_there_are_no_custom_fields(
    tab: ContactsTab, qtbot: QtBot
) -> None:
    menu = open_field_menu(tab, qtbot)
    (only,) = menu.actions()
    assert "No custom fields yet" in only.text()
    assert not only.isEnabled()


# --- export ------------------------------------------------------------------------------


def read_csv(path: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_bytes().decode("utf-8-sig"), newline="")))


def test_export_of_the_contacts_shown_writes_them_on_the_pool(
    tab: ContactsTab, qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    filter_on(tab, qtbot, "VIP")
    target = tmp_path / "vip.csv"
    scope: list[int] = []
    suggested: list[str] = []

    def only_shown(_parent: Any, shown: int) -> bool:
        scope.append(shown)
        return True

    def choose_path(_parent: Any, name: str) -> Path:
        suggested.append(name)
        return target

    monkeypatch.setattr(ExportScope, "ask", only_shown)
    monkeypatch.setattr(ChooseContactsExportPath, "ask", choose_path)
    messages = messages_of(tab)
    with qtbot.waitSignal(tab.bulk_finished):
        tab.action_export.trigger()
    assert scope == [1]
    assert suggested == ["contacts.csv"]
    assert messages == [f"Exported 1 contact to {target}."]
    rows = read_csv(target)
    assert rows[0][:5] == ["email", "first_name", "last_name", "status", "lists"]
    assert [row[:2] for row in rows[1:]] == [["bob@example.com", "Bob"]]


def test_export_of_all_contacts_when_the_filter_is_set_but_all_are_asked_for(
    tab: ContactsTab, qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    filter_on(tab, qtbot, "VIP")
    monkeypatch.setattr(ExportScope, "ask", lambda *args: False)
    monkeypatch.setattr(ChooseContactsExportPath, "ask", lambda *args: tmp_path / "all.csv")
    with qtbot.waitSignal(tab.bulk_finished):
        tab.action_export.trigger()
    assert [row[0] for row in read_csv(tmp_path / "all.csv")[1:]] == [
        "ann@example.com",
        "bob@example.com",
    ]


def test_a_cancelled_export_leaves_no_file(
    tab: ContactsTab,
    gui_ctx: AppContext,
    qtbot: QtBot,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_export = gui_ctx.contacts.export_csv
    started = threading.Event()

    def export_csv(target: Any, *args: Any, progress: Any, cancel: Any, **kwargs: Any) -> Any:
        def report(done: int, total: int) -> None:
            progress(done, total)
            started.set()
            cancel.wait(10)

        return real_export(target, *args, progress=report, cancel=cancel, **kwargs)

    monkeypatch.setattr(gui_ctx.contacts, "export_csv", export_csv)
    monkeypatch.setattr("campaign_desktop.services.contacts.EXPORT_PAGE", 1)
    target = tmp_path / "contacts.csv"
    monkeypatch.setattr(ChooseContactsExportPath, "ask", lambda *args: target)
    messages = messages_of(tab)
    tab.action_export.trigger()  # no filter: no question which contacts
    qtbot.waitUntil(started.is_set)
    assert tab.bulk_progress.label.text() == "Exporting contacts to contacts.csv…"
    qtbot.waitUntil(lambda: tab.bulk_progress.bar.value() == 1)  # one page of one
    assert tab.bulk_progress.bar.maximum() == 2
    with qtbot.waitSignal(tab.bulk_finished):
        qtbot.mouseClick(tab.bulk_progress.cancel_button, Qt.MouseButton.LeftButton)  # type: ignore[no-untyped-call]  # pytest-qt leaves mouseClick untyped
    assert messages == ["Export cancelled: contacts.csv was not written."]
    assert not target.exists()
    assert list(tmp_path.glob("*.part")) == []


def test_an_export_that_cannot_be_written_says_why(
    tab: ContactsTab, qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "gone" / "contacts.csv"
    monkeypatch.setattr(ChooseContactsExportPath, "ask", lambda *args: target)
    shown: list[str] = []
    monkeypatch.setattr(ErrorMessage, "show", lambda *args: shown.append(args[2]))
    with qtbot.waitSignal(tab.bulk_finished):
        tab.action_export.trigger()
    assert len(shown) == 1
    assert shown[0].startswith("“contacts.csv” could not be saved in")
    assert not tab.bulk_progress.isVisibleTo(tab)
    assert tab.action_export.isEnabled()


def test_export_and_the_list_actions_are_in_the_window(
    gui_ctx: AppContext, qtbot: QtBot, settings: QSettings
) -> None:
    window = MainWindow(gui_ctx, settings)
    qtbot.addWidget(window)
    assert window.action_export_contacts in window.file_menu.actions()
    tab = window.contacts_tab
    assert tab.action_export.shortcut().toString() == "Ctrl+E"
    assert tab.action_add_to_list.shortcut().toString() == "Ctrl+L"
    assert tab.action_remove_from_list.shortcut().toString() == "Ctrl+Shift+L"
    toolbar = tab.findChild(QToolBar, "contactToolbar")
    assert toolbar is not None
    toolbar_actions = toolbar.actions()
    assert tab.action_export in toolbar_actions
    assert tab.action_lists in toolbar_actions  # "Lists ▾", so the toolbar fits 1024 pixels
    for action in (tab.action_add_to_list, tab.action_rename_list, tab.action_delete_list):
        assert action in tab.lists_menu.actions()
    assert tab.action_add_to_list in tab.view.actions()  # the table's context menu


def test_ctrl_l_and_ctrl_shift_l_still_add_to_and_remove_from_a_list(
    tab: ContactsTab, gui_ctx: AppContext, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[bool] = []

    def choose(*_args: Any, adding: bool, **_kwargs: Any) -> str:
        asked.append(adding)
        return "VIP"

    monkeypatch.setattr(ChooseListDialog, "ask", choose)
    tab.show()
    tab.activateWindow()
    qtbot.waitUntil(tab.isActiveWindow)  # keys reach the focused widget of the active window
    tab.view.setFocus()
    select_emails(tab, "ann@example.com")
    with qtbot.waitSignal(tab.bulk_finished):
        qtbot.keyClick(tab.view, Qt.Key.Key_L, Qt.KeyboardModifier.ControlModifier)  # type: ignore[no-untyped-call]  # pytest-qt leaves keyClick untyped
    assert gui_ctx.contacts.count(list_name="VIP") == 2
    select_emails(tab, "ann@example.com")
    modifiers = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
    with qtbot.waitSignal(tab.bulk_finished):
        qtbot.keyClick(tab.view, Qt.Key.Key_L, modifiers)  # type: ignore[no-untyped-call]  # pytest-qt leaves keyClick untyped
    assert asked == [True, False]
    assert gui_ctx.contacts.count(list_name="VIP") == 1
    # QTest leaves Shift down in Qt's idea of the keyboard after Ctrl+Shift+L: let it go, or
    # later tests' clicks and selections act as if Shift were held.
    qtbot.keyRelease(tab.view, Qt.Key.Key_Shift)  # type: ignore[no-untyped-call]  # pytest-qt leaves keyRelease untyped
    assert QGuiApplication.keyboardModifiers() == Qt.KeyboardModifier.NoModifier
    assert tab.model.current_filter == ContactFilter()
