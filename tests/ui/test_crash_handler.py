"""What ends the app when it did not choose to (ui/shell/crash_handler.py): bugs reach one
handler, expected failures are messages, a fatal crash leaves a report the next start keeps,
and SIGTERM/SIGINT quit cleanly at the event loop's next turn."""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from campaign_desktop.domain.errors import ValidationError
from campaign_desktop.ui.shell.crash_handler import (
    CRASH_REPORTS_KEPT,
    FAULT_LOG,
    crash_handler,
    open_fault_log,
    quit_on_termination_signals,
)
from tests.ui.helpers import AppProcess, linux_only, start_app

pytestmark = pytest.mark.gui

START_TIMEOUT_MS = 30_000


# --- bugs and expected failures ----------------------------------------------------------------


def test_expected_failure_is_a_plain_message_not_a_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    shown: list[tuple[str, str]] = []
    hook = crash_handler(lambda title, text: shown.append((title, text)))
    error = ValidationError("subject", "Write a subject line.")
    hook(type(error), error, None)
    assert shown == [("Campaign Desktop", "Write a subject line.")]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_a_bug_is_logged_with_its_traceback_and_shown_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    shown: list[tuple[str, str]] = []
    hook = crash_handler(lambda title, text: shown.append((title, text)))
    for _ in range(3):
        try:
            raise KeyError("lost")
        except KeyError as error:
            hook(type(error), error, error.__traceback__)
    assert len(shown) == 1
    title, text = shown[0]
    assert title == "Campaign Desktop hit a bug" and "KeyError" in text
    critical = [r for r in caplog.records if r.levelno == logging.CRITICAL]
    assert len(critical) == 3 and all(r.exc_info for r in critical)


# --- the fault log -----------------------------------------------------------------------------

_CRASHING_CHILD = """
import faulthandler, sys
from pathlib import Path
from campaign_desktop.ui.shell.crash_handler import open_fault_log
open_fault_log(Path(sys.argv[1]), "app")
faulthandler._sigsegv()  # a real segmentation fault, as a crash in Qt or a driver would be
"""


def test_a_segfault_is_written_down_and_the_next_start_keeps_and_logs_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    crashed = subprocess.run(
        [sys.executable, "-c", _CRASHING_CHILD, str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert crashed.returncode == -signal.SIGSEGV, crashed.stderr
    assert "Segmentation fault" in (tmp_path / f"app.{FAULT_LOG}").read_text()

    caplog.set_level(logging.ERROR)
    fault_log = open_fault_log(tmp_path, "app")
    try:
        kept = fault_log.previous_crash
        assert kept is not None and kept.name.startswith("crash-")
        report = kept.read_text()
        assert "Segmentation fault" in report and "_CRASHING_CHILD" not in report
        assert "_sigsegv" in report or "<string>" in report  # where it happened
        assert any("stopped unexpectedly" in r.getMessage() for r in caplog.records)
        assert fault_log.path.read_text() == ""  # this run's log starts empty
    finally:
        fault_log.close()
    assert not fault_log.path.exists()  # a clean exit leaves nothing for the next start


def test_a_clean_run_leaves_no_report(tmp_path: Path) -> None:
    open_fault_log(tmp_path, "app").close()
    fault_log = open_fault_log(tmp_path, "app")
    fault_log.close()
    assert fault_log.previous_crash is None
    assert list(tmp_path.iterdir()) == []


def test_only_the_newest_crash_reports_are_kept(tmp_path: Path) -> None:
    kept: list[Path] = []
    for number in range(CRASH_REPORTS_KEPT + 2):
        (tmp_path / f"app.{FAULT_LOG}").write_text(f"Fatal Python error {number}\n")
        fault_log = open_fault_log(tmp_path, "app")
        fault_log.close()
        assert fault_log.previous_crash is not None
        kept.append(fault_log.previous_crash)
    assert sorted(tmp_path.iterdir()) == kept[-CRASH_REPORTS_KEPT:]


@linux_only
@pytest.mark.slow
def test_the_app_reports_its_previous_crash_at_the_next_start(
    tmp_path: Path, qtbot: QtBot, processes: list[AppProcess]
) -> None:
    data_dir, state = tmp_path / "data", tmp_path / "state"
    crashed = start_app(processes, data_dir, state)
    qtbot.waitUntil(lambda: crashed.logged("running on"), timeout=START_TIMEOUT_MS)
    crashed.process.send_signal(signal.SIGSEGV)  # what a crash in Qt's C++ would raise
    assert crashed.wait() == -signal.SIGSEGV

    next_start = start_app(processes, data_dir, state)  # the same log folder: the same file
    qtbot.waitUntil(
        lambda: next_start.log_text().count("running on") == 2, timeout=START_TIMEOUT_MS
    )
    assert next_start.logged("stopped unexpectedly the last time it ran")
    (report,) = next_start.log_dir.glob("crash-*.log")
    assert "Fatal Python error: Segmentation fault" in report.read_text()
    next_start.process.send_signal(signal.SIGTERM)
    assert next_start.wait() == 0
    assert list(next_start.log_dir.glob(f"*.{FAULT_LOG}")) == []  # a clean exit


# --- termination signals -----------------------------------------------------------------------


@pytest.fixture
def quit_calls() -> Iterator[list[int]]:
    calls: list[int] = []
    restore = quit_on_termination_signals(lambda: calls.append(1))
    try:
        yield calls
    finally:
        restore()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_termination_signal_quits_at_the_event_loops_next_turn(
    signum: signal.Signals, quit_calls: list[int], qtbot: QtBot
) -> None:
    signal.raise_signal(signum)
    # Python ran the handler by now; the quit itself waits for the event loop.
    assert quit_calls == []
    qtbot.waitUntil(lambda: quit_calls == [1])
    # While that quit is under way, a second signal ends the process at once.
    assert signal.getsignal(signum) == signal.SIG_DFL


def test_the_signal_handlers_are_given_back(qtbot: QtBot) -> None:
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    restore = quit_on_termination_signals(lambda: None)
    assert signal.getsignal(signal.SIGTERM) != before[signal.SIGTERM]
    restore()
    assert {sig: signal.getsignal(sig) for sig in before} == before
