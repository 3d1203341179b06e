"""The Contacts tab's small questions about lists and exports: which list to add the selected
contacts to (or take them out of), a list's new name, and where and what to export.

Each is a class with an `ask(...)` classmethod that tests replace (tests/ui/conftest.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QLineEdit,
    QMessageBox,
    QVBoxLayout,
    QWidget,
)

from campaign_desktop.context import AppContext
from campaign_desktop.domain.errors import ValidationError
from campaign_desktop.domain.views import ContactListView
from campaign_desktop.ui.common.widgets import (
    ask_save_path,
    buddy_label,
    message_label,
    named,
    show_error,
)

_Q = ("\N{LEFT DOUBLE QUOTATION MARK}", "\N{RIGHT DOUBLE QUOTATION MARK}")


class ChooseListDialog(QDialog):
    """Pick the list to add the selected contacts to (an existing one, or a new name typed
    in: created with the first contacts), or to take them out of (existing ones only)."""

    def __init__(
        self,
        names: Sequence[str],
        count: int,
        *,
        adding: bool,
        current: str | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._adding = adding
        self._names = list(names)
        self.chosen: str | None = None
        who = f"{count:,} contact{'' if count == 1 else 's'}"
        self.setObjectName("chooseListDialog")
        self.setWindowTitle("Add to list" if adding else "Remove from list")
        self.list_combo = named(QComboBox(), "chosenList", "Contact list")
        self.list_combo.setEditable(adding)
        self.list_combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.list_combo.addItems(self._names)
        if current in self._names:
            self.list_combo.setCurrentText(current)
        elif adding:
            self.list_combo.setCurrentText("")
        if adding:
            editor = self.list_combo.lineEdit()
            assert editor is not None  # an editable combo box has one
            editor.setPlaceholderText("choose a list or type a new name")
        self.error = message_label("chosenListError", "Problem with the list")
        question = (
            f"Add {who} to the &list:" if adding else f"Take {who} out of the &list (they stay):"
        )
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        ok = buttons.button(QDialogButtonBox.StandardButton.Ok)
        ok.setText("Add" if adding else "Remove")
        named(ok, "confirmListChoice", ok.text())
        named(buttons.button(QDialogButtonBox.StandardButton.Cancel), "cancelListChoice", "Cancel")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(buddy_label(question, self.list_combo))
        layout.addWidget(self.list_combo)
        layout.addWidget(self.error)
        layout.addWidget(buttons)
        self.setMinimumWidth(420)

    @classmethod
    def ask(
        cls,
        parent: QWidget | None,
        names: Sequence[str],
        count: int,
        *,
        adding: bool,
        current: str | None = None,
    ) -> str | None:
        """The list's name (maybe new, when adding), or None if cancelled."""
        dialog = cls(names, count, adding=adding, current=current, parent=parent)
        try:
            dialog.exec()
            return dialog.chosen
        finally:
            dialog.deleteLater()

    def accept(self) -> None:
        name = self.list_combo.currentText().strip()
        if not name:
            show_error(
                self.error,
                "Choose a list, or type the name of a new one."
                if self._adding
                else "Choose the list to take them out of.",
            )
            return
        if not self._adding and name not in self._names:
            show_error(self.error, f"There is no list called {_Q[0]}{name}{_Q[1]}.")
            return
        self.chosen = name
        super().accept()


class RenameListDialog(QDialog):
    """Renames a list through `ContactService.rename_list`; a refusal (a name another list
    has, an empty one) shows under the field and keeps the dialog open."""

    def __init__(self, ctx: AppContext, item: ContactListView, parent: QWidget | None = None):
        super().__init__(parent)
        self._ctx = ctx
        self._item = item
        self.renamed: ContactListView | None = None
        self.setObjectName("renameListDialog")
        self.setWindowTitle("Rename list")
        self.name = named(QLineEdit(item.name), "listName", "New name of the list")
        self.name.selectAll()
        self.error = message_label("listNameError", "Problem with the name")
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        ok = buttons.button(QDialogButtonBox.StandardButton.Ok)
        ok.setText("Rename")
        named(ok, "confirmRename", "Rename")
        named(buttons.button(QDialogButtonBox.StandardButton.Cancel), "cancelRename", "Cancel")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(
            buddy_label(f"New &name for {_Q[0]}{item.name}{_Q[1]}:", self.name),
        )
        layout.addWidget(self.name)
        layout.addWidget(self.error)
        layout.addWidget(buttons)
        self.setMinimumWidth(420)

    @classmethod
    def ask(
        cls, parent: QWidget | None, ctx: AppContext, item: ContactListView
    ) -> ContactListView | None:
        """The renamed list, or None if cancelled."""
        dialog = cls(ctx, item, parent)
        try:
            dialog.exec()
            return dialog.renamed
        finally:
            dialog.deleteLater()

    def accept(self) -> None:
        show_error(self.error, "")
        try:
            self.renamed = self._ctx.contacts.rename_list(self._item.id, self.name.text())
        except ValidationError as exc:
            show_error(self.error, exc.message)
            return
        super().accept()


class ChooseContactsExportPath:
    """Asks where to save a contacts export (in the documents folder); None if cancelled."""

    @classmethod
    def ask(cls, parent: QWidget | None, suggested: str) -> Path | None:
        return ask_save_path(parent, "Export contacts", suggested, "CSV files", ".csv")


class ExportScope:
    """With a search or filter in use: export the contacts shown (True), every contact
    (False), or nothing (None)."""

    @classmethod
    def ask(cls, parent: QWidget | None, shown: int) -> bool | None:
        box = QMessageBox(parent)
        box.setObjectName("exportScopeBox")
        box.setWindowTitle("Export contacts")
        box.setIcon(QMessageBox.Icon.Question)
        box.setText("Export only the contacts the search and filters show, or all of them?")
        matching = box.addButton(f"The {shown:,} &shown", QMessageBox.ButtonRole.AcceptRole)
        everyone = box.addButton("&All contacts", QMessageBox.ButtonRole.AcceptRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(matching)
        box.exec()
        clicked = box.clickedButton()
        box.deleteLater()
        if clicked is matching:
            return True
        if clicked is everyone:
            return False
        return None
