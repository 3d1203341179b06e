"""The application menu's pieces: the freedesktop launcher is valid and names the icon the
.deb installs, and the committed PNG icons are app.svg rendered at each size
(scripts/render_icons.py)."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from PySide6.QtGui import QColor, QImage

from campaign_desktop.services.autostart import DESKTOP_ID
from tests.desktop_entry import exec_to_argv, read_desktop_entry

pytestmark = pytest.mark.gui

ROOT = Path(__file__).resolve().parents[2]
LAUNCHER = ROOT / "resources" / "desktop" / f"{DESKTOP_ID}.desktop"


def _distance(a: QColor, b: QColor) -> int:
    """The largest difference of one channel (red, green, blue, alpha: 0-255) of two colours."""
    return max(
        abs(a.red() - b.red()),
        abs(a.green() - b.green()),
        abs(a.blue() - b.blue()),
        abs(a.alpha() - b.alpha()),
    )


def _render_icons_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "render_icons", ROOT / "scripts" / "render_icons.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["render_icons"] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(
    shutil.which("desktop-file-validate") is None,
    reason="needs desktop-file-validate (apt-get install desktop-file-utils)",
)
def test_the_launcher_is_a_valid_desktop_file() -> None:
    result = subprocess.run(
        ["desktop-file-validate", str(LAUNCHER)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


def test_the_launcher_starts_the_installed_command_with_the_installed_icon() -> None:
    entry = read_desktop_entry(LAUNCHER)
    assert entry["Type"] == "Application"
    assert entry["Name"] == "Campaign Desktop"
    assert exec_to_argv(entry["Exec"]) == ["campaign-desktop"]  # /usr/bin/campaign-desktop
    assert entry["Icon"] == DESKTOP_ID  # /usr/share/icons/hicolor/<size>/apps/<id>.png
    assert "Network" in entry["Categories"].split(";")


def test_each_png_icon_is_the_svg_rendered_at_its_size(qapp: object) -> None:
    render_icons = _render_icons_script()
    for size in render_icons.SIZES:
        committed = QImage(str(render_icons.png_path(size)))
        assert (committed.width(), committed.height()) == (size, size)
        fresh = render_icons.render(size).convertToFormat(committed.format())
        # Another Qt version may anti-alias an edge a shade differently: compare loosely.
        differing = [
            (x, y)
            for y in range(size)
            for x in range(size)
            if _distance(committed.pixelColor(x, y), fresh.pixelColor(x, y)) > 8
        ]
        differing_count = len(differing)
        assert differing_count <= size * size // 50, (
            f"app-{size}.png is out of date: {differing_count} pixels"
        )
