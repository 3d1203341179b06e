"""The campaign editor: live template checks gate Save; saving goes through the service."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QLabel,
    QLineEdit,
    QListView,
    QPlainTextEdit,
    QPushButton,
    QWidget,
)
from pytestqt.qtbot import QtBot

from campaign_desktop.context import AppContext
from campaign_desktop.domain.views import CampaignView
from campaign_desktop.ui.campaigns.campaign_editor import (
    READING_TEXT,
    SAMPLE_CONTACT,
    CampaignEditor,
    DiscardChanges,
)
from tests.storage_faults import lock_held_elsewhere
from tests.ui.conftest import make_campaign
from tests.ui.helpers import record_threads

pytestmark = pytest.mark.gui


def _open(qtbot: QtBot, ctx: AppContext, campaign: CampaignView | None = None) -> CampaignEditor:
    """An editor, once its lists, columns and settings (read on the pool) are in."""
    editor = CampaignEditor(ctx, campaign)
    qtbot.addWidget(editor)
    qtbot.waitUntil(editor.is_loaded)
    return editor


def _save(qtbot: QtBot, editor: CampaignEditor) -> None:
    """Press Save and wait until the save (on the pool) has ended."""
    editor.accept()
    qtbot.waitUntil(lambda: not editor.is_saving())


def _fill(editor: CampaignEditor, body: str) -> None:
    for name, text in (
        ("name", "Spring news"),
        ("subject", "Hello {{ first_name }}"),
        ("fromEmail", "news@example.com"),
    ):
        edit = editor.findChild(QLineEdit, name)
        assert edit is not None
        edit.setText(text)
    body_edit = editor.findChild(QPlainTextEdit, "bodyText")
    assert body_edit is not None
    body_edit.setPlainText(body)
    editor._check()  # what the typing pause would trigger


def test_unknown_variable_disables_save_until_fixed(gui_ctx: AppContext, qtbot: QtBot) -> None:
    editor = _open(qtbot, gui_ctx)
    _fill(editor, "Hi {{ frist_name }}")
    assert not editor.save_button.isEnabled()
    error = editor.findChild(QLabel, "body_textError")
    assert error is not None
    assert "frist_name" in error.text()
    _fill(editor, "Hi {{ first_name }}")
    assert editor.save_button.isEnabled()
    assert "Hi Ann" in editor._preview.toPlainText()


def test_a_template_that_cannot_be_filled_in_disables_save_with_the_reason(
    gui_ctx: AppContext, qtbot: QtBot
) -> None:
    editor = _open(qtbot, gui_ctx)
    _fill(editor, "Hi {{ first_name }}\n{{ 1/0 }}")
    assert not editor.save_button.isEnabled()
    error = editor.findChild(QLabel, "body_textError")
    assert error is not None
    assert error.text() == (
        "The text body could not be filled in on line 2 for the sample contact: division by zero."
    )
    assert editor._preview.toPlainText() == ""
    _fill(editor, "Hi {{ first_name }}")
    assert editor.save_button.isEnabled()


def test_saving_shows_a_failure_for_a_real_contact_under_its_field(
    gui_ctx: AppContext, qtbot: QtBot
) -> None:
    gui_ctx.contacts.add("nofirst@example.com", last_name="Smith", lists=("Customers",))
    editor = _open(qtbot, gui_ctx)
    _fill(editor, "Dear {{ first_name[0] }}.")  # fine for the sample contact
    model = editor._lists.model()
    model.setData(model.index(0, 0), 2, 10)  # Customers checked
    assert editor.save_button.isEnabled()
    _save(qtbot, editor)
    assert editor.saved is None
    error = editor.findChild(QLabel, "body_textError")
    assert error is not None
    assert "for nofirst@example.com: str object has no element 0." in error.text()
    assert not editor.save_button.isEnabled()


def test_empty_name_and_bad_address_disable_save(gui_ctx: AppContext, qtbot: QtBot) -> None:
    editor = _open(qtbot, gui_ctx)
    assert not editor.save_button.isEnabled()
    assert set(editor.problems()) >= {"name", "subject", "from_email"}


def test_saving_creates_the_campaign(gui_ctx: AppContext, qtbot: QtBot) -> None:
    editor = _open(qtbot, gui_ctx)
    _fill(editor, "Hi {{ first_name }}")
    model = editor._lists.model()
    first = model.index(0, 0)
    assert "Customers" in first.data()
    model.setData(first, 2, 10)  # Qt.CheckStateRole = 10, Checked = 2
    _save(qtbot, editor)
    assert editor.saved is not None
    saved = gui_ctx.campaigns.get(editor.saved.id)
    assert saved.name == "Spring news"
    assert saved.lists == ("Customers",)
    assert saved.audience_size == 2


def test_the_editor_shows_the_services_own_words_for_a_refused_field(
    gui_ctx: AppContext, qtbot: QtBot
) -> None:
    editor = _open(qtbot, gui_ctx)
    _fill(editor, "Hi {{ first_name }}")
    from_email = editor.findChild(QLineEdit, "fromEmail")
    assert from_email is not None
    from_email.setText("news at example")
    editor._check()
    expected = gui_ctx.campaigns.check_draft(editor.draft())["from_email"]
    assert "not a valid email address" in expected
    error = editor.findChild(QLabel, "from_emailError")
    assert error is not None
    assert error.text() == expected
    assert not editor.save_button.isEnabled()


# --- closing with unsaved changes -------------------------------------------------------------


class Answers:
    """DiscardChanges.ask replaced: the names asked about, and the answer to give."""

    def __init__(self, discard: bool) -> None:
        self.discard = discard
        self.asked: list[str] = []

    def __call__(self, parent: object, name: str) -> bool:
        self.asked.append(name)
        return self.discard


@pytest.fixture
def shown_editor(gui_ctx: AppContext, qtbot: QtBot) -> CampaignEditor:
    editor = _open(qtbot, gui_ctx, make_campaign(gui_ctx, "Spring news"))
    editor.show()
    qtbot.waitExposed(editor)
    return editor


def _line(editor: CampaignEditor, name: str) -> QLineEdit:
    edit = editor.findChild(QLineEdit, name)
    assert edit is not None
    return edit


@pytest.mark.parametrize("how", ["escape", "cancel", "close"])
def test_closing_with_unsaved_changes_asks_and_keep_editing_keeps_the_editor_open(
    shown_editor: CampaignEditor, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    editor = shown_editor
    keep = Answers(discard=False)
    monkeypatch.setattr(DiscardChanges, "ask", keep)
    qtbot.keyClicks(_line(editor, "subject"), " again")  # type: ignore[no-untyped-call]  # pytest-qt leaves it untyped

    def close() -> None:
        if how == "escape":
            qtbot.keyClick(editor, Qt.Key.Key_Escape)  # type: ignore[no-untyped-call]  # pytest-qt leaves it untyped
        elif how == "cancel":
            cancel = editor.findChild(QPushButton, "cancelCampaign")
            assert cancel is not None
            qtbot.mouseClick(cancel, Qt.MouseButton.LeftButton)  # type: ignore[no-untyped-call]  # pytest-qt leaves mouseClick untyped
        else:
            editor.close()

    close()
    assert keep.asked == ["Spring news"]
    assert editor.isVisible()
    assert _line(editor, "subject").text() == "Hi again"

    discard = Answers(discard=True)
    monkeypatch.setattr(DiscardChanges, "ask", discard)
    close()
    assert discard.asked == ["Spring news"]
    assert not editor.isVisible()
    assert editor.saved is None


def test_closing_an_unchanged_editor_asks_nothing(
    shown_editor: CampaignEditor, qtbot: QtBot
) -> None:
    # DiscardChanges.ask fails the test if called (tests/ui/conftest.py).
    qtbot.keyClicks(_line(shown_editor, "subject"), "x")  # type: ignore[no-untyped-call]  # pytest-qt leaves it untyped
    # Back as it was:
    qtbot.keyClick(_line(shown_editor, "subject"), Qt.Key.Key_Backspace)  # type: ignore[no-untyped-call]  # pytest-qt leaves it untyped
    qtbot.keyClick(shown_editor, Qt.Key.Key_Escape)  # type: ignore[no-untyped-call]  # pytest-qt leaves it untyped
    assert not shown_editor.isVisible()


# --- errors only where the user typed ---------------------------------------------------------


def test_a_new_campaign_shows_no_red_error_before_the_user_types_in_a_field(
    gui_ctx: AppContext, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    editor = _open(qtbot, gui_ctx)
    editor.show()
    qtbot.waitExposed(editor)
    labels = {name: editor.findChild(QLabel, f"{name}Error") for name in ("name", "subject")}
    assert set(editor.problems()) >= {"name", "subject"}
    assert not editor.save_button.isEnabled()  # still nothing to save
    assert all(label is not None and label.isHidden() for label in labels.values())

    from_email = _line(editor, "fromEmail")
    from_email.selectAll()
    qtbot.keyClicks(from_email, "news at example")  # type: ignore[no-untyped-call]  # pytest-qt leaves it untyped
    qtbot.waitUntil(lambda: not editor._check_timer.isActive())
    problem = editor.findChild(QLabel, "from_emailError")
    assert problem is not None and not problem.isHidden()
    assert "not a valid email address" in problem.text()
    assert all(label is not None and label.isHidden() for label in labels.values())

    _save(qtbot, editor)  # Save tried: every problem shows where it is
    assert all(label is not None and not label.isHidden() for label in labels.values())
    monkeypatch.setattr(DiscardChanges, "ask", Answers(discard=True))  # closed at the end


# --- the preview's contact --------------------------------------------------------------------


def test_the_preview_shows_any_real_contact_found_by_typing(
    gui_ctx: AppContext, qtbot: QtBot
) -> None:
    for number in range(30):
        gui_ctx.contacts.add(f"person{number:02}@example.com", first_name=f"Person {number}")
    gui_ctx.contacts.add("zoe@example.com", first_name="Zoë", last_name="Quinn")
    editor = _open(qtbot, gui_ctx)
    _fill(editor, "Dear {{ full_name }} <{{ email }}>")
    picker = editor.findChild(QComboBox, "previewContact")
    assert picker is not None
    qtbot.waitUntil(lambda: len(editor.contact_choices()) > 1)
    assert editor.contact_choices()[0] == SAMPLE_CONTACT
    assert "Zoë Quinn <zoe@example.com>" not in editor.contact_choices()  # not in the first page
    assert "Dear Ann Example <ann.example@example.com>" in editor._preview.toPlainText()

    line = picker.lineEdit()
    assert line is not None
    line.selectAll()
    qtbot.keyClicks(line, "zoe")  # type: ignore[no-untyped-call]  # pytest-qt leaves it untyped
    qtbot.waitUntil(lambda: "Zoë Quinn <zoe@example.com>" in editor.contact_choices())
    qtbot.waitUntil(lambda: "Dear Zoë Quinn <zoe@example.com>" in editor._preview.toPlainText())
    previewed = editor.previewed_contact()
    assert previewed is not None and previewed.email == "zoe@example.com"

    picker.activated.emit(0)  # back to the sample contact
    assert "Dear Ann Example <ann.example@example.com>" in editor._preview.toPlainText()


# --- reading and saving off the GUI thread ----------------------------------------------------


def test_opening_the_editor_reads_the_lists_columns_and_settings_off_the_gui_thread(
    gui_ctx: AppContext, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    gui_ctx.contacts.add("cy@example.com", attributes={"city": "Paris"}, lists=("Customers",))
    reads = [
        record_threads(monkeypatch, gui_ctx.contacts, "lists"),
        record_threads(monkeypatch, gui_ctx.campaigns, "attribute_keys"),
        record_threads(monkeypatch, gui_ctx.settings, "all"),
    ]
    editor = CampaignEditor(gui_ctx, make_campaign(gui_ctx, "Spring news"))
    qtbot.addWidget(editor)
    lists = editor.findChild(QListView, "lists")
    variables = editor.findChild(QListView, "variables")
    assert lists is not None and variables is not None

    qtbot.waitUntil(lambda: "Customers (3 subscribed)" in _texts(lists))
    qtbot.waitUntil(lambda: "{{ city }}" in _texts(variables))

    assert editor.chosen_lists() == ["Customers"]  # the campaign's, checked
    assert all(reads) and not any(any(read) for read in reads)


def test_until_the_lists_are_read_they_say_so_and_save_waits(
    gui_ctx: AppContext, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    gui_ctx.settings.set("sender.from_email", "news@shop.example")
    go_on = threading.Event()
    lists = gui_ctx.contacts.lists

    def slow() -> Any:
        go_on.wait(10)
        return lists()

    monkeypatch.setattr(gui_ctx.contacts, "lists", slow)
    editor = CampaignEditor(gui_ctx)
    qtbot.addWidget(editor)
    _fill(editor, "Hi {{ first_name }}")
    view = editor.findChild(QListView, "lists")
    assert view is not None
    assert _texts(view) == [READING_TEXT] and not view.isEnabled()
    assert not editor.save_button.isEnabled()
    assert not editor.is_loaded()

    go_on.set()
    qtbot.waitUntil(editor.is_loaded)
    assert view.isEnabled() and _texts(view)[0].startswith("Customers")
    assert editor.save_button.isEnabled()
    # A new campaign's sender from the settings, where nothing was typed yet:
    assert _line(editor, "fromEmail").text() == "news@example.com"  # typed by _fill
    assert _line(editor, "fromName").text() == ""


def test_a_new_campaign_takes_its_sender_from_the_settings_once_read(
    gui_ctx: AppContext, qtbot: QtBot
) -> None:
    gui_ctx.settings.set("sender.from_email", "news@shop.example")
    gui_ctx.settings.set("sender.from_name", "Shop")
    editor = _open(qtbot, gui_ctx)
    assert _line(editor, "fromEmail").text() == "news@shop.example"
    assert _line(editor, "fromName").text() == "Shop"
    assert not editor.has_changes()  # what the editor opened with
    problem = editor.findChild(QLabel, "from_emailError")
    assert problem is not None and problem.isHidden()


def test_saving_runs_off_the_gui_thread_and_closes_the_editor_when_done(
    gui_ctx: AppContext, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    created = record_threads(monkeypatch, gui_ctx.campaigns, "create")
    editor = _open(qtbot, gui_ctx)
    editor.show()
    _fill(editor, "Hi {{ first_name }}")
    model = editor._lists.model()
    model.setData(model.index(0, 0), 2, 10)  # Customers checked
    with qtbot.waitSignal(editor.accepted):
        editor.accept()
        assert editor.is_saving() and not editor.save_button.isEnabled()
    assert editor.saved is not None
    assert gui_ctx.campaigns.get(editor.saved.id).audience_size == 2
    assert created == [False]
    assert not editor.isVisible()


def _texts(view: QListView) -> list[str]:
    model = view.model()
    return [str(model.index(row, 0).data()) for row in range(model.rowCount())]


def test_a_busy_database_leaves_save_on_and_nothing_can_be_typed_while_saving(
    tmp_path: Path, qtbot: QtBot
) -> None:
    """From a try-out: after "The database is busy … Try again in a moment" Save stayed
    greyed out; and a change typed during "Saving…" was silently left out of the save."""
    ctx = AppContext.open(tmp_path / "data", busy_timeout=0.2)
    try:
        editor = _open(qtbot, ctx)
        _fill(editor, "Hi {{ first_name }}")
        with lock_held_elsewhere(ctx.db.path):
            editor.accept()
            fields = editor.findChild(QWidget, "editorFields")
            assert fields is not None and not fields.isEnabled()  # nothing to type into
            qtbot.waitUntil(lambda: not editor.is_saving())
        assert "busy" in editor._general_error.text()
        assert editor.save_button.isEnabled()  # "try again in a moment": it can be
        assert fields.isEnabled()
        with qtbot.waitSignal(editor.accepted):
            editor.accept()
        assert editor.saved is not None and ctx.campaigns.get(editor.saved.id).name == "Spring news"
    finally:
        ctx.close()
