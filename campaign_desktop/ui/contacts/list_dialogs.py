"""The Contacts tab's small questions about lists, segments and exports: which list to add the
selected contacts to (or take them out of), a new list's name, a list's or a saved segment's
new name, and where and what to export.

Each is a class with an `ask(...)` classmethod that tests replace (tests/ui/conftest.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Generic, TypeVar

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
from campaign_desktop.domain.names import find_named
from campaign_desktop.domain.views import ContactListView, SegmentView
from campaign_desktop.ui.common.widgets import (
    ask_save_path,
    buddy_label,
    message_label,
    named,
    show_error,
)

ViewT = TypeVar("ViewT")

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
        # "vip" typed for the list "VIP" is that list (docs/design.md §21).
        existing = find_named(((known, known) for known in self._names), name)
        if not self._adding and existing is None:
            show_error(self.error, f"There is no list called {_Q[0]}{name}{_Q[1]}.")
            return
        self.chosen = existing or name
        super().accept()


class NameDialog(QDialog, Generic[ViewT]):
    """Asks for a name and saves it through `save` (one service call: create or rename); a
    refusal (a name something else has, ignoring case, docs/design.md §21, or an empty one)
    shows under the field and keeps the dialog open. `key` names the widgets (``<key>``
    for the field, ``<key>Error``)."""

    def __init__(
        self,
        *,
        title: str,
        prompt: str,
        text: str,
        save: Callable[[str], ViewT],
        ok_text: str,
        key: str,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._save = save
        self.saved: ViewT | None = None
        self.setObjectName(f"{key}Dialog")
        self.setWindowTitle(title)
        self.name = named(QLineEdit(text), key, prompt.replace("&", "").rstrip(":"))
        self.name.selectAll()
        self.error = message_label(f"{key}Error", "Problem with the name")
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        ok = buttons.button(QDialogButtonBox.StandardButton.Ok)
        ok.setText(ok_text)
        named(ok, f"confirm{ok_text.replace(' ', '')}", ok_text)
        named(buttons.button(QDialogButtonBox.StandardButton.Cancel), f"cancel{ok_text}", "Cancel")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(buddy_label(prompt, self.name))
        layout.addWidget(self.name)
        layout.addWidget(self.error)
        layout.addWidget(buttons)
        self.setMinimumWidth(420)

    def run(self) -> ViewT | None:
        """Show the dialog modally: the saved thing's view, or None if cancelled."""
        try:
            self.exec()
            return self.saved
        finally:
            self.deleteLater()

    def accept(self) -> None:
        show_error(self.error, "")
        try:
            self.saved = self._save(self.name.text())
        except ValidationError as exc:
            show_error(self.error, exc.message)
            return
        super().accept()


class NewListName(NameDialog[ContactListView]):
    """Makes a contact list through `ContactService.create_list`; tests replace `ask`."""

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(
            title="New contact list",
            prompt="&Name of the new list:",
            text="",
            save=ctx.contacts.create_list,
            ok_text="Create",
            key="newListName",
            parent=parent,
        )

    @classmethod
    def ask(cls, parent: QWidget | None, ctx: AppContext) -> ContactListView | None:
        """The new list, or None if cancelled."""
        return cls(ctx, parent).run()


class RenameListDialog(NameDialog[ContactListView]):
    """Renames a list through `ContactService.rename_list` (docs/design.md §17)."""

    def __init__(self, ctx: AppContext, item: ContactListView, parent: QWidget | None = None):
        super().__init__(
            title="Rename list",
            prompt=f"New &name for {_Q[0]}{item.name}{_Q[1]}:",
            text=item.name,
            save=lambda name: ctx.contacts.rename_list(item.id, name),
            ok_text="Rename",
            key="listName",
            parent=parent,
        )
        self.setObjectName("renameListDialog")

    @property
    def renamed(self) -> ContactListView | None:
        return self.saved

    @classmethod
    def ask(
        cls, parent: QWidget | None, ctx: AppContext, item: ContactListView
    ) -> ContactListView | None:
        """The renamed list, or None if cancelled."""
        return cls(ctx, item, parent).run()


class RenameSegmentDialog(NameDialog[SegmentView]):
    """Renames a saved segment through `SegmentService.rename` (docs/design.md §18, §21);
    campaigns keep sending to it."""

    def __init__(self, ctx: AppContext, item: SegmentView, parent: QWidget | None = None):
        super().__init__(
            title="Rename segment",
            prompt=f"New &name for {_Q[0]}{item.name}{_Q[1]}:",
            text=item.name,
            save=lambda name: ctx.segments.rename(item.id, name),
            ok_text="Rename",
            key="segmentName",
            parent=parent,
        )
        self.setObjectName("renameSegmentDialog")

    @property
    def renamed(self) -> SegmentView | None:
        return self.saved

    @classmethod
    def ask(cls, parent: QWidget | None, ctx: AppContext, item: SegmentView) -> SegmentView | None:
        """The renamed segment, or None if cancelled."""
        return cls(ctx, item, parent).run()


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
