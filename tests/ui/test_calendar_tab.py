"""The Calendar tab and the schedule control of the main window (docs/design.md §12): the sends
on their days on this computer's clock, struck-through skips and holds, clock-change days,
double-click to open, skip/hold from the context menu, and the .ics export read back by an
independent calendar library.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import recurring_ical_events
from icalendar import Calendar
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QApplication, QMenu
from pytestqt.qtbot import QtBot

from campaign_desktop.context import AppContext
from campaign_desktop.domain.clock import ManualClock
from campaign_desktop.domain.views import CampaignView
from campaign_desktop.ui.calendar.calendar_model import (
    CalendarGridModel,
    CalendarRole,
    CalendarSend,
    DayColumn,
    DaySendsModel,
    calendar_sends,
)
from campaign_desktop.ui.calendar.calendar_tab import CalendarTab
from campaign_desktop.ui.calendar.ics_export import ChooseIcsPath
from campaign_desktop.ui.campaigns.campaign_editor import CampaignEditor
from campaign_desktop.ui.campaigns.campaign_model import Column
from campaign_desktop.ui.common.bridge import EventBridge
from campaign_desktop.ui.shell.main_window import MainWindow
from tests.ui.conftest import NOW, make_campaign

pytestmark = [
    pytest.mark.gui,
    pytest.mark.qt_log_ignore("This plugin does not support"),  # offscreen: no window manager
]

NY = "America/New_York"


@pytest.fixture(autouse=True)
def no_real_file_dialog(monkeypatch: pytest.MonkeyPatch) -> None:
    def unexpected(*args: Any) -> Any:
        raise AssertionError(f"unexpected dialog: {args!r}")

    monkeypatch.setattr(ChooseIcsPath, "ask", unexpected)


def _set_machine_zone(zone: str | None) -> None:
    if zone is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = zone
    time.tzset()


@pytest.fixture
def machine_zone() -> Iterator[Any]:
    """Sets this computer's zone (TZ, as the desktop session would) for one test."""
    before = os.environ.get("TZ")
    yield _set_machine_zone
    _set_machine_zone(before)


@pytest.fixture
def in_new_york(machine_zone: Any) -> None:
    machine_zone(NY)


def _scheduled(
    ctx: AppContext,
    name: str = "News",
    first: datetime = datetime(2027, 1, 11, 9, 0),
    tz: str = NY,
    recurrence: dict[str, Any] | None = None,
) -> CampaignView:
    campaign = make_campaign(ctx, name)
    return ctx.campaigns.schedule(
        campaign.id,
        first_local=first,
        timezone=tz,
        recurrence=recurrence if recurrence is not None else {"type": "daily"},
    )


def _tab(ctx: AppContext, qtbot: QtBot) -> CalendarTab:
    bridge = EventBridge(ctx.events)
    tab = CalendarTab(ctx, bridge)
    bridge.setParent(tab)
    qtbot.addWidget(tab)
    tab.resize(1100, 700)
    _wait_loaded(tab, qtbot)
    return tab


def _wait_loaded(tab: CalendarTab, qtbot: QtBot) -> None:
    qtbot.waitUntil(lambda: not tab.loading and not tab._refresh_timer.isActive())


def _cell(tab: CalendarTab, day: date, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
    index = tab.grid_model.index_of(day)
    assert index.isValid(), f"{day} is not shown"
    return index.data(role)


def _lines(tab: CalendarTab, day: date) -> list[str]:
    return str(_cell(tab, day)).split("\n")[1:]


def _press(qtbot: QtBot, tab: CalendarTab, key: Qt.Key) -> None:
    qtbot.keyClick(tab.grid, key)  # type: ignore[no-untyped-call]  # pytest-qt leaves it untyped


def _menu_action(menu: QMenu, text: str) -> QAction:
    for action in menu.actions():
        if action.text().replace("&", "") == text:
            return action
    raise AssertionError(f"no {text!r} in {[a.text() for a in menu.actions()]}")


# --- the grid ----------------------------------------------------------------------------------


def test_the_month_grid_shows_each_send_on_its_day_on_this_computers_clock(
    gui_ctx: AppContext, qtbot: QtBot, in_new_york: None
) -> None:
    _scheduled(gui_ctx, recurrence={"type": "weekly", "days_of_week": [0]})
    tab = _tab(gui_ctx, qtbot)
    assert tab.title.text() == "January 2027"
    assert _lines(tab, date(2027, 1, 11)) == ["09:00 News"]
    assert _lines(tab, date(2027, 1, 18)) == ["09:00 News"]
    assert _lines(tab, date(2027, 1, 12)) == []
    # The grid runs Monday to Sunday over six weeks, the days around the month greyed.
    assert tab.grid_model.first_day() == date(2026, 12, 28)
    assert _cell(tab, date(2027, 2, 1), CalendarRole.InRangeRole) is False
    assert _lines(tab, date(2027, 2, 1)) == ["09:00 News"]  # shown, if greyed
    assert _cell(tab, date(2027, 1, 4), CalendarRole.TodayRole) is True


def test_a_campaign_in_another_zone_shows_here_and_names_its_own_clock_in_the_tooltip(
    gui_ctx: AppContext, qtbot: QtBot, machine_zone: Any
) -> None:
    machine_zone("Europe/London")
    _scheduled(gui_ctx, first=datetime(2027, 1, 12, 9, 0))
    tab = _tab(gui_ctx, qtbot)
    assert _lines(tab, date(2027, 1, 12)) == ["14:00 News"]
    assert _cell(tab, date(2027, 1, 12), Qt.ItemDataRole.ToolTipRole) == (
        "News \N{EM DASH} 09:00 New York time, 14:00 here"
    )
    tab.show_day(date(2027, 1, 12))
    _wait_loaded(tab, qtbot)
    assert tab.day_model.index(0, DayColumn.TIME).data() == "14:00"
    assert tab.day_model.index(0, DayColumn.CAMPAIGN).data() == "News"
    assert tab.day_model.index(0, DayColumn.CAMPAIGN_TIME).data() == "09:00 EST"


def test_the_days_this_computers_clock_changes_are_marked_and_sends_follow_the_campaign_clock(
    gui_ctx: AppContext, qtbot: QtBot, machine_zone: Any
) -> None:
    machine_zone(NY)
    # 09:00 in London is 04:00 in New York, 05:00 in the weeks the US is on summer time first.
    _scheduled(gui_ctx, first=datetime(2027, 3, 1, 9, 0), tz="Europe/London")
    tab = _tab(gui_ctx, qtbot)
    tab.show_next()
    tab.show_next()
    _wait_loaded(tab, qtbot)
    assert tab.title.text() == "March 2027"
    assert _cell(tab, date(2027, 3, 14), CalendarRole.ClockChangeRole) == "Clocks go forward 1 h"
    assert "Clocks go forward 1 h" in _lines(tab, date(2027, 3, 14))
    assert "UTC\N{MINUS SIGN}05:00 \N{RIGHTWARDS ARROW} UTC\N{MINUS SIGN}04:00" in _cell(
        tab, date(2027, 3, 14), Qt.ItemDataRole.ToolTipRole
    )
    assert _cell(tab, date(2027, 3, 13), CalendarRole.ClockChangeRole) == ""
    assert _cell(tab, date(2027, 3, 28), CalendarRole.ClockChangeRole) == ""  # London's, not ours
    assert _lines(tab, date(2027, 3, 13))[-1] == "04:00 News"
    assert _lines(tab, date(2027, 3, 15))[-1] == "05:00 News"
    assert _lines(tab, date(2027, 3, 29))[-1] == "04:00 News"
    tab.show_day(date(2027, 11, 7))
    _wait_loaded(tab, qtbot)
    assert _cell(tab, date(2027, 11, 7), CalendarRole.ClockChangeRole) == "Clocks go back 1 h"


def test_skipped_sends_and_a_held_campaigns_sends_are_struck_through(
    gui_ctx: AppContext, qtbot: QtBot, in_new_york: None
) -> None:
    news = _scheduled(gui_ctx)
    offers = _scheduled(gui_ctx, "Offers", first=datetime(2027, 1, 11, 10, 0))
    gui_ctx.campaigns.skip_occurrence(news.id, datetime(2027, 1, 12, 14, 0, tzinfo=UTC))
    gui_ctx.campaigns.hold(offers.id)
    tab = _tab(gui_ctx, qtbot)
    assert _lines(tab, date(2027, 1, 11)) == [
        "09:00 News",
        "10:00 Offers (campaign on hold)",
    ]
    assert _lines(tab, date(2027, 1, 12)) == [
        "09:00 News (skipped)",
        "10:00 Offers (campaign on hold)",
    ]
    tab.show_day(date(2027, 1, 12))
    _wait_loaded(tab, qtbot)
    struck = [
        tab.day_model.index(row, DayColumn.CAMPAIGN).data(Qt.ItemDataRole.FontRole)
        for row in range(tab.day_model.rowCount())
    ]
    assert all(font is not None and font.strikeOut() for font in struck)
    notes = [tab.day_model.index(row, DayColumn.NOTE).data() for row in range(2)]
    assert notes == ["Skipped", "Campaign on hold"]


def test_with_nothing_scheduled_the_tab_says_how_to_schedule_then_shows_the_grid(
    gui_ctx: AppContext, qtbot: QtBot, in_new_york: None
) -> None:
    tab = _tab(gui_ctx, qtbot)
    assert tab.stack.currentWidget() is tab.empty_label
    assert "Schedule" in tab.empty_label.text()
    assert not tab.export_button.isEnabled()
    _scheduled(gui_ctx)  # the event bridge refreshes the tab
    qtbot.waitUntil(lambda: tab.stack.currentWidget() is tab.splitter)
    assert tab.export_button.isEnabled()
    assert _lines(tab, date(2027, 1, 11)) == ["09:00 News"]


# --- navigation --------------------------------------------------------------------------------


def test_previous_today_next_and_the_week_view_by_buttons_and_keys(
    gui_ctx: AppContext, qtbot: QtBot, in_new_york: None
) -> None:
    _scheduled(gui_ctx)
    tab = _tab(gui_ctx, qtbot)
    tab.show()
    qtbot.waitExposed(tab)
    tab.activateWindow()
    qtbot.waitUntil(tab.isActiveWindow)
    tab.grid.setFocus()
    _press(qtbot, tab, Qt.Key.Key_PageDown)
    assert tab.title.text() == "February 2027"
    _press(qtbot, tab, Qt.Key.Key_PageDown)
    assert tab.title.text() == "March 2027"
    _press(qtbot, tab, Qt.Key.Key_PageUp)
    assert tab.title.text() == "February 2027"
    _press(qtbot, tab, Qt.Key.Key_T)
    assert tab.title.text() == "January 2027"
    assert tab.selected_day() == date(2027, 1, 4)

    tab.week_button.click()
    assert tab.title.text() == "Week of 4 January 2027"
    assert tab.grid_model.rowCount() == 1
    tab.action_next.trigger()
    assert tab.title.text() == "Week of 11 January 2027"
    _wait_loaded(tab, qtbot)
    assert _lines(tab, date(2027, 1, 11)) == ["09:00 News"]
    tab.month_button.click()
    assert tab.title.text() == "January 2027"


def test_the_latest_request_wins(gui_ctx: AppContext, qtbot: QtBot, in_new_york: None) -> None:
    _scheduled(gui_ctx)
    tab = _tab(gui_ctx, qtbot)
    with qtbot.waitSignal(tab.loaded):
        tab.show_next()
        tab.show_previous()  # asked before February's answer came back
    assert tab.title.text() == "January 2027"
    assert _lines(tab, date(2027, 1, 11)) == ["09:00 News"]


# --- acting on a send --------------------------------------------------------------------------


def _send_on(tab: CalendarTab, day: date, name: str = "News") -> CalendarSend:
    sends = [s for s in tab.grid_model.sends_on(day) if s.campaign.name == name]
    assert sends, f"no send of {name} on {day}"
    return sends[0]


def test_skip_from_the_context_menu_moves_the_next_send_and_restore_brings_it_back(
    gui_ctx: AppContext, qtbot: QtBot, in_new_york: None
) -> None:
    news = _scheduled(gui_ctx)
    tab = _tab(gui_ctx, qtbot)
    menu = tab.send_menu(_send_on(tab, date(2027, 1, 11)))
    _menu_action(menu, "Skip this send").trigger()
    assert gui_ctx.campaigns.get(news.id).next_run_at == datetime(2027, 1, 12, 14, tzinfo=UTC)
    _wait_loaded(tab, qtbot)
    assert _lines(tab, date(2027, 1, 11)) == ["09:00 News (skipped)"]

    menu = tab.send_menu(_send_on(tab, date(2027, 1, 11)))
    _menu_action(menu, "Restore this send").trigger()
    assert gui_ctx.campaigns.get(news.id).next_run_at == datetime(2027, 1, 11, 14, tzinfo=UTC)
    _wait_loaded(tab, qtbot)
    assert _lines(tab, date(2027, 1, 11)) == ["09:00 News"]


def test_hold_and_release_from_the_calendars_context_menu(
    gui_ctx: AppContext, qtbot: QtBot, in_new_york: None
) -> None:
    news = _scheduled(gui_ctx)
    tab = _tab(gui_ctx, qtbot)
    menu = tab.send_menu(_send_on(tab, date(2027, 1, 11)))
    assert [a.text().replace("&", "") for a in menu.actions() if a.text()][:2] == [
        "Skip this send",
        "Hold campaign",
    ]
    _menu_action(menu, "Hold campaign").trigger()
    assert gui_ctx.campaigns.get(news.id).status == "held"
    _wait_loaded(tab, qtbot)
    assert _lines(tab, date(2027, 1, 11)) == ["09:00 News (campaign on hold)"]
    menu = tab.send_menu(_send_on(tab, date(2027, 1, 11)))
    _menu_action(menu, "Release campaign").trigger()
    assert gui_ctx.campaigns.get(news.id).status == "scheduled"
    _wait_loaded(tab, qtbot)
    assert _lines(tab, date(2027, 1, 11)) == ["09:00 News"]


# --- in the main window ------------------------------------------------------------------------


@pytest.fixture
def window(gui_ctx: AppContext, qtbot: QtBot, in_new_york: None) -> MainWindow:
    widget = MainWindow(gui_ctx)
    qtbot.addWidget(widget)
    widget.resize(1200, 800)
    return widget


def test_the_calendar_is_the_last_tab_and_a_double_click_on_a_send_opens_its_campaign(
    window: MainWindow, gui_ctx: AppContext, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    _scheduled(gui_ctx, "Other", first=datetime(2027, 1, 11, 8, 0))
    news = _scheduled(gui_ctx)
    window.reload()
    assert window.tabs.tabText(window.tabs.count() - 1) == "Ca&lendar"  # Alt+L
    window.tabs.setCurrentWidget(window.calendar_tab)
    window.show()
    qtbot.waitExposed(window)
    tab = window.calendar_tab
    _wait_loaded(tab, qtbot)
    edited: list[CampaignView] = []

    def edit(_parent: Any, _ctx: Any, campaign: CampaignView) -> None:
        edited.append(campaign)

    monkeypatch.setattr(CampaignEditor, "ask", edit)
    # The second line of the day, 09:00 News, once the grid is laid out.
    qtbot.waitUntil(lambda: tab.grid.send_position(date(2027, 1, 13), 1) is not None)
    point = tab.grid.send_position(date(2027, 1, 13), 1)
    assert point is not None
    assert tab.grid.send_at(point) == _send_on(tab, date(2027, 1, 13))
    qtbot.mouseDClick(tab.grid.viewport(), Qt.MouseButton.LeftButton, pos=point)  # type: ignore[no-untyped-call]  # pytest-qt leaves it untyped
    assert [campaign.id for campaign in edited] == [news.id]
    assert window.tabs.currentIndex() == 0
    selected = window.selected_campaign()
    assert selected is not None and selected.id == news.id


def test_hold_release_and_unschedule_from_the_campaigns_tab(
    window: MainWindow, gui_ctx: AppContext, qtbot: QtBot
) -> None:
    news = _scheduled(gui_ctx)
    draft = make_campaign(gui_ctx, "Draft")
    window.reload()
    window.select_campaign(draft.id)
    assert not window.action_hold.isEnabled()
    assert not window.action_unschedule.isEnabled()
    window.select_campaign(news.id)
    assert window.action_hold.isEnabled() and not window.action_release.isEnabled()

    window.action_hold.trigger()
    assert gui_ctx.campaigns.get(news.id).status == "held"
    row = window.campaign_model.row_of(news.id)
    assert row is not None
    assert window.campaign_model.index(row, Column.STATUS).data() == "On hold"
    assert "on hold" in window.statusBar().currentMessage()
    assert window.action_release.isEnabled() and not window.action_hold.isEnabled()
    # "Scheduled" lists the held ones too: they keep their schedule.
    window.status_filter.setCurrentText("Scheduled")
    qtbot.waitUntil(lambda: window.campaign_model.row_of(news.id) is not None)
    assert window.campaign_model.row_of(draft.id) is None
    window.status_filter.setCurrentText("All statuses")
    qtbot.waitUntil(lambda: window.campaign_model.row_of(draft.id) is not None)

    window.select_campaign(news.id)
    window.action_release.trigger()
    released = gui_ctx.campaigns.get(news.id)
    assert released.status == "scheduled"
    assert released.next_run_at == datetime(2027, 1, 11, 14, tzinfo=UTC)
    assert "goes out Mon 11 Jan 2027 09:00 EST" in window.statusBar().currentMessage()

    window.select_campaign(news.id)
    window.action_unschedule.trigger()
    assert gui_ctx.campaigns.get(news.id).status == "draft"
    assert not window.action_unschedule.isEnabled()


def _popup(qtbot: QtBot) -> QMenu:
    qtbot.waitUntil(lambda: isinstance(QApplication.activePopupWidget(), QMenu))
    menu = QApplication.activePopupWidget()
    assert isinstance(menu, QMenu)
    return menu


def test_the_campaigns_context_menu_offers_the_schedule_control(
    window: MainWindow, gui_ctx: AppContext, qtbot: QtBot
) -> None:
    news = _scheduled(gui_ctx)
    window.reload()
    window.show()
    qtbot.waitExposed(window)
    window.select_campaign(news.id)
    rect = window.campaign_view.visualRect(window.campaign_model.index(0, 0))
    window.campaign_view.customContextMenuRequested.emit(rect.center())
    menu = _popup(qtbot)
    enabled = {a.text().replace("&", ""): a.isEnabled() for a in menu.actions() if a.text()}
    menu.close()
    assert {
        "Hold": True,
        "Release": False,
        "Unschedule": True,
        "Export to calendar\N{HORIZONTAL ELLIPSIS}": True,
    }.items() <= enabled.items()


def test_right_click_on_a_send_in_the_grid_skips_it(
    gui_ctx: AppContext, qtbot: QtBot, in_new_york: None
) -> None:
    news = _scheduled(gui_ctx)
    tab = _tab(gui_ctx, qtbot)
    tab.show()
    qtbot.waitExposed(tab)
    qtbot.waitUntil(lambda: tab.grid.send_position(date(2027, 1, 11)) is not None)
    point = tab.grid.send_position(date(2027, 1, 11))
    tab.grid.customContextMenuRequested.emit(point)
    menu = _popup(qtbot)
    _menu_action(menu, "Skip this send").trigger()
    menu.close()
    assert gui_ctx.campaigns.get(news.id).next_run_at == datetime(2027, 1, 12, 14, tzinfo=UTC)


def _read_ics(path: Path, start: datetime, end: datetime) -> list[tuple[str, datetime]]:
    calendar = Calendar.from_ical(path.read_bytes())
    return sorted(
        (str(event["SUMMARY"]), event["DTSTART"].dt.astimezone(UTC))
        for event in recurring_ical_events.of(calendar).between(start, end)
    )


def test_export_to_calendar_writes_a_file_a_calendar_reader_lists_the_same_sends_from(
    window: MainWindow,
    gui_ctx: AppContext,
    qtbot: QtBot,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = gui_ctx.clock
    assert isinstance(clock, ManualClock)
    news = _scheduled(gui_ctx, recurrence={"type": "daily", "count": 30})
    _scheduled(
        gui_ctx,
        "Offers",
        first=datetime(2027, 1, 31, 10, 0),
        tz="Europe/Paris",
        recurrence={"type": "monthly", "day_of_month": 31},
    )
    gui_ctx.campaigns.skip_occurrence(news.id, datetime(2027, 1, 15, 14, tzinfo=UTC))
    make_campaign(gui_ctx, "Draft")  # not scheduled: not exported
    window.reload()
    asked: list[str] = []

    def choose(_parent: Any, suggested: str) -> Path:
        asked.append(suggested)
        return tmp_path / "all.ics"

    monkeypatch.setattr(ChooseIcsPath, "ask", choose)
    with qtbot.waitSignal(window.ics_exporter.exported):
        window.action_export_all.trigger()
    start, end = NOW, datetime(2028, 1, 1, tzinfo=UTC)
    expected = sorted((view.name, when) for view, when in gui_ctx.campaigns.calendar(start, end))
    assert len(expected) == 29 + 12
    assert _read_ics(tmp_path / "all.ics", start, end) == expected
    assert asked == ["Campaign schedules.ics"]
    assert "Exported 2 campaigns" in window.statusBar().currentMessage()

    # One campaign, from the Campaigns tab's context menu.
    monkeypatch.setattr(ChooseIcsPath, "ask", lambda _p, _s: tmp_path / "news.ics")
    window.select_campaign(news.id)
    with qtbot.waitSignal(window.ics_exporter.exported):
        window.action_export_one.trigger()
    assert {name for name, _ in _read_ics(tmp_path / "news.ics", start, end)} == {"News"}


def test_exporting_when_nothing_is_scheduled_says_so(
    window: MainWindow, gui_ctx: AppContext, qtbot: QtBot, tmp_path: Path, monkeypatch: Any
) -> None:
    from campaign_desktop.ui.common.prompts import ErrorMessage  # noqa: PLC0415

    shown: list[str] = []
    monkeypatch.setattr(ChooseIcsPath, "ask", lambda _p, _s: tmp_path / "none.ics")
    monkeypatch.setattr(ErrorMessage, "show", lambda _p, _t, text: shown.append(text))
    window.action_export_all.trigger()
    qtbot.waitUntil(lambda: bool(shown))
    assert shown == ["None of these campaigns is scheduled."]
    assert not (tmp_path / "none.ics").exists()


# --- the models --------------------------------------------------------------------------------


def test_the_models_pass_the_qt_model_tester(
    gui_ctx: AppContext, qtmodeltester: Any, in_new_york: None
) -> None:
    news = _scheduled(gui_ctx)
    gui_ctx.campaigns.skip_occurrence(news.id, datetime(2027, 1, 12, 14, 0, tzinfo=UTC))
    start, end = NOW, datetime(2027, 2, 8, tzinfo=UTC)
    sends = calendar_sends(
        gui_ctx.campaigns.calendar(start, end), gui_ctx.campaigns.calendar_skips(start, end)
    )
    grid = CalendarGridModel()
    grid.set_range(date(2026, 12, 28), 6, (2027, 1))
    grid.set_sends(sends, date(2027, 1, 4))
    qtmodeltester.check(grid)
    day = DaySendsModel()
    day.set_sends(grid.sends_on(date(2027, 1, 12)))
    assert day.rowCount() == 1
    qtmodeltester.check(day)
