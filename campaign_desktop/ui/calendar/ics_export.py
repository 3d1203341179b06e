"""Export to calendar: the schedules of some (or all scheduled) campaigns as an .ics file,
asked for through a replaceable save dialog and written on a pool thread (docs/design.md §12).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtWidgets import QWidget

from campaign_desktop.context import AppContext
from campaign_desktop.domain.errors import DomainError
from campaign_desktop.domain.status import CampaignStatus
from campaign_desktop.ui.common.background import (
    BackgroundTask,
    Report,
    hand_to_crash_handler,
)
from campaign_desktop.ui.common.prompts import ErrorMessage
from campaign_desktop.ui.common.widgets import ask_save_path

log = logging.getLogger("campaign_desktop.ui.calendar")

# Campaigns with a schedule to export: the ones that fire, and the held ones (they keep theirs).
SCHEDULED_STATUSES = (
    CampaignStatus.SCHEDULED,
    CampaignStatus.HELD,
    CampaignStatus.SENDING,
    CampaignStatus.PAUSED,
)
_ALL = 100_000  # "every scheduled campaign": far more than a desk ever schedules


class ChooseIcsPath:
    """Asks where to save the .ics file; None if cancelled. Tests replace it."""

    @classmethod
    def ask(cls, parent: QWidget | None, suggested: str) -> Path | None:
        return ask_save_path(parent, "Export to calendar", suggested, "Calendar files", ".ics")


def suggested_file_name(names: Sequence[str]) -> str:
    """ "Spring newsletter.ics" for one campaign, "Campaign schedules.ics" for several."""
    if len(names) == 1:
        safe = "".join(ch for ch in names[0] if ch.isalnum() or ch in " -_.()").strip()
        return f"{safe or 'Campaign'}.ics"
    return "Campaign schedules.ics"


class IcsExporter(QObject):
    """Asks for a file and writes the .ics there off the GUI thread, one export at a time.

    `exported(path, message)` when the file is written; a refusal (nothing scheduled) is
    shown as a message, any other failure goes to the crash handler.
    """

    exported = Signal(object, str)  # Path, "Exported 2 campaigns to …"

    def __init__(self, ctx: AppContext, parent: QWidget) -> None:
        super().__init__(parent)
        self._ctx = ctx
        self._parent = parent
        self._task: BackgroundTask | None = None
        self._path: Path | None = None

    @property
    def busy(self) -> bool:
        return self._task is not None

    def export(self, ids: Sequence[int] | None, names: Sequence[str] = ()) -> None:
        """Export these campaigns (None: every scheduled or held one) after asking where."""
        if self._task is not None:
            return
        path = ChooseIcsPath.ask(self._parent, suggested_file_name(names))
        if path is not None:
            self.write(ids, path)

    def write(self, ids: Sequence[int] | None, path: Path) -> None:
        """Write the file on a pool thread, without asking (what `export` does once asked)."""
        campaigns = self._ctx.campaigns
        chosen = list(ids) if ids is not None else None

        def work(_report: Report) -> int:
            wanted = chosen
            if wanted is None:
                views = campaigns.page(statuses=SCHEDULED_STATUSES, limit=_ALL, audience=False)
                wanted = [view.id for view in views]
            document = campaigns.export_ics(wanted)  # ValidationError when none is scheduled
            path.write_bytes(document)
            return document.count(b"BEGIN:VEVENT")

        self._path = path
        self._task = BackgroundTask("export ics", work)
        self._task.finished.connect(self._on_written)
        self._task.start()

    @Slot(object, object)
    def _on_written(self, events: int | None, error: BaseException | None) -> None:
        self._task = None
        path = self._path
        if error is not None or path is None:
            if isinstance(error, DomainError):
                ErrorMessage.show(self._parent, "Export to calendar", error.message)
            elif isinstance(error, OSError):
                ErrorMessage.show(
                    self._parent, "Export to calendar", f"Could not write {path}: {error.strerror}"
                )
            elif error is not None:
                hand_to_crash_handler(error)
            return
        what = "1 campaign" if events == 1 else f"{events} campaigns"
        self.exported.emit(path, f"Exported {what} to {path}.")
