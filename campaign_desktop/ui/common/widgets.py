"""Small widget builders the tabs and dialogs share: named widgets and actions, toolbars, data
tables, inline messages.

Every interactive widget gets a stable objectName (tests and screenshots find it) and an
accessible name (screen readers say it). Message colours come from `theme`, so they follow
the system's light or dark palette.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from PySide6.QtCore import QItemSelectionModel, QObject, QStandardPaths, Qt
from PySide6.QtGui import QAction, QKeySequence, QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QFileDialog,
    QLabel,
    QPushButton,
    QTableView,
    QToolBar,
    QWidget,
)

from campaign_desktop.ui.common.icons import icon
from campaign_desktop.ui.common.theme import mark_as_error, mark_as_success

W = TypeVar("W", bound=QWidget)


def named(widget: W, name: str, accessible: str) -> W:
    widget.setObjectName(name)
    widget.setAccessibleName(accessible)
    return widget


def named_action(
    parent: QObject,
    name: str,
    text: str,
    slot: Callable[[], None] | None = None,
    *,
    icon_name: str = "",
    tip: str = "",
    shortcuts: Sequence[QKeySequence | QKeySequence.StandardKey | str] = (),
) -> QAction:
    """An action with a stable objectName; `tip` shows on hover and in the status bar.

    Each shortcut is one key sequence (a standard key means its first binding here); more
    than one are alternatives.
    """
    action = QAction(icon(icon_name), text, parent) if icon_name else QAction(text, parent)
    action.setObjectName(name)
    if tip:
        action.setToolTip(tip)
        action.setStatusTip(tip)
    if shortcuts:
        action.setShortcuts([QKeySequence(key) for key in shortcuts])
    if slot is not None:
        action.triggered.connect(slot)
    return action


def action_toolbar(
    title: str, name: str, *groups: Sequence[QAction], parent: QWidget | None = None
) -> QToolBar:
    """A toolbar of `groups` of actions, a separator between groups, text beside each icon."""
    toolbar = QToolBar(title, parent)
    toolbar.setObjectName(name)
    toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
    for number, group in enumerate(groups):
        if number:
            toolbar.addSeparator()
        toolbar.addActions(list(group))
    return toolbar


def documents_folder() -> str:
    """Where file dialogs open: the user's documents folder (Qt's standard location for the
    platform), else the home folder."""
    found = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation)
    return found or str(Path.home())


def ask_save_path(
    parent: QWidget | None, title: str, suggested: str, kind: str, suffix: str
) -> Path | None:
    """Qt's save dialog, opened in the documents folder on `suggested`; the chosen path with
    `suffix` (".csv") added when the user typed none; None if cancelled. `kind` names the
    files ("CSV files")."""
    name, _filter = QFileDialog.getSaveFileName(
        parent, title, str(Path(documents_folder()) / suggested), f"{kind} (*{suffix})"
    )
    if not name:
        return None
    path = Path(name)
    return path if path.suffix else path.with_suffix(suffix)


def set_default_button(dialog: QDialog, button: QPushButton) -> None:
    """Make `button` the one Enter presses in `dialog`.

    Qt registers a default button with its dialog only when the button already sits in it
    (QPushButton::setDefault walks the parent chain at that moment): set on a button not yet
    in the dialog's layout, Enter silently does nothing. Call this once the layout holds it.
    """
    if button.window() is not dialog:
        raise RuntimeError(f"{button.objectName()} is not in {dialog.objectName()} yet")
    button.setDefault(True)


def buddy_label(text: str, buddy: QWidget) -> QLabel:
    """A form label whose &-mnemonic focuses `buddy` (a form row holding a layout needs one)."""
    label = QLabel(text)
    label.setBuddy(buddy)
    return label


class _RowTable(QTableView):
    """A table whose rows are selected, never its columns: its column header keeps a
    selection model of its own, always empty.

    To paint a section, QHeaderView asks the view's selection model whether that whole
    column is selected (`isColumnSelected`, for the section and its neighbours, whether or
    not it highlights sections), and Qt answers by walking every row through the model's
    `index()`: with a Python model and 100,000 rows selected that was 1.7 s on the GUI
    thread after each selection change (profiled with py-spy; issue 16).
    """

    def setSelectionModel(self, selection_model: QItemSelectionModel) -> None:  # noqa: N802  (a Qt override keeps Qt's name)
        super().setSelectionModel(selection_model)  # also hands it to the headers
        model = self.model()
        if model is not None:
            self.horizontalHeader().setSelectionModel(QItemSelectionModel(model, self))


def data_table(name: str, accessible: str, *, multi_select: bool = False) -> QTableView:
    """A read-only row-selecting table view, as every data table in the app looks."""
    view = named(_RowTable(), name, accessible)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setSelectionMode(
        QAbstractItemView.SelectionMode.ExtendedSelection
        if multi_select
        else QAbstractItemView.SelectionMode.SingleSelection
    )
    view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    view.setAlternatingRowColors(True)
    view.setWordWrap(False)  # one line per row; the tooltip or a wider column shows the rest
    view.verticalHeader().hide()
    view.horizontalHeader().setStretchLastSection(True)
    return view


def message_label(name: str, accessible: str) -> QLabel:
    """A hidden, word-wrapping label for an inline message (see `show_error`/`show_success`)."""
    label = named(QLabel(), name, accessible)
    label.setWordWrap(True)
    label.hide()
    return label


def _show(label: QLabel, text: str) -> None:
    label.setText(text)
    label.setVisible(bool(text))


def show_error(label: QLabel, text: str) -> None:
    mark_as_error(label)
    _show(label, text)


def show_success(label: QLabel, text: str) -> None:
    mark_as_success(label)
    _show(label, text)


def show_note(label: QLabel, text: str) -> None:
    """Plain text: an empty palette hands the label back its parent's colours."""
    label.setPalette(QPalette())
    _show(label, text)
