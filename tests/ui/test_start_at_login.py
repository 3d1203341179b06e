"""Start at login in the GUI (docs/design.md §16): the Settings checkbox writes and removes the
real autostart entry in a temporary XDG_CONFIG_HOME; the offer after missed sends at start
and once on the first schedule."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QWidget
from pytestqt.qtbot import QtBot

from campaign_desktop.context import AppContext
from campaign_desktop.domain.clock import ManualClock
from campaign_desktop.domain.events import CatchUpReport
from campaign_desktop.ui.common.accessibility import unnamed_controls
from campaign_desktop.ui.settings.settings_dialog import SettingsDialog
from campaign_desktop.ui.shell.main_window import MainWindow
from campaign_desktop.ui.shell.start_at_login_offer import (
    FIRST_SCHEDULE_TEXT,
    OfferStartAtLogin,
    StartAtLoginOffer,
    missed_offer_text,
)
from tests.ui.conftest import NOW, make_campaign

pytestmark = pytest.mark.gui


@pytest.fixture
def entry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where the autostart entry goes: a fresh XDG_CONFIG_HOME (set before the context opens)."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    return tmp_path / "config" / "autostart" / "campaign-desktop.desktop"


@pytest.fixture
def ctx(entry: Path, gui_ctx: AppContext) -> AppContext:
    return gui_ctx


def _open_settings(ctx: AppContext, qtbot: QtBot) -> SettingsDialog:
    dialog = SettingsDialog(ctx)
    qtbot.addWidget(dialog)
    qtbot.waitUntil(dialog.start_at_login.checkbox.isEnabled)
    return dialog


# --- Settings ------------------------------------------------------------------------------


def test_ticking_the_box_writes_the_entry_and_unticking_removes_it(
    ctx: AppContext, entry: Path, qtbot: QtBot
) -> None:
    dialog = _open_settings(ctx, qtbot)
    box = dialog.start_at_login.checkbox
    assert box.text() == "Start Campaign Desktop when I log in"
    assert not box.isChecked()
    assert dialog.start_at_login.where.text() == f"Kept in {entry}"
    assert unnamed_controls(dialog) == []

    box.setChecked(True)
    dialog.accept()
    qtbot.waitUntil(lambda: dialog.result() == dialog.DialogCode.Accepted)

    text = entry.read_text()
    exec_line = next(line for line in text.splitlines() if line.startswith("Exec="))
    assert exec_line.endswith(f"-m campaign_desktop --minimized --data-dir {ctx.data_dir}")
    assert ctx.autostart.is_enabled()

    again = _open_settings(ctx, qtbot)
    assert again.start_at_login.checkbox.isChecked()
    again.start_at_login.checkbox.setChecked(False)
    again.accept()
    qtbot.waitUntil(lambda: again.result() == again.DialogCode.Accepted)
    assert not entry.exists()
    assert entry.parent.is_dir()  # the autostart folder is shared with other programs


def test_the_other_settings_are_saved_along_with_the_entry(
    ctx: AppContext, entry: Path, qtbot: QtBot
) -> None:
    dialog = _open_settings(ctx, qtbot)
    dialog.start_at_login.checkbox.setChecked(True)
    dialog.per_minute.setValue(30)
    dialog.accept()
    qtbot.waitUntil(lambda: dialog.result() == dialog.DialogCode.Accepted)
    assert entry.exists()
    assert ctx.settings.get("throttle.per_minute") == 30


def test_cancel_while_the_entry_is_written_saves_nothing_else(
    ctx: AppContext, entry: Path, qtbot: QtBot
) -> None:
    dialog = _open_settings(ctx, qtbot)
    dialog.start_at_login.checkbox.setChecked(True)
    dialog.per_minute.setValue(30)
    dialog.accept()
    dialog.reject()
    qtbot.waitUntil(lambda: not dialog.start_at_login.busy)
    assert entry.exists()  # what was asked for first stands, and the box will say so
    assert dialog.result() == dialog.DialogCode.Rejected
    assert ctx.settings.get("throttle.per_minute") == 0


def test_a_bad_value_elsewhere_writes_no_entry(ctx: AppContext, entry: Path, qtbot: QtBot) -> None:
    dialog = _open_settings(ctx, qtbot)
    dialog.start_at_login.checkbox.setChecked(True)
    dialog.from_email.setText("news at example")
    dialog.accept()
    assert not dialog._errors["sender.from_email"].isHidden()
    assert dialog.result() != dialog.DialogCode.Accepted
    assert not entry.exists()


def test_an_entry_that_cannot_be_written_is_explained_and_the_dialog_stays(
    ctx: AppContext, entry: Path, qtbot: QtBot
) -> None:
    entry.parent.parent.mkdir(parents=True)
    entry.parent.write_text("a file where the autostart folder should be")
    dialog = _open_settings(ctx, qtbot)
    dialog.start_at_login.checkbox.setChecked(True)
    dialog.per_minute.setValue(30)
    dialog.accept()
    error = dialog.start_at_login.error
    qtbot.waitUntil(lambda: not error.isHidden())
    assert error.text().startswith(f"Could not write {entry}:")
    assert dialog.result() != dialog.DialogCode.Accepted
    assert dialog.save_button.isEnabled()
    assert ctx.settings.get("throttle.per_minute") == 0  # nothing saved: the user decides


# --- the offers ----------------------------------------------------------------------------


class Asked:
    """Stands in for the offer's question; answers `answer` and records the texts."""

    def __init__(self, answer: bool) -> None:
        self.answer = answer
        self.texts: list[str] = []

    def __call__(self, _parent: QWidget | None, text: str) -> bool:
        self.texts.append(text)
        return self.answer


@pytest.fixture
def window(ctx: AppContext, qtbot: QtBot) -> MainWindow:
    widget = MainWindow(ctx)
    qtbot.addWidget(widget)
    return widget


@pytest.fixture
def window_ini(tmp_path: Path) -> QSettings:
    return QSettings(str(tmp_path / "window.ini"), QSettings.Format.IniFormat)


def _ask(monkeypatch: pytest.MonkeyPatch, answer: bool) -> Asked:
    asked = Asked(answer)
    monkeypatch.setattr(OfferStartAtLogin, "ask", asked)
    return asked


def test_missed_sends_at_start_are_counted_and_start_at_login_is_offered(
    entry: Path,
    tmp_path: Path,
    qtbot: QtBot,
    window_ini: QSettings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A real catch-up: a campaign due while the app was closed, not to be sent late."""
    clock = ManualClock(NOW)
    data = tmp_path / "missed"
    with AppContext.open(data, clock=clock) as before:
        before.contacts.add("ann@example.com", lists=("Customers",))
        campaign = make_campaign(before)
        before.campaigns.schedule(
            campaign.id,
            first_local=datetime(2027, 1, 4, 13, 0),
            timezone="UTC",
            recurrence={"type": "daily", "interval": 1},
            missed_run_policy="skip",
        )
    clock.advance(timedelta(days=2))  # the app was not running for two sends
    asked = _ask(monkeypatch, answer=True)
    with AppContext.open(data, clock=clock) as ctx:
        window = MainWindow(ctx)
        qtbot.addWidget(window)
        StartAtLoginOffer(ctx, window, window_ini)
        ctx.scheduler.start()
        qtbot.waitUntil(entry.exists)
        assert asked.texts == [
            "2 scheduled sends were missed because Campaign Desktop was not running. "
            "Start it, hidden in the tray, whenever you log in to this computer?"
        ]
        assert "--minimized" in entry.read_text()
        qtbot.waitUntil(lambda: "when you log in" in window.statusBar().currentMessage())


def test_no_offer_when_start_at_login_is_on_already(
    ctx: AppContext, window: MainWindow, window_ini: QSettings, qtbot: QtBot
) -> None:
    # OfferStartAtLogin.ask is not replaced: asking would fail the test (tests/ui/conftest.py).
    ctx.autostart.set_enabled(True)
    offer = StartAtLoginOffer(ctx, window, window_ini)
    window.bridge.catch_up.emit(CatchUpReport((), ((1, NOW),), at_start=True))
    qtbot.waitUntil(lambda: not offer._asking)


def test_declining_writes_nothing(
    ctx: AppContext,
    window: MainWindow,
    window_ini: QSettings,
    entry: Path,
    qtbot: QtBot,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked = _ask(monkeypatch, answer=False)
    offer = StartAtLoginOffer(ctx, window, window_ini)
    window.bridge.catch_up.emit(CatchUpReport((), ((1, NOW),), at_start=True))
    qtbot.waitUntil(lambda: len(asked.texts) == 1 and not offer._asking)
    assert asked.texts[0].startswith("1 scheduled send was missed because")
    assert not entry.exists()


def test_sends_missed_while_running_or_none_missed_offer_nothing() -> None:
    assert missed_offer_text(CatchUpReport((), ((1, NOW),), at_start=False)) is None
    assert missed_offer_text(CatchUpReport((), (), at_start=True)) is None


def test_sends_that_went_out_late_at_start_are_offered_on_too() -> None:
    """The default policy sends a missed occurrence late: that too is a reason to offer."""
    late = missed_offer_text(CatchUpReport(((1, NOW),), (), at_start=True))
    assert late is not None
    assert late.startswith("1 scheduled send was sent late because Campaign Desktop was not")
    both = missed_offer_text(CatchUpReport(((1, NOW),), ((2, NOW), (3, NOW)), at_start=True))
    assert both is not None and both.startswith(
        "2 scheduled sends were missed and 1 scheduled send was sent late because"
    )


def test_the_first_schedule_offers_start_at_login_once(
    ctx: AppContext,
    window: MainWindow,
    window_ini: QSettings,
    entry: Path,
    qtbot: QtBot,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked = _ask(monkeypatch, answer=False)
    offer = StartAtLoginOffer(ctx, window, window_ini)
    first = make_campaign(ctx, "First")
    ctx.campaigns.schedule(first.id, first_local=datetime(2027, 2, 1, 9, 0), timezone="UTC")
    qtbot.waitUntil(lambda: asked.texts == [FIRST_SCHEDULE_TEXT] and not offer._asking)

    scheduled: list[int] = []
    window.bridge.campaign_changed.connect(
        lambda campaign_id, change: scheduled.append(campaign_id) if change == "scheduled" else None
    )
    second = make_campaign(ctx, "Second")
    ctx.campaigns.schedule(second.id, first_local=datetime(2027, 2, 2, 9, 0), timezone="UTC")
    # A new start (a new offer on the same window.ini) does not ask again either.
    StartAtLoginOffer(ctx, window, window_ini)
    third = make_campaign(ctx, "Third")
    ctx.campaigns.schedule(third.id, first_local=datetime(2027, 2, 3, 9, 0), timezone="UTC")
    # Every slot of a signal has run once the last one has: both offers saw both schedules.
    qtbot.waitUntil(lambda: scheduled == [second.id, third.id])
    assert asked.texts == [FIRST_SCHEDULE_TEXT]
    assert not offer._asking
    assert not entry.exists()
