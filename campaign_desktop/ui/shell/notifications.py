"""What Campaign Desktop tells the user when a send ends, pauses, fails, was missed or starts late.

`notification_for(event)` decides the words (plain Python, tested without a tray);
`Notifier` gathers the notifications that arrive together (start-up catch-up publishes a
"missed" per occurrence and then one report) into one message and hands it to whoever
shows it: the tray's balloon, or the status bar where no tray exists.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import IntEnum, StrEnum

from PySide6.QtCore import QObject, QTimer, Signal, Slot

from campaign_desktop.domain.events import (
    CatchUpReport,
    Event,
    MailboxChecked,
    RunEvent,
    RunPhase,
)
from campaign_desktop.domain.status import RunTrigger
from campaign_desktop.domain.views import RunView
from campaign_desktop.ui.common import formatting

LQ, RQ = "\N{LEFT DOUBLE QUOTATION MARK}", "\N{RIGHT DOUBLE QUOTATION MARK}"
# Notifications arriving within this window are shown as one.
GATHER_MS = 250


class Level(IntEnum):
    """How much the user should care; maps to the tray's information/warning/critical icon."""

    INFO = 0
    WARNING = 1
    ERROR = 2


class Kind(StrEnum):
    FINISHED = "finished"
    TEST_FINISHED = "test_finished"
    FAILED = "failed"
    PAUSED = "paused"
    MISSED = "missed"
    CATCH_UP = "catch_up"
    SENDING_LATE = "sending_late"  # a catch-up send has started: which one, and when it was due
    SUMMARY = "summary"
    TRAY_HINT = "tray_hint"  # "still running in the tray", told once
    MAILBOX = "mailbox"  # bounces and unsubscribes read from the reply mailbox


@dataclass(frozen=True)
class Notification:
    kind: Kind
    title: str
    text: str
    level: Level = Level.INFO

    def one_line(self) -> str:
        """Title and text on one line, for the status bar."""
        return f"{self.title}: {self.text}"


def _plural(count: int, one: str, many: str | None = None) -> str:
    return f"{count:,} {one if count == 1 else (many or one + 's')}"


def _quoted(name: str) -> str:
    return f"{LQ}{name}{RQ}"


def _result_text(run: RunView) -> str:
    parts = [formatting.sent_of_total(run)]
    if run.failed:
        parts.append(f"{run.failed:,} failed")
    if run.unconfirmed:
        parts.append(f"{run.unconfirmed:,} unconfirmed (not resent, see Activity)")
    if run.skipped:
        parts.append(f"{run.skipped:,} skipped (unsubscribed or bounced)")
    return ", ".join(parts) + "."


def _finished(event: RunEvent) -> Notification:
    run, name = event.run, _quoted(event.campaign_name)
    if run.trigger == RunTrigger.TEST:
        return Notification(
            Kind.TEST_FINISHED, f"Test of {name} sent", f"{_plural(run.sent, 'test message')} sent."
        )
    late = " late" if run.trigger == RunTrigger.CATCH_UP else ""
    troubled = run.failed or run.unconfirmed
    return Notification(
        Kind.FINISHED,
        f"Sent {name}{late}",
        _result_text(run),
        Level.WARNING if troubled else Level.INFO,
    )


def _failed(event: RunEvent) -> Notification:
    reason = event.message or "The send stopped."
    return Notification(
        Kind.FAILED, f"Sending {_quoted(event.campaign_name)} failed", reason, Level.ERROR
    )


def _paused(event: RunEvent) -> Notification:
    run, title = event.run, f"Sending {_quoted(event.campaign_name)} paused"
    so_far = f"{formatting.sent_of_total(run)} so far; resume it from the Campaigns tab."
    if event.message:  # the app paused it (login refused, server gone): say why
        return Notification(Kind.PAUSED, title, f"{event.message} {so_far}", Level.WARNING)
    return Notification(Kind.PAUSED, title, so_far)


def _started(event: RunEvent) -> Notification | None:
    """Only a send caught up late is worth a balloon as it starts: it goes out at an hour
    nobody chose ("Sending “News” late: it was due Mon 04 Jan 2027 09:00 EST")."""
    run = event.run
    if run.trigger != RunTrigger.CATCH_UP:
        return None
    when = formatting.on_this_machine(run.occurrence_at).removesuffix(" (this computer)")
    return Notification(
        Kind.SENDING_LATE,
        f"Sending {_quoted(event.campaign_name)} late",
        f"It was due {when}. See the Activity tab.",
    )


def _missed(event: RunEvent) -> Notification:
    when = formatting.on_this_machine(event.run.occurrence_at).removesuffix(" (this computer)")
    return Notification(
        Kind.MISSED,
        f"{_quoted(event.campaign_name)} missed a send",
        f"It was due {when}, while Campaign Desktop was closed.",
        Level.WARNING,
    )


# Progress, resumed and cancelled are missing on purpose, and a start says nothing unless the
# send is late: they are the user's own doing or shown live in the window's status bar, so a
# balloon would only be noise.
_RUN_WORDING: dict[RunPhase, Callable[[RunEvent], Notification | None]] = {
    RunPhase.STARTED: _started,
    RunPhase.FINISHED: _finished,
    RunPhase.FAILED: _failed,
    RunPhase.PAUSED: _paused,
    RunPhase.MISSED: _missed,
}


def catch_up_text(report: CatchUpReport) -> str | None:
    """ "Sent 1 campaign late, 2 sends missed while Campaign Desktop was closed." """
    late, missed = len(report.sent_late), len(report.missed)
    why = (
        "while Campaign Desktop was closed"
        if report.at_start
        else "while the computer was asleep (or its clock jumped)"
    )
    if late and missed:
        return f"Sending {_plural(late, 'campaign')} late; {_plural(missed, 'send')} missed {why}."
    if late:
        return f"Sending {_plural(late, 'campaign')} late that fell due {why}."
    if missed:
        were = "was" if missed == 1 else "were"
        return f"{_plural(missed, 'send')} {were} missed {why}."
    return None


def mailbox_notification(event: MailboxChecked) -> Notification | None:
    """ "2 unsubscribes and 1 bounce processed" (None when the check changed no contact); a
    mailbox that cannot be read is a warning with the reason."""
    if event.error:
        return Notification(
            Kind.MAILBOX, "Reply mailbox not read", f"{event.error} See Settings.", Level.WARNING
        )
    if not (event.bounced or event.unsubscribed):
        return None
    parts = []
    if event.unsubscribed:
        parts.append(_plural(event.unsubscribed, "unsubscribe"))
    if event.bounced:
        parts.append(_plural(event.bounced, "bounce"))
    return Notification(
        Kind.MAILBOX,
        "Replies processed",
        f"{' and '.join(parts)} processed: those contacts are not mailed again. "
        "See the Contacts tab.",
    )


def notification_for(event: Event) -> Notification | None:
    """What to tell the user about `event`, or None when it is not worth a notification."""
    if isinstance(event, MailboxChecked):
        return mailbox_notification(event)
    if isinstance(event, RunEvent):
        wording = _RUN_WORDING.get(event.phase)
        return None if wording is None else wording(event)
    if isinstance(event, CatchUpReport):
        text = catch_up_text(event)
        if text is None:
            return None
        level = Level.WARNING if event.missed else Level.INFO
        return Notification(Kind.CATCH_UP, "Catching up", f"{text} See the Activity tab.", level)
    return None


def combine(notifications: Sequence[Notification]) -> Notification | None:
    """One notification for several that arrived together (a balloon shows one at a time).

    A catch-up report already counts the missed sends, so those are left out beside it; a
    report of late sends only is left out beside the notices that name them.
    """
    items = list(notifications)
    reports = [n for n in items if n.kind == Kind.CATCH_UP]
    if reports:
        items = [n for n in items if n.kind != Kind.MISSED]
        named = any(n.kind == Kind.SENDING_LATE for n in items)
        if named and all(report.level == Level.INFO for report in reports):  # nothing missed
            items = [n for n in items if n.kind != Kind.CATCH_UP]
    if not items:
        return None
    if len(items) == 1:
        return items[0]
    return Notification(
        Kind.SUMMARY,
        f"{len(items)} updates from Campaign Desktop",
        "\n".join(n.title for n in items),
        max(n.level for n in items),
    )


class Notifier(QObject):
    """Turns events (on the GUI thread, from the bridge) into gathered notifications.

    `notify` carries the `Notification` to show; connect it to the tray or the status bar.
    """

    notify = Signal(object)

    def __init__(self, parent: QObject | None = None, gather_ms: int = GATHER_MS) -> None:
        super().__init__(parent)
        self._pending: list[Notification] = []
        self._timer = QTimer(self, singleShot=True, interval=gather_ms)
        self._timer.timeout.connect(self.flush)

    @Slot(object)
    def on_event(self, event: Event) -> None:
        notification = notification_for(event)
        if notification is not None:
            self._pending.append(notification)
            if not self._timer.isActive():
                self._timer.start()

    @Slot()
    def flush(self) -> None:
        """Show what has gathered now (also what the timer does)."""
        self._timer.stop()
        pending, self._pending = self._pending, []
        combined = combine(pending)
        if combined is not None:
            self.notify.emit(combined)
