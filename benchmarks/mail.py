"""The local mail server (a child process) and the bare `smtplib` baseline that uses it.

The baseline messages are built with the app's own template and message code before the
clock starts, so "bare" differs from the app only in what the app adds around a send: the
ledger, rendering, building, events. The send figures' baselines send them as pre-built
bytes (`prebuilt_bytes`, `SMTP.sendmail`): nothing is serialized while the clock runs.
"""

from __future__ import annotations

import json
import smtplib
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from benchmarks.harness import ROOT, python_env
from campaign_desktop.channels.message import build_message, flatten
from campaign_desktop.domain.templates import build_render_context, compile_campaign_templates


class SmtpSink:
    """`benchmarks.smtp_sink` running in a child process; `with SmtpSink() as sink:`."""

    def __init__(
        self,
        *,
        delay: float = 0.0,
        command_delay: float = 0.0,
        rtt: float = 0.0,
        pipelining: bool = False,
    ) -> None:
        """`delay`: seconds the server waits per message before its 250; `command_delay`:
        before each reply to MAIL, RCPT and the data; `rtt`: a network round trip between
        client and server; `pipelining`: offer PIPELINING (see `benchmarks.smtp_sink`)."""
        options = [f"--delay={delay}", f"--command-delay={command_delay}", f"--rtt={rtt}"]
        if pipelining:
            options.append("--pipelining")
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.smtp_sink", *options],
            cwd=ROOT,
            env=python_env(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        assert self._proc.stdout is not None
        first = self._proc.stdout.readline().split()
        if len(first) != 2 or first[0] != "PORT":
            self.close()
            raise RuntimeError(f"the SMTP sink did not start: {first}")
        self.host = "127.0.0.1"
        self.port = int(first[1])
        self._lock = threading.Lock()

    def _ask(self, line: str) -> str:
        with self._lock:
            assert self._proc.stdin is not None and self._proc.stdout is not None
            self._proc.stdin.write(line + "\n")
            self._proc.stdin.flush()
            return self._proc.stdout.readline()

    def reset(self) -> None:
        self._ask("reset")

    def set_delay(self, seconds: float) -> None:
        """From the next message on, the server waits `seconds` before each 250."""
        self._ask(f"delay {seconds}")

    def set_command_delay(self, seconds: float) -> None:
        self._ask(f"command_delay {seconds}")

    def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self._ask("stats"))
        return result

    def wait(self, count: int, timeout: float) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self._ask(f"wait {count} {timeout}"))
        return result

    def close(self) -> None:
        if self._proc.poll() is None:
            try:
                assert self._proc.stdin is not None
                self._proc.stdin.write("quit\n")
                self._proc.stdin.close()
                self._proc.wait(10)
            except (OSError, subprocess.TimeoutExpired):
                self._proc.kill()
                self._proc.wait()

    def __enter__(self) -> SmtpSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def prebuilt_messages(
    subject: str,
    body: str,
    recipients: list[tuple[str, str, str, dict[str, Any]]],
    *,
    from_email: str,
    from_name: str = "The Shop",
    campaign_name: str = "Bench",
) -> list[EmailMessage]:
    """The messages the app would send to `recipients` (email, first, last, attributes)."""
    keys = sorted({key for *_, attributes in recipients for key in attributes})
    templates = compile_campaign_templates(subject, body, None, keys)
    messages = []
    for email, first, last, attributes in recipients:
        context = build_render_context(
            contact_email=email,
            first_name=first,
            last_name=last,
            attributes=attributes,
            campaign_name=campaign_name,
            unsubscribe_mailto=from_email,
        )
        rendered = templates.render(context)
        messages.append(
            build_message(
                from_email=from_email,
                from_name=from_name,
                to=email,
                subject=rendered.subject,
                text=rendered.text,
                html=rendered.html,
                reply_to=None,
                list_unsubscribe_mailto=from_email,
            )
        )
    return messages


def bare_send(
    host: str,
    port: int,
    messages: list[EmailMessage],
    stop: threading.Event | None = None,
    *,
    until: float | None = None,
) -> int:
    """The baseline: one `smtplib` connection, `send_message` for each pre-built message.

    Stops early when `stop` is set or `time.perf_counter()` passes `until`; returns how many
    messages went out.
    """
    return _bare_loop(
        host, port, messages, lambda smtp, m: smtp.send_message(m), stop=stop, until=until
    )


def _bare_loop(
    host: str,
    port: int,
    messages: list[Any],
    send_one: Callable[[smtplib.SMTP, Any], object],
    *,
    stop: threading.Event | None,
    until: float | None,
) -> int:
    """One `smtplib` connection sending `messages` with `send_one`: once through without
    `until`, round and round until it passes otherwise; `stop` ends it early. Returns how
    many went out."""
    sent = 0
    with smtplib.SMTP(host, port, local_hostname="bench.local", timeout=30) as smtp:
        while True:
            for message in messages:
                if (stop is not None and stop.is_set()) or (
                    until is not None and time.perf_counter() >= until
                ):
                    return sent
                send_one(smtp, message)
                sent += 1
            if until is None:
                return sent


@dataclass(frozen=True)
class WireMessage:
    """A message serialized before the clock starts: what `SMTP.sendmail` takes."""

    sender: str
    recipients: tuple[str, ...]
    data: bytes  # CRLF line ends, not dot-stuffed (sendmail does that)


def prebuilt_bytes(messages: list[EmailMessage]) -> list[WireMessage]:
    """`messages` as wire bytes, serialized by the app's own `flatten` (the bytes
    `send_message` would write), with their envelopes."""
    return [WireMessage(*flatten(message)) for message in messages]


def bare_send_bytes(
    host: str,
    port: int,
    messages: list[WireMessage],
    stop: threading.Event | None = None,
    *,
    until: float | None = None,
) -> int:
    """The baseline on bytes: one `smtplib` connection, `sendmail` of each pre-built message.

    Stops early when `stop` is set or `time.perf_counter()` passes `until`; returns how many
    messages went out.
    """
    return _bare_loop(
        host,
        port,
        messages,
        lambda smtp, m: smtp.sendmail(m.sender, list(m.recipients), m.data),
        stop=stop,
        until=until,
    )


def bare_send_parallel(host: str, port: int, messages: list[WireMessage], threads: int) -> int:
    """`threads` smtplib connections at once (a thread each), each sending every
    `threads`-th message of `messages` with `bare_send_bytes`; returns how many went out.

    Time it from the outside: connecting is part of it, as it is of the app's run.
    """
    shares = [messages[k::threads] for k in range(threads)]
    with ThreadPoolExecutor(threads, thread_name_prefix="bare-smtp") as pool:
        futures = [pool.submit(bare_send_bytes, host, port, share) for share in shares if share]
        return sum(future.result() for future in futures)
