"""The send-rate limit (messages per minute and per hour), counted from the ledger.

One limit for every connection, run and (in team mode) desktop on the database: the sends
it counts are the ledger's (`delivery.sent_at`), read again at most every `refresh` seconds,
plus the slots this process has handed out and not yet seen in the ledger.

Each send is placed on the *monotonic* clock once, when the throttle first learns of it
(its age then is `now - sent_at`, clamped to 0…1 h), and only monotonic time is used after
that: setting the wall clock back or forward neither stalls nor rushes the limit
(docs/design.md §9). A process started anew reads the last hour from the ledger, so the
hourly limit holds across restarts.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import select

from campaign_desktop.domain.clock import Clock
from campaign_desktop.persistence.db import Database
from campaign_desktop.persistence.models import Delivery

_MINUTE = 60.0
_HOUR = 3600.0
# Sends committed by another thread or desktop up to this long before a read may still be
# missing from the previous read (their transaction was open): each read overlaps this much.
_OVERLAP = timedelta(seconds=30)


class SendThrottle:
    """Hands out send slots keyed by delivery id; `0` for a limit means no limit."""

    def __init__(self, db: Database, clock: Clock, *, refresh: float = 0.5) -> None:
        self._db = db
        self._clock = clock
        self._refresh = refresh
        self._lock = threading.Lock()
        self._per_minute = 0
        self._per_hour = 0
        self._sends: dict[int, float] = {}  # delivery id → monotonic instant of the send
        self._read_at: float | None = None  # monotonic instant of the last ledger read
        self._read_wall: datetime | None = None  # wall instant the last read covered up to
        self._waiting = 0

    def configure(self, *, per_minute: int, per_hour: int) -> None:
        with self._lock:
            self._per_minute = per_minute
            self._per_hour = per_hour

    @property
    def waiting(self) -> int:
        """How many senders are waiting for a slot right now (the status bar shows it)."""
        with self._lock:
            return self._waiting

    @property
    def limited(self) -> bool:
        with self._lock:
            return bool(self._per_minute or self._per_hour)

    def acquire(
        self,
        delivery_id: int,
        stop: threading.Event,
        *,
        before_wait: Callable[[], None] | None = None,
    ) -> bool:
        """Take a slot for `delivery_id`, waiting while the limits are reached.

        `before_wait` runs once, just before the first wait (the sender records what it has
        done so far, so nothing waits in flight). Returns False if `stop` was set while
        waiting (no slot taken). Raises StorageError when the ledger cannot be read.
        """
        waited = False
        while True:
            with self._lock:
                if not (self._per_minute or self._per_hour):
                    return True
            self._read_ledger()
            with self._lock:
                now = self._clock.monotonic()
                wait = self._wait_needed(now)
                if wait <= 0:
                    self._sends[delivery_id] = now
                    return True
            if not waited and before_wait is not None:
                before_wait()
            waited = True
            with self._lock:
                self._waiting += 1
            try:
                if stop.wait(min(wait, 1.0)):
                    return False
            finally:
                with self._lock:
                    self._waiting -= 1

    def release(self, delivery_id: int) -> None:
        """Give back a slot whose message was not sent after all (e.g. the contact left)."""
        with self._lock:
            self._sends.pop(delivery_id, None)

    def _read_ledger(self) -> None:
        """Learn the ledger's sends since the last read (every `refresh` seconds at most)."""
        mono = self._clock.monotonic()
        with self._lock:
            if self._read_at is not None and mono - self._read_at < self._refresh:
                return
        wall = self._clock.now()
        since = wall - timedelta(hours=1)
        with self._lock:
            previous = self._read_wall
        if previous is not None and since < previous - _OVERLAP <= wall:
            since = previous - _OVERLAP
        with self._db.read() as session:
            rows = session.execute(
                select(Delivery.id, Delivery.sent_at).where(Delivery.sent_at >= since)
            ).all()
        with self._lock:
            self._read_at, self._read_wall = mono, wall
            for delivery_id, sent_at in rows:
                if delivery_id not in self._sends and sent_at is not None:
                    age = min(max((wall - sent_at).total_seconds(), 0.0), _HOUR)
                    self._sends[delivery_id] = mono - age
            for delivery_id, instant in list(self._sends.items()):
                if instant <= mono - _HOUR:
                    del self._sends[delivery_id]

    def _wait_needed(self, now: float) -> float:
        """Seconds until a slot frees up under both limits (0: one is free now)."""
        recent = sorted(instant for instant in self._sends.values() if instant > now - _HOUR)
        waits = [0.0]
        if self._per_hour and len(recent) >= self._per_hour:
            waits.append(recent[-self._per_hour] + _HOUR - now)
        if self._per_minute:
            in_minute = [instant for instant in recent if instant > now - _MINUTE]
            if len(in_minute) >= self._per_minute:
                waits.append(in_minute[-self._per_minute] + _MINUTE - now)
        return max(waits)
