"""Starts the real app (or a bare PySide6 window) and reports when the first rows are painted.

``python benchmarks/startup_driver.py app --data-dir DIR [--linger-ms N]`` runs
`campaign_desktop.app.main` as the installed app does, with one addition: the main window's
campaign table viewport is watched, and the moment its first paint with rows has been done
is printed. ``bare`` does the same for a QMainWindow holding one empty QTableView. After
`--linger-ms` of idling the peak and current RSS are printed and the app quits normally.
``floor`` is ``bare`` after importing what no version of this app can start without
(PySide6's widgets and SQLAlchemy's ORM with its SQLite dialect): the least a start can take.

Output: ``BENCH {json}`` lines (see benchmarks/harness.py), times as `time.time()`.
"""

import time

PY_STARTED = time.time()  # the first thing the interpreter runs

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

os.environ["QT_QPA_PLATFORM"] = "offscreen"


def emit(payload: dict[str, object]) -> None:
    sys.stdout.write("BENCH " + json.dumps(payload) + "\n")
    sys.stdout.flush()


def rss_mb() -> tuple[float, float]:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    now = peak
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            now = int(line.split()[1]) / 1024
    return peak, now


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=("app", "bare", "floor"))
    parser.add_argument("--data-dir", type=Path)
    parser.add_argument("--linger-ms", type=int, default=0)
    args = parser.parse_args()

    from PySide6.QtCore import QObject, QTimer  # noqa: PLC0415
    from PySide6.QtGui import QPaintEvent  # noqa: PLC0415
    from PySide6.QtWidgets import QApplication, QTableView  # noqa: PLC0415

    marks: dict[str, object] = {"py_started": PY_STARTED}
    windows: list[object] = []

    class FirstRowsPainted(QObject):
        """Reports once the view has painted its viewport with at least `min_rows` rows.

        The moment is taken when the view's `paintEvent` returns (the rows are drawn), not
        on a later timer: the app starts its scheduler on the event loop's next turn after
        its first paint (docs/design.md §19), and that must not count as painting.
        """

        def __init__(self, view: QTableView, min_rows: int) -> None:
            super().__init__(view)
            self._view = view
            self._min_rows = min_rows
            self._seen = False
            self._paint = view.paintEvent
            view.paintEvent = self._paint_event  # type: ignore[method-assign]  # this instance only

        def _paint_event(self, event: QPaintEvent) -> None:
            self._paint(event)
            model = self._view.model()
            if not self._seen and model is not None and model.rowCount() >= self._min_rows:
                self._seen = True
                marks["painted"] = time.time()
                marks["rows"] = model.rowCount()
                QTimer.singleShot(0, self._painted)

        def _painted(self) -> None:
            emit(marks)
            QTimer.singleShot(args.linger_ms, self._done)

        def _done(self) -> None:
            peak, now = rss_mb()
            emit({"rss_peak_mb": peak, "rss_now_mb": now})
            window = windows[0] if windows else None
            if window is not None and hasattr(window, "quit"):
                window.quit()  # the tray's Quit: closes for real, no "keep running?" question
            else:
                QApplication.quit()

    if args.mode in ("bare", "floor"):
        from PySide6.QtGui import QStandardItemModel  # noqa: PLC0415
        from PySide6.QtWidgets import QMainWindow  # noqa: PLC0415

        if args.mode == "floor":
            import sqlalchemy.dialects.sqlite  # noqa: PLC0415
            import sqlalchemy.orm  # noqa: F401, PLC0415

        marks["imported"] = time.time()
        app = QApplication(["bare"])
        window = QMainWindow()
        view = QTableView()
        view.setModel(QStandardItemModel(0, 6, view))
        window.setCentralWidget(view)
        window.resize(1100, 650)
        FirstRowsPainted(view, 0)
        window.show()
        return app.exec()

    import campaign_desktop.app as app_module  # noqa: PLC0415

    marks["imported"] = time.time()
    real_window = getattr(app_module, "MainWindow")  # noqa: B009  (replaced just below)

    def watched_window(*window_args: object, **kwargs: object) -> object:
        window = real_window(*window_args, **kwargs)
        marks["window_built"] = time.time()
        view = window.findChild(QTableView, "campaignTable")
        if view is None:
            raise RuntimeError("the main window has no QTableView named campaignTable")
        FirstRowsPainted(view, 1)
        windows.append(window)
        return window

    # Only this process's reference is replaced: the app builds its real window as usual.
    setattr(app_module, "MainWindow", watched_window)  # noqa: B010
    QApplication(["campaign-desktop"])  # main() uses the existing instance
    return app_module.main(["--data-dir", str(args.data_dir)])


if __name__ == "__main__":
    raise SystemExit(main())
