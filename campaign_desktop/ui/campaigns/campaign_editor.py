"""The campaign editor: content, sender, audience and a live preview with sample data.

Templates are checked as the user types (the same compile step the service runs on save);
Save stays disabled while something is wrong and the reason shows next to its field — once the
user has typed in it (or tried to save). The preview shows the sample contact or any real one,
found by typing (searched on the pool). Closing with unsaved changes asks first.

Nothing is read or written on the GUI thread: the lists, the contacts' columns and the
settings are read on the pool when the editor opens (Save waits for them), and saving — which
fills the templates in for a sample of the audience — runs on the pool too.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from html import escape
from typing import Any

from PySide6.QtCore import QObject, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QLabel,
    QLineEdit,
    QListView,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QTabWidget,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from campaign_desktop.context import AppContext
from campaign_desktop.domain.errors import DomainError, ValidationError
from campaign_desktop.domain.status import MissedRunPolicy
from campaign_desktop.domain.templates import (
    SAMPLE_TOKEN,
    VARIABLE_HELP,
    RenderedMessage,
    available_variables,
    build_render_context,
    compile_campaign_templates,
    sample_context,
    unsubscribe_link,
)
from campaign_desktop.domain.views import CampaignView, ContactListView, ContactView
from campaign_desktop.services.campaigns import CampaignDraft
from campaign_desktop.services.feedback import reply_addresses
from campaign_desktop.services.settings import SettingsSnapshot
from campaign_desktop.ui.campaigns.audience_picker import AudiencePicker
from campaign_desktop.ui.common.background import (
    BackgroundTask,
    Report,
    hand_to_crash_handler,
    run_in_background,
)
from campaign_desktop.ui.common.prompts import ask_two_ways
from campaign_desktop.ui.common.theme import mark_as_error

log = logging.getLogger("campaign_desktop.ui.editor")

ListNameRole = Qt.ItemDataRole.UserRole + 1
VariableRole = Qt.ItemDataRole.UserRole + 1
# Contacts offered at once in the preview's picker; typing searches the rest.
PREVIEW_CONTACTS = 20
SAMPLE_CONTACT = "Sample contact (made up)"
READING_TEXT = "Reading\N{HORIZONTAL ELLIPSIS}"
SAVING_TEXT = "Saving\N{HORIZONTAL ELLIPSIS}"
LQ, RQ = "\N{LEFT DOUBLE QUOTATION MARK}", "\N{RIGHT DOUBLE QUOTATION MARK}"


class DiscardChanges:
    """Asks before an editor with unsaved changes closes; True to discard. Tests replace it."""

    @classmethod
    def ask(cls, parent: QWidget | None, name: str) -> bool:
        what = f"{LQ}{name}{RQ}" if name else "the new campaign"
        return ask_two_ways(
            parent,
            "Unsaved changes",
            f"Discard changes to {what}?",
            name="discardBox",
            action="&Discard",
            other="&Keep editing",
            action_role=QMessageBox.ButtonRole.DestructiveRole,
            default_is_action=False,
        )


def contact_label(contact: ContactView) -> str:
    """ "Ann Example <ann@example.com>", or the bare address for a contact with no name."""
    name = " ".join(part for part in (contact.first_name, contact.last_name) if part)
    return f"{name} <{contact.email}>" if name else contact.email


def _list_model(
    lists: list[ContactListView], chosen: tuple[str, ...], parent: QObject
) -> QStandardItemModel:
    """Checkable contact lists with their member counts."""
    model = QStandardItemModel(parent)
    for item_view in lists:
        item = QStandardItem(f"{item_view.name} ({item_view.subscribed_count:,} subscribed)")
        item.setData(item_view.name, ListNameRole)
        item.setCheckable(True)
        item.setEditable(False)
        checked = item_view.name in chosen
        item.setCheckState(Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)
        model.appendRow(item)
    return model


def _variable_model(attribute_keys: list[str], parent: QObject) -> QStandardItemModel:
    model = QStandardItemModel(parent)
    for name in available_variables(attribute_keys):
        item = QStandardItem(f"{{{{ {name} }}}}")
        item.setData(name, VariableRole)
        item.setToolTip(VARIABLE_HELP.get(name, "A column from your imported contacts."))
        item.setEditable(False)
        model.appendRow(item)
    return model


class CampaignEditor(QDialog):
    """Create (campaign None) or edit one campaign; `saved` holds the result after Save.

    `loaded` fires once what the form needs is read (`is_loaded()`); Save stays disabled
    until then. A save runs on the pool (`is_saving()`); the editor closes when it is done.
    """

    loaded = Signal()

    def __init__(
        self, ctx: AppContext, campaign: CampaignView | None = None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self._ctx = ctx
        self._campaign = campaign
        self._attribute_keys: list[str] = []  # the contacts' free columns, once read
        # Read once: the preview's unsubscribe address is the one sending uses (§11).
        self._settings_values: dict[str, Any] | None = None
        self._saving = False
        self._save_text = ""
        # The campaign's lists until the lists are read (the form's draft needs them).
        self._lists_before_read: tuple[str, ...] = campaign.lists if campaign else ()
        self.saved: CampaignView | None = None
        # Fields whose problems show: those the user typed in (all of them after a Save).
        self._touched: set[str] = set()
        self._preview_for: ContactView | None = None  # None: the made-up sample contact
        self._contact_search: BackgroundTask | None = None
        self._search_request = 0
        self.setObjectName("campaignEditor")
        self.setWindowTitle("Edit campaign" if campaign else "New campaign")
        # Typing re-checks the templates; a short pause keeps that off every keystroke.
        self._check_timer = QTimer(self, singleShot=True, interval=150)
        self._check_timer.timeout.connect(self._check)
        self._search_timer = QTimer(self, singleShot=True, interval=200)
        self._search_timer.timeout.connect(self._search_contacts)
        self._build()
        self._fill(campaign)
        if campaign is not None:  # what was saved before was typed before
            self._touched.update(self._errors)
        self._unchanged = self.draft()
        self._watch_typing()
        self._check()
        self._search_contacts()
        self._read_form_data()

    @classmethod
    def ask(
        cls, parent: QWidget | None, ctx: AppContext, campaign: CampaignView | None = None
    ) -> CampaignView | None:
        """Show the editor modally; the saved campaign, or None if cancelled. Tests replace it."""
        editor = cls(ctx, campaign, parent)
        try:
            editor.exec()
            return editor.saved
        finally:
            editor.deleteLater()

    # --- building ------------------------------------------------------------------------

    def _line(self, name: str, accessible: str) -> QLineEdit:
        edit = QLineEdit()
        edit.setObjectName(name)
        edit.setAccessibleName(accessible)
        edit.textChanged.connect(self._check_timer.start)
        return edit

    def _error_label(self, field: str) -> QLabel:
        label = QLabel()
        label.setObjectName(f"{field}Error")
        label.setAccessibleName(f"Problem with {field.replace('_', ' ')}")
        mark_as_error(label)
        label.setWordWrap(True)
        label.hide()
        self._errors[field] = label
        return label

    def _build_form(self) -> QFormLayout:
        form = QFormLayout()
        self._name = self._line("name", "Campaign name")
        self._subject = self._line("subject", "Subject")
        self._from_name = self._line("fromName", "From name")
        self._from_email = self._line("fromEmail", "From address")
        self._reply_to = self._line("replyTo", "Reply-to address")
        self._reply_to.setPlaceholderText("optional")
        for label, widget, field in (
            ("&Name:", self._name, "name"),
            ("&Subject:", self._subject, "subject"),
            ("From na&me:", self._from_name, "from_name"),
            ("&From address:", self._from_email, "from_email"),
            ("Re&ply-to:", self._reply_to, "reply_to"),
        ):
            form.addRow(label, widget)
            form.addRow("", self._error_label(field))

        self._lists = QListView()
        self._lists.setObjectName("lists")
        self._lists.setAccessibleName("Contact lists to send to")
        self._lists.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self._lists.setMaximumHeight(110)
        form.addRow("&Lists:", self._lists)
        form.addRow("", self._error_label("lists"))
        # Saved segments beside the lists, with the audience's size (docs/design.md §18).
        chosen = self._campaign.segments if self._campaign is not None else ()
        self._audience = AudiencePicker(self._ctx, chosen, self)
        self._audience.changed.connect(self._check_timer.start)
        form.addRow("Se&gments:", self._audience)
        form.addRow("", self._error_label("segments"))

        return form

    def _build_content(self) -> QTabWidget:
        self._body_text = QPlainTextEdit()
        self._body_text.setObjectName("bodyText")
        self._body_text.setAccessibleName("Text body")
        self._body_html = QPlainTextEdit()
        self._body_html.setObjectName("bodyHtml")
        self._body_html.setAccessibleName("HTML body")
        self._body_html.setPlaceholderText("Optional: an HTML version of the email.")
        for body in (self._body_text, self._body_html):
            body.textChanged.connect(self._check_timer.start)
        bodies = QTabWidget()
        bodies.setObjectName("bodies")
        bodies.addTab(self._body_text, "Text")
        bodies.addTab(self._body_html, "HTML (optional)")

        self._variables = QListView()
        self._variables.setObjectName("variables")
        self._variables.setAccessibleName("Template variables")
        self._variables.setModel(_variable_model(self._attribute_keys, self))
        self._variables.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self._variables.doubleClicked.connect(self._on_variable_chosen)
        self._variables.setToolTip("Double-click to insert into the body.")

        self._preview = QTextBrowser()
        self._preview.setObjectName("preview")
        self._preview.setAccessibleName("Preview with sample data")

        return bodies

    def _build(self) -> None:
        self._errors: dict[str, QLabel] = {}
        form = self._build_form()
        bodies = self._build_content()
        self._general_error = QLabel()
        self._general_error.setObjectName("editorError")
        mark_as_error(self._general_error)
        self._general_error.setWordWrap(True)
        self._general_error.hide()

        self._buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        self.save_button.setObjectName("saveCampaign")
        self.save_button.setAccessibleName("Save campaign")
        cancel = self._buttons.button(QDialogButtonBox.StandardButton.Cancel)
        cancel.setObjectName("cancelCampaign")
        self._buttons.accepted.connect(self.accept)
        self._buttons.rejected.connect(self.reject)

        grid = QGridLayout()
        grid.addLayout(form, 0, 0)
        variables_box = QGroupBox("Variables")
        QVBoxLayout(variables_box).addWidget(self._variables)
        grid.addWidget(variables_box, 0, 1)
        body_box = QVBoxLayout()
        body_box.addWidget(bodies)
        body_box.addWidget(self._error_label("body_text"))
        body_box.addWidget(self._error_label("body_html"))
        grid.addLayout(body_box, 1, 0)
        preview_box = QGroupBox("Preview for the sample contact")
        self._preview_box = preview_box
        preview_layout = QVBoxLayout(preview_box)
        preview_layout.addWidget(self._build_contact_picker())
        preview_layout.addWidget(self._preview)
        grid.addWidget(preview_box, 1, 1)
        grid.setColumnStretch(0, 3)
        grid.setColumnStretch(1, 2)
        # Everything the user edits, in one widget: disabled while a save runs, so nothing
        # typed then is left out of what is saved.
        self._fields = QWidget()
        self._fields.setObjectName("editorFields")
        grid.setContentsMargins(0, 0, 0, 0)
        self._fields.setLayout(grid)
        layout = QVBoxLayout(self)
        layout.addWidget(self._fields, 1)
        layout.addWidget(self._general_error)
        layout.addWidget(self._buttons)
        self.resize(900, 640)

    def _build_contact_picker(self) -> QComboBox:
        """An editable list of contacts to preview for: typing searches them (on the pool)."""
        self._contact_picker = QComboBox()
        self._contact_picker.setObjectName("previewContact")
        self._contact_picker.setAccessibleName("Preview for contact")
        self._contact_picker.setEditable(True)
        self._contact_picker.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self._contact_picker.setToolTip("Type a name or an address to preview for that contact.")
        self._contact_picker.addItem(SAMPLE_CONTACT, None)
        line = self._contact_picker.lineEdit()
        assert line is not None  # an editable combo box has one
        line.setPlaceholderText("Type a name or address")
        line.textEdited.connect(self._search_timer.start)
        self._contact_picker.activated.connect(self._on_contact_chosen)
        return self._contact_picker

    @property
    def save_button(self) -> QPushButton:
        return self._buttons.button(QDialogButtonBox.StandardButton.Save)

    def _fill(self, campaign: CampaignView | None) -> None:
        """What the campaign says; the lists and a new campaign's sender come once read."""
        if campaign is not None:
            self._name.setText(campaign.name)
            self._subject.setText(campaign.subject)
            self._from_name.setText(campaign.from_name)
            self._from_email.setText(campaign.from_email)
            self._reply_to.setText(campaign.reply_to or "")
            self._body_text.setPlainText(campaign.body_text)
            self._body_html.setPlainText(campaign.body_html or "")
        placeholder = QStandardItemModel(self)
        reading = QStandardItem(READING_TEXT)
        reading.setEnabled(False)
        placeholder.appendRow(reading)
        self._lists.setModel(placeholder)
        self._lists.setEnabled(False)
        self._audience.set_lists(self._lists_before_read)
        self._check_timer.stop()

    def _read_form_data(self) -> None:
        """Read the lists, the contacts' columns and the settings on the pool."""
        contacts, campaigns, settings = self._ctx.contacts, self._ctx.campaigns, self._ctx.settings

        def read(_report: Report) -> tuple[list[ContactListView], list[str], dict[str, Any]]:
            return contacts.lists(), campaigns.attribute_keys(), settings.all()

        run_in_background("editor: lists and variables", read, self._on_form_data_read)

    @Slot(object, object)
    def _on_form_data_read(self, result: Any, error: BaseException | None) -> None:
        if error is not None:
            if not isinstance(error, DomainError):
                hand_to_crash_handler(error)
                return
            self._general_error.setText(f"The lists could not be read: {error.message}")
            self._general_error.show()
            return
        lists, keys, values = result
        self._attribute_keys, self._settings_values = keys, values
        self._variables.setModel(_variable_model(keys, self))
        model = _list_model(lists, self._lists_before_read, self)
        self._lists.setModel(model)
        self._lists.setEnabled(True)
        model.itemChanged.connect(self._on_lists_changed)
        model.dataChanged.connect(lambda *_args: self._touched.add("lists"))
        if self._campaign is None:
            self._fill_sender(SettingsSnapshot.from_values(values))
        self.loaded.emit()
        self._check()

    def _fill_sender(self, settings: SettingsSnapshot) -> None:
        """A new campaign's sender from the settings, where the user has typed nothing yet;
        what is filled in counts as what the editor opened with."""
        touched = set(self._touched)
        filled: dict[str, str | None] = {}
        for field, edit, value in (
            ("from_name", self._from_name, settings.sender_from_name),
            ("from_email", self._from_email, settings.sender_from_email),
            ("reply_to", self._reply_to, settings.sender_reply_to),
        ):
            if not edit.text():
                edit.setText(value)
                filled[field] = value.strip() or (None if field == "reply_to" else "")
        self._touched = touched
        self._unchanged = replace(self._unchanged, **filled)  # type: ignore[arg-type]
        self._check_timer.stop()

    def is_loaded(self) -> bool:
        """Whether the lists, columns and settings the form needs are read."""
        return self._settings_values is not None

    def is_saving(self) -> bool:
        return self._saving

    def _watch_typing(self) -> None:
        """From now on an edit marks its field as typed in (the fill above does not)."""
        for field, edit in (
            ("name", self._name),
            ("subject", self._subject),
            ("from_name", self._from_name),
            ("from_email", self._from_email),
            ("reply_to", self._reply_to),
        ):
            edit.textChanged.connect(lambda _text, field=field: self._touched.add(field))
        for field, body in (("body_text", self._body_text), ("body_html", self._body_html)):
            body.textChanged.connect(lambda field=field: self._touched.add(field))

    def has_changes(self) -> bool:
        """Whether the form differs from what was opened (nothing saved since)."""
        return self.saved is None and self.draft() != self._unchanged

    # --- reading the form ----------------------------------------------------------------

    def chosen_lists(self) -> list[str]:
        if not self.is_loaded():
            return list(self._lists_before_read)
        model = self._lists.model()
        assert isinstance(model, QStandardItemModel)
        return [
            str(model.item(row).data(ListNameRole))
            for row in range(model.rowCount())
            if model.item(row).checkState() == Qt.CheckState.Checked
        ]

    def draft(self) -> CampaignDraft:
        """The form as the draft `CampaignService.create` / `update` take."""
        html = self._body_html.toPlainText()
        return CampaignDraft(
            name=self._name.text().strip(),
            subject=self._subject.text().strip(),
            from_name=self._from_name.text().strip(),
            from_email=self._from_email.text().strip(),
            reply_to=self._reply_to.text().strip() or None,
            lists=tuple(self.chosen_lists()),
            segments=tuple(self._audience.chosen_segments()),
            body_text=self._body_text.toPlainText(),
            body_html=html if html.strip() else None,
            # The editor has no field for it: a new campaign gets the default, an edit keeps it.
            missed_run_policy=(
                self._campaign.missed_run_policy
                if self._campaign is not None
                else MissedRunPolicy.SEND_LATE
            ),
        )

    def problems(self) -> dict[str, str]:
        """Field → message for everything that would stop a save (empty when fine): the
        service's own dry run (`check_draft`), then the templates filled in for the preview."""
        draft = self.draft()
        found = self._ctx.campaigns.check_draft(draft)
        if self._settings_values is None:  # the columns and settings are being read
            self._preview.setPlainText(READING_TEXT)
            return found
        try:
            templates = compile_campaign_templates(
                draft.subject, draft.body_text, draft.body_html, self._attribute_keys
            )
            # Filling in can fail too (1/0, a bound reached): shown like a compile error.
            replies = reply_addresses(
                self._settings_values,
                draft.reply_to or None,
                draft.from_email,
            )
            link = unsubscribe_link(replies.unsubscribe, SAMPLE_TOKEN, replies.page_url)
            campaign_name = draft.name or "Sample campaign"
            preview = templates.render(
                sample_context(self._attribute_keys, campaign_name, replies.unsubscribe, link),
                recipient="the sample contact",
            )
        except ValidationError as exc:
            found.setdefault(exc.field, exc.message)
            self._preview.setPlainText("")
            return found
        contact = self._preview_for
        if contact is None:
            self._show_preview(preview)
            return found
        # A real contact's preview: what fails for them is said in the preview (saving
        # checks every recipient and says so under the field).
        try:
            self._show_preview(
                templates.render(
                    build_render_context(
                        contact_email=contact.email,
                        first_name=contact.first_name,
                        last_name=contact.last_name,
                        attributes={
                            key: contact.attributes.get(key, "") for key in self._attribute_keys
                        },
                        campaign_name=campaign_name,
                        unsubscribe_mailto=replies.unsubscribe,
                        unsubscribe_url=link,
                    ),
                    recipient=contact.email,
                )
            )
        except ValidationError as exc:
            self._preview.setPlainText(exc.message)
        return found

    # --- live check and save -------------------------------------------------------------

    @Slot()
    def _check(self) -> None:
        problems = self.problems()
        self._show_problems(problems)
        self.save_button.setEnabled(not problems and self.is_loaded() and not self._saving)

    def _show_problems(self, problems: dict[str, str]) -> None:
        """Each field's problem under it, once the user has typed in that field."""
        self._general_error.hide()
        for field, label in self._errors.items():
            shown = field in problems and field in self._touched
            label.setText(problems[field] if shown else "")
            label.setVisible(shown)
        unplaced = [message for field, message in problems.items() if field not in self._errors]
        if unplaced and self._touched:
            self._general_error.setText("\n".join(unplaced))
            self._general_error.show()

    def _show_preview(self, message: RenderedMessage) -> None:
        if message.html is not None:
            self._preview.setHtml(
                f"<p><b>Subject:</b> {escape(message.subject)}</p><hr>{message.html}"
            )
        else:
            self._preview.setPlainText(f"Subject: {message.subject}\n\n{message.text}")

    @Slot()
    def _on_lists_changed(self) -> None:
        self._audience.set_lists(self.chosen_lists())

    @Slot()
    def _on_variable_chosen(self) -> None:
        name = self._variables.currentIndex().data(VariableRole)
        target = self._body_html if self._body_html.hasFocus() else self._body_text
        target.insertPlainText(f"{{{{ {name} }}}}")
        target.setFocus()

    def accept(self) -> None:
        """Save through the service, on the pool (it fills the templates in for a sample of
        the audience: scans at a million contacts); a refusal shows next to its field and
        keeps the editor open; the editor closes once saved."""
        self._touched.update(self._errors)  # a Save tried: every problem says where it is
        self._check()
        if not self.save_button.isEnabled():
            return
        draft = self.draft()
        campaigns, campaign = self._ctx.campaigns, self._campaign

        def save(_report: Report) -> CampaignView:
            if campaign is None:
                return campaigns.create(draft)
            return campaigns.update(campaign.id, draft)

        self._saving = True
        self._save_text = self.save_button.text()
        self.save_button.setEnabled(False)
        self.save_button.setText(SAVING_TEXT)
        self._fields.setEnabled(False)
        run_in_background("editor: save", save, self._on_saved)

    @Slot(object, object)
    def _on_saved(self, saved: Any, error: BaseException | None) -> None:
        self._saving = False
        self.save_button.setText(self._save_text)
        self._fields.setEnabled(True)
        if error is not None:
            if isinstance(error, ValidationError):
                self._show_problems({error.field: error.message})
                self.save_button.setEnabled(False)  # until the user changes something
            elif isinstance(error, DomainError):  # the database locked or gone: say so
                self._show_problems({"": error.message})
                self.save_button.setEnabled(True)  # "try again in a moment": Save stays
            else:
                hand_to_crash_handler(error)
                self.save_button.setEnabled(False)
            return
        self.saved = saved
        super().accept()

    def reject(self) -> None:
        """Cancel, Esc and closing the window: with unsaved changes, ask first. Not while a
        save is under way: it closes the editor itself when done."""
        if self._saving:
            return
        if self.has_changes() and not DiscardChanges.ask(self, self._name.text().strip()):
            return
        super().reject()

    # --- the preview's contact -----------------------------------------------------------

    @Slot()
    def _search_contacts(self) -> None:
        """Find contacts for the picker on the pool; only the latest request's answer shows."""
        line = self._contact_picker.lineEdit()
        text = line.text().strip() if line is not None else ""
        shown = SAMPLE_CONTACT if self._preview_for is None else contact_label(self._preview_for)
        if text == shown:
            text = ""  # the choice shown, not a search
        self._search_request += 1
        request, contacts = self._search_request, self._ctx.contacts

        def work(_report: Report) -> tuple[int, list[ContactView]]:
            return request, contacts.search(text, limit=PREVIEW_CONTACTS)

        self._contact_search = run_in_background(
            "editor-preview-contacts", work, self._on_contacts_found
        )

    @Slot(object, object)
    def _on_contacts_found(self, result: object, error: BaseException | None) -> None:
        if error is not None:
            hand_to_crash_handler(error)
            return
        assert isinstance(result, tuple)
        request, found = result
        if request != self._search_request:
            return  # a later search is under way
        picker = self._contact_picker
        line = picker.lineEdit()
        typed = line.text() if line is not None else ""
        picker.blockSignals(True)
        try:
            while picker.count() > 1:
                picker.removeItem(1)
            for contact in found:
                picker.addItem(contact_label(contact), contact)
        finally:
            picker.blockSignals(False)
        if line is not None:
            line.setText(typed)  # the list changed under what is being typed
        if found and typed.strip() and typed != SAMPLE_CONTACT:
            self.preview_for(found[0])  # the preview follows the typing; the list has the rest

    @Slot(int)
    def _on_contact_chosen(self, index: int) -> None:
        contact = self._contact_picker.itemData(index)
        self.preview_for(contact if isinstance(contact, ContactView) else None)

    def preview_for(self, contact: ContactView | None) -> None:
        """Show the preview for `contact` (None: the sample contact)."""
        self._preview_for = contact
        who = "the sample contact" if contact is None else contact_label(contact)
        self._preview_box.setTitle(f"Preview for {who}")
        self._check()

    def previewed_contact(self) -> ContactView | None:
        return self._preview_for

    def contact_choices(self) -> list[str]:
        """What the picker offers now, the sample contact first."""
        return [self._contact_picker.itemText(i) for i in range(self._contact_picker.count())]
