"""The UI-agnostic event port: services and the scheduler publish, the GUI subscribes.

Subscribers are called on the publishing thread; the GUI's bridge re-emits them as queued
Qt signals. A failing subscriber is logged and never breaks the publisher.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from campaign_desktop.domain.views import RunView

log = logging.getLogger("campaign_desktop.events")


class CampaignChange(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    SCHEDULED = "scheduled"
    UNSCHEDULED = "unscheduled"
    ARCHIVED = "archived"
    RESTORED = "restored"
    DELETED = "deleted"
    HELD = "held"
    RELEASED = "released"
    SKIPS = "skips"  # a single send skipped or un-skipped
    STATUS = "status"  # status or next run moved because a run started or ended


@dataclass(frozen=True)
class CampaignChanged:
    campaign_id: int
    change: CampaignChange


class RunPhase(StrEnum):
    STARTED = "started"
    PROGRESS = "progress"
    FINISHED = "finished"
    FAILED = "failed"
    PAUSED = "paused"
    RESUMED = "resumed"
    CANCELLED = "cancelled"
    MISSED = "missed"


@dataclass(frozen=True)
class RunEvent:
    """A run moved: `run` carries its counts at that moment; `message` explains failures,
    pauses and, on a progress event, why nothing goes out for now ("Trying again in 25 s:
    the mail server asked to slow down (…)"; "" while messages go out)."""

    phase: RunPhase
    run: RunView
    campaign_name: str
    message: str = ""
    rate: float | None = None  # messages accepted per second lately (progress events)


@dataclass(frozen=True)
class CatchUpReport:
    """What the scheduler did about overdue occurrences: at start (the app was closed) or
    while running (the computer slept, or its clock jumped)."""

    sent_late: tuple[tuple[int, datetime], ...]  # (campaign_id, occurrence_at)
    missed: tuple[tuple[int, datetime], ...]
    at_start: bool = True
    on_time: tuple[tuple[int, datetime], ...] = ()  # sent as scheduled in the same pass


@dataclass(frozen=True)
class SchedulerStateChanged:
    running: bool
    sending_paused: bool
    next_run_at: datetime | None


@dataclass(frozen=True)
class MailboxChecked:
    """The reply mailbox was read (docs/design.md §11): what was processed, or why not."""

    bounced: int  # contacts newly marked bounced (hard bounces, 3 soft in a row)
    unsubscribed: int  # contacts newly unsubscribed
    processed: int  # messages read and handled (moved to the processed folder)
    error: str = ""  # why the mailbox could not be read ("" when it was)


@dataclass(frozen=True)
class ContactsUnsubscribed:
    """Contacts were unsubscribed outside the Contacts tab and the mailbox check: "Import
    unsubscribes…" (docs/design.md §20). Audiences shrink; the GUI counts them again."""

    unsubscribed: int  # contacts newly unsubscribed


@dataclass(frozen=True)
class HistoryCompacted:
    """The history retention removed old runs' recipient details (docs/design.md §15)."""

    runs: int  # runs whose details were removed (wholly or in part)
    deliveries: int  # delivery rows removed


Event = (
    CampaignChanged
    | RunEvent
    | CatchUpReport
    | SchedulerStateChanged
    | MailboxChecked
    | ContactsUnsubscribed
    | HistoryCompacted
)
Subscriber = Callable[[Event], None]


class EventBus:
    """A tiny thread-safe publish/subscribe hub."""

    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []
        self._lock = threading.Lock()

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        """Add `subscriber`; returns a function that removes it again."""
        with self._lock:
            self._subscribers.append(subscriber)

        def unsubscribe() -> None:
            with self._lock:
                if subscriber in self._subscribers:
                    self._subscribers.remove(subscriber)

        return unsubscribe

    def publish(self, event: Event) -> None:
        with self._lock:
            subscribers = list(self._subscribers)
        for subscriber in subscribers:
            try:
                subscriber(event)
            except Exception:
                log.exception("event subscriber %r failed on %r", subscriber, event)
