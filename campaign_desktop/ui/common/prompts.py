"""Small modal questions (confirm, archive reason, error message), each behind an `ask()`
classmethod so tests replace the question instead of driving a real modal loop; and
`call_service`, which runs a slot's one service call and says whether it went through.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, Literal, TypeAlias, TypeVar

from PySide6.QtWidgets import QInputDialog, QLineEdit, QMessageBox, QWidget

from campaign_desktop.domain.errors import DomainError

log = logging.getLogger("campaign_desktop.ui")

T = TypeVar("T")


def ask_two_ways(
    parent: QWidget | None,
    title: str,
    text: str,
    *,
    name: str,
    action: str,
    other: str = "Cancel",
    action_role: QMessageBox.ButtonRole = QMessageBox.ButtonRole.AcceptRole,
    default_is_action: bool = True,
) -> bool:
    """A modal question with two buttons (`action`, `other`); True when `action` was
    chosen. The box and its buttons get object names from `name` (name, nameYes, nameNo)
    so tests and screen readers find them; Enter presses the default one."""
    box = QMessageBox(QMessageBox.Icon.Question, title, text, parent=parent)
    box.setObjectName(name)
    yes = box.addButton(action, action_role)
    yes.setObjectName(f"{name}Yes")
    no = box.addButton(other, QMessageBox.ButtonRole.RejectRole)
    no.setObjectName(f"{name}No")
    box.setDefaultButton(yes if default_is_action else no)
    box.exec()
    return box.clickedButton() is yes


class Confirm:
    """A yes/no question; True when the user chose the action."""

    @classmethod
    def ask(cls, parent: QWidget | None, title: str, text: str, action: str) -> bool:
        return ask_two_ways(parent, title, text, name="confirmBox", action=action)


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


@dataclass(frozen=True, slots=True)
class Done(Generic[T]):
    """A service call that went through, with what it returned (None for a void call).

    Always true, so `if not outcome: return` is the whole check, and mypy then knows the
    outcome is a `Done`.
    """

    value: T

    def __bool__(self) -> Literal[True]:
        return True


@dataclass(frozen=True, slots=True)
class Refused:
    """A service call the service refused (a DomainError); the user has been told `message`.

    Always false.
    """

    message: str

    def __bool__(self) -> Literal[False]:
        return False


Outcome: TypeAlias = Done[T] | Refused
"""What `call_service` gives back: `Done(value)` or `Refused(message)`, never a bare None, so
a refused call that returns nothing (a delete) cannot pass for one that went through."""


def call_service(
    parent: QWidget | None,
    title: str,
    call: Callable[[], T],
    on_refused: Callable[[str], None] | None = None,
) -> Outcome[T]:
    """Run one service call from a slot: `Done(result)`, or, for an expected failure (a
    DomainError), `Refused(message)` after the message was shown to the user (and given to
    `on_refused`), never a traceback. Anything else is a bug: it propagates to the crash
    handler.

    Callers act on the outcome, not on the result: `if not call_service(...): return`
    before changing what the window shows.
    """
    try:
        result = call()
    except DomainError as exc:
        log.info("%s refused: %s", title, exc.message)
        if on_refused is not None:
            on_refused(exc.message)
        ErrorMessage.show(parent, title, exc.message)
        return Refused(exc.message)
    return Done(result)
