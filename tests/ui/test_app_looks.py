"""Looks: palette-derived colours readable in light and dark themes, names on every control,
the app icon and the Help menu."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QToolButton
from pytestqt.qtbot import QtBot

from campaign_desktop.context import AppContext
from campaign_desktop.ui.campaigns.campaign_editor import CampaignEditor
from campaign_desktop.ui.common.accessibility import accessible_name, unnamed_controls
from campaign_desktop.ui.common.theme import (
    attention_background,
    contrast_ratio,
    error_color,
    is_dark,
    success_color,
)
from campaign_desktop.ui.schedule.schedule_dialog import ScheduleDialog
from campaign_desktop.ui.shell.about_dialog import AboutDialog
from campaign_desktop.ui.shell.main_window import MainWindow
from campaign_desktop.ui.shell.tray import AppTray
from tests.ui.conftest import make_campaign

pytestmark = [
    pytest.mark.gui,
    pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints"),
]

WCAG_AA = 4.5


def _palette(window: str, text: str) -> QPalette:
    palette = QPalette()
    for role in (QPalette.ColorRole.Window, QPalette.ColorRole.Base):
        palette.setColor(role, QColor(window))
    for role in (QPalette.ColorRole.WindowText, QPalette.ColorRole.Text):
        palette.setColor(role, QColor(text))
    return palette


LIGHT = _palette("#ffffff", "#000000")
GREYISH = _palette("#efefef", "#1e1e1e")
DARK = _palette("#1e1e1e", "#e6e6e6")
BLACK = _palette("#000000", "#ffffff")


@pytest.mark.parametrize(
    "palette", [LIGHT, GREYISH, DARK, BLACK], ids=["light", "grey", "dark", "black"]
)
def test_meaning_colours_are_readable_on_the_palette(palette: QPalette) -> None:
    background = palette.color(QPalette.ColorRole.Window)
    assert contrast_ratio(error_color(palette), background) >= WCAG_AA
    assert contrast_ratio(success_color(palette), background) >= WCAG_AA
    row = attention_background(palette)
    assert contrast_ratio(palette.color(QPalette.ColorRole.Text), row) >= WCAG_AA
    assert row != palette.color(QPalette.ColorRole.Base)  # it does stand out


def test_colours_follow_the_palette_not_a_constant() -> None:
    assert is_dark(DARK) and not is_dark(LIGHT)
    assert error_color(LIGHT) != error_color(DARK)
    assert attention_background(LIGHT).lightnessF() > 0.5 > attention_background(DARK).lightnessF()


def test_every_control_has_an_object_name_and_a_spoken_name(
    gui_ctx: AppContext, qtbot: QtBot
) -> None:
    campaign = make_campaign(gui_ctx)
    window = MainWindow(gui_ctx)
    qtbot.addWidget(window)
    AppTray(gui_ctx, window, tray_available=False, quit_app=lambda: None)
    editor = CampaignEditor(gui_ctx, campaign)
    dialog = ScheduleDialog(gui_ctx, campaign)
    for widget in (editor, dialog):
        qtbot.addWidget(widget)
    gaps = [gap for root in (window, editor, dialog) for gap in unnamed_controls(root)]
    assert gaps == []
    button = window.findChild(QToolButton, "actionPauseResumeButton")
    assert button is not None
    assert accessible_name(button) == "Pause"  # read from the text, so Resume is read right


def test_window_has_the_app_icon_and_help_shows_about(
    gui_ctx: AppContext, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    window = MainWindow(gui_ctx)
    qtbot.addWidget(window)
    assert not window.windowIcon().isNull()
    assert [a.text() for a in window.menuBar().actions()] == ["&File", "&Help"]
    shown: list[Path] = []

    def ask(_parent: Any, data_dir: Path) -> None:
        shown.append(data_dir)

    monkeypatch.setattr(AboutDialog, "ask", ask)
    window.action_about.trigger()
    assert shown == [gui_ctx.data_dir]
