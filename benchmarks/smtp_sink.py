"""A real aiosmtpd server in its own process, for the send benchmarks.

Its own process so that the server's event loop never competes with the client (the app or
the baseline) for one interpreter's GIL, as a real mail server would not. It is the tests'
harness (`tests.smtp_server.running_smtp_server`) with a handler that keeps, per message,
only the instant it was accepted and its envelope sender, so 100,000 messages cost little.

Protocol on stdin/stdout, one line each: the server first prints ``PORT <n>``; then
``reset`` → ``OK``; ``stats`` → a JSON object; ``wait <count> <timeout>`` → the JSON stats
once `count` messages arrived (or the timeout passed); ``quit`` ends it.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import Any

from tests.smtp_server import RecordingHandler, running_smtp_server


class TimingHandler(RecordingHandler):
    """Accepts every message; records (wall-clock time, envelope sender) of each one."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Condition()
        self.accepted: list[tuple[float, str]] = []

    async def handle_DATA(  # noqa: N802 — aiosmtpd's hook name
        self, server: Any, session: Any, envelope: Any
    ) -> str:
        with self._lock:
            self.accepted.append((time.time(), str(envelope.mail_from)))
            self._lock.notify_all()
        return "250 2.0.0 OK: queued"

    def reset(self) -> None:
        with self._lock:
            self.accepted = []

    def stats(self) -> dict[str, Any]:
        with self._lock:
            accepted = list(self.accepted)
        first: dict[str, float] = {}
        for when, sender in accepted:
            first.setdefault(sender, when)
        return {
            "count": len(accepted),
            "first": accepted[0][0] if accepted else None,
            "last": accepted[-1][0] if accepted else None,
            "first_by_sender": first,
        }

    def wait(self, count: int, timeout: float) -> bool:
        with self._lock:
            return self._lock.wait_for(lambda: len(self.accepted) >= count, timeout)


def main() -> None:
    handler = TimingHandler()
    with running_smtp_server(handler) as server:
        print(f"PORT {server.port}", flush=True)
        for line in sys.stdin:
            words = line.split()
            if not words:
                continue
            if words[0] == "quit":
                break
            if words[0] == "reset":
                handler.reset()
                print("OK", flush=True)
            elif words[0] == "stats":
                print(json.dumps(handler.stats()), flush=True)
            elif words[0] == "wait":
                handler.wait(int(words[1]), float(words[2]))
                print(json.dumps(handler.stats()), flush=True)


if __name__ == "__main__":
    main()
