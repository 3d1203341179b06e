"""The app's log: a rotating file in the log folder, and Qt's own messages routed into it
(as qutebrowser's utils/qtlog.py does), so a warning from Qt lands beside ours.
"""

from __future__ import annotations

import logging
import logging.handlers
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QtMsgType, qInstallMessageHandler

LOG_FILE = "campaign-desktop.log"

_QT_LEVELS = {
    "QtDebugMsg": logging.DEBUG,
    "QtInfoMsg": logging.INFO,
    "QtWarningMsg": logging.WARNING,
    "QtCriticalMsg": logging.ERROR,
    "QtFatalMsg": logging.CRITICAL,
}


def setup_logging(log_dir: Path) -> None:
    """Log `campaign_desktop.*` at INFO to `log_dir/campaign-desktop.log` (2 MB, 3 kept)."""
    log_dir.mkdir(parents=True, exist_ok=True)
    handler = logging.handlers.RotatingFileHandler(
        log_dir / LOG_FILE, maxBytes=2_000_000, backupCount=3, encoding="utf-8"
    )
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("campaign_desktop")
    root.setLevel(logging.INFO)
    if not any(isinstance(h, logging.handlers.RotatingFileHandler) for h in root.handlers):
        root.addHandler(handler)


def route_qt_messages() -> Callable[[], None]:
    """Send Qt's messages to the `campaign_desktop.qt` logger; returns what undoes it."""
    previous = qInstallMessageHandler(_qt_message_to_log)

    def restore() -> None:
        qInstallMessageHandler(previous)

    return restore


def _qt_message_to_log(mode: QtMsgType, _context: object, message: str) -> None:
    level = _QT_LEVELS.get(mode.name, logging.WARNING)
    logging.getLogger("campaign_desktop.qt").log(level, "%s", message)
