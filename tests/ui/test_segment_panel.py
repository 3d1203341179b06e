"""The Contacts tab's "Filter by field" panel and the campaign editor's segments
(docs/design.md §18), on a real database under pytest-qt: the table follows the
conditions, counts come from the pool, errors wait for the user, segments are saved,
opened, replaced and (when no campaign uses them) deleted, and the editor sends to them."""

from __future__ import annotations

from typing import Any

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from campaign_desktop.context import AppContext
from campaign_desktop.domain.segments import Condition, Operator, Segment, custom_field
from campaign_desktop.ui.campaigns.audience_picker import SegmentNameRole
from campaign_desktop.ui.campaigns.campaign_editor import CampaignEditor
from campaign_desktop.ui.campaigns.campaign_model import CampaignTableModel, Column
from campaign_desktop.ui.common.accessibility import unnamed_controls
from campaign_desktop.ui.common.prompts import Confirm, ErrorMessage
from campaign_desktop.ui.contacts.contacts_tab import ContactsTab
from campaign_desktop.ui.contacts.list_dialogs import RenameSegmentDialog
from campaign_desktop.ui.contacts.segment_panel import ConditionRow, SegmentName
from tests.ui.conftest import make_campaign

pytestmark = pytest.mark.gui

PARIS = Segment.of([Condition(custom_field("city"), Operator.IS, "paris")])


@pytest.fixture
def people(gui_ctx: AppContext) -> AppContext:
    add = gui_ctx.contacts.add
    add("cy@example.com", "Cy", "", ("VIP",), {"city": "Paris", "age": "40"})
    add("di@example.com", "Di", "", (), {"city": "PARIS", "age": "12"})
    add("ed@example.com", "Ed", "", (), {"city": "Lyon"})
    gui_ctx.contacts.unsubscribe("di@example.com")
    return gui_ctx


@pytest.fixture
def tab(people: AppContext, qtbot: QtBot) -> ContactsTab:
    widget = ContactsTab(people)
    qtbot.addWidget(widget)
    with qtbot.waitSignal(widget.filter_applied):
        widget.reload()
    with qtbot.waitSignal(widget.segment_panel.segments_read):
        widget.field_filter_button.click()
    return widget


def _emails(tab: ContactsTab) -> list[str]:
    return [tab.model.contact_at(row).email for row in range(tab.model.rowCount())]


def _choose(row: ConditionRow, field: str, operator: Operator, value: str = "") -> None:
    row.field.setCurrentIndex(row.field.findData(field))
    row.operator.setCurrentIndex(row.operator.findData(operator.value))
    if value:
        row.value.textEdited.emit(value)  # as typing does (setText does not emit textEdited)
        row.value.setText(value)
        row.changed.emit()


def _filter(qtbot: QtBot, tab: ContactsTab, row: ConditionRow, *how: Any) -> None:
    with qtbot.waitSignal(tab.filter_applied), qtbot.waitSignal(tab.segment_panel.counted):
        _choose(row, *how)


def test_conditions_filter_the_table_and_count_matches_and_subscribers(
    tab: ContactsTab, qtbot: QtBot
) -> None:
    panel = tab.segment_panel
    assert panel.isVisibleTo(tab)
    assert panel.rows()[0].field.findData("custom:city") >= 0  # custom fields read on the pool
    _filter(qtbot, tab, panel.rows()[0], "custom:city", Operator.IS, "paris")
    assert _emails(tab) == ["cy@example.com", "di@example.com"]
    qtbot.waitUntil(lambda: panel.count_label.text() == "2 contacts match (1 subscribed)")
    assert tab.count_label.text() == "2 contacts match"

    # A second condition, any of them.
    second = panel.add_row()
    _filter(qtbot, tab, second, "first_name", Operator.STARTS_WITH, "e")
    assert _emails(tab) == []  # all: Paris and a name starting with E
    with qtbot.waitSignal(tab.filter_applied):
        panel.match.setCurrentIndex(panel.match.findData("any"))
    assert _emails(tab) == ["cy@example.com", "di@example.com", "ed@example.com"]

    # Removing the rows and hiding the panel shows everyone again.
    with qtbot.waitSignal(tab.filter_applied):
        second.remove.click()
    assert _emails(tab) == ["cy@example.com", "di@example.com"]

    # Unsubscribing one of them in the table is counted again.
    tab.view.selectRow(0)
    with qtbot.waitSignal(tab.bulk_finished), qtbot.waitSignal(panel.counted):
        tab.action_unsubscribe.trigger()
    qtbot.waitUntil(lambda: panel.count_label.text() == "2 contacts match (0 subscribed)")
    with qtbot.waitSignal(tab.filter_applied):
        tab.field_filter_button.click()
    assert len(_emails(tab)) == 5


def test_numbers_and_status_are_compared_as_chosen(tab: ContactsTab, qtbot: QtBot) -> None:
    row = tab.segment_panel.rows()[0]
    _filter(qtbot, tab, row, "custom:age", Operator.GREATER_THAN, "18")
    assert _emails(tab) == ["cy@example.com"]
    with qtbot.waitSignal(tab.filter_applied):
        row.field.setCurrentIndex(row.field.findData("status"))
        assert row.status.isVisibleTo(row) and not row.value.isVisibleTo(row)
        row.status.setCurrentIndex(row.status.findData("unsubscribed"))
    assert _emails(tab) == ["di@example.com"]


def test_no_error_before_the_user_typed_then_the_missing_value_is_named(
    tab: ContactsTab, qtbot: QtBot
) -> None:
    row = tab.segment_panel.rows()[0]
    row.field.setCurrentIndex(row.field.findData("email"))
    assert not row.error.isVisibleTo(row)
    assert not tab.segment_panel.save_button.isEnabled()
    row.value.textEdited.emit("x")
    row.value.textEdited.emit("")
    assert row.error.isVisibleTo(row)
    assert row.error.text() == "Type a value to compare with."
    row.value.setText("ann")
    row.value.textEdited.emit("ann")
    assert not row.error.isVisibleTo(row)
    assert tab.segment_panel.save_button.isEnabled()
    # "is empty" needs no value: the box goes away.
    row.operator.setCurrentIndex(row.operator.findData(Operator.IS_EMPTY.value))
    assert not row.value.isVisibleTo(row)


def test_save_as_segment_then_open_replace_and_delete_it(
    tab: ContactsTab, people: AppContext, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    panel = tab.segment_panel
    _filter(qtbot, tab, panel.rows()[0], "custom:city", Operator.IS, "paris")
    monkeypatch.setattr(SegmentName, "ask", classmethod(lambda cls, parent, suggestion="": "Paris"))
    with qtbot.waitSignal(panel.segments_read):
        panel.save_button.click()
    [saved] = people.segments.list()
    assert (saved.name, saved.segment) == ("Paris", PARIS)
    assert panel.saved_combo.currentText() == "Paris"

    # Start again, then open the saved one: its conditions come back.
    panel.clear()
    assert panel.segment() is None
    with qtbot.waitSignal(tab.filter_applied):
        panel.saved_combo.activated.emit(panel.saved_combo.findText("Paris"))
    assert panel.segment() == PARIS
    assert _emails(tab) == ["cy@example.com", "di@example.com"]

    # Saving under the same name asks, then replaces the conditions.
    questions: list[str] = []

    def confirm(_cls: object, _parent: object, _title: str, text: str, _action: str) -> bool:
        questions.append(text)
        return True

    monkeypatch.setattr(Confirm, "ask", classmethod(confirm))
    _filter(qtbot, tab, panel.rows()[0], "custom:city", Operator.IS, "lyon")
    with qtbot.waitSignal(panel.segments_read):
        panel.save_button.click()
    assert "Replace the conditions of the segment “Paris”?" in questions[0]
    [replaced] = people.segments.list()
    assert replaced.id == saved.id and replaced.segment is not None
    assert replaced.segment.conditions[0].value == "lyon"

    # Deleting is refused while a campaign sends to it, then goes through.
    campaign = people.campaigns.create(
        name="Lyon news",
        subject="Hi",
        body_text="Hello",
        from_email="news@example.com",
        segments=("Paris",),
    )
    shown: list[str] = []
    monkeypatch.setattr(
        ErrorMessage, "show", classmethod(lambda cls, parent, title, text: shown.append(text))
    )
    panel.delete_button.click()
    assert shown == [
        "“Paris” is the audience of campaign “Lyon news”. Remove it from that campaign first."
    ]
    people.campaigns.delete(campaign.id)
    with qtbot.waitSignal(panel.segments_read):
        panel.delete_button.click()
    assert people.segments.list() == []
    assert panel.saved_combo.count() == 0


def test_every_control_of_the_panel_is_named(tab: ContactsTab) -> None:
    tab.segment_panel.add_row()
    assert unnamed_controls(tab.segment_panel) == []


def test_the_editor_lists_segments_with_counts_and_sends_to_the_chosen_ones(
    people: AppContext, qtbot: QtBot
) -> None:
    people.segments.create("Paris", PARIS)
    editor = CampaignEditor(people)
    qtbot.addWidget(editor)
    qtbot.waitUntil(editor.is_loaded)  # the lists, read on the pool
    picker = editor._audience
    model = picker.model
    qtbot.waitUntil(lambda: model.rowCount() == 1 and "counting" not in model.index(0).data())
    assert model.index(0).data() == "Paris (1 subscribed)"
    assert model.index(0).data(SegmentNameRole) == "Paris"
    assert model.index(0).data(Qt.ItemDataRole.ToolTipRole) == "city is “paris”"

    for name, text in (
        ("name", "Paris news"),
        ("subject", "Hi"),
        ("fromEmail", "news@example.com"),
    ):
        getattr(editor, f"_{'from_email' if name == 'fromEmail' else name}").setText(text)
    editor._body_text.setPlainText("Hello {{ first_name }}")
    lists = editor._lists.model()
    with qtbot.waitSignal(picker.counted, timeout=5000):
        lists.setData(lists.index(0, 0), 2, Qt.ItemDataRole.CheckStateRole)  # Customers
    with qtbot.waitSignal(picker.counted, timeout=5000):
        model.setData(model.index(0), Qt.CheckState.Checked.value, Qt.ItemDataRole.CheckStateRole)
    # Customers: ann, bob; Paris: cy (di unsubscribed).
    assert picker.total_label.text() == "Audience: 3 subscribed contacts, each sent to once"
    qtbot.waitUntil(editor.save_button.isEnabled)
    editor.accept()
    qtbot.waitUntil(lambda: editor.saved is not None)  # saved on the pool
    assert editor.saved is not None
    saved = people.campaigns.get(editor.saved.id)
    assert (saved.lists, saved.segments, saved.audience_size) == (("Customers",), ("Paris",), 3)

    # Editing it again shows the segment chosen.
    again = CampaignEditor(people, saved)
    qtbot.addWidget(again)
    qtbot.waitUntil(lambda: again._audience.model.rowCount() == 1)
    assert again._audience.chosen_segments() == ["Paris"]
    assert again.draft().segments == ("Paris",)


def test_the_editor_says_how_to_make_a_segment_when_there_is_none(
    gui_ctx: AppContext, qtbot: QtBot
) -> None:
    editor = CampaignEditor(gui_ctx)
    qtbot.addWidget(editor)
    qtbot.waitUntil(lambda: editor._audience.empty_label.isVisibleTo(editor))
    assert "Save as segment" in editor._audience.empty_label.text()


def test_the_campaign_table_counts_segments_in_the_audience(
    people: AppContext, qtbot: QtBot
) -> None:
    people.segments.create("Paris", PARIS)
    make_campaign(people, "Lists only")
    people.campaigns.create(
        name="With Paris",
        subject="Hi",
        body_text="Hello",
        from_email="news@example.com",
        lists=("Customers",),
        segments=("Paris",),
    )
    model = CampaignTableModel(people.campaigns)
    model.reload()

    def audience(name: str) -> str:
        row = next(r for r in range(model.rowCount()) if model.campaign_at(r).name == name)
        return str(model.index(row, Column.AUDIENCE).data())

    qtbot.waitUntil(lambda: audience("With Paris") == "3" and audience("Lists only") == "2")


# --- renaming a saved segment (docs/design.md §21) ---------------------------------------


def test_the_rename_segment_dialog_refuses_a_name_taken_in_any_case_inline(
    people: AppContext, qtbot: QtBot
) -> None:
    people.segments.create(
        "Locals", Segment.of([Condition(custom_field("city"), Operator.IS, "lyon")])
    )
    paris = people.segments.create("Paris", PARIS)
    dialog = RenameSegmentDialog(people, paris)
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.name.setText(" LOCALS ")
    dialog.accept()
    assert dialog.error.isVisibleTo(dialog)
    assert dialog.error.text() == "A segment named “Locals” already exists."
    assert dialog.renamed is None and dialog.isVisible()
    dialog.name.setText("PARIS")  # its own name in other case
    dialog.accept()
    assert dialog.renamed is not None and dialog.renamed.name == "PARIS"
    assert not dialog.isVisible()


def test_f2_renames_the_saved_segment_and_its_campaign_keeps_sending_to_it(
    tab: ContactsTab, people: AppContext, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    saved = people.segments.create("Paris", PARIS)
    campaign = people.campaigns.create(
        name="Paris news",
        subject="Hi",
        body_text="Hello",
        from_email="news@example.com",
        segments=("Paris",),
    )
    panel = tab.segment_panel
    with qtbot.waitSignal(panel.segments_read):
        panel.reload()
    assert not panel.rename_button.isEnabled()  # nothing chosen yet
    with qtbot.waitSignal(tab.filter_applied):  # as choosing it with the mouse does
        panel.saved_combo.setCurrentIndex(panel.saved_combo.findText("Paris"))
        panel.saved_combo.activated.emit(panel.saved_combo.currentIndex())
    assert panel.rename_button.isEnabled()
    asked: list[str] = []

    def rename(_parent: Any, ctx: AppContext, item: Any) -> Any:
        asked.append(item.name)
        return ctx.segments.rename(item.id, "Parisians")

    monkeypatch.setattr(RenameSegmentDialog, "ask", rename)
    tab.show()
    tab.activateWindow()
    qtbot.waitUntil(tab.isActiveWindow)  # keys reach the focused widget of the active window
    panel.saved_combo.setFocus()
    with qtbot.waitSignal(panel.segments_read):
        qtbot.keyClick(panel.saved_combo, Qt.Key.Key_F2)  # type: ignore[no-untyped-call]  # pytest-qt leaves keyClick untyped
    assert asked == ["Paris"]
    assert panel.saved_combo.currentText() == "Parisians"
    assert panel.message.text() == (
        "Renamed the segment “Paris” to “Parisians”; its campaigns keep sending to it."
    )
    assert people.campaigns.get(campaign.id).segments == ("Parisians",)
    assert people.segments.get(saved.id).segment == PARIS
