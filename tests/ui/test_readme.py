"""The README's steps name the real tabs, menus and buttons: every **bold** word in them is a
label the app shows (a renamed button would leave the README sending people astray)."""

from __future__ import annotations

import re
from datetime import date, datetime
from pathlib import Path

import pytest
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QAbstractButton, QDialogButtonBox, QTabWidget, QWidget
from pytestqt.qtbot import QtBot

from campaign_desktop.context import AppContext
from campaign_desktop.ui.campaigns.campaign_editor import CampaignEditor
from campaign_desktop.ui.contacts.import_dialog import ImportDialog
from campaign_desktop.ui.schedule.schedule_dialog import ScheduleDialog
from campaign_desktop.ui.settings.settings_dialog import SettingsDialog
from campaign_desktop.ui.shell.main_window import MainWindow
from tests.ui.conftest import make_campaign

pytestmark = [
    pytest.mark.gui,
    pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints"),
]

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


def _section(title: str) -> str:
    start = README.index(f"## {title}")
    end = README.find("\n## ", start + 1)
    return README[start : end if end > 0 else None]


def _bold_labels(text: str) -> set[str]:
    """ "**File → Settings…**" gives "File" and "Settings…"."""
    labels: set[str] = set()
    for bold in re.findall(r"\*\*(.+?)\*\*", text):
        labels.update(part.strip() for part in bold.split("\N{RIGHTWARDS ARROW}"))
    return labels


def _shown_labels(widget: QWidget) -> set[str]:
    """The texts of every action, button, menu and tab in `widget`, without access keys."""
    texts = [action.text() for action in widget.findChildren(QAction)]
    texts += [button.text() for button in widget.findChildren(QAbstractButton)]
    for box in widget.findChildren(QDialogButtonBox):
        texts += [button.text() for button in box.buttons()]
    for tabs in widget.findChildren(QTabWidget):
        texts += [tabs.tabText(index) for index in range(tabs.count())]
    return {text.replace("&", "").strip() for text in texts if text}


def test_every_bold_label_in_the_readme_steps_is_one_the_app_shows(
    gui_ctx: AppContext, qtbot: QtBot
) -> None:
    campaign = make_campaign(gui_ctx)
    weekly = {"type": "weekly", "days_of_week": [0]}
    gui_ctx.campaigns.schedule(
        campaign.id, first_local=datetime(2027, 1, 11, 9, 0), timezone="UTC", recurrence=weekly
    )
    campaign = gui_ctx.campaigns.get(campaign.id)
    window = MainWindow(gui_ctx)
    # Every tab, also those built only when first shown (docs/design.md §19).
    tabs: list[QWidget] = [window.contacts_tab, window.activity_tab, window.calendar_tab]
    assert all(tab.window() is window for tab in tabs)
    widgets: list[QWidget] = [
        window,
        SettingsDialog(gui_ctx),
        ImportDialog(gui_ctx),
        CampaignEditor(gui_ctx, campaign),
        ScheduleDialog(gui_ctx, campaign),
    ]
    shown: set[str] = set()
    for widget in widgets:
        qtbot.addWidget(widget)
        shown |= _shown_labels(widget)
    shown |= {action.text().replace("&", "") for action in window.menuBar().actions()}
    # A send's context menu on the Calendar (made when asked for).
    calendar = window.calendar_tab
    calendar.show_day(date(2027, 1, 11))
    qtbot.waitUntil(
        lambda: not calendar.loading and bool(calendar.grid_model.sends_on(date(2027, 1, 11)))
    )
    menu = calendar.send_menu(calendar.grid_model.sends_on(date(2027, 1, 11))[0])
    shown |= {action.text().replace("&", "") for action in menu.actions() if action.text()}
    named = _bold_labels(_section("A first campaign, step by step")) | _bold_labels(
        _section("The calendar")
    )
    assert named, "the README's steps name no label"
    assert sorted(named - shown) == []


def test_the_quick_start_names_the_x11_libraries_and_the_xcb_cursor_hint() -> None:
    quick_start = _section("Quick start")
    for library in (
        "libxkbcommon-x11-0",
        "libxcb-cursor0",
        "libxcb-icccm4",
        "libxcb-keysyms1",
        "libxcb-shape0",
        "libxcb-render-util0",
        "libxcb-image0",
    ):
        assert library in quick_start
    assert re.search(r"names only `xcb-cursor0`", quick_start)
