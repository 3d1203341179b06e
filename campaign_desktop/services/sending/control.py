"""How a run is asked to stop: the reason (`Stop`) and the run's `RunControl`.

Apart from `delivery.py` so that the engine can pause, cancel and shut runs down without
importing the SMTP stack, which is loaded only when a run is first prepared (issue 16).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from enum import StrEnum


class Stop(StrEnum):
    PAUSE = "pause"
    CANCEL = "cancel"
    SHUTDOWN = "shutdown"


@dataclass
class RunControl:
    """How the GUI, shutdown or a connection asks a run to stop; the first reason wins,
    except shutdown, which always wins (the run then stays `sending` to resume at start)."""

    stop: threading.Event = field(default_factory=threading.Event)
    shutdown: threading.Event = field(default_factory=threading.Event)
    reason: Stop | None = None
    message: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def request(self, reason: Stop, message: str | None = None) -> None:
        with self._lock:
            if reason is Stop.SHUTDOWN:
                self.reason, self.message = reason, message
                self.shutdown.set()
            elif self.reason is None:
                self.reason, self.message = reason, message
        self.stop.set()
