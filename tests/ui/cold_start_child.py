"""The app as it starts for real, reporting which modules it has loaded at its first paint.

``python tests/ui/cold_start_child.py DATA_DIR`` runs `campaign_desktop.app.main` offscreen
(tests/ui/test_cold_start.py), with one addition: when the window has painted for the first
time, and again once the scheduler has started right after it, it prints one JSON line
``{"moment": …, "modules": […]}`` naming those of `WATCHED` that are imported by then. It
runs until it is told to quit (SIGTERM), as the app does.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ["QT_QPA_PLATFORM"] = "offscreen"

#: What the first paint must not need (issue 16; docs/design.md §19).
WATCHED = (
    "alembic",
    "apscheduler",
    "campaign_desktop.channels.imap",
    "campaign_desktop.channels.message",
    "campaign_desktop.channels.smtp",
    "campaign_desktop.domain.ics",
    "campaign_desktop.domain.templates",
    "campaign_desktop.services.sending.delivery",
    "campaign_desktop.ui.activity.activity_tab",
    "campaign_desktop.ui.calendar.calendar_tab",
    "campaign_desktop.ui.campaigns.campaign_editor",
    "campaign_desktop.ui.contacts.contacts_tab",
    "campaign_desktop.ui.schedule.schedule_dialog",
    "campaign_desktop.ui.settings.settings_dialog",
    "campaign_desktop.ui.shell.restore_dialog",
    "campaign_desktop.ui.shell.self_test",
    "email_validator",
    "flufl.bounce",
    "icalendar",
    "imapclient",
    "jinja2",
    "keyring",
    "smtplib",
)


def report(moment: str) -> None:
    modules = [name for name in WATCHED if name in sys.modules]
    sys.stdout.write(json.dumps({"moment": moment, "modules": modules}) + "\n")
    sys.stdout.flush()


def main() -> int:
    from PySide6.QtWidgets import QWidget  # noqa: PLC0415

    import campaign_desktop.app as app_module  # noqa: PLC0415  (after the platform is set)

    class ReportingFirstPaint(app_module.AfterFirstPaint):
        def __init__(self, window: QWidget, then: Callable[[], None]) -> None:
            def report_and_start() -> None:
                report("painted")
                then()
                report("scheduler started")

            super().__init__(window, report_and_start)

    setattr(app_module, "AfterFirstPaint", ReportingFirstPaint)  # noqa: B010  (this process only)
    return app_module.main(["--data-dir", sys.argv[1]])


if __name__ == "__main__":
    raise SystemExit(main())
