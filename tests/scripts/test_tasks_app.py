"""`python3 tasks.py app` where Qt cannot open an X11 window: Qt's own message passes through,
followed by the hint naming every X11 library to install (README, Quick start)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow  # starts the app in a subprocess: seconds
def test_a_failed_x11_start_prints_the_libraries_to_install(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env["QT_QPA_PLATFORM"] = "xcb"
    result = subprocess.run(
        [sys.executable, str(ROOT / "tasks.py"), "app", "--data-dir", str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0
    assert 'Could not load the Qt platform plugin "xcb"' in result.stderr
    assert "libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1" in result.stderr
    assert "libxcb-render-util0 libxcb-image0" in result.stderr
