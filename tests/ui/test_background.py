"""Background work: results, progress and errors come back on the GUI thread as signals."""

from __future__ import annotations

import gc
import sys
import threading
from typing import Any

import pytest
from PySide6.QtCore import QThreadPool
from pytestqt.qtbot import QtBot

from campaign_desktop.domain.errors import ValidationError
from campaign_desktop.ui.common.background import (
    BackgroundTask,
    Report,
    finish_background_work,
    freeze_start_up_objects,
    hand_to_crash_handler,
    run_in_background,
)

pytestmark = pytest.mark.gui


def test_result_and_progress_arrive_on_the_gui_thread(qtbot: QtBot) -> None:
    gui_thread = threading.get_ident()
    worker_threads: list[int] = []
    progress: list[tuple[object, int]] = []

    def work(report: Report) -> str:
        worker_threads.append(threading.get_ident())
        report(1)
        report(2)
        return "done"

    task = BackgroundTask("test work", work)
    task.progress.connect(lambda value: progress.append((value, threading.get_ident())))
    with qtbot.waitSignal(task.finished) as finished:
        task.start()
    assert finished.args == ["done", None]
    assert worker_threads[0] != gui_thread
    assert progress == [(1, gui_thread), (2, gui_thread)]


def test_an_expected_failure_is_delivered_as_the_error(qtbot: QtBot) -> None:
    def work(_report: Report) -> Any:
        raise ValidationError("file", "The file is empty.")

    task = BackgroundTask("failing work", work)
    with qtbot.waitSignal(task.finished) as finished:
        task.start()
    result, error = finished.args
    assert result is None
    assert isinstance(error, ValidationError) and error.message == "The file is empty."


def test_the_gil_settings_are_restored_when_the_last_task_ends(qtbot: QtBot) -> None:
    interval = sys.getswitchinterval()
    release = threading.Event()
    task = BackgroundTask("held work", lambda _report: release.wait(5))
    task.start()
    assert sys.getswitchinterval() <= 0.001
    assert gc.get_freeze_count() > 0
    with qtbot.waitSignal(task.finished):
        release.set()
    assert sys.getswitchinterval() == interval
    assert gc.get_freeze_count() == 0


def _held_task() -> tuple[BackgroundTask, threading.Event]:
    release = threading.Event()
    task = BackgroundTask("held work", lambda _report: release.wait(5))
    task.start()
    return task, release


def test_a_task_ending_keeps_the_start_up_freeze(qtbot: QtBot) -> None:
    thaw = freeze_start_up_objects()
    try:
        frozen = gc.get_freeze_count()
        assert frozen > 0
        task, release = _held_task()
        assert sys.getswitchinterval() <= 0.001
        with qtbot.waitSignal(task.finished):
            release.set()
        assert gc.get_freeze_count() >= frozen  # the task did not thaw the start-up objects
    finally:
        thaw()
    assert gc.get_freeze_count() == 0


def test_a_start_up_freeze_during_a_task_outlives_it(qtbot: QtBot) -> None:
    task, release = _held_task()
    assert gc.get_freeze_count() > 0  # the task's own freeze
    thaw = freeze_start_up_objects()
    try:
        with qtbot.waitSignal(task.finished):
            release.set()
        assert gc.get_freeze_count() > 0
    finally:
        thaw()
    assert gc.get_freeze_count() == 0


def test_undoing_the_start_up_freeze_while_a_task_runs_waits_for_it(qtbot: QtBot) -> None:
    thaw = freeze_start_up_objects()
    task, release = _held_task()
    thaw()
    assert gc.get_freeze_count() > 0  # the running task still wants its objects frozen
    with qtbot.waitSignal(task.finished):
        release.set()
    assert gc.get_freeze_count() == 0


def test_a_bug_reaches_the_crash_handler(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[BaseException] = []
    monkeypatch.setattr(sys, "excepthook", lambda kind, error, tb: seen.append(error))
    error = RuntimeError("boom")
    hand_to_crash_handler(error)
    assert seen == [error]


def test_quitting_stops_work_that_can_stop_and_waits_for_it(qtbot: QtBot) -> None:
    """`finish_background_work` (app.py calls it when the event loop ends): a bulk action
    still running is asked to stop through its cancel event, and the pool's threads have
    ended before the database closes."""
    cancel = threading.Event()
    started = threading.Event()
    steps: list[int] = []

    def work(_report: Report) -> str:
        started.set()
        while not cancel.wait(0.01):  # one chunk of a bulk action after another
            steps.append(len(steps))
        return "stopped"

    results: list[tuple[object, object]] = []
    run_in_background("endless", work, lambda *outcome: results.append(outcome), cancel=cancel)
    assert started.wait(5)
    assert finish_background_work(5_000)
    assert cancel.is_set()
    assert QThreadPool.globalInstance().activeThreadCount() == 0
    qtbot.waitUntil(lambda: results == [("stopped", None)])
