"""A real aiosmtpd server in its own process, for the send benchmarks.

Its own process so that the server's event loop never competes with the client (the app or
the baseline) for one interpreter's GIL, as a real mail server would not. It is the tests'
harness (`tests.smtp_server.running_smtp_server`) with a handler that keeps, per message,
only the instant it was accepted and its envelope sender, so 100,000 messages cost little.

How slow a server it plays (``python -m benchmarks.smtp_sink [options]``):

- ``--delay S``: the server waits S seconds after the message data before it answers 250
  (``await asyncio.sleep`` in `handle_DATA`, so the connections' waits overlap, as a real
  server's do): a server that takes its time per message.
- ``--command-delay S``: it also waits S seconds before answering each MAIL and RCPT
  (and after the data). The waits of one session follow each other: aiosmtpd reads and
  answers a session's commands one at a time, so this is server work, not network latency.
- ``--rtt S``: clients reach the server through a delay line that holds every chunk for
  S/2 in each direction without holding up the chunks behind it: a network round trip of
  S seconds. Bytes sent back to back (pipelined commands) share one round trip. The
  printed port is then the delay line's.
- ``--pipelining``: EHLO also offers PIPELINING (RFC 2920). aiosmtpd reads each session
  through a buffer, so commands sent ahead are answered in order either way.

Protocol on stdin/stdout, one line each: the server first prints ``PORT <n>``; then
``reset`` → ``OK``; ``delay <seconds>`` / ``command_delay <seconds>`` → ``OK`` (from the
next message on); ``stats`` → a JSON object; ``wait <count> <timeout>`` → the JSON stats
once `count` messages arrived (or the timeout passed); ``quit`` ends it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

from tests.smtp_server import HOST, RecordingHandler, free_port, running_smtp_server


class TimingHandler(RecordingHandler):
    """Accepts every message; records (wall-clock time, envelope sender) of each one.

    `data_delay` (seconds before the reply to the data) and `command_delay` (seconds before
    each reply to MAIL, RCPT and the data) may be changed while the server runs.
    """

    def __init__(
        self, *, data_delay: float = 0.0, command_delay: float = 0.0, pipelining: bool = False
    ) -> None:
        super().__init__(data_delay=data_delay, pipelining=pipelining)
        self.command_delay = command_delay
        self._lock = threading.Condition()
        self.accepted: list[tuple[float, str]] = []

    async def handle_MAIL(  # noqa: N802 — aiosmtpd's hook name
        self, server: Any, session: Any, envelope: Any, address: str, mail_options: list[str]
    ) -> str:
        if self.command_delay:
            await asyncio.sleep(self.command_delay)
        return await super().handle_MAIL(server, session, envelope, address, mail_options)

    async def handle_RCPT(  # noqa: N802 — aiosmtpd's hook name
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if self.command_delay:
            await asyncio.sleep(self.command_delay)
        return await super().handle_RCPT(server, session, envelope, address, rcpt_options)

    async def handle_DATA(  # noqa: N802 — aiosmtpd's hook name
        self, server: Any, session: Any, envelope: Any
    ) -> str:
        delay = self.data_delay + self.command_delay
        if delay:
            # Per session: other connections go on meanwhile, as on a real server.
            await asyncio.sleep(delay)
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


# --- the delay line (network latency) --------------------------------------------------------


async def _carry(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, one_way: float
) -> None:
    """Copy reader → writer, each chunk `one_way` seconds after it arrived, in order."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def feed() -> None:
        while True:
            try:
                chunk = await reader.read(65536)
            except OSError:
                chunk = b""
            queue.put_nowait((loop.time() + one_way, chunk))
            if not chunk:
                return

    feeder = asyncio.create_task(feed())
    try:
        while True:
            due, chunk = await queue.get()
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if not chunk:
                break
            writer.write(chunk)
            await writer.drain()
    except OSError:
        pass
    finally:
        feeder.cancel()
        writer.close()


async def _delay_line(port: int, target: int, rtt: float, ready: threading.Event) -> None:
    async def connected(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            server_r, server_w = await asyncio.open_connection(HOST, target)
        except OSError:
            client_w.close()
            return
        await asyncio.gather(
            _carry(client_r, server_w, rtt / 2),
            _carry(server_r, client_w, rtt / 2),
            return_exceptions=True,
        )

    server = await asyncio.start_server(connected, HOST, port)
    async with server:
        ready.set()
        await server.serve_forever()


@contextlib.contextmanager
def delay_line(target: int, rtt: float) -> Iterator[int]:
    """A port on 127.0.0.1 that forwards to `target` with a round trip of `rtt` seconds."""
    port = free_port()
    ready = threading.Event()
    loop = asyncio.new_event_loop()
    thread = threading.Thread(
        target=loop.run_until_complete,
        args=(_delay_line(port, target, rtt, ready),),
        name="delay-line",
        daemon=True,
    )
    thread.start()
    if not ready.wait(10):
        raise RuntimeError("the delay line did not start")
    yield port  # a daemon thread: it ends with the process


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.smtp_sink")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before 250 per message")
    parser.add_argument("--command-delay", type=float, default=0.0, help="seconds per command")
    parser.add_argument("--rtt", type=float, default=0.0, help="network round trip (seconds)")
    parser.add_argument("--pipelining", action="store_true", help="offer PIPELINING")
    args = parser.parse_args()
    handler = TimingHandler(
        data_delay=args.delay, command_delay=args.command_delay, pipelining=args.pipelining
    )
    with running_smtp_server(handler) as server, contextlib.ExitStack() as stack:
        port = stack.enter_context(delay_line(server.port, args.rtt)) if args.rtt else server.port
        print(f"PORT {port}", flush=True)
        for line in sys.stdin:
            words = line.split()
            if not words:
                continue
            if words[0] == "quit":
                break
            if words[0] == "reset":
                handler.reset()
                print("OK", flush=True)
            elif words[0] == "delay":
                handler.data_delay = float(words[1])
                print("OK", flush=True)
            elif words[0] == "command_delay":
                handler.command_delay = float(words[1])
                print("OK", flush=True)
            elif words[0] == "stats":
                print(json.dumps(handler.stats()), flush=True)
            elif words[0] == "wait":
                handler.wait(int(words[1]), float(words[2]))
                print(json.dumps(handler.stats()), flush=True)


if __name__ == "__main__":
    main()
