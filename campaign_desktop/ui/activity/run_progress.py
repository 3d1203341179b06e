"""The status bar's progress of the sends under way ("Sending “News”: 1,234 of 5,000 sent,
38 messages/s") and of sends paused in this session, with why the app paused them.

It follows `RunEvent`s from the bridge, so it only ever runs on the GUI thread; it hides
itself when nothing is sending or paused.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from PySide6.QtCore import Qt, Slot
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QWidget

from campaign_desktop.domain.events import RunEvent, RunPhase
from campaign_desktop.domain.status import RunStatus, RunTrigger
from campaign_desktop.domain.views import RunView
from campaign_desktop.ui.common import formatting

LQ, RQ = "\N{LEFT DOUBLE QUOTATION MARK}", "\N{RIGHT DOUBLE QUOTATION MARK}"
_ENDED = (RunPhase.FINISHED, RunPhase.FAILED, RunPhase.CANCELLED)
_LIVE = (RunPhase.STARTED, RunPhase.PROGRESS, RunPhase.RESUMED)
# Wider text is cut short with an ellipsis (a long pause reason must not widen the window);
# the tooltip has all of it.
MAX_TEXT_WIDTH = 560


@dataclass(frozen=True)
class ActiveRun:
    """A run the status bar shows: `sent` is what the mail server accepted so far."""

    campaign_name: str
    sent: int
    total: int  # the people it is for (RunView.recipients)
    rate: float | None = None  # messages accepted per second lately; None before it is known
    paused: bool = False
    reason: str = ""  # why the app paused it ("" when the user did)
    late_since: datetime | None = None  # when it was due, for a send caught up late (UTC)
    waiting: str = ""  # why nothing goes out for now (the progress event's message)


def _sending_text(runs: list[ActiveRun]) -> str:
    if len(runs) == 1:
        run = runs[0]
        what = f"{LQ}{run.campaign_name}{RQ}"
        if run.late_since is not None:
            due = formatting.on_this_machine(run.late_since).removesuffix(" (this computer)")
            what += f" late (it was due {due})"
    else:
        late = sum(run.late_since is not None for run in runs)
        what = f"{len(runs)} campaigns" + (f" ({late:,} late)" if late else "")
    sent = sum(run.sent for run in runs)
    total = sum(run.total for run in runs)
    rates = [run.rate for run in runs if run.rate is not None]
    rate = f", {formatting.send_rate(sum(rates))}" if rates else ""
    waiting = [run.waiting for run in runs if run.waiting]
    if len(waiting) == len(runs):  # nothing goes out: say why instead of "0 messages/s"
        return f"Sending {what}: {sent:,} of {total:,} sent. {waiting[0]}"
    return f"Sending {what}: {sent:,} of {total:,} sent{rate}"


def _paused_text(runs: list[ActiveRun]) -> str:
    if len(runs) > 1:
        return f"{len(runs)} sends paused"
    run = runs[0]
    return f"{LQ}{run.campaign_name}{RQ} paused" + (f": {run.reason}" if run.reason else "")


def progress_text(runs: list[ActiveRun]) -> str:
    """ "Sending “News”: 120 of 5,000 sent, 38 messages/s", summed over several runs, then
    the paused ones ("“Promo” paused: <why>"); "" for none."""
    sending = [run for run in runs if not run.paused]
    paused = [run for run in runs if run.paused]
    parts = []
    if sending:
        parts.append(_sending_text(sending))
    if paused:
        parts.append(_paused_text(paused))
    return "; ".join(parts)


class RunProgressIndicator(QWidget):
    """A label and a progress bar (of the messages accepted) over every run sending now."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("runProgress")
        self._runs: dict[int, ActiveRun] = {}
        self._text = ""
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
        """The whole progress text (the label may show it cut short)."""
        return self._text

    @Slot(object)
    def on_run_event(self, event: RunEvent) -> None:
        run = event.run
        if event.phase in _ENDED:
            self._runs.pop(run.id, None)
        elif event.phase in _LIVE or event.phase == RunPhase.PAUSED:
            paused = event.phase == RunPhase.PAUSED
            self._runs[run.id] = ActiveRun(
                event.campaign_name,
                run.sent,
                run.recipients,  # as the audience count: unsubscribed/bounced are not in it
                rate=event.rate if event.phase == RunPhase.PROGRESS else None,
                paused=paused,
                reason=event.message if paused else "",
                late_since=run.occurrence_at if run.trigger == RunTrigger.CATCH_UP else None,
                waiting=event.message if event.phase == RunPhase.PROGRESS else "",
            )
        else:
            return
        self._show()

    def show_paused(self, runs: list[tuple[RunView, str]]) -> None:
        """Sends paused before this session (read at start), with why the app paused them;
        a run an event already told about is left as that event said."""
        for run, name in runs:
            if run.id not in self._runs and run.status == RunStatus.PAUSED:
                self._runs[run.id] = ActiveRun(
                    name, run.sent, run.recipients, paused=True, reason=run.error or ""
                )
        self._show()

    def _show(self) -> None:
        runs = list(self._runs.values())
        self._text = progress_text(runs)
        metrics = self.label.fontMetrics()
        self.label.setText(
            metrics.elidedText(self._text, Qt.TextElideMode.ElideRight, MAX_TEXT_WIDTH)
        )
        # Each run on its own line: the label sums several, and a long reason is cut short.
        self.label.setToolTip("\n".join(progress_text([run]) for run in runs))
        sending = [run for run in runs if not run.paused]
        total = max(sum(run.total for run in sending), 1)
        self.bar.setRange(0, total)
        self.bar.setValue(min(sum(run.sent for run in sending), total))
        self.bar.setVisible(bool(sending))
        self.setVisible(bool(runs))
