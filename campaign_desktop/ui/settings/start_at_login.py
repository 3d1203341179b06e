"""Settings' "Start Campaign Desktop when I log in" checkbox (docs/design.md §16).

The box shows whether the entry exists (read on the background pool when the dialog opens)
and the dialog's Save writes or removes it, also on the pool, before it closes.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Slot
from PySide6.QtWidgets import QCheckBox, QVBoxLayout, QWidget

from campaign_desktop.context import AppContext
from campaign_desktop.domain.errors import DomainError
from campaign_desktop.ui.common.background import (
    BackgroundTask,
    hand_to_crash_handler,
    run_in_background,
)
from campaign_desktop.ui.common.widgets import message_label, named, show_error, show_note

START_AT_LOGIN_TEXT = "Start Campaign Desktop when I log in"


class StartAtLoginField(QWidget):
    """The checkbox, where the entry lives, and why reading or writing it failed.

    The box stays disabled until the entry's state is known; `changed()` says whether Save
    has something to write.
    """

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._ctx = ctx
        self._enabled: bool | None = None  # what the entry is, once read
        self._task: BackgroundTask | None = None
        self._wanted = False
        self._done: Callable[[bool], None] = lambda _ok: None
        self.checkbox = named(
            QCheckBox(START_AT_LOGIN_TEXT), "startAtLogin", "Start Campaign Desktop at login"
        )
        self.checkbox.setEnabled(False)
        self.checkbox.setToolTip(
            "Scheduled campaigns go out only while the app runs: this starts it, hidden in "
            "the tray, whenever you log in to this computer."
        )
        self.where = message_label("startAtLoginWhere", "Where the start-at-login entry is")
        self.error = message_label("startAtLoginError", "Problem with starting at login")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.checkbox)
        layout.addWidget(self.where)
        layout.addWidget(self.error)
        if not ctx.autostart.supported:
            self.hide()
            return
        self._task = run_in_background(
            "read start at login", lambda _report: ctx.autostart.is_enabled(), self._on_read
        )

    @property
    def busy(self) -> bool:
        return self._task is not None

    def changed(self) -> bool:
        """True when the box differs from the entry as last read or written."""
        return self._enabled is not None and self.checkbox.isChecked() != self._enabled

    def apply(self, done: Callable[[bool], None]) -> None:
        """Write or remove the entry as the box says, on the pool; `done(ok)` on the GUI
        thread (False after an expected failure, now shown under the box)."""
        wanted = self.checkbox.isChecked()
        self._wanted, self._done = wanted, done
        self.checkbox.setEnabled(False)
        show_error(self.error, "")
        self._task = run_in_background(
            "write start at login",
            lambda _report: self._ctx.autostart.set_enabled(wanted),
            self._on_written,
        )

    @Slot(object, object)
    def _on_written(self, _result: object, error: BaseException | None) -> None:
        self._task = None
        self.checkbox.setEnabled(True)
        if error is None:
            self._enabled = self._wanted
        elif isinstance(error, DomainError):
            show_error(self.error, error.message)
        else:
            hand_to_crash_handler(error)
        self._done(error is None)

    @Slot(object, object)
    def _on_read(self, enabled: object, error: BaseException | None) -> None:
        self._task = None
        if error is None:
            self._enabled = bool(enabled)
            self.checkbox.setChecked(self._enabled)
            self.checkbox.setEnabled(True)
            show_note(self.where, f"Kept in {self._ctx.autostart.location}")
        elif isinstance(error, DomainError):
            show_error(self.error, error.message)
        else:
            hand_to_crash_handler(error)
