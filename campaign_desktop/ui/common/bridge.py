"""The Qt side of the event port: turns EventBus callbacks (any thread) into GUI-thread signals.

Services and the scheduler publish from worker threads; widgets may only be touched on the
GUI thread, so every event hops over a queued connection before the public signals fire.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from PySide6.QtCore import QObject, Qt, Signal, Slot

from campaign_desktop.domain.events import (
    CampaignChanged,
    CatchUpReport,
    ContactsUnsubscribed,
    Event,
    EventBus,
    HistoryCompacted,
    MailboxChecked,
    RunEvent,
    SchedulerStateChanged,
)

log = logging.getLogger("campaign_desktop.ui.common.bridge")


class EventBridge(QObject):
    """Re-emits domain events as Qt signals, always on the thread this object lives in.

    The public signals are emitted from `_dispatch`, which a queued connection runs on the
    bridge's own (GUI) thread. So even a plain function connected to them (which Qt would
    otherwise call directly on the emitting thread) runs on the GUI thread.
    """

    campaign_changed = Signal(int, str)  # campaign id, CampaignChange value
    run_event = Signal(object)  # RunEvent
    catch_up = Signal(object)  # CatchUpReport
    scheduler_state = Signal(object)  # SchedulerStateChanged
    mailbox_checked = Signal(object)  # MailboxChecked (the reply mailbox was read)
    contacts_unsubscribed = Signal(object)  # ContactsUnsubscribed (imported unsubscribes)
    history_compacted = Signal(object)  # HistoryCompacted (old runs' details removed)

    _received = Signal(object)

    def __init__(self, events: EventBus, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._received.connect(self._dispatch, Qt.ConnectionType.QueuedConnection)
        unsubscribe = events.subscribe(self._on_event)
        self._unsubscribe: Callable[[], None] | None = unsubscribe
        # A bridge deleted without close() must not leave a dangling subscriber behind.
        self.destroyed.connect(lambda *_: unsubscribe())

    def close(self) -> None:
        """Stop listening; events published afterwards are dropped."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def _on_event(self, event: Event) -> None:
        # Runs on the publishing thread: only emit, touch nothing else.
        self._received.emit(event)

    @Slot(object)
    def _dispatch(self, event: Event) -> None:
        if isinstance(event, CampaignChanged):
            self.campaign_changed.emit(event.campaign_id, str(event.change))
        elif isinstance(event, RunEvent):
            self.run_event.emit(event)
        elif isinstance(event, CatchUpReport):
            self.catch_up.emit(event)
        elif isinstance(event, SchedulerStateChanged):
            self.scheduler_state.emit(event)
        elif isinstance(event, MailboxChecked):
            self.mailbox_checked.emit(event)
        elif isinstance(event, ContactsUnsubscribed):
            self.contacts_unsubscribed.emit(event)
        elif isinstance(event, HistoryCompacted):
            self.history_compacted.emit(event)
        else:  # pragma: no cover - a new event type without a signal is a bug to notice
            log.warning("no signal for event %r", event)
