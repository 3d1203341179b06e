"""The clock every layer asks for "now", so tests and the scheduler can move time.

`SystemClock` is the real one; `ManualClock` is the one tests and benchmarks set by hand.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, aware UTC (wall clock: it may jump, e.g. when set by hand)."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back; only differences mean anything.

        Waits (the throttle's, retries') are measured on this one, so setting the wall clock
        back or forward neither stalls nor rushes them.
        """
        ...


class SystemClock:
    """The machine's clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()


class ManualClock:
    """A clock that only moves when told to; thread-safe.

    `advance` moves the wall clock and the monotonic clock together (time passes); `set`
    moves the wall clock only (someone set the clock, or the machine slept: its monotonic
    clock does not count sleep on Linux either). With `real_monotonic=True` the monotonic
    clock is the machine's, for tests that let real time pass.
    """

    def __init__(self, start: datetime, *, real_monotonic: bool = False) -> None:
        if start.tzinfo is None:
            raise ValueError("ManualClock needs an aware start")
        self._now = start.astimezone(UTC)
        self._monotonic = 0.0
        self._real_monotonic = real_monotonic
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def monotonic(self) -> float:
        if self._real_monotonic:
            return time.monotonic()
        with self._lock:
            return self._monotonic

    def set(self, instant: datetime) -> None:
        if instant.tzinfo is None:
            raise ValueError("ManualClock needs an aware instant")
        with self._lock:
            self._now = instant.astimezone(UTC)

    def advance(self, delta: timedelta) -> None:
        with self._lock:
            self._now += delta
            self._monotonic += max(delta.total_seconds(), 0.0)
