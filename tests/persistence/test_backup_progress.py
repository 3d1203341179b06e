"""The backup before a migration (issue 16): SQLite's online backup API a step at a time,
reporting its progress to 100 %, and a copy that matches the file as it was."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text

from campaign_desktop.persistence import db as db_module
from campaign_desktop.persistence.db import (
    DATABASE_FILENAME,
    HEAD_REVISION,
    create_sqlite_engine,
    current_revision,
    list_backups,
    migration_backup_size,
    open_database,
    upgrade,
)

PREVIOUS_REVISION = "0008"


def database_at_previous_revision(folder: Path, contacts: int = 5_000) -> Path:
    """A database one revision behind (opening it migrates) holding `contacts` contacts."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / DATABASE_FILENAME
    engine = create_sqlite_engine(path)
    upgrade(engine, PREVIOUS_REVISION)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO contact (email, first_name, last_name, attributes, status, "
                "created_at, updated_at) VALUES (:email, 'Ann', 'Example', '{}', "
                "'subscribed', '2027-01-04 09:00:00', '2027-01-04 09:00:00')"
            ),
            [{"email": f"person{n:06d}@example.com"} for n in range(contacts)],
        )
    engine.dispose()
    return path


def dump(path: Path) -> list[str]:
    with sqlite3.connect(path) as connection:
        return list(connection.iterdump())


def test_the_backup_reports_each_step_up_to_100_percent_and_matches_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = database_at_previous_revision(tmp_path)
    before = dump(path)
    monkeypatch.setattr(db_module, "BACKUP_STEP_PAGES", 16)
    steps: list[tuple[int, int]] = []

    opened = open_database(
        tmp_path, backup_progress=lambda copied, total: steps.append((copied, total))
    )
    opened.dispose()

    total = steps[-1][1]
    assert len(steps) == -(-total // 16) > 3  # one report per step of 16 pages
    assert [copied for copied, _ in steps] == sorted(copied for copied, _ in steps)
    assert steps[-1] == (total, total)  # 100 %
    (backup,) = list_backups(tmp_path)
    with sqlite3.connect(backup.path) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert dump(backup.path) == before
    engine = create_sqlite_engine(path)
    assert current_revision(engine) == HEAD_REVISION
    engine.dispose()


def test_a_migration_backup_is_announced_only_when_one_is_due(tmp_path: Path) -> None:
    assert migration_backup_size(tmp_path / "new") is None  # nothing to back up yet
    path = database_at_previous_revision(tmp_path / "old", contacts=10)
    assert migration_backup_size(tmp_path / "old") == path.stat().st_size
    assert migration_backup_size(tmp_path / "old", "postgresql://u@h/db") is None
    open_database(tmp_path / "old").dispose()
    assert migration_backup_size(tmp_path / "old") is None  # at the newest revision now
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / DATABASE_FILENAME).write_bytes(b"not a database")
    assert migration_backup_size(tmp_path / "junk") is None  # opening refuses it, in words
