"""The database file: pragmas, UTC-only timestamps, migrations from revision 1, backups,
and the storage faults opening refuses (damaged, read-only, full, locked elsewhere).

What both engines share (timestamps, the head revision, the campaign table's indexes) runs
on SQLite and PostgreSQL (``both_backends``); PostgreSQL's own refusals are in
test_server_database.py."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import URL, text
from sqlalchemy.exc import StatementError

from campaign_desktop.domain.errors import StorageError
from campaign_desktop.persistence import queries
from campaign_desktop.persistence.db import (
    BACKUP_DIRNAME,
    BACKUPS_KEPT,
    DATABASE_FILENAME,
    HEAD_REVISION,
    backup_database,
    create_sqlite_engine,
    current_revision,
    head_revision,
    list_backups,
    open_database,
    restore_backup,
    set_aside_database,
    upgrade,
)
from campaign_desktop.persistence.models import Campaign, Setting
from campaign_desktop.services.campaigns import CampaignSort, campaign_order
from tests.storage_faults import fill, lock_held_elsewhere, read_only_view, small_filesystem

pytestmark = pytest.mark.both_backends


def test_pragmas_are_set_on_every_connection(tmp_path: Path) -> None:
    db = open_database(tmp_path)
    with db.read() as session:
        pragma = {
            name: session.execute(text(f"PRAGMA {name}")).scalar()
            for name in ("journal_mode", "foreign_keys", "busy_timeout", "synchronous")
        }
    assert pragma == {
        "journal_mode": "wal",
        "foreign_keys": 1,
        "busy_timeout": 5000,
        "synchronous": 1,
    }


def test_new_database_is_at_the_head_revision(tmp_path: Path) -> None:
    db = open_database(tmp_path)
    assert current_revision(db.engine) == head_revision()
    assert (tmp_path / DATABASE_FILENAME).exists()


def _campaign(**overrides: object) -> Campaign:
    values: dict[str, object] = {
        "name": "N",
        "subject": "S",
        "body_text": "B",
        "from_email": "a@b.example",
        "status": "draft",
        "timezone": "UTC",
    }
    values.update(overrides)
    return Campaign(**values)


def test_timestamps_come_back_aware_utc(tmp_path: Path, login_url: URL | None) -> None:
    db = open_database(tmp_path, database_url=login_url)
    eastern = timezone(timedelta(hours=-5))
    with db.write() as session:
        session.add(_campaign(next_run_at=datetime(2027, 1, 4, 9, 0, tzinfo=eastern)))
    with db.read() as session:
        campaign = session.query(Campaign).one()
        assert campaign.next_run_at == datetime(2027, 1, 4, 14, 0, tzinfo=UTC)
        assert campaign.next_run_at.tzinfo is UTC
        assert campaign.created_at.tzinfo is UTC


def test_naive_timestamps_are_refused_and_nothing_is_written(
    tmp_path: Path, login_url: URL | None
) -> None:
    db = open_database(tmp_path, database_url=login_url)
    with pytest.raises(StatementError, match="naive"), db.write() as session:
        session.add(_campaign(next_run_at=datetime(2027, 1, 4, 9, 0)))
    with db.read() as session:
        assert session.query(Campaign).count() == 0


def test_wall_clock_time_is_stored_naive_and_aware_is_refused(
    tmp_path: Path, login_url: URL | None
) -> None:
    db = open_database(tmp_path, database_url=login_url)
    with db.write() as session:
        session.add(_campaign(scheduled_local=datetime(2027, 3, 14, 2, 30)))
    with db.read() as session:
        assert session.query(Campaign).one().scheduled_local == datetime(2027, 3, 14, 2, 30)
    with pytest.raises(StatementError, match="aware"), db.write() as session:
        session.add(_campaign(scheduled_local=datetime(2027, 3, 14, 2, 30, tzinfo=UTC)))


def test_database_at_revision_1_upgrades_to_head_with_data_intact(tmp_path: Path) -> None:
    path = tmp_path / DATABASE_FILENAME
    engine = create_sqlite_engine(path)
    upgrade(engine, "0001")
    assert current_revision(engine) == "0001"
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO campaign (name, channel, subject, body_text, from_name, from_email,"
                " status, timezone, is_recurring, runs_done, missed_run_policy, archived,"
                " created_at, updated_at, next_run_at) VALUES ('Old', 'email', 'S', 'B', '',"
                " 'a@b.example', 'scheduled', 'America/New_York', 0, 0, 'send_late', 0,"
                " '2026-01-01 00:00:00.000000', '2026-01-01 00:00:00.000000',"
                " '2027-01-04 14:00:00.000000')"
            )
        )
        connection.execute(text("INSERT INTO setting (key, value) VALUES ('smtp.port', '25')"))
    engine.dispose()

    db = open_database(tmp_path)
    assert current_revision(db.engine) == head_revision() != "0001"
    with db.read() as session:
        campaign = session.query(Campaign).one()
        assert campaign.name == "Old"
        assert campaign.next_run_at == datetime(2027, 1, 4, 14, 0, tzinfo=UTC)
        assert session.get(Setting, "smtp.port") is not None
        indexes = {row[1] for row in session.execute(text("PRAGMA index_list('campaign')"))}
        assert {"ix_campaign_due", "ix_campaign_next_run", "ix_campaign_name"} <= indexes


def test_head_revision_constant_is_alembics_head() -> None:
    assert head_revision() == HEAD_REVISION


def test_opening_an_up_to_date_database_does_not_import_alembic(tmp_path: Path) -> None:
    open_database(tmp_path).dispose()
    script = (
        "import sys; from pathlib import Path;"
        "from campaign_desktop.persistence.db import open_database;"
        f"open_database(Path({str(tmp_path)!r})).dispose();"
        "print('alembic' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


def test_campaign_table_pages_read_the_indexes(tmp_path: Path, login_url: URL | None) -> None:
    """The table's default and name orders must match the index expressions of migrations
    0003 and 0005, on both engines."""
    db = open_database(tmp_path, database_url=login_url)
    plans = {}
    with db.read() as session:
        if not db.is_sqlite:
            # An empty table is cheaper to scan and sort: ask whether the index *can* serve.
            session.execute(text("SET enable_seqscan = off"))
            session.execute(text("SET enable_sort = off"))
        for sort in (CampaignSort.NEXT_RUN, CampaignSort.NAME):
            query = (
                queries.select_campaigns()
                .where(Campaign.archived.is_(False))
                .order_by(*campaign_order(sort, descending=False))
                .limit(200)
            )
            compiled = query.compile(db.engine, compile_kwargs={"literal_binds": True})
            explain = "EXPLAIN QUERY PLAN" if db.is_sqlite else "EXPLAIN"
            plan = session.execute(text(f"{explain} {compiled}")).all()
            plans[sort] = " ".join(str(row[-1]) for row in plan)
    db.dispose()
    assert "ix_campaign_next_run" in plans[CampaignSort.NEXT_RUN]
    assert "ix_campaign_name" in plans[CampaignSort.NAME]
    # SQLite sorts nothing; PostgreSQL at most breaks ties by id (an Incremental Sort on the
    # index's order), never a full sort.
    assert all("->  Sort " not in plan and "TEMP B-TREE" not in plan for plan in plans.values())


# --- backups and damaged files (issue 12) ---------------------------------------------


def _database_at_0001(folder: Path, rows: int = 1) -> Path:
    """A database at revision 0001 (so opening it migrates) holding `rows` marker settings."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / DATABASE_FILENAME
    engine = create_sqlite_engine(path)
    upgrade(engine, "0001")
    with engine.begin() as connection:
        for number in range(rows):
            connection.execute(
                text("INSERT INTO setting (key, value) VALUES (:key, :value)"),
                {"key": f"marker{number}", "value": "x" * 200},
            )
    engine.dispose()
    return path


def _markers(path: Path) -> int:
    with sqlite3.connect(path) as connection:
        count = connection.execute("SELECT count(*) FROM setting WHERE key LIKE 'marker%'")
        return int(count.fetchone()[0])


def test_migration_backs_up_the_old_file_first(tmp_path: Path) -> None:
    _database_at_0001(tmp_path)

    open_database(tmp_path).dispose()

    (backup,) = list_backups(tmp_path)
    assert backup.path.parent == tmp_path / BACKUP_DIRNAME
    assert backup.taken_at.tzinfo is not None
    with sqlite3.connect(backup.path) as connection:
        assert connection.execute("SELECT version_num FROM alembic_version").fetchone() == ("0001",)
    assert _markers(backup.path) == 1


def test_opening_an_up_to_date_database_makes_no_backup(tmp_path: Path) -> None:
    open_database(tmp_path).dispose()
    open_database(tmp_path).dispose()
    assert list_backups(tmp_path) == []
    assert not (tmp_path / BACKUP_DIRNAME).exists()


def test_backups_rotate_keeping_the_newest_three(tmp_path: Path) -> None:
    path = _database_at_0001(tmp_path)
    taken = [backup_database(path) for _ in range(5)]

    kept = [backup.path for backup in list_backups(tmp_path)]

    assert len(kept) == BACKUPS_KEPT == 3
    assert kept == list(reversed(taken))[:3]
    assert sorted((tmp_path / BACKUP_DIRNAME).iterdir()) == sorted(kept)


def test_a_legacy_bak_file_is_listed_last_and_never_pruned(tmp_path: Path) -> None:
    path = _database_at_0001(tmp_path)
    legacy = tmp_path / (DATABASE_FILENAME + ".bak")
    legacy.write_bytes(path.read_bytes())
    for _ in range(4):
        backup_database(path)

    backups = list_backups(tmp_path)

    assert [b.path for b in backups][-1] == legacy
    assert len(backups) == 4


def test_a_zero_byte_database_is_refused_and_its_backups_are_kept(tmp_path: Path) -> None:
    _database_at_0001(tmp_path)
    open_database(tmp_path).dispose()  # migrates: the good backup
    (good,) = list_backups(tmp_path)
    good_bytes = good.path.read_bytes()
    path = tmp_path / DATABASE_FILENAME
    path.write_bytes(b"")
    (tmp_path / (DATABASE_FILENAME + "-wal")).unlink(missing_ok=True)

    with pytest.raises(StorageError) as raised:
        open_database(tmp_path)

    assert raised.value.kind == "corrupt"
    assert "empty" in raised.value.message
    assert "Restore" in raised.value.message
    assert path.read_bytes() == b""  # not recreated
    assert [b.path for b in list_backups(tmp_path)] == [good.path]
    assert good.path.read_bytes() == good_bytes


def test_a_zero_byte_file_with_nothing_to_lose_becomes_a_new_database(tmp_path: Path) -> None:
    (tmp_path / DATABASE_FILENAME).write_bytes(b"")

    db = open_database(tmp_path)

    assert current_revision(db.engine) == HEAD_REVISION
    db.dispose()


@pytest.mark.parametrize(
    "content",
    [b"not a database at all\n" * 10, b"SQLite format 2\x00" + bytes(200)],
    ids=["text", "wrong-header"],
)
def test_a_file_that_is_not_sqlite_is_refused_and_left_as_it_is(
    tmp_path: Path, content: bytes
) -> None:
    path = tmp_path / DATABASE_FILENAME
    path.write_bytes(content)

    with pytest.raises(StorageError) as raised:
        open_database(tmp_path)

    assert raised.value.kind == "corrupt"
    assert str(path) in raised.value.message
    assert path.read_bytes() == content
    assert list_backups(tmp_path) == []


def test_a_truncated_database_is_refused_and_never_backed_up(tmp_path: Path) -> None:
    path = _database_at_0001(tmp_path, rows=3000)
    good = backup_database(path)
    assert good is not None
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    with path.open("r+b") as handle:
        handle.truncate(path.stat().st_size // 2)

    with pytest.raises(StorageError) as raised:
        open_database(tmp_path)

    assert raised.value.kind == "corrupt"
    assert [b.path for b in list_backups(tmp_path)] == [good]
    assert _markers(good) == 3000


def test_another_programs_sqlite_database_is_refused(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / DATABASE_FILENAME) as connection:
        connection.execute("CREATE TABLE recipes (name TEXT)")

    with pytest.raises(StorageError) as raised:
        open_database(tmp_path)

    assert raised.value.kind == "corrupt"
    assert "no Campaign Desktop version" in raised.value.message


def test_restore_sets_the_damaged_file_aside_and_opens_the_backup(tmp_path: Path) -> None:
    _database_at_0001(tmp_path, rows=5)
    open_database(tmp_path).dispose()
    path = tmp_path / DATABASE_FILENAME
    damaged = b"garbage" * 100
    path.write_bytes(damaged)
    (backup,) = list_backups(tmp_path)

    aside = restore_backup(tmp_path, backup.path)
    db = open_database(tmp_path)

    assert aside is not None
    assert aside.name.startswith(DATABASE_FILENAME + ".damaged-")
    assert aside.read_bytes() == damaged
    assert backup.path.exists()
    assert current_revision(db.engine) == HEAD_REVISION  # the 0001 copy was migrated
    with db.read() as session:
        assert session.execute(text("SELECT count(*) FROM setting")).scalar() == 5
    db.dispose()


def test_a_damaged_backup_is_refused_before_anything_moves(tmp_path: Path) -> None:
    path = _database_at_0001(tmp_path)
    before = path.read_bytes()
    bad = tmp_path / "bad.sqlite3"
    bad.write_bytes(b"\0" * 4096)

    with pytest.raises(StorageError) as raised:
        restore_backup(tmp_path, bad)

    assert raised.value.kind == "corrupt"
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if ".damaged-" in p.name] == []


def test_starting_empty_keeps_the_damaged_file_and_its_wal(tmp_path: Path) -> None:
    db = open_database(tmp_path)
    with db.write() as session:
        session.add(Setting(key="kept", value="1"))
    wal = tmp_path / (DATABASE_FILENAME + "-wal")
    wal_bytes = wal.read_bytes()  # the engine is still open: the row is in the WAL
    db.dispose()  # (closing the last connection checkpoints and removes the WAL)
    (tmp_path / DATABASE_FILENAME).write_bytes(b"")  # lost the main file, not the WAL
    wal.write_bytes(wal_bytes)
    with pytest.raises(StorageError):
        open_database(tmp_path)

    aside = set_aside_database(tmp_path)
    fresh = open_database(tmp_path)

    assert aside is not None
    assert aside.read_bytes() == b""
    assert aside.with_name(aside.name + "-wal").read_bytes() == wal_bytes
    with fresh.read() as session:
        assert session.execute(text("SELECT count(*) FROM setting")).scalar() == 0
    fresh.dispose()


# --- the disk and other programs refusing -------------------------------------------


def test_a_read_only_data_folder_is_a_storage_error_naming_it(tmp_path: Path) -> None:
    open_database(tmp_path / "real").dispose()

    with read_only_view(tmp_path / "real", tmp_path / "view") as view:
        with pytest.raises(StorageError) as raised:
            open_database(view)
        with pytest.raises(StorageError) as new_folder:
            open_database(view / "sub")

    assert raised.value.kind == new_folder.value.kind == "readonly"
    assert str(view) in raised.value.message
    assert "--data-dir" in raised.value.message


def test_a_disk_full_while_creating_is_a_storage_error(tmp_path: Path) -> None:
    with (
        small_filesystem(tmp_path / "disk", size_kib=48) as disk,
        pytest.raises(StorageError) as raised,
    ):
        open_database(disk / "data")

    assert raised.value.kind == "full"
    assert "Free some space" in raised.value.message


def test_a_disk_full_while_writing_is_a_storage_error_and_nothing_half_written(
    tmp_path: Path,
) -> None:
    with small_filesystem(tmp_path / "disk", size_kib=1024) as disk:
        db = open_database(disk / "data")
        fill(disk)
        try:
            with pytest.raises(StorageError) as raised, db.write() as session:
                for number in range(2000):
                    session.add(Setting(key=f"k{number}", value="v" * 500))
            with db.read() as session:
                assert session.execute(text("SELECT count(*) FROM setting")).scalar() == 0
        finally:
            db.dispose()

    assert raised.value.kind == "full"


def test_a_write_lock_held_by_another_process_makes_a_migration_wait_then_refuse(
    tmp_path: Path,
) -> None:
    path = _database_at_0001(tmp_path)

    with lock_held_elsewhere(path), pytest.raises(StorageError) as raised:
        open_database(tmp_path, busy_timeout=0.2)

    assert raised.value.kind == "busy"
    assert "locked by another program" in raised.value.message
    open_database(tmp_path).dispose()  # once the other program let go, it opens


def test_a_raw_write_is_busy_under_another_process_lock_and_leaves_nothing_half_written(
    tmp_path: Path,
) -> None:
    db = open_database(tmp_path, busy_timeout=0.2)
    try:
        with (
            lock_held_elsewhere(db.path),
            pytest.raises(StorageError) as busy,
            db.write_raw() as connection,
        ):
            connection.execute("INSERT INTO setting (key, value) VALUES ('a', '1')")
        with pytest.raises(sqlite3.IntegrityError), db.write_raw() as connection:
            connection.execute("INSERT INTO setting (key, value) VALUES ('b', '1')")
            connection.execute("INSERT INTO setting (key, value) VALUES ('b', '2')")
        with db.write_raw() as connection:  # the same connection works on afterwards
            connection.execute("INSERT INTO setting (key, value) VALUES ('c', '1')")
        with db.read() as session:
            keys = session.execute(text("SELECT key FROM setting ORDER BY key")).scalars().all()
    finally:
        db.dispose()

    assert busy.value.kind == "busy"
    assert keys == ["c"]


def test_a_lock_held_by_another_process_makes_reads_and_writes_storage_errors(
    tmp_path: Path,
) -> None:
    db = open_database(tmp_path, busy_timeout=0.2)
    try:
        with lock_held_elsewhere(db.path):
            with pytest.raises(StorageError) as writing, db.write() as session:
                session.add(Setting(key="k", value="v"))
            with db.read() as session:  # WAL: readers still read under a write lock
                assert session.execute(text("SELECT count(*) FROM setting")).scalar() == 0
        # An exclusive lock needs every other connection closed first (WAL's shared memory).
        db.engine.dispose()
        exclusive = ("PRAGMA locking_mode=EXCLUSIVE", "BEGIN EXCLUSIVE")
        with (
            lock_held_elsewhere(db.path, *exclusive),
            pytest.raises(StorageError) as reading,
            db.read() as session,
        ):
            session.execute(text("SELECT count(*) FROM setting")).scalar()
    finally:
        db.dispose()

    assert writing.value.kind == reading.value.kind == "busy"
