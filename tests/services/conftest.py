"""Fixtures for the service tests: a real migrated database (an SQLite file, or PostgreSQL in
modules marked ``both_backends``: see tests/conftest.py) and the contact service on it.

`snapshot` reads every contact-related table, so a test can prove a refused call wrote nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import URL, text

from campaign_desktop.domain.clock import ManualClock
from campaign_desktop.persistence.db import Database, open_database
from campaign_desktop.services.contacts import ContactService

Snapshot = dict[str, list[tuple[object, ...]]]

_SNAPSHOT_TABLES = ("contact", "contact_list", "list_membership", "campaign", "campaign_audience")


@pytest.fixture
def database(tmp_path: Path, login_url: URL | None) -> Iterator[Database]:
    db = open_database(tmp_path / "data", database_url=login_url)
    yield db
    db.dispose()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2027, 1, 4, 9, 0, tzinfo=UTC))


@pytest.fixture
def contacts(database: Database, clock: ManualClock) -> ContactService:
    return ContactService(database, clock)


@pytest.fixture
def snapshot(database: Database) -> Callable[[], Snapshot]:
    """A function returning every row of the contact-related tables, sorted."""

    def take() -> Snapshot:
        with database.engine.connect() as connection:
            return {
                table: sorted(
                    (tuple(row) for row in connection.execute(text(f"SELECT * FROM {table}"))),
                    key=repr,
                )
                for table in _SNAPSHOT_TABLES
            }

    return take
