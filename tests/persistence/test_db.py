"""The database file: pragmas, UTC-only timestamps, migrations from revision 1, backups."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import StatementError

from campaign_desktop.persistence import queries
from campaign_desktop.persistence.db import (
    DATABASE_FILENAME,
    HEAD_REVISION,
    create_sqlite_engine,
    current_revision,
    head_revision,
    open_database,
    upgrade,
)
from campaign_desktop.persistence.models import Campaign, Setting
from campaign_desktop.services.campaigns import CampaignSort, campaign_order


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


def test_timestamps_come_back_aware_utc(tmp_path: Path) -> None:
    db = open_database(tmp_path)
    eastern = timezone(timedelta(hours=-5))
    with db.write() as session:
        session.add(_campaign(next_run_at=datetime(2027, 1, 4, 9, 0, tzinfo=eastern)))
    with db.read() as session:
        campaign = session.query(Campaign).one()
        assert campaign.next_run_at == datetime(2027, 1, 4, 14, 0, tzinfo=UTC)
        assert campaign.next_run_at.tzinfo is UTC
        assert campaign.created_at.tzinfo is UTC


def test_naive_timestamps_are_refused_and_nothing_is_written(tmp_path: Path) -> None:
    db = open_database(tmp_path)
    with pytest.raises(StatementError, match="naive"), db.write() as session:
        session.add(_campaign(next_run_at=datetime(2027, 1, 4, 9, 0)))
    with db.read() as session:
        assert session.query(Campaign).count() == 0


def test_wall_clock_time_is_stored_naive_and_aware_is_refused(tmp_path: Path) -> None:
    db = open_database(tmp_path)
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


def test_migration_backs_up_the_old_file_first(tmp_path: Path) -> None:
    path = tmp_path / DATABASE_FILENAME
    engine = create_sqlite_engine(path)
    upgrade(engine, "0001")
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO setting (key, value) VALUES ('marker', '1')"))
    engine.dispose()
    open_database(tmp_path)
    backup = tmp_path / (DATABASE_FILENAME + ".bak")
    with sqlite3.connect(backup) as connection:
        assert connection.execute("SELECT version_num FROM alembic_version").fetchone() == ("0001",)
        assert connection.execute("SELECT value FROM setting WHERE key='marker'").fetchone() == (
            "1",
        )


def test_opening_an_up_to_date_database_makes_no_backup(tmp_path: Path) -> None:
    open_database(tmp_path).dispose()
    open_database(tmp_path).dispose()
    assert not (tmp_path / (DATABASE_FILENAME + ".bak")).exists()


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


def test_campaign_table_pages_read_the_indexes(tmp_path: Path) -> None:
    """The table's default and name orders must match migration 0003's index expressions."""
    db = open_database(tmp_path)
    plans = {}
    with db.read() as session:
        for sort in (CampaignSort.NEXT_RUN, CampaignSort.NAME):
            query = (
                queries.select_campaigns()
                .where(Campaign.archived.is_(False))
                .order_by(*campaign_order(sort, descending=False))
                .limit(200)
            )
            compiled = query.compile(db.engine, compile_kwargs={"literal_binds": True})
            plan = session.execute(text(f"EXPLAIN QUERY PLAN {compiled}")).all()
            plans[sort] = " ".join(str(row[-1]) for row in plan)
    assert "ix_campaign_next_run" in plans[CampaignSort.NEXT_RUN]
    assert "ix_campaign_name" in plans[CampaignSort.NAME]
    assert "TEMP B-TREE" not in " ".join(plans.values())
