"""The tray on a real X display with a real system tray (Xvfb + trayer), in a child process.

Offscreen Qt has no tray, so this is the one test of the real tray path: the icon appears
in the tray, closing hides to it with a balloon, Open brings the window back, the tooltip
follows pausing, Quit ends the app. Skipped where Xvfb or trayer is not installed
(`apt-get install xvfb xauth trayer libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4
libxcb-keysyms1 libxcb-shape0`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.gui,
    pytest.mark.slow,
    pytest.mark.skipif(
        sys.platform != "linux" or not (shutil.which("Xvfb") and shutil.which("trayer")),
        reason="needs Xvfb and trayer (a system tray for an X display)",
    ),
]

ROOT = Path(__file__).resolve().parents[2]

CHILD = """
import sys, tempfile, time
from pathlib import Path
from PySide6.QtCore import QEventLoop, QTimer
from PySide6.QtWidgets import QApplication, QSystemTrayIcon
from campaign_desktop.context import AppContext
from campaign_desktop.ui.shell.main_window import MainWindow
from campaign_desktop.ui.shell.notifications import Kind
from campaign_desktop.ui.shell.tray import AppTray

app = QApplication([])

def settle(ms=200):
    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()

def settle_until(condition, what, seconds=10):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, what
        settle(50)

deadline = time.monotonic() + 15
while not QSystemTrayIcon.isSystemTrayAvailable():  # trayer may still be starting
    assert time.monotonic() < deadline, "no system tray appeared"
    settle()

ctx = AppContext.open(Path(sys.argv[1]))
window = MainWindow(ctx)
quits = []
tray = AppTray(ctx, window, quit_app=lambda: quits.append(1))
ctx.scheduler.start()
tray.show_window(minimized=False)
settle(500)
assert tray.in_tray and tray.icon.isVisible(), "no tray icon"
assert tray.icon.geometry().isValid(), "the tray did not place the icon"
assert tray.tooltip() == "Campaign Desktop\\nNo send scheduled", tray.tooltip()

window.close()
settle()
assert not window.isVisible(), "closing did not hide to the tray"
assert tray.last_notification.kind == Kind.TRAY_HINT
tray.open_action.trigger()
settle()
assert window.isVisible(), "Open did not bring the window back"

tray.pause_action.trigger()  # on the pool: wait for its result to show
settle_until(lambda: tray.tooltip().endswith("All sending paused"), tray.tooltip())
tray.quit_action.trigger()
settle()
assert quits == [1] and not window.isVisible()
ctx.close()
print("tray ok")
"""


@pytest.fixture
def display() -> Iterator[str]:
    """A private Xvfb display with trayer running on it."""
    read_end, write_end = os.pipe()
    xvfb = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_end), "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
        pass_fds=(write_end,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write_end)
    try:
        with os.fdopen(read_end) as pipe:
            name = f":{pipe.readline().strip()}"
        env = {**os.environ, "DISPLAY": name}
        tray = subprocess.Popen(
            ["trayer", "--edge", "top", "--align", "right", "--widthtype", "request"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            yield name
        finally:
            tray.terminate()
            tray.wait(10)
    finally:
        xvfb.terminate()
        xvfb.wait(10)


def test_real_tray_hides_shows_pauses_and_quits(display: str, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "DISPLAY": display,
        "QT_QPA_PLATFORM": "xcb",
        "XDG_STATE_HOME": str(tmp_path / "state"),
    }
    result = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path / "data")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "tray ok" in result.stdout
