"""scripts/screenshots.py keeps working: it renders every view from sample data it sends.

The README shows these pictures; a sample send that silently failed once made them lie.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.gui, pytest.mark.slow]


def test_screenshots_render_every_view_from_completed_sample_sends(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "screenshots.py"), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
        timeout=300,
        check=False,
    )
    # The script raises if a sample send did not complete.
    assert result.returncode == 0, result.stderr[-3000:]
    names = {path.name for path in tmp_path.glob("*.png")}
    assert {"campaigns_tab.png", "activity_tab.png", "schedule_dialog.png"} <= names
    assert all(path.stat().st_size > 10_000 for path in tmp_path.glob("*.png"))
