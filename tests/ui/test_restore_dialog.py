"""Start-up with a damaged database (issue 12): the restore dialog and `app.open_context`.

The dialog is driven with real clicks; `open_context` runs on real damaged files, with the
dialog's `ask` replaced by the answer under test (a real modal loop would hang).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtWidgets import QRadioButton
from pytestqt.qtbot import QtBot
from sqlalchemy import text

from campaign_desktop.app import START_FAILED, open_context
from campaign_desktop.context import AppContext
from campaign_desktop.domain.views import Backup
from campaign_desktop.persistence.db import (
    DATABASE_FILENAME,
    backup_database,
    list_backups,
)
from campaign_desktop.ui.common.accessibility import unnamed_controls
from campaign_desktop.ui.shell.restore_dialog import (
    RestoreChoice,
    RestoreDialog,
    StartUpAction,
    backup_label,
)
from tests.storage_faults import read_only_view

pytestmark = pytest.mark.gui

BACKUPS = [
    Backup(
        Path("/data/backups/campaigns-20261130T120000Z.sqlite3"),
        datetime(2026, 11, 30, 12, 0, tzinfo=UTC),
        2_100_000,
    ),
    Backup(
        Path("/data/backups/campaigns-20261101T080000Z.sqlite3"),
        datetime(2026, 11, 1, 8, 0, tzinfo=UTC),
        40_000,
    ),
]


@pytest.fixture(autouse=True)
def no_real_restore_dialog(monkeypatch: pytest.MonkeyPatch) -> None:
    def unexpected(*args: Any) -> Any:
        raise AssertionError(f"unexpected dialog: {args!r}")

    monkeypatch.setattr(RestoreDialog, "ask", unexpected)


def make_dialog(qtbot: QtBot, backups: list[Backup]) -> RestoreDialog:
    dialog = RestoreDialog("The database … is damaged.", backups)
    qtbot.addWidget(dialog)
    return dialog


# --- the dialog -------------------------------------------------------------------------


def test_the_dialog_offers_the_newest_backup_first_and_restores_it(qtbot: QtBot) -> None:
    dialog = make_dialog(qtbot, BACKUPS)
    options = dialog.findChildren(QRadioButton)

    assert [option.text() for option in options] == [backup_label(b) for b in BACKUPS]
    assert options[0].isChecked()
    assert "2.1 MB" in options[0].text() and "40 kB" in options[1].text()
    assert dialog.restore_button.isEnabled()
    assert unnamed_controls(dialog) == []

    with qtbot.waitSignal(dialog.accepted):
        dialog.restore_button.click()
    assert dialog.choice == RestoreChoice(StartUpAction.RESTORE, BACKUPS[0].path)


def test_an_older_backup_can_be_chosen(qtbot: QtBot) -> None:
    dialog = make_dialog(qtbot, BACKUPS)
    dialog.findChildren(QRadioButton)[1].click()

    dialog.restore_button.click()

    assert dialog.choice == RestoreChoice(StartUpAction.RESTORE, BACKUPS[1].path)


def test_without_backups_only_start_empty_and_quit_are_offered(qtbot: QtBot) -> None:
    dialog = make_dialog(qtbot, [])

    assert not dialog.restore_button.isEnabled()
    assert dialog.findChild(QRadioButton) is None
    dialog.empty_button.click()
    assert dialog.choice == RestoreChoice(StartUpAction.START_EMPTY)


def test_quit_and_closing_the_window_both_mean_quit(qtbot: QtBot) -> None:
    dialog = make_dialog(qtbot, BACKUPS)
    with qtbot.waitSignal(dialog.rejected):
        dialog.quit_button.click()
    assert dialog.choice.action is StartUpAction.QUIT

    closed = make_dialog(qtbot, BACKUPS)
    closed.reject()
    assert closed.choice.action is StartUpAction.QUIT


# --- open_context on real files ---------------------------------------------------------


class Recorder:
    """Stands in for the message box and the dialog: records, answers as told."""

    def __init__(self, *answers: RestoreChoice) -> None:
        self.answers = list(answers)
        self.shown: list[tuple[str, str]] = []
        self.asked: list[tuple[str, list[Path]]] = []

    def show(self, title: str, text: str) -> None:
        self.shown.append((title, text))

    def ask(self, message: str, backups: Any) -> RestoreChoice:
        self.asked.append((message, [backup.path for backup in backups]))
        return self.answers.pop(0)


@pytest.fixture
def damaged(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """(data folder, its one good backup) with the database itself overwritten by junk."""
    data = tmp_path / "data"
    with AppContext.open(data) as ctx:
        ctx.contacts.add("ann@example.com", lists=("Customers",))
    backup = backup_database(data / DATABASE_FILENAME)
    assert backup is not None
    (data / DATABASE_FILENAME).write_bytes(b"junk" * 1000)
    yield data, backup


def contacts_in(ctx: AppContext) -> int:
    with ctx.db.read() as session:
        return int(session.execute(text("SELECT count(*) FROM contact")).scalar_one())


def test_restoring_a_backup_opens_its_data_and_keeps_the_damaged_file(
    damaged: tuple[Path, Path],
) -> None:
    data, backup = damaged
    user = Recorder(RestoreChoice(StartUpAction.RESTORE, backup))

    ctx = open_context(data, user.show, user.ask)

    assert ctx is not None
    try:
        assert contacts_in(ctx) == 1
    finally:
        ctx.close()
    ((message, offered),) = user.asked
    assert "damaged" in message and offered == [backup]
    assert user.shown == []
    (aside,) = data.glob(DATABASE_FILENAME + ".damaged-*")
    assert aside.read_bytes() == b"junk" * 1000


def test_starting_empty_opens_a_new_database_and_keeps_the_damaged_file(
    damaged: tuple[Path, Path],
) -> None:
    data, _ = damaged
    user = Recorder(RestoreChoice(StartUpAction.START_EMPTY))

    ctx = open_context(data, user.show, user.ask)

    assert ctx is not None
    try:
        assert contacts_in(ctx) == 0
    finally:
        ctx.close()
    assert len(list(data.glob(DATABASE_FILENAME + ".damaged-*"))) == 1


def test_quit_changes_nothing(damaged: tuple[Path, Path]) -> None:
    data, backup = damaged
    user = Recorder(RestoreChoice(StartUpAction.QUIT))

    assert open_context(data, user.show, user.ask) is None

    assert (data / DATABASE_FILENAME).read_bytes() == b"junk" * 1000
    assert [b.path for b in list_backups(data)] == [backup]


def test_a_damaged_backup_is_reported_and_the_question_asked_again(
    damaged: tuple[Path, Path],
) -> None:
    data, backup = damaged
    with sqlite3.connect(backup) as connection:  # keep a valid header, lose the pages
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    with backup.open("r+b") as handle:
        handle.truncate(backup.stat().st_size // 2)
    user = Recorder(RestoreChoice(StartUpAction.RESTORE, backup), RestoreChoice(StartUpAction.QUIT))

    assert open_context(data, user.show, user.ask) is None

    ((title, text),) = user.shown
    assert title == START_FAILED and str(backup) in text
    assert len(user.asked) == 2
    assert (data / DATABASE_FILENAME).read_bytes() == b"junk" * 1000


def test_a_read_only_folder_is_a_message_not_the_restore_dialog(tmp_path: Path) -> None:
    with AppContext.open(tmp_path / "real"):
        pass
    user = Recorder()

    with read_only_view(tmp_path / "real", tmp_path / "view") as view:
        assert open_context(view, user.show, user.ask) is None

    ((title, text),) = user.shown
    assert title == START_FAILED and "read-only" in text
    assert user.asked == []


def test_damage_that_only_the_first_reads_find_gets_the_same_offer(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with AppContext.open(data) as filling:
        for number in range(1500):
            filling.contacts.add(f"person{number}@example.com", lists=("Customers",))
    path = data / DATABASE_FILENAME
    with sqlite3.connect(path) as connection:
        page_size = connection.execute("PRAGMA page_size").fetchone()[0]
        pages = connection.execute("PRAGMA page_count").fetchone()[0]
    raw = bytearray(path.read_bytes())
    for page in range(pages // 3, 2 * pages // 3):  # the header and schema stay intact
        raw[page * page_size : (page + 1) * page_size] = b"\xff" * page_size
    path.write_bytes(bytes(raw))
    user = Recorder(RestoreChoice(StartUpAction.START_EMPTY))

    ctx = open_context(data, user.show, user.ask, check=contacts_in)

    assert ctx is not None
    try:
        assert contacts_in(ctx) == 0  # started empty, as the user chose
    finally:
        ctx.close()
    ((message, _),) = user.asked
    assert "damaged" in message
    assert (data / DATABASE_FILENAME).exists()  # the new, empty one
    assert list(data.glob(DATABASE_FILENAME + ".damaged-*"))  # the damaged one, kept
