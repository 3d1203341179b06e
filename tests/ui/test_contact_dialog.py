"""Edit contact: address, names, lists and custom fields saved in one go; a refusal shows by
its field and saves nothing."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from campaign_desktop.context import AppContext
from campaign_desktop.ui.common.accessibility import unnamed_controls
from campaign_desktop.ui.contacts.contact_dialog import ContactDialog

pytestmark = pytest.mark.gui


def dialog_for(gui_ctx: AppContext, qtbot: QtBot, email: str = "ann@example.com") -> ContactDialog:
    contact = gui_ctx.contacts.find(email)
    assert contact is not None
    names = [item.name for item in gui_ctx.contacts.lists()]
    dialog = ContactDialog(gui_ctx, contact, names)
    qtbot.addWidget(dialog)
    return dialog


def check(dialog: ContactDialog, name: str, checked: bool) -> None:
    (item,) = dialog.lists.findItems(name, Qt.MatchFlag.MatchExactly)
    item.setCheckState(Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)


def test_everything_edited_is_saved_together(gui_ctx: AppContext, qtbot: QtBot) -> None:
    gui_ctx.contacts.update(
        gui_ctx.contacts.find("ann@example.com").id,  # type: ignore[union-attr]
        attributes={"city": "Oslo", "orders": 3},
    )
    dialog = dialog_for(gui_ctx, qtbot)
    assert dialog.email.text() == "ann@example.com"
    assert [dialog.cell(r, 0).text() for r in range(dialog.fields.rowCount())] == [
        "city",
        "orders",
    ]
    dialog.email.setText("ann.lee@example.com")
    dialog.last_name.setText("Lee")
    check(dialog, "Customers", False)
    check(dialog, "VIP", True)
    dialog.cell(0, 1).setText("Bergen")
    dialog.add_field.click()
    dialog.cell(2, 0).setText("company")
    dialog.cell(2, 1).setText("Acme")
    dialog.accept()
    assert dialog.result() == dialog.DialogCode.Accepted
    saved = gui_ctx.contacts.find("ann.lee@example.com")
    assert saved is not None and saved == dialog.saved
    assert (saved.first_name, saved.last_name, saved.lists) == ("Ann", "Lee", ("VIP",))
    # The untouched number stays a number; the edited text is text.
    assert saved.attributes == {"city": "Bergen", "orders": 3, "company": "Acme"}


def test_a_taken_address_shows_by_the_field_and_saves_nothing(
    gui_ctx: AppContext, qtbot: QtBot
) -> None:
    before = gui_ctx.contacts.find("ann@example.com")
    dialog = dialog_for(gui_ctx, qtbot)
    dialog.email.setText("bob@example.com")
    dialog.first_name.setText("Annie")
    dialog.accept()
    assert dialog.saved is None and dialog.result() != dialog.DialogCode.Accepted
    assert "already in your contacts" in dialog.errors["email"].text()
    assert not dialog.errors["email"].isHidden()
    assert gui_ctx.contacts.find("ann@example.com") == before


def test_a_field_name_the_templates_cannot_use_is_refused(
    gui_ctx: AppContext, qtbot: QtBot
) -> None:
    dialog = dialog_for(gui_ctx, qtbot)
    dialog.add_field.click()
    dialog.cell(0, 0).setText("2nd phone")
    dialog.cell(0, 1).setText("555")
    dialog.accept()
    assert dialog.saved is None
    assert not dialog.errors["attributes"].isHidden()
    assert "attribute" in dialog.errors["attributes"].text()


def test_removing_a_field_and_leaving_an_added_row_empty(gui_ctx: AppContext, qtbot: QtBot) -> None:
    ann = gui_ctx.contacts.find("ann@example.com")
    assert ann is not None
    gui_ctx.contacts.update(ann.id, attributes={"city": "Oslo"})
    dialog = dialog_for(gui_ctx, qtbot)
    dialog.fields.selectRow(0)
    dialog.remove_field.click()
    dialog.add_field.click()  # left empty: ignored
    dialog.accept()
    assert dialog.saved is not None and dialog.saved.attributes == {}


def test_every_control_is_named(gui_ctx: AppContext, qtbot: QtBot) -> None:
    assert unnamed_controls(dialog_for(gui_ctx, qtbot)) == []
