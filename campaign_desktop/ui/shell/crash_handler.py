"""How the app ends when it did not choose to, as qutebrowser's misc/crashsignal.py: the one
crash handler for bugs (excepthook), a fault log for fatal errors Python cannot catch, and
SIGTERM/SIGINT turned into a clean quit.

- `crash_handler`: an expected failure (a DomainError) that reached the top is a message; any
  other exception is a bug, logged with its traceback and shown once.
- `open_fault_log`: `faulthandler` writes the tracebacks of every thread to
  `<log dir>/<instance>.faulthandler.log` when the process dies of a fatal signal (a segfault
  in Qt or a driver, an abort). A normal exit leaves no file; a non-empty one at the next
  start is the previous run's crash report: it is logged and kept as `crash-<UTC time>.log`
  (the newest 5).
- `quit_on_termination_signals`: log-out, `kill` and Ctrl+C quit like the Quit menu; a second
  one while quitting ends the process at once.
"""

from __future__ import annotations

import contextlib
import faulthandler
import logging
import signal
import socket
import sys
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType, TracebackType
from typing import TextIO

from PySide6.QtCore import QSocketNotifier, QTimer

from campaign_desktop.context import default_log_dir
from campaign_desktop.domain.errors import DomainError

log = logging.getLogger("campaign_desktop.ui.shell.crash_handler")

FAULT_LOG = "faulthandler.log"
CRASH_REPORT_PREFIX = "crash-"
CRASH_REPORTS_KEPT = 5
# How much of a crash report goes into the log itself (the file keeps all of it).
_REPORT_CHARS_LOGGED = 8_000

ExceptHook = Callable[[type[BaseException], BaseException, TracebackType | None], None]


# --- bugs --------------------------------------------------------------------------------------


def crash_handler(show: Callable[[str, str], object]) -> ExceptHook:
    """sys.excepthook: expected failures become a message; bugs are logged and shown once."""

    shown = False

    def hook(kind: type[BaseException], error: BaseException, tb: TracebackType | None) -> None:
        nonlocal shown
        if isinstance(error, DomainError):
            log.info("refused: %s", error.message)
            show("Campaign Desktop", error.message)
            return
        log.critical("unhandled error", exc_info=(kind, error, tb))
        if not shown:
            shown = True
            details = "".join(traceback.format_exception_only(kind, error)).strip()
            show(
                "Campaign Desktop hit a bug",
                "Something went wrong that should not have. The details are in the log "
                f"({default_log_dir()}).\n\n{details}",
            )

    return hook


# --- fatal errors: the fault log ---------------------------------------------------------------


class FaultLog:
    """The fault log of this run (see the module docstring); `close()` at a normal exit.

    `previous_crash` is the previous run's crash report, kept, or None when it ended well.
    """

    def __init__(self, path: Path, previous_crash: Path | None) -> None:
        self.path = path
        self.previous_crash = previous_crash
        self._was_enabled = faulthandler.is_enabled()
        self._file: TextIO | None = path.open("w", encoding="utf-8")
        # faulthandler writes to the file's descriptor, so the file stays open until close().
        faulthandler.enable(self._file, all_threads=True)

    def close(self) -> None:
        """A normal exit: stop, and remove the (empty) file so the next start finds none."""
        if self._file is None:
            return
        faulthandler.disable()
        self._file.close()
        self._file = None
        self.path.unlink(missing_ok=True)
        if self._was_enabled and sys.__stderr__ is not None:
            # Whoever had it on before (Python's -X faulthandler, pytest) gets it back on
            # the standard error, which is where those write.
            with contextlib.suppress(ValueError, OSError):
                faulthandler.enable(sys.__stderr__, all_threads=True)


def open_fault_log(log_dir: Path, owner: str = "") -> FaultLog:
    """Keep the previous run's crash report if it left one, then start this run's fault log.

    `owner` names the fault log after what runs once at a time (the app: its single-instance
    name, one per data folder), so two apps sharing the log folder keep one each.
    """
    log_dir.mkdir(parents=True, exist_ok=True)
    path = log_dir / (f"{owner}.{FAULT_LOG}" if owner else FAULT_LOG)
    return FaultLog(path, _keep_crash_report(path))


def _keep_crash_report(path: Path) -> Path | None:
    """A non-empty fault log: rename it `crash-<UTC time>.log`, log it, prune old reports."""
    try:
        if path.stat().st_size == 0:
            return None
    except FileNotFoundError:
        return None
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    kept = path.with_name(f"{CRASH_REPORT_PREFIX}{stamp}.log")
    path.replace(kept)
    report = kept.read_text(encoding="utf-8", errors="replace")
    log.error(
        "Campaign Desktop stopped unexpectedly the last time it ran (a fatal error Python "
        "could not catch). The report is kept in %s:\n%s",
        kept,
        report[:_REPORT_CHARS_LOGGED],
    )
    reports = sorted(path.parent.glob(f"{CRASH_REPORT_PREFIX}*.log"))
    for old in reports[:-CRASH_REPORTS_KEPT]:
        old.unlink(missing_ok=True)
    return kept


# --- termination signals -----------------------------------------------------------------------


def quit_on_termination_signals(quit_app: Callable[[], None]) -> Callable[[], None]:
    """SIGTERM and SIGINT (log-out, `kill`, Ctrl+C) quit like the Quit menu: the scheduler stops
    and sends stop after the message in hand, instead of dying mid-batch.

    Python runs a signal handler only when the interpreter gets control, which Qt's event loop
    does not give it while idle; the wake-up socket makes the loop call into Python at once.
    The handler itself may run anywhere between two bytecodes of the GUI thread (inside a
    slot, half-way through a model change), so it only asks the event loop to quit at its next
    turn (`QTimer.singleShot(0, …)`). A second signal while that quit is under way gets the
    default action: a second Ctrl+C ends a stuck quit at once.
    Returns the function that undoes all this.
    """
    receive, wake = socket.socketpair()
    receive.setblocking(False)
    wake.setblocking(False)
    notifier = QSocketNotifier(receive.fileno(), QSocketNotifier.Type.Read)

    def drain() -> None:
        with contextlib.suppress(OSError):
            receive.recv(64)

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %s: quitting", signum)
        for sig in previous:
            signal.signal(sig, signal.SIG_DFL)
        QTimer.singleShot(0, quit_app)

    notifier.activated.connect(drain)
    previous_fd = signal.set_wakeup_fd(wake.fileno())
    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        signal.set_wakeup_fd(previous_fd)
        notifier.setEnabled(False)
        receive.close()
        wake.close()

    return restore
