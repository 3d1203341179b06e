"""The installed Qt binding survives a long-running app's worth of calls.

PySide6 6.12.0 on CPython 3.11 loses a reference to None on every void call, and the
interpreter aborts after some thousands of them; pyproject.toml excludes it. This test
catches a binding with that bug, whatever the pin says.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.gui

CHILD = """
import sys
from PySide6.QtWidgets import QApplication, QLabel
app = QApplication([])
label = QLabel()
before = sys.getrefcount(None)
for _ in range(50_000):
    label.setText("x")
print(sys.getrefcount(None) - before)
"""


def test_many_void_calls_neither_crash_nor_leak_references_to_none() -> None:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    result = subprocess.run(
        [sys.executable, "-c", CHILD],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert abs(int(result.stdout.strip())) < 100
