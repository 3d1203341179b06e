"""Small modal questions (confirm, archive reason, error message), each behind an `ask()`
classmethod so tests replace the question instead of driving a real modal loop.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from PySide6.QtWidgets import QInputDialog, QLineEdit, QMessageBox, QWidget

from campaign_desktop.domain.errors import DomainError

log = logging.getLogger("campaign_desktop.ui")

T = TypeVar("T")


class Confirm:
    """A yes/no question; True when the user chose the action."""

    @classmethod
    def ask(cls, parent: QWidget | None, title: str, text: str, action: str) -> bool:
        box = QMessageBox(QMessageBox.Icon.Question, title, text, parent=parent)
        yes = box.addButton(action, QMessageBox.ButtonRole.AcceptRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setObjectName("confirmBox")
        box.exec()
        return box.clickedButton() is yes


class ArchiveReason:
    """Asks for an optional reason to archive: the text ("" for none), or None if cancelled."""

    @classmethod
    def ask(
        cls, parent: QWidget | None, campaign_name: str, *, scheduled: bool = False
    ) -> str | None:
        """`scheduled`: say that archiving stops its sends (only then is it true)."""
        stops = "\nIt stops being scheduled." if scheduled else ""
        text, ok = QInputDialog.getText(
            parent,
            "Archive campaign",
            f"Archive \N{LEFT DOUBLE QUOTATION MARK}{campaign_name}\N{RIGHT DOUBLE QUOTATION MARK}?"
            f"{stops}\nReason (optional):",
            QLineEdit.EchoMode.Normal,
        )
        return text.strip() if ok else None


class ErrorMessage:
    """Tells the user about an expected failure (a DomainError's message)."""

    @classmethod
    def show(cls, parent: QWidget | None, title: str, text: str) -> None:
        box = QMessageBox(QMessageBox.Icon.Warning, title, text, parent=parent)
        box.setObjectName("errorBox")
        box.exec()


def call_service(
    parent: QWidget | None,
    title: str,
    call: Callable[[], T],
    on_refused: Callable[[str], None] | None = None,
) -> T | None:
    """Run one service call from a slot; an expected failure (a DomainError) becomes a
    message to the user (and `on_refused(message)`) and None, never a traceback. Anything
    else is a bug: it propagates to the crash handler.
    """
    try:
        return call()
    except DomainError as exc:
        log.info("%s refused: %s", title, exc.message)
        if on_refused is not None:
            on_refused(exc.message)
        ErrorMessage.show(parent, title, exc.message)
        return None
