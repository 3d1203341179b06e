"""Settings ▸ Database: which database this desktop uses (the SQLite file and its backups, or
the team database's URL without its password) and, in team mode, the other desktops sending
from it. Read-only; what needs the database is read off the GUI thread.

The team cases run on a real PostgreSQL server (``both_backends``; tests/conftest.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtWidgets import QLabel, QTreeWidgetItemIterator
from pytestqt.qtbot import QtBot

from campaign_desktop.context import DATABASE_URL_ENV, AppContext
from campaign_desktop.domain.errors import StorageError
from campaign_desktop.persistence.db import backup_database
from campaign_desktop.services.database_info import DatabaseInfo, DatabaseInfoService
from campaign_desktop.ui.common.accessibility import unnamed_controls
from campaign_desktop.ui.settings.database_page import DatabasePage
from campaign_desktop.ui.settings.settings_dialog import SettingsDialog
from tests.postgres_server import APP_PASSWORD

pytestmark = [
    pytest.mark.gui,
    pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints"),
]


def open_database_tab(dialog: SettingsDialog, qtbot: QtBot) -> DatabasePage:
    """Show the dialog on its Database tab and wait for the page's off-thread read."""
    dialog.show()
    dialog.tabs.setCurrentWidget(dialog.database_page)
    page = dialog.database_page
    qtbot.waitUntil(lambda: page.loaded and not page.loading, timeout=10_000)
    return page


def every_text(dialog: SettingsDialog) -> str:
    """All the words the dialog shows or tells on hover, desktops list included."""
    words = [label.text() + "\n" + label.toolTip() for label in dialog.findChildren(QLabel)]
    tree = dialog.database_page.desktops
    iterator = QTreeWidgetItemIterator(tree)
    while item := iterator.value():
        words += [item.text(column) + item.toolTip(column) for column in range(tree.columnCount())]
        iterator += 1
    return "\n".join(words)


@pytest.fixture
def dialog(gui_ctx: AppContext, qtbot: QtBot) -> SettingsDialog:
    widget = SettingsDialog(gui_ctx)
    qtbot.addWidget(widget)
    return widget


def test_on_sqlite_the_database_tab_shows_the_file_and_its_backups_folder(
    dialog: SettingsDialog, gui_ctx: AppContext, qtbot: QtBot
) -> None:
    backup_database(gui_ctx.db.path)  # one automatic backup, as before an upgrade
    page = open_database_tab(dialog, qtbot)
    assert page.location.text() == f"This computer's file: {gui_ctx.db.path}"
    assert page.backups.text() == (
        f"Backups, taken before each upgrade: {gui_ctx.data_dir / 'backups'} (1 there now)"
    )
    assert page.team_box.isHidden()  # one sending app per file: no list of desktops
    assert "--database-url" in page.switch_hint.text()
    assert DATABASE_URL_ENV in page.switch_hint.text()
    assert "Team mode" in page.switch_hint.text()


def test_the_file_shows_before_the_background_read_ends(dialog: SettingsDialog) -> None:
    # What is known in memory is there at once; only the backups count waits.
    page = dialog.database_page
    assert page.location.text().endswith(str(dialog._ctx.db.path))
    assert not page.loaded


def test_the_database_tab_has_only_named_controls(dialog: SettingsDialog, qtbot: QtBot) -> None:
    open_database_tab(dialog, qtbot)
    assert unnamed_controls(dialog) == []
    assert dialog.database_page.refresh_button.accessibleName()


def test_a_database_that_cannot_be_read_is_said_in_words_and_the_page_stays(
    dialog: SettingsDialog, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unreadable(_self: DatabaseInfoService) -> DatabaseInfo:
        raise StorageError("io", "The database server stopped answering.")

    monkeypatch.setattr(DatabaseInfoService, "info", unreadable)
    dialog.show()
    dialog.tabs.setCurrentWidget(dialog.database_page)
    page = dialog.database_page
    qtbot.waitUntil(lambda: not page.load_error.isHidden(), timeout=10_000)
    assert page.load_error.text() == (
        "Could not read the database: The database server stopped answering."
    )
    assert page.location.text().startswith("This computer's file: ")  # what is known stays
    assert page.refresh_button.isEnabled()  # to try again


@pytest.fixture
def team_ctx(data_dir: Path, database_url: str | None) -> Iterator[AppContext]:
    context = AppContext.open(data_dir, database_url, heartbeat_seconds=0.5)
    yield context
    context.close()


@pytest.mark.both_backends
def test_the_database_in_use_is_named_without_its_password(
    team_ctx: AppContext, database_url: str | None, qtbot: QtBot
) -> None:
    dialog = SettingsDialog(team_ctx)
    qtbot.addWidget(dialog)
    page = open_database_tab(dialog, qtbot)
    if database_url is None:
        assert page.location.text() == f"This computer's file: {team_ctx.db.path}"
        return
    url = team_ctx.db.engine.url
    assert url.password == APP_PASSWORD  # the engine has it (from the keyring) …
    assert page.location.text() == (
        f"Shared team database: postgresql://{url.username}@{url.host}:{url.port}/"
        f"{url.database} (password in this computer's keyring)"
    )
    assert APP_PASSWORD not in every_text(dialog)  # … the dialog never shows it
    assert page.backups.isHidden()
    assert not page.team_box.isHidden()


@pytest.mark.both_backends
def test_a_second_desktop_sending_from_the_team_database_is_listed(
    team_ctx: AppContext, tmp_path: Path, database_url: str | None, qtbot: QtBot
) -> None:
    dialog = SettingsDialog(team_ctx)
    qtbot.addWidget(dialog)
    if database_url is None:  # SQLite: the file lock allows one sending app; no list
        page = open_database_tab(dialog, qtbot)
        assert page.team_box.isHidden()
        return
    team_ctx.scheduler.start()  # this desktop sends too, and is not listed as "other"
    with AppContext.open(tmp_path / "second", database_url, heartbeat_seconds=0.5) as second:
        second.scheduler.start()
        page = open_database_tab(dialog, qtbot)
        tree = page.desktops
        assert tree.topLevelItemCount() == 1
        row = tree.topLevelItem(0)
        assert row is not None
        (other,) = page.info.other_desktops
        assert other.id == second.sending.desktop_id
        assert row.text(0) == other.name and other.name  # the computer's host name
        assert row.text(1) == str(other.pid)
        assert row.text(2)  # running since
        assert row.text(3).endswith(" s ago)")  # its last heartbeat
        assert page.desktops_note.text().startswith("1 other desktop sending")
    # It quit (its row is gone): Refresh says so.
    page.refresh_button.click()
    qtbot.waitUntil(lambda: not page.loading, timeout=10_000)
    assert tree.topLevelItemCount() == 0
    assert page.desktops_note.text() == "No other desktop is sending from this database now."
