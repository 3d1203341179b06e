"""Stable object names and screen-reader names for every control, and a check that finds gaps.

A name is what a screen reader says (`QAccessible`'s Name: the accessibleName, else the
button's text or the form label's buddy text), so a tool button whose text changes (Pause ⇄
Resume) is read right without an accessibleName fixed at start.
"""

from __future__ import annotations

from PySide6.QtGui import QAccessible
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QAbstractSlider,
    QAbstractSpinBox,
    QComboBox,
    QHeaderView,
    QLineEdit,
    QPlainTextEdit,
    QScrollBar,
    QTabBar,
    QTextEdit,
    QToolBar,
    QToolButton,
    QWidget,
)

INTERACTIVE = (
    QAbstractButton,
    QLineEdit,
    QComboBox,
    QAbstractSpinBox,
    QAbstractItemView,
    QPlainTextEdit,
    QTextEdit,
    QAbstractSlider,
)
# Parts Qt builds inside a control (a combo box's line edit, a line edit's clear button, a
# table's header, a tab bar's scroll arrows): named through their owner.
_OWNERS = (QComboBox, QAbstractSpinBox, QLineEdit, QTabBar, QHeaderView, QAbstractItemView)


def name_toolbar_buttons(root: QWidget) -> None:
    """Give each toolbar button the object name of its action plus "Button" (Qt leaves it empty)."""
    for toolbar in root.findChildren(QToolBar):
        for action in toolbar.actions():
            button = toolbar.widgetForAction(action)
            if isinstance(button, QToolButton) and not button.objectName() and action.objectName():
                button.setObjectName(f"{action.objectName()}Button")


def accessible_name(widget: QWidget) -> str:
    interface = QAccessible.queryAccessibleInterface(widget)
    return interface.text(QAccessible.Text.Name) if interface is not None else ""


def _is_internal(widget: QWidget) -> bool:
    if isinstance(widget, QScrollBar | QTabBar | QHeaderView) or widget.objectName().startswith(
        ("qt_", "_q_")
    ):
        return True
    parent = widget.parentWidget()
    while parent is not None:
        if isinstance(parent, _OWNERS):
            return True
        parent = parent.parentWidget()
    return False


def unnamed_controls(root: QWidget) -> list[str]:
    """Interactive widgets under `root` without an object name or a spoken name (a report)."""
    gaps = []
    for widget in root.findChildren(QWidget):
        if not isinstance(widget, INTERACTIVE) or _is_internal(widget):
            continue
        missing = [
            what
            for what, value in (
                ("objectName", widget.objectName()),
                ("accessible name", accessible_name(widget)),
            )
            if not value
        ]
        if missing:
            label = widget.text() if isinstance(widget, QAbstractButton) else ""
            gaps.append(
                f"{type(widget).__name__} {widget.objectName() or label!r} "
                f"in {type(root).__name__}: no {' and no '.join(missing)}"
            )
    return gaps
