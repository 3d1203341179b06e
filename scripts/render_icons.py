#!/usr/bin/env python3
"""Render the app icon `resources/icons/app.svg` into the PNG sizes desktops look for:
`resources/icons/app-<size>.png` for 16, 32, 48, 64, 128 and 256 pixels (the .deb installs
them into the hicolor theme; docs/packaging.md).

Run it after changing app.svg and commit the PNGs: `.venv/bin/python scripts/render_icons.py`.
Qt's own SVG renderer (offscreen), so the PNGs look as the app's window icon does.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer

ROOT = Path(__file__).resolve().parent.parent
ICONS = ROOT / "resources" / "icons"
SOURCE = ICONS / "app.svg"
SIZES = (16, 32, 48, 64, 128, 256)


def png_path(size: int) -> Path:
    return ICONS / f"app-{size}.png"


def render(size: int) -> QImage:
    """The icon at `size` x `size` pixels, on a transparent background."""
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    QSvgRenderer(str(SOURCE)).render(painter)
    painter.end()
    return image


def main() -> int:
    _app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])
    for size in SIZES:
        if not render(size).save(str(png_path(size)), b"PNG"):
            sys.exit(f"could not write {png_path(size)}")
        print(f"wrote {png_path(size).relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
