"""Work off the GUI thread: a function runs on Qt's thread pool, and its progress reports and
its `(result, error)` come back as signals on the GUI thread.

Worker exceptions are never lost: an expected failure (a `DomainError`) is logged as a refusal,
anything else with its traceback, and both are delivered to `finished` as the error.
"""

from __future__ import annotations

import gc
import logging
import sys
import threading
from collections.abc import Callable
from typing import Any, ClassVar

from PySide6.QtCore import QObject, Qt, QThreadPool, Signal, Slot

from campaign_desktop.domain.errors import DomainError

log = logging.getLogger("campaign_desktop.ui.common.background")

Report = Callable[[object], None]
"""What the work function calls (on the worker thread) to report progress."""

FAST_SWITCH_INTERVAL = 0.001


class _KeepGuiFluid:
    """While background work runs, keep the GIL from freezing the GUI thread for long.

    Two CPython behaviours stall a Qt window next to a busy Python worker (measured on two
    cores, importing 10,000 contacts: pauses of 70-160 ms, against 16 ms ticks):

    - The GIL passes to a waiting thread only after the "switch interval" (5 ms by default),
      and the GUI thread gives it up and must win it back on nearly every call into Qt, so
      one event costs several intervals. 1 ms while work runs makes that small. (The
      workers' own row loops also hand the GIL over: see `csv_import.sharing_the_gil`.)
    - A full (oldest-generation) garbage collection walks every object of the process while
      holding the GIL; the worker's allocations trigger them. `gc.freeze()` leaves the
      objects that existed before the work out of those walks; `gc.unfreeze()` when the last
      task ends hands them back, so nothing escapes collection for longer than the work.

    `gc.unfreeze()` thaws everything, whoever froze it, so the freeze here is only made
    when nothing is frozen yet, and undone only if it was made here. The app freezes its
    start-up objects for good (`freeze_start_up_objects`); then the tasks leave it alone.
    """

    _active = 0
    _normal_interval = 0.005
    _froze = False  # whether the tasks' freeze is the one in place
    start_up_frozen = False

    @classmethod
    def enter(cls) -> None:
        if cls._active == 0:
            cls._normal_interval = sys.getswitchinterval()
            sys.setswitchinterval(min(FAST_SWITCH_INTERVAL, cls._normal_interval))
            cls._froze = gc.get_freeze_count() == 0 and not cls.start_up_frozen
            if cls._froze:
                gc.freeze()
        cls._active += 1

    @classmethod
    def leave(cls) -> None:
        cls._active -= 1
        if cls._active == 0:
            sys.setswitchinterval(cls._normal_interval)
            # Not when the start-up freeze came while work ran: that one is for good.
            if cls._froze and not cls.start_up_frozen:
                gc.unfreeze()
            cls._froze = False


def freeze_start_up_objects() -> Callable[[], None]:
    """Collect once, then leave every object alive now out of all later collections.

    Called once the main window is shown: the modules, classes, widgets and data loaded at
    start-up live as long as the app, and a full collection walking them all again and
    again, while holding the GIL, is what made the longest pauses of a busy window
    (117 ms → 1 ms measured on a 300,000-object heap). Returns the function that undoes it.
    """
    gc.collect()
    gc.freeze()
    _KeepGuiFluid.start_up_frozen = True

    def unfreeze() -> None:
        _KeepGuiFluid.start_up_frozen = False
        if _KeepGuiFluid._active == 0:
            gc.unfreeze()
        else:  # the running tasks' freeze is still wanted; it goes when they end
            _KeepGuiFluid._froze = True

    return unfreeze


class BackgroundTask(QObject):
    """One function run on a pool thread; connect to the signals, then `start()`.

    `progress` and `finished` are emitted on the GUI thread (the thread the task was made
    on), so even a plain function connected to them may touch widgets. Connect bound methods
    of widgets: Qt drops the connection when the widget is deleted before the work ends.

    The task has no Qt parent on purpose: a class-level set keeps it alive until `finished`
    has been delivered, whatever happens to the window that started it.
    """

    progress = Signal(object)  # what the work passed to its report function
    finished = Signal(object, object)  # (result, None) or (None, the exception)

    _progress_from_worker = Signal(object)
    _done_from_worker = Signal(object, object)

    _running: ClassVar[set[BackgroundTask]] = set()

    def __init__(
        self, name: str, work: Callable[[Report], Any], cancel: threading.Event | None = None
    ) -> None:
        super().__init__()
        self.setObjectName(name)
        self._work = work
        #: Set to ask the work to stop (it checks between its steps); set at quit too.
        self.cancel = cancel
        self.done = False
        # Queued: the worker only emits; the slots below run on this object's (GUI) thread.
        self._progress_from_worker.connect(self._relay_progress, Qt.ConnectionType.QueuedConnection)
        self._done_from_worker.connect(self._deliver, Qt.ConnectionType.QueuedConnection)

    def start(self) -> None:
        _KeepGuiFluid.enter()
        BackgroundTask._running.add(self)
        QThreadPool.globalInstance().start(self._run)

    def _run(self) -> None:
        # On a pool thread: call the work, emit, touch nothing else.
        try:
            result = self._work(self._progress_from_worker.emit)
        except DomainError as exc:
            log.info("%s refused: %s", self.objectName(), exc.message)
            self._done_from_worker.emit(None, exc)
        except Exception as exc:  # a bug: logged here, delivered to the caller's slot
            log.exception("%s failed", self.objectName())
            self._done_from_worker.emit(None, exc)
        else:
            self._done_from_worker.emit(result, None)

    @Slot(object)
    def _relay_progress(self, value: object) -> None:
        if not self.done:
            self.progress.emit(value)

    @Slot(object, object)
    def _deliver(self, result: object, error: object) -> None:
        self.done = True
        try:
            self.finished.emit(result, error)
        finally:
            BackgroundTask._running.discard(self)
            _KeepGuiFluid.leave()
            self.deleteLater()


def run_in_background(
    name: str,
    work: Callable[[Report], Any],
    on_finished: Callable[[Any, BaseException | None], None],
    on_progress: Callable[[Any], None] | None = None,
    *,
    cancel: threading.Event | None = None,
) -> BackgroundTask:
    """Start `work(report)` on the pool; `on_finished(result, error)` runs on the GUI thread.

    `cancel`: the event the work checks to stop early (a bulk action's Cancel); quitting
    sets it too (`finish_background_work`).
    """
    task = BackgroundTask(name, work, cancel)
    task.finished.connect(on_finished)
    if on_progress is not None:
        task.progress.connect(on_progress)
    task.start()
    return task


def finish_background_work(timeout_ms: int = 10_000) -> bool:
    """At quit, before the database closes: ask every running task that can stop early to
    stop (its `cancel` event; what it finished stays done, as with its Cancel button), then
    wait up to `timeout_ms` for the pool's threads to end. True when they all ended.

    Without this a task still running when the interpreter ends reports to Qt objects that
    are gone ("Signal source has been deleted") and writes to a closed database.
    """
    for task in list(BackgroundTask._running):
        if task.cancel is not None:
            task.cancel.set()
    ended = QThreadPool.globalInstance().waitForDone(timeout_ms)
    if not ended:
        log.warning(
            "background work still running at quit: %s",
            sorted(task.objectName() for task in BackgroundTask._running),
        )
    return ended


def hand_to_crash_handler(error: BaseException) -> None:
    """A bug that came back from a worker: give it to the one crash handler (excepthook)."""
    sys.excepthook(type(error), error, error.__traceback__)
