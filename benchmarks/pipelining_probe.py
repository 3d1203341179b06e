"""Would ESMTP PIPELINING (RFC 2920) make a send faster? ``python -m benchmarks.pipelining_probe``.

A standalone measurement for issue 11, not one of the suite's figures. It sends the same
pre-built messages over one open connection (connecting and EHLO are not timed) with four
clients and prints the time per message:

- smtplib: `SMTP.sendmail` of bytes, one command at a time, as the app's `SmtpConnection`
  (and the suite's baselines) do: MAIL, RCPT, DATA and the content each wait for a reply;
- raw lockstep: the same conversation on a raw socket (so that the raw clients' gain is
  not just "no smtplib");
- raw pipelined: MAIL, RCPT and DATA written at once, then the content after the 354
  (RFC 2920's groups: two round trips per message instead of four);
- raw pipelined + next: the content and the next message's MAIL, RCPT and DATA written at
  once (RFC 2920 §3.1 lets the content start a group): one round trip per message.

against the suite's aiosmtpd server (`benchmarks.smtp_sink`, its own process, offering
PIPELINING) in four settings: on localhost as it is; with 10 ms of server work before each
reply to MAIL, RCPT and the data (aiosmtpd answers one session's commands one after
another, so this delay is never hidden); and behind a delay line of 10 ms and 40 ms round
trip (network latency, which commands sent together share).

Every client checks every reply; the server counts the messages it accepted.
"""

from __future__ import annotations

import argparse
import re
import smtplib
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO

from benchmarks import data
from benchmarks.harness import median
from benchmarks.mail import SmtpSink, WireMessage, prebuilt_bytes, prebuilt_messages

_LEADING_DOT = re.compile(rb"(?m)^\.")


@dataclass(frozen=True)
class Setting:
    name: str
    command_delay: float = 0.0
    rtt: float = 0.0
    # Messages per try: about `seconds` of the slowest client (four round trips per message).
    seconds_per_try: float = 2.0

    def messages(self, most: int) -> int:
        lockstep = 4 * self.rtt + 3 * self.command_delay
        if not lockstep:
            return most
        return max(10, min(most, round(self.seconds_per_try / lockstep)))


SETTINGS = (
    Setting("localhost, no added delay"),
    Setting("server work: 10 ms before each reply to MAIL, RCPT, data", command_delay=0.010),
    Setting("network: 10 ms round trip", rtt=0.010),
    Setting("network: 40 ms round trip", rtt=0.040),
)


# --- a raw SMTP client ------------------------------------------------------------------------


class RawSmtp:
    """Just enough SMTP on a socket to send pre-built messages, lockstep or pipelined."""

    def __init__(self, host: str, port: int) -> None:
        self._sock = socket.create_connection((host, port), timeout=30)
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._in: BinaryIO = self._sock.makefile("rb")
        self._expect(220)
        self._sock.sendall(b"EHLO bench.local\r\n")
        self.extensions = self._expect(250).upper()

    def _reply(self) -> tuple[int, str]:
        lines = []
        while True:
            line = self._in.readline()
            if not line:
                raise ConnectionError("the server closed the connection")
            lines.append(line[4:].decode("ascii", "replace").strip())
            if line[3:4] != b"-":
                return int(line[:3]), "\n".join(lines)

    def _expect(self, code: int) -> str:
        got, text = self._reply()
        if got != code:
            raise RuntimeError(f"expected {code}, got {got} {text}")
        return text

    @staticmethod
    def envelope(message: WireMessage) -> bytes:
        rcpts = b"".join(f"RCPT TO:<{r}>\r\n".encode() for r in message.recipients)
        return f"MAIL FROM:<{message.sender}>\r\n".encode() + rcpts + b"DATA\r\n"

    @staticmethod
    def content(message: WireMessage) -> bytes:
        payload = _LEADING_DOT.sub(b"..", message.data)
        if not payload.endswith(b"\r\n"):
            payload += b"\r\n"
        return payload + b".\r\n"

    def _expect_envelope(self, message: WireMessage) -> None:
        self._expect(250)  # MAIL
        for _ in message.recipients:
            self._expect(250)  # RCPT
        self._expect(354)  # DATA

    def send_lockstep(self, message: WireMessage) -> None:
        self._sock.sendall(f"MAIL FROM:<{message.sender}>\r\n".encode())
        self._expect(250)
        for rcpt in message.recipients:
            self._sock.sendall(f"RCPT TO:<{rcpt}>\r\n".encode())
            self._expect(250)
        self._sock.sendall(b"DATA\r\n")
        self._expect(354)
        self._sock.sendall(self.content(message))
        self._expect(250)

    def send_pipelined(self, message: WireMessage) -> None:
        """One group MAIL + RCPT + DATA, then the content: two round trips."""
        self._sock.sendall(self.envelope(message))
        self._expect_envelope(message)
        self._sock.sendall(self.content(message))
        self._expect(250)

    def send_all_chained(self, messages: list[WireMessage]) -> None:
        """Each message's content in one group with the next one's envelope: one round trip
        per message (the 250 for message k and the 354 for message k + 1 come back together)."""
        self._sock.sendall(self.envelope(messages[0]))
        self._expect_envelope(messages[0])
        for k, message in enumerate(messages):
            following = messages[k + 1] if k + 1 < len(messages) else None
            self._sock.sendall(
                self.content(message) + (self.envelope(following) if following else b"")
            )
            self._expect(250)
            if following is not None:
                self._expect_envelope(following)

    def close(self) -> None:
        try:
            self._sock.sendall(b"QUIT\r\n")
            self._expect(221)
        finally:
            self._in.close()
            self._sock.close()


# --- the clients ------------------------------------------------------------------------------


def with_smtplib(host: str, port: int, messages: list[WireMessage]) -> float:
    with smtplib.SMTP(host, port, local_hostname="bench.local", timeout=30) as smtp:
        smtp.ehlo()
        start = time.perf_counter()
        for message in messages:
            smtp.sendmail(message.sender, list(message.recipients), message.data)
        return time.perf_counter() - start


def _raw(send: Callable[[RawSmtp, list[WireMessage]], None]) -> Client:
    def client(host: str, port: int, messages: list[WireMessage]) -> float:
        raw = RawSmtp(host, port)
        try:
            if "PIPELINING" not in raw.extensions:
                raise RuntimeError("the server does not offer PIPELINING")
            start = time.perf_counter()
            send(raw, messages)
            return time.perf_counter() - start
        finally:
            raw.close()

    return client


def _each(
    method: Callable[[RawSmtp, WireMessage], None],
) -> Callable[[RawSmtp, list[WireMessage]], None]:
    def send(raw: RawSmtp, messages: list[WireMessage]) -> None:
        for message in messages:
            method(raw, message)

    return send


Client = Callable[[str, int, list[WireMessage]], float]
CLIENTS: tuple[tuple[str, Client], ...] = (
    ("smtplib (lockstep, as the app)", with_smtplib),
    ("raw lockstep", _raw(_each(RawSmtp.send_lockstep))),
    ("raw pipelined (MAIL+RCPT+DATA)", _raw(_each(RawSmtp.send_pipelined))),
    ("raw pipelined + next envelope", _raw(RawSmtp.send_all_chained)),
)


def measure(setting: Setting, messages: list[WireMessage], repeats: int) -> list[float]:
    """Milliseconds per message for each client (median of `repeats` tries, interleaved)."""
    count = setting.messages(len(messages))
    batch = messages[:count]
    times: dict[str, list[float]] = {name: [] for name, _ in CLIENTS}
    with SmtpSink(command_delay=setting.command_delay, rtt=setting.rtt, pipelining=True) as sink:
        with_smtplib(sink.host, sink.port, batch[:5])  # warm-up
        for _ in range(repeats):
            for name, client in CLIENTS:
                sink.reset()
                seconds = client(sink.host, sink.port, batch)
                got = sink.wait(count, 30)["count"]
                if got != count:
                    raise RuntimeError(f"{name}: the server accepted {got} of {count}")
                times[name].append(seconds / count * 1000)
    return [median(times[name]) for name, _ in CLIENTS]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.pipelining_probe")
    parser.add_argument("--messages", type=int, default=1000, help="most messages per try")
    parser.add_argument("--repeats", type=int, default=3, help="tries per client (median)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes (a check it runs)")
    args = parser.parse_args(argv)
    most, repeats = (40, 1) if args.quick else (args.messages, args.repeats)
    recipients = [
        (data.contact_email(k), f"First{k}", f"Last{k}", {"city": "Boston", "plan": "pro"})
        for k in range(1, most + 1)
    ]
    messages = prebuilt_bytes(
        prebuilt_messages(data.SUBJECT, data.BODY, recipients, from_email="news@shop.example")
    )
    names = [name for name, _ in CLIENTS]
    print(f"| setting (messages per try) | {' | '.join(names)} | lockstep ÷ best pipelined |")
    print("|---|" + "---:|" * len(names) + "---:|")
    for listed in SETTINGS:
        setting = (
            Setting(listed.name, listed.command_delay, listed.rtt, 0.2) if args.quick else listed
        )
        row = measure(setting, messages, repeats)
        cells = " | ".join(f"{value:.2f} ms" for value in row)
        gain = row[0] / min(row[2:])
        print(
            f"| {setting.name} ({setting.messages(len(messages))}) | {cells} | {gain:.2f}x |",
            flush=True,
        )
    print(f"\nMilliseconds per message, median of {repeats} tries, one open connection each.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
