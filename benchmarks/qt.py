"""Qt for the benchmarks: one offscreen QApplication, painting on demand, a GUI heartbeat."""

from __future__ import annotations

import importlib
import os
import time
from collections.abc import Callable

os.environ["QT_QPA_PLATFORM"] = "offscreen"  # before Qt is imported: no display here

from PySide6.QtCore import QEvent, QEventLoop, QObject, Qt, QTimer
from PySide6.QtWidgets import QAbstractItemView, QApplication

HEARTBEAT_MS = 16


def application() -> QApplication:
    """The process's QApplication (made once), with the app's PySide6 stop-gap applied."""
    try:
        workarounds = importlib.import_module("campaign_desktop.ui.pyside_workarounds")
    except ImportError:  # the app has no such stop-gap (any more): nothing to apply
        pass
    else:
        workarounds.guard_interpreter_singletons()
    app = QApplication.instance() or QApplication(["benchmarks"])
    assert isinstance(app, QApplication)
    return app


class PaintCounter(QObject):
    """Counts paint events a widget (a view's viewport) receives."""

    def __init__(self, widget: QObject) -> None:
        super().__init__()
        self.count = 0
        widget.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802
        if event.type() == QEvent.Type.Paint:
            self.count += 1
        return False


def paint(view: QAbstractItemView) -> None:
    """Lay out and paint `view` now, as the event loop would on its next pass."""
    app = application()
    app.sendPostedEvents()
    view.viewport().repaint()


def process_events(ms: int = 0) -> None:
    """Handle what is pending now (returns at once when nothing is); `run_for` waits."""
    application().processEvents(QEventLoop.ProcessEventsFlag.AllEvents, ms)


def wait_until(condition: Callable[[], bool], timeout: float, poll_ms: int = 10) -> bool:
    """Run the event loop (idle, not spinning) until `condition()` holds; False on timeout."""
    if condition():
        return True
    deadline = time.monotonic() + timeout
    loop = QEventLoop()
    timer = QTimer()
    timer.setInterval(poll_ms)

    def check() -> None:
        if condition() or time.monotonic() > deadline:
            loop.quit()

    timer.timeout.connect(check)
    timer.start()
    loop.exec()
    timer.stop()
    return condition()


def run_for(ms: int) -> None:
    """Run the event loop for `ms` milliseconds."""
    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


class Heartbeat(QObject):
    """A 16 ms timer on the GUI thread; a stall is how late a tick came (the gap minus 16 ms)."""

    def __init__(self) -> None:
        super().__init__()
        self._timer = QTimer(self)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.setInterval(HEARTBEAT_MS)
        self._timer.timeout.connect(self._tick)
        self.started_at = 0.0  # time.perf_counter() at start
        self._last = 0.0
        self.gaps_ms: list[float] = []
        self.stall_stacks = ""  # filled by whoever sampled the stalls

    def start(self) -> None:
        self.gaps_ms = []
        self.started_at = self._last = time.perf_counter()
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()
        self._tick()  # a stall still going on at the end counts too

    def _tick(self) -> None:
        now = time.perf_counter()
        self.gaps_ms.append((now - self._last) * 1000)
        self._last = now

    @property
    def max_stall_ms(self) -> float:
        return max((gap - HEARTBEAT_MS for gap in self.gaps_ms), default=0.0)

    def gap_spans(self) -> list[tuple[float, float]]:
        """(start, end) perf_counter instants of each gap between ticks."""
        spans, end = [], self.started_at
        for gap in self.gaps_ms:
            spans.append((end, end + gap / 1000))
            end += gap / 1000
        return spans

    def longest_gap_span(self) -> tuple[float, float]:
        return max(self.gap_spans(), key=lambda span: span[1] - span[0], default=(0.0, 0.0))

    def stalls_over(self, ms: float) -> int:
        return sum(1 for gap in self.gaps_ms if gap - HEARTBEAT_MS > ms)


class StallSampler:
    """While the heartbeat is late by more than `threshold_ms`, sample what the GUI thread runs.

    A watchdog thread looks every 5 ms; a late heartbeat means the GUI thread is busy (or
    waiting for the interpreter lock), and its Python stack says on what. `top()` gives the
    most frequent stacks as text for the report.
    """

    def __init__(self, beat: Heartbeat, threshold_ms: float = 40.0) -> None:
        import sys  # noqa: PLC0415
        import threading  # noqa: PLC0415

        self._beat = beat
        self._threshold = threshold_ms / 1000
        gui = threading.main_thread().ident
        assert gui is not None
        self._gui: int = gui
        self._frames = sys._current_frames
        self._stop = threading.Event()
        self.samples: dict[str, int] = {}
        self._thread = threading.Thread(target=self._run, name="stall-sampler", daemon=True)

    def __enter__(self) -> StallSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(0.005):
            if (
                not self._beat.started_at
                or time.perf_counter() - self._beat._last < self._threshold
            ):
                continue
            frame = self._frames().get(self._gui)
            inner: list[str] = []  # the innermost frames: what runs
            app: list[str] = []  # the app's frames above them: why (the slot, the service)
            while frame is not None:
                code = frame.f_code
                place = "/".join(code.co_filename.rsplit("/", 2)[-2:]) + ":" + code.co_name
                if "/campaign_desktop/" in code.co_filename and len(app) < 4:
                    app.append(place)
                elif "/benchmarks/" not in code.co_filename and len(inner) < 2 and not app:
                    inner.append(place)
                frame = frame.f_back
            # Innermost first.
            key = " ← ".join(inner + app) or "(in Qt or waiting for the GIL, no Python frame)"
            self.samples[key] = self.samples.get(key, 0) + 1

    def top(self, count: int = 2) -> str:
        ranked = sorted(self.samples.items(), key=lambda item: -item[1])[:count]
        return "; ".join(f"{n} \N{MULTIPLICATION SIGN} {stack}" for stack, n in ranked) or "none"
