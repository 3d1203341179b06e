"""Icons and other bundled resources, found beside the package or inside a frozen build.

PyInstaller unpacks data files under `sys._MEIPASS`; from a source checkout they sit in
`<repo>/resources`.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtGui import QIcon


def resources_dir() -> Path:
    """The folder holding `icons/`: `sys._MEIPASS/resources` when frozen, else the repo's."""
    frozen_root = getattr(sys, "_MEIPASS", None)
    if frozen_root is not None:
        return Path(frozen_root) / "resources"
    return Path(__file__).resolve().parents[3] / "resources"


def icon_path(name: str) -> Path:
    return resources_dir() / "icons" / f"{name}.svg"


def icon(name: str) -> QIcon:
    """The toolbar icon `name` (e.g. "send"); an empty icon if the file is missing."""
    path = icon_path(name)
    return QIcon(str(path)) if path.exists() else QIcon()


def app_icon() -> QIcon:
    return icon("app")
