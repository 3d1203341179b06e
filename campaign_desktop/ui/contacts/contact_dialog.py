"""Edit one contact: address, names, lists and custom fields, saved in one service call
(`ContactService.update`); a refusal shows next to its field and saves nothing."""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from campaign_desktop.context import AppContext
from campaign_desktop.domain.errors import ValidationError
from campaign_desktop.domain.views import ContactView
from campaign_desktop.ui.common.widgets import (
    message_label,
    named,
    set_default_button,
    show_error,
)

log = logging.getLogger("campaign_desktop.ui.contacts.edit")

_STATUS_WORDS = {
    "subscribed": "Subscribed",
    "unsubscribed": "Unsubscribed: never mailed until resubscribed",
    "bounced": "Bounced: the address does not take mail",
}


class ContactDialog(QDialog):
    """The Edit contact dialog; `saved` holds the contact as stored after Save."""

    def __init__(
        self,
        ctx: AppContext,
        contact: ContactView,
        list_names: list[str],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._ctx = ctx
        self._contact = contact
        self.saved: ContactView | None = None
        self.setObjectName("contactDialog")
        self.setWindowTitle(f"Edit contact {contact.email}")
        self.setMinimumWidth(520)  # the address and a sentence of error side by side

        self.email = named(QLineEdit(contact.email), "contactEmail", "Email address")
        self.first_name = named(QLineEdit(contact.first_name), "contactFirstName", "First name")
        self.last_name = named(QLineEdit(contact.last_name), "contactLastName", "Last name")
        status = QLabel(_STATUS_WORDS.get(contact.status, contact.status))
        status.setObjectName("contactStatus")

        self.lists = named(QListWidget(), "contactLists", "Lists the contact is on")
        for name in sorted({*list_names, *contact.lists}, key=str.casefold):
            item = QListWidgetItem(name)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            checked = name in contact.lists
            item.setCheckState(Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)
            self.lists.addItem(item)
        self.lists.setMaximumHeight(120)

        self._build_fields(contact)

        self.errors = {
            field: message_label(f"{name}Error", f"Problem with the {label}")
            for field, name, label in (
                ("email", "contactEmail", "email address"),
                ("first_name", "contactFirstName", "first name"),
                ("last_name", "contactLastName", "last name"),
                ("lists", "contactLists", "lists"),
                ("attributes", "contactFields", "custom fields"),
            )
        }
        form = QFormLayout()
        for label, widget, field in (
            ("&Email:", self.email, "email"),
            ("&First name:", self.first_name, "first_name"),
            ("&Last name:", self.last_name, "last_name"),
        ):
            form.addRow(label, widget)
            form.addRow("", self.errors[field])
        form.addRow("Status:", status)
        form.addRow("L&ists:", self.lists)
        form.addRow("", self.errors["lists"])
        field_buttons = QHBoxLayout()
        field_buttons.addWidget(self.add_field)
        field_buttons.addWidget(self.remove_field)
        field_buttons.addStretch(1)

        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        save = buttons.button(QDialogButtonBox.StandardButton.Save)
        named(save, "saveContact", "Save contact")
        named(buttons.button(QDialogButtonBox.StandardButton.Cancel), "cancelContact", "Cancel")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(QLabel("Custom fields (used as {{ field }} in templates):"))
        layout.addWidget(self.fields)
        layout.addLayout(field_buttons)
        layout.addWidget(self.errors["attributes"])
        layout.addWidget(buttons)
        set_default_button(self, save)

    @classmethod
    def ask(
        cls, parent: QWidget | None, ctx: AppContext, contact: ContactView, list_names: list[str]
    ) -> ContactView | None:
        """Show the dialog modally; the saved contact, or None if cancelled. Tests replace it."""
        dialog = cls(ctx, contact, list_names, parent)
        try:
            dialog.exec()
            return dialog.saved
        finally:
            dialog.deleteLater()

    # --- the form ------------------------------------------------------------------------

    def _build_fields(self, contact: ContactView) -> None:
        self.fields = named(QTableWidget(0, 2), "contactFields", "Custom fields")
        self.fields.setHorizontalHeaderLabels(["Field", "Value"])
        self.fields.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.fields.verticalHeader().hide()
        self.fields.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        for key, value in sorted(contact.attributes.items()):
            self._add_row(key, "" if value is None else str(value))
        self.add_field = named(QPushButton("Add &field"), "addField", "Add a custom field")
        self.add_field.clicked.connect(self._on_add_field)
        self.remove_field = named(
            QPushButton("&Remove field"), "removeField", "Remove the selected field"
        )
        self.remove_field.clicked.connect(self._on_remove_field)

    def _add_row(self, key: str, value: str) -> None:
        row = self.fields.rowCount()
        self.fields.insertRow(row)
        self.fields.setItem(row, 0, QTableWidgetItem(key))
        self.fields.setItem(row, 1, QTableWidgetItem(value))

    def cell(self, row: int, column: int) -> QTableWidgetItem:
        """The custom-fields table's item at (row, column): 0 the name, 1 the value."""
        item = self.fields.item(row, column)
        assert item is not None  # _add_row fills both cells of every row
        return item

    def _on_add_field(self) -> None:
        self._add_row("", "")
        row = self.fields.rowCount() - 1
        self.fields.setCurrentCell(row, 0)
        self.fields.editItem(self.cell(row, 0))

    def _on_remove_field(self) -> None:
        rows = sorted({index.row() for index in self.fields.selectedIndexes()}, reverse=True)
        for row in rows:
            self.fields.removeRow(row)

    def chosen_lists(self) -> list[str]:
        items = (self.lists.item(row) for row in range(self.lists.count()))
        return [item.text() for item in items if item.checkState() == Qt.CheckState.Checked]

    def attributes(self) -> dict[str, Any]:
        """The fields as typed; an unchanged number stays a number (CSV imports store some)."""
        values: dict[str, Any] = {}
        for row in range(self.fields.rowCount()):
            key_item, value_item = self.fields.item(row, 0), self.fields.item(row, 1)
            key = key_item.text().strip() if key_item else ""
            value = value_item.text() if value_item else ""
            if not key and not value.strip():
                continue  # an added row left empty
            original = self._contact.attributes.get(key)
            values[key] = original if str(original) == value and original is not None else value
        return values

    def accept(self) -> None:
        """Save through the service; a refusal shows by its field and the dialog stays."""
        for label in self.errors.values():
            show_error(label, "")
        try:
            self.saved = self._ctx.contacts.update(
                self._contact.id,
                email=self.email.text(),
                first_name=self.first_name.text(),
                last_name=self.last_name.text(),
                attributes=self.attributes(),
                lists=self.chosen_lists(),
            )
        except ValidationError as exc:
            log.info("contact edit refused: %s", exc.message)
            show_error(self.errors.get(exc.field, self.errors["email"]), exc.message)
            return
        super().accept()
