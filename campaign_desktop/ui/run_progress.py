"""The status bar's progress of the sends under way ("Sending “News”: 120 / 5,000").

It follows `RunEvent`s from the bridge, so it only ever runs on the GUI thread; it hides
itself when nothing is sending.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Slot
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QWidget

from campaign_desktop.domain.events import RunEvent, RunPhase

LQ, RQ = "\N{LEFT DOUBLE QUOTATION MARK}", "\N{RIGHT DOUBLE QUOTATION MARK}"
_ENDED = (RunPhase.FINISHED, RunPhase.FAILED, RunPhase.CANCELLED, RunPhase.PAUSED)
_LIVE = (RunPhase.STARTED, RunPhase.PROGRESS, RunPhase.RESUMED)


@dataclass(frozen=True)
class ActiveRun:
    campaign_name: str
    done: int
    total: int


def progress_text(runs: list[ActiveRun]) -> str:
    """ "Sending “News”: 120 / 5,000", or the sum over several runs; "" for none."""
    if not runs:
        return ""
    done = sum(run.done for run in runs)
    total = sum(run.total for run in runs)
    name = runs[0].campaign_name
    what = f"{LQ}{name}{RQ}" if len(runs) == 1 else f"{len(runs)} campaigns"
    return f"Sending {what}: {done:,} / {total:,}"


class RunProgressIndicator(QWidget):
    """A label and a progress bar over every run currently sending."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("runProgress")
        self._runs: dict[int, ActiveRun] = {}
        self.label = QLabel()
        self.label.setObjectName("runProgressText")
        self.label.setAccessibleName("Sending progress")
        self.bar = QProgressBar()
        self.bar.setObjectName("runProgressBar")
        self.bar.setAccessibleName("Sending progress")
        self.bar.setTextVisible(False)
        self.bar.setMaximumWidth(160)
        self.bar.setMaximumHeight(self.label.sizeHint().height())
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.label)
        layout.addWidget(self.bar)
        self._show()

    def text(self) -> str:
        return self.label.text()

    @Slot(object)
    def on_run_event(self, event: RunEvent) -> None:
        run = event.run
        if event.phase in _ENDED:
            self._runs.pop(run.id, None)
        elif event.phase in _LIVE:
            self._runs[run.id] = ActiveRun(event.campaign_name, run.total - run.pending, run.total)
        else:
            return
        self._show()

    def _show(self) -> None:
        runs = list(self._runs.values())
        self.label.setText(progress_text(runs))
        total = sum(run.total for run in runs)
        self.bar.setRange(0, max(total, 1))
        self.bar.setValue(min(sum(run.done for run in runs), max(total, 1)))
        self.setVisible(bool(runs))
