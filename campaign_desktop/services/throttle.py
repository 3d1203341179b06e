"""A send-rate limit (messages per minute and per hour) shared by every run of the app.

Sliding windows over the instants of recent sends; a worker waits for a free slot, and a
pause or cancel interrupts the wait.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable
from datetime import datetime, timedelta

from campaign_desktop.domain.clock import Clock

_MINUTE = timedelta(minutes=1)
_HOUR = timedelta(hours=1)


class SendThrottle:
    """Hands out send slots; `0` for a limit means no limit."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._per_minute = 0
        self._per_hour = 0
        self._recent: deque[datetime] = deque()  # send instants of the last hour, oldest first

    def configure(self, *, per_minute: int, per_hour: int) -> None:
        with self._lock:
            self._per_minute = per_minute
            self._per_hour = per_hour

    def seed(self, sent_at: Iterable[datetime]) -> None:
        """Count sends made before this process started (from the ledger) against the limits."""
        with self._lock:
            self._recent.extend(sorted(sent_at))

    def acquire(self, stop: threading.Event) -> bool:
        """Wait for a slot and take it; False if `stop` was set while waiting."""
        while True:
            with self._lock:
                wait = self._wait_needed(self._clock.now())
                if wait <= 0:
                    self._recent.append(self._clock.now())
                    return True
            if stop.wait(min(wait, 1.0)):
                return False

    def _wait_needed(self, now: datetime) -> float:
        while self._recent and self._recent[0] <= now - _HOUR:
            self._recent.popleft()
        if not self._per_minute and not self._per_hour:
            self._recent.clear()  # no limit: nothing to remember
            return 0.0
        waits = [0.0]
        if self._per_hour and len(self._recent) >= self._per_hour:
            waits.append((self._recent[-self._per_hour] + _HOUR - now).total_seconds())
        if self._per_minute:
            in_minute = sum(1 for instant in self._recent if instant > now - _MINUTE)
            if in_minute >= self._per_minute:
                waits.append((self._recent[-self._per_minute] + _MINUTE - now).total_seconds())
        return max(waits)
