"""The tray on a real X display with a real system tray (Xvfb + trayer), in a child process.

Offscreen Qt has no tray, so these are the tests of the real tray path: the icon appears
in the tray, closing hides to it with a balloon, Open brings the window back, the tooltip
follows pausing, Quit ends the app; and the start-at-login entry's Exec line starts the app
hidden in the tray (the X server's own window list says so: `xwininfo`). Skipped where
Xvfb or trayer is not installed (`apt-get install xvfb xauth trayer x11-utils
libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0`).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from campaign_desktop.context import AppContext
from tests.desktop_entry import exec_to_argv, read_desktop_entry

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


# --- start at login ----------------------------------------------------------------------------

APP_WINDOW = re.compile(r'^(?P<indent> *)(?P<id>0x[0-9a-f]+) "Campaign Desktop":')


def _x_windows(display: str) -> tuple[list[str], bool]:
    """(ids of the app's top-level windows, whether the app's icon sits inside the tray).

    In `xwininfo -root -tree` the root's children are indented 5 spaces; the tray icon is a
    window Qt embedded into trayer's "panel", so it is nested deeper.
    """
    tree = subprocess.run(
        ["xwininfo", "-root", "-tree"],
        env={**os.environ, "DISPLAY": display},
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    top_level, in_tray, panel_indent = [], False, None
    for line in tree.splitlines():
        indent = len(line) - len(line.lstrip(" "))
        if '"panel": ("panel" "trayer")' in line:
            panel_indent = indent
        elif panel_indent is not None and indent <= panel_indent:
            panel_indent = None
        found = APP_WINDOW.match(line)
        if found is None:
            continue
        if panel_indent is not None:
            in_tray = True
        elif indent == 5:
            top_level.append(found["id"])
    return top_level, in_tray


def _viewable(display: str, window_id: str) -> bool:
    info = subprocess.run(
        ["xwininfo", "-id", window_id],
        env={**os.environ, "DISPLAY": display},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    ).stdout
    return "Map State: IsViewable" in info


@pytest.mark.skipif(shutil.which("xwininfo") is None, reason="needs xwininfo (x11-utils)")
def test_the_autostart_entry_starts_the_app_hidden_in_the_tray(
    display: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config))
    data = tmp_path / "my data"  # a space: the Exec line's quoting is run for real
    with AppContext.open(data) as ctx:
        ctx.autostart.set_enabled(True)
    entry = read_desktop_entry(config / "autostart" / "campaign-desktop.desktop")
    command = exec_to_argv(entry["Exec"])
    assert "--minimized" in command

    state = tmp_path / "state"
    env = {
        **os.environ,
        "DISPLAY": display,
        "QT_QPA_PLATFORM": "xcb",
        "XDG_CONFIG_HOME": str(config),
        "XDG_STATE_HOME": str(state),
    }
    log_file = state / "CampaignDesktop" / "log" / "campaign-desktop.log"
    # As a session starts it: from the home folder, not from this repository.
    app = subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 90
        while True:
            assert app.poll() is None, app.communicate()[0].decode()[-2000:]
            started = log_file.exists() and "running on" in log_file.read_text()
            top_level, in_tray = _x_windows(display)
            if started and in_tray:
                break
            assert time.monotonic() < deadline, f"not in the tray: {top_level}, {in_tray}"
            time.sleep(0.2)  # polling another process's state: nothing to wait on in-process
        assert "started hidden in the tray" in log_file.read_text()
        assert [w for w in top_level if _viewable(display, w)] == [], "a window is showing"
    finally:
        app.send_signal(signal.SIGTERM)  # the app quits cleanly on it, as at log-out
        output = app.communicate(timeout=60)[0].decode()
    assert app.returncode == 0, output[-2000:]
