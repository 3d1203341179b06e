"""The campaign editor: live template checks gate Save; saving goes through the service."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QLabel, QLineEdit, QPlainTextEdit
from pytestqt.qtbot import QtBot

from campaign_desktop.context import AppContext
from campaign_desktop.ui.campaigns.campaign_editor import CampaignEditor

pytestmark = pytest.mark.gui


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
    editor = CampaignEditor(gui_ctx)
    qtbot.addWidget(editor)
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
    editor = CampaignEditor(gui_ctx)
    qtbot.addWidget(editor)
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
    editor = CampaignEditor(gui_ctx)
    qtbot.addWidget(editor)
    _fill(editor, "Dear {{ first_name[0] }}.")  # fine for the sample contact
    model = editor._lists.model()
    model.setData(model.index(0, 0), 2, 10)  # Customers checked
    assert editor.save_button.isEnabled()
    editor.accept()
    assert editor.saved is None
    error = editor.findChild(QLabel, "body_textError")
    assert error is not None
    assert "for nofirst@example.com: str object has no element 0." in error.text()
    assert not editor.save_button.isEnabled()


def test_empty_name_and_bad_address_disable_save(gui_ctx: AppContext, qtbot: QtBot) -> None:
    editor = CampaignEditor(gui_ctx)
    qtbot.addWidget(editor)
    assert not editor.save_button.isEnabled()
    assert set(editor.problems()) >= {"name", "subject", "from_email"}


def test_saving_creates_the_campaign(gui_ctx: AppContext, qtbot: QtBot) -> None:
    editor = CampaignEditor(gui_ctx)
    qtbot.addWidget(editor)
    _fill(editor, "Hi {{ first_name }}")
    model = editor._lists.model()
    first = model.index(0, 0)
    assert "Customers" in first.data()
    model.setData(first, 2, 10)  # Qt.CheckStateRole = 10, Checked = 2
    editor.accept()
    assert editor.saved is not None
    saved = gui_ctx.campaigns.get(editor.saved.id)
    assert saved.name == "Spring news"
    assert saved.lists == ("Customers",)
    assert saved.audience_size == 2


def test_the_editor_shows_the_services_own_words_for_a_refused_field(
    gui_ctx: AppContext, qtbot: QtBot
) -> None:
    editor = CampaignEditor(gui_ctx)
    qtbot.addWidget(editor)
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
