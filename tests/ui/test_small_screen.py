"""A 1024x700 screen: the window never widens itself, whatever tab shows and however long the
names in it; the Campaigns table cuts long text short instead of scrolling sideways; dialogs
keep their buttons on screen."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, QSize
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QScrollArea, QToolBar, QToolButton
from pytestqt.qtbot import QtBot

from campaign_desktop.context import AppContext
from campaign_desktop.ui.campaigns.campaign_editor import CampaignEditor
from campaign_desktop.ui.schedule.schedule_dialog import ScheduleDialog
from campaign_desktop.ui.settings.settings_dialog import SettingsDialog
from campaign_desktop.ui.shell.main_window import DEFAULT_SIZE, MainWindow
from tests.smtp_server import running_smtp_server
from tests.ui.conftest import make_campaign

pytestmark = [
    pytest.mark.gui,
    pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints"),
]

SMALL = QSize(1024, 700)
LONG_NAME = "Spring collection preview for our most loyal customers in every region " * 2
LONG_SUBJECT = "Everything new this spring, with a word from the team and an offer " * 3


@pytest.fixture
def busy_ctx(gui_ctx: AppContext) -> Iterator[AppContext]:
    """A long-named weekly campaign that already went out once, and a long contact address."""
    campaign = make_campaign(gui_ctx, LONG_NAME.strip(), LONG_SUBJECT.strip())
    gui_ctx.contacts.add(
        "a.very.long.address.for.someone.in.marketing.and.sales@subsidiary.example.com",
        first_name="Chris" * 10,
        lists=("Customers with a long list name that goes on and on",),
    )
    with running_smtp_server() as server:
        gui_ctx.settings.set_smtp(host="127.0.0.1", port=server.port, security="none")
        gui_ctx.campaigns.send_now(campaign.id)
        assert gui_ctx.sending.wait_idle(10)
    gui_ctx.campaigns.schedule(
        campaign.id,
        first_local=datetime(2027, 1, 11, 9, 0),
        timezone="America/Argentina/ComodRivadavia",
        recurrence={"type": "weekly", "interval": 2, "days_of_week": [0, 1, 2, 3, 4]},
    )
    yield gui_ctx


def test_the_window_stays_1024_by_700_on_every_tab_and_calendar_view(
    busy_ctx: AppContext, qtbot: QtBot
) -> None:
    window = MainWindow(busy_ctx)
    qtbot.addWidget(window)
    window.resize(SMALL)
    window.show()
    qtbot.waitExposed(window)
    qtbot.waitUntil(lambda: window.campaign_model.rowCount() == 1)
    for index in range(window.tabs.count()):
        window.tabs.setCurrentIndex(index)
        assert window.minimumSizeHint().width() <= SMALL.width()
        assert window.minimumSizeHint().height() <= SMALL.height()
        assert window.size() == SMALL, window.tabs.tabText(index)
    activity = window.activity_tab
    window.tabs.setCurrentWidget(activity)
    qtbot.waitUntil(lambda: activity.run_model.rowCount() > 0)  # read on the pool
    activity.select_run(activity.run_model.run_at(0).id)  # its long title and counts
    assert window.size() == SMALL
    calendar = window.calendar_tab
    window.tabs.setCurrentWidget(calendar)
    for week in (False, True, False):
        calendar.set_week_view(week)
        calendar.show_day(date(2027, 1, 11))  # a day with a send: its list below the grid
        qtbot.waitUntil(lambda: not calendar.loading)
        assert window.minimumSizeHint().width() <= SMALL.width()
        assert window.size() == SMALL


def test_every_contacts_toolbar_action_shows_at_1024_pixels_none_in_the_overflow(
    busy_ctx: AppContext, qtbot: QtBot
) -> None:
    window = MainWindow(busy_ctx)
    qtbot.addWidget(window)
    window.resize(SMALL)
    window.show()
    qtbot.waitExposed(window)
    tab = window.contacts_tab
    window.tabs.setCurrentWidget(tab)
    toolbar = tab.findChild(QToolBar, "contactToolbar")
    assert toolbar is not None
    qtbot.waitUntil(lambda: toolbar.isVisible() and toolbar.width() > 0)
    overflow = toolbar.findChild(QToolButton, "qt_toolbar_ext_button")
    assert overflow is not None and not overflow.isVisible()
    shown = []
    for action in toolbar.actions():
        if action.isSeparator():
            continue
        button = toolbar.widgetForAction(action)
        assert button is not None and button.isVisible(), action.text()
        assert toolbar.rect().contains(button.geometry()), action.text()
        shown.append(action.objectName())
    # The list actions sit in the "Lists" menu, their shortcuts still the tab's.
    assert shown[-1] == "actionListsMenu"
    menu = tab.lists_menu
    assert [action.objectName() for action in menu.actions() if not action.isSeparator()] == [
        "actionAddToList",
        "actionRemoveFromList",
        "actionNewList",
        "actionRenameList",
        "actionDeleteList",
    ]
    assert window.size() == SMALL


def test_the_campaigns_table_cuts_long_text_short_instead_of_scrolling_sideways(
    busy_ctx: AppContext, qtbot: QtBot
) -> None:
    window = MainWindow(busy_ctx)
    qtbot.addWidget(window)
    window.resize(SMALL)
    window.show()
    qtbot.waitExposed(window)
    qtbot.waitUntil(lambda: window.campaign_model.rowCount() == 1)
    view = window.campaign_view
    # Once the table has laid out its rows (the scroll bars follow a pass of the event loop).
    qtbot.waitUntil(lambda: not view.horizontalScrollBar().isVisible())
    assert view.horizontalScrollBar().maximum() == 0
    header = view.horizontalHeader()
    assert header.length() <= view.viewport().width()


def test_the_settings_dialog_fits_a_768_pixel_screen_with_save_and_cancel_in_view(
    gui_ctx: AppContext, qtbot: QtBot
) -> None:
    dialog = SettingsDialog(gui_ctx)
    qtbot.addWidget(dialog)
    assert dialog.sizeHint().height() <= SMALL.height()
    assert dialog.minimumSizeHint().height() <= SMALL.height()
    assert dialog.height() <= SMALL.height()
    dialog.show()
    qtbot.waitExposed(dialog)
    for index in range(dialog.tabs.count()):
        dialog.tabs.setCurrentIndex(index)
        assert dialog.height() <= SMALL.height()
        save = dialog.save_button
        bottom = save.mapTo(dialog, save.rect().bottomLeft()).y()
        assert save.isVisible() and bottom < dialog.height()
    # The last field of the mail page is reached by scrolling, not by a taller dialog.
    dialog.tabs.setCurrentWidget(dialog.mail_page)
    scroll = dialog.mail_page.findChild(QScrollArea)
    assert scroll is not None
    assert scroll.verticalScrollBar().maximum() > 0
    last = dialog.start_at_login.checkbox
    scroll.ensureWidgetVisible(last)
    qtbot.waitUntil(lambda: not last.visibleRegion().isEmpty())


def test_the_schedule_dialog_and_the_editor_fit_a_768_pixel_screen(
    gui_ctx: AppContext, qtbot: QtBot
) -> None:
    campaign = make_campaign(gui_ctx)
    for dialog in (ScheduleDialog(gui_ctx, campaign), CampaignEditor(gui_ctx, campaign)):
        qtbot.addWidget(dialog)
        assert dialog.minimumSizeHint().height() <= SMALL.height()
        assert dialog.height() <= SMALL.height()
        assert dialog.width() <= SMALL.width()


def test_the_first_window_never_opens_bigger_than_the_screen(
    gui_ctx: AppContext, qtbot: QtBot, tmp_path: Path
) -> None:
    """No size remembered yet: the window opens at its default size, cut to the screen's
    available room (the offscreen screen is 800 pixels wide, less than the default)."""
    room = QGuiApplication.primaryScreen().availableSize()
    assert room.width() < DEFAULT_SIZE.width()  # what this test is about
    window = MainWindow(
        gui_ctx, QSettings(str(tmp_path / "window.ini"), QSettings.Format.IniFormat)
    )
    qtbot.addWidget(window)
    assert window.width() <= room.width()
    assert window.height() <= room.height()
