"""GUI test set-up: an AppContext on a real file with a hand-set clock, and no real dialogs.

Every `ask()`/`show()` prompt fails the test unless the test replaces it: a real modal loop
would hang the headless run.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from campaign_desktop.context import AppContext
from campaign_desktop.domain.clock import ManualClock
from campaign_desktop.domain.views import CampaignView
from campaign_desktop.ui.activity.activity_tab import ChooseExportPath
from campaign_desktop.ui.campaigns.campaign_editor import CampaignEditor, DiscardChanges
from campaign_desktop.ui.campaigns.send_test_dialog import SendTestDialog
from campaign_desktop.ui.common.prompts import ArchiveReason, Confirm, ErrorMessage
from campaign_desktop.ui.contacts.contact_dialog import ContactDialog
from campaign_desktop.ui.contacts.contacts_tab import AddContactDialog
from campaign_desktop.ui.contacts.import_dialog import ChooseCsvFile, ImportDialog
from campaign_desktop.ui.contacts.list_dialogs import (
    ChooseContactsExportPath,
    ChooseListDialog,
    ExportScope,
    NewListName,
    RenameListDialog,
    RenameSegmentDialog,
)
from campaign_desktop.ui.contacts.segment_panel import SegmentName
from campaign_desktop.ui.schedule.schedule_dialog import ScheduleDialog
from campaign_desktop.ui.settings.settings_dialog import ChooseCaFile, SettingsDialog
from campaign_desktop.ui.shell.start_at_login_offer import OfferStartAtLogin
from campaign_desktop.ui.shell.tray import ConfirmQuit
from tests.ui.helpers import AppProcess

NOW = datetime(2027, 1, 4, 12, 0, tzinfo=UTC)


@pytest.fixture
def gui_ctx(tmp_path: Path) -> Iterator[AppContext]:
    context = AppContext.open(tmp_path / "data", clock=ManualClock(NOW))
    context.contacts.add("ann@example.com", first_name="Ann", lists=("Customers",))
    context.contacts.add("bob@example.com", first_name="Bob", lists=("Customers", "VIP"))
    yield context
    context.close()


@pytest.fixture(autouse=True)
def no_real_dialogs(monkeypatch: pytest.MonkeyPatch) -> None:
    def unexpected(*args: Any) -> Any:
        raise AssertionError(f"unexpected dialog: {args!r}")

    for cls, name in (
        (Confirm, "ask"),
        (ArchiveReason, "ask"),
        (ErrorMessage, "show"),
        (ScheduleDialog, "ask"),
        (CampaignEditor, "ask"),
        (DiscardChanges, "ask"),
        (ImportDialog, "ask"),
        (ChooseCsvFile, "ask"),
        (AddContactDialog, "ask"),
        (ContactDialog, "ask"),
        (NewListName, "ask"),
        (ChooseListDialog, "ask"),
        (RenameListDialog, "ask"),
        (RenameSegmentDialog, "ask"),
        (ChooseContactsExportPath, "ask"),
        (ExportScope, "ask"),
        (SegmentName, "ask"),
        (ChooseExportPath, "ask"),
        (SettingsDialog, "ask"),
        (ChooseCaFile, "ask"),
        (SendTestDialog, "ask"),
        (ConfirmQuit, "ask"),
        (OfferStartAtLogin, "ask"),
    ):
        monkeypatch.setattr(cls, name, unexpected)


def make_campaign(ctx: AppContext, name: str = "Spring news", subject: str = "Hi") -> CampaignView:
    return ctx.campaigns.create(
        name=name,
        subject=subject,
        body_text="Hello {{ first_name }}",
        from_email="news@example.com",
        lists=("Customers",),
    )


@pytest.fixture
def processes() -> Iterator[list[AppProcess]]:
    started: list[AppProcess] = []
    yield started
    for process in started:
        process.stop()
